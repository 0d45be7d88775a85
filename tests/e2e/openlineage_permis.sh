#!/usr/bin/env bash
# OpenLineage on the permis example: every event of every run (a successful
# run, then one with a passing data-quality check and a failing one) must be
# valid against the published OpenLineage 2-0-2 schema and the schema of each
# facet it carries, checked with Debian's python3-jsonschema against the local
# copies in tests/data/openlineage (no network). Any violation fails the test.
set -euo pipefail
ALAMBIC=$(realpath "$1")
TESTS=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=/usr/bin/python3  # Debian's, with python3-jsonschema (scripts/setup-deps)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cp -r "$TESTS/../examples/permis" "$WORK/permis"
cd "$WORK/permis"
rm -rf .alambic
mkdir -p .alambic
(umask 077 && head -c 32 /dev/urandom | od -An -vtx1 | tr -d ' \n' > .alambic/pseudo_key)
chmod 600 .alambic/pseudo_key  # secret files must be private
fail() { echo "FAIL: $*" >&2; exit 1; }

"$PYTHON" -c 'import jsonschema' || fail "python3-jsonschema is not installed (scripts/setup-deps)"
"$ALAMBIC" run -j 2 > run1.out 2>&1 || { cat run1.out; fail "first run failed"; }

# A check that passes (dataQualityAssertions) and one that fails (FAIL, errorMessage).
cat >> flows/permis.yaml <<'YAML'

  - name: check_rates
    kind: check
    inputs: [centre_rates]
    outputs: [centre_rates_checked]
    params:
      checks:
        - {not_null: [centre_id, success_rate]}
        - {range: {column: success_rate, min: 0, max: 1}}
        - {row_count: {min: 1}, severity: warn}
  - name: too_strict
    kind: check
    inputs: [departement_rates]
    outputs: [departement_rates_checked]
    params:
      checks:
        - {row_count: {min: 1000000}}
YAML
if "$ALAMBIC" run -j 2 -k > run2.out 2>&1; then cat run2.out; fail "the too_strict check passed"; fi
grep -q "1 failed" run2.out || { cat run2.out; fail "expected one failed recipe"; }

files=()
for run in $("$ALAMBIC" runs | tail -n +2 | cut -c1-8); do
  "$ALAMBIC" openlineage "$run" > "events-$run.jsonl"
  files+=("events-$run.jsonl")
done
[ "${#files[@]}" = 2 ] || fail "expected 2 runs, got ${#files[@]}"
"$PYTHON" "$TESTS/openlineage/validate.py" "$TESTS/data/openlineage" --self-test \
  --require schema,columnLineage,version,dataQualityAssertions,nominalTime,parent,errorMessage \
  "${files[@]}"
grep -h '"eventType":"FAIL"' "${files[@]}" | grep -q 'permis.too_strict' || fail "no FAIL event for too_strict"
# The pseudonymised candidate is a masking transformation.
"$PYTHON" - "${files[@]}" <<'PY' || fail "clean_exams.candidate_id is not masking"
import json, sys
found = False
for path in sys.argv[1:]:
    for line in open(path, encoding="utf-8"):
        e = json.loads(line)
        if e["eventType"] != "COMPLETE" or e["job"]["name"] != "permis.clean_exams":
            continue
        fields = e["outputs"][0]["facets"]["columnLineage"]["fields"]
        [t] = fields["candidate_id"]["inputFields"][0]["transformations"]
        assert t == {"type": "DIRECT", "subtype": "TRANSFORMATION", "masking": True}, t
        assert fields["exam_id"]["inputFields"][0]["transformations"][0]["masking"] is False
        found = True
assert found, "no COMPLETE event of permis.clean_exams"
PY
# A collect job's events carry the file it read as an input dataset (namespace "file").
"$PYTHON" - "$WORK/permis" "${files[@]}" <<'PY' || fail "collect_exams has no file input"
import json, os, sys
root, found = os.path.realpath(sys.argv[1]), False
for path in sys.argv[2:]:
    for line in open(path, encoding="utf-8"):
        e = json.loads(line)
        if e["eventType"] != "COMPLETE" or e["job"]["name"] != "permis.collect_exams":
            continue
        ins = [i for i in e["inputs"] if i["namespace"] == "file"]
        assert len(ins) == 1, e["inputs"]
        assert ins[0]["name"].startswith(root + "/") and ins[0]["name"].endswith(".csv"), ins
        found = True
assert found, "no COMPLETE event of permis.collect_exams"
PY
echo "openlineage_permis: ok"
