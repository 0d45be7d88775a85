// arrow_tool: writes and reads Arrow IPC files with Alambic's own implementation
// (core/table/arrow_ipc.h), for the interoperability test against the independent
// apache-arrow JS implementation (tests/interop/check.mjs, run by run.sh).
//
//   arrow_tool write FILE [BATCH_ROWS]   the deterministic table below, BATCH_ROWS
//                                        rows per record batch (default 100)
//   arrow_tool write-empty FILE          the same schema, 0 rows
//   arrow_tool read FILE                 prints the file as JSON on stdout
//   arrow_tool probe FILE...             reads each file as `read` does, one line
//                                        per file: "read" or "refused: MESSAGE"
//
// The deterministic table (kRows rows; check.mjs recomputes it independently, so
// any change here must be made there too). Row i, "null if" first:
//   id        int64, not nullable   i
//   i64       int64     null if i%7==5;  rows 0..4: INT64_MIN, INT64_MAX, 0, -1,
//                       -9007199254740993; else the low 64 bits of
//                       i * 6364136223846793005 as a signed integer
//   f64       float64   null if i%11==10; rows 0..8: -0.0, 1e308, -1e308, 5e-324,
//                       NaN, +inf, -inf, 0.1, 2.2250738585072014e-308; else (i-600)/7.0
//   flag      bool      null if i%13==0;  (i%3==0) != (i%5==0)
//   name      utf8      null if i%17==9;  row 42: 3000 'x' then "é"; else
//                       kNames[i%10], followed by "#<i>" when i%3==1
//   category  utf8, dictionary-encoded    null if i%19==2; kCities[(i*5+i/6)%6]
//   dept      utf8, dictionary-encoded    no nulls;        kDepts[(i/50)%4]
//   day       date32    null if i%23==8;  rows 0..5: 0001-01-01, 1969-12-31,
//                       1970-01-01, 9999-12-31, 1900-02-28, 2000-02-29; else i*37-20000
//   ts        timestamp null if i%29==6;  rows 0..4: 0, -1, 1700000000123456,
//                       -2208988800000000 (1900-01-01T00:00:00Z),
//                       253402300799999999 (9999-12-31T23:59:59.999999Z);
//                       else (i-600)*86400000001*13 + i   (microseconds, UTC)
//
// JSON printed by `read`:
//   {"schema": [{"name": str, "type": "int64"|"float64"|"bool"|"utf8"|"date32"|
//                "timestamp", "nullable": bool, "dictionary": bool}, ...],
//    "rows": N,
//    "columns": {name: [value, ...], ...}}
// with one value per row: null for a null row; int64 as a decimal string (JSON
// numbers lose precision past 2^53); float64 as a JSON number with the shortest
// round-trip digits (-0.0 keeps its sign), except "NaN", "Infinity" and
// "-Infinity" as strings; bool as true/false; utf8 as a string (plain and
// dictionary-encoded alike); date32 as "YYYY-MM-DD" (proleptic Gregorian; a
// year beyond 9999 has more digits, one before 1 a sign; past the year 5.8
// million, where alambic::CivilFromDays would overflow, "days:N");
// timestamp as the decimal string of its microseconds since the epoch (UTC).
//
// Exit codes: 0 ok; 1 the file could not be written or read (the message is on
// stderr); 2 bad usage.
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "core/table/arrow_ipc.h"
#include "core/table/table.h"

