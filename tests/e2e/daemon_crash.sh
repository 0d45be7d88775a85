#!/usr/bin/env bash
# End to end: the real `alambic daemon` in the warehouse, killed (SIGKILL) at
# each step of a scheduled run through the test hook ALAMBIC_CRASH_AT
# (core/base/crash_point.h): slot recorded, run created, run started, recipe
# publishing, before the slot's outcome is committed. After each kill a
# restarted daemon recovers the slot; at the end: exactly one run per slot, no
# version published twice nor by a failed run, no run left `running`, and the
# catalog passes PRAGMA integrity_check. The schedule comes from the active
# release: an unreleased edit of the working tree's schedule changes nothing.
set -euo pipefail
ALAMBIC=$(realpath "$1")
WORK=$(mktemp -d)
DAEMON=
cleanup() { [ -n "$DAEMON" ] && kill -9 "$DAEMON" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for f in "$WORK"/ws/daemon*.log; do echo "== $f"; cat "$f"; done >&2; exit 1; }
export GIT_AUTHOR_NAME="Ops" GIT_AUTHOR_EMAIL=ops@example.org
export GIT_COMMITTER_NAME=Ops GIT_COMMITTER_EMAIL=ops@example.org
LANDING="$WORK/landing"
mkdir -p "$WORK/ws/data" "$WORK/ws/flows" "$LANDING"
cd "$WORK/ws"
cat > alambic.yaml <<YAML
name: crashws
default_environment: datalab
connections:
  sales_src: {type: file, path: data/sales.csv}
environments:
  datalab: {}
  warehouse:
    data_roots: [$LANDING]
    connections:
      sales_src: {type: file, path: $LANDING/sales.csv}
YAML
printf 'region,amount\nnord,10\nsud,20\n' > data/sales.csv
cp data/sales.csv "$LANDING/sales.csv"
cat > flows/sales.yaml <<'YAML'
flow: sales
schedule: {cron: "* * * * *", timezone: UTC, catchup: none}
recipes:
  - {name: collect_sales, kind: collect, outputs: [sales_raw], params: {connection: sales_src}}
  - name: totals
    kind: sql
    inputs: [sales_raw]
    outputs: [totals]
    params: {query: "select region, sum(amount) as total from sales_raw group by region"}
YAML
printf '.alambic/\n' > .gitignore
git init -q -b main .
git add -A
git commit -qm "sales flow"
"$ALAMBIC" run > "$WORK/run.out" 2>&1 || { cat "$WORK/run.out"; fail "datalab run"; }
"$ALAMBIC" promote sales > "$WORK/promote.out" 2>&1 || { cat "$WORK/promote.out"; fail "promotion"; }
# Edited in the working tree, never promoted: once a year. Production keeps
# the release's schedule (every minute).
sed -i 's|cron: "\* \* \* \* \*"|cron: "0 0 1 1 *"|' flows/sales.yaml
grep -q '0 0 1 1' flows/sales.yaml || fail "working tree schedule not edited"

clock() { echo "$1" > clock.txt.tmp && mv clock.txt.tmp clock.txt; }
start() {  # LOG [CRASH_POINT]
  ALAMBIC_CRASH_AT="${2:-}" "$ALAMBIC" --env warehouse daemon --clock-file clock.txt \
    --lease-ttl 3 --grace 5 > "$1" 2>&1 &
  DAEMON=$!
}
await() {  # LOG REGEX: up to 60 s
  for _ in $(seq 1 600); do grep -qE "$2" "$1" && return 0; sleep 0.1; done
  fail "no line matching '$2' in $1"
}
await_exit() {  # sets rc to the daemon's exit status (up to 60 s)
  for _ in $(seq 1 600); do kill -0 "$DAEMON" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$DAEMON" 2>/dev/null && fail "daemon still running: never reached its crash point"
  rc=0
  wait "$DAEMON" || rc=$?
  DAEMON=
}
stop() {
  kill -TERM "$DAEMON"
  wait "$DAEMON" || fail "daemon exited with status $? after SIGTERM"
  DAEMON=
}

