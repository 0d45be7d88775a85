// kind: export — writes its one input to a file outside the store (CSV, JSON,
// NDJSON or a table of a SQLite database) and passes the input through as its
// one output, so that the export has a version, is skipped when its input did
// not change, and other recipes can depend on it.
//
// Files are written to a temporary name in the target's directory, fsynced and
// renamed over the target: readers see the old file or the new one, never a
// part, and a failed or cancelled export leaves the old file intact. A SQLite
// table is replaced in one transaction (fill a new table, drop the old one,
// rename), so the database keeps the old table on failure. A PostgreSQL table
// (`connection:` a postgres connection of alambic.yaml) likewise: in one
// transaction, a new table is created and loaded with COPY FROM STDIN, the old
// one dropped and the new one renamed; concurrent readers see the old rows or
// the new ones, never a part, and a failure leaves the old table.
//
// CSV cells of text columns that start with = + - @ TAB or CR get a leading
// single quote (OWASP's advice against formula injection in spreadsheets);
// numbers, dates and booleans are never prefixed, so -3 in an int64 column
// stays -3.
#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "core/base/hash.h"
#include "core/flow/flow.h"
#include "core/recipe/recipe.h"
#include "core/table/csv.h"
#include "recipes/builtin_kinds.h"
#include "recipes/export.h"
#include "recipes/postgres_connect.h"

