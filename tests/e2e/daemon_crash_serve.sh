#!/usr/bin/env bash
# End to end: `alambic serve` killed (SIGKILL, through the test hook
# ALAMBIC_CRASH_AT=recipe_publishing, core/base/crash_point.h) while a run it
# started through the API (POST /api/flows/{flow}/runs) publishes: its
# outputs are in the store, not yet in the catalog. Restarted, the server
# answers; the next run it starts closes the killed one as abandoned, removes
# its staged files and publishes the new data. Then: no run left running,
# nothing published by the killed run, PRAGMA integrity_check ok, the
# versions published before the kill still readable, and the current totals
# equal to the landing file summed by python.
set -euo pipefail
ALAMBIC=$(realpath "$1")
. "$(dirname "$0")/sales_flow.sh"
WORK=$(mktemp -d)
SERVER=
cleanup() { [ -n "$SERVER" ] && kill -9 "$SERVER" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for f in "$WORK"/serve*.log; do echo "== $f"; cat "$f"; done >&2; exit 1; }
for tool in curl python3; do
  command -v $tool > /dev/null || { echo "SKIP: $tool is missing (scripts/setup-deps)"; exit 77; }
done
mkdir -p "$WORK/ws/data" "$WORK/ws/flows"
cd "$WORK/ws"
sales_datalab_config servecrash
sales_flow
"$ALAMBIC" run > "$WORK/run.out" 2>&1 || { cat "$WORK/run.out"; fail "first run"; }
"$ALAMBIC" show totals --format csv --head 0 > "$WORK/totals-before.csv"
"$ALAMBIC" secret init > /dev/null
sales_api_access crash
serve() {  # LOG [CRASH_POINT]
  ALAMBIC_CRASH_AT="${2:-}" "$ALAMBIC" serve --host 127.0.0.1 --port "$port" > "$1" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 300); do
    curl -fsS "http://127.0.0.1:$port/api/config" > /dev/null 2>&1 && return 0
    kill -0 "$SERVER" 2>/dev/null || fail "the server exited"
    sleep 0.1
  done
  fail "the server does not answer"
}
field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
await_run() {  # RUN_ID: prints its final status (up to 60 s)
  local st
  for _ in $(seq 1 600); do
    st=$(api GET "/api/runs/$1" | field status)
    [ "$st" != running ] && { echo "$st"; return 0; }
    sleep 0.1
  done
  fail "run $1 still running"
}

echo "ouest,5" >> data/sales.csv
serve "$WORK/serve-killed.log" recipe_publishing
killed=$(api POST /api/flows/sales/runs | field run_id)
[ -n "$killed" ] || fail "no run id"
for _ in $(seq 1 600); do kill -0 "$SERVER" 2>/dev/null || break; sleep 0.1; done
kill -0 "$SERVER" 2>/dev/null && fail "the server was not killed at recipe_publishing"
rc=0
wait "$SERVER" || rc=$?
SERVER=
[ "$rc" = 137 ] || fail "the server exited with $rc, not killed"
staged=$(find .alambic -path '*/.tmp/*' -type f | wc -l)
[ "$staged" -gt 0 ] || find .alambic -name '*.arrow' -newer data/sales.csv | grep -q . ||
  fail "the killed run left nothing in the store: it was not killed while publishing"

serve "$WORK/serve-restarted.log"
[ "$(api GET "/api/runs/$killed" | field status)" = running ] ||
  fail "the killed run is not shown running before the next run"
echo "ouest,7" >> data/sales.csv
next=$(api POST /api/flows/sales/runs | field run_id)
[ "$(await_run "$next")" = succeeded ] || fail "the next run did not succeed"
[ "$(api GET "/api/runs/$killed" | field status)" = abandoned ] ||
  fail "the killed run was not closed as abandoned"
kill -TERM "$SERVER"
wait "$SERVER" || fail "the server exited with $? after SIGTERM"
SERVER=

[ "$(find .alambic -path '*/.tmp/*' -type f | wc -l)" = 0 ] || fail "staged files left"
"$ALAMBIC" show totals --format csv --head 0 > "$WORK/totals.csv" || fail "show totals"
python3 - data/sales.csv "$WORK/totals.csv" "$killed" "$next" <<'PY' || fail "crash invariants"
import csv, sqlite3, sys
landing, totals, killed, nxt = sys.argv[1:]
want = {}
for r in csv.DictReader(open(landing)):
    want[r["region"]] = want.get(r["region"], 0) + int(r["amount"])
got = {r["region"]: int(float(r["total"])) for r in csv.DictReader(open(totals))}
assert got == want, (got, want)
db = sqlite3.connect(".alambic/catalog.db")
assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
runs = dict(db.execute("SELECT id, status FROM runs").fetchall())
assert runs[killed] == "abandoned" and runs[nxt] == "succeeded", runs
assert "running" not in runs.values(), runs
# The killed run was stopped at its first publishing: it published nothing.
by_killed = db.execute("SELECT dataset, id FROM dataset_versions WHERE run_id = ?",
                       (killed,)).fetchall()
assert not by_killed, by_killed
print(f"runs: {len(runs)}, versions: {db.execute('SELECT COUNT(*) FROM dataset_versions').fetchone()[0]},"
      " integrity_check: ok")
PY
"$ALAMBIC" show totals --version "$(python3 -c '
import sqlite3; db = sqlite3.connect(".alambic/catalog.db")
print(db.execute("SELECT id FROM dataset_versions WHERE dataset=\"totals\" ORDER BY created_at LIMIT 1").fetchone()[0])')" \
  --format csv --head 0 > "$WORK/totals-first.csv" || fail "the first totals version is unreadable"
cmp -s "$WORK/totals-before.csv" "$WORK/totals-first.csv" || fail "the first totals version changed"
echo "serve crash e2e: ok"
