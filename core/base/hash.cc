#include "core/base/hash.h"

#include <cstdio>
#include <cstring>
#include <memory>

#include <fmt/format.h>
#include <openssl/evp.h>

namespace alambic {

namespace {

// SHA-256 fetched once: with OpenSSL 3, EVP_sha256() makes every
// EVP_DigestInit_ex look the algorithm up again, which costs more than hashing
// a short field.
const EVP_MD* Sha256() {
  static const EVP_MD* md = [] {
    const EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    return fetched ? fetched : EVP_sha256();
  }();
  return md;
}

// The context of the last Hasher destroyed on this thread, for the next one.
struct SpareContext {
  EVP_MD_CTX* ctx = nullptr;
  ~SpareContext() { EVP_MD_CTX_free(ctx); }
};
thread_local SpareContext spare;

}  // namespace

Hasher::Hasher() {
  EVP_MD_CTX* ctx = spare.ctx;
  spare.ctx = nullptr;
  if (!ctx) ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, Sha256(), nullptr);
  ctx_ = ctx;
}

Hasher::~Hasher() {
  auto* ctx = static_cast<EVP_MD_CTX*>(ctx_);
  if (!spare.ctx)
    spare.ctx = ctx;
  else
    EVP_MD_CTX_free(ctx);
}

void Hasher::Flush() {
  if (buffered_) EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), buffer_, buffered_);
  buffered_ = 0;
}

Hasher& Hasher::Raw(const void* data, size_t n) {
  if (buffered_ + n > kBufferSize) {
    Flush();
    if (n >= kBufferSize) {
      EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data, n);
      return *this;
    }
  }
  if (n) std::memcpy(buffer_ + buffered_, data, n);
  buffered_ += n;
  return *this;
}

Hasher& Hasher::Field(std::string_view bytes) {
  const uint64_t n = bytes.size();
  Raw(&n, sizeof n);
  return Raw(bytes.data(), bytes.size());
}

std::string Hasher::HexDigest() {
  Flush();
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
