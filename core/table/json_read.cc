#include "core/table/json_read.h"

#include <fstream>
#include <limits>
#include <sstream>
#include <system_error>
#include <unordered_map>

#include <fmt/format.h>
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

const char* KindName(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::string:
      return "a string";
    case json::value_t::array:
      return "an array";
    case json::value_t::object:
      return "an object";
    case json::value_t::binary:
      return "binary";
    default:
      return "a number";
  }
}

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

// Columns built from the rows' flattened values.
class Columns {
 public:
  explicit Columns(std::string source) : source_(std::move(source)) {}

  // Adds one row (an object); `where` says where it is, for messages ("file:3").
  Status AddRow(const json& object, const std::string& where) {
    Status st = Flatten(object, "", where);
    ++rows_;
    for (auto& c : cols_)
      if (static_cast<int64_t>(c.values.size()) < rows_)
        c.values.resize(static_cast<size_t>(rows_));
    return st;
  }

  Result<Table> Finish() {
    Schema schema;
    std::vector<ColumnPtr> out;
    for (auto& c : cols_) {
      const TypeId type = TypeOf(c);
      ColumnBuilder b(type);
      b.Reserve(rows_);
      for (const json& v : c.values) Append(b, type, v);
      schema.fields.push_back(Field{c.name, type, true});
      out.push_back(b.Finish());
      c.values = std::vector<json>();
    }
    return Table::Make(std::move(schema), std::move(out), rows_);
  }

 private:
  struct Col {
    std::string name;
    std::vector<json> values;  // one per row; null where missing
  };

  Status Flatten(const json& object, const std::string& prefix, const std::string& where) {
    for (const auto& [key, value] : object.items()) {
      std::string name = prefix.empty() ? key : prefix + "." + key;
      if (value.is_object() && !value.empty()) {
        ALAMBIC_RETURN_IF_ERROR(Flatten(value, name, where));
        continue;
      }
      auto [it, added] = index_.try_emplace(name, cols_.size());
      if (added) cols_.push_back(Col{name, {}});
      Col& c = cols_[it->second];
      if (static_cast<int64_t>(c.values.size()) > rows_)
        return Status::Invalid(fmt::format(
            "{}: column '{}' appears twice in the object (a key with a '.' beside a nested "
            "object?)",
            where, name));
      c.values.resize(static_cast<size_t>(rows_));
      if (value.is_array() || value.is_object())
        c.values.push_back(json(value.dump()));  // kept as JSON text
      else
        c.values.push_back(value);
    }
    return Status::Ok();
  }

  static TypeId TypeOf(const Col& c) {
    bool ints = false, floats = false, bools = false, strings = false, big = false;
    for (const json& v : c.values) {
      switch (v.type()) {
        case json::value_t::null:
          break;
        case json::value_t::number_integer:
          ints = true;
          break;
        case json::value_t::number_unsigned:
          ints = true;
          big |= v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
          break;
        case json::value_t::number_float:
          floats = true;
          break;
        case json::value_t::boolean:
          bools = true;
          break;
        default:
          strings = true;  // strings, and arrays / objects kept as text
      }
    }
    const int kinds = (ints || floats) + bools + strings;
    if (kinds != 1) return TypeId::kUtf8;  // no value, or mixed kinds
    if (ints || floats) return floats || big ? TypeId::kFloat64 : TypeId::kInt64;
    if (bools) return TypeId::kBool;
    bool dates = true, stamps = true;
    for (const json& v : c.values) {
      if (!v.is_string()) continue;
      const auto& s = v.get_ref<const std::string&>();
      int32_t d;
      int64_t us;
      dates = dates && ParseIsoDate(s, &d);
      stamps = stamps && ParseIsoTimestamp(s, true, &us);
      if (!dates && !stamps) break;
    }
    return dates ? TypeId::kDate32 : stamps ? TypeId::kTimestamp : TypeId::kUtf8;
  }

  static void Append(ColumnBuilder& b, TypeId type, const json& v) {
    if (v.is_null()) {
      b.AppendNull();
      return;
    }
    switch (type) {
      case TypeId::kInt64:
        b.AppendInt64(v.get<int64_t>());
        break;
      case TypeId::kFloat64:
        b.AppendDouble(v.get<double>());
        break;
      case TypeId::kBool:
        b.AppendBool(v.get<bool>());
        break;
      case TypeId::kDate32: {
        int32_t d = 0;
        ParseIsoDate(v.get_ref<const std::string&>(), &d);
        b.AppendDate32(d);
        break;
      }
      case TypeId::kTimestamp: {
        int64_t us = 0;
        ParseIsoTimestamp(v.get_ref<const std::string&>(), true, &us);
        b.AppendTimestamp(us);
        break;
      }
      case TypeId::kUtf8:
        if (v.is_string())
          b.AppendString(v.get_ref<const std::string&>());
        else
          b.AppendString(v.dump());
        break;
    }
  }

