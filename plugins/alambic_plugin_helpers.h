// Optional C++17 helpers for plugin authors, header-only, over the C ABI of
// alambic_plugin.h: read input tables and build output tables through the
// Arrow C data interface without an Arrow library. Plugins may instead use
// any Arrow implementation (Arrow C++, nanoarrow): only the C structs matter.
#ifndef ALAMBIC_PLUGIN_HELPERS_H_
#define ALAMBIC_PLUGIN_HELPERS_H_

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "alambic_plugin.h"

namespace alambic_plugin {

class TableBuilder;

// A borrowed input table (a struct array). Cheap to copy; valid during the call.
class InputTable {
 public:
  InputTable(const ArrowSchema* schema, const ArrowArray* array) : s_(schema), a_(array) {}
  int64_t rows() const { return a_->length; }
  int64_t columns() const { return s_->n_children; }
  const char* name(int64_t c) const { return s_->children[c]->name; }
  // Column index by name, or -1.
  int64_t find(std::string_view name) const {
    for (int64_t c = 0; c < columns(); ++c)
      if (name == s_->children[c]->name) return c;
    return -1;
  }
  // The column's format string ("l", "g", "b", "u", "tdD", "tsu:UTC"); a
  // dictionary column reports its dictionary's ("u").
  std::string_view format(int64_t c) const {
    const ArrowSchema* cs = s_->children[c];
    return cs->dictionary ? cs->dictionary->format : cs->format;
  }
  bool is_null(int64_t c, int64_t row) const {
    const ArrowArray* ca = a_->children[c];
    const auto* v = static_cast<const uint8_t*>(ca->buffers[0]);
    const int64_t i = Index(ca, row);
    return v && !((v[i >> 3] >> (i & 7)) & 1);
  }
  int64_t int64(int64_t c, int64_t row) const {  // int64, timestamp
    const ArrowArray* ca = a_->children[c];
    return static_cast<const int64_t*>(ca->buffers[1])[Index(ca, row)];
  }
  int32_t int32(int64_t c, int64_t row) const {  // date32
    const ArrowArray* ca = a_->children[c];
    return static_cast<const int32_t*>(ca->buffers[1])[Index(ca, row)];
  }
  double float64(int64_t c, int64_t row) const {
    const ArrowArray* ca = a_->children[c];
    return static_cast<const double*>(ca->buffers[1])[Index(ca, row)];
  }
  bool boolean(int64_t c, int64_t row) const {
    const ArrowArray* ca = a_->children[c];
    const int64_t i = Index(ca, row);
    return (static_cast<const uint8_t*>(ca->buffers[1])[i >> 3] >> (i & 7)) & 1;
  }
  // A utf8 value, plain or dictionary-encoded.
  std::string_view utf8(int64_t c, int64_t row) const {
    const ArrowSchema* cs = s_->children[c];
    const ArrowArray* ca = a_->children[c];
    int64_t i = Index(ca, row);
    if (cs->dictionary) {
      i = std::strcmp(cs->format, "i") == 0 ? static_cast<const int32_t*>(ca->buffers[1])[i]
                                            : static_cast<const int64_t*>(ca->buffers[1])[i];
      ca = ca->dictionary;
      i += ca->offset;
    }
    const auto* off = static_cast<const int32_t*>(ca->buffers[1]);
    return std::string_view(static_cast<const char*>(ca->buffers[2]) + off[i],
                            static_cast<size_t>(off[i + 1] - off[i]));
  }
  // Copies row `row` of input column `c` into output column `out` (same type;
  // dictionary columns become plain utf8: add them with format "u").
  void copy_to(TableBuilder& b, int out, int64_t c, int64_t row) const;
  // Any value as a number (int64, float64, bool); 0 for other types.
  double number(int64_t c, int64_t row) const {
    const std::string_view f = format(c);
    if (f == "l") return static_cast<double>(int64(c, row));
    if (f == "g") return float64(c, row);
    if (f == "b") return boolean(c, row) ? 1 : 0;
    return 0;
  }

