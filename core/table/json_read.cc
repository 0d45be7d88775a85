#include "core/table/json_read.h"

#include <algorithm>
#include <limits>
#include <system_error>
#include <unordered_map>

#include <fmt/format.h>
#include <simdjson.h>
#include <nlohmann/json.hpp>

#include "core/table/csv.h"

namespace alambic {
namespace {

using json = nlohmann::ordered_json;  // keys in document order: columns in first-seen order

// Rows between two looks at the cancel token.
constexpr int64_t kCheckEveryRows = 1 << 14;

// Deepest nesting of arrays and objects accepted. Flattening and serialising a
// value recurse once per level: a hostile file nested 100,000 deep would
// overflow the stack.
constexpr int kMaxDepth = 256;

// 1-based line of byte offset `pos` in `data`.
size_t LineAt(std::string_view data, size_t pos) {
  size_t line = 1;
  for (size_t i = 0; i < pos && i < data.size(); ++i) line += data[i] == '\n';
  return line;
}

// nlohmann's parse error without its "[json.exception.parse_error.101] parse error at
// line 1, column 5: " prefix (we say where ourselves). The text it quotes ("last read:
// '\"\xE9t'") may be invalid UTF-8: bytes outside printable ASCII are written \xNN, so that
// the message is valid UTF-8 wherever it is shown or stored.
std::string ParseErrorText(const json::parse_error& e) {
  const std::string m = e.what();
  const size_t colon = m.find(": ");
  const std::string_view text =
      colon == std::string::npos ? std::string_view(m) : std::string_view(m).substr(colon + 2);
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto b = static_cast<unsigned char>(c);
    if (b < 0x20 || b >= 0x7F)
      out += fmt::format("\\x{:02X}", b);
    else
      out += c;
  }
  return out;
}

// nlohmann's out_of_range error (a number too large for a double, "-1e400": error 406)
// without its "[json.exception.out_of_range.406] " prefix, and the number it quotes.
std::string OutOfRangeText(const json::out_of_range& e, std::string* number) {
  const std::string m = e.what();
  const size_t close = m.find("] ");
  const std::string text = close == std::string::npos ? m : m.substr(close + 2);
  const size_t a = text.find('\''), b = text.rfind('\'');
  if (a != std::string::npos && b > a) *number = text.substr(a + 1, b - a - 1);
  std::string out;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    out += u < 0x20 || u >= 0x7F ? fmt::format("\\x{:02X}", u) : std::string(1, c);
  }
  return out;
}

// Refuses text nested deeper than kMaxDepth, before it is parsed: says the
// line (counted from `first_line`) and column where the limit is passed.
// Brackets inside strings do not count; malformed text is left to the parser.
Status CheckDepth(std::string_view text, const std::string& source, size_t first_line) {
  int depth = 0;
  bool in_string = false;
  size_t line = first_line;
  size_t line_start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\n') {
      ++line;
      line_start = i + 1;
      continue;
    }
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxDepth)
        return Status::Invalid(
            fmt::format("{}:{}: JSON nested deeper than {} levels at column {} (arrays and objects "
                        "inside one another)",
                        source, line, kMaxDepth, i - line_start + 1));
    } else if (c == ']' || c == '}') {
      if (depth > 0) --depth;
    }
  }
  return Status::Ok();
}

// What one value of a column holds: a scalar, or a string (kept in the column's
// text arena). Arrays and empty objects are strings holding their JSON text.
enum class Kind : uint8_t { kNull, kInt, kUInt, kFloat, kBool, kString };
struct Cell {
  Kind kind = Kind::kNull;
  uint32_t len = 0;  // kString: the length in the arena
  union {
    int64_t i = 0;
    uint64_t u;  // kUInt: above int64's range
    double d;
    bool b;
    uint64_t off;  // kString: the offset in the arena
  };
};
static_assert(sizeof(Cell) == 16);

// What nlohmann-json wrote for a value: arrays / objects kept as text, the
// text of a non-string value in a column of mixed kinds. Parsing the text
// simdjson wrote gives the same JSON value (shortest round-trip numbers).
std::string CanonicalText(const simdjson::dom::element& e) {
  return json::parse(simdjson::to_string(e), nullptr, false).dump();
}

struct NameHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

