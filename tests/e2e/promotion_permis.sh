#!/usr/bin/env bash
# The permis example from the datalab to the warehouse: a refused promotion for
# each gate (dirty tree, no green run, failing check, personal column
# un-pseudonymised, breaking schema), a successful promotion, a warehouse run
# from the release (its own extract and its own key), un-promoted code refused,
# a second release, a rollback, and the audit trail of all of it. Secrets never
# reach the catalog, the logs or git.
set -euo pipefail
ALAMBIC=$(realpath "$1")
SRC=$(cd "$(dirname "$0")/../../examples/permis" && pwd)
WORK=$(mktemp -d)
[ -n "${KEEP_WORK:-}" ] || trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
OUT="$WORK/out"       # command outputs stay out of the workspace (a clean tree)
LANDING="$WORK/landing"  # the warehouse's landing zone: the full extract
mkdir -p "$OUT" "$LANDING"
cp -r "$SRC" "$WORK/permis"
cd "$WORK/permis"
export GIT_AUTHOR_NAME="Camille Datalab" GIT_AUTHOR_EMAIL=camille@datalab.example
export GIT_COMMITTER_NAME="$GIT_AUTHOR_NAME" GIT_COMMITTER_EMAIL="$GIT_AUTHOR_EMAIL"
export USER=camille

# The warehouse reads the full extract (30,000 exams, another seed) from its
# landing zone; the datalab keeps its 20,000-row sample.
python3 generate.py --exams 30000 --seed 7 --out "$LANDING" >/dev/null
sed -i "s#/srv/alambic/permis#$LANDING#g" alambic.yaml
grep -q "$LANDING/exams.csv" alambic.yaml || fail "the warehouse connection was not set"

mkdir -p .alambic
(umask 077 && head -c 32 /dev/urandom | od -An -vtx1 | tr -d ' \n' > .alambic/pseudo_key)
DATALAB_KEY=$(cat .alambic/pseudo_key)
WAREHOUSE_KEY=$(head -c 32 /dev/urandom | od -An -vtx1 | tr -d ' \n')
export ALAMBIC_WAREHOUSE_PSEUDO_KEY="$WAREHOUSE_KEY"

git init -q -b main .
git add -A
git commit -qm "permis: first version"

promote() {  # promote ARGS... > $OUT/promote.out; returns the exit code
  local rc=0
  "$ALAMBIC" promote permis "$@" > "$OUT/promote.out" 2>&1 || rc=$?
  return $rc
}
refused_by() {  # GATE [TEXT]: the last promotion was refused by GATE (its line says TEXT)
  grep -q "^refused: " "$OUT/promote.out" || { cat "$OUT/promote.out"; fail "not refused"; }
  grep -qE "^  FAIL  $1 " "$OUT/promote.out" || { cat "$OUT/promote.out"; fail "gate $1 passed"; }
  [ -z "${2:-}" ] || grep -qF -- "$2" "$OUT/promote.out" ||
    { cat "$OUT/promote.out"; fail "gate $1 does not say: $2"; }
}

# 1. Dirty tree: an uncommitted change to the flow.
echo "# a local experiment" >> flows/permis.yaml
promote && fail "promoted a dirty tree"
refused_by committed "flows/permis.yaml: uncommitted change"
git checkout -q flows/permis.yaml

# 2. No green run at this commit.
promote && fail "promoted without a datalab run"
refused_by datalab_run "no datalab run of flow permis from commit"
grep -qE "^  pass  committed " "$OUT/promote.out" || fail "a clean tree failed the committed gate"

# 3. A failing check: scores are now checked against a range they exceed.
sed -i 's/{range: {column: score, min: 0, max: 31}}/{range: {column: score, min: 0, max: 20}}/' \
  flows/permis.yaml
git commit -qam "check: scores up to 20"
"$ALAMBIC" run > "$OUT/run-check.out" 2>&1 && fail "the tightened check passed"
promote && fail "promoted with a failing check"
refused_by checks "check_exams: "
grep -q "score" "$OUT/promote.out" || fail "the failing rule is not named"
git revert --no-edit HEAD >/dev/null

