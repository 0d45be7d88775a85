#include "core/base/hmac.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

namespace alambic {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";
constexpr unsigned kHighNibbleShift = 4;
constexpr unsigned char kLowNibbleMask = 0x0f;

EVP_MAC* Mac(void* p) { return static_cast<EVP_MAC*>(p); }
EVP_MAC_CTX* Ctx(void* p) { return static_cast<EVP_MAC_CTX*>(p); }

}  // namespace

Hmac::Hmac(std::string_view key) {
  mac_ = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  EVP_MAC_CTX* ctx = mac_ ? EVP_MAC_CTX_new(Mac(mac_)) : nullptr;
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  if (ctx && EVP_MAC_init(ctx, reinterpret_cast<const unsigned char*>(key.data()), key.size(),
                          params) == 1) {
    ctx_ = ctx;
  } else {
    EVP_MAC_CTX_free(ctx);
  }
}

Hmac::~Hmac() {
  EVP_MAC_CTX_free(Ctx(ctx_));
  EVP_MAC_free(Mac(mac_));
}

bool Hmac::Compute(std::string_view message, unsigned char (&md)[kDigestBytes]) {
  size_t len = 0;
  // Init with no key restarts the context under the key it was given.
  return ctx_ && EVP_MAC_init(Ctx(ctx_), nullptr, 0, nullptr) == 1 &&
         EVP_MAC_update(Ctx(ctx_), reinterpret_cast<const unsigned char*>(message.data()),
                        message.size()) == 1 &&
         EVP_MAC_final(Ctx(ctx_), md, &len, sizeof md) == 1 && len == kDigestBytes;
}

bool Hmac::Digest(std::string_view message, std::string* out) {
  unsigned char md[kDigestBytes];
  if (!Compute(message, md)) return false;
  out->append(reinterpret_cast<const char*>(md), sizeof md);
  return true;
}

bool Hmac::Hex(std::string_view message, size_t digits, std::string* out) {
  unsigned char md[kDigestBytes];
  if (!Compute(message, md)) return false;
  size_t written = 0;
  for (size_t k = 0; k < sizeof md && written < digits; ++k) {
    out->push_back(kHexDigits[md[k] >> kHighNibbleShift]);
    if (++written < digits) {
      out->push_back(kHexDigits[md[k] & kLowNibbleMask]);
      ++written;
    }
  }
  return true;
}

std::string HmacSha256(std::string_view key, std::string_view message) {
  Hmac mac(key);
  std::string out;
  if (!mac.Digest(message, &out)) return {};
  return out;
}

std::string HexEncode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kHexDigits[c >> kHighNibbleShift]);
    out.push_back(kHexDigits[c & kLowNibbleMask]);
  }
  return out;
}

}  // namespace alambic
