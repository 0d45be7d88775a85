#!/usr/bin/env bash
# Measures `alambic daemon` (not a test): its CPU use when idle with N schedules
# (default 1000) that do not fire during the measure, over SECONDS (default 60),
# from /proc/PID/stat utime + stime; then its latency from a slot's nominal time
# to its run's start (the run's started_at in the catalog), over a few real
# minutes with every-minute schedules.
#   bench/scheduler/daemon_bench.sh build/alambic [N] [SECONDS] [LATENCY_SLOTS]
set -euo pipefail
ALAMBIC=$(realpath "$1")
N=${2:-1000}
SECONDS_IDLE=${3:-60}
SLOTS=${4:-2}
WORK=$(mktemp -d)
PID=
trap '[ -n "$PID" ] && kill -9 $PID 2>/dev/null; rm -rf "$WORK"' EXIT
cd "$WORK"
printf 'name: bench\nenvironments:\n  datalab: {}\n' > alambic.yaml
mkdir flows
for i in $(seq 1 "$N"); do
  # 03:00 on 1 January, in rotating zones: never fires during the measure.
  printf 'flow: f%04d\nschedule: {cron: "0 3 1 1 *", timezone: Europe/Paris}\nrecipes: []\n' "$i" \
    > "flows/f$(printf %04d "$i").yaml"
done
"$ALAMBIC" --env datalab daemon > idle.log 2>&1 &
PID=$!
sleep 5  # start-up: load the flows, take the lease, observe every schedule
TCK=$(getconf CLK_TCK)
read -r u0 s0 < <(awk '{print $14, $15}' /proc/$PID/stat)
sleep "$SECONDS_IDLE"
read -r u1 s1 < <(awk '{print $14, $15}' /proc/$PID/stat)
RSS=$(awk '/VmRSS/ {print $2}' /proc/$PID/status)
kill -TERM $PID; wait $PID || true; PID=
python3 -c "
cpu = (($u1 - $u0) + ($s1 - $s0)) / $TCK
print(f'idle, $N schedules: {cpu:.2f} s CPU over ${SECONDS_IDLE} s = {100*cpu/$SECONDS_IDLE:.2f}% of a core (user {($u1-$u0)/$TCK:.2f} s, sys {($s1-$s0)/$TCK:.2f} s), RSS {$RSS/1024:.1f} MiB')
"

# Latency: 10 every-minute schedules among the N.
for i in $(seq 1 10); do
  sed -i 's|cron: "0 3 1 1 \*"|cron: "* * * * *"|' "flows/f$(printf %04d "$i").yaml"
done
"$ALAMBIC" --env datalab daemon --max-runs 10 > latency.log 2>&1 &
PID=$!
sleep 2
# Wait for SLOTS full minutes after the first minute boundary.
now=$(date +%s); sleep $(( 60 - now % 60 + 60 * SLOTS + 5 ))
kill -TERM $PID; wait $PID || true; PID=
python3 - <<'PY'
import sqlite3, datetime, statistics
db = sqlite3.connect(".alambic/catalog.db")
rows = db.execute("SELECT s.fire_at, s.claimed_at, r.started_at FROM schedule_slots s "
                  "JOIN runs r ON r.id = s.run_id ORDER BY s.fire_at").fetchall()
def t(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
lat = [(t(start) - t(fire)).total_seconds() for fire, _, start in rows]
claim = [(t(c) - t(fire)).total_seconds() for fire, c, _ in rows]
print(f"latency nominal -> run start over {len(lat)} runs: median {statistics.median(lat)*1000:.0f} ms, "
      f"max {max(lat)*1000:.0f} ms (nominal -> slot claimed: median {statistics.median(claim)*1000:.0f} ms)")
PY