 private:
  int64_t Index(const ArrowArray* ca, int64_t row) const { return a_->offset + ca->offset + row; }
  const ArrowSchema* s_;
  const ArrowArray* a_;
};

// Builds one output table column by column, then hands it over as a struct
// array whose release callbacks free everything.
class TableBuilder {
 public:
  // Adds a column; `format` is "l", "g", "b", "u", "tdD" or "tsu:UTC". Returns its index.
  int add_column(std::string name, const char* format) {
    auto c = std::make_unique<Col>();
    c->name = std::move(name);
    c->format = format;
    cols_.push_back(std::move(c));
    return static_cast<int>(cols_.size() - 1);
  }
  void append_null(int c) { Push(c, false).data.resize(cols_[c]->data.size() + Width(c), 0); }
  void append_int64(int c, int64_t v) { PushBytes(c, &v, sizeof v); }  // int64, timestamp
  void append_int32(int c, int32_t v) { PushBytes(c, &v, sizeof v); }  // date32
  void append_float64(int c, double v) { PushBytes(c, &v, sizeof v); }
  void append_bool(int c, bool v) {
    Col& col = Push(c, true);
    SetBit(col.bits, col.length - 1, v);
  }
  void append_utf8(int c, std::string_view v) {
    Col& col = Push(c, true);
    col.data.insert(col.data.end(), v.begin(), v.end());
    col.offsets.push_back(static_cast<int32_t>(col.data.size()));
  }
  // Moves the table into `schema` and `array` (all columns must have the same length).
  void finish(ArrowSchema* schema, ArrowArray* array) {
    auto* top = new Top();
    top->children_s.resize(cols_.size());
    top->children_a.resize(cols_.size());
    const int64_t rows = cols_.empty() ? 0 : cols_[0]->length;
    for (size_t i = 0; i < cols_.size(); ++i) {
      Col* c = cols_[i].release();
      if (c->format == "u" && c->offsets.empty()) c->offsets.push_back(0);
      c->buffers[0] = c->nulls ? c->validity.data() : nullptr;
      c->buffers[1] = c->format == "u"   ? static_cast<const void*>(c->offsets.data())
                      : c->format == "b" ? static_cast<const void*>(c->bits.data())
                                         : static_cast<const void*>(c->data.data());
      c->buffers[2] = c->data.data();
      // Never hand out a null data buffer, even for an empty column.
      if (c->format == "b") {
        if (c->bits.empty()) c->buffers[1] = &kZero;
      } else if (c->data.empty()) {
        c->buffers[c->format == "u" ? 2 : 1] = &kZero;
      }
      ArrowSchema* cs = new ArrowSchema{
          c->format.c_str(), c->name.c_str(),    nullptr, ARROW_FLAG_NULLABLE, 0, nullptr,
          nullptr,           &ReleaseLeafSchema, nullptr};
      ArrowArray* ca = new ArrowArray{c->length,  c->nulls, 0,       c->format == "u" ? 3 : 2, 0,
                                      c->buffers, nullptr,  nullptr, &ReleaseLeafArray,        c};
      top->children_s[i] = cs;
      top->children_a[i] = ca;
    }
    cols_.clear();
    *schema = ArrowSchema{"+s",
                          "",
                          nullptr,
                          0,
                          static_cast<int64_t>(top->children_s.size()),
                          top->children_s.data(),
                          nullptr,
                          &ReleaseTopSchema,
                          top};
    *array = ArrowArray{rows,
                        0,
                        0,
                        1,
                        static_cast<int64_t>(top->children_a.size()),
                        top->null_buffer,
                        top->children_a.data(),
                        nullptr,
                        &ReleaseTopArray,
                        top};
    top->refs = 2;
  }

