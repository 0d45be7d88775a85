#include "core/flow/connections.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

namespace alambic {

namespace {

// The entry of connection `name` in the `connections:` of `environment`, or an
// undefined node.
YAML::Node EnvironmentEntry(const YAML::Node& root, const std::string& name,
                            const std::string& environment) {
  const YAML::Node envs = root["environments"];
  if (environment.empty() || !envs || !envs.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
  const YAML::Node env = envs[environment];
  if (!env || !env.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
  const YAML::Node all = env["connections"];
  if (!all || !all.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
  return all[name];
}

}  // namespace

Result<ConnectionSpec> ResolveConnection(const std::filesystem::path& workspace_root,
                                         const std::string& name, const std::string& environment) {
  const std::filesystem::path config = workspace_root / "alambic.yaml";
  ConnectionSpec out;
  out.name = name;
  try {
    const YAML::Node root = YAML::LoadFile(config.string());
    const YAML::Node own = EnvironmentEntry(root, name, environment);
    const YAML::Node all = root["connections"];
    const YAML::Node entry =
        own ? own : (all && all.IsMap() ? all[name] : YAML::Node(YAML::NodeType::Undefined));
    if (!entry)
      return Status::Invalid(fmt::format(
          "connection '{}' is not declared in alambic.yaml (add connections: {{{}: {{type: "
          "sqlite, path: data/file.sqlite}}}})",
          name, name));
    if (own) out.environment = environment;
    const std::string what =
        own ? fmt::format("connection '{}' (environment {})", name, environment)
            : fmt::format("connection '{}'", name);
    if (!entry.IsMap())
      return Status::Invalid(
          fmt::format("alambic.yaml: {} must be a mapping {{type: ..., ...}}", what));
    for (const auto& kv : entry) {
      const std::string key = kv.first.as<std::string>();
      if (key != "type" && key != "path")
        return Status::Invalid(
            fmt::format("alambic.yaml: {}: unknown key '{}' (expected type, path)", what, key));
    }
    if (!entry["type"] || !entry["type"].IsScalar())
      return Status::Invalid(fmt::format("alambic.yaml: {}: type is required", what));
    out.type = entry["type"].Scalar();
    if (out.type != kConnectionSqlite && out.type != kConnectionFile)
      return Status::Invalid(
          fmt::format("alambic.yaml: {}: type '{}' is not supported (expected sqlite or file)",
                      what, out.type));
    if (!entry["path"] || !entry["path"].IsScalar() || entry["path"].Scalar().empty())
      return Status::Invalid(
          fmt::format("alambic.yaml: {}: path is required for {}", what, out.type));
    out.path = entry["path"].Scalar();
  } catch (const YAML::BadFile&) {
    return Status::NotFound(fmt::format("connection '{}': cannot read {}", name, config.string()));
  } catch (const YAML::Exception& e) {
    return Status::Invalid(fmt::format("connection '{}': alambic.yaml: {}", name, e.what()));
  }
  return out;
}

}  // namespace alambic
