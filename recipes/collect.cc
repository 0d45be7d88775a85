// kind: collect — reads a source into a dataset: a file of the workspace (CSV, JSON /
// NDJSON or Arrow IPC), given by path or by a file connection of alambic.yaml, several
// files matching a wildcard path, an http(s) URL, or a query on a SQLite or PostgreSQL
// connection. A source: no inputs, one output; its fingerprint is the file's content hash
// (files: their names and hashes; URL: its ETag, else Last-Modified, else the body's hash;
// sqlite query: the query and the database's hash; postgres query: the query and the hash
// of its streamed result, core/net/postgres.h).
#include <fnmatch.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <string>
#include <system_error>

#include <fmt/format.h>

#include "core/base/hash.h"
#include "core/flow/connections.h"
#include "core/flow/flow.h"
#include "core/net/http_client.h"
#include "core/net/postgres.h"
#include "core/recipe/recipe.h"
#include "core/table/arrow_ipc.h"
#include "core/table/csv.h"
#include "core/table/decode.h"
#include "core/table/json_read.h"
#include "core/table/sqlite_read.h"
#include "recipes/builtin_kinds.h"
#include "recipes/postgres_connect.h"

namespace alambic {
namespace {

enum class Format { kCsv, kArrow, kJson, kNdjson };

const char* FormatName(Format f) {
  switch (f) {
    case Format::kCsv:
      return "csv";
    case Format::kArrow:
      return "arrow";
    case Format::kJson:
      return "json";
    case Format::kNdjson:
      return "ndjson";
  }
  return "?";
}

struct CollectParams {
  std::string path;
  std::string url;                // instead of path: an http(s) source
  std::string connection, query;  // instead of path: a query on a declared connection
  std::string source_column;      // glob path: a column naming each row's file
  double timeout_seconds = 30;
  Format format = Format::kCsv;
  CsvOptions csv;
  DecodeOptions input;  // csv / json / ndjson files: encoding, zip member, size limit
};

// Params that only make sense for CSV input.
constexpr const char* kCsvOnlyParams[] = {"delimiter", "header",      "null_values", "schema",
                                          "decimal",   "date_format", "skip_rows",   "comment",
                                          "fill",      "max_bad_rows"};
// Params of text files (csv, json, ndjson): how their bytes are decoded.
constexpr const char* kTextParams[] = {"encoding", "member", "max_decompressed_bytes"};

Status ParamError(std::string_view name, std::string_view what) {
  return Status::Invalid(fmt::format("param '{}': {}", name, what));
}

// Rejected records shown in the log when there is no rejects output.
constexpr size_t kLoggedRejects = 10;

bool IsGlob(const std::string& path) { return path.find_first_of("*?[") != std::string::npos; }

// encoding, member, max_decompressed_bytes: for csv, json and ndjson files (not arrow).
Status ParseTextParams(const nlohmann::json& p, CollectParams* out) {
  if (out->format == Format::kArrow) {
    for (const char* k : kTextParams)
      if (p.contains(k)) return ParamError(k, "applies to csv, json and ndjson, not arrow");
    return Status::Ok();
  }
  if (auto e = p.find("encoding"); e != p.end()) {
    if (!e->is_string()) return ParamError("encoding", "must be a string");
    const auto& name = e->get_ref<const std::string&>();
    out->input.encoding = CanonicalEncoding(name);
    if (out->input.encoding.empty())
      return ParamError("encoding",
                        fmt::format("unknown encoding '{}' (expected utf-8, latin-1, windows-1252, "
                                    "utf-16le, utf-16be or another name `iconv -l` lists)",
                                    name));
  }
  if (auto m = p.find("member"); m != p.end()) {
    if (!m->is_string() || m->get<std::string>().empty())
      return ParamError("member", "must name a file of the zip archive");
    if (!out->url.empty()) return ParamError("member", "applies to a zip file, not to a url");
    out->input.member = m->get<std::string>();
  }
  if (auto x = p.find("max_decompressed_bytes"); x != p.end()) {
    if (!x->is_number_integer() || x->get<int64_t>() <= 0)
      return ParamError("max_decompressed_bytes", "must be a whole number of bytes above 0");
    out->input.max_bytes = x->get<uint64_t>();
  }
  return Status::Ok();
}

// Reads and checks the params (the generic type checks may not have run, e.g. in tests).
Result<CollectParams> ParseParams(const nlohmann::json& p) {
  CollectParams out;
  out.csv.encoding.clear();  // detected unless the encoding param gives it
  if (!p.is_object()) return Status::Invalid("params must be a mapping");
  auto path = p.find("path");
  auto url = p.find("url");
  auto connection = p.find("connection");
  if (path != p.end() && url != p.end())
    return ParamError("url", "give either path or url, not both");
  if (connection != p.end() && (path != p.end() || url != p.end()))
    return ParamError("connection", "give one of path, url or connection");
  if (connection != p.end() || p.contains("query")) {
    if (connection == p.end()) return ParamError("query", "needs a connection");
    if (!connection->is_string() || connection->get<std::string>().empty())
      return ParamError("connection", "must name a connection of alambic.yaml");
    out.connection = connection->get<std::string>();
    if (auto q = p.find("query"); q != p.end()) {
      // A sqlite or postgres connection.
      if (!q->is_string() || q->get<std::string>().empty())
        return ParamError("query", "must be a non-empty string");
      out.query = q->get<std::string>();
      for (const char* k : {"format", "timeout", "delimiter", "header", "encoding", "null_values",
                            "schema", "decimal", "date_format", "skip_rows", "comment", "fill",
                            "max_bad_rows", "member", "max_decompressed_bytes"})
        if (p.contains(k)) return ParamError(k, "does not apply to a connection query");
      return out;
    }
    // A file connection: its path comes from alambic.yaml, the rest as for `path`.
    if (p.contains("timeout")) return ParamError("timeout", "applies to url sources only");
    if (p.contains("source_column"))
      return ParamError("source_column", "applies to a path with a wildcard (* ? [) only");
  } else if (url != p.end()) {
    if (p.contains("source_column"))
      return ParamError("source_column", "applies to a path with a wildcard (* ? [) only");
    if (!url->is_string()) return ParamError("url", "must be a string");
    out.url = url->get<std::string>();
    if (Status st = CheckHttpUrl(out.url); !st.ok())
      return ParamError("url", fmt::format("{}: {}", RedactedUrl(out.url), st.message()));
    if (auto t = p.find("timeout"); t != p.end()) {
      if (!t->is_number() || t->get<double>() <= 0)
        return ParamError("timeout", "must be a number of seconds above 0");
      out.timeout_seconds = t->get<double>();
    }
  } else {
    if (path == p.end()) return ParamError("path", "is required (or url, or connection)");
    if (!path->is_string()) return ParamError("path", "must be a string");
    out.path = path->get<std::string>();
    if (out.path.empty()) return ParamError("path", "must not be empty");
    if (p.contains("timeout")) return ParamError("timeout", "applies to url sources only");
    if (auto sc = p.find("source_column"); sc != p.end()) {
      if (!sc->is_string() || sc->get<std::string>().empty())
        return ParamError("source_column", "must be a column name");
      if (!IsGlob(out.path))
        return ParamError("source_column", "applies to a path with a wildcard (* ? [) only");
      out.source_column = sc->get<std::string>();
    }
    if (IsGlob(out.path)) {
      const std::filesystem::path rel(out.path);
      if (IsGlob(rel.parent_path().string()))
        return ParamError("path",
                          "a wildcard may only appear in the file name, not in a directory");
    }
  }

  if (auto f = p.find("format"); f != p.end()) {
    if (!f->is_string()) return ParamError("format", "must be a string");
    const auto& name = f->get_ref<const std::string&>();
    if (name == "csv") {
      out.format = Format::kCsv;
    } else if (name == "arrow") {
      out.format = Format::kArrow;
    } else if (name == "json") {
      out.format = Format::kJson;
    } else if (name == "ndjson" || name == "jsonl") {
      out.format = Format::kNdjson;
    } else {
      return ParamError(
          "format", fmt::format("unknown format '{}' (expected csv, arrow, json or ndjson)", name));
    }
  }
  if (!out.url.empty() && out.format == Format::kArrow)
    return ParamError("format", "arrow is not supported with url (use csv, json or ndjson)");
  if (Status st = ParseTextParams(p, &out); !st.ok()) return st;
  if (out.format != Format::kCsv) {
    for (const char* k : kCsvOnlyParams)
      if (p.contains(k))
        return ParamError(
            k, fmt::format("applies to format csv only, not {}", FormatName(out.format)));
    return out;
  }

  if (auto d = p.find("delimiter"); d != p.end()) {
    if (!d->is_string()) return ParamError("delimiter", "must be a string");
    const auto& s = d->get_ref<const std::string&>();
    if (s == "\\t" || s == "tab") {
      out.csv.delimiter = '\t';
    } else if (s.size() == 1) {
      out.csv.delimiter = s[0];
    } else {
      return ParamError(
          "delimiter", fmt::format("must be one character (or \"\\t\" or \"tab\"), got \"{}\"", s));
    }
    const char c = out.csv.delimiter;
    if (c == '"' || c == '\n' || c == '\r')
      return ParamError("delimiter", "cannot be a quote or a line break");
  }
  if (auto h = p.find("header"); h != p.end()) {
    if (!h->is_boolean()) return ParamError("header", "must be a boolean");
    out.csv.header = h->get<bool>();
  }
  if (auto n = p.find("null_values"); n != p.end()) {
    if (!n->is_array()) return ParamError("null_values", "must be a list of strings");
    out.csv.null_values.clear();
    out.csv.typed_null_values.clear();  // exactly the cells listed are null, in every column
    for (const auto& v : *n) {
      if (!v.is_string()) return ParamError("null_values", "must be a list of strings");
      out.csv.null_values.push_back(v.get<std::string>());
    }
  }
  if (auto d = p.find("decimal"); d != p.end()) {
    if (!d->is_string() || (*d != "," && *d != "."))
      return ParamError("decimal", "must be \",\" or \".\"");
    out.csv.decimal = d->get_ref<const std::string&>()[0];
    if (out.csv.decimal == ',' && out.csv.delimiter == ',')
      return ParamError("decimal", "a decimal comma needs another delimiter than ','");
  }
  if (auto f = p.find("date_format"); f != p.end()) {
    if (!f->is_string()) return ParamError("date_format", "must be a string");
    out.csv.date_format = f->get<std::string>();
    if (std::string why = CheckDateFormat(out.csv.date_format); !why.empty())
      return ParamError("date_format", fmt::format("\"{}\" {}", out.csv.date_format, why));
  }
  if (auto k = p.find("skip_rows"); k != p.end()) {
    if (!k->is_number_integer() || k->get<int64_t>() < 0)
      return ParamError("skip_rows", "must be a whole number of lines, 0 or more");
    out.csv.skip_rows = k->get<int64_t>();
  }
  if (auto c = p.find("comment"); c != p.end()) {
    if (!c->is_string() || c->get<std::string>().empty())
      return ParamError("comment", "must be a non-empty prefix such as \"#\"");
    out.csv.comment = c->get<std::string>();
    if (out.csv.comment.find_first_of("\r\n") != std::string::npos)
      return ParamError("comment", "cannot hold a line break");
  }
  if (auto f = p.find("fill"); f != p.end()) {
    if (!f->is_boolean()) return ParamError("fill", "must be a boolean");
    out.csv.fill = f->get<bool>();
  }
  if (auto m = p.find("max_bad_rows"); m != p.end()) {
    if (!m->is_number_integer() || m->get<int64_t>() < 0)
      return ParamError("max_bad_rows", "must be a whole number, 0 or more");
    out.csv.max_bad_rows = m->get<int64_t>();
  }
  if (auto s = p.find("schema"); s != p.end()) {
    if (!s->is_object()) return ParamError("schema", "must be a mapping of column to type");
    for (const auto& [column, spec] : s->items()) {
      // "type", or {type: ..., format: "%d/%m/%Y"} for a date or timestamp column.
      const nlohmann::json* type = &spec;
      if (spec.is_object()) {
        for (const auto& [key, v] : spec.items())
          if (key != "type" && key != "format" && key != "on_error")
            return ParamError("schema", fmt::format("column '{}': unknown key '{}' (expected "
                                                    "type, format, on_error)",
                                                    column, key));
        if (auto e = spec.find("on_error"); e != spec.end()) {
          // An unquoted `on_error: null` is YAML's null: the policy of that name.
          const std::string name = e->is_string() ? e->get<std::string>()
                                   : e->is_null() ? "null"
                                                  : "";
          if (name == "fail") {
            out.csv.on_error[column] = CsvOnError::kFail;
          } else if (name == "null") {
            out.csv.on_error[column] = CsvOnError::kNull;
          } else if (name == "drop" || name == "drop_row") {
            out.csv.on_error[column] = CsvOnError::kDrop;
          } else if (name == "reject") {
            out.csv.on_error[column] = CsvOnError::kReject;
          } else {
            return ParamError("schema", fmt::format("column '{}': on_error must be fail, null, "
                                                    "drop (drop_row) or reject",
                                                    column));
          }
        }
        auto it = spec.find("type");
        if (it == spec.end())
          return ParamError("schema", fmt::format("column '{}': type is required", column));
        type = &*it;
      }
      if (!type->is_string())
        return ParamError("schema", fmt::format("column '{}': the type must be a string", column));
      auto t = ParseTypeName(type->get<std::string>());
      if (!t.ok())
        return ParamError("schema", fmt::format("column '{}': {}", column, t.status().message()));
      out.csv.schema.push_back(Field{column, *t, true});
      if (spec.is_object() && spec.contains("format")) {
        const auto& f = spec["format"];
        if (!f.is_string())
          return ParamError("schema", fmt::format("column '{}': format must be a string", column));
        if (*t != TypeId::kDate32 && *t != TypeId::kTimestamp)
          return ParamError("schema", fmt::format("column '{}': format applies to date and "
                                                  "timestamp columns only",
                                                  column));
        std::string why = CheckDateFormat(f.get<std::string>());
        if (!why.empty())
          return ParamError("schema", fmt::format("column '{}': format \"{}\" {}", column,
                                                  f.get<std::string>(), why));
        out.csv.date_formats[column] = f.get<std::string>();
      }
    }
  }
  return out;
}

// A status of the same code as `s` with another message.
Status WithMessage(const Status& s, std::string msg) {
  switch (s.code()) {
    case StatusCode::kNotFound:
      return Status::NotFound(std::move(msg));
    case StatusCode::kIoError:
      return Status::IoError(std::move(msg));
    default:
      return Status::Invalid(std::move(msg));
  }
}

// "20001" -> "20,001".
std::string WithThousands(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return n < 0 ? "-" + out : out;
}

class CollectKind final : public RecipeKind {
 public:
  std::string name() const override { return "collect"; }
  const std::vector<ParamSpec>& params() const override {
    static const std::vector<ParamSpec> kParams = {
        {"path", ParamType::kString, false,
         "the file (a wildcard in its name reads every match), relative to the workspace (or "
         "under a data root); required unless url or connection"},
        {"url", ParamType::kString, false,
         "an http:// or https:// URL to GET instead of a file (csv, json or ndjson)"},
        {"timeout", ParamType::kNumber, false, "url: seconds to connect and per read (default 30)"},
        {"connection", ParamType::kString, false,
         "instead of path: a connection of alambic.yaml (or of the environment): type file reads "
         "its path like `path`; type sqlite runs `query` on it"},
        {"query", ParamType::kString, false,
         "with a sqlite or postgres connection: one read-only SQL query"},
        {"source_column", ParamType::kString, false,
         "with a wildcard path: add this column holding each row's file"},
        {"format", ParamType::kString, false,
         "csv (default), arrow (an Arrow IPC file), json (an array of objects) or ndjson (one "
         "object per line)"},
        {"delimiter", ParamType::kString, false,
         "one character; detected among , ; tab | when absent"},
        {"header", ParamType::kBool, false, "the first line names the columns (default true)"},
        {"encoding", ParamType::kString, false,
         "csv / json: the text's encoding (utf-8, windows-1252, utf-16le, gb18030, ... any name "
         "iconv knows); detected when absent (utf-8, else utf-16 with a byte-order mark, else "
         "windows-1252)"},
        {"member", ParamType::kString, false,
         "a zip archive holding several files: the one to read"},
        {"max_decompressed_bytes", ParamType::kInt, false,
         "a compressed file (.gz .bz2 .xz .zst .zip) may not decompress to more (default 16 GiB)"},
        {"null_values", ParamType::kStringList, false, "cells read as null (default [\"\"])"},
        {"schema", ParamType::kMap, false,
         "column -> type (or {type, format} for dates), for some or all columns"},
        {"decimal", ParamType::kString, false,
         "decimal mark, \".\" or \",\"; detected (a comma with ; or tab) when absent"},
        {"date_format", ParamType::kString, false,
         "dates in this format are read as dates, e.g. \"%d/%m/%Y\" (the default besides ISO)"},
        {"skip_rows", ParamType::kInt, false, "lines skipped before the header (a preamble)"},
        {"comment", ParamType::kString, false,
         "lines starting with this prefix (e.g. \"#\") are skipped"},
        {"fill", ParamType::kBool, false,
         "pad a record with too few fields with nulls (default false: an error)"},
        {"max_bad_rows", ParamType::kInt, false,
         "records with the wrong number of fields skipped (to the rejects output) before the "
         "read fails (default 0)"},
    };
    return kParams;
  }
  bool is_source() const override { return true; }
  // The second output, when declared, receives the rejected records (CSV).
  int max_outputs() const override { return 2; }

