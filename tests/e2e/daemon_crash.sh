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
. "$(dirname "$0")/sales_flow.sh"
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
sales_flow 'schedule: {cron: "* * * * *", timezone: UTC, catchup: none}'
cp data/sales.csv "$LANDING/sales.csv"
# The daemons' clock file and logs stay out of git: the working tree is clean.
printf '.alambic/\n*.log\n*.restart\nclock.txt*\nexpected.txt\n' > .gitignore
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

# The daemon's own points, then the run's (core/base/crash_point.h), each
# killing the daemon in the slot's run. POINT:N kills it the Nth time. The
# default slice takes N = 1 of each (and the second recipe's publishing);
# ALAMBIC_FAULTS_LONG=1 takes every N that a scheduled run reaches, until the
# run is no longer killed (scripts/fault-loops).
POINTS=(slot_recorded run_created run_started recipe_publishing before_commit
  dataset_write store_rename catalog_commit recipe_publishing:2)
declare -A OUTCOME=(
  [slot_recorded]="run [0-9a-f-]+ succeeded"
  [before_commit]="run [0-9a-f-]+ had ended succeeded"
)
ANY_OUTCOME="run [0-9a-f-]+ (succeeded|abandoned|had ended succeeded)"
minute=0 kills=0 points=0 long=${ALAMBIC_FAULTS_LONG:-}
: > expected.txt  # MINUTE STATUS, one line per slot
# One slot: the daemon started with ALAMBIC_CRASH_AT=$1 and restarted after
# its kill. Sets killed=1 when it was killed, 0 when its run ended first.
slot() {
  local at=$1 step=${1%%:*}
  minute=$((minute + 1))
  M=$(printf '2026-06-01T%02d:%02d' $((10 + minute / 60)) $((minute % 60)))
  local before
  before=$(date -u -d "${M/T/ } UTC - 30 seconds" +%Y-%m-%dT%H:%M:%SZ)
  # New data for each slot (so that its run rebuilds), except before the slot
  # after recipe_publishing: that run publishes again what the killed one had
  # put in the store, not yet in the catalog.
  [ "$at" = before_commit ] || echo "ouest,$minute" >> "$LANDING/sales.csv"
  clock "$before"
  local log="daemon-$minute-${at/:/-}.log"
  start "$log" "$at"
  await "$log" "lease of warehouse taken"
  [ "$at" = release_checkout ] ||
    grep -q "sales: the working tree's schedule differs from release release/sales/1's" \
      "$log" || fail "no note on the unreleased schedule"
  clock "$M:00Z"
  # Killed at the point, or (a long loop's last N) the run ends first.
  for _ in $(seq 1 600); do
    kill -0 "$DAEMON" 2>/dev/null || break
    grep -qE "$M: run [0-9a-f-]+ succeeded" "$log" && break
    sleep 0.1
  done
  if kill -0 "$DAEMON" 2>/dev/null; then
    grep -qE "$M: run [0-9a-f-]+ succeeded" "$log" || fail "$at: neither killed nor run"
    [ -n "$long" ] || fail "$at: the daemon never reached its crash point"
    stop
    killed=0
    echo "$M succeeded" >> expected.txt
    return
  fi
  rc=0
  wait "$DAEMON" || rc=$?
  DAEMON=
  [ "$rc" = 137 ] || fail "$at: daemon exited with $rc, not killed at the crash point"
  killed=1 kills=$((kills + 1))
  clock "$M:20Z"  # past the dead daemon's lease
  start "$log.restart"
  if [ "${1#*:}" = "$1" ] && [ -n "${OUTCOME[$step]:-}" ]; then
    await "$log.restart" "$M: ${OUTCOME[$step]}"
  elif [ "$step" = slot_recorded ] || [ "$step" = before_commit ] ||
    [ "$step" = release_checkout ]; then
    await "$log.restart" "$M: $ANY_OUTCOME"
  else  # killed inside the run: the restarted daemon closes it as abandoned
    await "$log.restart" "$M: run [0-9a-f-]+ abandoned"
  fi
  if grep -qE "$M: run [0-9a-f-]+ abandoned" "$log.restart"; then
    echo "$M failed" >> expected.txt
  else
    echo "$M succeeded" >> expected.txt
  fi
  stop
}
for point in "${POINTS[@]}"; do
  if [ -z "$long" ]; then
    slot "$point"
    points=$((points + 1))
    continue
  fi
  # Every N until the run is no longer killed.
  step=${point%%:*}
  [ "$step" != "$point" ] && continue  # recipe_publishing:2 is in its every N
  n=1
  while :; do
    slot "$step:$n"
    [ "$n" = 1 ] && [ "$killed" = 1 ] && points=$((points + 1))
    [ "$killed" = 1 ] || break
    n=$((n + 1))
  done
  echo "daemon crash: $step: killed at N = 1..$((n - 1))"
