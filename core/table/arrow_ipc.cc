#include "core/table/arrow_ipc.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <optional>

#include <fmt/format.h>

namespace alambic {

static_assert(std::endian::native == std::endian::little, "Arrow files are written little-endian");

namespace {

// ---- Arrow flatbuffer schema constants (Schema.fbs, Message.fbs, File.fbs) ----
constexpr uint8_t kTypeInt = 2, kTypeFloatingPoint = 3, kTypeUtf8 = 5, kTypeBool = 6, kTypeDate = 8,
                  kTypeTimestamp = 10, kTypeLargeUtf8 = 20;
constexpr uint8_t kHeaderSchema = 1, kHeaderDictionaryBatch = 2, kHeaderRecordBatch = 3;
constexpr int16_t kMetadataV5 = 4;
constexpr int16_t kPrecisionSingle = 1, kPrecisionDouble = 2;
constexpr int16_t kDateUnitDay = 0, kDateUnitMillisecond = 1;
constexpr int16_t kTimeUnitSecond = 0, kTimeUnitMilli = 1, kTimeUnitMicro = 2, kTimeUnitNano = 3;
constexpr char kMagic[] = "ARROW1";
constexpr size_t kMagicLen = 6;
constexpr uint32_t kContinuation = 0xFFFFFFFF;

size_t Pad8(size_t n) { return (n + 7) & ~size_t{7}; }

// memcpy for a count that may be 0: the pointers of an empty vector or buffer
// may then be null, which memcpy does not allow (UBSan reports it) even for 0
// bytes. Zero-row batches and columns are common (an empty table, an empty
// batch written by apache-arrow).
void CopyBytes(void* dst, const void* src, size_t n) {
  if (n) std::memcpy(dst, src, n);
}

// ---- A minimal flatbuffer builder -------------------------------------------
// Objects are laid out front to back: the root offset, then each object after
// the one that references it (breadth first), so every uoffset points forward
// as the format requires. Tables are preceded by their vtable; scalars are
// aligned to their size from the buffer start.
class FbBuilder {
 public:
  using Ref = int;

  Ref Table() {
    objs_.push_back({Obj::kTable, {}, {}, {}});
    return static_cast<Ref>(objs_.size() - 1);
  }
  template <typename T>
  void Add(Ref table, int id, T value) {
    uint64_t bits = 0;
    std::memcpy(&bits, &value, sizeof(T));
    objs_[static_cast<size_t>(table)].fields.push_back({id, static_cast<int>(sizeof(T)), bits, -1});
  }
  void AddRef(Ref table, int id, Ref child) {
    objs_[static_cast<size_t>(table)].fields.push_back({id, 4, 0, child});
  }
  Ref String(std::string_view s) {
    objs_.push_back({Obj::kString, {}, std::string(s), {}});
    return static_cast<Ref>(objs_.size() - 1);
  }
  Ref Vector(std::vector<Ref> children) {
    objs_.push_back({Obj::kOffsetVector, {}, {}, std::move(children)});
    return static_cast<Ref>(objs_.size() - 1);
  }
  // A vector of structs (or 8-byte scalars): raw bytes, elements 8-aligned.
  Ref StructVector(const void* data, size_t count, size_t elem_size) {
    Obj o{
        Obj::kStructVector, {}, std::string(static_cast<const char*>(data), count * elem_size), {}};
    o.count = count;
    objs_.push_back(std::move(o));
    return static_cast<Ref>(objs_.size() - 1);
  }

  std::string Finish(Ref root) {
    out_.assign(4, '\0');
    std::vector<size_t> pos(objs_.size(), 0);
    std::vector<std::pair<size_t, Ref>> patches{{0, root}};
    std::deque<Ref> queue{root};
    while (!queue.empty()) {
      Ref r = queue.front();
      queue.pop_front();
      const Obj& o = objs_[static_cast<size_t>(r)];
      switch (o.kind) {
        case Obj::kTable:
          pos[static_cast<size_t>(r)] = WriteTable(o, &patches, &queue);
          break;
        case Obj::kString: {
          AlignTo(4, 0);
          pos[static_cast<size_t>(r)] = out_.size();
          PutU32(static_cast<uint32_t>(o.bytes.size()));
          out_ += o.bytes;
          out_.push_back('\0');
          break;
        }
        case Obj::kOffsetVector: {
          AlignTo(4, 0);
          pos[static_cast<size_t>(r)] = out_.size();
          PutU32(static_cast<uint32_t>(o.children.size()));
          for (Ref c : o.children) {
            patches.emplace_back(out_.size(), c);
            PutU32(0);
            queue.push_back(c);
          }
          break;
        }
        case Obj::kStructVector: {
          AlignTo(8, 4);  // the length sits just before 8-aligned elements
          pos[static_cast<size_t>(r)] = out_.size();
          PutU32(static_cast<uint32_t>(o.count));
          out_ += o.bytes;
          break;
        }
      }
    }
    for (auto [at, child] : patches) {
      uint32_t rel = static_cast<uint32_t>(pos[static_cast<size_t>(child)] - at);
      std::memcpy(out_.data() + at, &rel, 4);
    }
    out_.resize(Pad8(out_.size()), '\0');
    return std::move(out_);
  }

 private:
  struct Field {
    int id;
    int size;
    uint64_t bits;
    Ref child;
  };
  struct Obj {
    enum Kind { kTable, kString, kOffsetVector, kStructVector } kind;
    std::vector<Field> fields;
    std::string bytes;
    std::vector<Ref> children;
    size_t count = 0;
  };

  void PutU32(uint32_t v) { out_.append(reinterpret_cast<const char*>(&v), 4); }
  void PutU16(uint16_t v) { out_.append(reinterpret_cast<const char*>(&v), 2); }
  // Pads until size % align == rem.
  void AlignTo(size_t align, size_t rem) {
    while (out_.size() % align != rem) out_.push_back('\0');
  }

  size_t WriteTable(const Obj& o, std::vector<std::pair<size_t, Ref>>* patches,
                    std::deque<Ref>* queue) {
    std::vector<Field> fields = o.fields;
    std::stable_sort(fields.begin(), fields.end(),
                     [](const Field& a, const Field& b) { return a.size > b.size; });
    int max_id = -1;
    for (const auto& f : fields) max_id = std::max(max_id, f.id);
    std::vector<uint16_t> slot(static_cast<size_t>(max_id + 1), 0);
    size_t off = 4;  // after the soffset to the vtable
    std::vector<size_t> field_off;
    for (const auto& f : fields) {
      off = (off + static_cast<size_t>(f.size) - 1) / static_cast<size_t>(f.size) *
            static_cast<size_t>(f.size);
      field_off.push_back(off);
      slot[static_cast<size_t>(f.id)] = static_cast<uint16_t>(off);
      off += static_cast<size_t>(f.size);
    }
    const size_t table_size = off;
    AlignTo(2, 0);
    const size_t vt = out_.size();
    PutU16(static_cast<uint16_t>(4 + 2 * slot.size()));
    PutU16(static_cast<uint16_t>(table_size));
    for (uint16_t s : slot) PutU16(s);
    AlignTo(8, 0);
    const size_t table = out_.size();
    out_.resize(table + table_size, '\0');
    int32_t soff = static_cast<int32_t>(table - vt);
    std::memcpy(out_.data() + table, &soff, 4);
    for (size_t i = 0; i < fields.size(); ++i) {
      const Field& f = fields[i];
      if (f.child >= 0) {
        patches->emplace_back(table + field_off[i], f.child);
        queue->push_back(f.child);
      } else {
        std::memcpy(out_.data() + table + field_off[i], &f.bits, static_cast<size_t>(f.size));
      }
    }
    return table;
  }