  Status CheckParams(const nlohmann::json& params) const override {
    return ParseParams(params).status();
  }

  Result<std::string> SourceFingerprint(const RecipeContext& ctx) const override {
    ALAMBIC_ASSIGN_OR_RETURN(CollectParams p, Params(ctx));
    if (!p.url.empty()) return UrlFingerprint(ctx, p);
    if (!p.query.empty()) return QueryFingerprint(ctx, p);
    if (IsGlob(p.path)) return GlobFingerprint(ctx, p);
    ALAMBIC_ASSIGN_OR_RETURN(std::filesystem::path file, Locate(ctx, p));
    auto hash = ctx.HashFile(file);
    if (!hash.ok()) return hash.status().WithContext(fmt::format("recipe {}", ctx.recipe));
    return hash;
  }

  Result<RecipeOutput> Run(RecipeContext& ctx) const override {
    ALAMBIC_ASSIGN_OR_RETURN(CollectParams p, Params(ctx));
    PreviousTypes(ctx, p);
    if (ctx.outputs.size() == 1)
      for (const auto& [column, policy] : p.csv.on_error)
        if (policy == CsvOnError::kReject)
          return Status::Invalid(fmt::format(
              "recipe {}: column '{}': on_error: reject needs a second output for the rejected "
              "records (outputs: [{}, {}_rejects])",
              ctx.recipe, column, ctx.outputs[0], ctx.outputs[0]));
    if (!p.url.empty()) return RunUrl(ctx, p);
    if (!p.query.empty()) return RunQuery(ctx, p);
    if (IsGlob(p.path)) return RunGlob(ctx, p);
    ALAMBIC_ASSIGN_OR_RETURN(std::filesystem::path file, Locate(ctx, p));
    std::error_code ec;
    const auto bytes = static_cast<int64_t>(std::filesystem::file_size(file, ec));
    const std::string prefix = fmt::format("recipe {}", ctx.recipe);
    CsvReport report;
    Rejects rejects;

    Result<Table> table = Status::Internal("unreachable");
    if (p.format == Format::kArrow) {
      table = ReadArrowFile(file.string());
      if (!table.ok()) {
        // Name the file as the flow does, not by its absolute path.
        std::string msg = table.status().message();
        const std::string abs = file.string();
        if (msg.compare(0, abs.size(), abs) == 0) msg = p.path + msg.substr(abs.size());
        return WithMessage(table.status(), std::move(msg)).WithContext(prefix);
      }
    } else {
      table =
          ReadText(ctx, p, DecodeFile(file, TextOptions(ctx, p, p.path)), p.path, true, &report);
      if (!table.ok()) return table.status().WithContext(prefix);
      AddReport(report, p.path, &rejects);
    }
    return Output(ctx, std::move(*table), p.path, bytes, FileDataset(file), rejects);
  }

