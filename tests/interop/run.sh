#!/usr/bin/env bash
# Arrow IPC interoperability test (CTest: arrow_interop_js).
#
#   tests/interop/run.sh PATH/TO/alambic_arrow_tool
#
# Installs the pinned apache-arrow JS package from package-lock.json when it is
# missing or stale (npm ci; the npm cache is used when it has the packages),
# then runs check.mjs against the tool. Node.js and npm are required: without
# them the test fails, it is never skipped.
set -euo pipefail

if (($# != 1)); then
  echo "usage: $0 PATH/TO/alambic_arrow_tool" >&2
  exit 2
fi
tool=$1
if [[ ! -x $tool ]]; then
  echo "arrow_interop_js: FAIL: $tool is not an executable (build the alambic_arrow_tool target)" >&2
  exit 1
fi
tool=$(cd "$(dirname "$tool")" && pwd)/$(basename "$tool")
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

for cmd in node npm; do
  if ! command -v "$cmd" >/dev/null 2>&1; then
    echo "arrow_interop_js: FAIL: '$cmd' is not installed (scripts/setup-deps installs Node.js)" >&2
    exit 1
  fi
done

# npm ci when node_modules was not installed from this exact lock file. A lock
# (keyed by this directory) keeps two concurrent runs from installing at once.
install_modules() {
  if [[ -f node_modules/.alambic-lock-stamp ]] &&
    cmp -s node_modules/.alambic-lock-stamp package-lock.json; then
    return 0
  fi
  echo "arrow_interop_js: installing node modules (npm ci) in $here"
  npm ci --no-audit --no-fund --ignore-scripts --prefer-offline --loglevel=error
  cp package-lock.json node_modules/.alambic-lock-stamp
}
if command -v flock >/dev/null 2>&1; then
  lock="${TMPDIR:-/tmp}/alambic-interop-npm-$(printf '%s' "$here" | cksum | cut -d' ' -f1).lock"
  exec 9>"$lock"
  flock 9
  install_modules
  flock -u 9
else
  install_modules
fi

exec node check.mjs "$tool"
