#!/usr/bin/env bash
# End to end, for the ThreadSanitizer build (scripts/tsan runs it with build-tsan/alambic):
# the daemon's own threads and the web server's, in real processes. Any alambic binary
# passes it; under TSan (halt_on_error=1) the first data race, lock-order inversion or
# leaked thread ends the process with TSan's status (66), which fails the script, and so
# does a report in any log.
#
# 1. `alambic daemon` (--clock-file, --lease-ttl 3, its lease renewed by the loop) on a
#    flow of two recipes with a cron slot every minute and a data trigger on its input
#    (two runs of the flow at once, queued): cron slots, change slots, both in the same
#    minute; a second daemon in standby takes the lease over when the first stops; the
#    first is stopped (SIGTERM) with no run going, the second while a run goes (its grace).
# 2. `alambic serve --scheduler`: the web server and the scheduler in one process, runs
#    started through the API while the API reads runs, datasets and schedules and the
#    scheduler runs its slots and polls the trigger; SIGTERM as it claims a change slot.
# Then every slot and run ended (succeeded, or cancelled by the stop) and the catalog is
# sound.
set -euo pipefail
ALAMBIC=$(realpath "$1")
. "$(dirname "$0")/sales_flow.sh"
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  for f in "$WORK"/*.log; do echo "== $f"; tail -n 60 "$f"; done >&2
  exit 1
}
for tool in curl python3; do
  command -v $tool > /dev/null || { echo "SKIP: $tool is missing (scripts/setup-deps)"; exit 77; }
done
mkdir -p "$WORK/ws/data" "$WORK/ws/flows"
cd "$WORK/ws"
sales_datalab_config threadsws
sales_flow 'schedule:
  cron: "* * * * *"
  timezone: UTC
  catchup: none
  max_active_runs: 2
  overlap: queue
  on_change:
    - {file: data/sales.csv, every: 10s}' \
  '  - {name: slow, kind: lua, inputs: [totals], outputs: [slow], script: recipes/slow.lua}'
# Each run lasts long enough (0.7 s of Lua) for a SIGTERM to find it going.
mkdir -p recipes
cat > recipes/slow.lua <<'LUA'
local out = output{"regions:int64"}
local t0, n = os.clock(), 0
while os.clock() - t0 < 0.7 do end
for _ in input:rows() do n = n + 1 end
out:append{regions = n}
LUA
# A process's status: 0, or the failure named (TSan's is 66).
check() {  # WHAT STATUS LOG
  [ "$2" = 0 ] || fail "$1 exited with status $2 (66: a ThreadSanitizer report)"
  ! grep -q 'WARNING: ThreadSanitizer\|ERROR: ThreadSanitizer' "$3" ||
    fail "$1: ThreadSanitizer report in $3"
}
cli() {  # LOG ARGS...: an alambic command, checked
  local log=$WORK/$1 rc=0
  shift
  "$ALAMBIC" "$@" > "$log" 2>&1 || rc=$?
  check "alambic $*" "$rc" "$log"
}
clock() { echo "$1" > clock.txt.tmp && mv clock.txt.tmp clock.txt; }
WATCH=  # the process whose log await reads: its end fails the wait at once
await() {  # LOG REGEX [COUNT]: up to 60 s for COUNT (1) matching lines
  for _ in $(seq 1 600); do
    n=$(grep -cE "$2" "$WORK/$1" 2> /dev/null || true)
    [ "${n:-0}" -ge "${3:-1}" ] && return 0
    [ -z "$WATCH" ] || kill -0 "$WATCH" 2>/dev/null || fail "$1: the process ended"
    sleep 0.1
  done
  fail "no line matching '$2' (x${3:-1}) in $1"
}
start_daemon() {  # LOG: sets DAEMON
  "$ALAMBIC" --env datalab daemon --clock-file clock.txt --lease-ttl 3 --grace 20 --max-runs 2 \
    > "$WORK/$1" 2>&1 &
  DAEMON=$!
  WATCH=$DAEMON
  PIDS+=("$DAEMON")
}
stop() {  # PID WHAT LOG: SIGTERM, then its status
  local rc=0
  kill -TERM "$1"
  wait "$1" || rc=$?
  check "$2" "$rc" "$3"
}
OK="run [0-9a-f-]+ succeeded"

cli run0.log run
# 1. The daemon: a cron slot, a change slot, then both in one minute.
clock 2026-06-01T09:59:30Z
start_daemon daemon1.log
D1=$DAEMON
await daemon1.log "lease of datalab taken"
await daemon1.log "data/sales.csv: watching"
clock 2026-06-01T10:00:00Z
await daemon1.log "10:00: $OK"
echo "ouest,1" >> data/sales.csv
clock 2026-06-01T10:00:20Z
await daemon1.log "changed .*claimed \(on_change\)"
await daemon1.log "$OK" 2
echo "ouest,2" >> data/sales.csv
clock 2026-06-01T10:01:00Z
await daemon1.log "10:01: $OK"
await daemon1.log "changed .*claimed \(on_change\)" 2
await daemon1.log "$OK" 4
# A second daemon waits in standby; the first stops (no run going) and releases the lease.
start_daemon daemon2.log
D2=$DAEMON
await daemon2.log "standby: another scheduler holds the lease"
stop "$D1" "the first daemon (SIGTERM)" "$WORK/daemon1.log"
WATCH=$D2
grep -q "stopped" "$WORK/daemon1.log" || fail "the first daemon did not stop cleanly"
clock 2026-06-01T10:02:00Z
await daemon2.log "lease of datalab taken \(token 2\)"
await daemon2.log "10:02: $OK"
# Stopped while a run goes: the run has its grace.
# (new data: the slot's run rebuilds; the change slot it also makes may queue behind)
echo "ouest,4" >> data/sales.csv
clock 2026-06-01T10:03:00Z
await daemon2.log "10:03: starting"
WATCH=
stop "$D2" "the second daemon (SIGTERM during a run)" "$WORK/daemon2.log"
grep -qE "stopping: [12] run\(s\) going" "$WORK/daemon2.log" || fail "no run going at the stop"
grep -q "stopped" "$WORK/daemon2.log" || fail "the second daemon did not stop cleanly"

# 2. The web server and the scheduler in one process.
cli secret.log secret init
sales_api_access threads
"$ALAMBIC" --env datalab serve --scheduler --host 127.0.0.1 --port "$port" --threads 8 > "$WORK/serve.log" 2>&1 &
SERVER=$!
WATCH=$SERVER
PIDS+=("$SERVER")
for _ in $(seq 1 300); do
  curl -fsS "http://127.0.0.1:$port/api/config" > /dev/null 2>&1 && break
  kill -0 "$SERVER" 2>/dev/null || fail "the server exited"
  sleep 0.1
done
await serve.log "lease of datalab taken"
field() { python3 -c 'import json, sys; print(json.load(sys.stdin).get(sys.argv[1], ""))' "$1"; }
# A run through the API (one at a time: 409 while one goes) beside the scheduler's (the
# change is seen at its next poll, within 10 s), with readers of the API all along. A run
# asked for while one of the scheduler's holds the workspace's lock does not start: the
# API refuses it (409, "did not start"; or "still going" just after the last one ended)
# and it is asked for again.
api_run() {  # prints the run's final status, after reading the API while it goes
  local id= st= body
  for _ in $(seq 1 100); do
    body=$(api POST /api/flows/sales/runs)
    id=$(echo "$body" | field run_id)
    [ -n "$id" ] && break
    echo "$body" | grep -qE "did not start|still going" || fail "neither a run id nor a refusal: $body"
    sleep 0.2
  done
  [ -n "$id" ] || fail "no run started through the API"
  for _ in $(seq 1 600); do
    api GET /api/flows/sales/runs > /dev/null
    api GET /api/datasets/totals > /dev/null
    api GET /api/production > /dev/null
    st=$(api GET "/api/runs/$id" | field status)
    [ -n "$st" ] && [ "$st" != running ] && break
  done
  echo "API run $id: $st" >&2
  echo "$st"
}
echo "ouest,3" >> data/sales.csv
[ "$(api_run)" = succeeded ] || fail "the first run through the API"
echo "ouest,4" >> data/sales.csv
[ "$(api_run)" = succeeded ] || fail "the second run through the API"
# A change the scheduler sees at its next poll; stopped as it claims the slot.
n=$(grep -c "claimed (on_change)" "$WORK/serve.log" || true)
echo "ouest,5" >> data/sales.csv
await serve.log "claimed \(on_change\)" $((n + 1))
WATCH=
stop "$SERVER" "alambic serve --scheduler (SIGTERM)" "$WORK/serve.log"

cli runs.log runs --format json -n 100
python3 - "$WORK/runs.log" <<'PY' || fail "slots and runs"
import json, sqlite3, sys
runs = json.load(open(sys.argv[1]))
runs = runs["runs"] if isinstance(runs, dict) else runs
db = sqlite3.connect(".alambic/catalog.db")
assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
slots = db.execute("SELECT nominal, status FROM schedule_slots WHERE flow='sales' "
                   "ORDER BY nominal").fetchall()
print("slots:", slots)
print("runs:", [(r["trigger"], r["status"]) for r in runs])
assert not any(r["status"] == "running" for r in runs), runs
assert all(s in ("succeeded", "cancelled") for _, s in slots), slots
assert sum(1 for _, s in slots if s == "succeeded") >= 5, slots
assert all(r["status"] in ("succeeded", "cancelled") for r in runs), runs
PY
echo "daemon threads e2e: ok"