  std::vector<Obj> objs_;
  std::string out_;
};

// ---- A bounds-checked flatbuffer reader ----------------------------------------
// The first problem found is kept in `error`; reads after it return defaults.
struct FbBuffer {
  const uint8_t* data;
  size_t size;
  std::string error;

  bool Check(size_t off, size_t len, const char* what) {
    if (!error.empty()) return false;
    if (off > size || len > size - off) {
      error = fmt::format("{} at offset {} (+{}) is outside the {}-byte metadata", what, off, len,
                          size);
      return false;
    }
    return true;
  }
  template <typename T>
  T Read(size_t off, const char* what) {
    T v{};
    if (Check(off, sizeof(T), what)) std::memcpy(&v, data + off, sizeof(T));
    return v;
  }
};

class FbTable {
 public:
  FbTable() = default;
  FbTable(FbBuffer* b, size_t pos) : b_(b), pos_(pos) {
    int32_t soff = b->Read<int32_t>(pos, "table");
    int64_t vt = static_cast<int64_t>(pos) - soff;
    if (vt < 0 || static_cast<uint64_t>(vt) > b->size) {
      if (b->error.empty())
        b->error = fmt::format("vtable of table at {} is outside the metadata", pos);
      return;
    }
    vt_ = static_cast<size_t>(vt);
    vt_size_ = b->Read<uint16_t>(vt_, "vtable");
    if (vt_size_ < 4 || vt_size_ % 2) {
      if (b->error.empty()) b->error = fmt::format("bad vtable size {} at {}", vt_size_, vt_);
      vt_size_ = 0;
    }
    b->Check(vt_, vt_size_, "vtable");
    valid_ = b->error.empty();
  }
  bool valid() const { return valid_; }

  // Absolute position of field `id`, or 0 when absent.
  size_t FieldPos(int id) const {
    if (!valid_) return 0;
    size_t slot = 4 + 2 * static_cast<size_t>(id);
    if (slot + 2 > vt_size_) return 0;
    uint16_t off = b_->Read<uint16_t>(vt_ + slot, "vtable slot");
    return off ? pos_ + off : 0;
  }
  template <typename T>
  T Get(int id, T def) const {
    size_t p = FieldPos(id);
    return p ? b_->Read<T>(p, "field") : def;
  }
  // Follows a uoffset field.
  std::optional<size_t> Deref(int id) const {
    size_t p = FieldPos(id);
    if (!p) return std::nullopt;
    uint32_t rel = b_->Read<uint32_t>(p, "offset");
    if (!b_->Check(p + rel, 4, "referenced object")) return std::nullopt;
    return p + rel;
  }
  std::optional<FbTable> Table(int id) const {
    auto p = Deref(id);
    if (!p) return std::nullopt;
    FbTable t(b_, *p);
    if (!t.valid()) return std::nullopt;
    return t;
  }
  std::string String(int id) const {
    auto p = Deref(id);
    if (!p) return "";
    uint32_t n = b_->Read<uint32_t>(*p, "string length");
    if (!b_->Check(*p + 4, n, "string")) return "";
    return std::string(reinterpret_cast<const char*>(b_->data + *p + 4), n);
  }
  // A vector: position of the first element and the count (elements of elem_size bytes).
  std::pair<size_t, uint32_t> Vector(int id, size_t elem_size) const {
    auto p = Deref(id);
    if (!p) return {0, 0};
    uint32_t n = b_->Read<uint32_t>(*p, "vector length");
    if (!b_->Check(*p + 4, static_cast<size_t>(n) * elem_size, "vector")) return {0, 0};
    return {*p + 4, n};
  }
  // Element i of a vector of tables.
  std::optional<FbTable> TableAt(size_t elems, uint32_t i) const {
    size_t at = elems + 4 * static_cast<size_t>(i);
    uint32_t rel = b_->Read<uint32_t>(at, "offset");
    if (!b_->Check(at + rel, 4, "table")) return std::nullopt;
    FbTable t(b_, at + rel);
    if (!t.valid()) return std::nullopt;
    return t;
  }
  FbBuffer* buffer() const { return b_; }

 private:
  FbBuffer* b_ = nullptr;
  size_t pos_ = 0, vt_ = 0;
  uint16_t vt_size_ = 0;
  bool valid_ = false;
};

// ---- Writing ---------------------------------------------------------------------

class CountingSink {
 public:
  explicit CountingSink(ByteSink& sink) : sink_(sink) {}
  Status Write(const void* d, size_t n) {
    pos_ += static_cast<int64_t>(n);
    return sink_.Write(d, n);
  }
  Status Zeros(size_t n) {
    static const char kZeros[8] = {};
    while (n > 0) {
      size_t k = std::min(n, sizeof kZeros);
      ALAMBIC_RETURN_IF_ERROR(Write(kZeros, k));
      n -= k;
    }
    return Status::Ok();
  }
  int64_t pos() const { return pos_; }

 private:
  ByteSink& sink_;
  int64_t pos_ = 0;
};

struct BlockRec {
  int64_t offset;
  int32_t meta_len;
  int32_t pad;
  int64_t body_len;
};
static_assert(sizeof(BlockRec) == 24);

struct FieldNodeRec {
  int64_t length, null_count;
};
struct BufferRec {
  int64_t offset, length;
};

// The body of one batch: buffers, each 8-byte padded, referenced by offset.
struct Body {
  std::vector<FieldNodeRec> nodes;
  std::vector<BufferRec> buffers;
  std::vector<std::pair<const uint8_t*, size_t>> pieces;  // borrowed or owned below
  std::deque<std::vector<uint8_t>> owned;
  int64_t length = 0;

