#!/usr/bin/env bash
# The permis example with its warehouse on the PostgreSQL store, through the
# alambic command: a release run writes each version as a table of the
# warehouse's schema (ids the catalog records), `plan --explain` names the
# engine of each recipe, a recipe with an SQL translation runs inside
# PostgreSQL (push-down) and gives what the local engine gives, release 2
# writes new tables beside the old ones, and a rollback re-activates release
# 1's tables without running anything. The password appears nowhere.
# Run through tests/pg/pg-harness (its ALAMBIC_TEST_PG_* variables).
set -euo pipefail
ALAMBIC=$(realpath "$1")
: "${ALAMBIC_TEST_PG_HOST:?run through tests/pg/pg-harness}"
SRC=$(cd "$(dirname "$0")/../../examples/permis" && pwd)
WORK=$(mktemp -d)
[ -n "${KEEP_WORK:-}" ] || trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
export PGPASSWORD=$ALAMBIC_TEST_PG_PASSWORD
PSQL=(psql -X -q -At -v ON_ERROR_STOP=1 -h "$ALAMBIC_TEST_PG_HOST" -p "$ALAMBIC_TEST_PG_PORT"
      -U "$ALAMBIC_TEST_PG_USER" -d "$ALAMBIC_TEST_PG_DB")
SCHEMA=permis_wh
"${PSQL[@]}" -c "SET client_min_messages TO warning; DROP SCHEMA IF EXISTS $SCHEMA CASCADE"
tables() { "${PSQL[@]}" -c "select count(*) from pg_tables where schemaname = '$SCHEMA' and tablename like 'v\\_%'"; }

OUT="$WORK/out"
LANDING="$WORK/landing"
mkdir -p "$OUT" "$LANDING"
# The checks below read exported CSV files with this (header, rows).
cat > "$OUT/e2e_rows.py" <<'PY'
import csv
def rows(p):
    with open(p, newline="") as f:
        r = csv.reader(f)
        return next(r), list(r)
PY
cp -r "$SRC" "$WORK/permis"
cd "$WORK/permis"
export GIT_AUTHOR_NAME="Camille Datalab" GIT_AUTHOR_EMAIL=camille@datalab.example
export GIT_COMMITTER_NAME="$GIT_AUTHOR_NAME" GIT_COMMITTER_EMAIL="$GIT_AUTHOR_EMAIL"
export USER=camille
python3 generate.py --exams 3000 --seed 7 --out "$LANDING" >/dev/null
sed -i "s#/srv/alambic/permis#$LANDING#g" alambic.yaml
# The warehouse keeps its datasets in PostgreSQL; the password comes from a secret.
python3 - "$ALAMBIC_TEST_PG_HOST" "$ALAMBIC_TEST_PG_PORT" "$ALAMBIC_TEST_PG_DB" \
  "$ALAMBIC_TEST_PG_USER" "$SCHEMA" <<'PY'
import sys
host, port, db, user, schema = sys.argv[1:]
s = open("alambic.yaml").read()
s = s.replace("connections:\n", f"""connections:
  wh: {{type: postgres, host: {host}, port: "{port}", dbname: {db}, user: {user},
       password: "secret:wh_password", sslmode: disable}}
""", 1)
s = s.replace("secrets:\n", "secrets:\n  wh_password: {env: PG_STORE_PASSWORD}\n", 1)
s = s.replace("  warehouse:\n", f"  warehouse:\n    store: {{kind: postgres, connection: wh, schema: {schema}}}\n", 1)
open("alambic.yaml", "w").write(s)
# Two recipes PostgreSQL can run itself: the five best centres, departements by rate.
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

  - name: strong_centres
    kind: filter
    inputs: [centre_rates]
    outputs: [strong_centres]
    params: {where: "success_rate >= 0.5 and departement != '75' and name is not null"}

  - name: centre_labels
    kind: formula
    inputs: [strong_centres]
    outputs: [centre_labels]
    params:
      columns:
        label: "upper(name) || ' (' || departement || ')'"
        pct: "success_rate * 100"
        hundreds: "exams // 100"

  - name: centre_ranks
    kind: window
    inputs: [centre_rates]
    outputs: [centre_ranks]
    params:
      partition_by: departement
      order_by: ["-success_rate"]
      columns:
        - {name: rank_in_departement, fn: rank}
        - {name: running_exams, fn: sum, column: exams}
        - {name: previous_centre, fn: lag, column: centre_id}

  - name: centres_not_strong
    kind: join
    inputs: [centres, strong_centres]
    outputs: [centres_not_strong]
    params: {type: anti, on: centre_id}

  - name: centres_split
    kind: join
    inputs: [centres, centre_rates]
    outputs: [centres_with_rates, centres_unrated]
    params: {type: left, on: centre_id, suffixes: ["", "_rated"]}