 private:
  // What the CSV reader set aside or counted, over every file read.
  struct Rejects {
    std::vector<std::string> files;  // per row of `rows`
    std::vector<CsvRejectedRow> rows;
    std::vector<std::string> warnings;
    std::map<std::string, int64_t> nulled, dropped, rejected;
    int64_t bad_rows = 0;
  };

  static void AddReport(CsvReport& report, const std::string& file, Rejects* out) {
    for (auto& r : report.rejects) {
      out->files.push_back(file);
      out->rows.push_back(std::move(r));
    }
    for (auto& w : report.warnings) out->warnings.push_back(std::move(w));
    for (const auto& [c, n] : report.nulled) out->nulled[c] += n;
    for (const auto& [c, n] : report.dropped) out->dropped[c] += n;
    for (const auto& [c, n] : report.rejected) out->rejected[c] += n;
    out->bad_rows += report.bad_rows;
    report = CsvReport{};
  }

  // The rejects output: file, line, reason and the record's text, one row per rejected record.
  static Result<Table> RejectsTable(const Rejects& r) {
    ColumnBuilder file(TypeId::kUtf8), line(TypeId::kInt64), reason(TypeId::kUtf8),
        record(TypeId::kUtf8);
    for (size_t i = 0; i < r.rows.size(); ++i) {
      file.AppendString(r.files[i]);
      line.AppendInt64(r.rows[i].line);
      reason.AppendString(r.rows[i].reason);
      record.AppendString(r.rows[i].text);
    }
    Schema schema;
    schema.fields = {Field{"file", TypeId::kUtf8, false}, Field{"line", TypeId::kInt64, false},
                     Field{"reason", TypeId::kUtf8, false}, Field{"record", TypeId::kUtf8, false}};
    return Table::Make(std::move(schema),
                       {file.Finish(), line.Finish(), reason.Finish(), record.Finish()},
                       static_cast<int64_t>(r.rows.size()));
  }

