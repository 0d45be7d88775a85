#!/usr/bin/env bash
# docs/plugins.md, "Write one, from a blank directory", followed step by step:
# install Alambic into a temporary prefix; in a blank directory, write the
# files the page shows (extracted from the page itself, so the page cannot
# drift from what is tested); build the plugin against the installed header;
# put it in a new workspace's plugins/ folder, list it, validate and run the
# page's flow; then install it into the prefix and run the flow from a second
# workspace with no plugins/ folder.
# Usage: run.sh <alambic build dir> <docs/plugins.md>
set -euo pipefail
BUILD=$(realpath "$1")
DOC=$(realpath "$2")
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# Writes the fenced block that follows "<!-- file: NAME -->" in the page to DIR/NAME.
extract() {
  local name=$1 dir=$2
  mkdir -p "$(dirname "$dir/$name")"
  awk -v name="$name" '
    $0 == "<!-- file: " name " -->" { want = 1; next }
    want == 1 && /^```/ { want = 2; next }
    want == 2 && /^```$/ { found = 1; exit }
    want == 2 { print }
    END { exit found ? 0 : 1 }' "$DOC" > "$dir/$name" || fail "$name not found in $DOC"
}

# 1. Install Alambic.
cmake --install "$BUILD" --prefix "$WORK/prefix" > "$WORK/install.log" 2>&1 \
  || { cat "$WORK/install.log"; fail "install"; }
ALAMBIC="$WORK/prefix/bin/alambic"
[ -f "$WORK/prefix/include/alambic/alambic_plugin.h" ] || fail "header not installed"
[ -f "$WORK/prefix/include/alambic/alambic_plugin_helpers.h" ] || fail "helpers not installed"
[ -f "$WORK/prefix/lib/alambic/plugins/anomaly.so" ] || fail "example plugins not installed"

# 2. The plugin, from a blank directory, with only the page's files.
mkdir "$WORK/hello"
extract hello.cc "$WORK/hello"
extract CMakeLists.txt "$WORK/hello"
[ "$(ls "$WORK/hello" | tr '\n' ' ')" = "CMakeLists.txt hello.cc " ] || fail "unexpected files"
(cd "$WORK/hello" && cmake -S . -B build -DALAMBIC_PREFIX="$WORK/prefix" > "$WORK/cfg.log" 2>&1) \
  || { cat "$WORK/cfg.log"; fail "configure the plugin"; }
(cd "$WORK/hello" && cmake --build build > "$WORK/build.log" 2>&1) \
  || { cat "$WORK/build.log"; fail "build the plugin"; }
[ -f "$WORK/hello/build/hello.so" ] || fail "no hello.so"

# 3. Into a workspace's plugins/ folder.
cd "$WORK"
"$ALAMBIC" init my-workspace > /dev/null
mkdir -p my-workspace/plugins
cp hello/build/hello.so my-workspace/plugins/
cd my-workspace
extract flows/hello.yaml .
printf 'name\nada\nlin\n' > data/names.csv
"$ALAMBIC" plugin list > plugins.out
grep -qx "hello 0.1.0  $WORK/my-workspace/plugins/hello.so" plugins.out \
  || { cat plugins.out; fail "hello not listed"; }
grep -qx "  kind shout: inputs 1, outputs 1" plugins.out || { cat plugins.out; fail "kind"; }
grep -qx "    column (a string, required): the text column to shout" plugins.out \
  || { cat plugins.out; fail "params"; }
grep -q "^anomaly 1.0.0  $WORK/prefix/lib/alambic/plugins/anomaly.so" plugins.out \
  || { cat plugins.out; fail "installed example plugins not found from the installed binary"; }
grep -q "^refused" plugins.out && { cat plugins.out; fail "a plugin was refused"; }

"$ALAMBIC" validate > validate.out 2>&1 || { cat validate.out; fail "validate"; }
"$ALAMBIC" run > run.out 2>&1 || { cat run.out; fail "run"; }
"$ALAMBIC" show loud --format csv > loud.csv
[ "$(cat loud.csv)" = "$(printf 'name_loud\nADA!\nLIN!')" ] || { cat loud.csv; fail "wrong output"; }

# validate checks the plugin's params like a built-in kind's.
sed -i 's/params: {column: name}/params: {}/' flows/hello.yaml
if "$ALAMBIC" validate > bad.out 2>&1; then fail "validate accepted a missing param"; fi
grep -q "recipe shout: missing required parameter 'column' for kind shout" bad.out \
  || { cat bad.out; fail "missing param not reported"; }

# 4. Installed into Alambic's prefix: found by every workspace.
cd "$WORK"
(cd hello && cmake --install build --prefix "$WORK/prefix" > "$WORK/install2.log" 2>&1) \
  || { cat "$WORK/install2.log"; fail "install the plugin"; }
[ -f "$WORK/prefix/lib/alambic/plugins/hello.so" ] || fail "plugin not installed"
"$ALAMBIC" init other > /dev/null
cd other
extract flows/hello.yaml .
printf 'name\nzoe\n' > data/names.csv
"$ALAMBIC" plugin list > plugins.out
grep -qx "hello 0.1.0  $WORK/prefix/lib/alambic/plugins/hello.so" plugins.out \
  || { cat plugins.out; fail "installed hello not listed"; }
"$ALAMBIC" run > run.out 2>&1 || { cat run.out; fail "run with the installed plugin"; }
[ "$("$ALAMBIC" show loud --format csv)" = "$(printf 'name_loud\nZOE!')" ] \
  || fail "wrong output with the installed plugin"
echo "plugin_out_of_tree: ok"
