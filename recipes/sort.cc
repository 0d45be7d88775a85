// kinds: sort, distinct, top — row order and selection on one input.
//
// sort: every row, ordered by `by` (stable: equal rows keep their input
//   order). Default nulls: first when ascending, last when descending (as SQLite).
// distinct: the first row of each distinct combination of `columns` (default:
//   all), in input order; every column is kept (pandas drop_duplicates).
// top: the first `n` rows of each group of `keys` (default: the whole table)
//   in the order `by`; groups come in key order (ascending, nulls first), rows
//   within a group in the order `by` (ties: input order).
#include <algorithm>

#include <fmt/format.h>

#include "core/table/keys.h"
#include "recipes/builtin_kinds.h"
#include "recipes/relational.h"

namespace alambic {
namespace {

constexpr const char* kByDoc =
    "order: list of column names ('-name': descending) or {column, desc, nulls: first|last}";

RecipeOutput RowsOutput(const NamedTable& input, Table t) {
  RecipeOutput out;
  out.metrics["rows_in"] = input.table->num_rows();
  out.metrics["rows"] = t.num_rows();
  out.column_lineage.push_back(IdentityLineage(t, input.name));
  out.tables.push_back(std::move(t));
  return out;
}

std::vector<int64_t> AllRows(int64_t n) {
  std::vector<int64_t> rows(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) rows[static_cast<size_t>(i)] = i;
  return rows;
}

class SortKind final : public RecipeKind {
 public:
  std::string name() const override { return "sort"; }
  const std::vector<ParamSpec>& params() const override {
    static const std::vector<ParamSpec> kParams = {{"by", ParamType::kAny, true, kByDoc}};
    return kParams;
  }
  int max_inputs() const override { return 1; }
  Status CheckParams(const nlohmann::json& params) const override {
    return OrderParam(params, "by", true).status();
  }
  Result<RecipeOutput> Run(RecipeContext& ctx) const override {
    auto terms = OrderParam(*ctx.params, "by", true);
    if (!terms.ok()) return InRecipe(ctx, terms.status());
    const NamedTable& input = ctx.inputs.at(0);
    auto keys = ResolveOrder(input, "by", *terms);
    if (!keys.ok()) return InRecipe(ctx, keys.status());
    std::vector<int64_t> rows = AllRows(input.table->num_rows());
    SortRows(*keys, rows);
    if (ctx.cancel && ctx.cancel->cancelled()) return ctx.cancel->AsStatus();
    ALAMBIC_ASSIGN_OR_RETURN(Table t, TakeTable(*input.table, rows));
    return RowsOutput(input, std::move(t));
  }
};

Result<std::vector<const Column*>> KeyColumns(const NamedTable& input, const std::string& param,
                                              const std::vector<std::string>& names) {
  std::vector<const Column*> cols;
  for (const auto& n : names) {
    ALAMBIC_ASSIGN_OR_RETURN(int i, FindColumn(input, "param '" + param + "'", n));
    cols.push_back(input.table->column(i).get());
  }
  return cols;
}

class DistinctKind final : public RecipeKind {
 public:
  std::string name() const override { return "distinct"; }
  const std::vector<ParamSpec>& params() const override {
    static const std::vector<ParamSpec> kParams = {
        {"columns", ParamType::kAny, false,
         "columns whose combination must be distinct (default: all)"}};
    return kParams;
  }
  int max_inputs() const override { return 1; }
  Status CheckParams(const nlohmann::json& params) const override {
    return ColumnListParam(params, "columns", false).status();
  }
  Result<RecipeOutput> Run(RecipeContext& ctx) const override {
    auto names = ColumnListParam(*ctx.params, "columns", false);
    if (!names.ok()) return InRecipe(ctx, names.status());
    const NamedTable& input = ctx.inputs.at(0);
    const Table& in = *input.table;
    if (names->empty())
      for (const auto& f : in.schema().fields) names->push_back(f.name);
    auto cols = KeyColumns(input, "columns", *names);
    if (!cols.ok()) return InRecipe(ctx, cols.status());
    std::vector<int64_t> rows;
    if (in.num_rows() > 0 && !cols->empty()) rows = FirstRows(EncodeKeys(*cols, true));
    // Codes are numbered by first appearance: first rows are already in input order.
    if (ctx.cancel && ctx.cancel->cancelled()) return ctx.cancel->AsStatus();
    ALAMBIC_ASSIGN_OR_RETURN(Table t, TakeTable(in, rows));
    RecipeOutput out = RowsOutput(input, std::move(t));
    out.metrics["duplicates"] = in.num_rows() - static_cast<int64_t>(rows.size());
    return out;
  }
};

class TopKind final : public RecipeKind {
 public:
  std::string name() const override { return "top"; }
  const std::vector<ParamSpec>& params() const override {
    static const std::vector<ParamSpec> kParams = {
        {"n", ParamType::kInt, true, "rows to keep per group"},
        {"by", ParamType::kAny, true, kByDoc},
        {"keys", ParamType::kAny, false, "group columns (default: the whole table)"}};
    return kParams;
  }
  int max_inputs() const override { return 1; }
  Status CheckParams(const nlohmann::json& params) const override {
    auto n = params.find("n");
    if (n == params.end() || !n->is_number_integer() || n->get<int64_t>() < 1)
      return Status::Invalid("param 'n': must be an integer of at least 1");
    ALAMBIC_RETURN_IF_ERROR(OrderParam(params, "by", true).status());
    return ColumnListParam(params, "keys", false).status();
  }
  Result<RecipeOutput> Run(RecipeContext& ctx) const override {
    ALAMBIC_RETURN_IF_ERROR(InRecipe(ctx, CheckParams(*ctx.params)));
    const int64_t n = (*ctx.params)["n"].get<int64_t>();
    auto terms = OrderParam(*ctx.params, "by", true);
    auto names = ColumnListParam(*ctx.params, "keys", false);
    const NamedTable& input = ctx.inputs.at(0);
    auto keys = KeyColumns(input, "keys", *names);
    if (!keys.ok()) return InRecipe(ctx, keys.status());
    auto order = ResolveOrder(input, "by", *terms);
    if (!order.ok()) return InRecipe(ctx, order.status());
    std::vector<SortKey> sort_keys;
    for (const Column* k : *keys) sort_keys.push_back({k, false, true});
    sort_keys.insert(sort_keys.end(), order->begin(), order->end());
    std::vector<int64_t> rows = AllRows(input.table->num_rows());
    SortRows(sort_keys, rows);
    std::vector<int32_t> group(rows.size(), 0);
    if (!keys->empty() && !rows.empty()) group = EncodeKeys(*keys, true).codes;
    std::vector<int64_t> kept;
    int64_t run = 0;
    for (size_t i = 0; i < rows.size(); ++i) {
      const bool same =
          i > 0 && group[static_cast<size_t>(rows[i])] == group[static_cast<size_t>(rows[i - 1])];
      run = same ? run + 1 : 0;
      if (run < n) kept.push_back(rows[i]);
    }
    if (ctx.cancel && ctx.cancel->cancelled()) return ctx.cancel->AsStatus();
    ALAMBIC_ASSIGN_OR_RETURN(Table t, TakeTable(*input.table, kept));
    return RowsOutput(input, std::move(t));
  }
};

}  // namespace

Status RegisterSortKinds(RecipeRegistry& r) {
  ALAMBIC_RETURN_IF_ERROR(r.Register(std::make_unique<SortKind>()));
  ALAMBIC_RETURN_IF_ERROR(r.Register(std::make_unique<DistinctKind>()));
  return r.Register(std::make_unique<TopKind>());
}

}  // namespace alambic