// Columns built from the rows' flattened values.
class Columns {
 public:
  // Adds one row (an object); `where` says where it is, for messages ("file:3").
  // Returns false in `*clash` (and leaves the columns as before the row) when a
  // column appears twice in the object: the caller retries the row with its
  // duplicate keys resolved, or reports the clash.
  Status AddRow(const simdjson::dom::object& object, const std::string& where, bool* clash) {
    const size_t cols_before = cols_.size();
    slot_ = 0;
    name_.clear();
    Status st = Flatten(object, where, clash);
    if (!st.ok() || *clash) {
      for (size_t c = cols_before; c < cols_.size(); ++c) index_.erase(cols_[c].name);
      cols_.resize(cols_before);
      last_row_.clear();
      for (auto& c : cols_)
        if (static_cast<int64_t>(c.cells.size()) > rows_)
          c.cells.resize(static_cast<size_t>(rows_));
      return st;
    }
    ++rows_;
    for (auto& c : cols_)
      if (static_cast<int64_t>(c.cells.size()) < rows_) c.cells.resize(static_cast<size_t>(rows_));
    return Status::Ok();
  }

  Status ClashError(const std::string& where) const {
    return Status::Invalid(
        fmt::format("{}: column '{}' appears twice in the object (a key with a '.' beside a nested "
                    "object?)",
                    where, clash_name_));
  }

  Result<Table> Finish() {
    Schema schema;
    std::vector<ColumnPtr> out;
    for (auto& c : cols_) {
      const TypeId type = TypeOf(c);
      ColumnBuilder b(type);
      b.Reserve(rows_);
      for (const Cell& v : c.cells) Append(b, type, c, v);
      schema.fields.push_back(Field{c.name, type, true});
      out.push_back(b.Finish());
      c.cells = std::vector<Cell>();
      c.text = std::string();
    }
    return Table::Make(std::move(schema), std::move(out), rows_);
  }

 private:
  struct Col {
    std::string name;
    std::vector<Cell> cells;  // one per row; null where missing
    std::string text;         // the strings' bytes
  };

  // The column named `name_`: most rows have the keys of the row before in the
  // same order, so the column at the same place in the previous row is tried first.
  size_t ColumnOf() {
    if (slot_ < last_row_.size()) {
      const size_t guess = last_row_[slot_];
      if (cols_[guess].name == name_) return guess;
    }
    auto it = index_.find(std::string_view(name_));
    size_t c;
    if (it != index_.end()) {
      c = it->second;
    } else {
      c = cols_.size();
      cols_.push_back(Col{name_, {}, {}});
      index_.emplace(name_, c);
    }
    if (slot_ < last_row_.size())
      last_row_[slot_] = c;
    else
      last_row_.push_back(c);
    return c;
  }

  // Whether `object` has a key twice (simdjson keeps each; nlohmann, as Python, the last).
  bool HasDuplicateKey(const simdjson::dom::object& object) {
    keys_.clear();
    for (const auto field : object) keys_.push_back(field.key);
    if (keys_.size() < 2) return false;
    if (keys_.size() <= 32) {
      for (size_t i = 1; i < keys_.size(); ++i)
        for (size_t j = 0; j < i; ++j)
          if (keys_[i] == keys_[j]) return true;
      return false;
    }
    std::sort(keys_.begin(), keys_.end());
    return std::adjacent_find(keys_.begin(), keys_.end()) != keys_.end();
  }

  Status Flatten(const simdjson::dom::object& object, const std::string& where, bool* clash) {
    if (HasDuplicateKey(object)) {
      *clash = true;
      clash_name_ = name_;  // a row with its keys resolved does not clash here again
      return Status::Ok();
    }
    for (const auto field : object) {
      const size_t prefix = name_.size();
      if (prefix > 0) name_ += '.';
      name_.append(field.key.data(), field.key.size());
      const simdjson::dom::element& value = field.value;
      if (value.type() == simdjson::dom::element_type::OBJECT) {
        const simdjson::dom::object inner(value);
        if (inner.begin() != inner.end()) {
          ALAMBIC_RETURN_IF_ERROR(Flatten(inner, where, clash));
          if (*clash) return Status::Ok();
          name_.resize(prefix);
          continue;
        }
      }
      Col& c = cols_[ColumnOf()];
      ++slot_;
      if (static_cast<int64_t>(c.cells.size()) > rows_) {
        *clash = true;
        clash_name_ = name_;
        return Status::Ok();
      }
      c.cells.resize(static_cast<size_t>(rows_));
      Cell cell;
      switch (value.type()) {
        case simdjson::dom::element_type::INT64:
          cell.kind = Kind::kInt;
          cell.i = int64_t(value);
          break;
        case simdjson::dom::element_type::UINT64:
          cell.kind = Kind::kUInt;
          cell.u = uint64_t(value);
          break;
        case simdjson::dom::element_type::DOUBLE:
          cell.kind = Kind::kFloat;
          cell.d = double(value);
          break;
        case simdjson::dom::element_type::BOOL:
          cell.kind = Kind::kBool;
          cell.b = bool(value);
          break;
        case simdjson::dom::element_type::NULL_VALUE:
          break;
        case simdjson::dom::element_type::STRING:
          AppendText(c, std::string_view(value), &cell);
          break;
        case simdjson::dom::element_type::ARRAY:
        case simdjson::dom::element_type::OBJECT:
          AppendText(c, CanonicalText(value), &cell);  // kept as JSON text
          break;
      }
      c.cells.push_back(cell);
      name_.resize(prefix);
    }
    return Status::Ok();
  }

