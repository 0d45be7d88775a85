#include "core/flow/connections.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

namespace alambic {

Result<ConnectionSpec> ResolveConnection(const std::filesystem::path& workspace_root,
                                         const std::string& name) {
  const std::filesystem::path config = workspace_root / "alambic.yaml";
  ConnectionSpec out;
  out.name = name;
  try {
    YAML::Node root = YAML::LoadFile(config.string());
    YAML::Node all = root["connections"];
    YAML::Node entry = all && all.IsMap() ? all[name] : YAML::Node();
    if (!entry)
      return Status::Invalid(fmt::format(
          "connection '{}' is not declared in alambic.yaml (add connections: {{{}: {{type: "
          "sqlite, path: data/file.sqlite}}}})",
          name, name));
    if (!entry.IsMap())
      return Status::Invalid(
          fmt::format("alambic.yaml: connection '{}' must be a mapping {{type: ..., ...}}", name));
    for (const auto& kv : entry) {
      const std::string key = kv.first.as<std::string>();
      if (key != "type" && key != "path")
        return Status::Invalid(fmt::format(
            "alambic.yaml: connection '{}': unknown key '{}' (expected type, path)", name, key));
    }
    if (!entry["type"] || !entry["type"].IsScalar())
      return Status::Invalid(fmt::format("alambic.yaml: connection '{}': type is required", name));
    out.type = entry["type"].Scalar();
    if (out.type != "sqlite")
      return Status::Invalid(
          fmt::format("alambic.yaml: connection '{}': type '{}' is not supported (expected sqlite)",
                      name, out.type));
    if (!entry["path"] || !entry["path"].IsScalar() || entry["path"].Scalar().empty())
      return Status::Invalid(
          fmt::format("alambic.yaml: connection '{}': path is required for sqlite", name));
    out.path = entry["path"].Scalar();
  } catch (const YAML::BadFile&) {
    return Status::NotFound(fmt::format("connection '{}': cannot read {}", name, config.string()));
  } catch (const YAML::Exception& e) {
    return Status::Invalid(fmt::format("connection '{}': alambic.yaml: {}", name, e.what()));
  }
  return out;
}

}  // namespace alambic
