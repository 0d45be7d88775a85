// Internals of the clean recipe (recipes/clean/), shared by its files and by
// nothing else: a parsed step, the table being prepared, and the checks and
// runs of every step, one file per group of steps. kind.cc holds the step
// table (which step has which options, check and run) and the kind itself.
//
// A Check function validates a step's options (CheckParams, no data): Invalid
// with a message that follows the step's label. A Run function applies the
// step to the work table and fills the step's report (beyond step/columns)
// with `changed` and any other counts; errors come from StepEnv::Error.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "core/recipe/recipe.h"

namespace alambic::clean {

using nlohmann::json;

enum class OnError { kFail, kNull, kDropRow };
enum class Shape {
  kColumns,    // {step: col} or {step: [cols]} or {step: {column(s): .., options}}
  kColumnMap,  // {step: {col: value, ...}}
};

struct Step {
  int index = 0;     // 1-based position in `steps`
  std::string name;  // step kind: "trim", "cast", ...
  std::vector<std::string> columns;
  std::vector<std::pair<std::string, json>> mapping;  // kColumnMap steps
  json options = json::object();
  OnError on_error = OnError::kFail;

  std::string Label() const { return fmt::format("step {} ({})", index, name); }
  std::string Str(const char* key, const std::string& def = "") const {
    auto it = options.find(key);
    return it == options.end() ? def : it->get<std::string>();
  }
  int64_t Int(const char* key, int64_t def) const {
    auto it = options.find(key);
    return it == options.end() ? def : it->get<int64_t>();
  }
};

struct WorkColumn {
  std::string name;
  ColumnPtr col;
  std::vector<std::string> sources;  // input columns it was computed from
  // Its values are pseudonyms, or computed from pseudonyms only: set by
  // `pseudonymise`, kept by renames, in-place steps and columns derived from it.
  bool masked = false;
};

struct Work {
  std::vector<WorkColumn> cols;
  int64_t rows = 0;