  static void AppendText(Col& c, std::string_view s, Cell* cell) {
    cell->kind = Kind::kString;
    cell->off = c.text.size();
    cell->len = static_cast<uint32_t>(s.size());
    c.text.append(s);
  }

  static std::string_view Str(const Col& c, const Cell& v) {
    return std::string_view(c.text).substr(v.off, v.len);
  }

  static TypeId TypeOf(const Col& c) {
    bool ints = false, floats = false, bools = false, strings = false, big = false;
    for (const Cell& v : c.cells) {
      switch (v.kind) {
        case Kind::kNull:
          break;
        case Kind::kInt:
          ints = true;
          break;
        case Kind::kUInt:
          ints = true;
          big |= v.u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
          break;
        case Kind::kFloat:
          floats = true;
          break;
        case Kind::kBool:
          bools = true;
          break;
        case Kind::kString:
          strings = true;  // strings, and arrays / objects kept as text
      }
    }
    const int kinds = (ints || floats) + bools + strings;
    if (kinds != 1) return TypeId::kUtf8;  // no value, or mixed kinds
    if (ints || floats) return floats || big ? TypeId::kFloat64 : TypeId::kInt64;
    if (bools) return TypeId::kBool;
    bool dates = true, stamps = true;
    for (const Cell& v : c.cells) {
      if (v.kind != Kind::kString) continue;
      const std::string_view s = Str(c, v);
      int32_t d;
      int64_t us;
      dates = dates && ParseIsoDate(s, &d);
      stamps = stamps && ParseIsoTimestamp(s, true, &us);
      if (!dates && !stamps) break;
    }
    return dates ? TypeId::kDate32 : stamps ? TypeId::kTimestamp : TypeId::kUtf8;
  }

  static void Append(ColumnBuilder& b, TypeId type, const Col& c, const Cell& v) {
    if (v.kind == Kind::kNull) {
      b.AppendNull();
      return;
    }
    switch (type) {
      case TypeId::kInt64:
        b.AppendInt64(v.kind == Kind::kUInt ? static_cast<int64_t>(v.u) : v.i);
        break;
      case TypeId::kFloat64:
        b.AppendDouble(v.kind == Kind::kFloat  ? v.d
                       : v.kind == Kind::kUInt ? static_cast<double>(v.u)
                                               : static_cast<double>(v.i));
        break;
      case TypeId::kBool:
        b.AppendBool(v.b);
        break;
      case TypeId::kDate32: {
        int32_t d = 0;
        ParseIsoDate(Str(c, v), &d);
        b.AppendDate32(d);
        break;
      }
      case TypeId::kTimestamp: {
        int64_t us = 0;
        ParseIsoTimestamp(Str(c, v), true, &us);
        b.AppendTimestamp(us);
        break;
      }
      case TypeId::kUtf8:
        switch (v.kind) {
          case Kind::kString:
            b.AppendString(Str(c, v));
            break;
          case Kind::kInt:
            b.AppendString(fmt::format("{}", v.i));
            break;
          case Kind::kUInt:
            b.AppendString(fmt::format("{}", v.u));
            break;
          case Kind::kFloat:
            b.AppendString(json(v.d).dump());
            break;
          case Kind::kBool:
            b.AppendString(v.b ? "true" : "false");
            break;
          case Kind::kNull:
            break;
        }
        break;
    }
  }

  std::vector<Col> cols_;
  std::unordered_map<std::string, size_t, NameHash, std::equal_to<>> index_;
  std::vector<size_t> last_row_;  // the columns of the previous row, in its order
  size_t slot_ = 0;               // values of the current row so far
  std::string name_;              // the flattened name being built
  std::string clash_name_;
  std::vector<std::string_view> keys_;  // of the object being flattened
  int64_t rows_ = 0;
};

