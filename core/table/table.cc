#include "core/table/table.h"

#include <charconv>
#include <cmath>
#include <unordered_map>

#include <fmt/format.h>

namespace alambic {

const char* TypeName(TypeId type) {
  switch (type) {
    case TypeId::kInt64:
      return "int64";
    case TypeId::kFloat64:
      return "float64";
    case TypeId::kBool:
      return "bool";
    case TypeId::kUtf8:
      return "utf8";
    case TypeId::kDate32:
      return "date32";
    case TypeId::kTimestamp:
      return "timestamp";
  }
  return "?";
}

Result<TypeId> ParseTypeName(std::string_view name) {
  if (name == "int64" || name == "int" || name == "integer") return TypeId::kInt64;
  if (name == "float64" || name == "double" || name == "float" || name == "real")
    return TypeId::kFloat64;
  if (name == "bool" || name == "boolean") return TypeId::kBool;
  if (name == "utf8" || name == "string" || name == "text" || name == "str") return TypeId::kUtf8;
  if (name == "date32" || name == "date") return TypeId::kDate32;
  if (name == "timestamp" || name == "datetime") return TypeId::kTimestamp;
  return Status::Invalid(fmt::format(
      "unknown type '{}' (expected int64, float64, bool, utf8, date32 or timestamp)", name));
}

int FixedWidth(TypeId type) {
  switch (type) {
    case TypeId::kInt64:
    case TypeId::kFloat64:
    case TypeId::kTimestamp:
      return 8;
    case TypeId::kDate32:
      return 4;
    case TypeId::kBool:
    case TypeId::kUtf8:
      return 0;
  }
  return 0;
}

Status Column::Validate() const {
  const auto n = static_cast<size_t>(length);
  if (length < 0) return Status::Invalid("negative column length");
  if (!validity.empty() && validity.size() < (n + 7) / 8)
    return Status::Invalid("validity bitmap shorter than the column");
  if (validity.empty() && null_count != 0) return Status::Invalid("null count without bitmap");
  if (dictionary) {
    if (type != TypeId::kUtf8) return Status::Invalid("dictionary on a non-utf8 column");
    if (data.size() < n * 4) return Status::Invalid("dictionary indices buffer too short");
    for (size_t i = 0; i < n; ++i) {
      if (!IsValid(static_cast<int64_t>(i))) continue;
      int32_t idx = Int32Data()[i];
      if (idx < 0 || idx >= dictionary->length)
        return Status::Invalid(fmt::format("dictionary index {} out of range at row {}", idx, i));
    }
    return dictionary->Validate();
  }
  switch (type) {
    case TypeId::kUtf8: {
      if (offsets.size() != n + 1) return Status::Invalid("utf8 offsets size mismatch");
      if (offsets[0] != 0 && n > 0) return Status::Invalid("utf8 offsets must start at 0");
      for (size_t i = 0; i < n; ++i)
        if (offsets[i + 1] < offsets[i]) return Status::Invalid("utf8 offsets decrease");
      if (static_cast<size_t>(offsets[n]) > data.size())
        return Status::Invalid("utf8 offsets past the end of the data");
      return Status::Ok();
    }
    case TypeId::kBool:
      if (data.size() < (n + 7) / 8) return Status::Invalid("bool buffer too short");
      return Status::Ok();
    default:
      if (data.size() < n * static_cast<size_t>(FixedWidth(type)))
        return Status::Invalid("values buffer too short");
      return Status::Ok();
  }
}

int64_t Column::ByteSize() const {
  int64_t s = static_cast<int64_t>(validity.size() + data.size() + offsets.size() * 4);
  if (dictionary) s += dictionary->ByteSize();
  return s;
}

ColumnBuilder::ColumnBuilder(TypeId type) {
  col_.type = type;
  if (type == TypeId::kUtf8) col_.offsets.push_back(0);
}

void ColumnBuilder::Reserve(int64_t rows) {
  const auto n = static_cast<size_t>(rows);
  switch (col_.type) {
    case TypeId::kUtf8:
      col_.offsets.reserve(n + 1);
      col_.data.reserve(n * 8);
      break;
    case TypeId::kBool:
      col_.data.reserve((n + 7) / 8);
      break;
    default:
      col_.data.reserve(n * static_cast<size_t>(FixedWidth(col_.type)));
      break;
  }
}

void ColumnBuilder::SetValid(bool valid) {
  if (valid && col_.validity.empty()) {
    ++validity_bits_;
    return;
  }
  if (!valid && col_.validity.empty()) {
    // First null: materialise the bitmap with every earlier row valid.
    col_.validity.assign(static_cast<size_t>((validity_bits_ + 8) / 8), 0);
    for (int64_t i = 0; i < validity_bits_; ++i)
      col_.validity[static_cast<size_t>(i >> 3)] |= static_cast<uint8_t>(1u << (i & 7));
  }
  const auto byte = static_cast<size_t>(validity_bits_ >> 3);
  if (byte >= col_.validity.size()) col_.validity.push_back(0);
  if (valid) col_.validity[byte] |= static_cast<uint8_t>(1u << (validity_bits_ & 7));
  ++validity_bits_;
  if (!valid) ++col_.null_count;
}

void ColumnBuilder::AppendFixed(const void* v, size_t width) {
  const size_t old = col_.data.size();
  col_.data.resize(old + width);
  std::memcpy(col_.data.data() + old, v, width);
}

void ColumnBuilder::AppendNull() {
  SetValid(false);
  switch (col_.type) {
    case TypeId::kUtf8:
      col_.offsets.push_back(col_.offsets.back());
      break;
    case TypeId::kBool:
      if ((col_.length & 7) == 0) col_.data.push_back(0);
      break;
    default: {
      const uint64_t zero = 0;
      AppendFixed(&zero, static_cast<size_t>(FixedWidth(col_.type)));
    }
  }
  ++col_.length;
}

void ColumnBuilder::AppendInt64(int64_t v) {
  SetValid(true);
  AppendFixed(&v, 8);
  ++col_.length;
}
void ColumnBuilder::AppendTimestamp(int64_t micros) { AppendInt64(micros); }
void ColumnBuilder::AppendDouble(double v) {
  SetValid(true);
  AppendFixed(&v, 8);
  ++col_.length;
}
void ColumnBuilder::AppendDate32(int32_t days) {
  SetValid(true);
  AppendFixed(&days, 4);
  ++col_.length;
}
void ColumnBuilder::AppendBool(bool v) {
  SetValid(true);
  if ((col_.length & 7) == 0) col_.data.push_back(0);
  if (v) col_.data.back() |= static_cast<uint8_t>(1u << (col_.length & 7));
  ++col_.length;
}
void ColumnBuilder::AppendString(std::string_view v) {
  SetValid(true);
  col_.data.insert(col_.data.end(), v.begin(), v.end());
  col_.offsets.push_back(static_cast<int32_t>(col_.data.size()));
  ++col_.length;
}

void ColumnBuilder::AppendFrom(const Column& src, int64_t i) {
  if (src.IsNull(i)) return AppendNull();
  switch (src.type) {
    case TypeId::kInt64:
    case TypeId::kTimestamp:
      return AppendInt64(src.Int64(i));
    case TypeId::kFloat64:
      return AppendDouble(src.Double(i));
    case TypeId::kBool:
      return AppendBool(src.Bool(i));
    case TypeId::kUtf8:
      return AppendString(src.String(i));
    case TypeId::kDate32:
      return AppendDate32(src.Date32(i));
  }
}

std::shared_ptr<Column> ColumnBuilder::Finish() {
  if (!col_.validity.empty()) col_.validity.resize(static_cast<size_t>((col_.length + 7) / 8));
  auto out = std::make_shared<Column>(std::move(col_));
  col_ = Column();
  col_.type = out->type;
  if (col_.type == TypeId::kUtf8) col_.offsets.push_back(0);
  validity_bits_ = 0;
  return out;
}

std::shared_ptr<Column> DictionaryEncode(const Column& utf8) {
  if (utf8.is_dictionary()) return std::make_shared<Column>(utf8);
  std::unordered_map<std::string_view, int32_t> index;
  ColumnBuilder dict(TypeId::kUtf8);
  auto out = std::make_shared<Column>();
  out->type = TypeId::kUtf8;
  out->length = utf8.length;
  out->null_count = utf8.null_count;
  out->validity = utf8.validity;
  out->data.resize(static_cast<size_t>(utf8.length) * 4);
  auto* idx = reinterpret_cast<int32_t*>(out->data.data());
  for (int64_t i = 0; i < utf8.length; ++i) {
    if (utf8.IsNull(i)) {
      idx[i] = 0;
      continue;
    }
    auto s = utf8.String(i);
    auto [it, inserted] = index.try_emplace(s, static_cast<int32_t>(index.size()));
    if (inserted) dict.AppendString(s);
    idx[i] = it->second;
  }
  out->dictionary = dict.Finish();
  return out;
}

std::shared_ptr<Column> DictionaryDecode(const Column& col) {
  if (!col.is_dictionary()) return std::make_shared<Column>(col);
  ColumnBuilder b(TypeId::kUtf8);
  b.Reserve(col.length);
  for (int64_t i = 0; i < col.length; ++i) b.AppendFrom(col, i);
  return b.Finish();
}

int Schema::FieldIndex(std::string_view name) const {
  for (size_t i = 0; i < fields.size(); ++i)
    if (fields[i].name == name) return static_cast<int>(i);
  return -1;
}

std::string Schema::ToString() const {
  std::string s;
  for (const auto& f : fields) {
    if (!s.empty()) s += ", ";
    s += f.name + ":" + TypeName(f.type);
  }
  return s;
}

Result<Table> Table::Make(Schema schema, std::vector<ColumnPtr> columns) {
  int64_t rows = columns.empty() ? 0 : columns.front()->length;
  return Make(std::move(schema), std::move(columns), rows);
}

Result<Table> Table::Make(Schema schema, std::vector<ColumnPtr> columns, int64_t num_rows) {
  if (schema.fields.size() != columns.size())
    return Status::Invalid(fmt::format("schema has {} fields but {} columns were given",
                                       schema.fields.size(), columns.size()));
  for (size_t i = 0; i < columns.size(); ++i) {
    const auto& f = schema.fields[i];
    if (!columns[i]) return Status::Invalid(fmt::format("column '{}' is missing", f.name));
    if (columns[i]->type != f.type)
      return Status::Invalid(fmt::format("column '{}' is {} but the schema says {}", f.name,
                                         TypeName(columns[i]->type), TypeName(f.type)));
    if (columns[i]->length != num_rows)
      return Status::Invalid(fmt::format("column '{}' has {} rows, expected {}", f.name,
                                         columns[i]->length, num_rows));
  }
  // Linear in the number of columns (a script may declare hundreds of thousands).
  if (schema.fields.size() > 1) {
    std::unordered_map<std::string_view, size_t> seen;
    seen.reserve(schema.fields.size());
    for (size_t i = 0; i < schema.fields.size(); ++i)
      if (!seen.emplace(schema.fields[i].name, i).second)
        return Status::Invalid(fmt::format("duplicate column name '{}'", schema.fields[i].name));
  }
  Table t;
  t.schema_ = std::move(schema);
  t.columns_ = std::move(columns);
  t.num_rows_ = num_rows;
  return t;
}

ColumnPtr Table::ColumnByName(std::string_view name) const {
  int i = schema_.FieldIndex(name);
  return i < 0 ? nullptr : columns_[static_cast<size_t>(i)];
}

int64_t Table::ByteSize() const {
  int64_t s = 0;
  for (const auto& c : columns_) s += c->ByteSize();
  return s;
}

// Howard Hinnant's civil-date algorithms (public domain description), proleptic Gregorian.
int32_t DaysFromCivil(int y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return static_cast<int32_t>(era * 146097 + static_cast<int>(doe) - 719468);
}

void CivilFromDays(int32_t days, int* year, unsigned* month, unsigned* day) {
  // 64-bit: every int32 day count (years about ±5.8 million) stays in range.
  const int64_t z = static_cast<int64_t>(days) + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const auto y = static_cast<int>(static_cast<int64_t>(yoe) + era * 400);
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *day = doy - (153 * mp + 2) / 5 + 1;
  *month = mp < 10 ? mp + 3 : mp - 9;
  *year = y + (*month <= 2);
}

namespace {
int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }
}  // namespace