  void Add(const uint8_t* p, size_t n) {
    buffers.push_back({length, static_cast<int64_t>(n)});
    pieces.emplace_back(p, n);
    length += static_cast<int64_t>(Pad8(n));
  }
  void AddOwned(std::vector<uint8_t> v) {
    owned.push_back(std::move(v));
    Add(owned.back().data(), owned.back().size());
  }
  // A buffer of n bytes the caller fills (not zeroed first: every byte gets written).
  uint8_t* AddUninitialised(size_t n) {
    raw.emplace_back(new uint8_t[n]);
    Add(raw.back().get(), n);
    return raw.back().get();
  }
  std::deque<std::unique_ptr<uint8_t[]>> raw;
};

// Bits [start, start+n) of an LSB bitmap, as a new bitmap starting at bit 0.
std::vector<uint8_t> SliceBits(const std::vector<uint8_t>& bits, int64_t start, int64_t n) {
  std::vector<uint8_t> out(static_cast<size_t>((n + 7) / 8), 0);
  if (start % 8 == 0) {
    CopyBytes(out.data(), bits.data() + start / 8, out.size());
    if (n % 8) out.back() &= static_cast<uint8_t>((1u << (n % 8)) - 1);
    return out;
  }
  for (int64_t i = 0; i < n; ++i) {
    int64_t j = start + i;
    if ((bits[static_cast<size_t>(j >> 3)] >> (j & 7)) & 1)
      out[static_cast<size_t>(i >> 3)] |= static_cast<uint8_t>(1u << (i & 7));
  }
  return out;
}

int64_t CountNulls(const Column& c, int64_t start, int64_t n) {
  if (c.null_count == 0) return 0;
  if (start == 0 && n == c.length) return c.null_count;
  int64_t valid = 0;
  for (int64_t i = start; i < start + n; ++i) valid += c.IsValid(i);
  return n - valid;
}

// Appends the node and buffers of rows [start, start+n) of `c` (a plain or
// dictionary-index column) to `body`.
// Adds bits [start, start+n) of an LSB bitmap: the column's own bytes when they start on a
// byte and the bits past the end are already 0 (the file holds the same bytes), else a copy.
void AddBits(const std::vector<uint8_t>& bits, int64_t start, int64_t n, Body* body) {
  const auto first = static_cast<size_t>(start / 8);
  const auto bytes = static_cast<size_t>((n + 7) / 8);
  if (start % 8 == 0 && first + bytes <= bits.size() &&
      (n % 8 == 0 || (bits[first + bytes - 1] >> (n % 8)) == 0)) {
    body->Add(bits.data() + first, bytes);
    return;
  }
  body->AddOwned(SliceBits(bits, start, n));
}

void AddColumn(const Column& c, int64_t start, int64_t n, Body* body) {
  const int64_t nulls = CountNulls(c, start, n);
  body->nodes.push_back({n, nulls});
  if (nulls == 0) {
    body->Add(nullptr, 0);
  } else {
    AddBits(c.validity, start, n, body);
  }
  if (c.is_dictionary()) {
    body->Add(c.data.data() + start * 4, static_cast<size_t>(n) * 4);
    return;
  }
  switch (c.type) {
    case TypeId::kBool:
      AddBits(c.data, start, n, body);
      break;
    case TypeId::kUtf8: {
      const int32_t base = c.offsets[static_cast<size_t>(start)];
      const size_t offs_bytes = static_cast<size_t>(n + 1) * 4;
      if (base == 0) {  // the first batch: the column's offsets as they are
        body->Add(reinterpret_cast<const uint8_t*>(c.offsets.data() + start), offs_bytes);
      } else {
        auto* o = reinterpret_cast<int32_t*>(body->AddUninitialised(offs_bytes));
        for (int64_t i = 0; i <= n; ++i) o[i] = c.offsets[static_cast<size_t>(start + i)] - base;
      }
      body->Add(c.data.data() + base,
                static_cast<size_t>(c.offsets[static_cast<size_t>(start + n)] - base));
      break;
    }
    default: {
      const size_t w = static_cast<size_t>(FixedWidth(c.type));
      body->Add(c.data.data() + static_cast<size_t>(start) * w, static_cast<size_t>(n) * w);
    }
  }
}

FbBuilder::Ref TypeTable(FbBuilder& fb, TypeId t, uint8_t* type_id) {
  FbBuilder::Ref r = fb.Table();
  switch (t) {
    case TypeId::kInt64:
      *type_id = kTypeInt;
      fb.Add<int32_t>(r, 0, 64);
      fb.Add<uint8_t>(r, 1, 1);
      break;
    case TypeId::kFloat64:
      *type_id = kTypeFloatingPoint;
      fb.Add<int16_t>(r, 0, kPrecisionDouble);
      break;
    case TypeId::kBool:
      *type_id = kTypeBool;
      break;
    case TypeId::kUtf8:
      *type_id = kTypeUtf8;
      break;
    case TypeId::kDate32:
      *type_id = kTypeDate;
      fb.Add<int16_t>(r, 0, kDateUnitDay);
      break;
    case TypeId::kTimestamp:
      *type_id = kTypeTimestamp;
      fb.Add<int16_t>(r, 0, kTimeUnitMicro);
      fb.AddRef(r, 1, fb.String("UTC"));
      break;
  }
  return r;
}

FbBuilder::Ref SchemaTable(FbBuilder& fb, const Table& t) {
  std::vector<FbBuilder::Ref> fields;
  for (int i = 0; i < t.num_columns(); ++i) {
    const Field& f = t.schema().fields[static_cast<size_t>(i)];
    FbBuilder::Ref field = fb.Table();
    fb.AddRef(field, 0, fb.String(f.name));
    fb.Add<uint8_t>(field, 1, f.nullable ? 1 : 0);
    uint8_t type_id = 0;
    FbBuilder::Ref type = TypeTable(fb, f.type, &type_id);
    fb.Add<uint8_t>(field, 2, type_id);
    fb.AddRef(field, 3, type);
    if (t.column(i)->is_dictionary()) {
      FbBuilder::Ref enc = fb.Table();
      fb.Add<int64_t>(enc, 0, i);
      FbBuilder::Ref index = fb.Table();
      fb.Add<int32_t>(index, 0, 32);
      fb.Add<uint8_t>(index, 1, 1);
      fb.AddRef(enc, 1, index);
      fb.Add<uint8_t>(enc, 2, 0);
      fb.AddRef(field, 4, enc);
    }
    fb.AddRef(field, 5, fb.Vector({}));
    fields.push_back(field);
  }
  FbBuilder::Ref schema = fb.Table();
  fb.Add<int16_t>(schema, 0, 0);  // little-endian
  fb.AddRef(schema, 1, fb.Vector(std::move(fields)));
  return schema;
}

FbBuilder::Ref RecordBatchTable(FbBuilder& fb, int64_t length, const Body& body) {
  FbBuilder::Ref rb = fb.Table();
  fb.Add<int64_t>(rb, 0, length);
  fb.AddRef(rb, 1, fb.StructVector(body.nodes.data(), body.nodes.size(), sizeof(FieldNodeRec)));
  fb.AddRef(rb, 2, fb.StructVector(body.buffers.data(), body.buffers.size(), sizeof(BufferRec)));
  return rb;
}

std::string MessageBytes(FbBuilder& fb, uint8_t header_type, FbBuilder::Ref header,
                         int64_t body_len) {
  FbBuilder::Ref msg = fb.Table();
  fb.Add<int16_t>(msg, 0, kMetadataV5);
  fb.Add<uint8_t>(msg, 1, header_type);
  fb.AddRef(msg, 2, header);
  fb.Add<int64_t>(msg, 3, body_len);
  return fb.Finish(msg);
}

// Writes one encapsulated message; returns its block.
Result<BlockRec> WriteMessage(CountingSink& out, const std::string& meta, const Body* body) {
  BlockRec block{out.pos(), static_cast<int32_t>(8 + meta.size()), 0, body ? body->length : 0};
  const uint32_t cont = kContinuation;
  const int32_t len = static_cast<int32_t>(meta.size());
  ALAMBIC_RETURN_IF_ERROR(out.Write(&cont, 4));
  ALAMBIC_RETURN_IF_ERROR(out.Write(&len, 4));
  ALAMBIC_RETURN_IF_ERROR(out.Write(meta.data(), meta.size()));
  if (body) {
    for (const auto& [p, n] : body->pieces) {
      if (n) ALAMBIC_RETURN_IF_ERROR(out.Write(p, n));
      ALAMBIC_RETURN_IF_ERROR(out.Zeros(Pad8(n) - n));
    }
  }
  return block;
}

class StringSink final : public ByteSink {
 public:
  Status Write(const void* d, size_t n) override {
    s.append(static_cast<const char*>(d), n);
    return Status::Ok();
  }
  std::string s;
};

}  // namespace

constexpr size_t kFdWriteBuffer = 1 << 20;

FdByteSink::FdByteSink(int fd) : fd_(fd) { buf_.reserve(kFdWriteBuffer); }

Status FdByteSink::Write(const void* data, size_t n) {
  if (buf_.size() + n > kFdWriteBuffer) ALAMBIC_RETURN_IF_ERROR(Flush());
  if (n >= kFdWriteBuffer) return WriteAll(static_cast<const char*>(data), n);
  buf_.append(static_cast<const char*>(data), n);
  return Status::Ok();
}

Status FdByteSink::Flush() {
  Status st = WriteAll(buf_.data(), buf_.size());
  buf_.clear();
  return st;
}

Status FdByteSink::WriteAll(const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd_, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return Status::IoError(fmt::format("write failed: {}", std::strerror(errno)));
    }
    p += w;
    n -= static_cast<size_t>(w);
    written_ += w;
  }
  return Status::Ok();
}

