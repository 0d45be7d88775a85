// Reads a CSV or JSON file into a DuckDB in-memory table (the peer of `collect`), prints rows.
//   node duckdb_read.mjs PATH DELIMITER [ENCODING [DECIMAL_SEPARATOR]]
//   node duckdb_read.mjs PATH --json array|newline_delimited
import { DuckDBInstance } from "@duckdb/node-api";

const [path, delim, encoding = "utf-8", decimal = "."] = process.argv.slice(2);
const db = await DuckDBInstance.create(":memory:", { threads: "2" });
const con = await db.connect();
const esc = (s) => s.replaceAll("'", "''");
if (delim === "--json") {
  await con.run(
    `create table t as select * from read_json('${esc(path)}', format='${esc(encoding)}')`
  );
} else {
  await con.run(
    `create table t as select * from read_csv('${esc(path)}', delim='${esc(delim)}', header=true, ` +
      `encoding='${esc(encoding)}', decimal_separator='${esc(decimal)}')`
  );
}
const r = await con.runAndReadAll("select count(*) from t");
console.log(String(r.getRows()[0][0]));