  // The source as an OpenLineage dataset (naming conventions: a local file is namespace
  // "file", name its absolute path; a URL is namespace scheme://host[:port], name its path).
  static nlohmann::json FileDataset(const std::filesystem::path& file) {
    return {{"namespace", "file"}, {"name", file.lexically_normal().string()}};
  }
  static nlohmann::json UrlDataset(const std::string& redacted) {
    const size_t scheme = redacted.find("://");
    const size_t path = redacted.find_first_of("/?#", scheme == std::string::npos ? 0 : scheme + 3);
    std::string name = path == std::string::npos ? "/" : redacted.substr(path);
    if (name.empty() || name[0] != '/') name = "/" + name;
    return {{"namespace", redacted.substr(0, path)}, {"name", name}};
  }

  // How a text file (csv, json, ndjson) is decompressed and decoded.
  static DecodeOptions TextOptions(const RecipeContext& ctx, const CollectParams& p,
                                   const std::string& shown) {
    DecodeOptions o = p.input;
    o.source_name = shown;
    o.keep_single_byte = p.format == Format::kCsv;  // the CSV reader converts them itself
    if (const CancelToken* c = ctx.cancel) o.cancelled = [c] { return c->cancelled(); };
    return o;
  }

  // Parses decoded text as CSV or JSON; what decoding decided goes to the log.
  static Result<Table> ReadText(const RecipeContext& ctx, const CollectParams& p,
                                Result<DecodedText> text, const std::string& shown, bool progress,
                                CsvReport* report) {
    if (ctx.cancel && ctx.cancel->cancelled()) return ctx.cancel->AsStatus();
    if (!text.ok()) return text.status();
    if (ctx.log)
      for (const auto& note : text->notes()) ctx.log->Info(fmt::format("{}: {}", shown, note));
    if (p.format == Format::kCsv) {
      CsvOptions co = p.csv;
      co.source_name = shown;
      co.encoding = text->encoding();
      if (progress && ctx.progress) co.progress = ctx.progress;
      co.report = report;
      return ReadCsvBuffer(text->text(), co, ctx.cancel);
    }
    JsonReadOptions jo;
    jo.lines = p.format == Format::kNdjson;
    jo.source_name = shown;
    return ReadJsonBuffer(text->text(), jo, ctx.cancel);
  }