Status WriteArrowFileToPath(const Table& table, const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::IoError(fmt::format("{}: {}", path, std::strerror(errno)));
  FdByteSink sink(fd);
  Status st = WriteArrowFile(table, sink);
  if (st.ok()) st = sink.Flush();
  if (::close(fd) != 0 && st.ok())
    st = Status::IoError(fmt::format("close: {}", std::strerror(errno)));
  return st.ok() ? st : st.WithContext(path);
}

Status WriteArrowFile(const Table& table, ByteSink& sink, int64_t batch_rows) {
  if (batch_rows <= 0) batch_rows = 1 << 20;
  CountingSink out(sink);
  ALAMBIC_RETURN_IF_ERROR(out.Write(kMagic, kMagicLen));
  ALAMBIC_RETURN_IF_ERROR(out.Zeros(2));
  {
    FbBuilder fb;
    std::string meta = MessageBytes(fb, kHeaderSchema, SchemaTable(fb, table), 0);
    ALAMBIC_RETURN_IF_ERROR(WriteMessage(out, meta, nullptr).status());
  }
  std::vector<BlockRec> dict_blocks, batch_blocks;
  for (int i = 0; i < table.num_columns(); ++i) {
    const Column& c = *table.column(i);
    if (!c.is_dictionary()) continue;
    Body body;
    AddColumn(*c.dictionary, 0, c.dictionary->length, &body);
    FbBuilder fb;
    FbBuilder::Ref db = fb.Table();
    fb.Add<int64_t>(db, 0, i);
    fb.AddRef(db, 1, RecordBatchTable(fb, c.dictionary->length, body));
    std::string meta = MessageBytes(fb, kHeaderDictionaryBatch, db, body.length);
    ALAMBIC_ASSIGN_OR_RETURN(BlockRec b, WriteMessage(out, meta, &body));
    dict_blocks.push_back(b);
  }
  const int64_t rows = table.num_rows();
  for (int64_t start = 0; start < rows || (rows == 0 && start == 0); start += batch_rows) {
    const int64_t n = std::min(batch_rows, rows - start);
    Body body;
    for (const auto& c : table.columns()) AddColumn(*c, start, n, &body);
    FbBuilder fb;
    std::string meta =
        MessageBytes(fb, kHeaderRecordBatch, RecordBatchTable(fb, n, body), body.length);
    ALAMBIC_ASSIGN_OR_RETURN(BlockRec b, WriteMessage(out, meta, &body));
    batch_blocks.push_back(b);
    if (rows == 0) break;
  }
  const uint32_t eos[2] = {kContinuation, 0};
  ALAMBIC_RETURN_IF_ERROR(out.Write(eos, 8));
  FbBuilder fb;
  FbBuilder::Ref footer = fb.Table();
  fb.Add<int16_t>(footer, 0, kMetadataV5);
  fb.AddRef(footer, 1, SchemaTable(fb, table));
  fb.AddRef(footer, 2, fb.StructVector(dict_blocks.data(), dict_blocks.size(), sizeof(BlockRec)));
  fb.AddRef(footer, 3, fb.StructVector(batch_blocks.data(), batch_blocks.size(), sizeof(BlockRec)));
  std::string meta = fb.Finish(footer);
  ALAMBIC_RETURN_IF_ERROR(out.Write(meta.data(), meta.size()));
  const int32_t footer_len = static_cast<int32_t>(meta.size());
  ALAMBIC_RETURN_IF_ERROR(out.Write(&footer_len, 4));
  return out.Write(kMagic, kMagicLen);
}

Result<std::string> WriteArrowFileToString(const Table& table, int64_t batch_rows) {
  StringSink sink;
  ALAMBIC_RETURN_IF_ERROR(WriteArrowFile(table, sink, batch_rows));
  return std::move(sink.s);
}

// ---- Reading ------------------------------------------------------------------

