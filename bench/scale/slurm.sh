#!/usr/bin/env bash
# The Slurm executor's overhead against the local executor on the same flows of
# trivial recipes: a chain (each recipe filters the previous one's output) and a
# wide flow (N recipes filter one collected dataset). Starts a single-node Slurm
# (tests/slurm/start-slurm.sh; needs root and slurm-wlm + munge).
#
#   bench/scale/slurm.sh build/alambic [N]      # N recipes per flow (default 40)
#
# Prints, per flow: local seconds, Slurm seconds, per-job overhead
# ((slurm - local) / N) and jobs per second on Slurm.
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
