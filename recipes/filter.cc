// kind: filter — keeps the rows where a bool expression is true (null and
// false rows are dropped), optionally only some columns. One input, one output.
#include <fmt/format.h>

#include "core/recipe/recipe.h"
#include "core/table/expr.h"
#include "recipes/builtin_kinds.h"

namespace alambic {
namespace {

struct FilterParams {
  Expr where;
  std::vector<std::string> keep;  // empty: every column
  bool has_keep = false;
};

Result<FilterParams> ParseFilterParams(const nlohmann::json& p) {
  if (!p.is_object()) return Status::Invalid("params must be a mapping");
  auto w = p.find("where");
  if (w == p.end()) return Status::Invalid("param 'where': is required");
  if (!w->is_string()) return Status::Invalid("param 'where': must be a string");
  auto e = ParseExpr(w->get<std::string>());
  if (!e.ok()) return e.status().WithContext("param 'where'");
  FilterParams out{std::move(*e), {}, false};
  if (auto k = p.find("keep"); k != p.end()) {
    if (!k->is_array()) return Status::Invalid("param 'keep': must be a list of column names");
    for (const auto& c : *k) {
      if (!c.is_string()) return Status::Invalid("param 'keep': must be a list of column names");
      const auto& name = c.get_ref<const std::string&>();
      if (std::find(out.keep.begin(), out.keep.end(), name) != out.keep.end())
        return Status::Invalid(fmt::format("param 'keep': column '{}' is listed twice", name));
      out.keep.push_back(name);
    }
    if (out.keep.empty()) return Status::Invalid("param 'keep': must name at least one column");
    out.has_keep = true;
  }
  return out;
}

class FilterKind final : public RecipeKind {
 public:
  std::string name() const override { return "filter"; }
  const std::vector<ParamSpec>& params() const override {
    static const std::vector<ParamSpec> kParams = {
        {"where", ParamType::kString, true, "bool expression; rows where it is true are kept"},
        {"keep", ParamType::kStringList, false, "columns to keep (default: all)"}};
    return kParams;
  }
  int max_inputs() const override { return 1; }
  Status CheckParams(const nlohmann::json& params) const override {
    return ParseFilterParams(params).status();
  }

  Result<RecipeOutput> Run(RecipeContext& ctx) const override {
    const std::string prefix = fmt::format("recipe {}", ctx.recipe);
    auto p = ParseFilterParams(*ctx.params);
    if (!p.ok()) return p.status().WithContext(prefix);
    const NamedTable& input = ctx.inputs.at(0);
    const Table& in = *input.table;
    const std::string where = prefix + ": param 'where'";

    auto typed = Compile(p->where, in.schema());
    if (!typed.ok()) return typed.status().WithContext(where);
    if (typed->type() != TypeId::kBool)
      return Status::Invalid(
          fmt::format("{}: the condition must be bool, got {}", where, TypeName(typed->type())));
    auto mask = typed->Evaluate(in);
    if (!mask.ok()) return mask.status().WithContext(where);
    if (ctx.cancel && ctx.cancel->cancelled()) return ctx.cancel->AsStatus();

    std::vector<int64_t> rows;
    const Column& m = **mask;
    for (int64_t i = 0; i < m.length; ++i)
      if (m.IsValid(i) && m.Bool(i)) rows.push_back(i);

    Schema schema;
    std::vector<ColumnPtr> cols;
    std::vector<std::string> names = p->keep;
    if (!p->has_keep)
      for (const auto& f : in.schema().fields) names.push_back(f.name);
    for (const auto& name : names) {
      const int idx = in.schema().FieldIndex(name);
      if (idx < 0) {
        return Status::Invalid(fmt::format("{}: param 'keep': unknown column '{}' (columns: {})",
                                           prefix, name, in.schema().ToString()));
      }
      schema.fields.push_back(in.schema().fields[static_cast<size_t>(idx)]);
      cols.push_back(static_cast<int64_t>(rows.size()) == in.num_rows()
                         ? in.column(idx)
                         : TakeRows(*in.column(idx), rows));
    }
    const auto kept = static_cast<int64_t>(rows.size());
    ALAMBIC_ASSIGN_OR_RETURN(Table t, Table::Make(std::move(schema), std::move(cols), kept));
    RecipeOutput out;
    out.metrics["rows_in"] = in.num_rows();
    out.metrics["rows"] = kept;
    out.metrics["rows_dropped"] = in.num_rows() - kept;
    std::map<std::string, std::vector<ColumnSource>> lineage;
    for (const auto& name : names) lineage[name] = {{input.name, name, kTransformIdentity}};
    out.column_lineage.push_back(std::move(lineage));
    out.tables.push_back(std::move(t));
    if (ctx.log) ctx.log->Info(fmt::format("kept {} of {} rows", kept, in.num_rows()));
    return out;
  }
};

}  // namespace

Status RegisterFilterKind(RecipeRegistry& r) { return r.Register(std::make_unique<FilterKind>()); }

}  // namespace alambic