  static Result<RecipeOutput> Output(RecipeContext& ctx, Table table, const std::string& source,
                                     int64_t bytes, nlohmann::json dataset,
                                     const Rejects& rejects) {
    if (ctx.cancel && ctx.cancel->cancelled()) return ctx.cancel->AsStatus();
    const int64_t rows = table.num_rows();
    const int columns = table.num_columns();
    const bool rejects_output = ctx.outputs.size() >= 2;
    if (ctx.log) {
      ctx.log->Info(fmt::format("read {} rows, {} columns ({}) from {} ({} bytes)",
                                WithThousands(rows), columns, table.schema().ToString(), source,
                                WithThousands(bytes)));
      for (const auto& w : rejects.warnings) ctx.log->Warn(w);
      if (rejects.bad_rows)
        ctx.log->Warn(fmt::format("skipped {} records with the wrong number of fields{}",
                                  WithThousands(rejects.bad_rows),
                                  rejects_output ? " (to " + ctx.outputs[1] + ")" : ""));
      for (const auto& [c, n] : rejects.nulled)
        ctx.log->Warn(
            fmt::format("column '{}': {} cells that do not convert read as null "
                        "(on_error: null)",
                        c, WithThousands(n)));
      for (const auto& [c, n] : rejects.dropped)
        ctx.log->Warn(
            fmt::format("column '{}': {} records dropped, their cell does not "
                        "convert (on_error: drop)",
                        c, WithThousands(n)));
      for (const auto& [c, n] : rejects.rejected)
        ctx.log->Warn(
            fmt::format("column '{}': {} records rejected to {}, their cell does not "
                        "convert (on_error: reject)",
                        c, WithThousands(n), ctx.outputs[1]));
      // Without a rejects output, the first rejected records are shown in the log.
      if (!rejects_output)
        for (size_t i = 0; i < rejects.rows.size() && i < kLoggedRejects; ++i)
          ctx.log->Warn(fmt::format("{}:{}: {}", rejects.files[i], rejects.rows[i].line,
                                    rejects.rows[i].reason));
    }
    if (ctx.progress) ctx.progress(rows);
    RecipeOutput out;
    out.tables.push_back(std::move(table));
    if (rejects_output) {
      ALAMBIC_ASSIGN_OR_RETURN(Table r, RejectsTable(rejects));
      out.tables.push_back(std::move(r));
    }
    out.metrics["rows"] = rows;
    out.metrics["columns"] = columns;
    out.metrics["bytes_read"] = bytes;
    out.metrics["source"] = std::move(dataset);
    if (rejects.bad_rows) out.metrics["bad_rows"] = rejects.bad_rows;
    if (!rejects.rows.empty()) out.metrics["rejected_rows"] = rejects.rows.size();
    if (!rejects.nulled.empty()) out.metrics["nulled"] = rejects.nulled;
    if (!rejects.dropped.empty()) out.metrics["dropped"] = rejects.dropped;
    if (!rejects.rejected.empty()) out.metrics["rejected"] = rejects.rejected;
    return out;
  }

