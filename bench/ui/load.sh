#!/usr/bin/env bash
# Load benchmark of `alambic serve` (docs/api.md routes) with wrk: a generated
# workspace of 1,000 use cases, 10,000 datasets and 100,000 runs; the home
# page, search, a use case, a dataset and a flow's routes, with and without
# keep-alive; prints requests/s and p99 latency per route.
#
# usage: bench/ui/load.sh BUILD_DIR [seconds per route, default 10]
# Needs wrk (scripts/setup-deps installs it) and python3.
set -euo pipefail
BUILD=$(realpath "${1:?usage: load.sh BUILD_DIR [SECONDS]}")
SECS=${2:-10}
ALAMBIC="$BUILD/alambic"
HERE=$(cd "$(dirname "$0")" && pwd)
command -v wrk >/dev/null || { echo "wrk is missing: scripts/setup-deps" >&2; exit 1; }
WORK=$(mktemp -d)
trap 'kill "$SERVER" 2>/dev/null || true; rm -rf "$WORK"' EXIT
# BENCH_WORKSPACE: a workspace this script generated before (kept, reused).
if [[ -n ${BENCH_WORKSPACE:-} && -f ${BENCH_WORKSPACE}/.alambic/catalog.db ]]; then
  WS=$BENCH_WORKSPACE
else
  WS=${BENCH_WORKSPACE:-$WORK/bench}
  mkdir -p "$WS"
  python3 "$HERE/generate.py" "$WS" --usecases "${USECASES:-1000}" --datasets "${DATASETS:-10000}"
  (cd "$WS" && git init -q && "$ALAMBIC" secret init >/dev/null)
  (cd "$WS" && printf 'bench-password\n' | "$ALAMBIC" user add bench --role viewer)
  python3 "$HERE/generate.py" "$WS" --usecases "${USECASES:-1000}" --datasets "${DATASETS:-10000}" \
    --runs "${RUNS:-100000}" --seed-only
fi
PORT=${PORT:-18080}
# THREADS: the server's workers (default: serve's own default).
(cd "$WS" && exec "$ALAMBIC" serve --port "$PORT" ${THREADS:+--threads "$THREADS"}) > "$WORK/serve.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 600); do
  curl -sf "http://127.0.0.1:$PORT/api/config" >/dev/null 2>&1 && break
  kill -0 "$SERVER" 2>/dev/null || { cat "$WORK/serve.log"; exit 1; }
  sleep 0.5
done
COOKIE=$(curl -si -H 'Content-Type: application/json' \
  -d '{"user":"bench","password":"bench-password"}' "http://127.0.0.1:$PORT/api/login" |
  tr -d '\r' | sed -n 's/^Set-Cookie: \(alambic_session=[^;]*\).*/\1/p')
[ -n "$COOKIE" ] || { echo "login failed" >&2; exit 1; }
ROUTES=(
  "/api/usecases"
  "/api/search?q=uc0500"
  "/api/usecases/uc0500"
  "/api/datasets/ds0500_3"
  "/api/flows/f0500"
  "/api/flows/f0500/runs?limit=50"
)
# Each route is asked once before it is measured (the first home page builds
# the cards); the load average is printed before and after.
for route in "${ROUTES[@]}"; do
  curl -sf -o /dev/null -H "Cookie: $COOKIE" "http://127.0.0.1:$PORT$route"
done
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"
printf '%-34s %-10s %12s %10s\n' route keepalive "req/s" "p99"
for route in "${ROUTES[@]}"; do
  for ka in yes no; do
    extra=()
    [ "$ka" = no ] && extra=(-H "Connection: close")
    out=$(wrk -t2 -c16 -d"${SECS}s" --latency -H "Cookie: $COOKIE" "${extra[@]}" \
      "http://127.0.0.1:$PORT$route")
    rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    errs=$(awk '/Non-2xx/ {print $5}' <<<"$out")
    printf '%-34s %-10s %12s %10s %s\n' "$route" "$ka" "$rps" "$p99" "${errs:+non-2xx: $errs}"
  done
done
# The same routes over 1,000 different use cases, datasets and flows (a
# random one per request): what answers cost when they are not cached.
ROTATED=(
  "/api/search?q=uc%04d"
  "/api/usecases/uc%04d"
  "/api/datasets/ds%04d_3"
  "/api/flows/f%04d"
  "/api/flows/f%04d/runs?limit=50"
)
N=${USECASES:-1000}
for pattern in "${ROTATED[@]}"; do
  cat >"$WORK/rotate.lua" <<LUA
math.randomseed(os.time())
request = function()
  return wrk.format(nil, string.format("$pattern", math.random(0, $N - 1)))
end
LUA
  for ka in yes no; do
    extra=()
    [ "$ka" = no ] && extra=(-H "Connection: close")
    out=$(wrk -t2 -c16 -d"${SECS}s" --latency -s "$WORK/rotate.lua" -H "Cookie: $COOKIE" \
      "${extra[@]}" "http://127.0.0.1:$PORT")
    rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    errs=$(awk '/Non-2xx/ {print $5}' <<<"$out")
    printf '%-34s %-10s %12s %10s %s\n' "${pattern//%04d/N} (1 of $N)" "$ka" "$rps" "$p99" \
      "${errs:+non-2xx: $errs}"
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
