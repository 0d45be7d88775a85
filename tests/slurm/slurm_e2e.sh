#!/usr/bin/env bash
# The Slurm executor against a real single-node Slurm started here
# (start-slurm.sh; exit 77 = skipped when it cannot start, with the reason):
#  1. the permis example run locally and as Slurm jobs: the same version ids,
#     the same outputs; job ids in `log` and the catalog; plan --explain says so;
#  2. Ctrl-C during a run: its jobs are scancelled, nothing is published, the
#     run is recorded cancelled;
#  3. a job scancelled from outside: the executor sees it lost, retries it, the
#     run succeeds once;
#  4. a partition the cluster does not have, and a bad setting: clear errors.
set -euo pipefail
ALAMBIC=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../../examples/permis" && pwd)
# shellcheck source=start-slurm.sh
source "$HERE/start-slurm.sh"
# Under /var/tmp, not a tmpfs the job might not see: the "shared filesystem".
WORK=$(mktemp -d /var/tmp/alambic-slurm-e2e.XXXXXX)
cleanup() {
  slurm_stop
  rm -rf "$WORK"
}
[ -n "${KEEP:-}" ] && cleanup() { slurm_stop; echo "kept $WORK" >&2; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
slurm_start "$WORK/cluster"
T0=$SECONDS

# ---- 1. permis: local vs Slurm ----
key=$(head -c 32 /dev/urandom | od -An -vtx1 | tr -d ' \n')
for w in local slurm; do
  cp -r "$SRC" "$WORK/$w"
  mkdir -p "$WORK/$w/.alambic"
  (umask 077 && printf '%s' "$key" > "$WORK/$w/.alambic/pseudo_key")
done
# The datalab environment of the Slurm copy runs its recipes as jobs.
python3 - "$WORK/slurm/alambic.yaml" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
s = s.replace("  datalab: {}\n", "  datalab:\n    executor: {kind: slurm, partition: debug, cpus: 1, mem: 256M, time: \"00:05:00\", max_jobs: 4, poll_seconds: 0.2}\n")
assert "kind: slurm" in s
open(p, "w").write(s)
PY
(cd "$WORK/local" && "$ALAMBIC" run -j 2 > run.out 2>&1) || { cat "$WORK/local/run.out"; fail "local run"; }
cd "$WORK/slurm"
"$ALAMBIC" plan --explain > plan.out
grep -q "runs as a Slurm job (partition debug, 1 CPU, 256M, time 00:05:00)" plan.out || { cat plan.out; fail "plan --explain does not say Slurm"; }
t=$SECONDS
"$ALAMBIC" run > run.out 2>&1 || { cat run.out; tail -50 "$WORK/cluster/log/slurmd.log" 2>/dev/null; fail "Slurm run"; }
echo "permis on Slurm: $((SECONDS - t)) s" >&2
grep -q "12 succeeded, 0 failed" run.out || { cat run.out; fail "not 12 recipes on Slurm"; }
python3 - "$WORK/local" "$WORK/slurm" <<'PY'
import json, sqlite3, sys
def versions(ws):
    db = sqlite3.connect(f"{ws}/.alambic/catalog.db")
    return sorted(db.execute("select dataset, id, row_count from dataset_versions where environment='datalab'"))
def jobs(ws):
    db = sqlite3.connect(f"{ws}/.alambic/catalog.db")
    return [(r, json.loads(m).get("slurm_jobs"), log) for r, m, log in db.execute("select recipe, metrics, log from recipe_runs where status='succeeded'")]
a, b = versions(sys.argv[1]), versions(sys.argv[2])
assert len(a) >= 12 and a == b, (a, b)
for r, ids, log in jobs(sys.argv[2]):
    assert ids and all(i.isdigit() for i in ids), (r, ids)
    assert f"job {ids[-1]} submitted as a Slurm job" in log, (r, log)
for r, ids, log in jobs(sys.argv[1]):
    assert ids is None, (r, ids)
print(f"{len(a)} version ids identical")
PY
# The same outputs: every version's store file is byte for byte the local run's.
python3 - "$WORK/local" "$WORK/slurm" <<'PY'
import hashlib, sqlite3, sys
def files(ws):
    db = sqlite3.connect(f"{ws}/.alambic/catalog.db")
    return {ds: hashlib.sha256(open(f"{ws}/.alambic/store/datalab/{f}", "rb").read()).hexdigest()
            for ds, f in db.execute("select dataset, file from dataset_versions")}
a, b = files(sys.argv[1]), files(sys.argv[2])
assert len(a) >= 12 and a == b, [k for k in a if a[k] != b.get(k)]
PY
run_id=$(python3 -c "
import sqlite3; print(sqlite3.connect('.alambic/catalog.db').execute(\"select id from runs order by started_at desc limit 1\").fetchone()[0])")
"$ALAMBIC" log "$run_id" > log.out 2>&1 || true
grep -qE "^  permis/clean_exams: [0-9]+$" log.out || { cat log.out; fail "log RUN shows no job id"; }
"$ALAMBIC" log "$run_id" clean_exams > log.out 2>&1
grep -qE '"slurm_jobs":\["[0-9]+"\]' log.out || { cat log.out; fail "log RUN RECIPE shows no job id"; }
grep -qE "job [0-9]+ submitted as a Slurm job" log.out || { cat log.out; fail "the recipe log has no job id"; }
# `alambic runs` lists the run's Slurm job ids too (text column and JSON).
"$ALAMBIC" runs --format json > runs.json
python3 - "$run_id" <<'PY' || { cat runs.json; fail "runs --format json shows no job id"; }
import json, sys
run = [r for r in json.load(open("runs.json")) if r["id"] == sys.argv[1]][0]
jobs = run["slurm_jobs"]
assert jobs.get("permis/clean_exams") and all(j.isdigit() for j in jobs["permis/clean_exams"]), jobs
PY
"$ALAMBIC" runs > runs.out
grep -q "slurm jobs" runs.out || { cat runs.out; fail "runs shows no slurm jobs column"; }
# Nothing is left in the staging directory.
[ -z "$(ls -A .alambic/slurm 2>/dev/null | grep -v alambic-job.sh)" ] || { ls -R .alambic/slurm; fail "staging left behind"; }

# ---- A small flow for cancellation and lost jobs ----
mkdir -p "$WORK/small/flows" "$WORK/small/data"
cd "$WORK/small"
printf 'id,v\n1,10\n2,20\n3,30\n' > data/nums.csv
cat > alambic.yaml <<'YAML'
name: small
environments:
  datalab:
    executor: {kind: slurm, partition: debug, poll_seconds: 0.2, max_jobs: 4}
YAML
cat > flows/small.yaml <<'YAML'
flow: small
retries: 1
retry_backoff: 0.1
recipes:
  - name: nums
    kind: collect
    outputs: [nums]
    params: {path: data/nums.csv, format: csv}
  - name: big
    kind: filter
    inputs: [nums]
    outputs: [big]
    params: {where: "v > 15"}
    resources: {cpus: 1, mem: 128M, time: "2"}
YAML
"$ALAMBIC" validate > /dev/null || fail "small workspace invalid"
runs_of() { python3 -c "
import sqlite3; db = sqlite3.connect('.alambic/catalog.db')
print('\n'.join(f'{s}' for (s,) in db.execute('select status from runs order by started_at')))"; }
# Occupy the node so that the run's jobs wait in the queue.
block() { sbatch --parsable --exclusive --job-name=blocker --output=/dev/null --wrap "sleep 300"; }
wait_pending() {  # until a job named $1 is queued
  for _ in $(seq 1 100); do
    squeue -h -o '%j|%T' | grep -q "^$1|PENDING" && return 0
    sleep 0.1
  done
  squeue; fail "no pending job $1"
}

# ---- 2. Ctrl-C: jobs scancelled, nothing published, run cancelled ----
blocker=$(block)
"$ALAMBIC" run > cancel.out 2>&1 &
pid=$!
wait_pending small/nums
kill -INT $pid
rc=0; wait $pid || rc=$?
[ "$rc" = 130 ] || { cat cancel.out; fail "a stopped run exits $rc, not 130"; }
sleep 0.5
squeue -h -o '%j' | grep -q '^small/' && { squeue; fail "jobs left in the queue after Ctrl-C"; }
[ "$(runs_of)" = cancelled ] || { runs_of; fail "the run is not recorded cancelled"; }
n=$(python3 -c "import sqlite3; print(sqlite3.connect('.alambic/catalog.db').execute('select count(*) from dataset_versions').fetchone()[0])")
[ "$n" = 0 ] || fail "$n versions published by a cancelled run"
[ -z "$(find .alambic/store -name '*.arrow' 2>/dev/null)" ] || fail "store files after a cancelled run"
scancel "$blocker"

# ---- 3. a job scancelled from outside: lost, retried, the run succeeds once ----
blocker=$(block)
"$ALAMBIC" run -v > lost.out 2>&1 &
pid=$!
wait_pending small/nums
scancel --name=small/nums
sleep 0.6
scancel "$blocker"
rc=0; wait $pid || rc=$?
[ "$rc" = 0 ] || { cat lost.out; fail "the run with a lost job failed ($rc)"; }
grep -q "2 succeeded, 0 failed" lost.out || { cat lost.out; fail "not 2 recipes"; }
grep -qE "attempt 1 failed: Slurm job [0-9]+ ended CANCELLED" lost.out || { cat lost.out; fail "the lost job is not reported"; }
python3 - <<'PY'
import sqlite3
db = sqlite3.connect(".alambic/catalog.db")
runs = [s for (s,) in db.execute("select status from runs order by started_at")]
assert runs == ["cancelled", "succeeded"], runs
att = dict(db.execute("select recipe, attempts from recipe_runs where status='succeeded'"))
assert att == {"nums": 2, "big": 1}, att
rows = db.execute("select row_count from dataset_versions where dataset='big'").fetchall()
assert rows == [(2,)], rows
PY

# ---- 4. bad configuration ----
sed -i 's/partition: debug/partition: nosuchpart/' alambic.yaml
rc=0; "$ALAMBIC" run --force > bad.out 2>&1 || rc=$?
[ "$rc" = 1 ] || { cat bad.out; fail "an unknown partition exits $rc"; }
grep -q "Slurm partition 'nosuchpart' does not exist (the cluster has: debug)" bad.out || { cat bad.out; fail "unknown partition not named"; }
sed -i 's/partition: nosuchpart/partition: debug, mem: lots/' alambic.yaml
rc=0; "$ALAMBIC" validate > bad.out 2>&1 || rc=$?
[ "$rc" = 1 ] || { cat bad.out; fail "a bad mem validates"; }
grep -q "alambic.yaml:4:.*environments.datalab.executor.mem: 'lots' is not a memory size" bad.out || { cat bad.out; fail "bad mem not named with its line"; }
# --executor local on the command line runs here, without Slurm.
sed -i 's/, mem: lots//' alambic.yaml
"$ALAMBIC" run --force --executor local > local.out 2>&1 || { cat local.out; fail "--executor local"; }
echo "slurm_e2e: ok ($((SECONDS - T0)) s after Slurm started)"
