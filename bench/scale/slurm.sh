#!/usr/bin/env bash
# The Slurm executor's overhead against the local executor on the same flows of
# trivial recipes: a chain (each recipe filters the previous one's output) and a
# wide flow (N recipes filter one collected dataset). Starts a single-node Slurm
# (tests/slurm/start-slurm.sh; needs root and slurm-wlm + munge).
#
#   bench/scale/slurm.sh build/alambic [N]      # N recipes per flow (default 40)
#
# Prints, per flow: local seconds, Slurm seconds, per-job overhead
# ((slurm - local) / N) and jobs per second on Slurm. Then a formula over ROWS
# rows (default 1000000) locally, as one Slurm job, and in a flow partitioned
# by a column of P values (P jobs, all at once) for each P of PARTS (default
# "4 16 64").
set -euo pipefail
ALAMBIC=$(realpath "$1")
N=${2:-40}
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../../tests/slurm/start-slurm.sh"
WORK=$(mktemp -d /var/tmp/alambic-slurm-bench.XXXXXX)
trap 'slurm_stop; rm -rf "$WORK"' EXIT
slurm_start "$WORK/slurm"

make_ws() {  # dir shape
  local d=$1 shape=$2 i
  mkdir -p "$d/flows" "$d/data"
  printf 'id,v\n' > "$d/data/n.csv"
  for i in $(seq 1 100); do printf '%d,%d\n' "$i" "$i" >> "$d/data/n.csv"; done
  cat > "$d/alambic.yaml" <<YAML
name: bench
environments:
  datalab: {}
  cluster:
    executor: {kind: slurm, partition: debug, max_jobs: 64, poll_seconds: 0.2}
YAML
  {
    echo "flow: $shape"
    echo "recipes:"
    echo "  - {name: r0, kind: collect, outputs: [d0], params: {path: data/n.csv, format: csv}}"
    for i in $(seq 1 "$N"); do
      if [ "$shape" = chain ]; then
        echo "  - {name: r$i, kind: filter, inputs: [d$((i - 1))], outputs: [d$i], params: {where: \"v > $i\"}}"
      else
        echo "  - {name: r$i, kind: filter, inputs: [d0], outputs: [d$i], params: {where: \"v > $i\"}}"
      fi
    done
  } > "$d/flows/$shape.yaml"
}

timed() {  # prints seconds of: alambic run in $1 with env $2
  local t0 t1
  t0=$(date +%s.%N)
  (cd "$1" && "$ALAMBIC" --env "$2" run -j 2 > run.out 2>&1) || { cat "$1/run.out"; exit 1; }
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc -l
}

printf '%-6s %5s %10s %10s %16s %10s\n' flow jobs local_s slurm_s overhead_s/job jobs/s
for shape in chain wide; do
  make_ws "$WORK/$shape" "$shape"
  "$ALAMBIC" -C "$WORK/$shape" validate > /dev/null
  loc=$(timed "$WORK/$shape" datalab)
  slu=$(timed "$WORK/$shape" cluster)
  jobs=$((N + 1))
  printf '%-6s %5d %10.2f %10.2f %16.3f %10.2f\n' "$shape" "$jobs" "$loc" "$slu" \
    "$(echo "($slu - $loc) / $jobs" | bc -l)" "$(echo "$jobs / $slu" | bc -l)"
done

# ---- Partitioned flow: one formula over ROWS rows, locally, as one job, as P jobs ----
ROWS=${ROWS:-1000000}
PARTS=${PARTS:-4 16 64}
F="$WORK/fan"
mkdir -p "$F/flows" "$F/data"
python3 - "$F/data/rows.csv" "$ROWS" $PARTS <<'PY'
import random, sys
random.seed(1)
parts = [int(p) for p in sys.argv[3:]]
with open(sys.argv[1], "w") as f:
    f.write(",".join(["id", "part"] + [f"p{p}" for p in parts] + ["x", "y"]) + "\n")
    for i in range(int(sys.argv[2])):
        f.write(",".join(str(v) for v in [i, i % 64] + [i % p for p in parts]) +
                f",{random.random():.6f},{random.randint(0, 1000)}\n")
PY
{
  echo "name: fan"
  echo "environments:"
  echo "  datalab: {}"
  for p in 1 $PARTS; do
    echo "  cluster$p: {executor: {kind: slurm, partition: debug, max_jobs: $p, poll_seconds: 0.2}}"
  done
} > "$F/alambic.yaml"
fan_flow() {  # I [P]: a formula whose params change with I (so that it runs again); P partitions
  {
    echo "flow: fan"
    [ -z "${2:-}" ] || echo "partitions: {by: p$2}"
    echo "recipes:"
    echo "  - {name: rows, kind: collect, outputs: [rows], params: {path: data/rows.csv, format: csv}}"
    echo "  - name: calc"
    echo "    kind: formula"
    echo "    inputs: [rows]"
    echo "    outputs: [calc]"
    echo "    params: {columns: {z: \"x * y + abs(y - 500)\", label: \"'p' || part\", w: \"y % $1\"}}"
  } > "$F/flows/fan.yaml"
}
calc_seconds() {  # ENV: seconds of a run where only calc is stale
  local t0 t1
  t0=$(date +%s.%N)
  (cd "$F" && "$ALAMBIC" --env "$1" run > run.out 2>&1) || { cat "$F/run.out" >&2; exit 1; }
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc -l
}
fan_flow 1
for e in datalab $(for p in 1 $PARTS; do echo "cluster$p"; done); do
  (cd "$F" && "$ALAMBIC" --env "$e" run > run.out 2>&1) || { cat "$F/run.out"; exit 1; }
done
echo
printf '%-40s %10s\n' "formula over $ROWS rows" seconds
i=1
i=$((i + 1)); fan_flow "$i"
printf '%-40s %10.2f\n' "local" "$(calc_seconds datalab)"
i=$((i + 1)); fan_flow "$i"
printf '%-40s %10.2f\n' "slurm, 1 job" "$(calc_seconds cluster1)"
for p in $PARTS; do
  i=$((i + 1)); fan_flow "$i" "$p"
  printf '%-40s %10.2f\n' "slurm, $p partition jobs, $p at once" "$(calc_seconds "cluster$p")"
done