namespace alambic {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Rows written between two looks at the cancellation token and progress reports.
constexpr int64_t kBatchRows = 8192;
constexpr std::string_view kFormulaStarts = "=+-@\t\r";

enum class ExportFormat { kCsv, kJson, kNdjson, kSqlite, kPostgres };

const char* ExportFormatName(ExportFormat f) {
  switch (f) {
    case ExportFormat::kCsv:
      return "csv";
    case ExportFormat::kJson:
      return "json";
    case ExportFormat::kNdjson:
      return "ndjson";
    case ExportFormat::kSqlite:
      return "sqlite";
    case ExportFormat::kPostgres:
      return "postgres";
  }
  return "?";
}

struct ExportParams {
  std::string path;
  ExportFormat format = ExportFormat::kCsv;
  char delimiter = ',';
  char decimal = '.';  // csv: the decimal separator of float cells
  bool header = true;
  std::string table;               // sqlite, postgres; empty: the input dataset's name
  std::string connection, schema;  // postgres: the connection, the schema ("": search_path)
};

Status ExportParamError(std::string_view name, std::string_view what) {
  return Status::Invalid(fmt::format("param '{}': {}", name, what));
}

// The format named by the file's extension (csv when it names none).
ExportFormat FormatFromExtension(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (ext == ".json") return ExportFormat::kJson;
  if (ext == ".ndjson" || ext == ".jsonl") return ExportFormat::kNdjson;
  if (ext == ".sqlite" || ext == ".sqlite3" || ext == ".db") return ExportFormat::kSqlite;
  return ExportFormat::kCsv;
}

Result<ExportParams> ParseExportParams(const json& p) {
  ExportParams out;
  if (!p.is_object()) return Status::Invalid("params must be a mapping");
  if (auto c = p.find("connection"); c != p.end()) {
    // A table of a postgres connection.
    if (!c->is_string() || c->get<std::string>().empty())
      return ExportParamError("connection", "must name a postgres connection of alambic.yaml");
    out.connection = c->get<std::string>();
    out.format = ExportFormat::kPostgres;
    for (const char* k : {"path", "delimiter", "header", "decimal"})
      if (p.contains(k)) return ExportParamError(k, "does not apply to a connection (use table)");
    if (auto f = p.find("format"); f != p.end() && *f != "postgres")
      return ExportParamError("format", "must be postgres (or absent) with a connection");
    for (const char* k : {"table", "schema"}) {
      auto v = p.find(k);
      if (v == p.end()) continue;
      if (!v->is_string() || v->get<std::string>().empty())
        return ExportParamError(k, "must be a non-empty string");
      const std::string name = v->get<std::string>();
      if (name.size() > 63)
        return ExportParamError(k, "is longer than PostgreSQL's 63 bytes for a name");
      if (name.find('\0') != std::string::npos) return ExportParamError(k, "holds a NUL character");
      (std::string_view(k) == "table" ? out.table : out.schema) = name;
    }
    return out;
  }
  if (p.contains("schema"))
    return ExportParamError("schema", "applies to a postgres connection only");
  auto path = p.find("path");
  if (path == p.end()) return ExportParamError("path", "is required (or connection)");
  if (!path->is_string() || path->get<std::string>().empty())
    return ExportParamError("path", "must be a non-empty string");
  out.path = path->get<std::string>();
  out.format = FormatFromExtension(out.path);
  if (auto f = p.find("format"); f != p.end()) {
    std::string name = f->is_string() ? f->get<std::string>() : "";
    if (name == "csv") {
      out.format = ExportFormat::kCsv;
    } else if (name == "json") {
      out.format = ExportFormat::kJson;
    } else if (name == "ndjson") {
      out.format = ExportFormat::kNdjson;
    } else if (name == "sqlite") {
      out.format = ExportFormat::kSqlite;
    } else {
      return ExportParamError("format",
                              "must be csv, json, ndjson or sqlite (postgres: give a connection)");
    }
  }
  if (out.format != ExportFormat::kCsv)
    for (const char* k : {"delimiter", "header", "decimal"})
      if (p.contains(k))
        return ExportParamError(
            k, fmt::format("applies to format csv only, not {}", ExportFormatName(out.format)));
  if (out.format != ExportFormat::kSqlite && p.contains("table"))
    return ExportParamError("table", fmt::format("applies to format sqlite only, not {}",
                                                 ExportFormatName(out.format)));
  if (auto d = p.find("delimiter"); d != p.end()) {
    std::string s = d->is_string() ? d->get<std::string>() : "";
    if (s == "\\t" || s == "tab") s = "\t";
    if (s.size() != 1 || s[0] == '"' || s[0] == '\n' || s[0] == '\r')
      return ExportParamError(
          "delimiter", "must be one character (or \"\\t\" or \"tab\"), not a quote or line break");
    out.delimiter = s[0];
  }
  if (auto d = p.find("decimal"); d != p.end()) {
    std::string s = d->is_string() ? d->get<std::string>() : "";
    if (s != "." && s != ",") return ExportParamError("decimal", "must be \".\" or \",\"");
    out.decimal = s[0];
    // A decimal comma goes with semicolon-separated cells (what spreadsheets in
    // French, German, ... locales read) unless a delimiter is given.
    if (out.decimal == ',' && !p.contains("delimiter")) out.delimiter = ';';
    if (out.decimal == out.delimiter)
      return ExportParamError("decimal", "must differ from the delimiter (use delimiter \";\")");
  }
  if (auto h = p.find("header"); h != p.end()) {
    if (!h->is_boolean()) return ExportParamError("header", "must be a boolean");
    out.header = h->get<bool>();
  }
  if (auto t = p.find("table"); t != p.end()) {
    if (!t->is_string() || t->get<std::string>().empty())
      return ExportParamError("table", "must be a non-empty string");
    out.table = t->get<std::string>();
    if (out.table.rfind("sqlite_", 0) == 0)
      return ExportParamError("table", "names starting with sqlite_ are reserved by SQLite");
  }
  return out;
}

std::string Errno() { return std::strerror(errno); }

// A file written under a temporary name beside its target and renamed over it
// by Commit(); removed if never committed.
class AtomicFile {
 public:
  static Result<std::unique_ptr<AtomicFile>> Create(const fs::path& target,
                                                    const std::string& what) {
    static std::atomic<uint64_t> counter{0};
    auto f = std::unique_ptr<AtomicFile>(new AtomicFile(target, what));
    std::error_code ec;
    fs::create_directories(target.parent_path(), ec);
    if (ec)
      return Status::IoError(
          fmt::format("{}: cannot create its directory: {}", what, ec.message()));
    uint64_t stamp =
        static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    f->tmp_ =
        target.parent_path() / fmt::format(".{}.alambic-tmp-{}-{}-{:x}", target.filename().string(),
                                           getpid(), counter.fetch_add(1), stamp);
    f->fd_ = ::open(f->tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (f->fd_ < 0)
      return Status::IoError(fmt::format("{}: cannot create a temporary file: {}", what, Errno()));
    return f;
  }
  ~AtomicFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(tmp_.c_str());
  }
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  Status Write(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::write(fd_, bytes.data(), bytes.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Status::IoError(fmt::format("{}: write failed: {}", what_, Errno()));
      bytes.remove_prefix(static_cast<size_t>(n));
      bytes_ += n;
    }
    return Status::Ok();
  }
  // fsync, rename over the target, fsync the directory.
  Status Commit() {
    if (::fsync(fd_) != 0)
      return Status::IoError(fmt::format("{}: fsync failed: {}", what_, Errno()));
    int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) return Status::IoError(fmt::format("{}: close failed: {}", what_, Errno()));
    if (::rename(tmp_.c_str(), target_.c_str()) != 0)
      return Status::IoError(fmt::format("{}: cannot replace the file: {}", what_, Errno()));
    committed_ = true;
    int dir = ::open(target_.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
      ::fsync(dir);
      ::close(dir);
    }
    return Status::Ok();
  }
  int64_t bytes() const { return bytes_; }

