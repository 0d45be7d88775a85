#include "core/flow/connections.h"

#include <fmt/format.h>

namespace alambic {

Result<ConnectionSpec> ResolveConnection(const ConnectionsConfig& config, const std::string& name,
                                         const std::string& environment) {
  const ConnectionEntry* entry = nullptr;
  ConnectionSpec out;
  out.name = name;
  if (!environment.empty()) {
    if (auto env = config.environments.find(environment); env != config.environments.end()) {
      if (auto it = env->second.find(name); it != env->second.end()) {
        entry = &it->second;
        out.environment = environment;
      }
    }
  }
  if (!entry) {
    if (auto it = config.connections.find(name); it != config.connections.end())
      entry = &it->second;
  }
  if (!entry)
    return Status::Invalid(fmt::format(
        "connection '{}' is not declared in alambic.yaml (add connections: {{{}: {{type: "
        "sqlite, path: data/file.sqlite}}}})",
        name, name));
  if (!entry->error.empty()) return Status::Invalid(entry->error);
  if ((entry->type != kConnectionSqlite && entry->type != kConnectionFile) || entry->path.empty())
    return Status::Invalid(fmt::format(
        "connection '{}' needs a type (sqlite or file) and a path (type '{}', path '{}')", name,
        entry->type, entry->path));
  out.type = entry->type;
  out.path = entry->path;
  return out;
}

}  // namespace alambic
