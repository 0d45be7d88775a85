// The built-in recipe kinds (recipes/*.cc), registered into the engine's
// RecipeRegistry from outside it: core has no default set of kinds. The CLI
// (and every other front end, and the tests) builds a registry, calls
// RegisterBuiltinKinds(), then loads the plugins into the same registry.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/base/status.h"
#include "core/recipe/pushdown.h"
#include "core/recipe/recipe.h"
#include "core/table/expr.h"

namespace alambic {

// Registers every built-in kind. Fails (naming the kind) when one of their
// names is already in `r`: a duplicate name is an error, never ignored.
Status RegisterBuiltinKinds(RecipeRegistry& r);

// Registration functions for built-in kinds, one per recipes/*.cc file.
Status RegisterCollectKind(RecipeRegistry& r);
Status RegisterSqlKind(RecipeRegistry& r);
Status RegisterSyncKind(RecipeRegistry& r);
Status RegisterStackKind(RecipeRegistry& r);
Status RegisterCleanKind(RecipeRegistry& r);
Status RegisterExportKind(RecipeRegistry& r);
Status RegisterFormulaKind(RecipeRegistry& r);
Status RegisterFilterKind(RecipeRegistry& r);
Status RegisterCheckKind(RecipeRegistry& r);
Status RegisterGroupKind(RecipeRegistry& r);
Status RegisterJoinKind(RecipeRegistry& r);
Status RegisterSortKinds(RecipeRegistry& r);  // sort, distinct, top
Status RegisterWindowKind(RecipeRegistry& r);
Status RegisterSplitKind(RecipeRegistry& r);
Status RegisterFuzzyJoinKind(RecipeRegistry& r);
Status RegisterLuaKind(RecipeRegistry& r);
Status RegisterTrainKind(RecipeRegistry& r);
Status RegisterScoreKinds(RecipeRegistry& r);  // score, evaluate
// The SQL translations of the built-in kinds (recipes/pg_pushdown.cc), set into
// the registry by RegisterBuiltinKinds().
std::unique_ptr<SqlPushdown> MakePostgresPushdown();

// The columns a formula recipe computes (its param 'columns'), in the order it
// computes them, with their parsed expressions (for its SQL translation).
Result<std::vector<std::pair<std::string, Expr>>> FormulaColumns(const nlohmann::json& params);

}  // namespace alambic
