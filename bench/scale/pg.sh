#!/usr/bin/env bash
# The permis-like aggregation at N rows (default 1,000,000; 10M: `pg.sh build/alambic 10000000`):
#   local     collect a CSV file, group, export CSV (the local engine only)
#   pg-moved  collect the same rows from PostgreSQL (COPY out), group in the local
#             engine, export the result to a PostgreSQL table (COPY in + swap)
#   pg-sql    the same aggregation run by PostgreSQL itself (psql), for reference
#   store-*   an environment whose store is PostgreSQL (docs/deployment.md):
#             store-load      collect the rows into the store (COPY in)
#             store-pushdown  the group as CREATE TABLE ... AS SELECT inside PostgreSQL
#             store-moved     the same group forced to the local engine (a `where`
#                             on an aggregate): COPY out, group, COPY back in
#             filter-pushdown / filter-moved    a filter inside PostgreSQL, and the
#                             same condition forced to the local engine (matches())
#             formula-pushdown / formula-moved  three computed columns, likewise
#                             (substr(x, 1), which has no translation, forces it)
#             join-pushdown / join-moved  every exam with its centre (a left join
#                             on centre_id) inside PostgreSQL, and the same join forced
#                             to the local engine (normalize: trim, a no-op on these
#                             keys, has no translation)
#             (each pair's outputs are exported and compared: they must be equal)
#   local-join  the same join in the local engine on the CSV files
# Starts its own server with tests/pg/pg-harness. Prints seconds per variant.
set -euo pipefail
if [ -z "${ALAMBIC_TEST_PG_HOST:-}" ]; then
  exec "$(dirname "$0")/../../tests/pg/pg-harness" -- "$0" "$@"
fi
ALAMBIC=$(realpath "$1")
N=${2:-1000000}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export PGPASSWORD=$ALAMBIC_TEST_PG_PASSWORD PG_BENCH_PASSWORD=$ALAMBIC_TEST_PG_PASSWORD
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -h "$ALAMBIC_TEST_PG_HOST" -p "$ALAMBIC_TEST_PG_PORT"
      -U "$ALAMBIC_TEST_PG_USER" -d "$ALAMBIC_TEST_PG_DB")
"${PSQL[@]}" -c "CREATE TABLE exams AS SELECT g AS exam_id, 'CE' || lpad((g % 500)::text, 7, '0') AS centre_id,
  lpad((g % 95 + 1)::text, 2, '0') AS departement, (g % 3 <> 0) AS passed, (g % 40) / 2.0 AS score,
  date '2024-01-01' + (g % 365) AS exam_date FROM generate_series(1, $N) g"
"${PSQL[@]}" -c "CREATE TABLE centres AS SELECT 'CE' || lpad(g::text, 7, '0') AS centre_id,
  'Centre ' || g AS name, lpad((g % 95 + 1)::text, 2, '0') AS departement FROM generate_series(0, 499) g"
cd "$WORK"
"$ALAMBIC" init ws >/dev/null
cd ws
mkdir -p data flows
"${PSQL[@]}" -c "\\copy exams TO 'data/exams.csv' WITH (FORMAT csv, HEADER)"
"${PSQL[@]}" -c "\\copy centres TO 'data/centres.csv' WITH (FORMAT csv, HEADER)"
cat > alambic.yaml <<YAML
name: bench
secrets: {pw: {env: PG_BENCH_PASSWORD}}
connections:
  wh: {type: postgres, host: $ALAMBIC_TEST_PG_HOST, port: "$ALAMBIC_TEST_PG_PORT",
       dbname: $ALAMBIC_TEST_PG_DB, user: $ALAMBIC_TEST_PG_USER, password: "secret:pw"}
environments:
  datalab: {}
  pgstore:
    store: {kind: postgres, connection: wh, schema: bench_store}
YAML
agg='keys: [centre_id, departement], aggregates: [{name: exams, fn: count}, {name: rate, fn: mean, column: passed}, {name: mean_score, fn: mean, column: score}]'
cat > flows/local.yaml <<YAML
flow: local
recipes:
  - {name: l_collect, kind: collect, outputs: [l_exams], params: {path: data/exams.csv}}
  - {name: l_group, kind: group, inputs: [l_exams], outputs: [l_rates], params: {$agg}}
  - {name: l_export, kind: export, inputs: [l_rates], outputs: [l_out], params: {path: out/rates.csv}}
  - {name: l_collect_centres, kind: collect, outputs: [l_centres],
     params: {path: data/centres.csv, schema: {departement: utf8}}}
  - {name: l_join, kind: join, inputs: [l_exams, l_centres], outputs: [l_joined],
     params: {type: left, on: centre_id, suffixes: ["", "_centre"]}}
YAML
cat > flows/pg.yaml <<YAML
flow: pg
recipes:
  - {name: p_collect, kind: collect, outputs: [p_exams], params: {connection: wh, query: "select * from exams"}}
  - {name: p_group, kind: group, inputs: [p_exams], outputs: [p_rates], params: {$agg}}
  - {name: p_export, kind: export, inputs: [p_rates], outputs: [p_out], params: {connection: wh, table: rates}}