  // The ETag, else the Last-Modified date, of a HEAD; else the SHA-256 of a GET's body.
  static Result<std::string> UrlFingerprint(const RecipeContext& ctx, const CollectParams& p) {
    const std::string prefix = fmt::format("recipe {}", ctx.recipe);
    HttpOptions ho;
    ho.timeout_seconds = p.timeout_seconds;
    auto head = HttpHead(p.url, ho);
    if (!head.ok()) return head.status().WithContext(prefix);
    if (head->status >= 200 && head->status <= 299) {
      if (!head->etag.empty()) return "etag " + head->etag;
      if (!head->last_modified.empty()) return "last-modified " + head->last_modified;
    }
    auto get = HttpGet(p.url, ho);
    if (!get.ok()) return get.status().WithContext(prefix);
    return "sha256 " + Sha256Hex(get->body);
  }

  // Files matching a wildcard path (in the file name; the directory is literal), sorted,
  // each as (path as shown, resolved path); NotFound when none matches.
  static Result<std::vector<std::pair<std::string, std::filesystem::path>>> Matches(
      const RecipeContext& ctx, const CollectParams& p) {
    const std::filesystem::path rel(p.path);
    const std::string dir_shown = rel.parent_path().string();
    const std::string pattern = rel.filename().string();
    ALAMBIC_ASSIGN_OR_RETURN(std::filesystem::path dir,
                             ctx.ResolvePath(dir_shown.empty() ? "." : dir_shown));
    std::vector<std::pair<std::string, std::filesystem::path>> out;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
      const std::string name = e.path().filename().string();
      if (::fnmatch(pattern.c_str(), name.c_str(), FNM_PERIOD) != 0) continue;
      const std::string shown = dir_shown.empty() ? name : dir_shown + "/" + name;
      // Each match is confined too (a symlink may point outside).
      ALAMBIC_ASSIGN_OR_RETURN(std::filesystem::path file, ctx.ResolvePath(shown));
      if (!std::filesystem::is_regular_file(file, ec)) continue;
      out.emplace_back(shown, file);
    }
    if (out.empty())
      return Status::NotFound(fmt::format("recipe {}: no file matches {}", ctx.recipe, p.path));
    std::sort(out.begin(), out.end());
    return out;
  }

  // H(sorted (file name, content hash)): adding, removing or changing a file changes it.
  static Result<std::string> GlobFingerprint(const RecipeContext& ctx, const CollectParams& p) {
    ALAMBIC_ASSIGN_OR_RETURN(auto files, Matches(ctx, p));
    Hasher h;
    h.Field("glob");
    for (const auto& [shown, file] : files) {
      auto hash = ctx.HashFile(file);
      if (!hash.ok()) return hash.status().WithContext(fmt::format("recipe {}", ctx.recipe));
      h.Field(shown).Field(*hash);
    }
    return "files " + h.HexDigest();
  }

