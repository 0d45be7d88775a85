#include "core/base/secrets.h"

#include <openssl/crypto.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <system_error>

#include <fmt/format.h>

#include "core/base/hmac.h"

namespace alambic {
namespace {

constexpr std::string_view kKeyIdLabel = "alambic-key-id";
constexpr size_t kKeyIdHexDigits = 16;

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

// The entry of secret `name` for `environment`: the environment's own, else the
// top-level one.
Result<SecretSource> FindEntry(const SecretsConfig& config, const std::string& name,
                               const std::string& environment) {
  if (!environment.empty()) {
    if (auto env = config.environments.find(environment); env != config.environments.end())
      if (auto it = env->second.find(name); it != env->second.end()) return it->second;
  }
  if (auto it = config.secrets.find(name); it != config.secrets.end()) return it->second;
  return Undeclared(name);
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

Result<std::string> ResolveSecret(const SecretsConfig& config, const std::string& ref,
                                  const std::string& environment,
                                  const std::filesystem::path& secrets_root,
                                  const TrackedByGit& tracked_by_git) {
  if (!IsSecretRef(ref))
    return Status::Invalid(
        "a secret must be given as a reference \"secret:NAME\" declared in alambic.yaml");
  const std::string name = ref.substr(kSecretPrefix.size());
  ALAMBIC_ASSIGN_OR_RETURN(SecretSource entry, FindEntry(config, name, environment));
  if (!entry.error.empty()) return Status::Invalid(entry.error);
  if (entry.env_var.empty() == entry.file.empty())
    return Status::Invalid(
        fmt::format("secret '{}' must be {{env: VARIABLE}} or {{file: PATH}}", name));

  std::string value;
  if (!entry.env_var.empty()) {
    const char* v = std::getenv(entry.env_var.c_str());
    if (!v)
      return Status::NotFound(
          fmt::format("secret '{}': environment variable {} is not set", name, entry.env_var));
    value = v;
  } else {
    std::filesystem::path p(entry.file);
    if (p.is_relative()) p = secrets_root / p;
    ALAMBIC_ASSIGN_OR_RETURN(value, ReadSecretFile(name, p, tracked_by_git));
  }
  if (value.empty()) return Status::Invalid(fmt::format("secret '{}' is empty", name));
  return value;
}

Result<std::string> ResolveEnvironmentKey(const SecretsConfig& config, const std::string& ref,
                                          const std::string& environment,
                                          const std::string& default_environment,
                                          const std::filesystem::path& secrets_root,
                                          const TrackedByGit& tracked_by_git) {
  ALAMBIC_ASSIGN_OR_RETURN(std::string value,
                           ResolveSecret(config, ref, environment, secrets_root, tracked_by_git));
  const std::string& fallback = default_environment;
  if (environment.empty() || environment == fallback) return value;
  auto theirs = ResolveSecret(config, ref, fallback, secrets_root, tracked_by_git);
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