// One parse: simdjson, with nlohmann-json's reading of what simdjson refuses or
// reads differently. simdjson says only what kind of error it met, not where, and
// refuses integers beyond 64 bits (nlohmann reads them as doubles) and a leading
// byte-order mark; nlohmann's object keeps one value per key (the last, at the place
// of the first), where simdjson keeps each. So a document simdjson refuses is parsed
// again by nlohmann: a parse error is reported as nlohmann words it, with the line
// and column; a document nlohmann reads is written again (dump) and that text,
// which simdjson reads, is used. The same is done for a row with a key twice.
class Parser {
 public:
  explicit Parser(std::string source) : source_(std::move(source)) {
    // simdjson's depth counts arrays and objects as CheckDepth does. Capacity 0: the
    // parser grows to the document on the first parse (and keeps this depth).
    allocated_ = parser_.allocate(0, kMaxDepth) == simdjson::SUCCESS &&
                 second_.allocate(0, kMaxDepth) == simdjson::SUCCESS &&
                 rows_.allocate(0, kMaxDepth) == simdjson::SUCCESS;
  }

  // Parses `text` (padded) into `*out`; `line` is the line `text` starts on, for messages.
  // simdjson reads it from byte `skip` (after a byte-order mark).
  Status Parse(const char* text, size_t size, size_t line, simdjson::dom::element* out,
               size_t skip = 0) {
    if (!allocated_)
      return Status::IoError(fmt::format("{}: out of memory for the JSON parser", source_));
    const simdjson::error_code error = parser_.parse(text + skip, size - skip, false).get(*out);
    if (error == simdjson::SUCCESS) return Status::Ok();
    if (error == simdjson::CAPACITY)
      return Status::Invalid(fmt::format(
          "{}:{}: a JSON document larger than 4 GB (one object per line, format ndjson, has "
          "no such limit)",
          source_, line));
    return Reparse(std::string_view(text, size), line, out);
  }

  // The row in `element` again with its duplicate keys resolved as nlohmann does.
  Status Normalise(const simdjson::dom::element& element, simdjson::dom::element* out) {
    const json again = json::parse(simdjson::to_string(element), nullptr, false);
    row_text_ = again.dump();
    if (again.is_discarded() || rows_.parse(row_text_).get(*out) != simdjson::SUCCESS)
      return Status::Invalid(fmt::format("{}: cannot read the object again", source_));
    return Status::Ok();
  }

 private:
  Status Reparse(std::string_view text, size_t line, simdjson::dom::element* out) {
    ALAMBIC_RETURN_IF_ERROR(CheckDepth(text, source_, line));
    json doc;
    try {
      doc = json::parse(text);
    } catch (const json::parse_error& e) {
      if (line > 1 || text.find('\n') == std::string_view::npos)  // one line of NDJSON
        return Status::Invalid(fmt::format("{}:{}: invalid JSON at column {}: {}", source_, line,
                                           e.byte, ParseErrorText(e)));
      const size_t at = e.byte > 0 ? e.byte - 1 : 0;
      const size_t line_start = text.rfind('\n', at == 0 ? 0 : at - 1);
      const size_t column =
          line_start == std::string_view::npos || at == 0 ? at + 1 : at - line_start;
      return Status::Invalid(fmt::format("{}:{}: invalid JSON at column {}: {}", source_,
                                         LineAt(text, at), column, ParseErrorText(e)));
    } catch (const json::out_of_range& e) {
      std::string number;
      const std::string message = OutOfRangeText(e, &number);
      const size_t at = number.empty() ? std::string_view::npos : text.find(number);
      return Status::Invalid(
          fmt::format("{}:{}: invalid JSON: {}", source_,
                      at == std::string_view::npos ? line : line - 1 + LineAt(text, at), message));
    }
    normalised_ = doc.dump();
    if (second_.parse(normalised_).get(*out) != simdjson::SUCCESS)
      return Status::Invalid(fmt::format("{}:{}: cannot read the JSON again", source_, line));
    return Status::Ok();
  }

  std::string source_;
  simdjson::dom::parser parser_;
  simdjson::dom::parser second_;  // for documents read again
  std::string normalised_;
  simdjson::dom::parser rows_;  // for rows read again (a document may be in second_)
  std::string row_text_;
  bool allocated_ = false;
};

const char* KindName(const simdjson::dom::element& v) {
  switch (v.type()) {
    case simdjson::dom::element_type::NULL_VALUE:
      return "null";
    case simdjson::dom::element_type::BOOL:
      return "a boolean";
    case simdjson::dom::element_type::STRING:
      return "a string";
    case simdjson::dom::element_type::ARRAY:
      return "an array";
    case simdjson::dom::element_type::OBJECT:
      return "an object";
    default:
      return "a number";
  }
}

