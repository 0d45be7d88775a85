#!/usr/bin/env bash
# A run where nothing is stale, on a 400-recipe random DAG (bench/orchestration/gen.py):
#  - it records one up_to_date recipe run per recipe, each with the versions it found
#    current and the metrics of the recipe run that built its first output, checked
#    against the catalog with Python's sqlite3 (an independent reader);
#  - no version id changes;
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
python3 - "$N" strace.txt <<'PY'
import json, sqlite3, sys
n, strace = int(sys.argv[1]), sys.argv[2]
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
rows = db.execute("SELECT flow, recipe, status, inputs, outputs, metrics FROM recipe_runs "
                  "WHERE run_id = ?", (noop,)).fetchall()
assert len(rows) == n, len(rows)
nonempty = 0
for flow, recipe, status, inputs, outputs, metrics in rows:
    assert status == "up_to_date", (recipe, status)
    outs = json.loads(outputs)
    assert outs and all(current[d] == v for d, v in outs.items()), (recipe, outs)
    assert all(current[d] == v for d, v in json.loads(inputs).items()), (recipe, inputs)
    # The metrics of the recipe run that built its (first) output version.
    ds = sorted(outs)[0]
    built = db.execute("SELECT r.metrics FROM dataset_versions v JOIN recipe_runs r ON "
                       "r.run_id = v.run_id AND r.flow = ? AND r.recipe = ? WHERE v.dataset = ? "
                       "AND v.id = ?", (flow, recipe, ds, outs[ds])).fetchone()
    assert built is not None and built[0] != "", recipe
    assert json.loads(metrics) == json.loads(built[0]), (recipe, metrics, built[0])
    nonempty += json.loads(metrics) != {}
assert nonempty == n, f"only {nonempty} of {n} up-to-date records carry their build's metrics"
print(f"no-op run: {n} up-to-date records, metrics and versions as built")
PY
echo "nostale run: ok"
