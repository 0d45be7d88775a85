// Lineage read back from the catalog: which dataset versions (and columns) a
// version was built from, upstream, or was used to build, downstream; and the
// impact of a change to a dataset on the recipes that read it, transitively.
//
// Version-level edges come from version_inputs, column-level edges from
// column_lineage (both written by the runner). Lineage follows dataset names,
// so it crosses flows (a flow reading another flow's output) and, in a shared
// catalog, workspaces that share an environment key.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "catalog/catalog.h"
#include "core/base/status.h"

namespace alambic {

enum class LineageDirection { kUpstream, kDownstream };

struct LineageQuery {
  std::string environment;
  std::string dataset;
  std::string column;   // "" : dataset (version) level
  std::string version;  // id or unique prefix; "" : the current version
  LineageDirection direction = LineageDirection::kUpstream;
  int depth = -1;  // edges to follow from the start; -1: all
};

struct LineageNode {
  std::string dataset, version_id;
  std::string column;  // column level only; "*" for an opaque input (any column)
  std::string flow, recipe, run_id, created_at;  // "" when the version is no longer recorded
  // The run's git commit ("" outside git) and whether the tree was dirty.
  std::string git_commit;
  bool git_dirty = false;
  bool current = false;  // the dataset's current version
  int depth = 0;         // edges from the start node
};

// `from` is upstream of `to` (data flows from -> to), whatever the direction asked.
struct LineageEdge {
  int from = 0, to = 0;
  std::string transform;  // column level: identity, transformation, ..., opaque; "" otherwise
};

struct LineageGraph {
  LineageDirection direction = LineageDirection::kUpstream;
  std::vector<LineageNode> nodes;  // nodes[0] is the start
  std::vector<LineageEdge> edges;
};

// Walks the catalog from the query's dataset version (or column). Fails when
// the dataset has no such version, or the version has no such column.
Result<LineageGraph> TraceLineage(Catalog& catalog, const LineageQuery& query);

nlohmann::json LineageJson(const LineageGraph& g);

// What a recipe reads and writes, for impact analysis.
struct RecipeIo {
  std::string flow, recipe;
  std::vector<std::string> inputs, outputs;
};

struct ImpactedRecipe {
  std::string flow, recipe;
  std::vector<std::string> outputs;  // datasets it would rebuild
  std::string via;                   // the input that would make it stale
  int depth = 0;                     // 1: reads the changed dataset itself
};

// The recipes that would become stale if `dataset` changed, breadth first, each
// once (at its smallest depth); `max_depth` -1 for all.
std::vector<ImpactedRecipe> ImpactOf(const std::vector<RecipeIo>& recipes,
                                     const std::string& dataset, int max_depth = -1);

}  // namespace alambic