  std::string source_;
  std::vector<Col> cols_;
  std::unordered_map<std::string, size_t> index_;
  int64_t rows_ = 0;
};

Result<Table> ReadLines(std::string_view data, const std::string& source,
                        const CancelToken* cancel) {
  Columns cols(source);
  size_t line = 0;
  size_t pos = 0;
  if (data.substr(0, 3) == "\xEF\xBB\xBF") pos = 3;
  while (pos < data.size()) {
    ++line;
    size_t end = data.find('\n', pos);
    if (end == std::string_view::npos) end = data.size();
    std::string_view text = data.substr(pos, end - pos);
    pos = end + 1;
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    if (text.find_first_not_of(" \t") == std::string_view::npos) continue;
    if ((line % kCheckEveryRows) == 0 && cancel && cancel->cancelled()) return cancel->AsStatus();
    ALAMBIC_RETURN_IF_ERROR(CheckDepth(text, source, line));
    json row;
    try {
      row = json::parse(text);
    } catch (const json::parse_error& e) {
      return Status::Invalid(fmt::format("{}:{}: invalid JSON at column {}: {}", source, line,
                                         e.byte, ParseErrorText(e)));
    } catch (const json::out_of_range& e) {
      std::string number;
      return Status::Invalid(
          fmt::format("{}:{}: invalid JSON: {}", source, line, OutOfRangeText(e, &number)));
    }
    const std::string where = fmt::format("{}:{}", source, line);
    if (!row.is_object())
      return Status::Invalid(
          fmt::format("{}: expected a JSON object, got {}", where, KindName(row)));
    ALAMBIC_RETURN_IF_ERROR(cols.AddRow(row, where));
  }
  return cols.Finish();
}

Result<Table> ReadArray(std::string_view data, const std::string& source,
                        const CancelToken* cancel) {
  ALAMBIC_RETURN_IF_ERROR(CheckDepth(data, source, 1));
  json doc;
  try {
    doc = json::parse(data);
  } catch (const json::parse_error& e) {
    const size_t at = e.byte > 0 ? e.byte - 1 : 0;
    const size_t line_start = data.rfind('\n', at == 0 ? 0 : at - 1);
    const size_t column =
        line_start == std::string_view::npos || at == 0 ? at + 1 : at - line_start;
    return Status::Invalid(fmt::format("{}:{}: invalid JSON at column {}: {}", source,
                                       LineAt(data, at), column, ParseErrorText(e)));
  } catch (const json::out_of_range& e) {
    std::string number;
    const std::string text = OutOfRangeText(e, &number);
    const size_t at = number.empty() ? std::string_view::npos : data.find(number);
    return Status::Invalid(fmt::format("{}:{}: invalid JSON: {}", source,
                                       at == std::string_view::npos ? 1 : LineAt(data, at), text));
  }
  if (!doc.is_array())
    return Status::Invalid(fmt::format(
        "{}: expected an array of objects, got {} (one object per line is format ndjson)", source,
        KindName(doc)));
  Columns cols(source);
  int64_t n = 0;
  for (const json& item : doc) {
    ++n;
    if ((n % kCheckEveryRows) == 0 && cancel && cancel->cancelled()) return cancel->AsStatus();
    const std::string where = fmt::format("{}: item {}", source, n);
    if (!item.is_object())
      return Status::Invalid(
          fmt::format("{}: expected a JSON object, got {}", where, KindName(item)));
    ALAMBIC_RETURN_IF_ERROR(cols.AddRow(item, where));
  }
  return cols.Finish();
}

}  // namespace

Result<Table> ReadJsonBuffer(std::string_view data, const JsonReadOptions& opts,
                             const CancelToken* cancel) {
  const std::string source = opts.source_name.empty() ? "<json>" : opts.source_name;
  if (data.find_first_not_of(" \t\r\n") == std::string_view::npos)
    return Status::Invalid(fmt::format("{}: the file is empty", source));
  return opts.lines ? ReadLines(data, source, cancel) : ReadArray(data, source, cancel);
}

Result<Table> ReadJsonFile(const std::filesystem::path& path, const JsonReadOptions& opts,
                           const CancelToken* cancel) {
  const std::string source = opts.source_name.empty() ? path.string() : opts.source_name;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    return Status::NotFound(fmt::format("{}: no such file", source));
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IoError(fmt::format("{}: cannot read", source));
  std::ostringstream buf;
  buf << in.rdbuf();
  if (!in && !in.eof()) return Status::IoError(fmt::format("{}: read failed", source));
  JsonReadOptions o = opts;
  o.source_name = source;
  return ReadJsonBuffer(buf.str(), o, cancel);
}

}  // namespace alambic
