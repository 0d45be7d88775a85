#!/usr/bin/env bash
# End to end on the permis example: a fresh copy runs with no other step, the
# second run builds nothing (and plan says why), results match an independent
# computation in Python, and changing the source rebuilds exactly what depends on it.
set -euo pipefail
ALAMBIC=$(realpath "$1")
SRC=$(cd "$(dirname "$0")/../../examples/permis" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cp -r "$SRC" "$WORK/permis"
cd "$WORK/permis"
fail() { echo "FAIL: $*" >&2; exit 1; }

"$ALAMBIC" validate
"$ALAMBIC" run -j 2 > run1.out 2>&1 || { cat run1.out; fail "first run failed"; }
grep -q "5 succeeded, 0 failed" run1.out || { cat run1.out; fail "first run did not build 5 recipes"; }

"$ALAMBIC" plan --explain > plan.out
grep -q "^0 of 5 recipes to run" plan.out || { cat plan.out; fail "plan after a run is not empty"; }
[ "$(grep -cE 'up to date +up to date$' plan.out)" = 5 ] || { cat plan.out; fail "not every recipe up to date"; }

"$ALAMBIC" run > run2.out 2>&1
grep -q "0 succeeded, 0 failed, 0 cancelled, 0 skipped, 5 up to date" run2.out || { cat run2.out; fail "second run executed something"; }

# Independent oracle: success rate per centre computed with Python's csv module.
"$ALAMBIC" export centre_rates --csv centre_rates.csv
python3 - <<'PY'
import csv, collections
n = collections.Counter(); ok = collections.Counter()
with open("data/exams.csv", newline="") as f:
    for r in csv.DictReader(f, delimiter=";"):
        n[r["centre_id"]] += 1
        ok[r["centre_id"]] += r["result"] == "reussite"
with open("centre_rates.csv", newline="") as f:
    got = {r["centre_id"]: r for r in csv.DictReader(f)}
assert set(got) == set(n), (len(got), len(n))
for c in n:
    assert int(got[c]["exams"]) == n[c], c
    assert int(got[c]["passed"]) == ok[c], c
    assert abs(float(got[c]["success_rate"]) - round(ok[c] / n[c], 4)) < 1e-9, c
deps = {r["departement"] for r in got.values()}
assert "2A" in deps and "01" in deps, sorted(deps)  # INSEE codes kept as strings
print(f"centre_rates matches the oracle for {len(n)} centres")
PY

"$ALAMBIC" show flagged_centres --format json > flagged.json
[ -s flagged.json ] || fail "no flagged centres"
"$ALAMBIC" status | grep -q "flagged_centres .* fresh" || fail "status does not show flagged_centres fresh"

# A change to the exam extract rebuilds everything that depends on it, not the centres.
echo "20001;K000000001;CE0010000;2025-06-02;B;reussite" >> data/exams.csv
"$ALAMBIC" plan --explain > plan2.out
grep -q "permis/collect_exams .*run .*source data changed (data/exams.csv)" plan2.out || { cat plan2.out; fail "source change not explained"; }
grep -q "permis/collect_centres .*up to date" plan2.out || { cat plan2.out; fail "centres should be up to date"; }
grep -q "^4 of 5 recipes to run" plan2.out || { cat plan2.out; fail "expected 4 recipes to run"; }
"$ALAMBIC" run > run3.out 2>&1 || { cat run3.out; fail "third run failed"; }
"$ALAMBIC" runs | grep -c succeeded | grep -q 3 || fail "runs does not list three succeeded runs"
RUN=$("$ALAMBIC" runs | sed -n 2p | cut -c1-8)
"$ALAMBIC" log "$RUN" collect_exams | grep -q "20,001" || { "$ALAMBIC" log "$RUN" collect_exams; fail "log lacks row count"; }
echo "example_permis e2e: ok"
