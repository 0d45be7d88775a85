#!/usr/bin/env bash
# The examples' dataset version ids are part of the engine's contract: a change
# that is meant to keep behaviour (a refactoring, a faster operator) must keep
# every id, or workspaces would rebuild for nothing. Runs permis (with a fixed
# pseudonymisation key: the ids of pseudonymised datasets depend on the key's
# id) and matching from fresh copies and compares every dataset's version id
# with tests/data/example_versions/NAME.json. code_recipes is left out: its
# plugin recipes' ids include the plugin library's hash, which differs between
# builds (release, debug).
#   example_versions.sh ALAMBIC            check
#   example_versions.sh ALAMBIC --update   rewrite the expected files (say why in the commit)
set -euo pipefail
ALAMBIC=$(realpath "$1")
UPDATE=${2:-}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
status=0
for ex in permis matching; do
  cp -r "$ROOT/examples/$ex" "$WORK/$ex"
  cd "$WORK/$ex"
  if [[ $ex == permis ]]; then
    mkdir -p .alambic
    (umask 077 && printf '%064d' 0 > .alambic/pseudo_key)
  fi
  "$ALAMBIC" run -j 2 > run.out 2>&1 || { cat run.out; echo "FAIL: $ex did not run" >&2; exit 1; }
  "$ALAMBIC" status --format json |
    python3 -c 'import json,sys; print(json.dumps({d["dataset"]: d["version"] for d in json.load(sys.stdin)}, indent=1, sort_keys=True))' \
    > versions.json
  expected="$ROOT/tests/data/example_versions/$ex.json"
  if [[ $UPDATE == --update ]]; then
    cp versions.json "$expected"
  elif ! diff -u "$expected" versions.json; then
    echo "FAIL: $ex: dataset version ids changed (see the diff above)" >&2
    status=1
  fi
done
[[ $status == 0 ]] && echo "example version ids: ok"
exit $status
