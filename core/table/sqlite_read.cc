#include "core/table/sqlite_read.h"

#include <sqlite3.h>

#include <cctype>
#include <memory>

#include <fmt/format.h>

#include "core/table/csv.h"

namespace alambic {
namespace {

// Rows between two looks at the cancel token.
constexpr int64_t kSqliteCheckEveryRows = 1 << 14;

struct Value {
  int kind = SQLITE_NULL;  // SQLITE_INTEGER, SQLITE_FLOAT, SQLITE_TEXT or SQLITE_NULL
  int64_t i = 0;
  double d = 0;
  std::string text;  // TEXT, and every number's text (for mixed columns)
};

struct Db {
  sqlite3* db = nullptr;
  ~Db() { sqlite3_close_v2(db); }
};
struct Stmt {
  sqlite3_stmt* stmt = nullptr;
  ~Stmt() { sqlite3_finalize(stmt); }
};

bool OnlySpaceOrSemicolons(const char* s) {
  for (; s && *s; ++s)
    if (*s != ';' && *s != ' ' && *s != '\t' && *s != '\n' && *s != '\r') return false;
  return true;
}

// The authorizer: a query may select, read tables and call functions, nothing
// else (no ATTACH, DETACH, PRAGMA, transaction or write of any kind; SQLite
// counts ATTACH and BEGIN as "read-only" statements). `*denied` gets the first
// action refused, for the message.
int Authorize(void* denied, int action, const char* /*a*/, const char* /*b*/, const char* /*c*/,
              const char* /*d*/) {
  switch (action) {
    case SQLITE_SELECT:
    case SQLITE_READ:
    case SQLITE_FUNCTION:
    case SQLITE_RECURSIVE:
      return SQLITE_OK;
    default: {
      auto* d = static_cast<int*>(denied);
      if (*d == 0) *d = action;
      return SQLITE_DENY;
    }
  }
}

const char* ActionName(int action) {
  switch (action) {
    case SQLITE_ATTACH:
      return "ATTACH";
    case SQLITE_DETACH:
      return "DETACH";
    case SQLITE_PRAGMA:
      return "PRAGMA";
    case SQLITE_TRANSACTION:
      return "a transaction";
    case SQLITE_SAVEPOINT:
      return "SAVEPOINT";
    default:
      return "a write";
  }
}

TypeId DeclaredType(const char* decl) {
  std::string d;
  for (const char* p = decl; p && *p; ++p)
    d.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(*p))));
  if (d.find("INT") != std::string::npos) return TypeId::kInt64;
  if (d.find("REAL") != std::string::npos || d.find("FLOA") != std::string::npos ||
      d.find("DOUB") != std::string::npos)
    return TypeId::kFloat64;
  return TypeId::kUtf8;
}

TypeId Infer(const std::vector<Value>& values, TypeId declared) {
  bool ints = false, floats = false, texts = false;
  for (const auto& v : values) {
    ints |= v.kind == SQLITE_INTEGER;
    floats |= v.kind == SQLITE_FLOAT;
    texts |= v.kind == SQLITE_TEXT;
  }
  if (!ints && !floats && !texts) return declared;
  if (texts && (ints || floats)) return TypeId::kUtf8;
  if (!texts) return floats ? TypeId::kFloat64 : TypeId::kInt64;
  bool dates = true, stamps = true;
  for (const auto& v : values) {
    if (v.kind != SQLITE_TEXT) continue;
    int32_t d;
    int64_t us;
    dates = dates && ParseIsoDate(v.text, &d);
    stamps = stamps && ParseIsoTimestamp(v.text, true, &us);
    if (!dates && !stamps) break;
  }
  return dates ? TypeId::kDate32 : stamps ? TypeId::kTimestamp : TypeId::kUtf8;
}

}  // namespace

