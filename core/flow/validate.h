// Semantic checks of a loaded workspace against the recipe kinds.
#pragma once

#include <vector>

#include "core/flow/flow.h"
#include "recipes/recipe.h"

namespace alambic {

// Reports, sorted by file and line: duplicate recipe names, unknown kinds,
// unknown / missing / mistyped params (and each kind's own checks), wrong input
// or output counts, unknown input datasets, datasets produced by two recipes,
// declared datasets nobody produces, missing script files, and cycles (printed
// as "a -> b -> a" with the datasets between).
std::vector<Diagnostic> ValidateWorkspace(const Workspace& ws, const RecipeRegistry& kinds);

}  // namespace alambic