  // Reads each matching file as `path` alone would be read, then stacks them: every file
  // must give the same columns with the same types.
  static Result<RecipeOutput> RunGlob(RecipeContext& ctx, CollectParams& p) {
    ALAMBIC_ASSIGN_OR_RETURN(auto files, Matches(ctx, p));
    const std::string prefix = fmt::format("recipe {}", ctx.recipe);
    std::vector<Table> tables;
    int64_t rows = 0, bytes = 0;
    CsvReport report;
    Rejects rejects;
    for (const auto& [shown, file] : files) {
      if (ctx.cancel && ctx.cancel->cancelled()) return ctx.cancel->AsStatus();
      Result<Table> t = Status::Internal("unreachable");
      if (p.format == Format::kArrow) {
        t = ReadArrowFile(file.string());
      } else {
        t = ReadText(ctx, p, DecodeFile(file, TextOptions(ctx, p, shown)), shown, false, &report);
        if (t.ok()) AddReport(report, shown, &rejects);
      }
      if (!t.ok()) return t.status().WithContext(prefix);
      if (!tables.empty()) {
        const Schema& first = tables[0].schema();
        const Schema& s = t->schema();
        for (size_t c = 0; c < std::max(first.fields.size(), s.fields.size()); ++c) {
          if (c >= first.fields.size() || c >= s.fields.size() ||
              first.fields[c].name != s.fields[c].name)
            return Status::Invalid(fmt::format(
                "{}: {} has columns ({}) but {} has ({}): every file must share a schema", prefix,
                shown, s.ToString(), files[0].first, first.ToString()));
          if (first.fields[c].type != s.fields[c].type)
            return Status::Invalid(
                fmt::format("{}: column '{}' is {} in {} but {} in {} (give its type in schema)",
                            prefix, s.fields[c].name, TypeName(s.fields[c].type), shown,
                            TypeName(first.fields[c].type), files[0].first));
        }
      }
      if (!p.source_column.empty() && t->schema().FieldIndex(p.source_column) >= 0)
        return Status::Invalid(fmt::format("{}: source_column '{}' is already a column of {}",
                                           prefix, p.source_column, shown));
      std::error_code ec;
      bytes += static_cast<int64_t>(std::filesystem::file_size(file, ec));
      rows += t->num_rows();
      tables.push_back(std::move(*t));
    }
    Schema schema = tables[0].schema();
    std::vector<ColumnPtr> cols;
    for (size_t c = 0; c < schema.fields.size(); ++c) {
      ColumnBuilder b(schema.fields[c].type);
      b.Reserve(rows);
      for (const auto& t : tables) {
        const Column& col = *t.column(static_cast<int>(c));
        for (int64_t i = 0; i < col.length; ++i) b.AppendFrom(col, i);
      }
      cols.push_back(b.Finish());
    }
    if (!p.source_column.empty()) {
      ColumnBuilder b(TypeId::kUtf8);
      b.Reserve(rows);
      for (size_t k = 0; k < tables.size(); ++k)
        for (int64_t i = 0; i < tables[k].num_rows(); ++i) b.AppendString(files[k].first);
      schema.fields.push_back(Field{p.source_column, TypeId::kUtf8, true});
      cols.push_back(b.Finish());
    }
    ALAMBIC_ASSIGN_OR_RETURN(Table all, Table::Make(std::move(schema), std::move(cols), rows));
    if (ctx.log) ctx.log->Info(fmt::format("{} files match {}", files.size(), p.path));
    ALAMBIC_ASSIGN_OR_RETURN(RecipeOutput out,
                             Output(ctx, std::move(all), p.path, bytes,
                                    FileDataset(files[0].second.parent_path() /
                                                std::filesystem::path(p.path).filename()),
                                    rejects));
    out.metrics["files"] = static_cast<int64_t>(files.size());
    return out;
  }

  // The connection of `p` in the recipe's environment, of the type its params
  // ask for: sqlite with a query, file without.
  static Result<ConnectionSpec> Connection(const RecipeContext& ctx, const CollectParams& p) {
    auto spec = ResolveConnection(ctx.Config().connections, p.connection, ctx.environment);
    if (!spec.ok()) return spec.status().WithContext(fmt::format("recipe {}", ctx.recipe));
    if (spec->type == kConnectionSqlite && p.query.empty())
      return Status::Invalid(fmt::format(
          "recipe {}: connection {} is a sqlite database: give a query", ctx.recipe, p.connection));
    if (spec->type == kConnectionPostgres && p.query.empty())
      return Status::Invalid(
          fmt::format("recipe {}: connection {} is a postgres database: give a query", ctx.recipe,
                      p.connection));
    if (spec->type == kConnectionFile && !p.query.empty())
      return Status::Invalid(
          fmt::format("recipe {}: connection {} is a file: query applies to sqlite connections",
                      ctx.recipe, p.connection));
    return spec;
  }

  // The database file of a connection, confined to the workspace and data roots.
  static Result<std::filesystem::path> Database(const RecipeContext& ctx, const CollectParams& p) {
    ALAMBIC_ASSIGN_OR_RETURN(ConnectionSpec spec, Connection(ctx, p));
    ALAMBIC_ASSIGN_OR_RETURN(std::filesystem::path db, ctx.ResolvePath(spec.path));
    std::error_code ec;
    if (!std::filesystem::is_regular_file(db, ec))
      return Status::NotFound(fmt::format("recipe {}: connection {}: {}: no such database file",
                                          ctx.recipe, p.connection, spec.path));
    return db;
  }

  // A postgres query: H(query, its result's names, types and rows), the rows streamed and
  // hashed, not kept (the query runs when planning and again when collecting).
  static Result<std::string> PostgresFingerprint(const RecipeContext& ctx, const CollectParams& p,
                                                 const ConnectionSpec& spec) {
    ALAMBIC_ASSIGN_OR_RETURN(std::unique_ptr<PgConnection> conn, ConnectPostgres(ctx, spec));
    PgReadOptions o;
    o.cancel = ctx.cancel;
    o.build_table = false;
    auto r = conn->ReadQuery(p.query, o);
    if (!r.ok()) return r.status().WithContext(fmt::format("recipe {}", ctx.recipe));
    Hasher h;
    h.Field("postgres query").Field(p.query).Field(r->digest);
    return "postgres " + h.HexDigest();
  }

  static Result<RecipeOutput> RunPostgres(RecipeContext& ctx, const CollectParams& p,
                                          const ConnectionSpec& spec) {
    ALAMBIC_ASSIGN_OR_RETURN(std::unique_ptr<PgConnection> conn, ConnectPostgres(ctx, spec));
    PgReadOptions o;
    o.cancel = ctx.cancel;
    o.progress = ctx.progress;
    auto r = conn->ReadQuery(p.query, o);
    if (!r.ok()) return r.status().WithContext(fmt::format("recipe {}", ctx.recipe));
    const std::string source = fmt::format("connection {}", p.connection);
    return Output(ctx, std::move(r->table), source, r->bytes, PostgresDataset(spec, ""), Rejects{});
  }