  int Find(std::string_view name) const {
    for (size_t i = 0; i < cols.size(); ++i)
      if (cols[i].name == name) return static_cast<int>(i);
    return -1;
  }
  std::string Names() const {
    std::string out;
    for (const auto& c : cols) out += (out.empty() ? "" : ", ") + c.name;
    return out;
  }
  // Keeps the rows whose `keep` entry is non-zero.
  void Filter(const std::vector<uint8_t>& keep) {
    int64_t kept = 0;
    for (uint8_t k : keep) kept += k ? 1 : 0;
    if (kept == rows) return;
    for (auto& wc : cols) {
      ColumnBuilder b(wc.col->type);
      b.Reserve(kept);
      for (int64_t i = 0; i < rows; ++i)
        if (keep[static_cast<size_t>(i)]) b.AppendFrom(*wc.col, i);
      wc.col = b.Finish();
    }
    rows = kept;
  }
};

struct StepEnv {
  const RecipeContext& ctx;
  Status Error(const Step& s, const std::string& msg) const {
    return Status::Invalid(fmt::format("recipe {}: {}: {}", ctx.recipe, s.Label(), msg));
  }
  Result<int> Column(const Step& s, const Work& w, const std::string& name) const {
    int i = w.Find(name);
    if (i < 0) return Error(s, fmt::format("unknown column '{}' (columns: {})", name, w.Names()));
    return i;
  }
  Result<int> TextColumn(const Step& s, const Work& w, const std::string& name) const {
    ALAMBIC_ASSIGN_OR_RETURN(int i, Column(s, w, name));
    TypeId t = w.cols[static_cast<size_t>(i)].col->type;
    if (t != TypeId::kUtf8)
      return Error(s, fmt::format("column '{}' is {}; {} applies to text (utf8) columns", name,
                                  TypeName(t), s.name));
    return i;
  }
  // Checks that a new column `into` may be written (it may replace `source`).
  Status CanCreate(const Step& s, const Work& w, const std::string& into,
                   const std::string& source) const {
    if (into != source && w.Find(into) >= 0)
      return Error(s, fmt::format("column '{}' already exists", into));
    return Status::Ok();
  }
};

// What a step reports: {"changed": N, ...}, in the recipe's metrics.
using Report = json;

// ---- Shared machinery (step.cc).

// Puts `col`, computed from the column at `from`, under `into`: replaces the
// column of that name, or inserts it after the column at `after`.
void Place(Work& w, const std::string& into, ColumnPtr col, int from, int after);
Status Need(const Step& s, const char* key, bool (json::*is)() const, const char* what);
Status Maybe(const Step& s, const char* key, bool (json::*is)() const, const char* what);
Status CheckNone(const Step&);
Status CheckInto(const Step& s);
// Converts one column cell by cell under the step's on_error policy; failed
// rows are marked in `keep` (drop_row) and counted.
Status ConvertColumn(const Step& s, const StepEnv& env, const std::string& name, const Column& src,
                     TypeId to,
                     const std::function<bool(const Column&, int64_t, ColumnBuilder&)>& conv,
                     std::vector<uint8_t>& keep, ColumnPtr* out, int64_t* converted,
                     int64_t* failed, const char* verb, const std::string& target);
void ReportFailures(const Step& s, Work& w, const std::vector<uint8_t>& keep, int64_t failed,
                    Report& r);
// Cells of `col` that are non-null (for new columns) or differ from the column
// they replace.
int64_t CountChanged(const Work& w, const std::string& into, const Column& col);

// ---- Column steps (columns.cc).

Status RunRename(const Step& s, const StepEnv& env, Work& w, Report& r);
// {copy: {source: new_name, ...}}: a new column, after the others, with the
// source's values, type, lineage and masking.
Status RunCopy(const Step& s, const StepEnv& env, Work& w, Report& r);
Status RunKeep(const Step& s, const StepEnv& env, Work& w, Report& r);
Status RunDrop(const Step& s, const StepEnv& env, Work& w, Report& r);

// ---- Text steps (text.cc).

std::string Lowered(std::string_view s);
Status CheckReplace(const Step& s);
Status CheckRegexReplace(const Step& s);
Status CheckRegexExtract(const Step& s);
Status CheckSplit(const Step& s);
Status RunReplace(const Step& s, const StepEnv& env, Work& w, Report& r);
Status RunRegexReplace(const Step& s, const StepEnv& env, Work& w, Report& r);
Status RunRegexExtract(const Step& s, const StepEnv& env, Work& w, Report& r);
Status RunSplit(const Step& s, const StepEnv& env, Work& w, Report& r);
// trim, upper, lower, strip_accents, normalise_whitespace: in place, text columns only.
Status RunTrim(const Step& s, const StepEnv& env, Work& w, Report& r);
Status RunUpper(const Step& s, const StepEnv& env, Work& w, Report& r);
Status RunLower(const Step& s, const StepEnv& env, Work& w, Report& r);
Status RunStripAccents(const Step& s, const StepEnv& env, Work& w, Report& r);
Status RunNormaliseWhitespace(const Step& s, const StepEnv& env, Work& w, Report& r);

// ---- Values and dates (cast_dates.cc).

// Appends row i of src converted to `to`; false (nothing appended) when the
// value does not convert.
bool ConvertCell(const Column& src, int64_t i, TypeId to, ColumnBuilder& b);
Status CheckParseDate(const Step& s);
Status CheckFormatDate(const Step& s);
Status RunCast(const Step& s, const StepEnv& env, Work& w, Report& r);
Status RunParseDate(const Step& s, const StepEnv& env, Work& w, Report& r);
Status RunFormatDate(const Step& s, const StepEnv& env, Work& w, Report& r);

// ---- Missing values and duplicates (missing.cc).

Status RunFillMissing(const Step& s, const StepEnv& env, Work& w, Report& r);
Status RunDropMissing(const Step& s, const StepEnv& env, Work& w, Report& r);
Status RunDeduplicate(const Step& s, const StepEnv& env, Work& w, Report& r);

// ---- Numbers (numbers.cc).

Status CheckRound(const Step& s);
Status CheckBin(const Step& s);
Status RunRound(const Step& s, const StepEnv& env, Work& w, Report& r);
Status RunBin(const Step& s, const StepEnv& env, Work& w, Report& r);

// ---- Pseudonymisation (pseudonymise.cc).

Status CheckPseudonymise(const Step& s);
Status RunPseudonymise(const Step& s, const StepEnv& env, Work& w, Report& r);

}  // namespace alambic::clean