 private:
  AtomicFile(fs::path target, std::string what)
      : target_(std::move(target)), what_(std::move(what)) {}
  fs::path target_, tmp_;
  std::string what_;
  int fd_ = -1;
  bool committed_ = false;
  int64_t bytes_ = 0;
};

bool NeedsNeutralising(std::string_view s) {
  return !s.empty() && kFormulaStarts.find(s[0]) != std::string_view::npos;
}

// Rows [begin, end) of `t` as a table, float cells as text with `decimal`; text
// cells that a spreadsheet would read as a formula get a leading quote (counted
// in *neutralised), unless `neutralised` is null.
Result<Table> CsvBatch(const Table& t, int64_t begin, int64_t end, char decimal,
                       int64_t* neutralised) {
  std::vector<ColumnPtr> cols;
  Schema schema = t.schema();
  std::string buf;
  for (size_t ci = 0; ci < t.columns().size(); ++ci) {
    const auto& c = t.columns()[ci];
    if (decimal != '.' && c->type == TypeId::kFloat64) {
      // Float cells as text with the decimal separator replaced.
      ColumnBuilder b(TypeId::kUtf8);
      b.Reserve(end - begin);
      for (int64_t i = begin; i < end; ++i) {
        if (c->IsNull(i)) {
          b.AppendNull();
          continue;
        }
        buf = FormatCell(*c, i);
        std::replace(buf.begin(), buf.end(), '.', decimal);
        b.AppendString(buf);
      }
      schema.fields[ci].type = TypeId::kUtf8;
      cols.push_back(b.Finish());
      continue;
    }
    ColumnBuilder b(c->type);
    b.Reserve(end - begin);
    for (int64_t i = begin; i < end; ++i) {
      if (neutralised && c->type == TypeId::kUtf8 && c->IsValid(i) &&
          NeedsNeutralising(c->String(i))) {
        buf = "'";
        buf += c->String(i);
        b.AppendString(buf);
        ++*neutralised;
      } else {
        b.AppendFrom(*c, i);
      }
    }
    cols.push_back(b.Finish());
  }
  return Table::Make(std::move(schema), std::move(cols), end - begin);
}

void AppendJsonValue(const Column& c, int64_t i, std::string* out) {
  if (c.IsNull(i)) {
    out->append("null");
    return;
  }
  switch (c.type) {
    case TypeId::kInt64:
      out->append(std::to_string(c.Int64(i)));
      return;
    case TypeId::kFloat64:
      out->append(std::isfinite(c.Double(i)) ? json(c.Double(i)).dump() : "null");
      return;
    case TypeId::kBool:
      out->append(c.Bool(i) ? "true" : "false");
      return;
    case TypeId::kUtf8:
      out->append(
          json(std::string(c.String(i))).dump(-1, ' ', false, json::error_handler_t::replace));
      return;
    case TypeId::kDate32:
    case TypeId::kTimestamp:
      out->append(json(FormatCell(c, i)).dump());
      return;
  }
}

struct Written {
  int64_t bytes = 0;
  int64_t neutralised = 0;
};

Status CheckCancel(const RecipeContext& ctx) {
  if (ctx.cancel && ctx.cancel->cancelled()) return ctx.cancel->AsStatus();
  return Status::Ok();
}

Result<Written> WriteFile(const RecipeContext& ctx, const ExportParams& p, const Table& t,
                          const fs::path& target) {
  const std::string what = fmt::format("recipe {}: {}", ctx.recipe, p.path);
  ALAMBIC_ASSIGN_OR_RETURN(std::unique_ptr<AtomicFile> file, AtomicFile::Create(target, what));
  Written w;
  std::vector<std::string> keys;
  for (const auto& f : t.schema().fields) keys.push_back(json(f.name).dump() + ":");
  if (p.format == ExportFormat::kJson) ALAMBIC_RETURN_IF_ERROR(file->Write("["));
  for (int64_t begin = 0; begin < t.num_rows() || begin == 0; begin += kBatchRows) {
    ALAMBIC_RETURN_IF_ERROR(CheckCancel(ctx));
    const int64_t end = std::min(t.num_rows(), begin + kBatchRows);
    std::string out;
    if (p.format == ExportFormat::kCsv) {
      ALAMBIC_ASSIGN_OR_RETURN(Table batch, CsvBatch(t, begin, end, p.decimal, &w.neutralised));
      std::ostringstream ss;
      ALAMBIC_RETURN_IF_ERROR(
          WriteCsv(batch, ss, CsvWriteOptions{p.delimiter, p.header && begin == 0}));
      out = ss.str();
    } else {
      for (int64_t i = begin; i < end; ++i) {
        if (p.format == ExportFormat::kJson) out.append(i == 0 ? "\n" : ",\n");
        out.push_back('{');
        for (int c = 0; c < t.num_columns(); ++c) {
          if (c > 0) out.push_back(',');
          out.append(keys[static_cast<size_t>(c)]);
          AppendJsonValue(*t.column(c), i, &out);
        }
        out.push_back('}');
        if (p.format == ExportFormat::kNdjson) out.push_back('\n');
      }
    }
    ALAMBIC_RETURN_IF_ERROR(file->Write(out));
    if (ctx.progress) ctx.progress(end);
    if (end >= t.num_rows()) break;
  }
  if (p.format == ExportFormat::kJson)
    ALAMBIC_RETURN_IF_ERROR(file->Write(t.num_rows() ? "\n]\n" : "]\n"));
  ALAMBIC_RETURN_IF_ERROR(file->Commit());
  w.bytes = file->bytes();
  return w;
}

