#!/usr/bin/env bash
# The permis example's warehouse on PostgreSQL + Slurm: its datasets in the
# PostgreSQL store, its recipes as jobs of a real single-node Slurm. Run
# through tests/pg/pg-harness (a PostgreSQL 15 on loopback, ALAMBIC_TEST_PG_*)
# and start-slurm.sh; exit 77 = skipped, with the reason, when either cannot
# start. Two copies of the workspace, one schema each: the warehouse run
# locally and on Slurm, after a release promoted from the datalab.
#  1. plan --explain: a pushed-down recipe runs inside PostgreSQL, the others
#     as Slurm jobs;
#  2. the release runs on Slurm: the same version ids as the local warehouse
#     run, the same rows in every table (exported and compared); the jobs of
#     recipes over PostgreSQL versions (and over a version pushed down in the
#     same run, not yet published) got their inputs as files from the
#     coordinator; pushed-down recipes submitted no job;
#  3. the PostgreSQL password appears in no file: not in the workspace, the
#     task specs, the job logs, the cluster's logs.
set -euo pipefail
ALAMBIC=$(realpath "$1")
: "${ALAMBIC_TEST_PG_HOST:?run through tests/pg/pg-harness}"
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../../examples/permis" && pwd)
# shellcheck source=start-slurm.sh
source "$HERE/start-slurm.sh"
slurm_e2e_start slurm-pg-e2e
T0=$SECONDS
export PGPASSWORD=$ALAMBIC_TEST_PG_PASSWORD
PSQL=(psql -X -q -At -v ON_ERROR_STOP=1 -h "$ALAMBIC_TEST_PG_HOST" -p "$ALAMBIC_TEST_PG_PORT"
      -U "$ALAMBIC_TEST_PG_USER" -d "$ALAMBIC_TEST_PG_DB")
export GIT_AUTHOR_NAME="Camille Datalab" GIT_AUTHOR_EMAIL=camille@datalab.example
export GIT_COMMITTER_NAME="$GIT_AUTHOR_NAME" GIT_COMMITTER_EMAIL="$GIT_AUTHOR_EMAIL"
export USER=camille
LANDING="$WORK/landing"
mkdir -p "$LANDING"
python3 "$SRC/generate.py" --exams 3000 --seed 11 --out "$LANDING" >/dev/null
export PG_STORE_PASSWORD=$ALAMBIC_TEST_PG_PASSWORD
export ALAMBIC_WAREHOUSE_PSEUDO_KEY=$(head -c 32 /dev/urandom | od -An -vtx1 | tr -d ' \n')
key=$(head -c 32 /dev/urandom | od -An -vtx1 | tr -d ' \n')

for w in local slurm; do
  cp -r "$SRC" "$WORK/$w"
  cd "$WORK/$w"
  mkdir -p .alambic
  (umask 077 && printf '%s' "$key" > .alambic/pseudo_key)
  sed -i "s#/srv/alambic/permis#$LANDING#g" alambic.yaml
  python3 - "$w" "$ALAMBIC_TEST_PG_HOST" "$ALAMBIC_TEST_PG_PORT" "$ALAMBIC_TEST_PG_DB" \
    "$ALAMBIC_TEST_PG_USER" <<'PY'
import sys
w, host, port, db, user = sys.argv[1:]
s = open("alambic.yaml").read()
s = s.replace("connections:\n", f"""connections:
  wh: {{type: postgres, host: {host}, port: "{port}", dbname: {db}, user: {user},
       password: "secret:wh_password", sslmode: disable}}
""", 1)
s = s.replace("secrets:\n", "secrets:\n  wh_password: {env: PG_STORE_PASSWORD}\n", 1)
wh = f"  warehouse:\n    store: {{kind: postgres, connection: wh, schema: permis_{w}}}\n"
if w == "slurm":
    wh += ("    executor: {kind: slurm, partition: debug, cpus: 1, mem: 256M, time: \"00:05:00\","
           " max_jobs: 4, poll_seconds: 0.2}\n")
s = s.replace("  warehouse:\n", wh, 1)
open("alambic.yaml", "w").write(s)
# Two recipes PostgreSQL runs itself, and a job reading one of them in the
# same run (a version staged in PostgreSQL, not yet published).
f = open("flows/permis.yaml").read()
f += """
  - name: best_centres
    kind: top
    inputs: [centre_rates]
    outputs: [best_centres]
    params: {n: 5, by: ["-success_rate", centre_id]}

  - name: departements_by_rate
    kind: sort
    inputs: [departement_rates]
    outputs: [departements_by_rate]
    params: {by: ["-success_rate", departement]}

  - name: best_centres_busy
    kind: filter
    inputs: [best_centres]
    outputs: [best_centres_busy]
    # round() has no exact SQL translation: a Slurm job over a version pushed
    # down earlier in the same run.
    params: {where: "round(exams) >= 10"}
"""
open("flows/permis.yaml", "w").write(f)
PY
  git init -q -b main .
  git add -A
  git commit -qm "permis with a PostgreSQL warehouse"
  # (The command outputs go outside the workspace: promotion wants a clean tree.)
  "$ALAMBIC" run > "$WORK/$w-run.out" 2>&1 || { cat "$WORK/$w-run.out"; fail "$w: datalab run"; }
  "$ALAMBIC" promote permis --note "first" > "$WORK/$w-promote.out" 2>&1 ||
    { cat "$WORK/$w-promote.out"; fail "$w: promote"; }