YAML
# s_group_local: the same aggregates with an always-true `where` on the count, which has
# no SQL translation, so the local engine runs it (data moved out and back).
agg_local=${agg/"{name: exams, fn: count}"/"{name: exams, fn: count, where: \"exam_id > 0\"}"}
cat > flows/store.yaml <<YAML
flow: store
recipes:
  - {name: s_collect, kind: collect, outputs: [s_exams], params: {connection: wh, query: "select * from exams"}}
  - {name: s_group, kind: group, inputs: [s_exams], outputs: [s_rates], params: {$agg}}
  - {name: s_group_local, kind: group, inputs: [s_exams], outputs: [s_rates_local], params: {$agg_local}}
  - {name: s_filter, kind: filter, inputs: [s_exams], outputs: [s_kept],
     params: {where: "departement in ('13', '75') and score >= 10 and not passed"}}
  - {name: s_filter_local, kind: filter, inputs: [s_exams], outputs: [s_kept_local],
     params: {where: "matches(departement, '^(13|75)\$') and score >= 10 and not passed"}}
  - {name: s_formula, kind: formula, inputs: [s_exams], outputs: [s_computed],
     params: {columns: {due: "add_days(exam_date, 30)", pct: "score * 5", code: "lower(centre_id) || '-' || departement"}}}
  - {name: s_formula_local, kind: formula, inputs: [s_exams], outputs: [s_computed_local],
     params: {columns: {due: "add_days(exam_date, 30)", pct: "score * 5", code: "lower(substr(centre_id, 1)) || '-' || departement"}}}
  - {name: s_collect_centres, kind: collect, outputs: [s_centres], params: {connection: wh, query: "select * from centres"}}
  - {name: s_join, kind: join, inputs: [s_exams, s_centres], outputs: [s_joined],
     params: {type: left, on: centre_id, suffixes: ["", "_centre"]}}
  - {name: s_join_local, kind: join, inputs: [s_exams, s_centres], outputs: [s_joined_local],
     params: {type: left, on: centre_id, suffixes: ["", "_centre"], normalize: trim}}
YAML
t() { local s e; s=$(date +%s.%N); "$@" > /dev/null; e=$(date +%s.%N); echo "$e - $s" | bc; }
echo "rows: $N"
echo "local (csv -> group -> csv):            $(t "$ALAMBIC" run local --only l_collect l_group l_export) s"
"$ALAMBIC" run local --only l_collect_centres >/dev/null
echo "local-join (the join in the local engine): $(t "$ALAMBIC" run local --only l_join) s"
echo "pg-moved (COPY out -> group -> COPY in): $(t "$ALAMBIC" run pg) s"
echo "pg-sql (the group in PostgreSQL):        $(t "${PSQL[@]}" -c "CREATE TABLE rates_sql AS SELECT centre_id, departement, count(*) exams, avg(passed::int) rate, avg(score) mean_score FROM exams GROUP BY 1, 2") s"
[ "$("${PSQL[@]}" -At -c "select count(*) from rates")" = "$("${PSQL[@]}" -At -c "select count(*) from rates_sql")" ] || { echo "row counts differ" >&2; exit 1; }
echo "store-load (collect into the PostgreSQL store): $(t "$ALAMBIC" --env pgstore run store --only s_collect) s"
echo "store-pushdown (group inside PostgreSQL):       $(t "$ALAMBIC" --env pgstore run store --only s_group) s"
echo "store-moved (group in the local engine):        $(t "$ALAMBIC" --env pgstore run store --only s_group_local) s"
"$ALAMBIC" --env pgstore plan store --explain | grep -E "s_(filter|formula)" >&2
echo "filter-pushdown (filter inside PostgreSQL):     $(t "$ALAMBIC" --env pgstore run store --only s_filter) s"
echo "filter-moved (filter in the local engine):      $(t "$ALAMBIC" --env pgstore run store --only s_filter_local) s"
echo "formula-pushdown (formula inside PostgreSQL):   $(t "$ALAMBIC" --env pgstore run store --only s_formula) s"
echo "formula-moved (formula in the local engine):    $(t "$ALAMBIC" --env pgstore run store --only s_formula_local) s"
"$ALAMBIC" --env pgstore run store --only s_collect_centres >/dev/null
"$ALAMBIC" --env pgstore plan store --explain | grep -E "s_join" >&2
echo "join-pushdown (join inside PostgreSQL):         $(t "$ALAMBIC" --env pgstore run store --only s_join) s"
echo "join-moved (join in the local engine):          $(t "$ALAMBIC" --env pgstore run store --only s_join_local) s"
"${PSQL[@]}" -At -c "select 'data moved by join-moved: ' || pg_size_pretty(sum(pg_total_relation_size(format('%I.%I', schemaname, tablename)::regclass))) || ' in its inputs and output' from pg_tables where schemaname = 'bench_store' and obj_description(format('%I.%I', schemaname, tablename)::regclass) ~ 'dataset (s_exams|s_centres|s_joined_local) '" >&2
for pair in "s_kept s_kept_local" "s_computed s_computed_local" "s_joined s_joined_local"; do
  set -- $pair
  "$ALAMBIC" --env pgstore export "$1" --csv "$WORK/$1.csv" >/dev/null
  "$ALAMBIC" --env pgstore export "$2" --csv "$WORK/$2.csv" >/dev/null
  cmp -s "$WORK/$1.csv" "$WORK/$2.csv" || { echo "$1 and $2 differ" >&2; exit 1; }
  echo "$1 = $2 ($(($(wc -l < "$WORK/$1.csv") - 1)) rows)"
done