# 4. Personal data: the pseudonymisation step (and the check on it) removed.
python3 - <<'PY'
p = "flows/permis.yaml"
s = open(p).read()
s = s.replace('        - {pseudonymise: [candidate_id], key: "secret:pseudo_key"}\n', "")
s = s.replace('        - {regex: {column: candidate_id, pattern: "[0-9a-f]{64}"}, name: pseudonymised}\n', "")
open(p, "w").write(s)
PY
git commit -qam "clean: keep raw candidate ids"
"$ALAMBIC" run > "$OUT/run-raw.out" 2>&1 || { cat "$OUT/run-raw.out"; fail "run without pseudonyms failed"; }
promote && fail "promoted a flow leaking personal data"
refused_by data_policy \
  "exams.candidate_id (recipe clean_exams) carries exams_raw.candidate_id (personal) un-pseudonymised"
grep -qE "^  pass  datalab_run " "$OUT/promote.out" || fail "the green run was not seen"
git revert --no-edit HEAD >/dev/null

# 5. A green run at the reverted commit, then the first release.
"$ALAMBIC" run > "$OUT/run-green.out" 2>&1 || { cat "$OUT/run-green.out"; fail "green run failed"; }
promote --note "first release: success rates per centre" ||
  { cat "$OUT/promote.out"; fail "a green flow was refused"; }
grep -q "^release 1 of permis: tag release/permis/1" "$OUT/promote.out" || { cat "$OUT/promote.out"; fail "no release 1"; }
[ "$(grep -c '^  pass  ' "$OUT/promote.out")" = 5 ] || fail "not five gates passed"
[ "$(git cat-file -t release/permis/1)" = tag ] || fail "release/permis/1 is not an annotated tag"
[ "$(git rev-parse 'release/permis/1^{commit}')" = "$(git rev-parse HEAD)" ] || fail "tag on the wrong commit"
git cat-file -p release/permis/1 | grep -q "first release: success rates per centre" || fail "note not in the tag"
RELEASE1=$(git rev-parse HEAD)

# 6. The warehouse runs release 1 from its own clone, on its extract, with its key.
HEAD_BEFORE=$(git rev-parse HEAD)
"$ALAMBIC" --env warehouse run > "$OUT/wh1.out" 2>&1 || { cat "$OUT/wh1.out"; fail "warehouse run failed"; }
grep -q "^permis: release 1 (commit ${RELEASE1:0:10}" "$OUT/wh1.out" || { cat "$OUT/wh1.out"; fail "did not run release 1"; }
[ -z "$(git status --porcelain)" ] || fail "the warehouse run touched the engineer's tree"
[ "$(git rev-parse HEAD)" = "$HEAD_BEFORE" ] || fail "the warehouse run moved HEAD"
[ "$(git -C .alambic/checkouts/warehouse/permis rev-parse HEAD)" = "$RELEASE1" ] || fail "checkout not at the release"
"$ALAMBIC" --env warehouse export exams_enriched --csv "$OUT/wh_exams.csv"
"$ALAMBIC" export exams_enriched --csv "$OUT/dl_exams.csv"
python3 - "$OUT" "$LANDING" <<'PY'
import csv, hashlib, hmac, os, sys
out, landing = sys.argv[1], sys.argv[2]
dl_key = open(".alambic/pseudo_key", "rb").read().strip()
wh_key = os.environ["ALAMBIC_WAREHOUSE_PSEUDO_KEY"].encode()
def rows(p):
    with open(p, newline="") as f:
        return list(csv.DictReader(f))
wh, dl = rows(f"{out}/wh_exams.csv"), rows(f"{out}/dl_exams.csv")
with open(f"{landing}/exams.csv", encoding="latin-1", newline="") as f:
    src = {r["exam_id"]: r["candidate_id"] for r in csv.DictReader(f, delimiter=";")}
assert len(dl) == 20000 and len(wh) == 30000 == len(src), (len(dl), len(wh))
for r in wh:
    want = hmac.new(wh_key, src[r["exam_id"]].encode(), hashlib.sha256).hexdigest()
    assert r["candidate_id"] == want, "warehouse pseudonym not under the warehouse key"
    assert r["candidate_id"] != hmac.new(dl_key, src[r["exam_id"]].encode(), hashlib.sha256).hexdigest()