std::string QuoteIdent(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    out.push_back(c);
    if (c == '"') out.push_back('"');
  }
  return out + "\"";
}

const char* SqliteType(TypeId t) {
  switch (t) {
    case TypeId::kInt64:
      return "INTEGER";
    case TypeId::kFloat64:
      return "REAL";
    case TypeId::kBool:
      return "BOOLEAN";
    case TypeId::kUtf8:
      return "TEXT";
    case TypeId::kDate32:
      return "DATE";
    case TypeId::kTimestamp:
      return "TIMESTAMP";
  }
  return "TEXT";
}

struct CloseDb {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct FinalizeStmt {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};

// Replaces table `name` of the database at `target` with `t`, in one transaction.
Status WriteSqlite(const RecipeContext& ctx, const ExportParams& p, const std::string& name,
                   const Table& t, const fs::path& target) {
  const std::string what = fmt::format("recipe {}: {}", ctx.recipe, p.path);
  std::error_code ec;
  fs::create_directories(target.parent_path(), ec);
  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(target.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  std::unique_ptr<sqlite3, CloseDb> db(raw);
  if (rc != SQLITE_OK)
    return Status::IoError(fmt::format("{}: cannot open the database: {}", what,
                                       raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  sqlite3_busy_timeout(db.get(), 5000);
  auto exec = [&](const std::string& sql) -> Status {
    if (sqlite3_exec(db.get(), sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK)
      return Status::Failed(fmt::format("{}: SQLite: {}", what, sqlite3_errmsg(db.get())));
    return Status::Ok();
  };
  const std::string tmp = QuoteIdent(name + "__alambic_new");
  ALAMBIC_RETURN_IF_ERROR(exec("BEGIN IMMEDIATE"));
  auto fill = [&]() -> Status {
    ALAMBIC_RETURN_IF_ERROR(exec("DROP TABLE IF EXISTS " + tmp));
    std::string create = "CREATE TABLE " + tmp + " (", insert = "INSERT INTO " + tmp + " VALUES (";
    for (size_t c = 0; c < t.schema().fields.size(); ++c) {
      const Field& f = t.schema().fields[c];
      create += fmt::format("{}{} {}", c ? ", " : "", QuoteIdent(f.name), SqliteType(f.type));
      insert += c ? ", ?" : "?";
    }
    ALAMBIC_RETURN_IF_ERROR(exec(create + ")"));
    sqlite3_stmt* st = nullptr;
    insert += ")";
    if (sqlite3_prepare_v2(db.get(), insert.c_str(), -1, &st, nullptr) != SQLITE_OK)
      return Status::Failed(fmt::format("{}: SQLite: {}", what, sqlite3_errmsg(db.get())));
    std::unique_ptr<sqlite3_stmt, FinalizeStmt> stmt(st);
    std::string text;
    for (int64_t row = 0; row < t.num_rows(); ++row) {
      if (row % kBatchRows == 0) {
        ALAMBIC_RETURN_IF_ERROR(CheckCancel(ctx));
        if (ctx.progress && row > 0) ctx.progress(row);
      }
      for (int c = 0; c < t.num_columns(); ++c) {
        const Column& col = *t.column(c);
        const int k = c + 1;
        if (col.IsNull(row)) {
          sqlite3_bind_null(st, k);
          continue;
        }
        switch (col.type) {
          case TypeId::kInt64:
            sqlite3_bind_int64(st, k, col.Int64(row));
            break;
          case TypeId::kFloat64:
            sqlite3_bind_double(st, k, col.Double(row));
            break;
          case TypeId::kBool:
            sqlite3_bind_int(st, k, col.Bool(row) ? 1 : 0);
            break;
          case TypeId::kUtf8: {
            std::string_view v = col.String(row);
            sqlite3_bind_text(st, k, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
            break;
          }
          case TypeId::kDate32:
          case TypeId::kTimestamp:
            text = FormatCell(col, row);
            sqlite3_bind_text(st, k, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
            break;
        }
      }
      if (sqlite3_step(st) != SQLITE_DONE)
        return Status::Failed(
            fmt::format("{}: SQLite: {} (row {})", what, sqlite3_errmsg(db.get()), row + 1));
      sqlite3_reset(st);
    }
    ALAMBIC_RETURN_IF_ERROR(CheckCancel(ctx));
    ALAMBIC_RETURN_IF_ERROR(exec("DROP TABLE IF EXISTS " + QuoteIdent(name)));
    ALAMBIC_RETURN_IF_ERROR(exec("ALTER TABLE " + tmp + " RENAME TO " + QuoteIdent(name)));
    return exec("COMMIT");
  };
  Status st = fill();
  if (!st.ok()) sqlite3_exec(db.get(), "ROLLBACK", nullptr, nullptr, nullptr);
  return st;
}

// The places of a workspace an export may not write: its git data, its code
// (flows, recipes, use cases, alambic.yaml) and Alambic's own state.
constexpr const char* kForbidden[] = {".git",     "flows",        "recipes",
                                      "usecases", "alambic.yaml", ".alambic"};

// If `p` (resolved) is `root` or below it, the first component below `root`
// ("" for root itself); nullopt otherwise.
std::optional<std::string> FirstBelow(const fs::path& p, const fs::path& root) {
  auto pi = p.begin();
  for (auto ri = root.begin(); ri != root.end(); ++ri, ++pi) {
    if (ri->empty()) continue;
    if (pi == p.end() || *pi != *ri) return std::nullopt;
  }
  return pi == p.end() ? std::string() : pi->string();
}

// The export's target: resolved in the workspace or a data root (symlinks and
// ".." resolved), and not in a forbidden place of the workspace.
Result<fs::path> ResolveTarget(const RecipeContext& ctx, const ExportParams& p) {
  ALAMBIC_ASSIGN_OR_RETURN(fs::path target, ctx.ResolvePath(p.path));
  std::error_code ec;
  std::vector<fs::path> roots = {fs::weakly_canonical(ctx.workspace, ec)};
  if (!ctx.secrets_root.empty()) roots.push_back(fs::weakly_canonical(ctx.secrets_root, ec));
  for (const auto& root : roots) {
    auto first = FirstBelow(target, root);
    if (!first) continue;
    if (first->empty())
      return Status::Invalid(
          fmt::format("recipe {}: path '{}' is the workspace itself", ctx.recipe, p.path));
    for (const char* f : kForbidden)
      if (*first == f)
        return Status::Invalid(fmt::format(
            "recipe {}: path '{}' is inside {}{}, which an export may not write (its code, git "
            "data or Alambic's state)",
            ctx.recipe, p.path, f, std::string_view(f) == "alambic.yaml" ? "" : "/"));
  }
  // weakly_canonical leaves a symlink to a missing file unresolved: writing
  // through it (SQLite follows it) could create a file anywhere.
  if (fs::is_symlink(fs::symlink_status(target, ec)))
    return Status::Invalid(fmt::format("recipe {}: path '{}' is a symbolic link to a missing file",
                                       ctx.recipe, p.path));
  if (fs::is_directory(target, ec))
    return Status::Invalid(fmt::format("recipe {}: path '{}' is a directory", ctx.recipe, p.path));
  return target;
}

// A fingerprint of a file's content: "SIZE:SHA256"; "" when it is missing.
Result<std::string> FileFingerprint(const RecipeContext& ctx, const fs::path& target) {
  std::error_code ec;
  fs::file_status st = fs::status(target, ec);
  if (!fs::exists(st)) return std::string();
  if (!fs::is_regular_file(st)) return std::string("not a regular file");
  const auto size = fs::file_size(target, ec);
  if (ec) return std::string();
  ALAMBIC_ASSIGN_OR_RETURN(std::string sha, ctx.HashFile(target));
  return fmt::format("{}:{}", size, sha);
}

// A fingerprint of a SQLite table's columns and rows (in rowid order): ""
// when the database or the table is missing. Opens the database read-only.
Result<std::string> TableFingerprint(const fs::path& target, const std::string& table) {
  std::error_code ec;
  if (!fs::exists(target, ec)) return std::string();
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(target.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
  std::unique_ptr<sqlite3, CloseDb> db(raw);
  if (rc != SQLITE_OK) return std::string("unreadable database");
  sqlite3_busy_timeout(db.get(), 5000);
  auto prepare = [&](const std::string& sql) -> std::unique_ptr<sqlite3_stmt, FinalizeStmt> {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db.get(), sql.c_str(), -1, &st, nullptr) != SQLITE_OK) st = nullptr;
    return std::unique_ptr<sqlite3_stmt, FinalizeStmt>(st);
  };
  Hasher h;
  {
    auto cols = prepare("SELECT name, type FROM pragma_table_info(?1)");
    if (!cols) return std::string("unreadable database");
    sqlite3_bind_text(cols.get(), 1, table.data(), static_cast<int>(table.size()),
                      SQLITE_TRANSIENT);
    int n = 0;
    while (sqlite3_step(cols.get()) == SQLITE_ROW) {
      for (int k = 0; k < 2; ++k) {
        const auto* t = reinterpret_cast<const char*>(sqlite3_column_text(cols.get(), k));
        h.Field(t ? t : "");
      }
      ++n;
    }
    if (n == 0) return std::string();  // no such table
  }
  auto rows = prepare("SELECT * FROM " + QuoteIdent(table));
  if (!rows) return std::string("unreadable table");
  const int ncols = sqlite3_column_count(rows.get());
  int64_t nrows = 0;
  while ((rc = sqlite3_step(rows.get())) == SQLITE_ROW) {
    ++nrows;
    for (int k = 0; k < ncols; ++k) {
      const int type = sqlite3_column_type(rows.get(), k);
      const char tag = static_cast<char>('0' + type);
      h.Raw(&tag, 1);
      switch (type) {
        case SQLITE_INTEGER: {
          const int64_t v = sqlite3_column_int64(rows.get(), k);
          h.Raw(&v, sizeof v);
          break;
        }
        case SQLITE_FLOAT: {
          const double v = sqlite3_column_double(rows.get(), k);
          h.Raw(&v, sizeof v);
          break;
        }
        case SQLITE_NULL:
          break;
        default: {
          const void* b = sqlite3_column_blob(rows.get(), k);
          const int n = sqlite3_column_bytes(rows.get(), k);
          h.Field(std::string_view(static_cast<const char*>(b), b ? static_cast<size_t>(n) : 0));
        }
      }
    }
  }
  if (rc != SQLITE_DONE) return std::string("unreadable table");
  return fmt::format("{} rows:{}", nrows, h.HexDigest());
}

std::string TableName(const ExportParams& p, const std::string& input) {
  return p.table.empty() ? input : p.table;
}

// The postgres connection of `p` in the recipe's environment.
Result<ConnectionSpec> PostgresTarget(const RecipeContext& ctx, const ExportParams& p) {
  auto spec = ResolveConnection(ctx.Config().connections, p.connection, ctx.environment);
  if (!spec.ok()) return spec.status().WithContext(fmt::format("recipe {}", ctx.recipe));
  if (spec->type != kConnectionPostgres)
    return Status::Invalid(
        fmt::format("recipe {}: connection {} is a {} connection: export writes tables of postgres "
                    "connections (for a file, give path)",
                    ctx.recipe, p.connection, spec->type));
  return spec;
}

// "schema"."table" (or "table"), quoted by the server's rules.
Result<std::string> PgQualified(PgConnection& conn, const ExportParams& p,
                                const std::string& table) {
  ALAMBIC_ASSIGN_OR_RETURN(std::string t, conn.QuoteIdent(table));
  if (p.schema.empty()) return t;
  ALAMBIC_ASSIGN_OR_RETURN(std::string sch, conn.QuoteIdent(p.schema));
  return sch + "." + t;
}

// The label of a postgres target: "connection wh table permis.rates".
std::string PgLabel(const ExportParams& p, const std::string& table) {
  return fmt::format("connection {} table {}{}", p.connection,
                     p.schema.empty() ? "" : p.schema + ".", table);
}

// What the table holds: "<rows> rows:<hash of names, types and rows>", "" when it is missing.
Result<std::string> PgTableFingerprint(PgConnection& conn, const std::string& qualified) {
  ALAMBIC_ASSIGN_OR_RETURN(auto exists,
                           conn.Query("SELECT to_regclass($1) IS NOT NULL", {qualified}));
  if (exists.empty() || !exists[0][0] || *exists[0][0] != "t") return std::string();
  PgReadOptions o;
  o.build_table = false;
  ALAMBIC_ASSIGN_OR_RETURN(PgQueryResult r, conn.ReadQuery("SELECT * FROM " + qualified, o));
  return fmt::format("{} rows:{}", r.rows, r.digest);
}

// The new table's name: the target's with a suffix, within 63 bytes (whole UTF-8 characters).
std::string PgStagingName(const std::string& table) {
  constexpr std::string_view kSuffix = "__alambic_new";
  size_t keep = std::min(table.size(), 63 - kSuffix.size());
  while (keep > 0 && keep < table.size() &&
         (static_cast<unsigned char>(table[keep]) & 0xC0) == 0x80)
    --keep;
  return table.substr(0, keep) + std::string(kSuffix);
}

// Replaces the table with `t` in one transaction: create and load a new table, drop the old
// one, rename the new one. Returns the fingerprint of what it wrote.
Result<std::string> WritePostgres(RecipeContext& ctx, const ExportParams& p,
                                  const ConnectionSpec& spec, const std::string& table,
                                  const Table& t) {
  const std::string what = fmt::format("recipe {}: {}", ctx.recipe, PgLabel(p, table));
  ALAMBIC_ASSIGN_OR_RETURN(std::unique_ptr<PgConnection> conn, ConnectPostgres(ctx, spec));
  ALAMBIC_ASSIGN_OR_RETURN(std::string target, PgQualified(*conn, p, table));
  const std::string staging_name = PgStagingName(table);
  ALAMBIC_ASSIGN_OR_RETURN(std::string staging, PgQualified(*conn, p, staging_name));
  ALAMBIC_ASSIGN_OR_RETURN(std::string renamed, conn->QuoteIdent(table));
  std::string create = "CREATE TABLE " + staging + " (";
  for (size_t c = 0; c < t.schema().fields.size(); ++c) {
    const Field& f = t.schema().fields[c];
    ALAMBIC_ASSIGN_OR_RETURN(std::string col, conn->QuoteIdent(f.name));
    create += fmt::format("{}{} {}", c ? ", " : "", col, ColumnTypeToPg(f.type));
  }
  create += ")";
  auto fill = [&]() -> Status {
    ALAMBIC_RETURN_IF_ERROR(conn->Exec("BEGIN"));
    ALAMBIC_RETURN_IF_ERROR(conn->Exec("DROP TABLE IF EXISTS " + staging));
    ALAMBIC_RETURN_IF_ERROR(conn->Exec(create));
    ALAMBIC_RETURN_IF_ERROR(conn->CopyIn(staging, t, ctx.cancel));
    ALAMBIC_RETURN_IF_ERROR(CheckCancel(ctx));
    ALAMBIC_RETURN_IF_ERROR(conn->Exec("DROP TABLE IF EXISTS " + target));
    ALAMBIC_RETURN_IF_ERROR(conn->Exec("ALTER TABLE " + staging + " RENAME TO " + renamed));
    return conn->Exec("COMMIT");
  };
  Status st = fill();
  if (!st.ok()) {
    (void)conn->Exec("ROLLBACK");
    return st.WithContext(fmt::format("recipe {}: table {}", ctx.recipe, table));
  }
  auto fp = PgTableFingerprint(*conn, target);
  if (!fp.ok()) return fp.status().WithContext(what);
  return fp;
}

class ExportKind final : public RecipeKind {
 public:
  std::string name() const override { return "export"; }
  const std::vector<ParamSpec>& params() const override {
    static const std::vector<ParamSpec> kParams = {
        {"path", ParamType::kString, false,
         "the file to write (in the workspace or a data root); required unless connection"},
        {"connection", ParamType::kString, false,
         "instead of path: a postgres connection of alambic.yaml whose table is replaced"},
        {"schema", ParamType::kString, false,
         "postgres: the table's schema (default: the connection's search_path)"},
        {"format", ParamType::kString, false,
         "csv, json, ndjson, sqlite or postgres (default: from the extension, else csv; "
         "postgres with a connection)"},
        {"delimiter", ParamType::kString, false, "csv: one character (default ,)"},
        {"header", ParamType::kBool, false, "csv: write the column names first (default true)"},
        {"decimal", ParamType::kString, false,
         "csv: the decimal separator of floats, . or , (default .; with , the delimiter "
         "defaults to ;)"},
        {"table", ParamType::kString, false,
         "sqlite, postgres: the table to replace (default: the input's name)"},
    };
    return kParams;
  }
  int max_inputs() const override { return 1; }
  Status CheckParams(const json& params) const override {
    return ParseExportParams(params).status();
  }

  Result<std::optional<EffectTarget>> Target(const RecipeContext& ctx) const override {
    auto parsed = ParseExportParams(*ctx.params);
    if (!parsed.ok()) return parsed.status().WithContext("recipe " + ctx.recipe);
    const ExportParams& p = *parsed;
    if (p.format == ExportFormat::kPostgres) {
      const std::string table = TableName(p, ctx.inputs.empty() ? "" : ctx.inputs[0].name);
      ALAMBIC_ASSIGN_OR_RETURN(ConnectionSpec spec, PostgresTarget(ctx, p));
      EffectTarget t;
      t.label = PgLabel(p, table);
      // Unreachable now: a fingerprint no run wrote, so the export runs (and says why it fails).
      auto conn = ConnectPostgres(ctx, spec);
      if (!conn.ok()) {
        t.fingerprint = "unreachable";
        return std::optional<EffectTarget>(std::move(t));
      }
      ALAMBIC_ASSIGN_OR_RETURN(std::string qualified, PgQualified(**conn, p, table));
      auto fp = PgTableFingerprint(**conn, qualified);
      t.fingerprint = fp.ok() ? *fp : "unreadable";
      return std::optional<EffectTarget>(std::move(t));
    }
    ALAMBIC_ASSIGN_OR_RETURN(fs::path target, ResolveTarget(ctx, p));
    EffectTarget t;
    t.label = p.path;
    if (p.format == ExportFormat::kSqlite) {
      // The table defaults to the input's name (planning passes input names only).
      const std::string table = TableName(p, ctx.inputs.empty() ? "" : ctx.inputs[0].name);
      t.label = fmt::format("{} (table {})", p.path, table);
      ALAMBIC_ASSIGN_OR_RETURN(t.fingerprint, TableFingerprint(target, table));
    } else {
      ALAMBIC_ASSIGN_OR_RETURN(t.fingerprint, FileFingerprint(ctx, target));
    }
    return std::optional<EffectTarget>(std::move(t));
  }

  Result<RecipeOutput> Run(RecipeContext& ctx) const override {
    auto parsed = ParseExportParams(*ctx.params);
    if (!parsed.ok()) return parsed.status().WithContext("recipe " + ctx.recipe);
    const ExportParams& p = *parsed;
    const NamedTable& input = ctx.inputs.at(0);
    const Table& t = *input.table;
    RecipeOutput out;
    std::error_code ec;
    fs::path target;
    if (p.format != ExportFormat::kPostgres) {
      ALAMBIC_ASSIGN_OR_RETURN(target, ResolveTarget(ctx, p));
    }
    if (p.format == ExportFormat::kPostgres) {
      const std::string table = TableName(p, input.name);
      ALAMBIC_ASSIGN_OR_RETURN(ConnectionSpec spec, PostgresTarget(ctx, p));
      ALAMBIC_ASSIGN_OR_RETURN(std::string fp, WritePostgres(ctx, p, spec, table, t));
      out.metrics["table"] = table;
      if (!p.schema.empty()) out.metrics["schema"] = p.schema;
      out.metrics["connection"] = p.connection;
      out.metrics[kTargetFingerprintMetric] = fp;
    } else if (p.format == ExportFormat::kSqlite) {
      const std::string table = TableName(p, input.name);
      ALAMBIC_RETURN_IF_ERROR(WriteSqlite(ctx, p, table, t, target));
      out.metrics["table"] = table;
      out.metrics["bytes"] = static_cast<int64_t>(fs::file_size(target, ec));
      ALAMBIC_ASSIGN_OR_RETURN(std::string fp, TableFingerprint(target, table));
      out.metrics[kTargetFingerprintMetric] = fp;
    } else {
      ALAMBIC_ASSIGN_OR_RETURN(Written w, WriteFile(ctx, p, t, target));
      out.metrics["bytes"] = w.bytes;
      if (p.format == ExportFormat::kCsv) out.metrics["neutralised_cells"] = w.neutralised;
      ALAMBIC_ASSIGN_OR_RETURN(std::string fp, FileFingerprint(ctx, target));
      out.metrics[kTargetFingerprintMetric] = fp;
    }
    out.metrics["rows"] = t.num_rows();
    const std::string shown =
        p.format == ExportFormat::kPostgres ? PgLabel(p, TableName(p, input.name)) : p.path;
    if (p.format != ExportFormat::kPostgres) out.metrics["path"] = p.path;
    out.metrics["format"] = ExportFormatName(p.format);
    if (ctx.log)
      ctx.log->Info(fmt::format("exported {} rows to {} ({})", t.num_rows(), shown,
                                ExportFormatName(p.format)));
    std::map<std::string, std::vector<ColumnSource>> lineage;
    for (const auto& f : t.schema().fields)
      lineage[f.name] = {{input.name, f.name, kTransformIdentity}};
    out.tables.push_back(t);
    out.column_lineage.push_back(std::move(lineage));
    return out;
  }
};

}  // namespace

Status WriteCsvWithDecimal(const Table& t, std::ostream& out, const CsvWriteOptions& options,
                           char decimal) {
  for (int64_t begin = 0; begin < t.num_rows() || begin == 0; begin += kBatchRows) {
    const int64_t end = std::min(t.num_rows(), begin + kBatchRows);
    ALAMBIC_ASSIGN_OR_RETURN(Table batch, CsvBatch(t, begin, end, decimal, nullptr));
    CsvWriteOptions o = options;
    o.header = options.header && begin == 0;
    ALAMBIC_RETURN_IF_ERROR(WriteCsv(batch, out, o));
    if (end >= t.num_rows()) break;
  }
  return Status::Ok();
}

Status RegisterExportKind(RecipeRegistry& r) { return r.Register(std::make_unique<ExportKind>()); }

}  // namespace alambic
