// Arrow IPC *file* format (Feather v2): the on-disk form of every dataset version.
//
// Layout (Apache Arrow columnar format, "IPC File Format"): the magic "ARROW1"
// padded to 8 bytes; encapsulated messages (0xFFFFFFFF, int32 metadata length,
// a flatbuffer Message padded to 8 bytes, then the body): the Schema, one
// DictionaryBatch per dictionary-encoded column, the RecordBatches, then the
// end-of-stream marker; the Footer flatbuffer (schema + blocks locating every
// batch), its int32 length, and "ARROW1". Little-endian, metadata version V5,
// buffers 8-byte aligned, no compression.
//
// Types: int64 <-> Int(64, signed); float64 <-> FloatingPoint(DOUBLE); bool <->
// Bool; utf8 <-> Utf8; date32 <-> Date(DAY); timestamp <-> Timestamp(MICROSECOND,
// "UTC"); dictionary-encoded utf8 <-> Utf8 with a DictionaryEncoding (int32
// indices). Reading also accepts narrower ints (widened), unsigned ints up to 32
// bits, Float32, LargeUtf8, Date(MILLISECOND) (floored to days), other
// timestamp units (floored to microseconds; values out of range are refused;
// time zones are ignored, a timestamp without one is taken as UTC), any integer
// index width, and delta dictionaries (appended in footer order). The stream
// format, UInt64, Float16 and nested types are refused with a clear error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/base/status.h"
#include "core/table/table.h"

namespace alambic {

// Receives bytes as they are produced.
class ByteSink {
 public:
  virtual ~ByteSink() = default;
  virtual Status Write(const void* data, size_t n) = 0;
};

// Buffered writes to a file descriptor it does not own (Flush before closing it).
class FdByteSink final : public ByteSink {
 public:
  explicit FdByteSink(int fd);
  Status Write(const void* data, size_t n) override;
  Status Flush();
  int64_t written() const { return written_; }

 private:
  Status WriteAll(const char* p, size_t n);
  int fd_;
  std::string buf_;
  int64_t written_ = 0;
};

// Writes `table` as one Arrow IPC file: record batches of at most `batch_rows` rows.
Status WriteArrowFile(const Table& table, ByteSink& sink, int64_t batch_rows = 1 << 20);
Result<std::string> WriteArrowFileToString(const Table& table, int64_t batch_rows = 1 << 20);
// Writes `table` to a new file at `path` (mode 0600; an existing file is replaced).
Status WriteArrowFileToPath(const Table& table, const std::string& path);

// Reads a whole Arrow IPC file (all record batches concatenated). Every offset
// and length is bounds-checked: a truncated or corrupt file gives Invalid with a
// message naming what was wrong, never a crash.
Result<Table> ReadArrowFile(const std::string& path);
Result<Table> ReadArrowBuffer(const uint8_t* data, size_t size);

}  // namespace alambic
