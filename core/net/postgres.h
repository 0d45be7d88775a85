// A PostgreSQL client over libpq: connect with a password given as a value
// (never logged, never in a conninfo string), read a query's result as a typed
// table through `COPY (query) TO STDOUT`, and load a table with
// `COPY ... FROM STDIN`.
//
// Sessions run with client_encoding UTF8, DateStyle ISO, TimeZone UTC and
// extra_float_digits 3, so the text COPY stream is parsed without guessing, and
// client_min_messages warning (no NOTICE on the terminal).
// Result columns are typed from the server's type OIDs:
//
//   int2 int4 int8 oid            -> int64
//   float4 float8 numeric         -> float64 (numeric: nearest double; cast the
//                                    column to text in the query to keep every digit)
//   bool                          -> bool
//   date                          -> date32
//   timestamp                     -> timestamp (read as UTC)
//   timestamptz                   -> timestamp (the instant, in UTC)
//   anything else (text, varchar, char, uuid, json, bytea, ...) -> utf8 (PostgreSQL's text form)
//
// Values a column type cannot hold (infinite or BC dates and timestamps) are
// errors naming the column and the row. Memory: one row of the COPY stream
// at a time besides the table being built.
//
// Error messages name the connection (the `label` of the options) and carry the
// server's message, detail and context; they never contain the password.
// A PgConnection is not thread-safe; distinct connections are independent.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/cancel.h"
#include "core/base/status.h"
#include "core/table/table.h"

typedef struct pg_conn PGconn;

namespace alambic {

struct PgConnectOptions {
  std::string label;  // names the connection in messages: "connection wh"
  // libpq keywords; empty: libpq's default (and its PG* environment variables).
  std::string host, port, dbname, user, password, sslmode, sslrootcert, sslcert, sslkey;
  int connect_timeout_seconds = 10;
};

// PostgreSQL's type OIDs of the built-in types read or written here.
namespace pg_oid {
inline constexpr unsigned kBool = 16, kInt8 = 20, kInt2 = 21, kInt4 = 23, kText = 25, kOid = 26,
                          kFloat4 = 700, kFloat8 = 701, kBpchar = 1042, kVarchar = 1043,
                          kDate = 1082, kTimestamp = 1114, kTimestamptz = 1184, kNumeric = 1700;
}

// The column type a PostgreSQL type OID is read as (see the table above).
TypeId PgTypeToColumnType(unsigned oid);
// The PostgreSQL type a column type is written as: bigint, double precision,
// boolean, text, date, timestamptz.
const char* ColumnTypeToPg(TypeId type);

// Options of a COPY out.
struct PgReadOptions {
  const CancelToken* cancel = nullptr;
  std::function<void(int64_t)> progress;  // rows read so far, every few thousand rows
  bool build_table = true;                // false: only hash (PgQueryResult::digest)
};

struct PgQueryResult {
  Table table;  // empty when !build_table
  int64_t rows = 0;
  int64_t bytes = 0;   // of the COPY stream
  std::string digest;  // SHA-256 of the column names, type OIDs and the COPY stream
};

class PgConnection {
 public:
  static Result<std::unique_ptr<PgConnection>> Connect(const PgConnectOptions& options);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  const std::string& label() const { return label_; }

  // Runs one or more statements without parameters (their results discarded).
  Status Exec(const std::string& sql);
  // Runs one statement with text parameters ($1, $2, ...; nullopt: NULL),
  // returning its rows as text cells (nullopt: NULL).
  using Row = std::vector<std::optional<std::string>>;
  Result<std::vector<Row>> Query(const std::string& sql,
                                 const std::vector<std::optional<std::string>>& params = {});

  // An identifier quoted for SQL (PQescapeIdentifier): "my ""table""".
  Result<std::string> QuoteIdent(std::string_view name) const;
  // A string literal quoted for SQL (PQescapeLiteral): 'it''s', E'a\\b'.
  Result<std::string> QuoteLiteral(std::string_view value) const;

  // The result of `query` (one SELECT, VALUES, TABLE or WITH query; a trailing
  // semicolon is dropped) as a table, streamed through COPY (query) TO STDOUT.
  // Runs in a read-only transaction.
  Result<PgQueryResult> ReadQuery(const std::string& query, const PgReadOptions& options);

  // Loads `t` into the existing table `qualified` (quoted already) with COPY
  // FROM STDIN, in batches, its columns by name. NUL characters in text are
  // refused (PostgreSQL's text cannot hold them), naming the column and row.
  Status CopyIn(const std::string& qualified, const Table& t, const CancelToken* cancel);

 private:
  PgConnection(PGconn* conn, std::string label) : conn_(conn), label_(std::move(label)) {}
  Status Error(std::string_view what) const;  // the connection's last error, with the label
  PGconn* conn_;
  std::string label_;
};

}  // namespace alambic