print("warehouse: 30000 exams from its extract, pseudonymised under its own key")
PY
"$ALAMBIC" --env warehouse runs > "$OUT/wh_runs.out"
grep -q "permis/1" "$OUT/wh_runs.out" || { cat "$OUT/wh_runs.out"; fail "the warehouse run does not name its release"; }
"$ALAMBIC" --env warehouse status > "$OUT/wh_status.out"
grep -q "permis/1" "$OUT/wh_status.out" || { cat "$OUT/wh_status.out"; fail "status does not show the release of the versions"; }

# The warehouse refuses the datalab's key.
ALAMBIC_WAREHOUSE_PSEUDO_KEY="$DATALAB_KEY" "$ALAMBIC" --env warehouse run --force \
  > "$OUT/wh-samekey.out" 2>&1 && fail "the warehouse ran with the datalab's key"
grep -q "the warehouse uses the datalab's key" "$OUT/wh-samekey.out" ||
  { cat "$OUT/wh-samekey.out"; fail "same-key refusal not explained"; }

# 7. Un-promoted code never runs in the warehouse. A committed change to
# flag_centres (drop the centre's name) is not released: the warehouse still
# runs release 1, where everything is up to date.
sed -i 's/select centre_id, name, departement,/select centre_id, departement,/' flows/permis.yaml
git commit -qam "flag_centres: without the centre name"
"$ALAMBIC" --env warehouse run permis > "$OUT/wh2.out" 2>&1 || { cat "$OUT/wh2.out"; fail "warehouse rerun failed"; }
grep -q "^permis: release 1 " "$OUT/wh2.out" || { cat "$OUT/wh2.out"; fail "not release 1"; }
grep -q "0 succeeded, 0 failed, 0 cancelled, 0 skipped, 12 up to date" "$OUT/wh2.out" ||
  { cat "$OUT/wh2.out"; fail "the warehouse saw un-promoted code"; }
cat > flows/draft.yaml <<'YAML'
flow: draft
recipes:
  - name: centres_copy
    kind: collect
    outputs: [centres_copy]
    params: {path: data/centres.csv, format: csv, delimiter: ";", schema: {departement: utf8}}
YAML
git add flows/draft.yaml && git commit -qm "draft flow"
"$ALAMBIC" --env warehouse run draft > "$OUT/wh-draft.out" 2>&1 && fail "an unreleased flow ran in the warehouse"
grep -q "flow draft has no release in the warehouse" "$OUT/wh-draft.out" || { cat "$OUT/wh-draft.out"; fail "refusal not explained"; }

# 8. A breaking change needs --allow-breaking; then release 2 runs.
"$ALAMBIC" run permis > "$OUT/run2.out" 2>&1 || { cat "$OUT/run2.out"; fail "datalab run 2 failed"; }
promote --note "drop the name" && fail "a breaking change was promoted"
refused_by schema "flagged_centres: column name removed"
promote --allow-breaking --note "drop the name" || { cat "$OUT/promote.out"; fail "--allow-breaking refused"; }
grep -q "^release 2 of permis" "$OUT/promote.out" || { cat "$OUT/promote.out"; fail "no release 2"; }
"$ALAMBIC" --env warehouse run permis > "$OUT/wh3.out" 2>&1 || { cat "$OUT/wh3.out"; fail "release 2 run failed"; }
grep -q "^permis: release 2 " "$OUT/wh3.out" || { cat "$OUT/wh3.out"; fail "did not run release 2"; }
"$ALAMBIC" --env warehouse export flagged_centres --csv "$OUT/flagged2.csv"
head -1 "$OUT/flagged2.csv" | grep -q ",name," && fail "release 2 still has the name column"

# 9. Rollback to release 1: the warehouse runs release 1 again.
"$ALAMBIC" rollback permis --note "consumers need the name" > "$OUT/rollback.out" 2>&1 ||
  { cat "$OUT/rollback.out"; fail "rollback failed"; }