namespace {

// How a file field's physical type maps to ours.
struct FieldType {
  TypeId type = TypeId::kUtf8;
  enum Phys {
    kInt,
    kFloat32,
    kFloat64,
    kBool,
    kUtf8,
    kLargeUtf8,
    kDateDay,
    kDateMs,
    kTimestamp
  } phys = kUtf8;
  int bit_width = 64;
  bool is_signed = true;
  int64_t ts_divisor = 1, ts_multiplier = 1;  // to microseconds
};

struct FileField {
  std::string name;
  bool nullable = true;
  FieldType type;
  bool dictionary = false;
  int64_t dict_id = 0;
  int index_width = 32;
  bool index_signed = true;
};

Status Invalid(const std::string& what) { return Status::Invalid("arrow file: " + what); }

Result<FieldType> ReadType(const FbTable& field, const std::string& name) {
  FieldType ft;
  uint8_t tid = field.Get<uint8_t>(2, 0);
  std::optional<FbTable> t = field.Table(3);
  auto unsupported = [&](const std::string& what) {
    return Invalid(fmt::format("column '{}' has unsupported type {}", name, what));
  };
  if (!t && tid != 0) return Invalid(fmt::format("column '{}' has no type table", name));
  switch (tid) {
    case kTypeInt: {
      ft.phys = FieldType::kInt;
      ft.bit_width = t->Get<int32_t>(0, 0);
      ft.is_signed = t->Get<uint8_t>(1, 0) != 0;
      if (ft.bit_width != 8 && ft.bit_width != 16 && ft.bit_width != 32 && ft.bit_width != 64)
        return unsupported(fmt::format("Int({})", ft.bit_width));
      if (ft.bit_width == 64 && !ft.is_signed) return unsupported("UInt64");
      ft.type = TypeId::kInt64;
      return ft;
    }
    case kTypeFloatingPoint: {
      int16_t p = t->Get<int16_t>(0, 0);
      if (p == kPrecisionDouble)
        ft.phys = FieldType::kFloat64;
      else if (p == kPrecisionSingle)
        ft.phys = FieldType::kFloat32;
      else
        return unsupported("Float16");
      ft.type = TypeId::kFloat64;
      return ft;
    }
    case kTypeBool:
      ft.phys = FieldType::kBool;
      ft.type = TypeId::kBool;
      return ft;
    case kTypeUtf8:
      ft.phys = FieldType::kUtf8;
      ft.type = TypeId::kUtf8;
      return ft;
    case kTypeLargeUtf8:
      ft.phys = FieldType::kLargeUtf8;
      ft.type = TypeId::kUtf8;
      return ft;
    case kTypeDate: {
      int16_t unit = t->Get<int16_t>(0, kDateUnitMillisecond);
      ft.phys = unit == kDateUnitDay ? FieldType::kDateDay : FieldType::kDateMs;
      ft.type = TypeId::kDate32;
      return ft;
    }
    case kTypeTimestamp: {
      int16_t unit = t->Get<int16_t>(0, kTimeUnitSecond);
      ft.phys = FieldType::kTimestamp;
      ft.type = TypeId::kTimestamp;
      if (unit == kTimeUnitSecond)
        ft.ts_multiplier = 1000000;
      else if (unit == kTimeUnitMilli)
        ft.ts_multiplier = 1000;
      else if (unit == kTimeUnitNano)
        ft.ts_divisor = 1000;
      else if (unit != kTimeUnitMicro)
        return unsupported(fmt::format("Timestamp(unit {})", unit));
      return ft;
    }
    default:
      return unsupported(fmt::format("(flatbuffer type id {})", tid));
  }
}

Result<std::vector<FileField>> ReadSchema(const FbTable& schema) {
  if (schema.Get<int16_t>(0, 0) != 0) return Invalid("big-endian files are not supported");
  auto [elems, n] = schema.Vector(1, 4);
  std::vector<FileField> out;
  for (uint32_t i = 0; i < n; ++i) {
    auto f = schema.TableAt(elems, i);
    if (!f) return Invalid(fmt::format("field {} of the schema is unreadable", i));
    FileField ff;
    ff.name = f->String(0);
    ff.nullable = f->Get<uint8_t>(1, 0) != 0;
    auto [celems, nchildren] = f->Vector(5, 4);
    (void)celems;
    if (nchildren != 0)
      return Invalid(fmt::format("column '{}' has nested children (unsupported)", ff.name));
    ALAMBIC_ASSIGN_OR_RETURN(ff.type, ReadType(*f, ff.name));
    if (auto enc = f->Table(4)) {
      ff.dictionary = true;
      ff.dict_id = enc->Get<int64_t>(0, 0);
      if (auto idx = enc->Table(1)) {
        ff.index_width = idx->Get<int32_t>(0, 32);
        ff.index_signed = idx->Get<uint8_t>(1, 0) != 0;
      }
      if (ff.index_width != 8 && ff.index_width != 16 && ff.index_width != 32 &&
          ff.index_width != 64)
        return Invalid(
            fmt::format("column '{}' has dictionary index width {}", ff.name, ff.index_width));
      if (ff.type.type != TypeId::kUtf8)
        return Invalid(fmt::format("column '{}': only utf8 dictionaries are supported", ff.name));
    }
    if (!schema.buffer()->error.empty()) return Invalid(schema.buffer()->error);
    out.push_back(std::move(ff));
  }
  if (!schema.buffer()->error.empty()) return Invalid(schema.buffer()->error);
  return out;
}

// One record batch's nodes and buffers, checked against its body.
class BatchReader {
 public:
  BatchReader(const FbTable& rb, const uint8_t* body, size_t body_len)
      : body_(body), body_len_(body_len) {
    length_ = rb.Get<int64_t>(0, 0);
    auto [ne, nn] = rb.Vector(1, sizeof(FieldNodeRec));
    auto [be, nb] = rb.Vector(2, sizeof(BufferRec));
    nodes_.resize(nn);
    buffers_.resize(nb);
    if (nn) std::memcpy(nodes_.data(), rb.buffer()->data + ne, nn * sizeof(FieldNodeRec));
    if (nb) std::memcpy(buffers_.data(), rb.buffer()->data + be, nb * sizeof(BufferRec));
    if (rb.FieldPos(3)) compressed_ = true;
  }
  int64_t length() const { return length_; }
  bool compressed() const { return compressed_; }

  Result<FieldNodeRec> Node(const std::string& col) {
    if (next_node_ >= nodes_.size())
      return Invalid(fmt::format("column '{}': missing field node", col));
    FieldNodeRec n = nodes_[next_node_++];
    if (n.length < 0 || n.null_count < 0 || n.null_count > n.length)
      return Invalid(fmt::format("column '{}': bad field node (length {}, nulls {})", col, n.length,
                                 n.null_count));
    // Checked before anything is sized from the length: a column has the
    // batch's length, and each of its rows takes at least one bit of the body
    // (a corrupt length of 2^40 rows must not become a 2^40-byte allocation,
    // nor overflow the buffer size computations).
    if (n.length != length_)
      return Invalid(
          fmt::format("column '{}' has {} rows in a batch of {}", col, n.length, length_));
    if (static_cast<uint64_t>(n.length) / 8 > body_len_)
      return Invalid(fmt::format("column '{}': {} rows cannot fit in a body of {} bytes", col,
                                 n.length, body_len_));
    return n;
  }
  Result<std::pair<const uint8_t*, size_t>> Buffer(const std::string& col, size_t min_len) {
    if (next_buffer_ >= buffers_.size())
      return Invalid(fmt::format("column '{}': missing buffer", col));
    BufferRec b = buffers_[next_buffer_++];
    if (b.offset < 0 || b.length < 0 || static_cast<uint64_t>(b.offset) > body_len_ ||
        static_cast<uint64_t>(b.length) > body_len_ - static_cast<uint64_t>(b.offset))
      return Invalid(fmt::format("column '{}': buffer at {} (+{}) is outside the {}-byte body", col,
                                 b.offset, b.length, body_len_));
    if (static_cast<size_t>(b.length) < min_len)
      return Invalid(fmt::format("column '{}': buffer of {} bytes, expected at least {}", col,
                                 b.length, min_len));
    return std::make_pair(body_ + b.offset, static_cast<size_t>(b.length));
  }