  // H(query, the database file's content, its WAL's content when there is one).
  static Result<std::string> QueryFingerprint(const RecipeContext& ctx, const CollectParams& p) {
    ALAMBIC_ASSIGN_OR_RETURN(ConnectionSpec spec, Connection(ctx, p));
    if (spec.type == kConnectionPostgres) return PostgresFingerprint(ctx, p, spec);
    ALAMBIC_ASSIGN_OR_RETURN(std::filesystem::path db, Database(ctx, p));
    Hasher h;
    h.Field("sqlite query").Field(p.query);
    auto content = ctx.HashFile(db);
    if (!content.ok()) return content.status().WithContext(fmt::format("recipe {}", ctx.recipe));
    h.Field(*content);
    std::filesystem::path wal = db;
    wal += "-wal";
    std::error_code ec;
    if (std::filesystem::exists(wal, ec) && std::filesystem::file_size(wal, ec) > 0) {
      auto w = Sha256File(wal);  // changes without its mtime granularity noticing: no cache
      if (!w.ok()) return w.status().WithContext(fmt::format("recipe {}", ctx.recipe));
      h.Field(*w);
    }
    return "sqlite " + h.HexDigest();
  }

  static Result<RecipeOutput> RunQuery(RecipeContext& ctx, const CollectParams& p) {
    ALAMBIC_ASSIGN_OR_RETURN(ConnectionSpec spec, Connection(ctx, p));
    if (spec.type == kConnectionPostgres) return RunPostgres(ctx, p, spec);
    ALAMBIC_ASSIGN_OR_RETURN(std::filesystem::path db, Database(ctx, p));
    const std::string source = fmt::format("connection {}", p.connection);
    auto table = ReadSqliteQuery(db, p.query, source, ctx.cancel);
    if (!table.ok()) return table.status().WithContext(fmt::format("recipe {}", ctx.recipe));
    std::error_code ec;
    const auto bytes = static_cast<int64_t>(std::filesystem::file_size(db, ec));
    return Output(ctx, std::move(*table), source, bytes, FileDataset(db), Rejects{});
  }

  static Result<RecipeOutput> RunUrl(RecipeContext& ctx, CollectParams& p) {
    const std::string prefix = fmt::format("recipe {}", ctx.recipe);
    const std::string shown = RedactedUrl(p.url);
    HttpOptions ho;
    ho.timeout_seconds = p.timeout_seconds;
    auto got = HttpGet(p.url, ho);
    if (!got.ok()) return got.status().WithContext(prefix);
    if (ctx.cancel && ctx.cancel->cancelled()) return ctx.cancel->AsStatus();
    const auto body_bytes = static_cast<int64_t>(got->body.size());
    CsvReport report;
    Rejects rejects;
    Result<Table> table =
        ReadText(ctx, p, DecodeBuffer(std::move(got->body), TextOptions(ctx, p, shown)), shown,
                 true, &report);
    if (!table.ok()) return table.status().WithContext(prefix);
    AddReport(report, shown, &rejects);
    return Output(ctx, std::move(*table), shown, body_bytes, UrlDataset(shown), rejects);
  }

  // The column types of the output's current version (for type drift), when there is one.
  static void PreviousTypes(const RecipeContext& ctx, CollectParams& p) {
    if (!ctx.read_version || ctx.outputs.empty() || p.format != Format::kCsv) return;
    auto prev = ctx.read_version(ctx.outputs[0], "");
    if (!prev.ok()) return;  // a first run
    for (const auto& f : prev->schema().fields) p.csv.previous_types[f.name] = f.type;
  }

  // The params; for a file connection, with the connection's path as `path`.
  static Result<CollectParams> Params(const RecipeContext& ctx) {
    if (!ctx.params) return Status::Internal(fmt::format("recipe {}: no params", ctx.recipe));
    auto p = ParseParams(*ctx.params);
    if (!p.ok()) return p.status().WithContext(fmt::format("recipe {}", ctx.recipe));
    if (!p->connection.empty() && p->query.empty()) {
      ALAMBIC_ASSIGN_OR_RETURN(ConnectionSpec spec, Connection(ctx, *p));
      if (IsGlob(std::filesystem::path(spec.path).parent_path().string()))
        return Status::Invalid(fmt::format(
            "recipe {}: connection {}: a wildcard may only appear in the file name, not in a "
            "directory",
            ctx.recipe, p->connection));
      p->path = spec.path;
    }
    return p;
  }

  // The file, resolved inside the workspace or a data root; NotFound when it is missing.
  static Result<std::filesystem::path> Locate(const RecipeContext& ctx, const CollectParams& p) {
    ALAMBIC_ASSIGN_OR_RETURN(std::filesystem::path file, ctx.ResolvePath(p.path));
    std::error_code ec;
    if (!std::filesystem::exists(file, ec))
      return Status::NotFound(fmt::format("recipe {}: {}: no such file", ctx.recipe, p.path));
    if (std::filesystem::is_directory(file, ec))
      return Status::Invalid(fmt::format("recipe {}: {}: is a directory", ctx.recipe, p.path));
    return file;
  }
};

}  // namespace

Status RegisterCollectKind(RecipeRegistry& r) {
  return r.Register(std::make_unique<CollectKind>());
}

}  // namespace alambic
