#!/usr/bin/env bash
# A run where nothing is stale, on a 400-recipe random DAG (bench/orchestration/gen.py):
#  - it records its up-to-date recipes in one catalog row (up_to_date_sets, keyed
#    by the SHA-256 of its text, which run_up_to_date names; no recipe_runs
#    rows), decoded here with Python's json and sqlite3 (an independent
#    reader): one entry per recipe, with the versions it found current; the
#    recipe runs `alambic log RUN --format json` and the view recipe_run_rows
#    derive from it are checked against that and against the build: status
#    up_to_date, those versions, the metrics of the recipe run that built the
#    first output;
#  - no version id changes;
#  - a second run where nothing is stale stores no second row: both runs name
#    the same one, and `alambic log` gives the same recipe runs for both;
#  - the catalog work does not grow per recipe: the run's SQLite lock calls (fcntl)
#    stay under a bound independent of the recipe count (strace; one prepared
#    statement and one transaction for all the up-to-date recipes, where each
#    lookup used to take and release the lock on its own: ~4 calls per recipe).
# Skipped (77) without strace.
set -euo pipefail
ALAMBIC=$(realpath "$1")
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
command -v strace > /dev/null || { echo "SKIP: strace is not installed (scripts/setup-deps)"; exit 77; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
N=400
python3 "$ROOT/bench/orchestration/gen.py" random $N "$WORK" --seed 3 > /dev/null
cd "$WORK/alambic"
"$ALAMBIC" run -j 2 > cold.out 2>&1 || { cat cold.out; echo "FAIL: cold run" >&2; exit 1; }
"$ALAMBIC" status --format json > before.json
# LeakSanitizer cannot run under ptrace: in the sanitizer build this one run
# skips the leak check (every other run of the suite keeps it).
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
  strace -f -c -e trace=fcntl,fdatasync -o strace.txt "$ALAMBIC" run -j 2 > nostale.out 2>&1 ||
  { cat nostale.out; echo "FAIL: no-op run" >&2; exit 1; }
grep -q "0 succeeded, 0 failed, 0 cancelled, 0 skipped, $N up to date" nostale.out ||
  { cat nostale.out; echo "FAIL: the second run was not a no-op" >&2; exit 1; }
"$ALAMBIC" status --format json > after.json
cmp -s before.json after.json || { diff before.json after.json; echo "FAIL: versions changed" >&2; exit 1; }
NOOP=$(python3 -c "import sqlite3; print(sqlite3.connect('.alambic/catalog.db').execute(
  'SELECT id FROM runs ORDER BY started_at DESC, rowid DESC LIMIT 1').fetchone()[0])")
"$ALAMBIC" log "$NOOP" --format json > noop.json
python3 - "$N" strace.txt noop.json <<'PY'
import hashlib, json, sqlite3, sys
n, strace, logged = int(sys.argv[1]), sys.argv[2], json.load(open(sys.argv[3]))
calls = {}
for line in open(strace):
    f = line.split()
    if len(f) >= 5 and f[-1] in ("fcntl", "fdatasync") and f[3].isdigit():
        calls[f[-1]] = int(f[3])
print("no-op run syscalls:", calls)
assert calls.get("fcntl", 0) < 300, f"{calls['fcntl']} fcntl calls for {n} recipes: locking per recipe"
db = sqlite3.connect(".alambic/catalog.db")
runs = db.execute("SELECT id, status FROM runs ORDER BY started_at, rowid").fetchall()
assert len(runs) == 2 and all(s == "succeeded" for _, s in runs), runs
cold, noop = runs[0][0], runs[1][0]
current = dict(db.execute("SELECT dataset, version_id FROM current_versions"))
assert db.execute("SELECT count(*) FROM recipe_runs WHERE run_id = ?", (noop,)).fetchone()[0] == 0
blobs = db.execute("SELECT s.recipes, s.hash FROM run_up_to_date t JOIN up_to_date_sets s ON "
                   "s.hash = t.set_hash WHERE t.run_id = ?", (noop,)).fetchall()
