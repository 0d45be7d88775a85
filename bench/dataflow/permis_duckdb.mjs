// The permis flow as DuckDB SQL (the peer of bench/dataflow/permis.py): the same
// steps as examples/permis/flows/permis.yaml, each dataset a table of an on-disk
// database (persisted). DuckDB has no HMAC: the pseudonym is sha256(key || id),
// the same amount of hashing. Prints the number of flagged centres.
//   node permis_duckdb.mjs DATA_DIR KEY_FILE DB_FILE
import { readFileSync } from "node:fs";
import { DuckDBInstance } from "@duckdb/node-api";

const [data, keyFile, dbFile] = process.argv.slice(2);
const key = readFileSync(keyFile, "utf8").trim();
const db = await DuckDBInstance.create(dbFile, { threads: "2" });
const con = await db.connect();
const q = (s) => s.replaceAll("'", "''");
const check = async (what, sql) => {
  const r = await con.runAndReadAll(sql);
  if (!r.getRows()[0][0]) throw new Error(`check failed: ${what}`);
};

await con.run(`create table exams_raw as select * from read_csv('${q(data)}/exams.csv',
  delim=';', header=true, encoding='latin-1', decimal_separator=',', dateformat='%d/%m/%Y',
  types={'candidate_id': 'VARCHAR', 'centre_id': 'VARCHAR'})`);
await con.run(`create table exams as select * replace (
  upper(trim(category)) as category, sha256('${q(key)}' || candidate_id) as candidate_id)
  from exams_raw`);
await check("row_count", "select count(*) >= 1 from exams");
await check("not_null", `select count(*) = 0 from exams where exam_id is null or
  candidate_id is null or centre_id is null or exam_date is null or result is null`);
await check("unique", "select count(*) = count(distinct exam_id) from exams");
await check("category", "select bool_and(category in ('B','A','A2','C','D','BE')) from exams");
await check("result", "select bool_and(result in ('reussite','echec')) from exams");
await check("score", "select bool_and(score between 0 and 31) from exams");
await check("pseudonym", "select bool_and(regexp_full_match(candidate_id, '[0-9a-f]{64}')) from exams");
await con.run("create table exams_checked as select * from exams");
await con.run(`create table exams_enriched as select *, year(exam_date) as exam_year,
  month(exam_date) as exam_month, score >= 26 as high_score from exams_checked`);
await con.run(`create table centres as select * from read_csv('${q(data)}/centres.csv',
  delim=';', header=true, types={'departement': 'VARCHAR', 'centre_id': 'VARCHAR'})`);
await con.run(`create table exams_located as select e.*, c.name, c.departement,
  c.commune as commune_centre from exams_enriched e join centres c using (centre_id)`);
await con.run(`create table centre_rates as select centre_id, name, departement,
  count(*) as exams, count(*) filter (where result = 'reussite') as passed,
  avg((result = 'reussite')::int) as success_rate, avg(score) as mean_score
  from exams_located group by all order by all`);
await con.run(`create table departement_rates as select departement,
  count(distinct centre_id) as centres, count(*) as exams,
  count(*) filter (where result = 'reussite') as passed,
  avg((result = 'reussite')::int) as success_rate
  from exams_located group by all order by all`);
await con.run(`create table centre_vs_departement as select r.*, d.centres,
  d.exams as exams_departement, d.passed as passed_departement,
  d.success_rate as success_rate_departement
  from centre_rates r left join departement_rates d using (departement)`);
await con.run(`create table centre_gaps as select *,
  round(success_rate - success_rate_departement, 4) as gap from centre_vs_departement`);
await check("unique centre", "select count(*) = count(distinct centre_id) from centre_gaps");
await check("gap", "select bool_and(gap between -1 and 1 and success_rate between 0 and 1) from centre_gaps");
await con.run("create table centre_gaps_checked as select * from centre_gaps");
await con.run(`create table flagged_centres as select centre_id, name, departement, exams,
  success_rate, success_rate_departement as departement_rate, gap
  from centre_gaps_checked where gap > 0.2 order by gap desc, centre_id`);
const r = await con.runAndReadAll("select count(*) from flagged_centres");
console.log(String(r.getRows()[0][0]));
