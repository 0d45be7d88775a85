// Semantic checks of a loaded workspace against the recipe kinds.
#pragma once

#include <vector>

#include "core/flow/flow.h"
#include "core/flow/typecheck.h"
#include "core/recipe/recipe.h"

namespace alambic {

// Reports, sorted by file and line: duplicate recipe names, unknown kinds,
// unknown / missing / mistyped params (and each kind's own checks), wrong input
// or output counts, unknown input datasets, datasets produced by two recipes,
// declared datasets nobody produces, missing script files, and cycles (printed
// as "a -> b -> a" with the datasets between). When none of these is found,
// the flows are type-checked (core/flow/typecheck.h) against `current`, the
// schemas of the datasets' current versions, and the flows' own declarations.
// `graph`: FlowGraph(ws) if the caller has it (else it is built here).
std::vector<Diagnostic> ValidateWorkspace(const Workspace& ws, const RecipeRegistry& kinds,
                                          const DatasetSchemas& current = {},
                                          const FlowGraph* graph = nullptr);

}  // namespace alambic