POINTS=(slot_recorded run_created run_started recipe_publishing before_commit)
declare -A OUTCOME=(
  [slot_recorded]="run [0-9a-f-]+ succeeded"
  [run_created]="run [0-9a-f-]+ abandoned"
  [run_started]="run [0-9a-f-]+ abandoned"
  [recipe_publishing]="run [0-9a-f-]+ abandoned"
  [before_commit]="run [0-9a-f-]+ had ended succeeded"
)
minute=0
for point in "${POINTS[@]}"; do
  minute=$((minute + 1))
  M=$(printf '2026-06-01T10:%02d' "$minute")
  # New data for each slot (so that its run rebuilds), except before the slot
  # after recipe_publishing: that run publishes again what the killed one had
  # put in the store, not yet in the catalog.
  [ "$point" = before_commit ] || echo "ouest,$minute" >> "$LANDING/sales.csv"
  clock "$(printf '2026-06-01T10:%02d:30Z' $((minute - 1)))"
  start "daemon-$point.log" "$point"
  await "daemon-$point.log" "lease of warehouse taken"
  grep -q "sales: the working tree's schedule differs from release release/sales/1's" \
    "daemon-$point.log" || fail "no note on the unreleased schedule"
  clock "$M:00Z"
  await_exit
  [ "$rc" = 137 ] || fail "$point: daemon exited with $rc, not killed at the crash point"
  clock "$M:20Z"  # past the dead daemon's lease
  start "daemon-$point-restart.log"
  await "daemon-$point-restart.log" "$M: ${OUTCOME[$point]}"
  stop
done
# A last slot, no crash: the daemon carries on.
minute=$((minute + 1))
M=$(printf '2026-06-01T10:%02d' "$minute")
echo "ouest,$minute" >> "$LANDING/sales.csv"
clock "$(printf '2026-06-01T10:%02d:30Z' $((minute - 1)))"
start daemon-last.log
await daemon-last.log "lease of warehouse taken"
clock "$M:00Z"
await daemon-last.log "$M: run [0-9a-f-]+ succeeded"
stop

python3 - "$minute" "${#POINTS[@]}" <<'PY' || fail "crash invariants"
import sqlite3, sys, os
slots_expected, points = int(sys.argv[1]), int(sys.argv[2])
db = sqlite3.connect(".alambic/catalog.db")
assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
slots = db.execute("SELECT nominal, run_id, status, attempts FROM schedule_slots "
                   "WHERE flow='sales' AND environment='warehouse' ORDER BY nominal").fetchall()
runs = db.execute("SELECT id, status, trigger FROM runs WHERE environment='warehouse'").fetchall()
status = {r[0]: r[1] for r in runs}
nominals = [s[0] for s in slots]
assert nominals == ["2026-06-01T10:%02d" % m for m in range(1, slots_expected + 1)], nominals
# Exactly one run per slot: each slot names one run, which exists, no run twice,
# and every scheduled warehouse run belongs to a slot.
assert all(s[3] == 1 for s in slots), slots
assert len({s[1] for s in slots}) == len(slots), slots
assert all(s[1] in status for s in slots), (slots, runs)
assert {r[0] for r in runs if r[2] == "schedule"} == {s[1] for s in slots}, (slots, runs)
assert not [r for r in runs if r[1] == "running"], runs
expect = {"10:01": "succeeded", "10:02": "failed", "10:03": "failed", "10:04": "failed",
          "10:05": "succeeded", "10:06": "succeeded"}
for n, run_id, st, _ in slots:
    assert st == expect[n[-5:]], (n, st)
    assert status[run_id] == st, (n, run_id, status[run_id], st)
# Nothing published twice, nothing published by a failed run.
dup = db.execute("SELECT dataset, id, COUNT(*) FROM dataset_versions WHERE environment='warehouse' "
                 "GROUP BY dataset, id HAVING COUNT(*) > 1").fetchall()
assert not dup, dup
by_failed = db.execute("SELECT v.dataset, v.id FROM dataset_versions v JOIN runs r ON r.id = v.run_id "
                       "WHERE v.environment='warehouse' AND r.status != 'succeeded'").fetchall()
assert not by_failed, by_failed
published = db.execute("SELECT run_id, COUNT(*) FROM dataset_versions WHERE environment='warehouse' "
                       "GROUP BY run_id").fetchall()
# 10:01, 10:05 (the data of 10:04's killed run) and 10:06 built both datasets.
ok_runs = {s[1] for s in slots if s[2] == "succeeded"}
assert {r for r, _ in published} == ok_runs, (published, ok_runs)
assert all(c == 2 for _, c in published), published
current = db.execute("SELECT COUNT(*) FROM current_versions WHERE environment='warehouse'").fetchone()[0]
assert current == 2, current
print(f"crash points: {points}, slots: {len(slots)}, runs: {len(runs)}, "
      f"versions: {sum(c for _, c in published)}, integrity_check: ok")
PY
echo "daemon crash e2e: ok"