"""
open("flows/permis.yaml", "w").write(f)
PY
export PG_STORE_PASSWORD=$ALAMBIC_TEST_PG_PASSWORD
mkdir -p .alambic
(umask 077 && head -c 32 /dev/urandom | od -An -vtx1 | tr -d ' \n' > .alambic/pseudo_key)
export ALAMBIC_WAREHOUSE_PSEUDO_KEY=$(head -c 32 /dev/urandom | od -An -vtx1 | tr -d ' \n')
git init -q -b main .
git add -A
git commit -qm "permis with a PostgreSQL warehouse"
"$ALAMBIC" validate > "$OUT/validate.out" 2>&1 || { cat "$OUT/validate.out"; fail "validate"; }

# Release 1, run in the warehouse.
"$ALAMBIC" run > "$OUT/run1.out" 2>&1 || { cat "$OUT/run1.out"; fail "datalab run failed"; }
"$ALAMBIC" promote permis --note "first" > "$OUT/promote1.out" 2>&1 || { cat "$OUT/promote1.out"; fail "promote 1"; }
"$ALAMBIC" --env warehouse plan --explain > "$OUT/explain.out" 2>&1 || { cat "$OUT/explain.out"; fail "plan --explain"; }
grep -E "best_centres .*postgres push-down: runs as SQL inside PostgreSQL" "$OUT/explain.out" >/dev/null ||
  { cat "$OUT/explain.out"; fail "explain: best_centres is not pushed down"; }
grep -E "centre_rates .*local, data moved: group aggregate 'passed' has a where condition" "$OUT/explain.out" >/dev/null ||
  { cat "$OUT/explain.out"; fail "explain: centre_rates' reason"; }
grep -E "flag_centres .*local, data moved: sql: the query is SQLite's dialect; it runs in the local engine" "$OUT/explain.out" >/dev/null ||
  { cat "$OUT/explain.out"; fail "explain: flag_centres' reason"; }
# Joins and windows run in PostgreSQL, but a join with a second output.
for r in strong_centres centre_labels locate_exams compare_centres centre_ranks centres_not_strong; do
  grep -E "$r .*postgres push-down" "$OUT/explain.out" >/dev/null ||
    { cat "$OUT/explain.out"; fail "explain: $r is not pushed down"; }
done
grep -E "centre_gaps .*local, data moved: formula column 'gap': round\(\)" "$OUT/explain.out" >/dev/null ||
  { cat "$OUT/explain.out"; fail "explain: centre_gaps' reason"; }
grep -E "centres_split .*local, data moved: join with a second output" "$OUT/explain.out" >/dev/null ||
  { cat "$OUT/explain.out"; fail "explain: centres_split's reason"; }
"$ALAMBIC" --env warehouse run > "$OUT/wh1.out" 2>&1 || { cat "$OUT/wh1.out"; fail "warehouse run 1 failed"; }
grep -q "^permis: release 1 " "$OUT/wh1.out" || { cat "$OUT/wh1.out"; fail "not release 1"; }
N1=$(tables)
[ "$N1" = 20 ] || fail "release 1 wrote $N1 version tables, not 20"
# The filter and the formula ran in PostgreSQL; python computes them from the
# warehouse's own centre_rates (the datalab's data differ: another pseudonym key).
"$ALAMBIC" --env warehouse export centre_rates --csv "$OUT/rates0.csv" >/dev/null
"$ALAMBIC" --env warehouse export strong_centres --csv "$OUT/strong.csv" >/dev/null
"$ALAMBIC" --env warehouse export centre_labels --csv "$OUT/labels.csv" >/dev/null
python3 - "$OUT" <<'PY'
import sys
out = sys.argv[1]
sys.path.insert(0, out)
from e2e_rows import rows
head, rates = rows(f"{out}/rates0.csv")
shead, strong = rows(f"{out}/strong.csv")
assert shead == head, (shead, head)
rate, dep, name = head.index("success_rate"), head.index("departement"), head.index("name")
want = [r for r in rates if r[rate] != "" and float(r[rate]) >= 0.5 and r[dep] != "75" and r[name] != ""]
assert strong == want, (len(strong), len(want))
lhead, labels = rows(f"{out}/labels.csv")
assert lhead == head + ["hundreds", "label", "pct"], lhead
assert len(labels) == len(want) > 0
for l, r in zip(labels, want):
    assert l[:len(head)] == r
    assert int(l[-3]) == int(r[head.index("exams")]) // 100
    assert l[-2] == f"{r[name].upper()} ({r[dep]})", (l[-2], r[name])
    assert abs(float(l[-1]) - float(r[rate]) * 100) <= 1e-9 * max(1, float(l[-1]))
print(f"push-down filter and formula = python's ({len(want)} rows)")
PY
# The joins and the window pushed down give what python computes from the
# warehouse's own inputs.
for d in exams_enriched centres strong_centres centre_rates exams_located centres_not_strong centre_ranks; do
  "$ALAMBIC" --env warehouse export $d --csv "$OUT/wh_$d.csv" >/dev/null
done
python3 - "$OUT" <<'PY'
import sys
out = sys.argv[1]
sys.path.insert(0, out)
from e2e_rows import rows
# locate_exams: inner join on centre_id; the left's order, each left row
# followed by its matches in the right's order; commune on both sides.
ehead, exams = rows(f"{out}/wh_exams_enriched.csv")
chead, centres = rows(f"{out}/wh_centres.csv")
lhead, located = rows(f"{out}/wh_exams_located.csv")
ck = chead.index("centre_id")
others = [k for k in range(len(chead)) if k != ck]
assert lhead == ehead + [chead[k] + ("_centre" if chead[k] in ehead else "") for k in others], lhead
ek = ehead.index("centre_id")
want = [e + [c[k] for k in others] for e in exams for c in centres if c[ck] == e[ek] and e[ek] != ""]
assert located == want, (len(located), len(want))
print(f"push-down join = python's ({len(want)} rows)")
shead, strong = rows(f"{out}/wh_strong_centres.csv")
ahead, anti = rows(f"{out}/wh_centres_not_strong.csv")
rated = {r[shead.index("centre_id")] for r in strong}
assert ahead == chead and anti == [c for c in centres if c[ck] not in rated or c[ck] == ""], len(anti)
assert 0 < len(anti) < len(centres), len(anti)
print(f"push-down anti join = python's ({len(anti)} rows)")
head, rates = rows(f"{out}/wh_centre_rates.csv")
rhead, ranks = rows(f"{out}/wh_centre_ranks.csv")
assert rhead == head + ["rank_in_departement", "running_exams", "previous_centre"], rhead
dep, rate, exams, cid = (head.index(c) for c in ("departement", "success_rate", "exams", "centre_id"))
key = lambda r: -float(r[rate]) if r[rate] != "" else float("inf")  # nulls last descending
want = []
for k, r in enumerate(rates):
    peers = sorted((j for j, o in enumerate(rates) if o[dep] == r[dep]), key=lambda j: (key(rates[j]), j))
    pos = peers.index(k)
    rank = 1 + sum(1 for j in peers if key(rates[j]) < key(r))
    running = sum(int(rates[j][exams]) for j in peers[: pos + 1])
    prev = rates[peers[pos - 1]][cid] if pos > 0 else ""
    want.append(r + [str(rank), str(running), prev])
assert ranks == want, [(a, b) for a, b in zip(ranks, want) if a != b][:3]
print(f"push-down window = python's ({len(want)} rows)")
PY
[ ! -d .alambic/store/warehouse ] || fail "the warehouse wrote Arrow files"
"$ALAMBIC" --env warehouse export best_centres --csv "$OUT/best1.csv"
"$ALAMBIC" --env warehouse export centre_rates --csv "$OUT/rates1.csv"
"$ALAMBIC" --env warehouse export flagged_centres --csv "$OUT/flagged1.csv"
head -1 "$OUT/flagged1.csv" | grep -q ",name," || fail "release 1's flagged_centres lacks the name"
# Push-down gives what the local engine gives: the five best, computed here.
python3 - "$OUT" <<'PY'
import sys
out = sys.argv[1]
sys.path.insert(0, out)
from e2e_rows import rows
head, rates = rows(f"{out}/rates1.csv")
bhead, best = rows(f"{out}/best1.csv")
assert bhead == head, (bhead, head)
rate, centre = head.index("success_rate"), head.index("centre_id")
want = sorted(rates, key=lambda r: r[centre])  # then stable by -success_rate
want = sorted(want, key=lambda r: -float(r[rate]))[:5]
assert best == want, (best, want)
print("push-down top 5 = python's top 5")
PY
"${PSQL[@]}" -c "select obj_description(format('%I.%I', schemaname, tablename)::regclass) from pg_tables where schemaname = '$SCHEMA'" | grep -q "alambic dataset best_centres version" || fail "tables do not say their dataset"

# Release 2 drops the centre's name: new tables beside release 1's.
sed -i 's/select centre_id, name, departement,/select centre_id, departement,/' flows/permis.yaml
git commit -qam "flag_centres: without the centre name"
"$ALAMBIC" run permis > "$OUT/run2.out" 2>&1 || { cat "$OUT/run2.out"; fail "datalab run 2 failed"; }
"$ALAMBIC" promote permis --allow-breaking --note "drop the name" > "$OUT/promote2.out" 2>&1 || { cat "$OUT/promote2.out"; fail "promote 2"; }
"$ALAMBIC" --env warehouse run permis > "$OUT/wh2.out" 2>&1 || { cat "$OUT/wh2.out"; fail "warehouse run 2 failed"; }
grep -q "^permis: release 2 " "$OUT/wh2.out" || { cat "$OUT/wh2.out"; fail "not release 2"; }
N2=$(tables)
[ "$N2" -gt "$N1" ] || fail "release 2 wrote no new table ($N1 -> $N2)"
"$ALAMBIC" --env warehouse export flagged_centres --csv "$OUT/flagged2.csv"
head -1 "$OUT/flagged2.csv" | grep -q ",name," && fail "release 2 still has the name column"

# Rollback: release 1's tables are current again; nothing runs, nothing is written.
"$ALAMBIC" rollback permis --note "consumers need the name" > "$OUT/rollback.out" 2>&1 || { cat "$OUT/rollback.out"; fail "rollback"; }
"$ALAMBIC" --env warehouse run permis > "$OUT/wh3.out" 2>&1 || { cat "$OUT/wh3.out"; fail "run after rollback failed"; }
grep -q "^permis: release 1 " "$OUT/wh3.out" || { cat "$OUT/wh3.out"; fail "rollback did not bring release 1 back"; }
grep -q " 0 succeeded, 0 failed" "$OUT/wh3.out" || { cat "$OUT/wh3.out"; fail "the rollback ran recipes"; }
[ "$(tables)" = "$N2" ] || fail "the rollback wrote tables"
"$ALAMBIC" --env warehouse export flagged_centres --csv "$OUT/flagged1b.csv"
cmp -s "$OUT/flagged1.csv" "$OUT/flagged1b.csv" || fail "after the rollback flagged_centres is not release 1's"

# gc: a version table no catalog records (written by a run that crashed before
# recording it) is dropped; a table that is not a version table stays, and so
# does every recorded version.
ORPHAN=$(printf 'f%.0s' $(seq 64))
"${PSQL[@]}" -c "CREATE TABLE $SCHEMA.v_${ORPHAN:0:61} (x bigint, _alambic_row bigint)" \
  -c "COMMENT ON TABLE $SCHEMA.v_${ORPHAN:0:61} IS 'alambic dataset best_centres version $ORPHAN'" \
  -c "CREATE TABLE $SCHEMA.v_not_ours (x int)"
has() { "${PSQL[@]}" -c "select count(*) from pg_tables where schemaname = '$SCHEMA' and tablename = '$1'"; }
"$ALAMBIC" --env warehouse gc --dry-run > "$OUT/gc-dry.out" 2>&1 || { cat "$OUT/gc-dry.out"; fail "gc --dry-run"; }
grep -q "would delete unrecorded table pg:$SCHEMA.v_${ORPHAN:0:61}" "$OUT/gc-dry.out" ||
  { cat "$OUT/gc-dry.out"; fail "gc --dry-run does not list the orphan table"; }
[ "$(has "v_${ORPHAN:0:61}")" = 1 ] || fail "gc --dry-run dropped a table"
"$ALAMBIC" --env warehouse gc > "$OUT/gc.out" 2>&1 || { cat "$OUT/gc.out"; fail "gc"; }
[ "$(has "v_${ORPHAN:0:61}")" = 0 ] || { cat "$OUT/gc.out"; fail "gc left the orphan table"; }
[ "$(has v_not_ours)" = 1 ] || fail "gc dropped a table that is not a version table"
"$ALAMBIC" --env warehouse export flagged_centres --csv "$OUT/flagged1c.csv"
cmp -s "$OUT/flagged1.csv" "$OUT/flagged1c.csv" || fail "after gc flagged_centres is not release 1's"

if grep -rqa -- "$ALAMBIC_TEST_PG_PASSWORD" . "$OUT"; then
  grep -rla -- "$ALAMBIC_TEST_PG_PASSWORD" . "$OUT" >&2
  fail "the password was written somewhere"
fi
echo "postgres store e2e: ok"
