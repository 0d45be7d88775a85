// HMAC-SHA256 (RFC 2104, RFC 4231) through OpenSSL: the one keyed hash of the
// engine, used for key fingerprints (core/base/secrets.h's KeyId) and for
// pseudonymisation (the clean recipe's `pseudonymise` step).
#pragma once

#include <string>
#include <string_view>

namespace alambic {

// HMAC-SHA256 under one key, over many messages: the key is set once, each
// message costs one init-update-final. Keeps no copy of the key in this object
// (OpenSSL's context holds it until destruction). Not thread-safe; one per
// thread. Not copyable.
class Hmac {
 public:
  explicit Hmac(std::string_view key);
  ~Hmac();
  Hmac(const Hmac&) = delete;
  Hmac& operator=(const Hmac&) = delete;

  // False when OpenSSL could not set up HMAC-SHA256 with this key; the other
  // calls then fail.
  bool ok() const { return ctx_ != nullptr; }
  // Appends the raw 32-byte MAC of `message` to `out`. False on an OpenSSL
  // failure (nothing appended).
  bool Digest(std::string_view message, std::string* out);
  // Appends the lower-case hex MAC of `message`, cut to its first `digits`
  // digits (at most 64), to `out`. False on an OpenSSL failure.
  bool Hex(std::string_view message, size_t digits, std::string* out);

 private:
  static constexpr size_t kDigestBytes = 32;
  // The MAC of `message` into `md`; false on an OpenSSL failure.
  bool Compute(std::string_view message, unsigned char (&md)[kDigestBytes]);

  void* mac_ = nullptr;  // EVP_MAC*
  void* ctx_ = nullptr;  // EVP_MAC_CTX*, keyed; nullptr when setting up failed
};

// Raw 32-byte HMAC-SHA256 of `message` under `key` ("" on an OpenSSL failure).
std::string HmacSha256(std::string_view key, std::string_view message);

// Lower-case hex of `bytes`.
std::string HexEncode(std::string_view bytes);

}  // namespace alambic
