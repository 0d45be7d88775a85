// Static type checking of a flow, before any run: the schemas of the datasets
// (the current versions' when known, else what the flow declares: a collect's
// `schema` types) are propagated through the recipes whose output schema
// follows from their params (formula, filter, group, join, sort, distinct,
// check, top, sync), and every expression, key and column reference is checked
// against its input: unknown columns (with the closest name), join keys typed
// differently on each side, formulas, filters and aggregates that do not
// type-check. A recipe whose output is not statically known (collect without a
// current version, sql, lua, clean, plugins, ...) stops the propagation: its
// outputs have an unknown schema and nothing downstream of them is reported.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "core/flow/flow.h"
#include "core/recipe/recipe.h"
#include "core/table/table.h"

namespace alambic {

class FlowGraph;

// Dataset name -> the schema of its current version.
using DatasetSchemas = std::map<std::string, Schema>;

// The schemas of the current versions of every dataset in environment `env`.
Result<DatasetSchemas> CurrentSchemas(Catalog& catalog, const std::string& env);

// The same from the workspace's catalog (.alambic/catalog.db) for `env` (""
// : the default environment); empty when there is no catalog or it cannot
// be read (then only declared schemas are used).
DatasetSchemas CurrentSchemasOf(const Workspace& ws, const std::string& env);

// The problems found, in recipe order, each at the recipe's param (file:line).
// `graph`: FlowGraph(ws) if the caller has it (else it is built here).
std::vector<Diagnostic> TypeCheckWorkspace(const Workspace& ws, const RecipeRegistry& kinds,
                                           const DatasetSchemas& current = {},
                                           const FlowGraph* graph = nullptr);

}  // namespace alambic
