#!/usr/bin/env bash
# A flow against PostgreSQL through the alambic command, as a user would write
# it: collect from a query on a postgres connection (password from a secret in
# an environment variable), group, export the result to a table; the second
# run builds nothing; a change in the database makes collect (and what follows)
# stale; the password never appears in the output, the logs or the catalog.
# Run through tests/pg/pg-harness (its ALAMBIC_TEST_PG_* variables).
set -euo pipefail
ALAMBIC=$(realpath "$1")
: "${ALAMBIC_TEST_PG_HOST:?run through tests/pg/pg-harness}"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
export PGPASSWORD=$ALAMBIC_TEST_PG_PASSWORD
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -h "$ALAMBIC_TEST_PG_HOST" -p "$ALAMBIC_TEST_PG_PORT"
      -U "$ALAMBIC_TEST_PG_USER" -d "$ALAMBIC_TEST_PG_DB")
"${PSQL[@]}" <<'SQL'
SET client_min_messages TO warning;
DROP SCHEMA IF EXISTS e2e CASCADE;
CREATE SCHEMA e2e;
CREATE TABLE e2e.exams (exam_id int8, centre text, passed bool, score numeric(5,2), exam_date date);
INSERT INTO e2e.exams
  SELECT g, 'C' || (g % 7), g % 3 <> 0, (g % 20) + 0.5, date '2025-01-01' + (g % 90)
  FROM generate_series(1, 5000) g;
SQL

cd "$WORK"
"$ALAMBIC" init ws >/dev/null
cd ws
cat > alambic.yaml <<YAML
name: pgflow
secrets:
  wh_password: {env: PG_E2E_PASSWORD}
connections:
  wh: {type: postgres, host: $ALAMBIC_TEST_PG_HOST, port: "$ALAMBIC_TEST_PG_PORT",
       dbname: $ALAMBIC_TEST_PG_DB, user: $ALAMBIC_TEST_PG_USER,
       password: "secret:wh_password", sslmode: disable}
YAML
mkdir -p flows
cat > flows/rates.yaml <<'YAML'
flow: rates
recipes:
  - name: collect_exams
    kind: collect
    outputs: [exams]
    params: {connection: wh, query: "select * from e2e.exams"}
  - name: centre_rates
    kind: group
    inputs: [exams]
    outputs: [centre_rates]
    params: {keys: [centre], aggregates: [{name: n, fn: count}, {name: passed, fn: sum, column: passed}]}
  - name: publish
    kind: export
    inputs: [centre_rates]
    outputs: [centre_rates_published]
    params: {connection: wh, schema: e2e, table: centre_rates}
YAML
export PG_E2E_PASSWORD=$ALAMBIC_TEST_PG_PASSWORD
"$ALAMBIC" validate
"$ALAMBIC" run > run1.out 2>&1 || { cat run1.out; fail "first run failed"; }
grep -q "3 succeeded, 0 failed" run1.out || { cat run1.out; fail "first run did not build 3 recipes"; }
got=$("${PSQL[@]}" -At -c "select string_agg(centre || ':' || n || ':' || passed, ',' order by centre) from e2e.centre_rates")
want=$("${PSQL[@]}" -At -c "select string_agg(centre || ':' || n || ':' || p, ',' order by centre) from (select centre, count(*) n, sum(passed::int) p from e2e.exams group by centre) s")
[ "$got" = "$want" ] || fail "exported rates differ from PostgreSQL's own group by: $got vs $want"

"$ALAMBIC" run > run2.out 2>&1
grep -q "0 succeeded, 0 failed, 0 cancelled, 0 skipped, 3 up to date" run2.out || { cat run2.out; fail "second run executed something"; }

# A change in the source table: the collect is stale, and so is what follows.
"${PSQL[@]}" -c "update e2e.exams set passed = not passed where exam_id = 1"
"$ALAMBIC" plan --explain > plan.out
grep -q "collect_exams" plan.out || { cat plan.out; fail "plan does not name collect_exams"; }
grep -q "^3 of 3 recipes to run" plan.out || { cat plan.out; fail "a source change did not make the flow stale"; }
"$ALAMBIC" run > run3.out 2>&1 || { cat run3.out; fail "third run failed"; }
got=$("${PSQL[@]}" -At -c "select sum(passed) from e2e.centre_rates")
want=$("${PSQL[@]}" -At -c "select count(*) from e2e.exams where passed")
[ "$got" = "$want" ] || fail "re-export did not follow the source: $got vs $want"

