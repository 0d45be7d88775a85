// kind: sql — one SQLite query over the recipe's inputs.
//
// Each run opens a private in-memory SQLite database. Every input the query
// mentions becomes a table named after its dataset; an input whose name does not
// occur in the query text is neither created nor loaded, so `select 1 as k` over
// five inputs costs no load at all (a query that mentions sqlite_schema, a pragma
// or dbstat gets every input, so introspection sees them all). Rows are bound
// straight from the column buffers to prepared multi-row INSERTs, in one
// transaction; the query is prepared first, so a mistake costs no load.
//
// The query is prepared under an authorizer that only lets it read: no ATTACH,
// no writes, no transactions, no extensions, only introspection pragmas. It must
// be one read-only statement. A progress handler polls the cancellation token.
//
// Output column types: a result column that is an input column keeps that
// column's Alambic type when every value fits it (dates, timestamps and bools come
// back typed); otherwise the type follows the values: integers → int64, integers
// and reals → float64, any text → utf8 (numbers then written as text), only
// nulls → utf8. A blob is an error.
#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <climits>
#include <cmath>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include <fmt/format.h>

#include "core/recipe/recipe.h"
#include "recipes/builtin_kinds.h"
#include "recipes/sql_lineage.h"

namespace alambic {
namespace {

// VM instructions between two looks at the cancellation token (a few microseconds).
constexpr int kCancelCheckOps = 1000;
// Rows between two looks at the cancellation token while loading or reading.
constexpr int64_t kCancelCheckRows = 4096;
// Rows between two progress reports (and, while loading, cancellation checks).
constexpr int64_t kProgressRows = 65536;
// Rows bound per INSERT statement for big inputs (fewer statement executions).
constexpr int kInsertBatchRows = 128;
// Largest string or blob a query may build (SQLITE_LIMIT_LENGTH).
constexpr int kMaxValueBytes = 256 << 20;
// Room for a formatted date or timestamp, whatever its year.
constexpr size_t kTemporalChars = 48;
// Years beyond these digit counts do not round-trip (they overflow the arithmetic).
constexpr size_t kMaxDateYearDigits = 6;
constexpr size_t kMaxTimestampYearDigits = 5;
constexpr int64_t kMicrosPerSecond = 1000000;
constexpr int64_t kSecondsPerDay = 86400;

struct SqlCloseDb {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct SqlFinalizeStmt {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using DbHandle = std::unique_ptr<sqlite3, SqlCloseDb>;
using StmtHandle = std::unique_ptr<sqlite3_stmt, SqlFinalizeStmt>;

// ---------------------------------------------------------------------------
// Text helpers. SQLite folds identifier case for ASCII letters only.

char AsciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return AsciiLower(x) == AsciiLower(y);
         });
}

bool ContainsIgnoreCase(std::string_view text, std::string_view needle) {
  return std::search(text.begin(), text.end(), needle.begin(), needle.end(),
                     [](char x, char y) { return AsciiLower(x) == AsciiLower(y); }) != text.end();
}

std::string Doubled(std::string_view s, char c) {
  std::string out;
  out.reserve(s.size() + 2);
  for (char x : s) {
    out += x;
    if (x == c) out += c;
  }
  return out;
}

std::string QuoteIdentifier(std::string_view name) { return "\"" + Doubled(name, '"') + "\""; }

// Whether the query text may refer to table `name`: the name occurs in it, as is
// or with a quote character doubled as inside a quoted identifier or string.
bool Mentions(std::string_view sql, std::string_view name) {
  if (ContainsIgnoreCase(sql, name)) return true;
  for (char q : {'"', '\'', '`'})
    if (name.find(q) != std::string_view::npos && ContainsIgnoreCase(sql, Doubled(name, q)))
      return true;
  return false;
}

// Whether the query may look at the schema itself (then every input is loaded).
bool MentionsSchema(std::string_view sql) {
  return ContainsIgnoreCase(sql, "sqlite_") || ContainsIgnoreCase(sql, "pragma") ||
         ContainsIgnoreCase(sql, "dbstat");
}

// Offset of the first character at or after `i` that is not blank, a comment or
// a semicolon (sql.size() when there is none).
size_t SkipToNextStatement(std::string_view sql, size_t i) {
  while (i < sql.size()) {
    char c = sql[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' || c == ';') {
      ++i;
    } else if (sql.substr(i, 2) == "--") {
      size_t eol = sql.find('\n', i);
      i = eol == std::string_view::npos ? sql.size() : eol + 1;
    } else if (sql.substr(i, 2) == "/*") {
      size_t end = sql.find("*/", i + 2);
      i = end == std::string_view::npos ? sql.size() : end + 2;  // SQLite closes it at the end
    } else {
      break;
    }
  }
  return i;
}

std::string GroupDigits(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

// ---------------------------------------------------------------------------
// Dates and timestamps as text, exactly as FormatCell writes them.

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

void PutDigits(char* out, unsigned value, int width) {
  for (int i = width - 1; i >= 0; --i) {
    out[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
}

// YYYY-MM-DD; returns the length written to `out` (kTemporalChars bytes).
size_t FormatDate(int32_t days, char* out) {
  int y;
  unsigned m, d;
  CivilFromDays(days, &y, &m, &d);
  if (y < 0 || y > 9999)
    return fmt::format_to_n(out, kTemporalChars, "{:04d}-{:02d}-{:02d}", y, m, d).size;
  PutDigits(out, static_cast<unsigned>(y), 4);
  out[4] = '-';
  PutDigits(out + 5, m, 2);
  out[7] = '-';
  PutDigits(out + 8, d, 2);
  return 10;
}

// YYYY-MM-DDTHH:MM:SS[.ffffff]Z; returns the length written (kTemporalChars bytes).
size_t FormatTimestamp(int64_t micros, char* out) {
  const int64_t secs = FloorDiv(micros, kMicrosPerSecond);
  const int64_t frac = micros - secs * kMicrosPerSecond;
  const int64_t days = FloorDiv(secs, kSecondsPerDay);
  const auto sod = static_cast<unsigned>(secs - days * kSecondsPerDay);
  size_t n = FormatDate(static_cast<int32_t>(days), out);
  out[n] = 'T';
  PutDigits(out + n + 1, sod / 3600, 2);
  out[n + 3] = ':';
  PutDigits(out + n + 4, (sod / 60) % 60, 2);
  out[n + 6] = ':';
  PutDigits(out + n + 7, sod % 60, 2);
  n += 9;
  if (frac) {
    out[n] = '.';
    PutDigits(out + n + 1, static_cast<unsigned>(frac), 6);
    n += 7;
  }
  out[n] = 'Z';
  return n + 1;
}

bool SqlParseDigits(std::string_view s, size_t pos, size_t count, int64_t* value) {
  if (pos + count > s.size()) return false;
  int64_t v = 0;
  for (size_t i = pos; i < pos + count; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *value = v;
  return true;
}

bool IsLeapYear(int64_t y) { return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0); }

int64_t DaysInMonth(int64_t year, int64_t month) {
  static constexpr std::array<int64_t, 12> kDays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && IsLeapYear(year) ? 29 : kDays[static_cast<size_t>(month - 1)];
}

// Parses the date at the start of `s`; *end is the offset after it. Sets
// *canonical when the text is known to be exactly what FormatDate writes (a
// valid date with a four-digit year); otherwise the caller formats the value
// back and compares.
bool ParseDatePrefix(std::string_view s, size_t max_year_digits, int32_t* days, size_t* end,
                     bool* canonical) {
  size_t i = 0;
  const bool negative = !s.empty() && s[0] == '-';
  if (negative) ++i;
  size_t year_end = i;
  while (year_end < s.size() && s[year_end] >= '0' && s[year_end] <= '9') ++year_end;
  int64_t year, month, day;
  if (year_end == i || year_end - i > max_year_digits ||
      !SqlParseDigits(s, i, year_end - i, &year) || year_end + 6 > s.size() || s[year_end] != '-' ||
      s[year_end + 3] != '-' || !SqlParseDigits(s, year_end + 1, 2, &month) ||
      !SqlParseDigits(s, year_end + 4, 2, &day) || month < 1 || month > 12 || day < 1 || day > 31)
    return false;
  if (negative) year = -year;
  *canonical = !negative && year_end - i == 4;
  if (*canonical && day > DaysInMonth(year, month)) return false;
  *days = DaysFromCivil(static_cast<int>(year), static_cast<unsigned>(month),
                        static_cast<unsigned>(day));
  *end = year_end + 6;
  return true;
}

bool SqlParseDate(std::string_view s, int32_t* days) {
  size_t end;
  bool canonical;
  if (!ParseDatePrefix(s, kMaxDateYearDigits, days, &end, &canonical) || end != s.size())
    return false;
  if (canonical) return true;
  char buf[kTemporalChars];
  return std::string_view(buf, FormatDate(*days, buf)) == s;
}

bool SqlParseTimestamp(std::string_view s, int64_t* micros) {
  int32_t days;
  size_t i;
  bool canonical;
  int64_t h, m, sec, frac = 0;
  if (!ParseDatePrefix(s, kMaxTimestampYearDigits, &days, &i, &canonical) || i + 10 > s.size() ||
      s[i] != 'T' || !SqlParseDigits(s, i + 1, 2, &h) || s[i + 3] != ':' ||
      !SqlParseDigits(s, i + 4, 2, &m) || s[i + 6] != ':' || !SqlParseDigits(s, i + 7, 2, &sec) ||
      h > 23 || m > 59 || sec > 59)
    return false;
  i += 9;
  if (i < s.size() && s[i] == '.') {
    // FormatTimestamp writes a fraction only when it is not zero.
    if (!SqlParseDigits(s, i + 1, 6, &frac) || frac == 0) return false;
    i += 7;
  }
  if (i + 1 != s.size() || s[i] != 'Z') return false;
  *micros = ((int64_t{days} * kSecondsPerDay) + h * 3600 + m * 60 + sec) * kMicrosPerSecond + frac;
  if (canonical) return true;
  char buf[kTemporalChars];
  return std::string_view(buf, FormatTimestamp(*micros, buf)) == s;
}

std::string FormatDouble(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

const char* SqlType(TypeId type) {
  switch (type) {
    case TypeId::kInt64:
    case TypeId::kBool:
      return "INTEGER";
    case TypeId::kFloat64:
      return "REAL";
    case TypeId::kUtf8:
    case TypeId::kDate32:
    case TypeId::kTimestamp:
      return "TEXT";
  }
  return "";
}

// ---------------------------------------------------------------------------
// What the query may do.

struct QueryGuard {
  bool loading = true;                    // our own CREATE and INSERT statements run unrestricted
  std::string denied;                     // the first thing the query was refused, for the message
  std::vector<SqlRead>* reads = nullptr;  // when set, every column read is added to it
};

bool IsIntrospectionPragma(std::string_view name) {
  static constexpr std::array<std::string_view, 12> kAllowed = {
      "table_info",     "table_xinfo", "table_list",       "index_list",
      "index_info",     "index_xinfo", "foreign_key_list", "function_list",
      "collation_list", "module_list", "pragma_list",      "database_list"};
  return std::any_of(kAllowed.begin(), kAllowed.end(),
                     [&](std::string_view a) { return EqualsIgnoreCase(a, name); });
}

bool IsSchemaTable(std::string_view name) {
  return EqualsIgnoreCase(name, "sqlite_master") || EqualsIgnoreCase(name, "sqlite_temp_master") ||
         EqualsIgnoreCase(name, "sqlite_schema") || EqualsIgnoreCase(name, "sqlite_temp_schema");
}

bool IsForbiddenFunction(std::string_view name) {
  return EqualsIgnoreCase(name, "load_extension") || EqualsIgnoreCase(name, "fts3_tokenizer");
}

const char* StatementName(int action) {
  switch (action) {
    case SQLITE_CREATE_INDEX:
    case SQLITE_CREATE_TEMP_INDEX:
      return "CREATE INDEX";
    case SQLITE_CREATE_TABLE:
    case SQLITE_CREATE_TEMP_TABLE:
      return "CREATE TABLE";
    case SQLITE_CREATE_TRIGGER:
    case SQLITE_CREATE_TEMP_TRIGGER:
      return "CREATE TRIGGER";
    case SQLITE_CREATE_VIEW:
    case SQLITE_CREATE_TEMP_VIEW:
      return "CREATE VIEW";
    case SQLITE_CREATE_VTABLE:
      return "CREATE VIRTUAL TABLE";
    case SQLITE_DROP_INDEX:
    case SQLITE_DROP_TEMP_INDEX:
      return "DROP INDEX";
    case SQLITE_DROP_TABLE:
    case SQLITE_DROP_TEMP_TABLE:
      return "DROP TABLE";
    case SQLITE_DROP_TRIGGER:
    case SQLITE_DROP_TEMP_TRIGGER:
      return "DROP TRIGGER";
    case SQLITE_DROP_VIEW:
    case SQLITE_DROP_TEMP_VIEW:
      return "DROP VIEW";
    case SQLITE_DROP_VTABLE:
      return "DROP VIRTUAL TABLE";
    case SQLITE_INSERT:
      return "INSERT";
    case SQLITE_UPDATE:
      return "UPDATE";
    case SQLITE_DELETE:
      return "DELETE";
    case SQLITE_ALTER_TABLE:
      return "ALTER TABLE";
    case SQLITE_REINDEX:
      return "REINDEX";
    case SQLITE_ANALYZE:
      return "ANALYZE";
    case SQLITE_ATTACH:
      return "ATTACH";
    case SQLITE_DETACH:
      return "DETACH";
    case SQLITE_SAVEPOINT:
      return "SAVEPOINT";
    default:
      return "this statement";
  }
}

int Authorize(void* user, int action, const char* arg1, const char* arg2, const char* /*db*/,
              const char* /*trigger*/) {
  auto* guard = static_cast<QueryGuard*>(user);
  if (guard->loading) return SQLITE_OK;
  std::string what;
  switch (action) {
    case SQLITE_READ:
      if (guard->reads && arg1 && arg2 && *arg2) guard->reads->emplace_back(arg1, arg2);
      return SQLITE_OK;
    case SQLITE_SELECT:
    case SQLITE_RECURSIVE:
      return SQLITE_OK;
    case SQLITE_FUNCTION:
      if (arg2 && !IsForbiddenFunction(arg2)) return SQLITE_OK;
      what = fmt::format("the function {}()", arg2 ? arg2 : "");
      break;
    case SQLITE_PRAGMA:
      if (arg1 && IsIntrospectionPragma(arg1)) return SQLITE_OK;
      what = fmt::format("PRAGMA {}", arg1 ? arg1 : "");
      break;
    case SQLITE_INSERT:
    case SQLITE_UPDATE:
    case SQLITE_DELETE:
      // The schema table: CREATE asks for it before CREATE TABLE, and a pragma
      // table-valued function while setting itself up. Real writes are refused by
      // their own action, the read-only check and SQLite's defensive mode.
      if (arg1 && IsSchemaTable(arg1)) return SQLITE_OK;
      what = StatementName(action);
      break;
    case SQLITE_TRANSACTION:
      what = arg1 ? arg1 : "a transaction";  // BEGIN, COMMIT or ROLLBACK
      break;
    default:
      what = StatementName(action);
  }
  if (guard->denied.empty()) guard->denied = std::move(what);
  return SQLITE_DENY;
}

int InterruptWhenCancelled(void* user) {
  return static_cast<const CancelToken*>(user)->cancelled() ? 1 : 0;
}

// ---------------------------------------------------------------------------
// Result columns.

struct SqlValue {
  int kind = SQLITE_NULL;
  int64_t integer = 0;
  double real = 0;
  std::string_view text;
};

SqlValue ReadValue(sqlite3_stmt* stmt, int i) {
  SqlValue v;
  v.kind = sqlite3_column_type(stmt, i);
  switch (v.kind) {
    case SQLITE_INTEGER:
      v.integer = sqlite3_column_int64(stmt, i);
      break;
    case SQLITE_FLOAT:
      v.real = sqlite3_column_double(stmt, i);
      break;
    case SQLITE_TEXT: {
      const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt, i));
      v.text = std::string_view(p ? p : "", static_cast<size_t>(sqlite3_column_bytes(stmt, i)));
      break;
    }
    default:
      break;
  }
  return v;
}

TypeId ValueType(const SqlValue& v) {
  if (v.kind == SQLITE_INTEGER) return TypeId::kInt64;
  if (v.kind == SQLITE_FLOAT) return TypeId::kFloat64;
  return TypeId::kUtf8;
}

// The narrowest type holding both what column type `current` holds and `v`
// (which does not fit `current`).
TypeId WiderType(TypeId current, const SqlValue& v) {
  if (v.kind == SQLITE_TEXT) return TypeId::kUtf8;
  switch (current) {
    case TypeId::kBool:
      return v.kind == SQLITE_INTEGER ? TypeId::kInt64 : TypeId::kFloat64;
    case TypeId::kInt64:
      return TypeId::kFloat64;
    default:
      return TypeId::kUtf8;  // a number among dates or timestamps
  }
}

// One result column, built as rows arrive. Its type starts as the origin input
// column's type (or the first value's) and widens when a value does not fit:
// bool → int64 → float64, anything → utf8.
class ResultColumn {
 public:
  ResultColumn(std::optional<TypeId> origin, bool origin_dictionary)
      : origin_(origin), origin_dictionary_(origin_dictionary) {}

  // Appends one value; false for a blob.
  bool Append(const SqlValue& v) {
    if (v.kind == SQLITE_NULL) {
      if (builder_)
        builder_->AppendNull();
      else
        ++leading_nulls_;
      return true;
    }
    if (v.kind == SQLITE_BLOB) return false;
    if (!builder_) {
      Start(origin_.value_or(ValueType(v)));
      if (TryAppend(v)) return true;
      Start(ValueType(v));
    } else {
      if (TryAppend(v)) return true;
      Widen(WiderType(builder_->type(), v));
    }
    TryAppend(v);  // always fits now
    return true;
  }

  ColumnPtr Finish() {
    if (!builder_) Start(origin_.value_or(TypeId::kUtf8));
    std::shared_ptr<Column> col = builder_->Finish();
    if (origin_dictionary_ && col->type == TypeId::kUtf8 && col->null_count < col->length)
      col = DictionaryEncode(*col);
    return col;
  }

 private:
  void Start(TypeId type) {
    builder_.emplace(type);
    for (int64_t i = 0; i < leading_nulls_; ++i) builder_->AppendNull();
  }

  bool TryAppend(const SqlValue& v) {
    ColumnBuilder& b = *builder_;
    switch (b.type()) {
      case TypeId::kBool:
        if (v.kind != SQLITE_INTEGER || (v.integer != 0 && v.integer != 1)) return false;
        b.AppendBool(v.integer == 1);
        return true;
      case TypeId::kInt64:
        if (v.kind != SQLITE_INTEGER) return false;
        b.AppendInt64(v.integer);
        return true;
      case TypeId::kFloat64:
        if (v.kind == SQLITE_TEXT) return false;
        b.AppendDouble(v.kind == SQLITE_INTEGER ? static_cast<double>(v.integer) : v.real);
        return true;
      case TypeId::kUtf8:
        if (v.kind == SQLITE_TEXT)
          b.AppendString(v.text);
        else
          b.AppendString(v.kind == SQLITE_INTEGER ? std::to_string(v.integer)
                                                  : FormatDouble(v.real));
        return true;
      case TypeId::kDate32: {
        int32_t days;
        if (v.kind != SQLITE_TEXT || !SqlParseDate(v.text, &days)) return false;
        b.AppendDate32(days);
        return true;
      }
      case TypeId::kTimestamp: {
        int64_t micros;
        if (v.kind != SQLITE_TEXT || !SqlParseTimestamp(v.text, &micros)) return false;
        b.AppendTimestamp(micros);
        return true;
      }
    }
    return false;
  }

  // Rebuilds the rows so far as `to`: numbers convert, and turn to text the way
  // Alambic writes them; dates and timestamps turn back into the text they were.
  void Widen(TypeId to) {
    std::shared_ptr<Column> old = builder_->Finish();
    ColumnBuilder b(to);
    b.Reserve(old->length);
    for (int64_t i = 0; i < old->length; ++i) {
      if (old->IsNull(i)) {
        b.AppendNull();
        continue;
      }
      switch (old->type) {
        case TypeId::kBool:
          if (to == TypeId::kInt64)
            b.AppendInt64(old->Bool(i) ? 1 : 0);
          else if (to == TypeId::kFloat64)
            b.AppendDouble(old->Bool(i) ? 1 : 0);
          else
            b.AppendString(old->Bool(i) ? "1" : "0");
          break;
        case TypeId::kInt64:
          if (to == TypeId::kFloat64)
            b.AppendDouble(static_cast<double>(old->Int64(i)));
          else
            b.AppendString(std::to_string(old->Int64(i)));
          break;
        case TypeId::kFloat64:
          b.AppendString(FormatDouble(old->Double(i)));
          break;
        default:
          b.AppendString(FormatCell(*old, i));
      }
    }
    builder_ = std::move(b);
  }

  std::optional<TypeId> origin_;
  bool origin_dictionary_ = false;
  std::optional<ColumnBuilder> builder_;  // unset while only nulls have arrived
  int64_t leading_nulls_ = 0;
};

// ---------------------------------------------------------------------------
// One run of one sql recipe.

struct QueryText {
  std::string sql;
  std::string file;  // the `file` param; empty for an inline query
};

class QueryRun {
 public:
  QueryRun(RecipeContext& ctx, QueryText query) : ctx_(ctx), query_(std::move(query)) {}

  Result<RecipeOutput> Execute() {
    if (Cancelled()) return ctx_.cancel->AsStatus();
    ALAMBIC_RETURN_IF_ERROR(Open());
    ALAMBIC_RETURN_IF_ERROR(CreateTables());
    ALAMBIC_RETURN_IF_ERROR(Prepare());
    auto lineage = ColumnLineage();
    for (const NamedTable* in : tables_) ALAMBIC_RETURN_IF_ERROR(Load(*in));
    if (!tables_.empty()) ALAMBIC_RETURN_IF_ERROR(Exec("COMMIT", ""));
    ALAMBIC_ASSIGN_OR_RETURN(Table result, Fetch());

    RecipeOutput out;
    const int64_t rows = result.num_rows();
    out.metrics["rows"] = rows;
    out.metrics["columns"] = result.num_columns();
    out.metrics["inputs_loaded"] = tables_.size();
    out.metrics["rows_loaded"] = rows_loaded_;
    if (ctx_.log)
      ctx_.log->Info(fmt::format("{} rows, {} columns (loaded {} of {} inputs, {} rows)",
                                 GroupDigits(rows), result.num_columns(), tables_.size(),
                                 ctx_.inputs.size(), GroupDigits(rows_loaded_)));
    out.tables.push_back(std::move(result));
    out.column_lineage.push_back(std::move(lineage));
    return out;
  }

 private:
  // The query's column lineage (sql_lineage.h), from variants of it prepared
  // on the same (still empty) tables.
  std::map<std::string, std::vector<ColumnSource>> ColumnLineage() {
    SqlStatementInfo info;
    for (const NamedTable& in : ctx_.inputs) info.inputs.push_back(in.name);
    sqlite3_stmt* stmt = stmt_.get();
    for (int i = 0; i < sqlite3_column_count(stmt); ++i) {
      info.column_names.emplace_back(sqlite3_column_name(stmt, i));
      const char* table = sqlite3_column_table_name(stmt, i);
      const char* column = sqlite3_column_origin_name(stmt, i);
      if (table && column)
        info.origins.emplace_back(SqlRead{table, column});
      else
        info.origins.emplace_back(std::nullopt);
    }
    info.reads = [this](const std::string& sql) -> std::optional<std::vector<SqlRead>> {
      std::vector<SqlRead> reads;
      guard_.reads = &reads;
      guard_.loading = false;
      sqlite3_stmt* raw = nullptr;
      int rc = sqlite3_prepare_v3(db(), sql.data(), static_cast<int>(sql.size()), 0, &raw, nullptr);
      StmtHandle variant(raw);
      guard_.loading = true;
      guard_.reads = nullptr;
      guard_.denied.clear();
      if (rc != SQLITE_OK || !raw) return std::nullopt;
      return reads;
    };
    return SqlColumnLineage(query_.sql, info);
  }

  sqlite3* db() const { return db_.get(); }
  bool Cancelled() const { return ctx_.cancel && ctx_.cancel->cancelled(); }
  void ReportProgress(int64_t rows) const {
    if (ctx_.progress) ctx_.progress(rows);
  }

  // "recipe R: <file>:<line>:<column>: <message>" for a file, "recipe R: <message>
  // (query line L, column C)" for an inline query; `offset` is a byte offset into
  // the query or -1.
  std::string QueryMessage(const std::string& message, int offset) const {
    int line = 1, column = 1;
    if (offset >= 0) {
      for (int i = 0; i < offset && i < static_cast<int>(query_.sql.size()); ++i) {
        if (query_.sql[static_cast<size_t>(i)] == '\n') {
          ++line;
          column = 1;
        } else {
          ++column;
        }
      }
    }
    if (!query_.file.empty()) {
      if (offset < 0) return fmt::format("recipe {}: {}: {}", ctx_.recipe, query_.file, message);
      return fmt::format("recipe {}: {}:{}:{}: {}", ctx_.recipe, query_.file, line, column,
                         message);
    }
    if (offset < 0) return fmt::format("recipe {}: {}", ctx_.recipe, message);
    return fmt::format("recipe {}: {} (query line {}, column {})", ctx_.recipe, message, line,
                       column);
  }

  // The Status for a failed step of our own statement or of the query.
  Status StepError(int rc, const std::string& context) const {
    if (rc == SQLITE_INTERRUPT && Cancelled()) return ctx_.cancel->AsStatus();
    std::string message = sqlite3_errmsg(db());
    if (context.empty()) return Status::Failed(QueryMessage(message, -1));
    return Status::Failed(fmt::format("recipe {}: {}: {}", ctx_.recipe, context, message));
  }

  // The query tried something the authorizer refused (guard_.denied).
  Status Denied() const {
    return Status::Invalid(QueryMessage(
        fmt::format("{} is not allowed: a sql recipe may only read its inputs", guard_.denied),
        -1));
  }

  Status Exec(const std::string& sql, const std::string& context) {
    int rc = sqlite3_exec(db(), sql.c_str(), nullptr, nullptr, nullptr);
    if (rc == SQLITE_OK) return Status::Ok();
    return StepError(rc, context.empty() ? "SQLite" : context);
  }

  Status Open() {
    sqlite3* raw = nullptr;
    int rc = sqlite3_open_v2(
        ":memory:", &raw,
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_MEMORY | SQLITE_OPEN_NOMUTEX,
        nullptr);
    db_.reset(raw);
    if (rc != SQLITE_OK)
      return Status::Failed(fmt::format("recipe {}: cannot open an in-memory SQLite database: {}",
                                        ctx_.recipe,
                                        raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
    ALAMBIC_RETURN_IF_ERROR(Exec("PRAGMA temp_store=MEMORY", "SQLite"));
    sqlite3_db_config(db(), SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, nullptr);
    sqlite3_db_config(db(), SQLITE_DBCONFIG_ENABLE_FTS3_TOKENIZER, 0, nullptr);
    sqlite3_db_config(db(), SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, nullptr);
    sqlite3_limit(db(), SQLITE_LIMIT_ATTACHED, 0);
    sqlite3_limit(db(), SQLITE_LIMIT_LENGTH, kMaxValueBytes);
    sqlite3_limit(db(), SQLITE_LIMIT_WORKER_THREADS, 0);
    sqlite3_set_authorizer(db(), Authorize, &guard_);
    if (ctx_.cancel)
      sqlite3_progress_handler(db(), kCancelCheckOps, InterruptWhenCancelled,
                               const_cast<CancelToken*>(ctx_.cancel));
    return Status::Ok();
  }

  // Creates a table for each input the query mentions.
  Status CreateTables() {
    const bool all = MentionsSchema(query_.sql);
    for (const NamedTable& in : ctx_.inputs)
      if (all || Mentions(query_.sql, in.name)) tables_.push_back(&in);
    if (tables_.empty()) return Status::Ok();
    // No journal (on failure the whole database is dropped), one transaction. Set
    // only when loading: turning the journal off opens the pager (~15 us).
    ALAMBIC_RETURN_IF_ERROR(Exec("PRAGMA journal_mode=OFF;PRAGMA synchronous=OFF;BEGIN", "SQLite"));
    for (const NamedTable* in : tables_) {
      const Schema& schema = in->table->schema();
      if (schema.fields.empty())
        return Status::Invalid(
            fmt::format("recipe {}: input {} has no columns", ctx_.recipe, in->name));
      std::string ddl = "CREATE TABLE " + QuoteIdentifier(in->name) + "(";
      for (size_t i = 0; i < schema.fields.size(); ++i) {
        if (i) ddl += ", ";
        ddl += QuoteIdentifier(schema.fields[i].name) + " " + SqlType(schema.fields[i].type);
      }
      ddl += ")";
      ALAMBIC_RETURN_IF_ERROR(Exec(ddl, "input " + in->name));
    }
    return Status::Ok();
  }

  // Prepares the query (before loading, so that a mistake costs no load) and
  // checks it is one read-only statement with distinct column names.
  Status Prepare() {
    const std::string& sql = query_.sql;
    if (sql.size() >= static_cast<size_t>(INT_MAX))
      return Status::Invalid(QueryMessage("the query is too long", -1));
    // Defensive mode (no writes to the schema table, no journal_mode=OFF) comes
    // after our own setup.
    sqlite3_db_config(db(), SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
    sqlite3_stmt* raw = nullptr;
    const char* tail = nullptr;
    guard_.loading = false;
    int rc = sqlite3_prepare_v3(db(), sql.data(), static_cast<int>(sql.size()), 0, &raw, &tail);
    guard_.loading = true;
    stmt_.reset(raw);
    if (rc != SQLITE_OK) {
      if (!guard_.denied.empty()) return Denied();
      return Status::Invalid(QueryMessage(sqlite3_errmsg(db()), sqlite3_error_offset(db())));
    }
    if (!raw) return Status::Invalid(QueryMessage("the query is empty", -1));
    const size_t next = SkipToNextStatement(sql, static_cast<size_t>(tail - sql.data()));
    if (next < sql.size())
      return Status::Invalid(
          QueryMessage("the query holds more than one statement; a sql recipe runs exactly one",
                       static_cast<int>(next)));
    if (!sqlite3_stmt_readonly(raw))
      return Status::Invalid(
          QueryMessage("the query writes: a sql recipe may only read its inputs", -1));
    if (sqlite3_bind_parameter_count(raw) > 0) {
      const char* name = sqlite3_bind_parameter_name(raw, 1);
      return Status::Invalid(QueryMessage(
          fmt::format("the query has a parameter ({}) that nothing binds", name ? name : "?"), -1));
    }
    std::unordered_set<std::string_view> names;
    for (int i = 0; i < sqlite3_column_count(raw); ++i) {
      const char* name = sqlite3_column_name(raw, i);
      if (!name) return Status::Failed(QueryMessage("out of memory", -1));
      if (!names.insert(name).second)
        return Status::Invalid(QueryMessage(
            fmt::format("the query returns two columns named '{}' (rename one with AS)", name),
            -1));
    }
    return Status::Ok();
  }

  Result<StmtHandle> PrepareInsert(const NamedTable& in, int rows) {
    const int ncols = in.table->num_columns();
    std::string sql = "INSERT INTO " + QuoteIdentifier(in.name) + " VALUES";
    for (int r = 0; r < rows; ++r) {
      sql += r ? ",(" : "(";
      for (int c = 0; c < ncols; ++c) sql += c ? ",?" : "?";
      sql += ")";
    }
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v3(db(), sql.c_str(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
    StmtHandle stmt(raw);
    if (rc != SQLITE_OK) return StepError(rc, "input " + in.name);
    return stmt;
  }

  // Inserts every row of `in` into its table, binding straight from the column
  // buffers; big inputs go kInsertBatchRows rows per statement.
  Status Load(const NamedTable& in) {
    const Table& table = *in.table;
    const int ncols = table.num_columns();
    const int64_t nrows = table.num_rows();
    const int max_vars = sqlite3_limit(db(), SQLITE_LIMIT_VARIABLE_NUMBER, -1);
    const int batch_rows =
        nrows >= kInsertBatchRows ? std::max(1, std::min(kInsertBatchRows, max_vars / ncols)) : 1;
    StmtHandle batch, single;
    if (batch_rows > 1) {
      ALAMBIC_ASSIGN_OR_RETURN(batch, PrepareInsert(in, batch_rows));
    }
    // Dates and timestamps are bound as text, formatted into one buffer per parameter.
    std::vector<std::array<char, kTemporalChars>> scratch(static_cast<size_t>(batch_rows * ncols));
    static constexpr char kEmpty[] = "";
    int64_t next_check = 0;
    for (int64_t r = 0; r < nrows;) {
      if (r >= next_check) {
        if (Cancelled()) return ctx_.cancel->AsStatus();
        if (r > 0) ReportProgress(rows_loaded_ + r);
        next_check = r + kProgressRows;
      }
      const bool use_batch = batch_rows > 1 && nrows - r >= batch_rows;
      if (!use_batch && !single) {
        ALAMBIC_ASSIGN_OR_RETURN(single, PrepareInsert(in, 1));
      }
      sqlite3_stmt* insert = use_batch ? batch.get() : single.get();
      const int rows_now = use_batch ? batch_rows : 1;
      for (int k = 0; k < rows_now; ++k, ++r) {
        for (int c = 0; c < ncols; ++c) {
          const Column& col = *table.column(c);
          const int p = k * ncols + c + 1;
          if (col.IsNull(r)) {
            sqlite3_bind_null(insert, p);
            continue;
          }
          char* buf = scratch[static_cast<size_t>(p - 1)].data();
          int rc = SQLITE_OK;
          switch (col.type) {
            case TypeId::kInt64:
              rc = sqlite3_bind_int64(insert, p, col.Int64(r));
              break;
            case TypeId::kFloat64:
              rc = sqlite3_bind_double(insert, p, col.Double(r));
              break;
            case TypeId::kBool:
              rc = sqlite3_bind_int(insert, p, col.Bool(r) ? 1 : 0);
              break;
            case TypeId::kUtf8: {
              std::string_view s = col.String(r);
              // A null pointer would bind NULL, not ''.
              rc = sqlite3_bind_text(insert, p, s.empty() ? kEmpty : s.data(),
                                     static_cast<int>(s.size()), SQLITE_STATIC);
              break;
            }
            case TypeId::kDate32:
              rc = sqlite3_bind_text(
                  insert, p, buf, static_cast<int>(FormatDate(col.Date32(r), buf)), SQLITE_STATIC);
              break;
            case TypeId::kTimestamp:
              rc = sqlite3_bind_text(insert, p, buf,
                                     static_cast<int>(FormatTimestamp(col.Int64(r), buf)),
                                     SQLITE_STATIC);
              break;
          }
          if (rc != SQLITE_OK)
            return Status::Failed(fmt::format(
                "recipe {}: input {}, column '{}', row {}: {}", ctx_.recipe, in.name,
                table.schema().fields[static_cast<size_t>(c)].name, r + 1, sqlite3_errstr(rc)));
        }
      }
      int rc = sqlite3_step(insert);
      if (rc != SQLITE_DONE) return StepError(rc, "input " + in.name);
      sqlite3_reset(insert);
    }
    rows_loaded_ += nrows;
    return Status::Ok();
  }

  // The input column a result column is, if any: (type, dictionary-encoded).
  std::pair<std::optional<TypeId>, bool> Origin(int i) const {
    const char* table = sqlite3_column_table_name(stmt_.get(), i);
    const char* column = sqlite3_column_origin_name(stmt_.get(), i);
    if (!table || !column) return {std::nullopt, false};
    for (const NamedTable* in : tables_) {
      if (in->name != table) continue;
      int j = in->table->schema().FieldIndex(column);
      if (j < 0) break;
      return {in->table->schema().fields[static_cast<size_t>(j)].type,
              in->table->column(j)->is_dictionary()};
    }
    return {std::nullopt, false};
  }

  Result<Table> Fetch() {
    sqlite3_stmt* stmt = stmt_.get();
    const int ncols = sqlite3_column_count(stmt);
    std::vector<ResultColumn> columns;
    Schema schema;
    for (int i = 0; i < ncols; ++i) {
      auto [type, dictionary] = Origin(i);
      columns.emplace_back(type, dictionary);
      schema.fields.push_back({sqlite3_column_name(stmt, i), TypeId::kUtf8});
    }
    int64_t rows = 0;
    guard_.loading = false;  // pragma table-valued functions are authorized as they run
    for (;;) {
      int rc = sqlite3_step(stmt);
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) return guard_.denied.empty() ? StepError(rc, "") : Denied();
      for (int i = 0; i < ncols; ++i) {
        if (!columns[static_cast<size_t>(i)].Append(ReadValue(stmt, i)))
          return Status::Invalid(QueryMessage(
              fmt::format("column '{}' holds a blob (row {}); tables hold no binary values: "
                          "convert it, e.g. with hex()",
                          schema.fields[static_cast<size_t>(i)].name, rows + 1),
              -1));
      }
      ++rows;
      if (rows % kCancelCheckRows == 0) {
        if (Cancelled()) return ctx_.cancel->AsStatus();
        if (rows % kProgressRows == 0) ReportProgress(rows_loaded_ + rows);
      }
    }
    std::vector<ColumnPtr> cols;
    for (int i = 0; i < ncols; ++i) {
      ColumnPtr col = columns[static_cast<size_t>(i)].Finish();
      schema.fields[static_cast<size_t>(i)].type = col->type;
      cols.push_back(std::move(col));
    }
    return Table::Make(std::move(schema), std::move(cols), rows);
  }

  RecipeContext& ctx_;
  QueryText query_;
  QueryGuard guard_;
  std::vector<const NamedTable*> tables_;  // the inputs loaded as tables
  int64_t rows_loaded_ = 0;
  // Declared last: statements are finalized before the database closes.
  DbHandle db_;
  StmtHandle stmt_;
};

Result<std::string> ReadQueryFile(const RecipeContext& ctx, const std::string& file) {
  ALAMBIC_ASSIGN_OR_RETURN(std::filesystem::path path, ctx.ResolvePath(file));
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound(fmt::format("recipe {}: cannot read {}", ctx.recipe, file));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Status::IoError(fmt::format("recipe {}: cannot read {}", ctx.recipe, file));
  return text.str();
}

class SqlKind final : public RecipeKind {
 public:
  std::string name() const override { return "sql"; }
  const std::vector<ParamSpec>& params() const override {
    static const std::vector<ParamSpec> kParams = {
        {"query", ParamType::kString, false, "the SQLite query (exactly one of query and file)"},
        {"file", ParamType::kString, false,
         "a .sql file in the workspace holding the query; part of the output's version"},
        {"dialect", ParamType::kString, false,
         "sqlite (default: runs in the local engine) or postgres (an inline query run inside a "
         "PostgreSQL store only)"},
    };
    return kParams;
  }

  Status CheckParams(const nlohmann::json& params) const override {
    const bool has_query = params.contains("query");
    const bool has_file = params.contains("file");
    if (has_query == has_file) return Status::Invalid("give exactly one of 'query' and 'file'");
    const char* key = has_query ? "query" : "file";
    const nlohmann::json& value = params[key];
    if (!value.is_string()) return Status::Invalid(fmt::format("'{}' must be a string", key));
    const auto& text = value.get_ref<const std::string&>();
    if (has_query ? SkipToNextStatement(text, 0) == text.size() : text.empty())
      return Status::Invalid(fmt::format("'{}' is empty", key));
    if (auto d = params.find("dialect"); d != params.end()) {
      if (!d->is_string() || (*d != "sqlite" && *d != "postgres"))
        return Status::Invalid(
            fmt::format("param 'dialect': {} is not sqlite or postgres", d->dump()));
      if (*d == "postgres" && has_file)
        return Status::Invalid("param 'dialect': postgres takes an inline 'query', not a 'file'");
    }
    return Status::Ok();
  }

  std::vector<std::string> CodeFiles(const nlohmann::json& params) const override {
    auto it = params.find("file");
    if (it == params.end() || !it->is_string()) return {};
    return {it->get<std::string>()};
  }

  Result<RecipeOutput> Run(RecipeContext& ctx) const override {
    const nlohmann::json& params = *ctx.params;
    ALAMBIC_RETURN_IF_ERROR(CheckParams(params).WithContext("recipe " + ctx.recipe));
    if (params.value("dialect", "sqlite") == "postgres")
      return Status::Invalid(fmt::format(
          "recipe {}: param 'dialect': postgres: the query is PostgreSQL's SQL; it runs only "
          "inside PostgreSQL, in an environment whose store is PostgreSQL (it is not run in the "
          "local engine)",
          ctx.recipe));
    QueryText query;
    if (params.contains("file")) {
      query.file = params["file"].get<std::string>();
      ALAMBIC_ASSIGN_OR_RETURN(query.sql, ReadQueryFile(ctx, query.file));
    } else {
      query.sql = params["query"].get<std::string>();
    }
    return QueryRun(ctx, std::move(query)).Execute();
  }
};

}  // namespace

Status RegisterSqlKind(RecipeRegistry& r) { return r.Register(std::make_unique<SqlKind>()); }

}  // namespace alambic
