#!/usr/bin/env bash
# End to end on the forecast example: the generator reproduces the committed
# sample byte for byte; the flow (collect -> features -> train -> score ->
# evaluate) runs from a fresh copy; the model's AUC on the scored weeks is
# printed, is useful (> 0.75) and equals scikit-learn's on the exported
# forecast; `model list` / `model show` show it; a second run builds nothing.
set -euo pipefail
ALAMBIC=$(realpath "$1")
SRC=$(cd "$(dirname "$0")/../../examples/forecast" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cp -r "$SRC" "$WORK/forecast"
rm -rf "$WORK/forecast/.alambic"
cd "$WORK/forecast"
fail() { echo "FAIL: $*" >&2; exit 1; }

python3 generate.py --out "$WORK/regen" > /dev/null
cmp -s data/interventions.csv "$WORK/regen/interventions.csv" || fail "generate.py does not reproduce data/interventions.csv"

"$ALAMBIC" validate
"$ALAMBIC" run -j 2 > run1.out 2>&1 || { cat run1.out; fail "run failed"; }
grep -q "7 succeeded, 0 failed" run1.out || { cat run1.out; fail "expected 7 recipes to succeed"; }

"$ALAMBIC" model list > list.out
grep -qE "^high_load_model +[0-9a-f]{12} +binary +AUC 0\.[0-9]{4}" list.out || { cat list.out; fail "model list"; }
"$ALAMBIC" model show high_load_model > show.out
for s in "feature importance (gain)" "confusion matrix" "validation  time" "forecast/evaluate_next_weeks  next_weeks"; do
  grep -qF "$s" show.out || { cat show.out; fail "model show lacks '$s'"; }
done

"$ALAMBIC" export forecast --csv forecast.csv
"$ALAMBIC" export forecast_metrics --csv metrics.csv
/usr/bin/python3 - <<'PY'
import csv
from sklearn.metrics import roc_auc_score
rows = list(csv.DictReader(open("forecast.csv")))
y = [int(r["high_load"]) for r in rows]
p = [float(r["probability"]) for r in rows]
auc = roc_auc_score(y, p)
ours = {r["metric"]: float(r["value"]) for r in csv.DictReader(open("metrics.csv"))}
assert abs(ours["auc"] - auc) < 1e-9, (ours["auc"], auc)
assert ours["rows"] == len(rows), (ours["rows"], len(rows))
dates = sorted({r["date"] for r in rows})
print(f"forecast of {len(rows)} département-days ({dates[0]} .. {dates[-1]}): "
      f"AUC {auc:.4f} (scikit-learn agrees), {sum(y)} high-load days")
assert auc > 0.75, auc
PY

"$ALAMBIC" run > run2.out 2>&1
grep -q "0 succeeded, 0 failed, 0 cancelled, 0 skipped, 7 up to date" run2.out || { cat run2.out; fail "second run executed something"; }
echo "example_forecast e2e: ok"
