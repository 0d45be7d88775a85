// kind: split — sends rows to several outputs by conditions. One input; the
// outputs are the recipe's declared outputs. `cases` is a list of {output,
// where}: a row goes to the first case whose condition is true (or, with
// `mode: all`, to every such case); `else` names the output of the rows no
// case takes (default: they are dropped). Every output keeps every column and
// the input order.
#include <fmt/format.h>

#include "core/table/expr.h"
#include "recipes/builtin_kinds.h"
#include "recipes/relational.h"

namespace alambic {
namespace {

struct Case {
  std::string output;
  Expr where;
};
struct SplitParams {
  std::vector<Case> cases;
  std::string otherwise;
  bool all = false;
};

Result<SplitParams> ParseSplitParams(const nlohmann::json& p) {
  if (!p.is_object()) return Status::Invalid("params must be a mapping");
  SplitParams out;
  auto it = p.find("cases");
  if (it == p.end() || !it->is_array() || it->empty())
    return Status::Invalid("param 'cases': must be a non-empty list of {output, where}");
  for (size_t i = 0; i < it->size(); ++i) {
    const auto& e = (*it)[i];
    const std::string at = fmt::format("param 'cases': entry {}", i + 1);
    if (!e.is_object() || e.size() != 2 || !e.contains("output") || !e.contains("where") ||
        !e["output"].is_string() || !e["where"].is_string())
      return Status::Invalid(at + ": must be a mapping {output: name, where: condition}");
    auto x = ParseExpr(e["where"].get<std::string>());
    if (!x.ok()) return x.status().WithContext(at + ": where");
    out.cases.push_back({e["output"].get<std::string>(), std::move(*x)});
  }
  if (auto e = p.find("else"); e != p.end()) {
    if (!e->is_string()) return Status::Invalid("param 'else': must be an output name");
    out.otherwise = e->get<std::string>();
  }
  if (auto m = p.find("mode"); m != p.end()) {
    if (!m->is_string() || (*m != "first" && *m != "all"))
      return Status::Invalid("param 'mode': must be 'first' or 'all'");
    out.all = *m == "all";
  }
  return out;
}

class SplitKind final : public RecipeKind {
 public:
  std::string name() const override { return "split"; }
  const std::vector<ParamSpec>& params() const override {
    static const std::vector<ParamSpec> kParams = {
        {"cases", ParamType::kList, true, "list of {output, where}"},
        {"else", ParamType::kString, false, "output of the rows no case takes"},
        {"mode", ParamType::kString, false, "first (default): first true case; all: every one"}};
    return kParams;
  }
  int max_inputs() const override { return 1; }
  int max_outputs() const override { return -1; }
  Status CheckParams(const nlohmann::json& params) const override {
    return ParseSplitParams(params).status();
  }

  Result<RecipeOutput> Run(RecipeContext& ctx) const override {
    auto p = ParseSplitParams(*ctx.params);
    if (!p.ok()) return InRecipe(ctx, p.status());
    const NamedTable& input = ctx.inputs.at(0);
    const Table& in = *input.table;
    auto output_index = [&](const std::string& name, const std::string& param) -> Result<size_t> {
      for (size_t o = 0; o < ctx.outputs.size(); ++o)
        if (ctx.outputs[o] == name) return o;
      std::string names;
      for (const auto& o : ctx.outputs) names += (names.empty() ? "" : ", ") + o;
      return Status::Invalid(
          fmt::format("recipe {}: {}: '{}' is not an output of the recipe "
                      "(outputs: {})",
                      ctx.recipe, param, name, names));
    };
    std::vector<std::vector<int64_t>> rows(ctx.outputs.size());
    std::vector<ColumnPtr> masks;
    std::vector<size_t> targets;
    for (size_t i = 0; i < p->cases.size(); ++i) {
      const std::string at = fmt::format("param 'cases': entry {}", i + 1);
      ALAMBIC_ASSIGN_OR_RETURN(size_t o, output_index(p->cases[i].output, at));
      auto typed = Compile(p->cases[i].where, in.schema());
      if (!typed.ok()) return InRecipe(ctx, typed.status().WithContext(at + ": where"));
      if (typed->type() != TypeId::kBool)
        return Status::Invalid(
            fmt::format("recipe {}: {}: where: the condition must be bool, got {}", ctx.recipe, at,
                        TypeName(typed->type())));
      auto mask = typed->Evaluate(in);
      if (!mask.ok()) return InRecipe(ctx, mask.status().WithContext(at + ": where"));
      masks.push_back(*mask);
      targets.push_back(o);
    }
    std::optional<size_t> otherwise;
    if (!p->otherwise.empty()) {
      ALAMBIC_ASSIGN_OR_RETURN(otherwise, output_index(p->otherwise, "param 'else'"));
    }
    for (int64_t r = 0; r < in.num_rows(); ++r) {
      bool taken = false;
      for (size_t c = 0; c < masks.size(); ++c) {
        const Column& m = *masks[c];
        if (!m.IsValid(r) || !m.Bool(r)) continue;
        auto& dest = rows[targets[c]];
        if (dest.empty() || dest.back() != r) dest.push_back(r);
        taken = true;
        if (!p->all) break;
      }
      if (!taken && otherwise) rows[*otherwise].push_back(r);
    }
    RecipeOutput out;
    out.metrics["rows_in"] = in.num_rows();
    nlohmann::json per = nlohmann::json::object();
    int64_t total = 0;
    for (size_t o = 0; o < rows.size(); ++o) {
      ALAMBIC_ASSIGN_OR_RETURN(Table t, TakeTable(in, rows[o]));
      per[ctx.outputs[o]] = t.num_rows();
      total += t.num_rows();
      out.column_lineage.push_back(IdentityLineage(t, input.name));
      out.tables.push_back(std::move(t));
    }
    out.metrics["rows"] = total;
    out.metrics["rows_per_output"] = std::move(per);
    return out;
  }
};

}  // namespace

Status RegisterSplitKind(RecipeRegistry& r) { return r.Register(std::make_unique<SplitKind>()); }

}  // namespace alambic
