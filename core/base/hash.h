// Content hashing (SHA-256 through OpenSSL) for version ids and fingerprints.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "core/base/status.h"

namespace alambic {

// Incremental SHA-256. Not thread-safe; one per thread. Cheap to make: small
// inputs are buffered, and each thread reuses its last OpenSSL context.
class Hasher {
 public:
  Hasher();
  ~Hasher();
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;
  // Adds a length-prefixed field, so ("ab","c") and ("a","bc") differ.
  Hasher& Field(std::string_view bytes);
  Hasher& Raw(const void* data, size_t n);
  // Lower-case hex digest; the hasher cannot be used afterwards.
  std::string HexDigest();

 private:
  void Flush();
  static constexpr size_t kBufferSize = 512;
  void* ctx_;
  size_t buffered_ = 0;
  unsigned char buffer_[kBufferSize];
};

std::string Sha256Hex(std::string_view bytes);
// Hash of a file's content, read in chunks.
Result<std::string> Sha256File(const std::filesystem::path& path);

}  // namespace alambic
