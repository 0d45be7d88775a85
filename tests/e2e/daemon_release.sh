#!/usr/bin/env bash
# End to end: the real `alambic daemon` in the warehouse follows promotions
# and rollbacks without a restart. Release 1 runs hourly (at :00); release 2,
# promoted at 10:25 while the daemon runs, every 10 minutes with catch-up
# "all": its past slots (10:10, 10:20) never fire, 10:30 and 10:40 do; a
# rollback at 10:45 restores the hourly schedule: 11:00 fires, 10:50 does not.
set -euo pipefail
ALAMBIC=$(realpath "$1")
WORK=$(mktemp -d)
DAEMON=
cleanup() { [ -n "$DAEMON" ] && kill -9 "$DAEMON" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; cat "$WORK"/ws/daemon.log >&2 || true; exit 1; }
export GIT_AUTHOR_NAME="Ops" GIT_AUTHOR_EMAIL=ops@example.org
export GIT_COMMITTER_NAME=Ops GIT_COMMITTER_EMAIL=ops@example.org
mkdir -p "$WORK/ws/data" "$WORK/ws/flows"
cd "$WORK/ws"
printf 'name: relws\ndefault_environment: datalab\n' > alambic.yaml
printf 'region,amount\nnord,10\nsud,20\n' > data/sales.csv
flow() {  # CRON
  cat > flows/sales.yaml <<YAML
flow: sales
schedule: {cron: "$1", timezone: UTC, catchup: {policy: all, max: 10, window: 1d}}
recipes:
  - {name: collect_sales, kind: collect, outputs: [sales_raw], params: {path: data/sales.csv}}
YAML
}
release() {  # MESSAGE: commit, lab run, promote
  git add -A
  git commit -qm "$1"
  "$ALAMBIC" run > "$WORK/run.out" 2>&1 || { cat "$WORK/run.out"; fail "datalab run"; }
  "$ALAMBIC" promote sales > "$WORK/promote.out" 2>&1 || { cat "$WORK/promote.out"; fail "promotion"; }
}
printf '.alambic/\nclock.txt\ndaemon.log\n' > .gitignore
git init -q -b main .
flow "0 * * * *"
release "hourly"

clock() { echo "$1" > clock.txt.tmp && mv clock.txt.tmp clock.txt; }
await() {  # REGEX [COUNT]: up to 60 s for COUNT (1) matching lines
  for _ in $(seq 1 600); do
    [ "$(grep -cE "$1" daemon.log || true)" -ge "${2:-1}" ] && return 0
    sleep 0.1
  done
  fail "no line matching '$1' (x${2:-1}) in daemon.log"
}
clock 2026-06-01T09:59:30Z
"$ALAMBIC" --env warehouse daemon --clock-file clock.txt --lease-ttl 3 --grace 5 > daemon.log 2>&1 &
DAEMON=$!
await "lease of warehouse taken"
clock 2026-06-01T10:00:00Z
await "2026-06-01T10:00: run [0-9a-f-]+ succeeded"

# Release 2 (every 10 minutes), promoted at 10:25 while the daemon runs.
clock 2026-06-01T10:25:00Z
flow "*/10 * * * *"
release "every 10 minutes"
await "active releases changed in warehouse: 1 schedule\(s\) now"
clock 2026-06-01T10:30:00Z
await "2026-06-01T10:30: run [0-9a-f-]+ succeeded"
clock 2026-06-01T10:40:00Z
await "2026-06-01T10:40: run [0-9a-f-]+ succeeded"

# Rollback at 10:45: hourly again.
clock 2026-06-01T10:45:00Z
"$ALAMBIC" rollback sales --note "back to hourly" > "$WORK/rollback.out" 2>&1 ||
  { cat "$WORK/rollback.out"; fail "rollback"; }
await "active releases changed in warehouse" 2
clock 2026-06-01T10:50:00Z
sleep 1  # ticks at 10:50: the rolled-back schedule fires nothing
clock 2026-06-01T11:00:00Z
await "2026-06-01T11:00: run [0-9a-f-]+ succeeded"

kill -TERM "$DAEMON"
wait "$DAEMON" || fail "daemon exited with status $? after SIGTERM"
DAEMON=

python3 - <<'PY' || fail "slots do not match the active releases' schedules"
import sqlite3
db = sqlite3.connect(".alambic/catalog.db")
slots = db.execute("SELECT nominal, status FROM schedule_slots WHERE flow='sales' "
                   "ORDER BY nominal").fetchall()
print("slots:", slots)
assert [n for n, _ in slots] == ["2026-06-01T10:00", "2026-06-01T10:30", "2026-06-01T10:40",
                                 "2026-06-01T11:00"], slots
assert all(s == "succeeded" for _, s in slots), slots
runs = db.execute("SELECT count(*) FROM runs WHERE environment='warehouse' AND "
                  "trigger IN ('schedule', 'catchup')").fetchone()[0]
assert runs == 4, runs
print("ok")
PY
echo "daemon release e2e: ok"
