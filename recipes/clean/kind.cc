// kind: clean — an ordered list of preparation steps over one table (Dataiku's
// "Prepare" recipe). One input, one output.
//
// `steps` is a list; each item is a mapping with exactly one step key plus that
// step's options, either beside the key or inside it:
//
//   - {trim: [name, city]}
//   - {parse_date: exam_date, format: "%d/%m/%Y"}
//   - {replace: {column: city, find: "St ", with: "Saint "}}
//
// Steps run in order over whole columns; each reports how many cells it changed
// (and, for row filters, how many rows it removed) in the metrics and the log.
// Params are parsed by one function for CheckParams and Run, so `alambic
// validate` sees every shape error (naming the step's 1-based index); column
// names and types can only be checked at run time.
//
// Secrets: `pseudonymise` reads its key through ResolveEnvironmentKey() (the
// recipe's environment; outside the default environment, a key of its own);
// the value never reaches the params, the logs or the metrics (only KeyId()).
// Its output columns' lineage is `masking`, and so is that of columns renamed,
// rewritten in place or derived from them by later steps.
//
// Adding a step: write a Check (option types) and a Run function in the file
// of its group (recipes/clean/*.cc), declare them in step.h and add a StepDef
// to kSteps below. The `formula` step (an expression over columns, from
// core/table/expr.h) is meant to plug in there: {formula: "expr", into: col}.
#include <openssl/crypto.h>

#include <algorithm>
#include <map>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "core/base/secrets.h"
#include "core/flow/flow.h"
#include "core/vcs/git_paths.h"
#include "recipes/builtin_kinds.h"
#include "recipes/clean/step.h"

