#!/usr/bin/env bash
# The web UI in a real browser (CTest: web_browser_e2e).
#
#   tests/browser/run.sh PATH/TO/alambic PATH/TO/web/dist ARTIFACT_DIR
#
# Makes a workspace from examples/permis (plus a use case with a hostile title and a
# generated 2,000-recipe flow), runs it, makes one input stale, adds a viewer and an
# engineer, starts `alambic serve` on a free loopback port and drives Debian's chromium
# through e2e.mjs (playwright-core, axe-core). Screenshots go to ARTIFACT_DIR.
# Exit 77 (SKIPPED) when /usr/bin/chromium is missing: it is never reported as passed.
set -euo pipefail

if (($# != 3)); then
  echo "usage: $0 PATH/TO/alambic PATH/TO/web/dist ARTIFACT_DIR" >&2
  exit 2
fi
ALAMBIC=$(realpath "$1")
DIST=$(realpath -m "$2")
ARTIFACTS=$(realpath -m "$3")
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../../examples/permis" && pwd)
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
fail() { echo "web_browser_e2e: FAIL: $*" >&2; exit 1; }

if [[ ! -x $CHROMIUM ]]; then
  echo "web_browser_e2e: SKIPPED: $CHROMIUM is not installed (apt-get install chromium; scripts/setup-deps does)"
  exit 77
fi
"$ALAMBIC" --help 2>/dev/null | grep -qE '^ +serve +' || fail "$ALAMBIC has no 'serve' command"
for cmd in node npm python3 curl git; do
  command -v "$cmd" >/dev/null 2>&1 || fail "'$cmd' is not installed (scripts/setup-deps)"
done
[[ -f $DIST/index.html && -f $DIST/app.js ]] ||
  fail "no web UI bundle in $DIST (configure with node and npm, build the alambic_web_ui target)"

# playwright-core and axe-core from this directory's package-lock.json (npm ci when the
# lock changed; a lock file keeps two runs from installing at once). No browser download:
# playwright-core has none, and e2e.mjs launches $CHROMIUM.
install_modules() {
  if [[ -f node_modules/.alambic-lock-stamp ]] && cmp -s node_modules/.alambic-lock-stamp package-lock.json; then
    return 0
  fi
  npm ci --no-audit --no-fund --ignore-scripts --prefer-offline --loglevel=error
  cp package-lock.json node_modules/.alambic-lock-stamp
}
cd "$HERE"
exec 9>"${TMPDIR:-/tmp}/alambic-browser-npm-$(printf '%s' "$HERE" | cksum | cut -d' ' -f1).lock"
flock 9
install_modules
flock -u 9

WORK=$(mktemp -d)
SERVER_PID=
DSFR_PID=
cleanup() {
  for pid in $SERVER_PID $DSFR_PID; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  [[ -n ${KEEP_WORK:-} ]] || rm -rf "$WORK"
}
trap cleanup EXIT

cp -r "$SRC" "$WORK/permis"
cd "$WORK/permis"
rm -rf .alambic
mkdir -p .alambic
(umask 077 && head -c 32 /dev/urandom | od -An -vtx1 | tr -d ' \n' > .alambic/pseudo_key)
export GIT_AUTHOR_NAME="Camille Datalab" GIT_AUTHOR_EMAIL=camille@datalab.example
export GIT_COMMITTER_NAME="$GIT_AUTHOR_NAME" GIT_COMMITTER_EMAIL="$GIT_AUTHOR_EMAIL"

# A use case whose title and description are markup: the UI must show them as text.
HOSTILE_TITLE='<img src=x onerror=alert(1)>'
cat > usecases/hostile.yaml <<YAML
usecase: hostile-card
title: "$HOSTILE_TITLE"
description: "<script>alert(2)</script> and <b>bold</b>"
owner: "<svg onload=alert(3)>"
direction: Direction des tests
status: idea
tags: [tests]
YAML
# A generated flow of 2,000 filter recipes (a binary tree over the example's exams), for the
# time to first paint of a large graph. It is never run.
python3 - > flows/big.yaml <<'PY'
print("flow: big\ndescription: A generated flow of 2,000 recipes\nrecipes:")
for i in range(2000):
    src = "exams" if i == 0 else f"big_{(i - 1) // 2}"
    print(f"  - {{name: big_r{i}, kind: filter, inputs: [{src}], outputs: [big_{i}], params: {{where: \"score > {i % 20}\"}}}}")
PY
git init -q -b main .
git add -A
git commit -qm "permis, a hostile card and a large flow"

"$ALAMBIC" validate > "$WORK/validate.out" 2>&1 || { cat "$WORK/validate.out"; fail "validate"; }
"$ALAMBIC" run permis > "$WORK/run.out" 2>&1 || { cat "$WORK/run.out"; fail "the example's run failed"; }
"$ALAMBIC" catalog sync > "$WORK/sync.out" 2>&1 || { cat "$WORK/sync.out"; fail "catalog sync"; }
# An input changes after the run: its dataset is stale until the next run.
python3 - <<'PY'
import pathlib
p = pathlib.Path("data/centres.csv")
lines = p.read_bytes().split(b"\n")
lines[1] = lines[1] + b" "  # a changed byte in the first record
p.write_bytes(b"\n".join(lines))
PY
git commit -qam "a new centres extract"
"$ALAMBIC" status --format json > "$WORK/status.json"
STALE=$(python3 -c 'import json,sys; s=[d["dataset"] for d in json.load(open(sys.argv[1])) if d["state"]=="stale"]; print(s[0] if s else "")' "$WORK/status.json")
[[ -n $STALE ]] || { cat "$WORK/status.json"; fail "no dataset is stale after changing data/centres.csv"; }

# The server's install secret (sessions, CSRF tokens): from the environment, as in production.
export ALAMBIC_SECRET
ALAMBIC_SECRET=$(head -c 32 /dev/urandom | od -An -vtx1 | tr -d ' \n')
ENGINEER_PW=$(head -c 12 /dev/urandom | od -An -vtx1 | tr -d ' \n')
VIEWER_PW=$(head -c 12 /dev/urandom | od -An -vtx1 | tr -d ' \n')
printf '%s\n' "$ENGINEER_PW" | "$ALAMBIC" user add engineer --role engineer > /dev/null
printf '%s\n' "$VIEWER_PW" | "$ALAMBIC" user add viewer --role viewer > /dev/null

# The same workspace with the state theme (a copy, its own server): ui: {theme: dsfr}.
cp -r "$WORK/permis" "$WORK/permis-dsfr"
printf '\nui: {theme: dsfr}\n' >> "$WORK/permis-dsfr/alambic.yaml"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
"$ALAMBIC" serve --host 127.0.0.1 --port "$PORT" --static-dir "$DIST" > "$WORK/serve.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$PORT/api/config" > /dev/null 2>&1 && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/serve.log"; fail "alambic serve exited"; }
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$PORT/api/config" > /dev/null || { cat "$WORK/serve.log"; fail "alambic serve does not answer"; }

DSFR_PORT=$(free_port)
(cd "$WORK/permis-dsfr" && exec "$ALAMBIC" serve --host 127.0.0.1 --port "$DSFR_PORT" --static-dir "$DIST") \
  > "$WORK/serve-dsfr.log" 2>&1 &
DSFR_PID=$!
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$DSFR_PORT/api/config" > /dev/null 2>&1 && break
  kill -0 "$DSFR_PID" 2>/dev/null || { cat "$WORK/serve-dsfr.log"; fail "alambic serve (dsfr) exited"; }
  sleep 0.1
done

rc=0
E2E_ENGINEER="engineer:$ENGINEER_PW" E2E_VIEWER="viewer:$VIEWER_PW" E2E_FLOW=permis E2E_DATASET=exams \
  E2E_DSFR_URL="http://127.0.0.1:$DSFR_PORT" E2E_STALE="$STALE" E2E_USECASE=fraude-examens-permis E2E_BIG_FLOW=big E2E_HOSTILE_TITLE="$HOSTILE_TITLE" \
  CHROMIUM="$CHROMIUM" node "$HERE/e2e.mjs" "http://127.0.0.1:$PORT" "$ARTIFACTS" || rc=$?
if ((rc != 0)); then
  echo "--- alambic serve log (last 40 lines)"
  tail -40 "$WORK/serve.log"
fi
exit $rc
