// kind: formula — adds or replaces columns computed by expressions
// (docs/expressions.md). One input, one output: every input column is kept, in
// place, and new columns are appended in evaluation order.
//
// `columns` is either a mapping new_or_existing_column -> expression, computed
// in dependency order (a column that references another computed column comes
// after it), or a list of one-entry mappings computed in the listed order, each
// seeing the columns computed before it.
//
// `functions` names Lua files (one or a list) whose global functions the
// expressions may call (recipes/lua/functions.h); the files are part of the version.
#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "core/recipe/recipe.h"
#include "core/table/expr.h"
#include "recipes/builtin_kinds.h"
#include "recipes/lua/functions.h"

namespace alambic {
namespace {

struct Computed {
  std::string column;
  Expr expr;
};

Status FormulaParamError(std::string_view what) {
  return Status::Invalid(fmt::format("param 'columns': {}", what));
}

Result<Computed> ParseOne(const std::string& column, const nlohmann::json& text) {
  if (column.empty()) return FormulaParamError("a column name is empty");
  if (!text.is_string())
    return FormulaParamError(fmt::format("column '{}': the expression must be a string", column));
  auto e = ParseExpr(text.get<std::string>());
  if (!e.ok()) return e.status().WithContext(fmt::format("param 'columns': column '{}'", column));
  return Computed{column, std::move(*e)};
}

// Orders a mapping's entries so each comes after the computed columns it uses.
Result<std::vector<Computed>> DependencyOrder(std::vector<Computed> items) {
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < items.size(); ++i) index[items[i].column] = i;
  std::vector<std::set<size_t>> deps(items.size());
  for (size_t i = 0; i < items.size(); ++i)
    for (const auto& c : items[i].expr.columns()) {
      auto it = index.find(c);
      if (it != index.end() && it->second != i) deps[i].insert(it->second);
    }
  std::vector<Computed> out;
  std::vector<bool> done(items.size(), false);
  while (out.size() < items.size()) {
    bool progressed = false;
    for (size_t i = 0; i < items.size(); ++i) {
      if (done[i] ||
          !std::all_of(deps[i].begin(), deps[i].end(), [&](size_t d) { return done[d]; }))
        continue;
      done[i] = true;
      progressed = true;
      out.push_back(items[i]);
      break;  // restart: keeps the order stable (alphabetical among ready ones)
    }
    if (!progressed) {
      std::string cycle;
      for (size_t i = 0; i < items.size(); ++i)
        if (!done[i]) cycle += (cycle.empty() ? "" : ", ") + items[i].column;
      return FormulaParamError(fmt::format(
          "computed columns depend on each other in a cycle ({}); use a list to give an order",
          cycle));
    }
  }
  return out;
}

std::vector<std::string> FunctionFiles(const nlohmann::json& params) {
  std::vector<std::string> files;
  auto it = params.find("functions");
  if (it == params.end()) return files;
  if (it->is_string()) files.push_back(it->get<std::string>());
  if (it->is_array())
    for (const auto& f : *it)
      if (f.is_string()) files.push_back(f.get<std::string>());
  return files;
}

Result<std::vector<Computed>> ParseColumns(const nlohmann::json& params) {
  if (!params.is_object()) return Status::Invalid("params must be a mapping");
  auto it = params.find("columns");
  if (it == params.end()) return FormulaParamError("is required");
  std::vector<Computed> out;
  if (it->is_object()) {
    if (it->empty()) return FormulaParamError("must name at least one column");
    for (const auto& [column, text] : it->items()) {
      ALAMBIC_ASSIGN_OR_RETURN(Computed c, ParseOne(column, text));
      out.push_back(std::move(c));
    }
    return DependencyOrder(std::move(out));
  }
  if (!it->is_array())
    return FormulaParamError("must be a mapping column -> expression, or a list of such mappings");
  if (it->empty()) return FormulaParamError("must name at least one column");
  for (const auto& entry : *it) {
    if (!entry.is_object() || entry.size() != 1)
      return FormulaParamError("each list entry must be a mapping with one column -> expression");
    ALAMBIC_ASSIGN_OR_RETURN(Computed c, ParseOne(entry.begin().key(), entry.begin().value()));
    out.push_back(std::move(c));
  }
  return out;
}

class FormulaKind final : public RecipeKind {
 public:
  std::string name() const override { return "formula"; }
  const std::vector<ParamSpec>& params() const override {
    static const std::vector<ParamSpec> kParams = {
        {"columns", ParamType::kAny, true,
         "mapping (or list of one-entry mappings) column -> expression"},
        {"functions", ParamType::kAny, false,
         "Lua file (or list of files) defining functions the expressions call"}};
    return kParams;
  }
  int max_inputs() const override { return 1; }
  Status CheckParams(const nlohmann::json& params) const override {
    if (auto it = params.find("functions"); it != params.end()) {
      const bool ok = it->is_string() ||
                      (it->is_array() && std::all_of(it->begin(), it->end(),
                                                     [](const auto& f) { return f.is_string(); }));
      if (!ok) return Status::Invalid("param 'functions' must be a file or a list of files");
    }
    return ParseColumns(params).status();
  }
  std::vector<std::string> CodeFiles(const nlohmann::json& params) const override {
    return FunctionFiles(params);
  }