# Someone edits the exported table: the export alone runs again.
"${PSQL[@]}" -c "delete from e2e.centre_rates where centre = 'C0'"
"$ALAMBIC" run > run4.out 2>&1 || { cat run4.out; fail "fourth run failed"; }
grep -q "1 succeeded, 0 failed, 0 cancelled, 0 skipped, 2 up to date" run4.out || { cat run4.out; fail "an edited target was not rewritten alone"; }
[ "$("${PSQL[@]}" -At -c "select count(*) from e2e.centre_rates")" = 7 ] || fail "target not restored"

# A wrong password: the run fails naming the recipe and the connection; no password shown.
PG_E2E_PASSWORD="not-$ALAMBIC_TEST_PG_PASSWORD" "$ALAMBIC" run > bad.out 2>&1 && fail "ran with a wrong password"
"${PSQL[@]}" -c "update e2e.exams set passed = not passed where exam_id = 2"
PG_E2E_PASSWORD="not-$ALAMBIC_TEST_PG_PASSWORD" "$ALAMBIC" run > bad.out 2>&1 && fail "ran with a wrong password"
grep -q "connection wh: cannot connect" bad.out || { cat bad.out; fail "bad password error does not name the connection"; }

# A real file Debian ships (matplotlib's Stocks.csv: dates, floats, empty cells, a column
# named ^GSPC), loaded with psql, collected, exported back to another table: PostgreSQL finds
# no difference, and the collected values match Python's reading of the file.
STOCKS=/usr/share/matplotlib/mpl-data/sample_data/Stocks.csv
if [ -f "$STOCKS" ]; then
  "${PSQL[@]}" -c 'CREATE TABLE e2e.stocks ("Date" date, "IBM" float8, "AAPL" float8, "MSFT" float8, "XRX" float8, "AMZN" float8, "DELL" float8, "GOOGL" float8, "ADBE" float8, "^GSPC" float8, "^IXIC" float8)'
  tail -n +3 "$STOCKS" | "${PSQL[@]}" -c '\copy e2e.stocks FROM STDIN WITH (FORMAT csv)'
  cat > flows/stocks.yaml <<'YAML'
flow: stocks
recipes:
  - name: collect_stocks
    kind: collect
    outputs: [stocks]
    params: {connection: wh, query: "select * from e2e.stocks order by \"Date\""}
  - name: copy_stocks
    kind: export
    inputs: [stocks]
    outputs: [stocks_copied]
    params: {connection: wh, schema: e2e, table: "stocks copy"}
YAML
  "$ALAMBIC" run stocks > stocks.out 2>&1 || { cat stocks.out; fail "stocks run failed"; }
  diff=$("${PSQL[@]}" -At -c 'select count(*) from ((table e2e.stocks except all table e2e."stocks copy") union all (table e2e."stocks copy" except all table e2e.stocks)) d')
  [ "$diff" = 0 ] || fail "the exported stocks differ from the source in $diff rows"
  "$ALAMBIC" export stocks --csv stocks.csv
  python3 - "$STOCKS" <<'PY'
import csv, math, sys
with open(sys.argv[1], newline="") as f:
    lines = [l for l in f if not l.startswith("#")]
src = list(csv.DictReader(lines))
with open("stocks.csv", newline="") as f:
    got = list(csv.DictReader(f))
assert len(got) == len(src) == 524, (len(got), len(src))
for a, b in zip(sorted(src, key=lambda r: r["Date"]), got):
    assert a["Date"] == b["Date"], (a["Date"], b["Date"])
    for k in a:
        if k == "Date":
            continue
        if a[k] == "":
            assert b[k] == "", (k, a, b)
        else:
            assert float(a[k]) == float(b[k]), (k, a[k], b[k])
PY
fi

# The password is nowhere: outputs, logs, the catalog, the store.
if grep -rqa -- "$ALAMBIC_TEST_PG_PASSWORD" . ; then
  grep -rla -- "$ALAMBIC_TEST_PG_PASSWORD" . >&2
  fail "the password was written somewhere"
fi
echo "postgres flow e2e: ok"
