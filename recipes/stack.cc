// kind: stack — appends the rows of all inputs (SQL UNION ALL). Columns are
// matched by name; every input must have the same column names and types.
#include <fmt/format.h>

#include "core/recipe/recipe.h"
#include "recipes/builtin_kinds.h"

namespace alambic {
namespace {

class StackKind final : public RecipeKind {
 public:
  std::string name() const override { return "stack"; }
  const std::vector<ParamSpec>& params() const override {
    static const std::vector<ParamSpec> kParams;
    return kParams;
  }
  Result<RecipeOutput> Run(RecipeContext& ctx) const override {
    const Table& first = *ctx.inputs.at(0).table;
    const Schema& schema = first.schema();
    int64_t rows = 0;
    for (const auto& in : ctx.inputs) {
      const Schema& s = in.table->schema();
      if (s.fields.size() != schema.fields.size())
        return Status::Invalid(fmt::format("recipe {}: input {} has {} columns but {} has {}",
                                           ctx.recipe, in.name, s.fields.size(), ctx.inputs[0].name,
                                           schema.fields.size()));
      for (const auto& f : schema.fields) {
        int j = s.FieldIndex(f.name);
        if (j < 0)
          return Status::Invalid(
              fmt::format("recipe {}: input {} has no column '{}'", ctx.recipe, in.name, f.name));
        if (s.fields[static_cast<size_t>(j)].type != f.type)
          return Status::Invalid(fmt::format("recipe {}: column '{}' is {} in {} but {} in {}",
                                             ctx.recipe, f.name,
                                             TypeName(s.fields[static_cast<size_t>(j)].type),
                                             in.name, TypeName(f.type), ctx.inputs[0].name));
      }
      rows += in.table->num_rows();
    }
    std::vector<ColumnPtr> cols;
    for (const auto& f : schema.fields) {
      ColumnBuilder b(f.type);
      b.Reserve(rows);
      for (const auto& in : ctx.inputs) {
        if (ctx.cancel && ctx.cancel->cancelled()) return ctx.cancel->AsStatus();
        const Column& c = *in.table->ColumnByName(f.name);
        for (int64_t i = 0; i < c.length; ++i) b.AppendFrom(c, i);
      }
      cols.push_back(b.Finish());
    }
    ALAMBIC_ASSIGN_OR_RETURN(Table t, Table::Make(schema, std::move(cols), rows));
    RecipeOutput out;
    out.tables.push_back(std::move(t));
    out.metrics["rows"] = rows;
    return out;
  }
};

}  // namespace

Status RegisterStackKind(RecipeRegistry& r) { return r.Register(std::make_unique<StackKind>()); }

}  // namespace alambic
