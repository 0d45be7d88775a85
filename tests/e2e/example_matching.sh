#!/usr/bin/env bash
# End to end on the matching example: the generator reproduces the committed
# sample byte for byte, the flow (collect -> fuzzy_join -> check) runs from a
# fresh copy, and the matches reach precision and recall >= 0.95 against the
# generator's ground truth; the unmatched output holds every other person.
set -euo pipefail
ALAMBIC=$(realpath "$1")
SRC=$(cd "$(dirname "$0")/../../examples/matching" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cp -r "$SRC" "$WORK/matching"
cd "$WORK/matching"
fail() { echo "FAIL: $*" >&2; exit 1; }

python3 generate.py --out "$WORK/regen" > /dev/null
for f in people.csv deaths.csv ground_truth.csv; do
  cmp -s "data/$f" "$WORK/regen/$f" || fail "generate.py does not reproduce data/$f"
done

"$ALAMBIC" validate
"$ALAMBIC" run -j 2 > run1.out 2>&1 || { cat run1.out; fail "run failed"; }
grep -q "4 succeeded, 0 failed" run1.out || { cat run1.out; fail "expected 4 recipes to succeed"; }

"$ALAMBIC" export matches --csv matches.csv
python3 evaluate.py matches.csv data/ground_truth.csv --min 0.95 || fail "precision or recall below 0.95"

"$ALAMBIC" export people_alive --csv alive.csv
python3 - <<'PY'
import csv
people = {r["id"] for r in csv.DictReader(open("data/people.csv", encoding="utf-8"), delimiter=";")}
matched = [r["id"] for r in csv.DictReader(open("matches.csv", encoding="utf-8"))]
alive = [r["id"] for r in csv.DictReader(open("alive.csv", encoding="utf-8"))]
assert len(matched) == len(set(matched)), "a person matched twice"
assert set(matched).isdisjoint(alive), "a person both matched and unmatched"
assert set(matched) | set(alive) == people, "matched + unmatched is not every person"
print(f"{len(matched)} matched + {len(alive)} unmatched = {len(people)} people")
PY

RUN=$("$ALAMBIC" runs | sed -n 2p | cut -c1-8)
"$ALAMBIC" log "$RUN" match_deaths | grep -q "pairs compared" || { "$ALAMBIC" log "$RUN" match_deaths; fail "log lacks pairs compared"; }
echo "example_matching e2e: ok"
