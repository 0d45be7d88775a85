// Connections: external databases a workspace declares in alambic.yaml, by name,
// so that flows say `connection: refdb` and never hold paths or credentials:
//
//   connections:
//     refdb: {type: sqlite, path: data/ref.sqlite}
//
// A relative path is resolved against the workspace root. Reentrant.
#pragma once

#include <filesystem>
#include <string>

#include "core/base/status.h"

namespace alambic {

struct ConnectionSpec {
  std::string name;
  std::string type;  // "sqlite"
  std::string path;  // sqlite: the database file, as written in alambic.yaml
};

// The connection `name` of `workspace_root`/alambic.yaml. Invalid when it is
// not declared or malformed (the message names the connection and the key).
Result<ConnectionSpec> ResolveConnection(const std::filesystem::path& workspace_root,
                                         const std::string& name);

}  // namespace alambic