std::string FormatCell(const Column& col, int64_t row) {
  if (col.IsNull(row)) return "";
  switch (col.type) {
    case TypeId::kInt64:
      return std::to_string(col.Int64(row));
    case TypeId::kFloat64: {
      double v = col.Double(row);
      if (std::isnan(v)) return "NaN";
      if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
      char buf[64];
      auto r = std::to_chars(buf, buf + sizeof buf, v);
      return std::string(buf, r.ptr);
    }
    case TypeId::kBool:
      return col.Bool(row) ? "true" : "false";
    case TypeId::kUtf8:
      return std::string(col.String(row));
    case TypeId::kDate32: {
      int y;
      unsigned m, d;
      CivilFromDays(col.Date32(row), &y, &m, &d);
      return fmt::format("{:04d}-{:02d}-{:02d}", y, m, d);
    }
    case TypeId::kTimestamp: {
      const int64_t us = col.Int64(row);
      // Seconds rounded down and the microseconds past them, without overflow near
      // the ends of int64 (a floored secs * 1000000 can be below INT64_MIN).
      int64_t secs = us / 1000000;
      int64_t frac = us % 1000000;
      if (frac < 0) {
        frac += 1000000;
        --secs;
      }
      const int64_t days = FloorDiv(secs, 86400);
      const int64_t sod = secs - days * 86400;
      int y;
      unsigned m, d;
      CivilFromDays(static_cast<int32_t>(days), &y, &m, &d);
      std::string s = fmt::format("{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}", y, m, d, sod / 3600,
                                  (sod / 60) % 60, sod % 60);
      if (frac) s += fmt::format(".{:06d}", frac);
      return s + "Z";
    }
  }
  return "";
}

}  // namespace alambic
