// Connections: external sources a workspace declares in alambic.yaml, by name,
// so that flows say `connection: refdb` and never hold paths or credentials:
//
//   connections:
//     refdb: {type: sqlite, path: data/ref.sqlite}     # a SQLite database
//     exams_extract: {type: file, path: data/exams.csv}  # one file (collect reads it)
//
// An environment may override a connection of the same name (its entry wins in
// that environment; "" or an environment without one: the top-level entry):
//
//   environments:
//     warehouse:
//       connections: {exams_extract: {type: file, path: /srv/extracts/exams.csv}}
//
// A relative path is resolved against the workspace root by the recipe that
// uses it, and confined like any other path (workspace or data roots). Reentrant.
#pragma once

#include <filesystem>
#include <string>

#include "core/base/status.h"

namespace alambic {

inline constexpr const char* kConnectionSqlite = "sqlite";
inline constexpr const char* kConnectionFile = "file";

struct ConnectionSpec {
  std::string name;
  std::string type;         // kConnectionSqlite or kConnectionFile
  std::string path;         // the database file or the file, as written in alambic.yaml
  std::string environment;  // the environment whose entry this is ("": the top-level one)
};

// The connection `name` of `workspace_root`/alambic.yaml for `environment` ("":
// the top-level entry only). Invalid when it is not declared or malformed (the
// message names the connection and the key).
Result<ConnectionSpec> ResolveConnection(const std::filesystem::path& workspace_root,
                                         const std::string& name, const std::string& environment);

}  // namespace alambic
