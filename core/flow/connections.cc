#include "core/flow/connections.h"

#include <fmt/format.h>

namespace alambic {

bool SetPostgresParam(PostgresParams* p, std::string_view key, std::string value) {
  std::string* field = key == "host"          ? &p->host
                       : key == "port"        ? &p->port
                       : key == "dbname"      ? &p->dbname
                       : key == "user"        ? &p->user
                       : key == "password"    ? &p->password
                       : key == "sslmode"     ? &p->sslmode
                       : key == "sslrootcert" ? &p->sslrootcert
                       : key == "sslcert"     ? &p->sslcert
                       : key == "sslkey"      ? &p->sslkey
                                              : nullptr;
  if (!field) return false;
  *field = std::move(value);
  return true;
}

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
  if (entry->type == kConnectionPostgres) {
    if (entry->postgres.dbname.empty())
      return Status::Invalid(fmt::format("connection '{}' (postgres) needs a dbname", name));
    out.type = entry->type;
    out.postgres = entry->postgres;
    return out;
  }
  if ((entry->type != kConnectionSqlite && entry->type != kConnectionFile) || entry->path.empty())
    return Status::Invalid(fmt::format(
        "connection '{}' needs a type (sqlite, file or postgres) and a path (type '{}', path '{}')",
        name, entry->type, entry->path));
  out.type = entry->type;
  out.path = entry->path;
  return out;
}

}  // namespace alambic