done

# ---- 1. plan --explain on PostgreSQL + Slurm ----
cd "$WORK/slurm"
"$ALAMBIC" --env warehouse plan --explain > "$WORK/explain.out" 2>&1 || { cat "$WORK/explain.out"; fail "plan --explain"; }
for r in best_centres exam_features; do
  grep -E "$r .*postgres push-down" "$WORK/explain.out" | grep -qv "Slurm job" ||
    { cat "$WORK/explain.out"; fail "explain: $r is not pushed down, or said to be a job"; }
done
grep -E "clean_exams .*runs as a Slurm job \(partition debug, 1 CPU, 256M" "$WORK/explain.out" >/dev/null ||
  { cat "$WORK/explain.out"; fail "explain: clean_exams is not a Slurm job"; }
grep -E "best_centres_busy .*runs as a Slurm job" "$WORK/explain.out" >/dev/null ||
  { cat "$WORK/explain.out"; fail "explain: best_centres_busy is not a Slurm job"; }

# ---- 2. the release on Slurm and locally: same ids, same rows ----
(cd "$WORK/local" && "$ALAMBIC" --env warehouse run > "$WORK/local-wh.out" 2>&1) ||
  { cat "$WORK/local-wh.out"; fail "local warehouse run"; }
t=$SECONDS
"$ALAMBIC" --env warehouse run > "$WORK/wh.out" 2>&1 ||
  { cat "$WORK/wh.out"; tail -30 "$WORK/cluster/log/slurmd.log" 2>/dev/null; fail "warehouse run on Slurm"; }
echo "permis warehouse on PostgreSQL + Slurm: $((SECONDS - t)) s" >&2
grep -q "^permis: release 1 " "$WORK/wh.out" || { cat "$WORK/wh.out"; fail "not release 1"; }
grep -q "15 succeeded, 0 failed" "$WORK/wh.out" || { cat "$WORK/wh.out"; fail "not 15 recipes"; }
[ ! -d .alambic/store/warehouse ] || fail "the warehouse wrote Arrow files"
python3 - "$WORK/local" "$WORK/slurm" <<'PY'
import json, sqlite3, sys
def versions(ws):
    db = sqlite3.connect(f"{ws}/.alambic/catalog.db")
    return sorted(db.execute(
        "select dataset, id, row_count from dataset_versions where environment='warehouse'"))
a, b = versions(sys.argv[1]), versions(sys.argv[2])
assert len(a) == 15 and a == b, (a, b)
db = sqlite3.connect(f"{sys.argv[2]}/.alambic/catalog.db")
runs = {r: (json.loads(m or "{}"), log) for r, m, log in db.execute(
    "select recipe, metrics, log from recipe_runs where status='succeeded' and run_id = "
    "(select id from runs where environment='warehouse' order by started_at desc limit 1)")}
assert len(runs) == 15, sorted(runs)
pushed = ("exam_features", "best_centres", "departements_by_rate", "locate_exams", "compare_centres")
for r in pushed:
    m, log = runs[r]
    assert m.get("engine") == "postgres" and "slurm_jobs" not in m, (r, m)
    assert "submitted as a Slurm job" not in log, (r, log)
for r, (m, log) in runs.items():
    if r in pushed:
        continue
    ids = m.get("slurm_jobs")
    assert ids and all(i.isdigit() for i in ids), (r, m)
    assert f"job {ids[-1]} submitted as a Slurm job" in log, (r, log)
print(f"{len(a)} version ids identical; {len(runs) - len(pushed)} jobs, {len(pushed)} push-downs")
PY
# Every table, exported from both schemas: the same bytes.
for ds in $(python3 -c "
import sqlite3; db = sqlite3.connect('.alambic/catalog.db')
print(' '.join(sorted({d for (d,) in db.execute(\"select dataset from dataset_versions where environment='warehouse'\")})))"); do
  "$ALAMBIC" --env warehouse export "$ds" --csv "$WORK/slurm-$ds.csv" >/dev/null
  (cd "$WORK/local" && "$ALAMBIC" --env warehouse export "$ds" --csv "$WORK/local-$ds.csv" >/dev/null)
  cmp -s "$WORK/slurm-$ds.csv" "$WORK/local-$ds.csv" || fail "$ds differs between Slurm and local"
done
n=$("${PSQL[@]}" -c "select count(*) from pg_tables where schemaname = 'permis_slurm' and tablename like 'v\\_%'")
[ "$n" = 15 ] || fail "the Slurm warehouse has $n version tables, not 15"
busy=$(wc -l < "$WORK/slurm-best_centres_busy.csv")
[ "$busy" -ge 2 ] || fail "best_centres_busy is empty: the job did not read the pushed-down version"

# ---- 3. the password nowhere ----
if grep -rqa -- "$ALAMBIC_TEST_PG_PASSWORD" "$WORK"; then
  grep -rla -- "$ALAMBIC_TEST_PG_PASSWORD" "$WORK" >&2
  fail "the PostgreSQL password was written somewhere"
fi
echo "slurm_pg_e2e: ok ($((SECONDS - T0)) s after Slurm started)"