assert len(blobs) == 1, blobs
assert hashlib.sha256(blobs[0][0].encode()).hexdigest() == blobs[0][1], "set not keyed by its hash"
entries = json.loads(blobs[0][0])["r"]
assert len(entries) == n, len(entries)
# Decoded as migrations 10 and 11 describe it (catalog.cc): outputs [name, version, ...];
# an input [name, version], or a name whose version an entry lists as output.
produced = {}
for e in entries:
    for k in range(0, len(e[4]), 2):
        produced[e[4][k]] = e[4][k + 1]
reasons = {0: "up to date", 1: "up to date (this version was built before)"}
derived = {}
for flow, recipe, kind, reason, outputs, inputs in entries:
    outs = dict(zip(outputs[0::2], outputs[1::2]))
    ins = dict(tuple(i) if isinstance(i, list) else (i, produced[i]) for i in inputs)
    assert outs and all(current[d] == v for d, v in outs.items()), (recipe, outs)
    assert all(current[d] == v for d, v in ins.items()), (recipe, ins)
    # The metrics of the recipe run that built its (first) output version.
    built = db.execute("SELECT r.metrics FROM dataset_versions v JOIN recipe_runs r ON "
                       "r.run_id = v.run_id AND r.flow = ? AND r.recipe = ? WHERE v.dataset = ? "
                       "AND v.id = ?", (flow, recipe, outputs[0], outputs[1])).fetchone()
    assert built is not None and json.loads(built[0]) != {}, recipe
    derived[(flow, recipe)] = dict(kind=kind, reason=reasons.get(reason, reason), inputs=ins,
                                   outputs=outs, metrics=json.loads(built[0]))
assert len(derived) == n
# What alambic derives from it: `alambic log`, and the view SQL readers use.
assert logged["id"] == noop and len(logged["recipes"]) == n, len(logged["recipes"])
for r in logged["recipes"]:
    want = derived[(r["flow"], r["recipe"])]
    assert r["status"] == "up_to_date" and r["attempts"] == 0, r
    for key in ("kind", "reason", "inputs", "outputs", "metrics"):
        assert r[key] == want[key], (r["recipe"], key, r[key], want[key])
viewed = db.execute("SELECT flow, recipe, status, reason, metrics FROM recipe_run_rows "
                    "WHERE run_id = ?", (noop,)).fetchall()
assert len(viewed) == n, len(viewed)
for flow, recipe, status, reason, metrics in viewed:
    want = derived[(flow, recipe)]
    assert status == "up_to_date" and reason == want["reason"], (recipe, status, reason)
    assert json.loads(metrics) == want["metrics"], (recipe, metrics)
print(f"no-op run: {n} up-to-date recipes in one record, derived as built")
PY
# Another run where nothing is stale: the same row, not a second copy.
"$ALAMBIC" run -j 2 > again.out 2>&1 || { cat again.out; echo "FAIL: second no-op run" >&2; exit 1; }
AGAIN=$(python3 -c "import sqlite3; print(sqlite3.connect('.alambic/catalog.db').execute(
  'SELECT id FROM runs ORDER BY started_at DESC, rowid DESC LIMIT 1').fetchone()[0])")
"$ALAMBIC" log "$AGAIN" --format json > again.json
python3 - "$NOOP" "$AGAIN" noop.json again.json <<'PY'
import json, sqlite3, sys
noop, again = sys.argv[1], sys.argv[2]
assert noop != again
db = sqlite3.connect(".alambic/catalog.db")
sets = db.execute("SELECT count(*) FROM up_to_date_sets").fetchone()[0]
assert sets == 1, f"{sets} up-to-date rows for two runs that found the same versions"
named = dict(db.execute("SELECT run_id, set_hash FROM run_up_to_date"))
assert set(named) == {noop, again} and named[noop] == named[again], named
def recipes(path):
    return sorted((r["flow"], r["recipe"], r["status"], r["reason"], json.dumps(r["inputs"]),
                   json.dumps(r["outputs"]), json.dumps(r["metrics"]))
                  for r in json.load(open(path))["recipes"])
assert recipes(sys.argv[3]) == recipes(sys.argv[4]), "the two no-op runs read differently"
print("second no-op run: no second row, read back the same")
PY
echo "nostale run: ok"
