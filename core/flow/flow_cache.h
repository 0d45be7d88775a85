// The parsed-flow cache: when a flow file's content is unchanged, its Flow is
// read back from a compact binary entry instead of parsing the YAML again (like
// ninja's .ninja_deps or Bazel's action cache).
//
// One entry per flow file, <dir>/<slot>, where <dir> is normally
// <workspace>/.alambic/cache/flows and <slot> the hex SHA-256 of the file's
// workspace-relative path; a changed file overwrites its slot. An entry is:
//
//   magic    "ALFLOWC\n"                                          8 bytes
//   format   kFlowCacheFormat                          u32 little-endian
//   length   payload size in bytes                     u64 little-endian
//   key      SHA-256 (Hasher fields) of the format in decimal, the alambic
//            version, the relative path and the file content  64 hex digits
//   checksum SHA-256 of the payload                            64 hex digits
//   payload  the Flow, as EncodeFlow writes it
//
// An entry whose magic, format, length, key or checksum does not match, or
// whose payload does not decode to exactly its length, is a miss: the file is
// parsed again and the entry replaced. Entries are written to a temporary file
// then renamed (no fsync: losing one only costs a parse). Only flows parsed
// without any diagnostic are stored, so a hit never hides a problem.
//
// Thread-safety: a FlowCache is used by one thread; several processes may share
// a directory (each write is one rename).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/flow/flow.h"

namespace alambic {

// Bump when the entry layout, EncodeFlow, or what ParseFlow returns for the
// same text changes: every older entry then misses.
inline constexpr uint32_t kFlowCacheFormat =
    5;  // 3: schedule retries/overlap/timeouts; 4: resources; 5: schedule on_change

// The cache payload: every field of `flow`, including all locations and params,
// in declaration order: unsigned integers as LEB128 varints, signed ones
// zigzag-encoded, doubles as their 8 bytes (little-endian), strings and lists
// as a count then the items, optionals as a 0/1 byte then the value, a
// location's file as 0 when it is the flow's file (else its length + 1 and the
// bytes), params as a tree of tagged JSON values (objects with sorted keys).
// Fails (false) only for params that YAML cannot produce (binary JSON values,
// nesting deeper than 512).
bool EncodeFlow(const Flow& flow, std::string* out);
// Inverse of EncodeFlow; false (and `out` unspecified) when `bytes` is not
// exactly one encoded Flow.
bool DecodeFlow(std::string_view bytes, Flow* out);

class FlowCache {
 public:
  // Nothing is created until Store().
  explicit FlowCache(std::filesystem::path dir);

  // The Flow that ParseFlow(content, file) returned when it was stored, if the
  // slot of `file` holds a sound entry for exactly this content.
  bool Lookup(const std::string& file, std::string_view content, Flow* out) const;
  // Records `flow` as the parse of `content`. Best effort: creates the
  // directory if needed; any failure (read-only workspace, full disk) leaves the
  // cache as it was. Returns whether the entry was written.
  bool Store(const std::string& file, std::string_view content, const Flow& flow) const;
  // Removes the entries (and stray temporary files) of files not in `files`.
  void Prune(const std::vector<std::string>& files) const;

  const std::filesystem::path& dir() const { return dir_; }
  // The entry path for `file`.
  std::filesystem::path EntryPath(const std::string& file) const;

 private:
  std::filesystem::path dir_;
};

}  // namespace alambic
