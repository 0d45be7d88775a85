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
# rows (default 1000000) locally, as one Slurm job, and fanned out by a column
# of 64 values with at most P jobs at once for each P of PARTS (default "4 16").
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

# ---- Fan-out: one formula over ROWS rows, locally, as one job, as P jobs ----
ROWS=${ROWS:-1000000}
PARTS=${PARTS:-4 16}
F="$WORK/fan"
mkdir -p "$F/flows" "$F/data"
python3 - "$F/data/rows.csv" "$ROWS" <<'PY'
import random, sys
random.seed(1)
with open(sys.argv[1], "w") as f:
    f.write("id,part,x,y\n")
    for i in range(int(sys.argv[2])):
        f.write(f"{i},{i % 64},{random.random():.6f},{random.randint(0, 1000)}\n")
PY
cat > "$F/alambic.yaml" <<YAML
name: fan
environments:
  datalab: {}
  cluster:
    executor: {kind: slurm, partition: debug, max_jobs: 64, poll_seconds: 0.2}
YAML
fan_flow() {  # P [fan]: calc's k has P values; with "fan", one job per value of k
  {
    echo "flow: fan"
    echo "recipes:"
    echo "  - {name: rows, kind: collect, outputs: [rows], params: {path: data/rows.csv, format: csv}}"
    echo "  - name: calc"
    echo "    kind: formula"
    echo "    inputs: [rows]"
    echo "    outputs: [calc]"
    echo "    params: {columns: {z: \"x * y + sqrt(y)\", label: \"'p' || part\", w: \"y % $1\"}}"
    [ -z "${2:-}" ] || echo "    fan_out: {by: part, max_jobs: $1}"
  } > "$F/flows/fan.yaml"
}
calc_seconds() {  # ENV: seconds of a run where only calc is stale
  local t0 t1
  t0=$(date +%s.%N)
  (cd "$F" && "$ALAMBIC" --env "$1" run > run.out 2>&1) || { cat "$F/run.out"; exit 1; }
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc -l
}
fan_flow 1
(cd "$F" && "$ALAMBIC" run > /dev/null && "$ALAMBIC" --env cluster run > /dev/null)
echo
printf '%-34s %10s\n' "formula over $ROWS rows (64 parts)" seconds
i=1
for p in $PARTS; do
  i=$((i + 1)); fan_flow "$i"  # a new params hash: calc is stale again
  printf '%-34s %10.2f\n' "local" "$(calc_seconds datalab)"
  printf '%-34s %10.2f\n' "slurm, 1 job" "$(calc_seconds cluster)"
  # p partition jobs: the column `part` takes 64 values, so group it by p first
  i=$((i + 1)); fan_flow "$i" fan
  sed -i "s/max_jobs: $i/max_jobs: $p/" "$F/flows/fan.yaml"
  printf '%-34s %10.2f\n' "slurm, fan-out (64 jobs, $p at once)" "$(calc_seconds cluster)"
done
