// Opening a text input for the readers (CSV, JSON / NDJSON): decompression and
// character encoding, before any parsing.
//
// Compression is recognised by the file's first bytes (gzip, bzip2, xz, zstd,
// zip); a name ending in .gz .bz2 .xz .zst or .zip whose content lacks that
// format's signature is an error (a truncated or mislabelled file). Compressed
// input is read in blocks and decompressed as a stream (concatenated gzip,
// bzip2, xz and zstd streams are read whole); the decompressed size is bounded
// by `max_bytes` (an error past it, so that a small "zip bomb" cannot exhaust
// memory). A zip must hold one file (directories aside) unless `member` names
// one; with several files and no member the error lists them.
//
// Encoding: with `encoding` empty it is detected: valid UTF-8 (with or without
// a BOM) is UTF-8; else a UTF-16 byte-order mark (FF FE, FE FF) gives UTF-16LE
// / UTF-16BE; else Windows-1252. Any other encoding glibc's iconv knows
// (GB18030, ISO-8859-15, UTF-16LE, SHIFT_JIS, ...) can be given by name; text
// in it is transcoded to UTF-8 block by block. UTF-8, Latin-1 and Windows-1252
// are left as they are when `keep_single_byte` is set (the CSV reader converts
// them itself while parsing), else converted to UTF-8 here. An undecodable
// byte is an error naming the source, the encoding, the line and the byte
// offset, and suggesting the `encoding` parameter.
//
// Thread-safety: the functions are reentrant.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/diagnostic.h"
#include "core/base/status.h"

namespace alambic {

// 16 GiB: a decompressed input larger than this is refused unless allowed.
constexpr uint64_t kDefaultMaxDecodedBytes = uint64_t{16} << 30;

enum class Compression { kNone, kGzip, kBzip2, kXz, kZstd, kZip };
// "none", "gzip", "bzip2", "xz", "zstd", "zip".
const char* CompressionName(Compression c);
// By the first bytes of a file (kNone when no signature matches).
Compression CompressionFromMagic(std::string_view head);
// By a file name's extension (.gz .bz2 .xz .zst .zip, any case).
Compression CompressionFromName(std::string_view name);

// "utf-8", "latin-1" and "windows-1252" (with their aliases, as NormaliseEncoding in
// csv.h), else the name upper-cased when iconv can convert from it to UTF-8 ("GB18030",
// "UTF-16LE"), else "" (unknown).
std::string CanonicalEncoding(std::string_view name);

// Offset of the first byte of `s` that is not part of valid UTF-8, or npos.
size_t InvalidUtf8Offset(std::string_view s);

// For a text file that must be UTF-8 (YAML: flows, alambic.yaml, use-case cards): the
// diagnostic naming the line and column of its first byte that is not, or nullopt.
std::optional<Diagnostic> NotUtf8Diagnostic(std::string_view text, const std::string& file);

// Appends Latin-1 (`windows1252` false) or Windows-1252 text converted to UTF-8; the five
// bytes Windows-1252 leaves undefined become the C1 controls of the same value.
void AppendSingleByteAsUtf8(std::string& out, const char* p, size_t n, bool windows1252);

struct DecodeOptions {
  std::string encoding;  // "" detects; else a name CanonicalEncoding knows
  std::string member;    // in a zip archive: the member to read ("" when it holds one file)
  uint64_t max_bytes = kDefaultMaxDecodedBytes;  // decompressed size limit
  bool keep_single_byte = false;    // leave utf-8 / latin-1 / windows-1252 text unconverted
  std::string source_name;          // in messages (DecodeFile: the path by default)
  std::function<bool()> cancelled;  // may be empty; checked between blocks
};

class DecodedText {
 public:
  // The text: UTF-8, or Latin-1 / Windows-1252 with keep_single_byte (see encoding()).
  std::string_view text() const {
    const char* base = mapping_ ? static_cast<const char*>(mapping_.get()) : owned_.data();
    return std::string_view(base + begin_, size_);
  }
  // "utf-8", "latin-1" or "windows-1252": what text() is in.
  const std::string& encoding() const { return encoding_; }
  // What was decided, one line each, for the log: "encoding: detected windows-1252 (invalid
  // UTF-8 at byte 120, line 4)", "gzip: 1,234 bytes decompressed to 5,678".
  const std::vector<std::string>& notes() const { return notes_; }
  Compression compression() const { return compression_; }

 private:
  friend class Decoder;
  std::shared_ptr<const void> mapping_;  // a memory-mapped plain file, when one
  std::string owned_;
  size_t begin_ = 0, size_ = 0;  // text() within the mapping or owned_ (kept valid by moves)
  std::string encoding_ = "utf-8";
  std::vector<std::string> notes_;
  Compression compression_ = Compression::kNone;
};

// A missing file is NotFound. A plain file is memory-mapped (it must not be truncated while
// the result lives).
Result<DecodedText> DecodeFile(const std::filesystem::path& path, const DecodeOptions& opts);
// The same for bytes already in memory (an HTTP body, say); zip is not supported here.
Result<DecodedText> DecodeBuffer(std::string data, const DecodeOptions& opts);

}  // namespace alambic