done
# Release 2 (the totals count their rows), promoted while a daemon runs: the
# daemon is killed as it takes the new release up (release_reload), then,
# restarted, while it checks out the release's code for the next slot's run
# (release_checkout, between the fetch and the checkout of the files).
# Restarted again, the slots carry on and the last one runs release 2.
git checkout -q flows/sales.yaml
sed -i 's|sum(amount) as total|sum(amount) as total, count(*) as n|' flows/sales.yaml
git commit -qam "totals count their rows"
# 35 s before the next slot: past the last daemon's lease (3 s), and the next
# slot's daemon, 5 s later, past this one's.
clock "$(date -u -d "$(printf '2026-06-01 %02d:%02d' $((10 + (minute + 1) / 60)) \
  $(((minute + 1) % 60))) UTC - 35 seconds" +%Y-%m-%dT%H:%M:%SZ)"
start daemon-reload.log release_reload
await daemon-reload.log "lease of warehouse taken"
"$ALAMBIC" run > "$WORK/run2.out" 2>&1 || { cat "$WORK/run2.out"; fail "datalab run of release 2"; }
"$ALAMBIC" promote sales > "$WORK/promote2.out" 2>&1 || { cat "$WORK/promote2.out"; fail "promotion 2"; }
grep -q "release/sales/2" "$WORK/promote2.out" || { cat "$WORK/promote2.out"; fail "not release 2"; }
await_exit
[ "$rc" = 137 ] || fail "release_reload: daemon exited with $rc, not killed at the crash point"
kills=$((kills + 1)) points=$((points + 1))
long_saved=$long long=
slot release_checkout
long=$long_saved
[ "$killed" = 1 ] || fail "release_checkout: the daemon was not killed"
points=$((points + 1))

# A last slot, no crash: the daemon carries on.
minute=$((minute + 1))
M=$(printf '2026-06-01T%02d:%02d' $((10 + minute / 60)) $((minute % 60)))
echo "ouest,$minute" >> "$LANDING/sales.csv"
clock "$(date -u -d "${M/T/ } UTC - 30 seconds" +%Y-%m-%dT%H:%M:%SZ)"
start daemon-last.log
await daemon-last.log "lease of warehouse taken"
clock "$M:00Z"
await daemon-last.log "$M: run [0-9a-f-]+ succeeded"
stop
echo "$M succeeded" >> expected.txt

# Outputs identical to an undisturbed run's: the current totals against the
# landing file summed by python.
"$ALAMBIC" --env warehouse show totals --format csv --head 0 > totals.csv 2> show.err ||
  { cat show.err; fail "show totals"; }
python3 - "$LANDING/sales.csv" totals.csv <<'PY' || fail "totals differ from the landing file's"
import csv, sys
want = {}
for r in csv.DictReader(open(sys.argv[1])):
    want[r["region"]] = want.get(r["region"], 0) + int(r["amount"])
rows = {}
for r in csv.DictReader(open(sys.argv[1])):
    rows[r["region"]] = rows.get(r["region"], 0) + 1