// Adds the object `row` to `cols`, resolving duplicate keys if a column clashes.
Status AddRow(Columns& cols, Parser& parser, const simdjson::dom::element& row,
              const std::string& where) {
  bool clash = false;
  ALAMBIC_RETURN_IF_ERROR(cols.AddRow(simdjson::dom::object(row), where, &clash));
  if (!clash) return Status::Ok();
  simdjson::dom::element again;
  ALAMBIC_RETURN_IF_ERROR(parser.Normalise(row, &again));
  clash = false;
  ALAMBIC_RETURN_IF_ERROR(cols.AddRow(simdjson::dom::object(again), where, &clash));
  return clash ? cols.ClashError(where) : Status::Ok();
}

Result<Table> ReadLines(const simdjson::padded_string& data, const std::string& source,
                        const CancelToken* cancel) {
  Columns cols;
  Parser parser(source);
  const std::string_view all(data.data(), data.size());
  size_t line = 0;
  size_t pos = 0;
  if (all.substr(0, 3) == "\xEF\xBB\xBF") pos = 3;
  while (pos < all.size()) {
    ++line;
    size_t end = all.find('\n', pos);
    if (end == std::string_view::npos) end = all.size();
    std::string_view text = all.substr(pos, end - pos);
    pos = end + 1;
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    if (text.find_first_not_of(" \t") == std::string_view::npos) continue;
    if ((line % kCheckEveryRows) == 0 && cancel && cancel->cancelled()) return cancel->AsStatus();
    simdjson::dom::element row;
    ALAMBIC_RETURN_IF_ERROR(parser.Parse(text.data(), text.size(), line, &row));
    const std::string where = fmt::format("{}:{}", source, line);
    if (row.type() != simdjson::dom::element_type::OBJECT)
      return Status::Invalid(
          fmt::format("{}: expected a JSON object, got {}", where, KindName(row)));
    ALAMBIC_RETURN_IF_ERROR(AddRow(cols, parser, row, where));
  }
  return cols.Finish();
}

Result<Table> ReadArray(const simdjson::padded_string& data, const std::string& source,
                        const CancelToken* cancel) {
  Parser parser(source);
  simdjson::dom::element doc;
  const size_t bom =
      std::string_view(data.data(), data.size()).substr(0, 3) == "\xEF\xBB\xBF" ? 3 : 0;
  ALAMBIC_RETURN_IF_ERROR(parser.Parse(data.data(), data.size(), 1, &doc, bom));
  if (doc.type() != simdjson::dom::element_type::ARRAY)
    return Status::Invalid(fmt::format(
        "{}: expected an array of objects, got {} (one object per line is format ndjson)", source,
        KindName(doc)));
  Columns cols;
  int64_t n = 0;
  for (const simdjson::dom::element item : simdjson::dom::array(doc)) {
    ++n;
    if ((n % kCheckEveryRows) == 0 && cancel && cancel->cancelled()) return cancel->AsStatus();
    const std::string where = fmt::format("{}: item {}", source, n);
    if (item.type() != simdjson::dom::element_type::OBJECT)
      return Status::Invalid(
          fmt::format("{}: expected a JSON object, got {}", where, KindName(item)));
    ALAMBIC_RETURN_IF_ERROR(AddRow(cols, parser, item, where));
  }
  return cols.Finish();
}

Result<Table> Read(const simdjson::padded_string& data, const JsonReadOptions& opts,
                   const std::string& source, const CancelToken* cancel) {
  if (std::string_view(data.data(), data.size()).find_first_not_of(" \t\r\n") ==
      std::string_view::npos)
    return Status::Invalid(fmt::format("{}: the file is empty", source));
  return opts.lines ? ReadLines(data, source, cancel) : ReadArray(data, source, cancel);
}

}  // namespace

Result<Table> ReadJsonBuffer(std::string_view data, const JsonReadOptions& opts,
                             const CancelToken* cancel) {
  const std::string source = opts.source_name.empty() ? "<json>" : opts.source_name;
  return Read(simdjson::padded_string(data), opts, source, cancel);
}

Result<Table> ReadJsonFile(const std::filesystem::path& path, const JsonReadOptions& opts,
                           const CancelToken* cancel) {
  const std::string source = opts.source_name.empty() ? path.string() : opts.source_name;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    return Status::NotFound(fmt::format("{}: no such file", source));
  simdjson::padded_string data;
  if (simdjson::padded_string::load(path.string()).get(data) != simdjson::SUCCESS)
    return Status::IoError(fmt::format("{}: cannot read", source));
  return Read(data, opts, source, cancel);
}

}  // namespace alambic
