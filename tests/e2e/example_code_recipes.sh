#!/usr/bin/env bash
# End to end on the code-recipes example: Lua recipes, the two example
# plugins (found beside the binary with no configuration) and a formula
# calling Lua scalar functions run the flow; the anomalies, normalised
# addresses and labels are right; a second run builds nothing;
# editing a Lua script makes its recipe stale with "code changed".
set -euo pipefail
ALAMBIC=$(realpath "$1")
SRC=$(cd "$(dirname "$0")/../../examples/code_recipes" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cp -r "$SRC" "$WORK/ws"
cd "$WORK/ws"
fail() { echo "FAIL: $*" >&2; exit 1; }

"$ALAMBIC" plugin list > plugins.out
grep -q "^anomaly 1.0.0" plugins.out || { cat plugins.out; fail "anomaly plugin not listed"; }
grep -q "^address_fr 1.0.0" plugins.out || { cat plugins.out; fail "address_fr plugin not listed"; }
grep -q "threshold (a number, default 3.5): flag rows" plugins.out || { cat plugins.out; fail "params not listed"; }

"$ALAMBIC" validate
"$ALAMBIC" run -j 2 > run1.out 2>&1 || { cat run1.out; fail "first run failed"; }
grep -q "6 succeeded, 0 failed" run1.out || { cat run1.out; fail "first run did not build 6 recipes"; }

"$ALAMBIC" export flagged_centres --csv flagged.csv
"$ALAMBIC" export centres_geo --csv geo.csv
"$ALAMBIC" export flagged_labels --csv labels.csv
python3 - <<'PY'
import csv
flagged = {r["centre_id"]: r for r in csv.DictReader(open("flagged.csv", newline=""))}
assert set(flagged) == {"C756", "C136"}, flagged
assert flagged["C756"]["commune"] == "PARIS" and float(flagged["C756"]["zscore"]) > 3.5
assert flagged["C136"]["commune"] == "MARSEILLE" and float(flagged["C136"]["zscore"]) < -3.5
geo = {r["centre_id"]: r for r in csv.DictReader(open("geo.csv", newline=""))}
assert geo["C751"]["adr_street"] == "12 BOULEVARD DE SEBASTOPOL", geo["C751"]
assert geo["C751"]["adr_postcode"] == "75004"
assert geo["C753"]["adr_street"] == "45 RUE DU FAUBOURG SAINT ANTOINE", geo["C753"]
assert geo["C2A1"]["adr_street"] == "4 COURS NAPOLEON" and geo["C2A1"]["adr_commune"] == "AJACCIO"
assert geo["C2A1"]["departement"] == "2A"
labels = {r["centre_id"]: r for r in csv.DictReader(open("labels.csv", newline=""))}
assert set(labels) == set(flagged), labels
assert labels["C756"]["label"] == "C756 Paris (75)", labels["C756"]
assert labels["C136"]["label"] == "C136 Marseille (13)", labels["C136"]
for r in labels.values():
    z = abs(float(r["zscore"]))
    assert r["severity"] == ("critical" if z >= 6 else "high" if z >= 3.5 else "normal"), r
print("code_recipes outputs match")
PY

"$ALAMBIC" run > run2.out 2>&1
grep -q "0 succeeded, 0 failed, 0 cancelled, 0 skipped, 6 up to date" run2.out || { cat run2.out; fail "second run executed something"; }

echo "-- edited" >> recipes/flag_summary.lua
"$ALAMBIC" plan --explain > plan.out
grep -q "centres/flag_centres .*run .*code changed (recipes/flag_summary.lua)" plan.out || { cat plan.out; fail "script edit not explained"; }
grep -q "centres/label_flagged .*run .*upstream will change (flag_centres rebuilds flagged_centres)" plan.out \
  || { cat plan.out; fail "downstream of the edit not explained"; }
grep -q "^2 of 6 recipes to run" plan.out || { cat plan.out; fail "expected 2 recipes to run"; }
"$ALAMBIC" run > run3.out 2>&1 || { cat run3.out; fail "third run failed"; }

# The formula's Lua functions file is part of its version too.
echo "-- edited" >> recipes/labels.lua
"$ALAMBIC" plan --explain > plan2.out
grep -q "centres/label_flagged .*run .*code changed (recipes/labels.lua)" plan2.out \
  || { cat plan2.out; fail "functions file edit not explained"; }
grep -q "^1 of 6 recipes to run" plan2.out || { cat plan2.out; fail "expected 1 recipe to run"; }
echo "example_code_recipes e2e: ok"
