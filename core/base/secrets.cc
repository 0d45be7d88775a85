#include "core/base/secrets.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <system_error>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

namespace alambic {
namespace {

constexpr std::string_view kKeyIdLabel = "alambic-key-id";
constexpr size_t kKeyIdHexDigits = 16;
constexpr size_t kSha256Bytes = 32;

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

}  // namespace

bool IsSecretRef(std::string_view s) {
  return s.size() > kSecretPrefix.size() && s.substr(0, kSecretPrefix.size()) == kSecretPrefix;
}

Result<std::string> ResolveSecret(const std::filesystem::path& workspace_root,
                                  const std::string& ref) {
  if (!IsSecretRef(ref))
    return Status::Invalid(
        "a secret must be given as a reference \"secret:NAME\" declared in alambic.yaml");
  const std::string name = ref.substr(kSecretPrefix.size());
  const std::filesystem::path config = workspace_root / "alambic.yaml";

  std::string env_var, file;
  try {
    YAML::Node root = YAML::LoadFile(config.string());
    YAML::Node secrets = root["secrets"];
    if (!secrets || !secrets.IsMap()) return Undeclared(name);
    YAML::Node entry = secrets[name];
    if (!entry) return Undeclared(name);
    if (!entry.IsMap() || entry.size() != 1 || !(entry["env"] || entry["file"]))
      return Status::Invalid(fmt::format(
          "alambic.yaml: secret '{}' must be {{env: VARIABLE}} or {{file: PATH}}", name));
    if (entry["env"]) {
      if (!entry["env"].IsScalar() || entry["env"].Scalar().empty())
        return Status::Invalid(
            fmt::format("alambic.yaml: secret '{}': env must name an environment variable", name));
      env_var = entry["env"].Scalar();
    } else {
      if (!entry["file"].IsScalar() || entry["file"].Scalar().empty())
        return Status::Invalid(fmt::format("alambic.yaml: secret '{}': file must be a path", name));
      file = entry["file"].Scalar();
    }
  } catch (const YAML::BadFile&) {
    return Status::NotFound(fmt::format("secret '{}': cannot read {}", name, config.string()));
  } catch (const YAML::Exception& e) {
    // yaml-cpp messages quote the offending text, which is alambic.yaml (no values).
    return Status::Invalid(fmt::format("secret '{}': alambic.yaml: {}", name, e.what()));
  }

  std::string value;
  if (!env_var.empty()) {
    const char* v = std::getenv(env_var.c_str());
    if (!v)
      return Status::NotFound(
          fmt::format("secret '{}': environment variable {} is not set", name, env_var));
    value = v;
  } else {
    std::filesystem::path p(file);
    if (p.is_relative()) p = workspace_root / p;
    std::error_code ec;
    if (!std::filesystem::exists(p, ec))
      return Status::NotFound(fmt::format("secret '{}': file {} does not exist", name, p.string()));
    if (!std::filesystem::is_regular_file(p, ec))
      return Status::IoError(
          fmt::format("secret '{}': {} is not a regular file", name, p.string()));
    std::ifstream in(p, std::ios::binary);
    std::ostringstream ss;
    if (in.is_open()) ss << in.rdbuf();
    if (!in.is_open() || in.bad())
      return Status::IoError(fmt::format("secret '{}': cannot read file {}", name, p.string()));
    value = ss.str();
    DropTrailingNewline(&value);
  }
  if (value.empty()) return Status::Invalid(fmt::format("secret '{}' is empty", name));
  return value;
}

std::string HmacSha256(std::string_view key, std::string_view message) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), out, &len);
  return std::string(reinterpret_cast<const char*>(out), len == kSha256Bytes ? len : 0);
}

std::string HexEncode(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

std::string KeyId(std::string_view key) {
  return HexEncode(HmacSha256(key, kKeyIdLabel)).substr(0, kKeyIdHexDigits);
}

}  // namespace alambic