namespace alambic {
namespace clean {
namespace {

struct StepDef {
  std::string_view name;
  Shape shape;
  std::vector<std::string_view> options;  // allowed besides the columns
  bool single_column = false;             // exactly one column
  bool empty_means_all = false;           // no column: every column
  Status (*check)(const Step&) = CheckNone;
  Status (*run)(const Step&, const StepEnv&, Work&, Report&) = nullptr;
};

const std::vector<StepDef>& Steps() {
  static const std::vector<StepDef> kSteps = {
      {"rename", Shape::kColumnMap, {}, false, false, CheckNone, RunRename},
      {"copy", Shape::kColumnMap, {}, false, false, CheckNone, RunCopy},
      {"keep", Shape::kColumns, {}, false, false, CheckNone, RunKeep},
      {"drop", Shape::kColumns, {}, false, false, CheckNone, RunDrop},
      {"cast", Shape::kColumnMap, {"on_error"}, false, false, CheckNone, RunCast},
      {"trim", Shape::kColumns, {}, false, false, CheckNone, RunTrim},
      {"upper", Shape::kColumns, {}, false, false, CheckNone, RunUpper},
      {"lower", Shape::kColumns, {}, false, false, CheckNone, RunLower},
      {"strip_accents", Shape::kColumns, {}, false, false, CheckNone, RunStripAccents},
      {"normalise_whitespace",
       Shape::kColumns,
       {},
       false,
       false,
       CheckNone,
       RunNormaliseWhitespace},
      {"replace", Shape::kColumns, {"find", "with"}, false, false, CheckReplace, RunReplace},
      {"regex_replace",
       Shape::kColumns,
       {"pattern", "with"},
       false,
       false,
       CheckRegexReplace,
       RunRegexReplace},
      {"regex_extract",
       Shape::kColumns,
       {"pattern", "group", "into"},
       false,
       false,
       CheckRegexExtract,
       RunRegexExtract},
      {"split", Shape::kColumns, {"by", "into"}, true, false, CheckSplit, RunSplit},
      {"parse_date",
       Shape::kColumns,
       {"format", "into", "on_error"},
       false,
       false,
       CheckParseDate,
       RunParseDate},
      {"format_date",
       Shape::kColumns,
       {"format", "into"},
       false,
       false,
       CheckFormatDate,
       RunFormatDate},
      {"fill_missing", Shape::kColumnMap, {}, false, false, CheckNone, RunFillMissing},
      {"drop_missing", Shape::kColumns, {}, false, true, CheckNone, RunDropMissing},
      {"deduplicate", Shape::kColumns, {}, false, true, CheckNone, RunDeduplicate},
      {"round", Shape::kColumns, {"digits"}, false, false, CheckRound, RunRound},
      {"bin", Shape::kColumns, {"edges", "labels", "into"}, true, false, CheckBin, RunBin},
      {"pseudonymise",
       Shape::kColumns,
       {"key", "length"},
       false,
       false,
       CheckPseudonymise,
       RunPseudonymise},
      // Extension point: {"formula", Shape::kColumns, {"expr", "into"}, ...} once
      // core/table/expr.h is available.
  };
  return kSteps;
}

const StepDef* FindStep(std::string_view name) {
  for (const auto& d : Steps())
    if (d.name == name) return &d;
  return nullptr;
}

std::string StepNames() {
  std::vector<std::string> names;
  for (const auto& d : Steps()) names.emplace_back(d.name);
  std::sort(names.begin(), names.end());
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// Column names from a string or a list of strings (null: none).
Status ReadColumns(const json& v, std::vector<std::string>* out) {
  if (v.is_null()) return Status::Ok();
  if (v.is_string()) {
    out->push_back(v.get<std::string>());
    return Status::Ok();
  }
  if (v.is_array()) {
    for (const auto& c : v) {
      if (!c.is_string()) return Status::Invalid("columns must be names (strings)");
      out->push_back(c.get<std::string>());
    }
    return Status::Ok();
  }
  return Status::Invalid("must be a column name or a list of column names");
}

// Reads one step item once its step key is known.
Status ParseStep(const json& item, const StepDef& def, Step* step) {
  const json& main = item[std::string(def.name)];
  for (const auto& [k, v] : item.items())
    if (k != def.name) step->options[k] = v;
  if (def.shape == Shape::kColumnMap) {
    if (!main.is_object() || main.empty())
      return Status::Invalid(fmt::format("must be a mapping column: {}",
                                         def.name == "rename" || def.name == "copy" ? "new_name"
                                         : def.name == "cast"                       ? "type"
                                                                                    : "value"));
    for (const auto& [col, v] : main.items()) {
      if ((def.name == "rename" || def.name == "copy") &&
          (!v.is_string() || v.get<std::string>().empty()))
        return Status::Invalid(fmt::format("the new name of '{}' must be a non-empty string", col));
      if (def.name == "cast") {
        if (!v.is_string())
          return Status::Invalid(fmt::format("the type of '{}' must be a string", col));
        auto t = ParseTypeName(v.get<std::string>());
        if (!t.ok())
          return Status::Invalid(fmt::format("column '{}': {}", col, t.status().message()));
      }
      if (def.name == "fill_missing" && !(v.is_string() || v.is_number() || v.is_boolean()))
        return Status::Invalid(
            fmt::format("the value for '{}' must be a string, a number or a boolean", col));
      step->mapping.emplace_back(col, v);
    }
  } else if (main.is_object()) {
    for (const auto& [k, v] : main.items()) {
      if (k == "column" || k == "columns") {
        Status st = ReadColumns(v, &step->columns);
        if (!st.ok()) return Status::Invalid(fmt::format("option '{}' {}", k, st.message()));
      } else if (step->options.contains(k)) {
        return Status::Invalid(fmt::format("option '{}' is given twice", k));
      } else {
        step->options[k] = v;
      }
    }
  } else {
    Status st = ReadColumns(main, &step->columns);
    if (!st.ok()) return st;
  }
  for (const auto& [k, v] : step->options.items())
    if (std::find(def.options.begin(), def.options.end(), k) == def.options.end()) {
      std::string allowed;
      for (auto o : def.options) allowed += (allowed.empty() ? "" : ", ") + std::string(o);
      return Status::Invalid(allowed.empty()
                                 ? fmt::format("unknown option '{}' ({} takes none)", k, def.name)
                                 : fmt::format("unknown option '{}' (options: {})", k, allowed));
    }
  if (def.shape == Shape::kColumns) {
    if (step->columns.empty() && !def.empty_means_all) return Status::Invalid("names no column");
    if (def.single_column && step->columns.size() != 1)
      return Status::Invalid("takes exactly one column");
  }
  if (def.name == "parse_date") step->on_error = OnError::kNull;
  if (auto it = step->options.find("on_error"); it != step->options.end()) {
    // An unquoted `on_error: null` is YAML's null: the policy of that name.
    std::string e = it->is_string() ? it->get<std::string>() : it->is_null() ? "null" : "";
    if (e == "fail") {
      step->on_error = OnError::kFail;
    } else if (e == "null") {
      step->on_error = OnError::kNull;
    } else if (e == "drop_row") {
      step->on_error = OnError::kDropRow;
    } else {
      return Status::Invalid("option 'on_error' must be fail, null or drop_row");
    }
  }
  return def.check(*step);
}

Result<std::vector<Step>> ParseSteps(const json& params) {
  auto fail = [](const std::string& m) { return Status::Invalid("param 'steps': " + m); };
  if (!params.is_object() || !params.contains("steps")) return fail("is required");
  const json& steps = params["steps"];
  if (!steps.is_array()) return fail("must be a list of steps");
  std::vector<Step> out;
  for (size_t i = 0; i < steps.size(); ++i) {
    const json& item = steps[i];
    Step step;
    step.index = static_cast<int>(i + 1);
    if (!item.is_object() || item.empty())
      return fail(fmt::format("step {}: must be a mapping such as {{trim: [name]}}", step.index));
    const StepDef* def = nullptr;
    for (const auto& [k, v] : item.items()) {
      const StepDef* d = FindStep(k);
      if (!d) continue;
      if (def)
        return fail(
            fmt::format("step {}: holds two steps, '{}' and '{}'; write one step per "
                        "list item",
                        step.index, def->name, d->name));
      def = d;
    }
    if (!def) {
      std::string first = item.begin().key();
      return fail(fmt::format("step {}: unknown step '{}' (known steps: {})", step.index, first,
                              StepNames()));
    }
    step.name = std::string(def->name);
    Status st = ParseStep(item, *def, &step);
    if (!st.ok()) return fail(fmt::format("{}: {}", step.Label(), st.message()));
    out.push_back(std::move(step));
  }
  return out;
}

json ColumnsOf(const Step& s) {
  json cols = json::array();
  for (const auto& c : s.columns) cols.push_back(c);
  for (const auto& [c, v] : s.mapping) cols.push_back(c);
  return cols;
}

class CleanKind final : public RecipeKind {
 public:
  std::string name() const override { return "clean"; }
  const std::vector<ParamSpec>& params() const override {
    static const std::vector<ParamSpec> kParams = {
        {"steps", ParamType::kList, true,
         "ordered preparation steps, each a mapping {step: columns, options...}"},
    };
    return kParams;
  }
  int max_inputs() const override { return 1; }
  Status CheckParams(const json& params) const override { return ParseSteps(params).status(); }

  // The KeyId of each pseudonymisation key, so that a new key makes the recipe
  // stale ("secret pseudo_key changed"); the key itself goes nowhere.
  Result<std::vector<VersionSalt>> VersionSalts(const RecipeContext& ctx) const override {
    std::vector<VersionSalt> out;
    if (!ctx.params) return out;
    auto steps = ParseSteps(*ctx.params);
    if (!steps.ok()) return out;  // reported by validation and by Run()
    for (const Step& s : *steps) {
      if (s.name != "pseudonymise") continue;
      const std::string ref = s.Str("key");
      const std::string what = "secret " + ref.substr(kSecretPrefix.size());
      if (std::any_of(out.begin(), out.end(), [&](const VersionSalt& v) { return v.what == what; }))
        continue;
      auto key =
          ResolveEnvironmentKey(ctx.Config().secrets, ref, ctx.environment,
                                ctx.Config().default_environment, ctx.SecretsRoot(), GitTracksPath);
      if (!key.ok())
        return key.status().WithContext(fmt::format("recipe {}: {}", ctx.recipe, s.Label()));
      out.push_back({what, KeyId(*key)});
      OPENSSL_cleanse(key->data(), key->size());
    }
    return out;
  }

  Result<RecipeOutput> Run(RecipeContext& ctx) const override {
    auto steps = ParseSteps(*ctx.params);
    if (!steps.ok()) return steps.status().WithContext("recipe " + ctx.recipe);
    const NamedTable& input = ctx.inputs.at(0);
    Work w;
    w.rows = input.table->num_rows();
    for (int i = 0; i < input.table->num_columns(); ++i) {
      const std::string& n = input.table->schema().fields[static_cast<size_t>(i)].name;
      w.cols.push_back({n, input.table->column(i), {n}});
    }
    StepEnv env{ctx};
    json reports = json::array();
    for (const Step& s : *steps) {
      if (ctx.cancel && ctx.cancel->cancelled()) return ctx.cancel->AsStatus();
      json report = {{"step", s.name}, {"columns", ColumnsOf(s)}};
      const StepDef& def = *FindStep(s.name);
      ALAMBIC_RETURN_IF_ERROR(def.run(s, env, w, report));
      if (ctx.log) {
        std::string extra;
        if (report.contains("rows_removed"))
          extra = fmt::format(", {} rows removed", report["rows_removed"].get<int64_t>());
        if (report.contains("failed"))
          extra += fmt::format(", {} failed", report["failed"].get<int64_t>());
        std::string cols;
        for (const auto& c : report["columns"])
          cols += (cols.empty() ? "" : ", ") + c.get<std::string>();
        ctx.log->Info(fmt::format("{}{}: {} cells changed{}", s.Label(),
                                  cols.empty() ? "" : " on " + cols,
                                  report["changed"].get<int64_t>(), extra));
      }
      reports.push_back(std::move(report));
      if (ctx.progress) ctx.progress(w.rows);
    }

    Schema schema;
    std::vector<ColumnPtr> columns;
    std::map<std::string, std::vector<ColumnSource>> lineage;
    for (auto& wc : w.cols) {
      schema.fields.push_back({wc.name, wc.col->type, true});
      columns.push_back(wc.col);
      auto& src = lineage[wc.name];
      for (const auto& s : wc.sources) {
        // A column no step rewrote (at most renamed) is the input's own buffer.
        const int at = input.table->schema().FieldIndex(s);
        const bool same = wc.sources.size() == 1 && at >= 0 && input.table->column(at) == wc.col;
        src.push_back({input.name, s,
                       wc.masked ? kTransformMasking
                       : same    ? kTransformIdentity
                                 : kTransformTransformation});
      }
    }
    ALAMBIC_ASSIGN_OR_RETURN(Table t, Table::Make(std::move(schema), std::move(columns), w.rows));
    RecipeOutput out;
    out.metrics["rows_in"] = input.table->num_rows();
    out.metrics["rows"] = w.rows;
    out.metrics["steps"] = std::move(reports);
    out.tables.push_back(std::move(t));
    out.column_lineage.push_back(std::move(lineage));
    return out;
  }
};

}  // namespace
}  // namespace clean

Status RegisterCleanKind(RecipeRegistry& r) {
  return r.Register(std::make_unique<clean::CleanKind>());
}

}  // namespace alambic
