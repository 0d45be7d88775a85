#include "core/base/hash.h"

#include <cstdio>
#include <memory>

#include <fmt/format.h>
#include <openssl/evp.h>

namespace alambic {

Hasher::Hasher() : ctx_(EVP_MD_CTX_new()) {
  EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), EVP_sha256(), nullptr);
}
Hasher::~Hasher() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }

Hasher& Hasher::Raw(const void* data, size_t n) {
  EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data, n);
  return *this;
}

Hasher& Hasher::Field(std::string_view bytes) {
  const uint64_t n = bytes.size();
  Raw(&n, sizeof n);
  return Raw(bytes.data(), bytes.size());
}

std::string Hasher::HexDigest() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), md, &len);
  static const char* kHex = "0123456789abcdef";
  std::string out(len * 2, '0');
  for (unsigned i = 0; i < len; ++i) {
    out[2 * i] = kHex[md[i] >> 4];
    out[2 * i + 1] = kHex[md[i] & 15];
  }
  return out;
}

std::string Sha256Hex(std::string_view bytes) {
  return Hasher().Raw(bytes.data(), bytes.size()).HexDigest();
}

Result<std::string> Sha256File(const std::filesystem::path& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) return Status::NotFound(fmt::format("{}: cannot open file", path.string()));
  Hasher h;
  std::string buf(1 << 20, '\0');
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f.get())) > 0) h.Raw(buf.data(), n);
  if (std::ferror(f.get())) return Status::IoError(fmt::format("{}: read error", path.string()));
  return h.HexDigest();
}

}  // namespace alambic