got = {r["region"]: int(float(r["total"])) for r in csv.DictReader(open(sys.argv[2]))}
assert got == want, (got, want)
# Release 2's totals: the row counts too.
got_n = {r["region"]: int(float(r["n"])) for r in csv.DictReader(open(sys.argv[2]))}
assert got_n == rows, (got_n, rows)
PY

python3 - "$points" "$kills" <<'PY' || fail "crash invariants"
import sqlite3, sys, os
points, kills = int(sys.argv[1]), int(sys.argv[2])
expect = dict(l.split() for l in open("expected.txt"))
db = sqlite3.connect(".alambic/catalog.db")
assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
slots = db.execute("SELECT nominal, run_id, status, attempts FROM schedule_slots "
                   "WHERE flow='sales' AND environment='warehouse' ORDER BY nominal").fetchall()
runs = db.execute("SELECT id, status, trigger FROM runs WHERE environment='warehouse'").fetchall()
status = {r[0]: r[1] for r in runs}
nominals = [s[0] for s in slots]
assert nominals == sorted(expect), (nominals, sorted(expect))
# Exactly one run per slot: each slot names one run, which exists, no run twice,
# and every scheduled warehouse run belongs to a slot.
assert all(s[3] == 1 for s in slots), slots
assert len({s[1] for s in slots}) == len(slots), slots
assert all(s[1] in status for s in slots), (slots, runs)
assert {r[0] for r in runs if r[2] == "schedule"} == {s[1] for s in slots}, (slots, runs)
assert not [r for r in runs if r[1] == "running"], runs
for n, run_id, st, _ in slots:
    assert st == expect[n], (n, st, expect[n])
    assert status[run_id] == st, (n, run_id, status[run_id], st)
# Nothing published twice; a run that did not succeed published only the
# outputs of its recipes that had finished (a later recipe was killed).
dup = db.execute("SELECT dataset, id, COUNT(*) FROM dataset_versions WHERE environment='warehouse' "
                 "GROUP BY dataset, id HAVING COUNT(*) > 1").fetchall()
assert not dup, dup
by_failed = db.execute(
    "SELECT v.dataset, v.id, v.recipe FROM dataset_versions v JOIN runs r ON r.id = v.run_id "
    "WHERE v.environment='warehouse' AND r.status != 'succeeded' AND NOT EXISTS (SELECT 1 FROM "
    "recipe_runs rr WHERE rr.run_id = v.run_id AND rr.recipe = v.recipe AND "
    "rr.status = 'succeeded')").fetchall()
assert not by_failed, by_failed
# Every succeeded run built both datasets: each slot had new data (the slot
# after recipe_publishing's kill, the data that run had put in the store).
ok_runs = {s[1] for s in slots if s[2] == "succeeded"}
published = dict(db.execute(
    "SELECT run_id, COUNT(*) FROM dataset_versions WHERE environment='warehouse' "
    "GROUP BY run_id").fetchall())
assert all(published.get(r) == 2 for r in ok_runs), (published, ok_runs)
current = db.execute("SELECT COUNT(*) FROM current_versions WHERE environment='warehouse'").fetchone()[0]
assert current == 2, current
# Each slot's run ran the release active when it fired: release 1, then 2
# from the slot after its promotion ("": a run killed before it was recorded,
# recorded failed by the restarted daemon).
release = dict(db.execute("SELECT id, release FROM runs").fetchall())
used = [release[s[1]] for s in slots]
assert used[-1] == "sales/2" and used[-2] in ("sales/2", ""), used
assert set(used[:-2]) <= {"sales/1", ""} and "sales/1" in used[:-2], used
assert all(release[s[1]] for s in slots if s[2] == "succeeded"), used
print(f"crash points: {points}, daemons killed: {kills}, slots: {len(slots)}, runs: {len(runs)}, "
      f"versions: {sum(published.values())}, integrity_check: ok")
PY
echo "daemon crash e2e: ok"