"$ALAMBIC" releases permis > "$OUT/releases.out"
grep -E "^ *1 .*active" "$OUT/releases.out" >/dev/null || { cat "$OUT/releases.out"; fail "release 1 not active"; }
grep -E "^ *2 .*rolled back" "$OUT/releases.out" >/dev/null || { cat "$OUT/releases.out"; fail "release 2 not rolled back"; }
"$ALAMBIC" --env warehouse run permis > "$OUT/wh4.out" 2>&1 || { cat "$OUT/wh4.out"; fail "run after rollback failed"; }
grep -q "^permis: release 1 " "$OUT/wh4.out" || { cat "$OUT/wh4.out"; fail "rollback did not bring release 1 back"; }
# The warehouse's plan is judged against release 1 (not the working tree, whose
# flag_centres differs): nothing to run.
"$ALAMBIC" --env warehouse plan > "$OUT/wh_plan.out"
grep -q "^permis: release 1 " "$OUT/wh_plan.out" || { cat "$OUT/wh_plan.out"; fail "plan not from release 1"; }
grep -q "^0 of 12 recipes to run" "$OUT/wh_plan.out" || { cat "$OUT/wh_plan.out"; fail "warehouse plan not empty"; }
"$ALAMBIC" --env warehouse export flagged_centres --csv "$OUT/flagged1.csv"
head -1 "$OUT/flagged1.csv" | grep -q ",name," || fail "release 1's output lacks the name column"

# 10. The audit trail, append-only and verifiable.
"$ALAMBIC" audit -n 0 --format json > "$OUT/audit.json"
python3 - "$OUT/audit.json" <<'PY'
import json, sys
text = open(sys.argv[1]).read()
entries = json.loads(text) if text.lstrip().startswith("[") else [
    json.loads(l) for l in text.splitlines() if l.strip()]
def n(action, outcome=None, env=None):
    return sum(1 for e in entries if e["action"] == action
               and (outcome is None or e["outcome"] == outcome)
               and (env is None or e["environment"] == env))
assert n("promote", "refused") == 5, n("promote", "refused")
assert n("promote", "ok") == 2
assert n("rollback", "ok") == 1
assert n("run", env="warehouse") == 6, n("run", env="warehouse")
assert n("run", "refused", "warehouse") == 2  # the datalab's key, the unreleased draft
assert n("run", "succeeded", "warehouse") == 4
assert n("run", env="datalab") >= 4
assert any(e["action"] == "secret.use" and e["environment"] == "warehouse"
           and e["detail"].get("secret") == "pseudo_key" for e in entries)
assert all(e["user"] == "camille" and e["host"] for e in entries)
refused = [e for e in entries if e["action"] == "promote" and e["outcome"] == "refused"]
failed = [[g["gate"] for g in e["detail"]["gates"] if not g["passed"]] for e in refused]
for gate in ["committed", "datalab_run", "checks", "data_policy", "schema"]:
    assert any(gate in f for f in failed), (gate, failed)
print(f"audit: {len(entries)} entries, every gate refused once")
PY
"$ALAMBIC" audit --verify > "$OUT/verify.out" 2>&1 || { cat "$OUT/verify.out"; fail "the audit chain does not verify"; }
if command -v sqlite3 >/dev/null; then
  sqlite3 .alambic/catalog.db "update audit set user = 'mallory'" 2> "$OUT/edit.err" && fail "the audit log was edited"
  grep -q "append-only" "$OUT/edit.err" || fail "audit edit refused without the reason"
  sqlite3 .alambic/catalog.db "delete from releases" 2> "$OUT/edit.err" && fail "a release was deleted"
  grep -q "immutable" "$OUT/edit.err" || fail "release delete refused without the reason"
fi

# 11. Secrets: in no catalog row, output, log or git object.
for key in "$DATALAB_KEY" "$WAREHOUSE_KEY"; do
  ! grep -aq "$key" .alambic/catalog.db || fail "a key is in the catalog"
  ! grep -rq "$key" "$OUT" || fail "a key is in a command's output"
  ! git log --all -p | grep -q "$key" || fail "a key is in git history"
  ! git for-each-ref --format='%(contents)' refs/tags | grep -q "$key" || fail "a key is in a tag"
done
echo "promotion end to end: ok"
