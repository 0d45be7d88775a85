// Connections: external sources a workspace declares in alambic.yaml, by name,
// so that flows say `connection: refdb` and never hold paths or credentials:
//
//   connections:
//     refdb: {type: sqlite, path: data/ref.sqlite}     # a SQLite database
//     exams_extract: {type: file, path: data/exams.csv}  # one file (collect reads it)
//     wh: {type: postgres, host: db.example, port: 5432, dbname: dwh, user: alambic,
//          password: "secret:wh_password", sslmode: verify-full,
//          sslrootcert: /etc/ssl/wh-ca.pem}                # a PostgreSQL database
//
// An environment may override a connection of the same name (its entry wins in
// that environment; "" or an environment without one: the top-level entry):
//
//   environments:
//     warehouse:
//       connections: {exams_extract: {type: file, path: /srv/extracts/exams.csv}}
//
// The workspace loader reads these entries once, with the rest of alambic.yaml,
// into a ConnectionsConfig; connections resolve from it. A relative path is resolved against the
// workspace root by the recipe that uses it, and confined like any other path (workspace or data
// roots). Reentrant.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "core/base/status.h"

namespace alambic {

inline constexpr const char* kConnectionSqlite = "sqlite";
inline constexpr const char* kConnectionFile = "file";
inline constexpr const char* kConnectionPostgres = "postgres";

// The libpq parameters of a postgres connection, as written in alambic.yaml.
// `password` is a secret reference ("secret:NAME"), never a value; the others
// go to libpq as they are (empty: libpq's default). sslrootcert, sslcert and
// sslkey are file paths read by libpq.
struct PostgresParams {
  std::string host, port, dbname, user, password, sslmode, sslrootcert, sslcert, sslkey;
  bool operator==(const PostgresParams&) const = default;
};

struct ConnectionSpec {
  std::string name;
  std::string type;         // kConnectionSqlite, kConnectionFile or kConnectionPostgres
  std::string path;         // the database file or the file, as written in alambic.yaml
  std::string environment;  // the environment whose entry this is ("": the top-level one)
  PostgresParams postgres;  // type postgres
};

// One entry of `connections:` as alambic.yaml declares it, or `error` says why
// it is malformed and where ("alambic.yaml:9:9: connection 'pg': type
// 'postgres' is not supported (expected sqlite or file)"). A malformed entry
// is an error only when the connection is resolved.
struct ConnectionEntry {
  std::string type;         // kConnectionSqlite, kConnectionFile or kConnectionPostgres
  std::string path;         // as written (sqlite, file)
  PostgresParams postgres;  // as written (postgres)
  std::string error;        // "": well formed
};

// Sets the postgres key `key` of `p` to `value`; false for an unknown key.
bool SetPostgresParam(PostgresParams* p, std::string_view key, std::string value);

// The `connections:` of alambic.yaml, filled by the workspace loader
// (core/flow/loader.h) from its one reading of the file, or built in memory.
struct ConnectionsConfig {
  std::map<std::string, ConnectionEntry> connections;  // top level, by name
  // Each environment's own `environments.<env>.connections`, by environment then name.
  std::map<std::string, std::map<std::string, ConnectionEntry>> environments;
};

// The connection `name` of `config` for `environment` ("": the top-level entry
// only). Invalid when it is not declared or malformed (the message names the
// connection, and alambic.yaml's line for a malformed entry).
Result<ConnectionSpec> ResolveConnection(const ConnectionsConfig& config, const std::string& name,
                                         const std::string& environment);

}  // namespace alambic