 private:
  const uint8_t* body_;
  size_t body_len_;
  int64_t length_ = 0;
  bool compressed_ = false;
  std::vector<FieldNodeRec> nodes_;
  std::vector<BufferRec> buffers_;
  size_t next_node_ = 0, next_buffer_ = 0;
};

template <typename T>
T LoadAt(const uint8_t* p, size_t i) {
  T v;
  std::memcpy(&v, p + i * sizeof(T), sizeof(T));
  return v;
}

// Element i of an array of `width`-byte integers, widened to int64. Each width
// and signedness converts on its own: in `s ? int32_t : uint32_t` both operands
// become uint32_t, which turned negative Int32 values into 2^32 - |v|.
int64_t LoadInt(const uint8_t* p, size_t i, size_t width, bool is_signed) {
  switch (width) {
    case 1:
      if (is_signed) return LoadAt<int8_t>(p, i);
      return LoadAt<uint8_t>(p, i);
    case 2:
      if (is_signed) return LoadAt<int16_t>(p, i);
      return LoadAt<uint16_t>(p, i);
    case 4:
      if (is_signed) return LoadAt<int32_t>(p, i);
      return LoadAt<uint32_t>(p, i);
    default:  // UInt64 values past INT64_MAX come out negative; callers reject them
      return LoadAt<int64_t>(p, i);
  }
}

// Reads one column of a batch into `col` (appending rows). `index` true: the
// dictionary indices of a dictionary-encoded field (widened to int32).
Status ReadColumn(BatchReader& br, const FileField& f, bool index, Column* col,
                  const Column* dict) {
  ALAMBIC_ASSIGN_OR_RETURN(FieldNodeRec node, br.Node(f.name));
  const auto n = static_cast<size_t>(node.length);
  ALAMBIC_ASSIGN_OR_RETURN(auto validity, br.Buffer(f.name, 0));
  if (node.null_count > 0 && validity.second < (n + 7) / 8)
    return Invalid(fmt::format("column '{}': validity bitmap too short", f.name));
  const size_t old = static_cast<size_t>(col->length);
  // Validity: append bits.
  if (node.null_count > 0 || !col->validity.empty()) {
    if (col->validity.empty()) col->validity.assign((old + 7) / 8, 0xFF);
    col->validity.resize((old + n + 7) / 8, 0);
    for (size_t i = 0; i < n; ++i) {
      bool valid = node.null_count == 0 || ((validity.first[i >> 3] >> (i & 7)) & 1);
      size_t j = old + i;
      if (valid)
        col->validity[j >> 3] |= static_cast<uint8_t>(1u << (j & 7));
      else
        col->validity[j >> 3] &= static_cast<uint8_t>(~(1u << (j & 7)));
    }
    col->null_count += node.null_count;
  }
  if (index) {
    const size_t w = static_cast<size_t>(f.index_width / 8);
    ALAMBIC_ASSIGN_OR_RETURN(auto values, br.Buffer(f.name, n * w));
    col->data.resize((old + n) * 4);
    auto* out = reinterpret_cast<int32_t*>(col->data.data()) + old;
    for (size_t i = 0; i < n; ++i) {
      const int64_t v = LoadInt(values.first, i, w, f.index_signed);
      bool valid = col->IsValid(static_cast<int64_t>(old + i));
      if (valid && dict->length == 0)
        return Invalid(fmt::format("column '{}': its dictionary is missing or empty (row {})",
                                   f.name, old + i));
      if (valid && (v < 0 || v >= dict->length))
        return Invalid(fmt::format("column '{}': dictionary index {} out of range at row {}",
                                   f.name, v, old + i));
      out[i] = valid ? static_cast<int32_t>(v) : 0;
    }
    col->length += node.length;
    return Status::Ok();
  }
  switch (f.type.phys) {
    case FieldType::kInt: {
      const size_t w = static_cast<size_t>(f.type.bit_width / 8);
      ALAMBIC_ASSIGN_OR_RETURN(auto values, br.Buffer(f.name, n * w));
      col->data.resize((old + n) * 8);
      if (w == 8) {
        CopyBytes(col->data.data() + old * 8, values.first, n * 8);
      } else {
        auto* out = reinterpret_cast<int64_t*>(col->data.data()) + old;
        for (size_t i = 0; i < n; ++i) out[i] = LoadInt(values.first, i, w, f.type.is_signed);
      }
      break;
    }
    case FieldType::kFloat64: {
      ALAMBIC_ASSIGN_OR_RETURN(auto values, br.Buffer(f.name, n * 8));
      col->data.resize((old + n) * 8);
      CopyBytes(col->data.data() + old * 8, values.first, n * 8);
      break;
    }
    case FieldType::kFloat32: {
      ALAMBIC_ASSIGN_OR_RETURN(auto values, br.Buffer(f.name, n * 4));
      col->data.resize((old + n) * 8);
      auto* out = reinterpret_cast<double*>(col->data.data()) + old;
      for (size_t i = 0; i < n; ++i) out[i] = LoadAt<float>(values.first, i);
      break;
    }
    case FieldType::kDateDay: {
      ALAMBIC_ASSIGN_OR_RETURN(auto values, br.Buffer(f.name, n * 4));
      col->data.resize((old + n) * 4);
      CopyBytes(col->data.data() + old * 4, values.first, n * 4);
      break;
    }
    case FieldType::kDateMs: {
      ALAMBIC_ASSIGN_OR_RETURN(auto values, br.Buffer(f.name, n * 8));
      col->data.resize((old + n) * 4);
      auto* out = reinterpret_cast<int32_t*>(col->data.data()) + old;
      for (size_t i = 0; i < n; ++i) {
        const int64_t ms = LoadAt<int64_t>(values.first, i);
        const int64_t days = ms / 86400000 - (ms % 86400000 < 0);  // floor
        const bool valid = col->IsValid(static_cast<int64_t>(old + i));
        if (valid && (days < INT32_MIN || days > INT32_MAX))
          return Invalid(fmt::format("column '{}': date {} ms at row {} is out of the date32 range",
                                     f.name, ms, old + i));
        out[i] = valid ? static_cast<int32_t>(days) : 0;
      }
      break;
    }
    case FieldType::kTimestamp: {
      ALAMBIC_ASSIGN_OR_RETURN(auto values, br.Buffer(f.name, n * 8));
      col->data.resize((old + n) * 8);
      auto* out = reinterpret_cast<int64_t*>(col->data.data()) + old;
      CopyBytes(out, values.first, n * 8);
      // To microseconds. Nanoseconds are floored, so an instant before the epoch
      // stays before it (-1 ns is 1969-12-31T23:59:59.999999Z, not 1970).
      // Seconds and milliseconds that do not fit int64 microseconds (beyond
      // about +-292,000 years) are refused rather than wrapped (and overflow
      // would be undefined behaviour). Null slots may hold anything: zeroed.
      const int64_t mul = f.type.ts_multiplier, div = f.type.ts_divisor;
      if (mul == 1 && div == 1) break;
      for (size_t i = 0; i < n; ++i) {
        if (!col->IsValid(static_cast<int64_t>(old + i))) {
          out[i] = 0;
        } else if (div != 1) {
          out[i] = out[i] / div - (out[i] % div < 0);
        } else if (__builtin_mul_overflow(out[i], mul, &out[i])) {
          return Invalid(
              fmt::format("column '{}': timestamp {} at row {} is out of the microsecond range",
                          f.name, LoadAt<int64_t>(values.first, i), old + i));
        }
      }
      break;
    }
    case FieldType::kBool: {
      ALAMBIC_ASSIGN_OR_RETURN(auto values, br.Buffer(f.name, (n + 7) / 8));
      col->data.resize((old + n + 7) / 8, 0);
      if (old % 8 == 0) {
        CopyBytes(col->data.data() + old / 8, values.first, (n + 7) / 8);
      } else {
        for (size_t i = 0; i < n; ++i) {
          size_t j = old + i;
          if ((values.first[i >> 3] >> (i & 7)) & 1)
            col->data[j >> 3] |= static_cast<uint8_t>(1u << (j & 7));
          else
            col->data[j >> 3] &= static_cast<uint8_t>(~(1u << (j & 7)));
        }
      }
      break;
    }
    case FieldType::kUtf8:
    case FieldType::kLargeUtf8: {
      const bool large = f.type.phys == FieldType::kLargeUtf8;
      const size_t ow = large ? 8 : 4;
      ALAMBIC_ASSIGN_OR_RETURN(auto offs, br.Buffer(f.name, n == 0 ? 0 : (n + 1) * ow));
      ALAMBIC_ASSIGN_OR_RETURN(auto data, br.Buffer(f.name, 0));
      if (col->offsets.empty()) col->offsets.push_back(0);
      if (n == 0) break;
      auto off_at = [&](size_t i) -> int64_t {
        return large ? LoadAt<int64_t>(offs.first, i) : LoadAt<int32_t>(offs.first, i);
      };
      const int64_t first = off_at(0), last = off_at(n);
      if (first < 0 || last < first || static_cast<uint64_t>(last) > data.second)
        return Invalid(fmt::format("column '{}': string offsets {}..{} outside the {}-byte data",
                                   f.name, first, last, data.second));
      const int64_t base = col->offsets.back();
      if (base + (last - first) > INT32_MAX)
        return Invalid(fmt::format("column '{}': more than 2 GiB of string data", f.name));
      int64_t prev = first;
      for (size_t i = 1; i <= n; ++i) {
        int64_t o = off_at(i);
        if (o < prev)
          return Invalid(
              fmt::format("column '{}': string offsets decrease at row {}", f.name, old + i - 1));
        prev = o;
        col->offsets.push_back(static_cast<int32_t>(base + o - first));
      }
      col->data.insert(col->data.end(), data.first + first, data.first + last);
      break;
    }
  }
  col->length += node.length;
  return Status::Ok();
}

}  // namespace

