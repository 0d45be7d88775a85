#!/usr/bin/env bash
# A throw-away single-node Slurm on localhost for the tests (Debian's slurm-wlm
# and munge): a munge key, a slurm.conf for one node (this machine's CPUs and
# memory, partition `debug`), munged, slurmctld and slurmd, all with their state
# under one directory. Source this file, then:
#
#   slurm_start DIR   # exits 77 (skip) with the reason when it cannot start
#   ...               # SLURM_CONF is exported; sbatch, squeue, ... use it
#   slurm_stop        # (run it from an EXIT trap)
#
# No accounting (AccountingStorageType none): sacct has nothing to say, so the
# executor learns how a job ended from `scontrol show job` (kept MinJobAge
# seconds after it ends), and counts a job that neither knows as lost.
# Needs root (slurmd runs jobs as their user; munged and the daemons as root).

slurm_skip() {
  echo "SKIPPED: $*" >&2
  exit 77
}

slurm_start() {
  local dir=$1
  local t0=$SECONDS
  [ "$(id -u)" = 0 ] || slurm_skip "a single-node Slurm needs root (slurmd, munged)"
  for p in munged slurmctld slurmd sbatch squeue scontrol scancel sinfo; do
    command -v "$p" >/dev/null 2>&1 || [ -x "/usr/sbin/$p" ] ||
      slurm_skip "$p is not installed (apt-get install slurm-wlm munge; scripts/setup-deps)"
  done
  export PATH="$PATH:/usr/sbin"
  mkdir -p "$dir"/{state,spool,munge,log}
  chmod 700 "$dir/munge"
  SLURM_TEST_DIR=$dir
  dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
  chmod 400 "$dir/munge/munge.key"
  munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.sock" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/log/munged.log" \
    --seed-file="$dir/munge/seed" 2>"$dir/log/munged.err" ||
    slurm_skip "munged did not start: $(cat "$dir/log/munged.err")"
  local cpus mem port
  cpus=$(nproc)
  mem=$(awk '/MemTotal/ {printf "%d", $2 / 1024 * 0.8}' /proc/meminfo)
  port=$((20000 + RANDOM % 20000))
  cat >"$dir/slurm.conf" <<CONF
ClusterName=alambictest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.sock
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/pgid
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/builtin
# Schedule each job as soon as it is submitted (the defaults batch them for throughput).
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0,default_queue_depth=100
MpiDefault=none
ReturnToService=2
MinJobAge=300
KillWait=2
SlurmdTimeout=30
InactiveLimit=0
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
  export SLURM_CONF=$dir/slurm.conf
  slurmctld -D -c -f "$SLURM_CONF" >"$dir/log/slurmctld.out" 2>&1 &
  SLURM_CTLD_PID=$!
  slurmd -D -N localhost -f "$SLURM_CONF" >"$dir/log/slurmd.out" 2>&1 &
  SLURM_D_PID=$!
  local i state=""
  for i in $(seq 1 300); do
    state=$(sinfo -h -o %T 2>/dev/null | head -1)
    [ "$state" = idle ] && break
    if ! kill -0 "$SLURM_CTLD_PID" 2>/dev/null || ! kill -0 "$SLURM_D_PID" 2>/dev/null; then
      tail -5 "$dir/log/slurmctld.out" "$dir/log/slurmd.out" "$dir/log/slurmctld.log" \
        "$dir/log/slurmd.log" >&2 2>/dev/null
      slurm_stop
      slurm_skip "slurmctld or slurmd exited at start (logs above)"
    fi
    sleep 0.1
  done
  if [ "$state" != idle ]; then
    tail -5 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" >&2 2>/dev/null
    slurm_stop
    slurm_skip "the node did not become idle within 30 s (state '$state')"
  fi
  echo "slurm: started in $((SECONDS - t0)) s (node localhost, $cpus CPUs, partition debug)" >&2
}

slurm_stop() {
  [ -n "${SLURM_TEST_DIR:-}" ] || return 0
  local p
  for p in ${SLURM_D_PID:-} ${SLURM_CTLD_PID:-}; do kill "$p" 2>/dev/null; done
  for p in ${SLURM_D_PID:-} ${SLURM_CTLD_PID:-}; do wait "$p" 2>/dev/null; done
  # Job steps left behind (slurmstepd) belong to this test's slurmd only.
  if [ -f "$SLURM_TEST_DIR/munge/munged.pid" ]; then
    kill "$(cat "$SLURM_TEST_DIR/munge/munged.pid")" 2>/dev/null
  fi
  SLURM_TEST_DIR=
}

# For an end-to-end test: a work directory WORK under /var/tmp (not a tmpfs a
# job might not see: the "shared filesystem") named after $1, removed at exit
# with the cluster stopped (kept when KEEP is set), fail(), and the cluster
# started under $WORK/cluster.
slurm_e2e_start() {
  WORK=$(mktemp -d "/var/tmp/alambic-$1.XXXXXX")
  cleanup() {
    slurm_stop
    rm -rf "$WORK"
  }
  [ -n "${KEEP:-}" ] && cleanup() { slurm_stop; echo "kept $WORK" >&2; }
  trap cleanup EXIT
  fail() { echo "FAIL: $*" >&2; exit 1; }
  slurm_start "$WORK/cluster"
}