Result<Table> ReadSqliteQuery(const std::filesystem::path& database, const std::string& query,
                              const std::string& source, const CancelToken* cancel) {
  Db db;
  const int rc = sqlite3_open_v2(database.c_str(), &db.db,
                                 SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK)
    return Status::IoError(fmt::format("{}: cannot open the database read-only: {}", source,
                                       db.db ? sqlite3_errmsg(db.db) : sqlite3_errstr(rc)));
  sqlite3_busy_timeout(db.db, 5000);
  sqlite3_limit(db.db, SQLITE_LIMIT_ATTACHED, 0);
  sqlite3_db_config(db.db, SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
  int denied = 0;
  sqlite3_set_authorizer(db.db, &Authorize, &denied);
  Stmt st;
  const char* tail = nullptr;
  if (sqlite3_prepare_v2(db.db, query.c_str(), static_cast<int>(query.size()), &st.stmt, &tail) !=
      SQLITE_OK) {
    if (denied)
      return Status::Invalid(fmt::format(
          "{}: the query must be one read-only statement (select ...): {} is not allowed", source,
          ActionName(denied)));
    return Status::Invalid(fmt::format("{}: query: {}", source, sqlite3_errmsg(db.db)));
  }
  if (!st.stmt) return Status::Invalid(fmt::format("{}: the query is empty", source));
  if (!OnlySpaceOrSemicolons(tail))
    return Status::Invalid(fmt::format("{}: the query must be a single statement", source));
  if (!sqlite3_stmt_readonly(st.stmt))
    return Status::Invalid(fmt::format("{}: the query must only read (select ...)", source));

  const int ncols = sqlite3_column_count(st.stmt);
  std::vector<std::string> names;
  std::vector<TypeId> declared;
  for (int c = 0; c < ncols; ++c) {
    names.emplace_back(sqlite3_column_name(st.stmt, c));
    declared.push_back(DeclaredType(sqlite3_column_decltype(st.stmt, c)));
  }
  std::vector<std::vector<Value>> cols(static_cast<size_t>(ncols));
  int64_t rows = 0;
  for (;;) {
    const int step = sqlite3_step(st.stmt);
    if (step == SQLITE_DONE) break;
    if (step != SQLITE_ROW)
      return Status::Invalid(fmt::format("{}: query: {}", source, sqlite3_errmsg(db.db)));
    ++rows;
    if (rows % kSqliteCheckEveryRows == 0 && cancel && cancel->cancelled())
      return cancel->AsStatus();
    for (int c = 0; c < ncols; ++c) {
      Value v;
      v.kind = sqlite3_column_type(st.stmt, c);
      switch (v.kind) {
        case SQLITE_INTEGER:
          v.i = sqlite3_column_int64(st.stmt, c);
          break;
        case SQLITE_FLOAT:
          v.d = sqlite3_column_double(st.stmt, c);
          break;
        case SQLITE_BLOB:
          return Status::Invalid(
              fmt::format("{}: column '{}' holds a BLOB at row {} (not supported)", source,
                          names[static_cast<size_t>(c)], rows));
        default:
          break;
      }
      if (v.kind != SQLITE_NULL) {
        const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(st.stmt, c));
        v.text.assign(text ? text : "", static_cast<size_t>(sqlite3_column_bytes(st.stmt, c)));
      }
      cols[static_cast<size_t>(c)].push_back(std::move(v));
    }
  }

  Schema schema;
  std::vector<ColumnPtr> out;
  for (size_t c = 0; c < cols.size(); ++c) {
    const TypeId type = Infer(cols[c], declared[c]);
    ColumnBuilder b(type);
    b.Reserve(rows);
    for (const auto& v : cols[c]) {
      if (v.kind == SQLITE_NULL) {
        b.AppendNull();
        continue;
      }
      switch (type) {
        case TypeId::kInt64:
          b.AppendInt64(v.i);
          break;
        case TypeId::kFloat64:
          b.AppendDouble(v.kind == SQLITE_INTEGER ? static_cast<double>(v.i) : v.d);
          break;
        case TypeId::kDate32: {
          int32_t d = 0;
          ParseIsoDate(v.text, &d);
          b.AppendDate32(d);
          break;
        }
        case TypeId::kTimestamp: {
          int64_t us = 0;
          ParseIsoTimestamp(v.text, true, &us);
          b.AppendTimestamp(us);
          break;
        }
        default:
          b.AppendString(v.text);
      }
    }
    cols[c] = std::vector<Value>();
    schema.fields.push_back(Field{names[c], type, true});
    out.push_back(b.Finish());
  }
  return Table::Make(std::move(schema), std::move(out), rows);
}

}  // namespace alambic