namespace {

using alambic::ColumnBuilder;
using alambic::ColumnPtr;
using alambic::Result;
using alambic::Schema;
using alambic::Status;
using alambic::Table;
using alambic::TypeId;
using namespace std::string_view_literals;

constexpr int64_t kRows = 1237;
constexpr int64_t kDefaultBatchRows = 100;

// Accents, combining marks, 4-byte emoji, a ZWJ sequence, CJK, escapes and an
// embedded NUL.
const std::string_view kNames[10] = {
    ""sv,
    "plain ascii"sv,
    "é"sv,
    "naïve café"sv,
    "Ça va ? 🚀"sv,
    "日本語のテキスト"sv,
    "\U0001F469\u200D\U0001F469\u200D\U0001F467 family"sv,  // a ZWJ sequence
    "tab\tquote\"backslash\\"sv,
    "e\u0301"sv,
    "nul\0inside"sv,
};
const std::string_view kCities[6] = {"Paris"sv,         "Lyon"sv, "Marseille"sv,
                                     "Saint-Étienne"sv, ""sv,     "Besançon 🏔"sv};
const std::string_view kDepts[4] = {"75"sv, "2A"sv, "971"sv, "13"sv};

Result<Table> BuildTable(int64_t rows) {
  Schema schema;
  schema.fields = {{"id", TypeId::kInt64, false},   {"i64", TypeId::kInt64, true},
                   {"f64", TypeId::kFloat64, true}, {"flag", TypeId::kBool, true},
                   {"name", TypeId::kUtf8, true},   {"category", TypeId::kUtf8, true},
                   {"dept", TypeId::kUtf8, true},   {"day", TypeId::kDate32, true},
                   {"ts", TypeId::kTimestamp, true}};
  ColumnBuilder id(TypeId::kInt64), i64(TypeId::kInt64), f64(TypeId::kFloat64), flag(TypeId::kBool),
      name(TypeId::kUtf8), category(TypeId::kUtf8), dept(TypeId::kUtf8), day(TypeId::kDate32),
      ts(TypeId::kTimestamp);
  const int64_t special_i64[] = {std::numeric_limits<int64_t>::min(),
                                 std::numeric_limits<int64_t>::max(), 0, -1, -9007199254740993};
  const double special_f64[] = {-0.0,
                                1e308,
                                -1e308,
                                5e-324,
                                std::numeric_limits<double>::quiet_NaN(),
                                std::numeric_limits<double>::infinity(),
                                -std::numeric_limits<double>::infinity(),
                                0.1,
                                2.2250738585072014e-308};
  const int32_t special_day[] = {alambic::DaysFromCivil(1, 1, 1),
                                 -1,
                                 0,
                                 alambic::DaysFromCivil(9999, 12, 31),
                                 alambic::DaysFromCivil(1900, 2, 28),
                                 alambic::DaysFromCivil(2000, 2, 29)};
  const int64_t special_ts[] = {0, -1, 1700000000123456, -2208988800000000, 253402300799999999};
  for (int64_t i = 0; i < rows; ++i) {
    const auto u = static_cast<size_t>(i);
    id.AppendInt64(i);
    if (i % 7 == 5)
      i64.AppendNull();
    else if (u < std::size(special_i64))
      i64.AppendInt64(special_i64[u]);
    else
      i64.AppendInt64(static_cast<int64_t>(static_cast<uint64_t>(i) * 6364136223846793005ull));
    if (i % 11 == 10)
      f64.AppendNull();
    else if (u < std::size(special_f64))
      f64.AppendDouble(special_f64[u]);
    else
      f64.AppendDouble(static_cast<double>(i - 600) / 7.0);
    if (i % 13 == 0)
      flag.AppendNull();
    else
      flag.AppendBool((i % 3 == 0) != (i % 5 == 0));
    if (i % 17 == 9) {
      name.AppendNull();
    } else if (i == 42) {
      name.AppendString(std::string(3000, 'x') + "é");
    } else {
      std::string s(kNames[i % 10]);
      if (i % 3 == 1) s += fmt::format("#{}", i);
      name.AppendString(s);
    }
    if (i % 19 == 2)
      category.AppendNull();
    else
      category.AppendString(kCities[(i * 5 + i / 6) % 6]);
    dept.AppendString(kDepts[(i / 50) % 4]);
    if (i % 23 == 8)
      day.AppendNull();
    else if (u < std::size(special_day))
      day.AppendDate32(special_day[u]);
    else
      day.AppendDate32(static_cast<int32_t>(i * 37 - 20000));
    if (i % 29 == 6)
      ts.AppendNull();
    else if (u < std::size(special_ts))
      ts.AppendTimestamp(special_ts[u]);
    else
      ts.AppendTimestamp((i - 600) * 86400000001 * 13 + i);
  }
  std::vector<ColumnPtr> cols = {id.Finish(),
                                 i64.Finish(),
                                 f64.Finish(),
                                 flag.Finish(),
                                 name.Finish(),
                                 alambic::DictionaryEncode(*category.Finish()),
                                 alambic::DictionaryEncode(*dept.Finish()),
                                 day.Finish(),
                                 ts.Finish()};
  return Table::Make(std::move(schema), std::move(cols), rows);
}

class FileSink final : public alambic::ByteSink {
 public:
  explicit FileSink(std::FILE* f) : f_(f) {}
  Status Write(const void* data, size_t n) override {
    if (n && std::fwrite(data, 1, n, f_) != n) return Status::IoError("short write");
    return Status::Ok();
  }

 private:
  std::FILE* f_;
};

int Fail(const std::string& message) {
  std::cerr << "arrow_tool: " << message << "\n";
  return 1;
}

// Writes `table` to `path` through WriteArrowFile, and checks that
// WriteArrowFileToString produces the same bytes.
int Write(const Table& table, const std::string& path, int64_t batch_rows) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return Fail(path + ": cannot open for writing");
  FileSink sink(f);
  Status st = alambic::WriteArrowFile(table, sink, batch_rows);
  const bool closed = std::fclose(f) == 0;
  if (!st.ok()) return Fail(path + ": " + st.message());
  if (!closed) return Fail(path + ": write failed");
  auto bytes = alambic::WriteArrowFileToString(table, batch_rows);
  if (!bytes.ok()) return Fail("WriteArrowFileToString: " + bytes.status().message());
  std::FILE* r = std::fopen(path.c_str(), "rb");
  if (!r) return Fail(path + ": cannot reopen");
  std::string back(bytes->size() + 1, '\0');
  const size_t got = std::fread(back.data(), 1, back.size(), r);
  std::fclose(r);
  back.resize(got);
  if (back != *bytes) return Fail("WriteArrowFile and WriteArrowFileToString differ");
  return 0;
}