  Result<RecipeOutput> Run(RecipeContext& ctx) const override {
    const std::string prefix = fmt::format("recipe {}", ctx.recipe);
    auto parsed = ParseColumns(*ctx.params);
    if (!parsed.ok()) return parsed.status().WithContext(prefix);
    const NamedTable& input = ctx.inputs.at(0);
    Table table = *input.table;
    std::unique_ptr<LuaFunctions> functions;
    if (auto files = FunctionFiles(*ctx.params); !files.empty()) {
      auto loaded = LuaFunctions::Load(ctx, files);
      if (!loaded.ok()) return loaded.status().WithContext(prefix);
      functions = std::move(*loaded);
    }

    std::map<std::string, std::vector<ColumnSource>> lineage;
    for (const auto& f : table.schema().fields)
      lineage[f.name] = {{input.name, f.name, kTransformIdentity}};

    nlohmann::json computed = nlohmann::json::array();
    for (const auto& c : *parsed) {
      if (ctx.cancel && ctx.cancel->cancelled()) return ctx.cancel->AsStatus();
      const std::string where = fmt::format("{}: param 'columns': column '{}'", prefix, c.column);
      Result<TypedExpr> typed = Status::Internal("not compiled");
      if (functions) {
        auto rewritten = functions->Rewrite(c.expr.text(), &table);
        if (!rewritten.ok()) return rewritten.status().WithContext(where);
        typed = Compile(*rewritten, table.schema());
      } else {
        typed = Compile(c.expr, table.schema());
      }
      if (!typed.ok()) return typed.status().WithContext(where);
      auto col = typed->Evaluate(table);
      if (!col.ok()) return col.status().WithContext(where);

      std::vector<ColumnSource> sources;
      for (const auto& ref : c.expr.columns())
        for (const auto& s : lineage[ref])
          if (std::find_if(sources.begin(), sources.end(), [&](const ColumnSource& o) {
                return o.dataset == s.dataset && o.column == s.column;
              }) == sources.end())
            sources.push_back({s.dataset, s.column, kTransformTransformation});

      Schema schema = table.schema();
      std::vector<ColumnPtr> cols = table.columns();
      const int at = schema.FieldIndex(c.column);
      if (at >= 0) {
        schema.fields[static_cast<size_t>(at)].type = typed->type();
        cols[static_cast<size_t>(at)] = *col;
      } else {
        schema.fields.push_back({c.column, typed->type()});
        cols.push_back(*col);
      }
      auto next = Table::Make(std::move(schema), std::move(cols), table.num_rows());
      if (!next.ok()) return next.status().WithContext(where);
      table = std::move(*next);
      lineage[c.column] = std::move(sources);
      computed.push_back({{"column", c.column}, {"type", TypeName(typed->type())}});
      if (ctx.progress) ctx.progress(table.num_rows());
    }

    if (functions) {  // drop the Lua calls' temporary columns
      Schema schema;
      std::vector<ColumnPtr> cols;
      for (int k = 0; k < table.num_columns(); ++k) {
        const Field& f = table.schema().fields[static_cast<size_t>(k)];
        if (LuaFunctions::IsTemporary(f.name)) continue;
        schema.fields.push_back(f);
        cols.push_back(table.column(k));
      }
      auto kept = Table::Make(std::move(schema), std::move(cols), table.num_rows());
      if (!kept.ok()) return kept.status().WithContext(prefix);
      table = std::move(*kept);
    }

    RecipeOutput out;
    out.metrics["rows"] = table.num_rows();
    out.metrics["computed"] = std::move(computed);
    std::map<std::string, std::vector<ColumnSource>> out_lineage;
    for (const auto& f : table.schema().fields) out_lineage[f.name] = lineage[f.name];
    out.column_lineage.push_back(std::move(out_lineage));
    out.tables.push_back(std::move(table));
    return out;
  }
};

}  // namespace

Result<std::vector<std::pair<std::string, Expr>>> FormulaColumns(const nlohmann::json& params) {
  ALAMBIC_ASSIGN_OR_RETURN(auto parsed, ParseColumns(params));
  std::vector<std::pair<std::string, Expr>> out;
  for (auto& c : parsed) out.emplace_back(c.column, std::move(c.expr));
  return out;
}

Status RegisterFormulaKind(RecipeRegistry& r) {
  return r.Register(std::make_unique<FormulaKind>());
}

}  // namespace alambic
