// kind: sync — copies its input dataset unchanged to its output (Dataiku's Sync
// recipe): used to materialise a dataset under another name or in another store.
#include <fmt/format.h>

#include "core/recipe/recipe.h"
#include "recipes/builtin_kinds.h"

namespace alambic {
namespace {

class SyncKind final : public RecipeKind {
 public:
  std::string name() const override { return "sync"; }
  const std::vector<ParamSpec>& params() const override {
    static const std::vector<ParamSpec> kParams;
    return kParams;
  }
  int max_inputs() const override { return 1; }
  Result<RecipeOutput> Run(RecipeContext& ctx) const override {
    RecipeOutput out;
    out.tables.push_back(*ctx.inputs.at(0).table);
    out.metrics["rows"] = ctx.inputs[0].table->num_rows();
    return out;
  }
};

}  // namespace

Status RegisterSyncKind(RecipeRegistry& r) { return r.Register(std::make_unique<SyncKind>()); }

}  // namespace alambic