Result<Table> ReadArrowBuffer(const uint8_t* data, size_t size) {
  constexpr size_t kTrailer = 4 + kMagicLen;
  if (size < 8 + kTrailer) return Invalid(fmt::format("file of {} bytes is too short", size));
  if (std::memcmp(data, kMagic, kMagicLen) != 0)
    return Invalid("bad magic at the start (not an Arrow IPC file)");
  if (std::memcmp(data + size - kMagicLen, kMagic, kMagicLen) != 0)
    return Invalid("bad magic at the end (truncated or not an Arrow IPC file)");
  int32_t footer_len;
  std::memcpy(&footer_len, data + size - kTrailer, 4);
  if (footer_len <= 0 || static_cast<size_t>(footer_len) > size - kTrailer - 8)
    return Invalid(fmt::format("footer length {} exceeds file size {}", footer_len, size));
  const size_t footer_pos = size - kTrailer - static_cast<size_t>(footer_len);
  FbBuffer fbuf{data + footer_pos, static_cast<size_t>(footer_len), {}};
  uint32_t root = fbuf.Read<uint32_t>(0, "footer root");
  FbTable footer(&fbuf, root);
  if (!footer.valid()) return Invalid("footer: " + fbuf.error);
  auto schema_t = footer.Table(1);
  if (!schema_t)
    return Invalid("footer has no schema" + (fbuf.error.empty() ? "" : ": " + fbuf.error));
  ALAMBIC_ASSIGN_OR_RETURN(std::vector<FileField> fields, ReadSchema(*schema_t));
  auto [dict_elems, ndicts] = footer.Vector(2, sizeof(BlockRec));
  auto [batch_elems, nbatches] = footer.Vector(3, sizeof(BlockRec));
  if (!fbuf.error.empty()) return Invalid("footer: " + fbuf.error);

  // Opens the message of a block: returns its header table and body.
  struct Msg {
    FbBuffer buf;
    std::optional<FbTable> header;
    const uint8_t* body = nullptr;
    size_t body_len = 0;
  };
  auto open_block = [&](size_t elems, uint32_t i, uint8_t want, const char* what,
                        Msg* msg) -> Status {
    BlockRec b;
    std::memcpy(&b, fbuf.data + elems + i * sizeof(BlockRec), sizeof b);
    if (b.offset < 8 || b.meta_len < 8 || b.body_len < 0 ||
        static_cast<uint64_t>(b.offset) > footer_pos ||
        static_cast<uint64_t>(b.meta_len) > footer_pos - static_cast<uint64_t>(b.offset) ||
        static_cast<uint64_t>(b.body_len) >
            footer_pos - static_cast<uint64_t>(b.offset) - static_cast<uint64_t>(b.meta_len))
      return Invalid(
          fmt::format("{} {} block (offset {}, metadata {}, body {}) is outside the file", what, i,
                      b.offset, b.meta_len, b.body_len));
    const uint8_t* p = data + b.offset;
    uint32_t first;
    std::memcpy(&first, p, 4);
    size_t prefix = 4;
    int32_t len = static_cast<int32_t>(first);
    if (first == kContinuation) {
      std::memcpy(&len, p + 4, 4);
      prefix = 8;
    }
    if (len <= 0 || static_cast<size_t>(len) > static_cast<size_t>(b.meta_len) - prefix)
      return Invalid(fmt::format("{} {}: message length {} exceeds its block", what, i, len));
    msg->buf = FbBuffer{p + prefix, static_cast<size_t>(len), {}};
    uint32_t mroot = msg->buf.Read<uint32_t>(0, "message root");
    FbTable m(&msg->buf, mroot);
    if (!m.valid()) return Invalid(fmt::format("{} {}: {}", what, i, msg->buf.error));
    if (m.Get<uint8_t>(1, 0) != want)
      return Invalid(fmt::format("{} {}: unexpected message type", what, i));
    msg->header = m.Table(2);
    if (!msg->header) return Invalid(fmt::format("{} {}: message has no header", what, i));
    msg->body = data + b.offset + b.meta_len;
    msg->body_len = static_cast<size_t>(b.body_len);
    return Status::Ok();
  };

  std::map<int64_t, std::shared_ptr<Column>> dicts;
  for (uint32_t i = 0; i < ndicts; ++i) {
    Msg msg;
    ALAMBIC_RETURN_IF_ERROR(open_block(dict_elems, i, kHeaderDictionaryBatch, "dictionary", &msg));
    int64_t id = msg.header->Get<int64_t>(0, 0);
    const bool delta = msg.header->Get<uint8_t>(2, 0) != 0;
    auto rb = msg.header->Table(1);
    if (!rb) return Invalid(fmt::format("dictionary {} has no data", id));
    const FileField* owner = nullptr;
    for (const auto& f : fields)
      if (f.dictionary && f.dict_id == id) owner = &f;
    if (!owner) return Invalid(fmt::format("dictionary {} belongs to no column", id));
    BatchReader br(*rb, msg.body, msg.body_len);
    if (!msg.buf.error.empty()) return Invalid(msg.buf.error);
    if (br.compressed()) return Invalid("compressed bodies are not supported");
    // The file format allows one dictionary per id plus deltas, which append
    // to it in footer order (apache-arrow writes them for a dictionary that
    // grew from batch to batch); a second non-delta dictionary would be a
    // replacement, which only the stream format allows.
    std::shared_ptr<Column>& col = dicts[id];
    if (delta && !col)
      return Invalid(fmt::format("column '{}': delta dictionary {} before its first dictionary",
                                 owner->name, id));
    if (!delta && col)
      return Invalid(
          fmt::format("column '{}': dictionary {} is replaced (not allowed in the IPC file format)",
                      owner->name, id));
    if (!col) {
      col = std::make_shared<Column>();
      col->type = TypeId::kUtf8;
    }
    FileField plain = *owner;
    plain.dictionary = false;
    ALAMBIC_RETURN_IF_ERROR(ReadColumn(br, plain, false, col.get(), nullptr));
    if (col->null_count > 0) {  // our dictionaries hold no nulls: decode such a column later
      return Invalid(
          fmt::format("column '{}': dictionary with null values is not supported", owner->name));
    }
  }

  std::vector<Column> cols(fields.size());
  for (size_t c = 0; c < fields.size(); ++c) {
    cols[c].type = fields[c].type.type;
    if (fields[c].dictionary) {
      auto it = dicts.find(fields[c].dict_id);
      if (it == dicts.end()) {
        // Writers send a dictionary with the batches that use it: a file with
        // no record batch (an empty table from apache-arrow) has none. Read it
        // as empty; a valid index into it is reported by ReadColumn.
        auto empty = std::make_shared<Column>();
        empty->type = TypeId::kUtf8;
        empty->offsets.push_back(0);
        it = dicts.emplace(fields[c].dict_id, std::move(empty)).first;
      }
      cols[c].dictionary = it->second;
    } else if (cols[c].type == TypeId::kUtf8) {
      cols[c].offsets.push_back(0);
    }
  }
  int64_t rows = 0;
  for (uint32_t i = 0; i < nbatches; ++i) {
    Msg msg;
    ALAMBIC_RETURN_IF_ERROR(open_block(batch_elems, i, kHeaderRecordBatch, "record batch", &msg));
    BatchReader br(*msg.header, msg.body, msg.body_len);
    if (!msg.buf.error.empty()) return Invalid(msg.buf.error);
    if (br.compressed()) return Invalid("compressed bodies are not supported");
    // Each column bounds the batch's length by the body's size (ReadColumn); without a
    // column nothing would, and a corrupt length of 2^62 rows would make a table that
    // takes forever to print (found by the arrow fuzz target).
    if (fields.empty() && br.length() != 0)
      return Invalid(fmt::format("record batch {} has {} rows but the schema has no column", i + 1,
                                 br.length()));
    for (size_t c = 0; c < fields.size(); ++c) {
      ALAMBIC_RETURN_IF_ERROR(
          ReadColumn(br, fields[c], fields[c].dictionary, &cols[c], cols[c].dictionary.get()));
      if (cols[c].length != rows + br.length())
        return Invalid(fmt::format("column '{}' has {} rows in a batch of {}", fields[c].name,
                                   cols[c].length - rows, br.length()));
    }
    rows += br.length();
  }
  Schema schema;
  std::vector<ColumnPtr> out;
  for (size_t c = 0; c < fields.size(); ++c) {
    schema.fields.push_back({fields[c].name, fields[c].type.type, fields[c].nullable});
    if (cols[c].validity.size() > static_cast<size_t>((rows + 7) / 8))
      cols[c].validity.resize(static_cast<size_t>((rows + 7) / 8));
    if (cols[c].null_count == 0) cols[c].validity.clear();
    Status st = cols[c].Validate();
    if (!st.ok()) return Invalid(fmt::format("column '{}': {}", fields[c].name, st.message()));
    out.push_back(std::make_shared<Column>(std::move(cols[c])));
  }
  auto t = Table::Make(std::move(schema), std::move(out), rows);
  if (!t.ok()) return Invalid(t.status().message());
  return t;
}

Result<Table> ReadArrowFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::NotFound(fmt::format("{}: {}", path, std::strerror(errno)));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return Status::IoError(fmt::format("{}: {}", path, std::strerror(errno)));
  }
  const auto size = static_cast<size_t>(st.st_size);
  if (size == 0) {
    ::close(fd);
    return Status::Invalid(fmt::format("{}: arrow file: file of 0 bytes is too short", path));
  }
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED)
    return Status::IoError(fmt::format("{}: mmap: {}", path, std::strerror(errno)));
  auto t = ReadArrowBuffer(static_cast<const uint8_t*>(map), size);
  ::munmap(map, size);
  if (!t.ok()) return t.status().WithContext(path);
  return t;
}

}  // namespace alambic
