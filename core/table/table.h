// Columnar tables in the Apache Arrow memory layout.
//
// A Column holds one typed array: an optional validity bitmap (LSB-first, one bit
// per row, empty when every row is valid), a values buffer and, for utf8, an
// int32 offsets buffer of length()+1 entries. A utf8 column may instead be
// dictionary-encoded: `data` then holds int32 indices into `dictionary`, a utf8
// column without nulls. Columns are immutable once built and shared between
// tables through shared_ptr<const Column>; they are safe to read from many
// threads.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/status.h"

namespace alambic {

enum class TypeId : uint8_t {
  kInt64,
  kFloat64,
  kBool,
  kUtf8,
  kDate32,     // days since 1970-01-01
  kTimestamp,  // microseconds since 1970-01-01T00:00:00Z
};

// "int64", "float64", "bool", "utf8", "date32", "timestamp".
const char* TypeName(TypeId type);
// Accepts the names above plus common aliases (int, integer, double, float,
// string, text, boolean, date, datetime). Returns Invalid for anything else.
Result<TypeId> ParseTypeName(std::string_view name);
// Width in bytes of one value (bool: 0, bit-packed; utf8: 0, variable).
int FixedWidth(TypeId type);

struct Column {
  TypeId type = TypeId::kInt64;
  int64_t length = 0;
  int64_t null_count = 0;
  std::vector<uint8_t> validity;  // empty when null_count == 0
  std::vector<uint8_t> data;      // values; bool bit-packed; utf8 bytes; dict: int32 indices
  std::vector<int32_t> offsets;   // utf8 (not dictionary-encoded) only
  std::shared_ptr<const Column> dictionary;  // set for dictionary-encoded utf8

  bool is_dictionary() const { return dictionary != nullptr; }
  bool IsValid(int64_t i) const {
    return validity.empty() || ((validity[static_cast<size_t>(i >> 3)] >> (i & 7)) & 1);
  }
  bool IsNull(int64_t i) const { return !IsValid(i); }

  const int64_t* Int64Data() const { return reinterpret_cast<const int64_t*>(data.data()); }
  const int32_t* Int32Data() const { return reinterpret_cast<const int32_t*>(data.data()); }
  const double* DoubleData() const { return reinterpret_cast<const double*>(data.data()); }

  int64_t Int64(int64_t i) const { return Int64Data()[i]; }  // int64 and timestamp
  int32_t Date32(int64_t i) const { return Int32Data()[i]; }
  double Double(int64_t i) const { return DoubleData()[i]; }
  bool Bool(int64_t i) const { return (data[static_cast<size_t>(i >> 3)] >> (i & 7)) & 1; }
  // For utf8 (plain or dictionary-encoded). Undefined for null rows' content.
  std::string_view String(int64_t i) const {
    if (dictionary) return dictionary->String(Int32Data()[i]);
    return std::string_view(reinterpret_cast<const char*>(data.data()) + offsets[i],
                            static_cast<size_t>(offsets[i + 1] - offsets[i]));
  }

  // Checks buffer sizes and offsets against length and type.
  Status Validate() const;
  // Approximate memory held, in bytes.
  int64_t ByteSize() const;
};

using ColumnPtr = std::shared_ptr<const Column>;

// Builds a Column row by row. Not thread-safe.
class ColumnBuilder {
 public:
  explicit ColumnBuilder(TypeId type);
  TypeId type() const { return col_.type; }
  int64_t length() const { return col_.length; }
  void Reserve(int64_t rows);

  void AppendNull();
  void AppendInt64(int64_t v);
  void AppendDouble(double v);
  void AppendBool(bool v);
  void AppendString(std::string_view v);
  void AppendDate32(int32_t days);
  void AppendTimestamp(int64_t micros);
  // Copies row `i` of `src` (same type; dictionary sources are decoded).
  void AppendFrom(const Column& src, int64_t i);

  // Returns the column and resets the builder.
  std::shared_ptr<Column> Finish();

 private:
  void SetValid(bool valid);
  void AppendFixed(const void* v, size_t width);
  Column col_;
  int64_t validity_bits_ = 0;  // rows written to the validity bitmap so far
};

// Builds a dictionary-encoded utf8 column (values become int32 indices).
std::shared_ptr<Column> DictionaryEncode(const Column& utf8);
// Returns a plain utf8 column for a dictionary-encoded one (or the same data).
std::shared_ptr<Column> DictionaryDecode(const Column& col);

struct Field {
  std::string name;
  TypeId type = TypeId::kUtf8;
  bool nullable = true;
  bool operator==(const Field&) const = default;
};

struct Schema {
  std::vector<Field> fields;
  // Index of the field named `name`, or -1.
  int FieldIndex(std::string_view name) const;
  bool operator==(const Schema&) const = default;
  // "name:type, name:type" for messages and the catalog.
  std::string ToString() const;
};

class Table {
 public:
  Table() = default;
  // Checks that columns match the schema and all have `num_rows` rows.
  static Result<Table> Make(Schema schema, std::vector<ColumnPtr> columns);
  static Result<Table> Make(Schema schema, std::vector<ColumnPtr> columns, int64_t num_rows);

  const Schema& schema() const { return schema_; }
  int num_columns() const { return static_cast<int>(columns_.size()); }
  int64_t num_rows() const { return num_rows_; }
  const ColumnPtr& column(int i) const { return columns_[static_cast<size_t>(i)]; }
  const std::vector<ColumnPtr>& columns() const { return columns_; }
  // Column named `name`, or nullptr.
  ColumnPtr ColumnByName(std::string_view name) const;
  int64_t ByteSize() const;

 private:
  Schema schema_;
  std::vector<ColumnPtr> columns_;
  int64_t num_rows_ = 0;
};

// Civil dates: days since 1970-01-01 <-> year/month/day (proleptic Gregorian).
int32_t DaysFromCivil(int year, unsigned month, unsigned day);
void CivilFromDays(int32_t days, int* year, unsigned* month, unsigned* day);

// Text form of one cell: "" for null; dates as YYYY-MM-DD, timestamps as
// YYYY-MM-DDTHH:MM:SS[.ffffff]Z, floats with the shortest round-trip digits,
// bools as true/false.
std::string FormatCell(const Column& col, int64_t row);

}  // namespace alambic