std::string FormatDate(int32_t days) {
  // alambic::CivilFromDays computes days + 719468 in int: past INT32_MAX - 719468
  // (year 5.8 million) that overflows, so such days are printed as a count.
  if (days > std::numeric_limits<int32_t>::max() - 719468) return fmt::format("days:{}", days);
  int y;
  unsigned m, d;
  alambic::CivilFromDays(days, &y, &m, &d);
  return fmt::format("{:04}-{:02}-{:02}", y, m, d);
}

nlohmann::json Cell(const alambic::Column& c, int64_t i) {
  if (c.IsNull(i)) return nullptr;
  switch (c.type) {
    case TypeId::kInt64:
      return std::to_string(c.Int64(i));
    case TypeId::kFloat64: {
      const double v = c.Double(i);
      if (std::isnan(v)) return "NaN";
      if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
      return v;
    }
    case TypeId::kBool:
      return c.Bool(i);
    case TypeId::kUtf8:
      return std::string(c.String(i));
    case TypeId::kDate32:
      return FormatDate(c.Date32(i));
    case TypeId::kTimestamp:
      return std::to_string(c.Int64(i));
  }
  return nullptr;
}

// Reads FILE and renders it as the JSON `read` prints; returns the error message,
// or an empty string when the file was read.
std::string ReadToJson(const std::string& path, std::string& json) {
  auto table = alambic::ReadArrowFile(path);
  if (!table.ok()) {
    const std::string message = table.status().message();
    return message.empty() ? "unreadable" : message;
  }
  nlohmann::json schema = nlohmann::json::array();
  nlohmann::json columns = nlohmann::json::object();
  for (int c = 0; c < table->num_columns(); ++c) {
    const alambic::Field& f = table->schema().fields[static_cast<size_t>(c)];
    const alambic::Column& col = *table->column(c);
    schema.push_back({{"name", f.name},
                      {"type", alambic::TypeName(f.type)},
                      {"nullable", f.nullable},
                      {"dictionary", col.is_dictionary()}});
    nlohmann::json values = nlohmann::json::array();
    for (int64_t i = 0; i < table->num_rows(); ++i) values.push_back(Cell(col, i));
    columns[f.name] = std::move(values);
  }
  nlohmann::json out = {
      {"schema", std::move(schema)}, {"rows", table->num_rows()}, {"columns", std::move(columns)}};
  try {
    json = out.dump();
  } catch (const nlohmann::json::exception& e) {  // invalid UTF-8 in a string
    return path + ": " + e.what();
  }
  return "";
}

int Read(const std::string& path) {
  std::string json;
  if (std::string error = ReadToJson(path, json); !error.empty()) return Fail(error);
  std::cout << json << "\n";
  return std::cout.flush() ? 0 : Fail("cannot write to stdout");
}

// `probe`: reads each file as `read` does, in one process (the corruption test reads
// thousands of mutants; starting an instrumented binary for each would take minutes).
// One line per file: "read" or "refused: MESSAGE" (the message on one line).
int Probe(int count, char** paths) {
  for (int i = 0; i < count; ++i) {
    std::string json;
    std::string error = ReadToJson(paths[i], json);
    if (error.empty()) {
      std::cout << "read\n";
      continue;
    }
    for (char& c : error) {
      if (c == '\n' || c == '\r') c = ' ';
    }
    std::cout << "refused: " << error << "\n";
  }
  return std::cout.flush() ? 0 : Fail("cannot write to stdout");
}

int Usage() {
  std::cerr << "usage: arrow_tool write FILE [BATCH_ROWS]\n"
               "       arrow_tool write-empty FILE\n"
               "       arrow_tool read FILE\n"
               "       arrow_tool probe FILE...\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return Usage();
  const std::string_view cmd = argv[1];
  const std::string path = argv[2];
  if (cmd == "write" && argc <= 4) {
    int64_t batch_rows = kDefaultBatchRows;
    if (argc == 4) {
      char* end = nullptr;
      batch_rows = std::strtoll(argv[3], &end, 10);
      if (*end != '\0' || batch_rows <= 0) return Usage();
    }
    auto table = BuildTable(kRows);
    if (!table.ok()) return Fail(table.status().message());
    return Write(*table, path, batch_rows);
  }
  if (cmd == "write-empty" && argc == 3) {
    auto table = BuildTable(0);
    if (!table.ok()) return Fail(table.status().message());
    return Write(*table, path, kDefaultBatchRows);
  }
  if (cmd == "read" && argc == 3) return Read(path);
  if (cmd == "probe") return Probe(argc - 2, argv + 2);
  return Usage();
}
