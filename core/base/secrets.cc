#include "core/base/secrets.h"

#include <openssl/crypto.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <system_error>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "core/base/hmac.h"

namespace alambic {
namespace {

constexpr std::string_view kKeyIdLabel = "alambic-key-id";
constexpr size_t kKeyIdHexDigits = 16;
constexpr const char* kDefaultEnvironment = "datalab";  // as WorkspaceConfig

Status Undeclared(const std::string& name) {
  return Status::Invalid(fmt::format(
      "secret '{}' is not declared in alambic.yaml (add secrets: {{{}: {{env: VARIABLE}}}} or "
      "{{{}: {{file: /path/outside/git}}}})",
      name, name, name));
}

// Drops one trailing "\n" or "\r\n" (files written by `echo` end with one).
void DropTrailingNewline(std::string* s) {
  if (!s->empty() && s->back() == '\n') s->pop_back();
  if (!s->empty() && s->back() == '\r') s->pop_back();
}

// Where a secret's value lives: exactly one of the two is set.
struct SecretEntry {
  std::string env_var, file;
};

// The entry of secret `name` in `secrets` (a node of alambic.yaml), or an
// undefined node when there is none.
YAML::Node EntryIn(const YAML::Node& secrets, const std::string& name) {
  if (!secrets || !secrets.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
  return secrets[name];
}

// The entry of secret `name` in the `secrets:` of `environment`, or an
// undefined node.
YAML::Node EnvironmentEntry(const YAML::Node& root, const std::string& name,
                            const std::string& environment) {
  const YAML::Node envs = root["environments"];
  if (environment.empty() || !envs || !envs.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
  const YAML::Node env = envs[environment];
  if (!env || !env.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
  return EntryIn(env["secrets"], name);
}

// The entry of secret `name` for `environment`: the environment's own, else the
// top-level one.
Result<SecretEntry> FindEntry(const std::filesystem::path& workspace_root, const std::string& name,
                              const std::string& environment) {
  const std::filesystem::path config = workspace_root / "alambic.yaml";
  SecretEntry out;
  try {
    const YAML::Node root = YAML::LoadFile(config.string());
    const YAML::Node own = EnvironmentEntry(root, name, environment);
    const YAML::Node entry = own ? own : EntryIn(root["secrets"], name);
    if (!entry) return Undeclared(name);
    const std::string where = own ? fmt::format("secret '{}' (environment {})", name, environment)
                                  : fmt::format("secret '{}'", name);
    if (!entry.IsMap() || entry.size() != 1 || !(entry["env"] || entry["file"]))
      return Status::Invalid(
          fmt::format("alambic.yaml: {} must be {{env: VARIABLE}} or {{file: PATH}}", where));
    if (entry["env"]) {
      if (!entry["env"].IsScalar() || entry["env"].Scalar().empty())
        return Status::Invalid(
            fmt::format("alambic.yaml: {}: env must name an environment variable", where));
      out.env_var = entry["env"].Scalar();
    } else {
      if (!entry["file"].IsScalar() || entry["file"].Scalar().empty())
        return Status::Invalid(fmt::format("alambic.yaml: {}: file must be a path", where));
      out.file = entry["file"].Scalar();
    }
  } catch (const YAML::BadFile&) {
    return Status::NotFound(fmt::format("secret '{}': cannot read {}", name, config.string()));
  } catch (const YAML::Exception& e) {
    // yaml-cpp messages quote the offending text, which is alambic.yaml (no values).
    return Status::Invalid(fmt::format("secret '{}': alambic.yaml: {}", name, e.what()));
  }
  return out;
}

// The workspace's default_environment ("datalab" unless alambic.yaml says).
std::string DefaultEnvironment(const std::filesystem::path& workspace_root) {
  try {
    const YAML::Node root = YAML::LoadFile((workspace_root / "alambic.yaml").string());
    if (root["default_environment"] && root["default_environment"].IsScalar())
      return root["default_environment"].Scalar();
  } catch (const YAML::Exception&) {
  }
  return kDefaultEnvironment;
}

// The content of a secret file, once it is known to be private: a regular file
// that neither group nor others may access, and that no git repository tracks.
Result<std::string> ReadSecretFile(const std::string& name, const std::filesystem::path& p,
                                   const TrackedByGit& tracked_by_git) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(p, ec))
    return Status::NotFound(fmt::format("secret '{}': file {} does not exist", name, p.string()));
  if (!fs::is_regular_file(p, ec))
    return Status::IoError(fmt::format("secret '{}': {} is not a regular file", name, p.string()));
  const fs::perms perms = fs::status(p, ec).permissions();
  if (ec) return Status::IoError(fmt::format("secret '{}': cannot stat file {}", name, p.string()));
  if ((perms & (fs::perms::group_all | fs::perms::others_all)) != fs::perms::none)
    return Status::Invalid(fmt::format(
        "secret {}: file {} is readable by group or others (mode {:04o}); make it private "
        "(chmod 600)",
        name, p.string(), static_cast<unsigned>(perms & fs::perms::mask)));
  if (!tracked_by_git)
    return Status::Internal(
        fmt::format("secret {}: cannot tell whether git tracks file {}", name, p.string()));
  auto tracked = tracked_by_git(p);
  if (!tracked.ok())
    return Status::IoError(fmt::format("secret {}: cannot tell whether git tracks file {}: {}",
                                       name, p.string(), tracked.status().message()));
  if (*tracked)
    return Status::Invalid(
        fmt::format("secret {}: file {} is tracked by git; keep secrets out of the repository",
                    name, p.string()));
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  if (in.is_open()) ss << in.rdbuf();
  if (!in.is_open() || in.bad())
    return Status::IoError(fmt::format("secret '{}': cannot read file {}", name, p.string()));
  std::string value = ss.str();
  DropTrailingNewline(&value);
  return value;
}

}  // namespace

bool IsSecretRef(std::string_view s) {
  return s.size() > kSecretPrefix.size() && s.substr(0, kSecretPrefix.size()) == kSecretPrefix;
}

Result<std::string> ResolveSecret(const std::filesystem::path& workspace_root,
                                  const std::string& ref, const std::string& environment,
                                  const TrackedByGit& tracked_by_git,
                                  const std::filesystem::path& secrets_root) {
  if (!IsSecretRef(ref))
    return Status::Invalid(
        "a secret must be given as a reference \"secret:NAME\" declared in alambic.yaml");
  const std::string name = ref.substr(kSecretPrefix.size());
  ALAMBIC_ASSIGN_OR_RETURN(SecretEntry entry, FindEntry(workspace_root, name, environment));

  std::string value;
  if (!entry.env_var.empty()) {
    const char* v = std::getenv(entry.env_var.c_str());
    if (!v)
      return Status::NotFound(
          fmt::format("secret '{}': environment variable {} is not set", name, entry.env_var));
    value = v;
  } else {
    std::filesystem::path p(entry.file);
    if (p.is_relative()) p = (secrets_root.empty() ? workspace_root : secrets_root) / p;
    ALAMBIC_ASSIGN_OR_RETURN(value, ReadSecretFile(name, p, tracked_by_git));
  }
  if (value.empty()) return Status::Invalid(fmt::format("secret '{}' is empty", name));
  return value;
}

Result<std::string> ResolveEnvironmentKey(const std::filesystem::path& workspace_root,
                                          const std::string& ref, const std::string& environment,
                                          const TrackedByGit& tracked_by_git,
                                          const std::filesystem::path& secrets_root) {
  ALAMBIC_ASSIGN_OR_RETURN(std::string value, ResolveSecret(workspace_root, ref, environment,
                                                            tracked_by_git, secrets_root));
  const std::string fallback = DefaultEnvironment(workspace_root);
  if (environment.empty() || environment == fallback) return value;
  auto theirs = ResolveSecret(workspace_root, ref, fallback, tracked_by_git, secrets_root);
  if (!theirs.ok()) return value;  // nothing to compare with here
  const bool same = KeyId(*theirs) == KeyId(value);
  OPENSSL_cleanse(theirs->data(), theirs->size());
  if (same) {
    OPENSSL_cleanse(value.data(), value.size());
    const std::string name = ref.substr(kSecretPrefix.size());
    return Status::Invalid(
        fmt::format("secret {}: the {} uses the {}'s key; give the {} its own key "
                    "(environments.{}.secrets.{})",
                    name, environment, fallback, environment, environment, name));
  }
  return value;
}

std::string KeyId(std::string_view key) {
  return HexEncode(HmacSha256(key, kKeyIdLabel)).substr(0, kKeyIdHexDigits);
}

}  // namespace alambic
