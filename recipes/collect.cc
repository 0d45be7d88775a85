// kind: collect — reads a file of the workspace (CSV or Arrow IPC) into a dataset.
// A source: no inputs, one output; its fingerprint is the file's content hash.
#include <filesystem>
#include <string>
#include <system_error>

#include <fmt/format.h>

#include "core/table/arrow_ipc.h"
#include "core/table/csv.h"
#include "recipes/recipe.h"

namespace alambic {
namespace {

enum class Format { kCsv, kArrow };

struct CollectParams {
  std::string path;
  Format format = Format::kCsv;
  CsvOptions csv;
};

// Params that only make sense for CSV input.
constexpr const char* kCsvOnlyParams[] = {"delimiter", "header", "encoding", "null_values",
                                          "schema"};

Status ParamError(std::string_view name, std::string_view what) {
  return Status::Invalid(fmt::format("param '{}': {}", name, what));
}

// Reads and checks the params (the generic type checks may not have run, e.g. in tests).
Result<CollectParams> ParseParams(const nlohmann::json& p) {
  CollectParams out;
  if (!p.is_object()) return Status::Invalid("params must be a mapping");
  auto path = p.find("path");
  if (path == p.end()) return ParamError("path", "is required");
  if (!path->is_string()) return ParamError("path", "must be a string");
  out.path = path->get<std::string>();
  if (out.path.empty()) return ParamError("path", "must not be empty");

  if (auto f = p.find("format"); f != p.end()) {
    if (!f->is_string()) return ParamError("format", "must be a string");
    const auto& name = f->get_ref<const std::string&>();
    if (name == "csv") {
      out.format = Format::kCsv;
    } else if (name == "arrow") {
      out.format = Format::kArrow;
    } else {
      return ParamError("format", fmt::format("unknown format '{}' (expected csv or arrow)", name));
    }
  }
  if (out.format != Format::kCsv) {
    for (const char* k : kCsvOnlyParams)
      if (p.contains(k)) return ParamError(k, "applies to format csv only, not arrow");
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
  if (auto e = p.find("encoding"); e != p.end()) {
    if (!e->is_string()) return ParamError("encoding", "must be a string");
    const auto& name = e->get_ref<const std::string&>();
    out.csv.encoding = NormaliseEncoding(name);
    if (out.csv.encoding.empty())
      return ParamError(
          "encoding",
          fmt::format("unknown encoding '{}' (expected utf-8, latin-1, windows-1252)", name));
  }
  if (auto n = p.find("null_values"); n != p.end()) {
    if (!n->is_array()) return ParamError("null_values", "must be a list of strings");
    out.csv.null_values.clear();
    for (const auto& v : *n) {
      if (!v.is_string()) return ParamError("null_values", "must be a list of strings");
      out.csv.null_values.push_back(v.get<std::string>());
    }
  }
  if (auto s = p.find("schema"); s != p.end()) {
    if (!s->is_object()) return ParamError("schema", "must be a mapping of column to type");
    for (const auto& [column, type] : s->items()) {
      if (!type.is_string())
        return ParamError("schema", fmt::format("column '{}': the type must be a string", column));
      auto t = ParseTypeName(type.get<std::string>());
      if (!t.ok())
        return ParamError("schema", fmt::format("column '{}': {}", column, t.status().message()));
      out.csv.schema.push_back(Field{column, *t, true});
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
        {"path", ParamType::kString, true,
         "the file, relative to the workspace (or under a data root)"},
        {"format", ParamType::kString, false, "csv (default) or arrow (an Arrow IPC file)"},
        {"delimiter", ParamType::kString, false,
         "one character; detected among , ; tab | when absent"},
        {"header", ParamType::kBool, false, "the first line names the columns (default true)"},
        {"encoding", ParamType::kString, false, "utf-8 (default), latin-1 or windows-1252"},
        {"null_values", ParamType::kStringList, false, "cells read as null (default [\"\"])"},
        {"schema", ParamType::kMap, false, "column -> type, for some or all columns"},
    };
    return kParams;
  }
  bool is_source() const override { return true; }

  Status CheckParams(const nlohmann::json& params) const override {
    return ParseParams(params).status();
  }

  Result<std::string> SourceFingerprint(const RecipeContext& ctx) const override {
    ALAMBIC_ASSIGN_OR_RETURN(CollectParams p, Params(ctx));
    ALAMBIC_ASSIGN_OR_RETURN(std::filesystem::path file, Locate(ctx, p));
    auto hash = ctx.HashFile(file);
    if (!hash.ok()) return hash.status().WithContext(fmt::format("recipe {}", ctx.recipe));
    return hash;
  }

  Result<RecipeOutput> Run(RecipeContext& ctx) const override {
    ALAMBIC_ASSIGN_OR_RETURN(CollectParams p, Params(ctx));
    ALAMBIC_ASSIGN_OR_RETURN(std::filesystem::path file, Locate(ctx, p));
    std::error_code ec;
    const auto bytes = static_cast<int64_t>(std::filesystem::file_size(file, ec));
    const std::string prefix = fmt::format("recipe {}", ctx.recipe);

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
      p.csv.source_name = p.path;
      if (ctx.progress) p.csv.progress = ctx.progress;
      table = ReadCsvFile(file, p.csv, ctx.cancel);
      if (!table.ok()) return table.status().WithContext(prefix);
    }
    if (ctx.cancel && ctx.cancel->cancelled()) return ctx.cancel->AsStatus();

    const int64_t rows = table->num_rows();
    const int columns = table->num_columns();
    if (ctx.log)
      ctx.log->Info(fmt::format("read {} rows, {} columns ({}) from {} ({} bytes)",
                                WithThousands(rows), columns, table->schema().ToString(), p.path,
                                WithThousands(bytes)));
    if (ctx.progress) ctx.progress(rows);
    RecipeOutput out;
    out.tables.push_back(std::move(*table));
    out.metrics["rows"] = rows;
    out.metrics["columns"] = columns;
    out.metrics["bytes_read"] = bytes;
    return out;
  }

 private:
  static Result<CollectParams> Params(const RecipeContext& ctx) {
    if (!ctx.params) return Status::Internal(fmt::format("recipe {}: no params", ctx.recipe));
    auto p = ParseParams(*ctx.params);
    if (!p.ok()) return p.status().WithContext(fmt::format("recipe {}", ctx.recipe));
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

void RegisterCollectKind(RecipeRegistry& r) { (void)r.Register(std::make_unique<CollectKind>()); }

}  // namespace alambic