 private:
  struct Col {
    std::string name, format;
    std::vector<uint8_t> validity, bits;
    std::vector<char> data;
    std::vector<int32_t> offsets{0};
    int64_t length = 0, nulls = 0;
    const void* buffers[3] = {nullptr, nullptr, nullptr};
  };
  struct Top {
    std::vector<ArrowSchema*> children_s;
    std::vector<ArrowArray*> children_a;
    const void* null_buffer[1] = {nullptr};
    int refs = 0;
  };
  static inline const uint64_t kZero = 0;
  static void SetBit(std::vector<uint8_t>& bits, int64_t i, bool v) {
    if (static_cast<size_t>(i >> 3) >= bits.size()) bits.push_back(0);
    if (v) bits[static_cast<size_t>(i >> 3)] |= static_cast<uint8_t>(1u << (i & 7));
  }
  size_t Width(int c) const {
    const std::string& f = cols_[c]->format;
    return f == "u" || f == "b" ? 0 : f == "tdD" ? 4 : 8;
  }
  Col& Push(int c, bool valid) {
    Col& col = *cols_[c];
    SetBit(col.validity, col.length, valid);
    if (!valid) ++col.nulls;
    if (col.format == "u" && !valid) col.offsets.push_back(static_cast<int32_t>(col.data.size()));
    if (col.format == "b" && !valid) SetBit(col.bits, col.length, false);
    ++col.length;
    return col;
  }
  void PushBytes(int c, const void* v, size_t n) {
    Col& col = Push(c, true);
    const char* p = static_cast<const char*>(v);
    col.data.insert(col.data.end(), p, p + n);
  }
  static void ReleaseLeafSchema(ArrowSchema* s) { s->release = nullptr; }
  static void ReleaseLeafArray(ArrowArray* a) {
    delete static_cast<Col*>(a->private_data);
    a->release = nullptr;
  }
  static void Unref(Top* t) {
    if (--t->refs > 0) return;
    for (ArrowSchema* s : t->children_s) {
      if (s->release) s->release(s);
      delete s;
    }
    for (ArrowArray* a : t->children_a) {
      if (a->release) a->release(a);
      delete a;
    }
    delete t;
  }
  static void ReleaseTopSchema(ArrowSchema* s) {
    s->release = nullptr;
    Unref(static_cast<Top*>(s->private_data));
  }
  static void ReleaseTopArray(ArrowArray* a) {
    a->release = nullptr;
    Unref(static_cast<Top*>(a->private_data));
  }
  std::vector<std::unique_ptr<Col>> cols_;
};

inline void InputTable::copy_to(TableBuilder& b, int out, int64_t c, int64_t row) const {
  if (is_null(c, row)) return b.append_null(out);
  const std::string_view f = format(c);
  if (f == "l" || f.substr(0, 3) == "tsu") return b.append_int64(out, int64(c, row));
  if (f == "g") return b.append_float64(out, float64(c, row));
  if (f == "b") return b.append_bool(out, boolean(c, row));
  if (f == "tdD") return b.append_int32(out, int32(c, row));
  return b.append_utf8(out, utf8(c, row));
}

// The output format to copy input column `c` with copy_to.
inline const char* CopyFormat(const InputTable& in, int64_t c) {
  const std::string_view f = in.format(c);
  if (f == "l") return "l";
  if (f == "g") return "g";
  if (f == "b") return "b";
  if (f == "tdD") return "tdD";
  if (f.substr(0, 3) == "tsu") return "tsu:UTC";
  return "u";
}

// Reads a top-level string or number param from a call's params_json (a flat
// JSON object as Alambic writes it: no spaces, escapes only for '"' and '\\').
// Returns false when the key is absent.
inline bool FindParam(const char* json, const std::string& key, std::string* raw) {
  const std::string k = "\"" + key + "\":";
  const char* p = std::strstr(json, k.c_str());
  if (!p) return false;
  p += k.size();
  raw->clear();
  if (*p == '"') {
    for (++p; *p && *p != '"'; ++p) {
      if (*p == '\\' && p[1]) ++p;
      raw->push_back(*p);
    }
    return true;
  }
  while (*p && *p != ',' && *p != '}') raw->push_back(*p++);
  return true;
}
inline std::string ParamString(const char* json, const std::string& key, std::string def = "") {
  std::string raw;
  return FindParam(json, key, &raw) ? raw : def;
}
inline double ParamNumber(const char* json, const std::string& key, double def) {
  std::string raw;
  return FindParam(json, key, &raw) ? std::strtod(raw.c_str(), nullptr) : def;
}

// Writes a message into a run function's error buffer; returns 1.
inline int32_t Fail(char* error, size_t size, const std::string& message) {
  if (size > 0) {
    const size_t n = message.size() < size - 1 ? message.size() : size - 1;
    std::memcpy(error, message.data(), n);
    error[n] = '\0';
  }
  return 1;
}

}  // namespace alambic_plugin

#endif  // ALAMBIC_PLUGIN_HELPERS_H_
