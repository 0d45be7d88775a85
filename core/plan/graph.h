// The workspace DAG: one vertex per recipe (across all flows), an edge from the
// recipe producing a dataset to every recipe reading it. Built on Boost.Graph.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/flow/flow.h"

namespace alambic {

struct RecipeNode {
  const Flow* flow = nullptr;
  const RecipeSpec* recipe = nullptr;
  std::string Label() const;  // "flow/recipe"
};

class FlowGraph {
 public:
  // Indexes every recipe of the workspace. Datasets produced twice keep the first
  // producer (validation reports the clash); unknown inputs have no edge.
  explicit FlowGraph(const Workspace& ws);
  ~FlowGraph();
  FlowGraph(const FlowGraph&) = delete;
  FlowGraph& operator=(const FlowGraph&) = delete;

  int size() const { return static_cast<int>(nodes_.size()); }
  const RecipeNode& node(int i) const { return nodes_[static_cast<size_t>(i)]; }
  // Index of the recipe producing `dataset`, or -1.
  int ProducerOf(const std::string& dataset) const;
  // Index of recipe `name` in flow `flow` (any flow if empty), or -1.
  int Find(const std::string& flow, const std::string& name) const;
  // The producers of i's inputs (each once, in input order) / the readers of
  // i's outputs (in vertex order).
  std::span<const int> Upstream(int i) const { return Edges(up_start_, up_, i); }
  std::span<const int> Downstream(int i) const { return Edges(down_start_, down_, i); }

  // A cycle as the vertex sequence a, b, ..., a; empty when the graph is acyclic.
  std::vector<int> FindCycle() const;
  // Every vertex, producers before consumers (the graph must be acyclic).
  std::vector<int> TopologicalOrder() const;
  // Marks in `mark` (size()) every vertex reachable upstream / downstream of `from`.
  void MarkAncestors(int from, std::vector<char>* mark) const;
  void MarkDescendants(int from, std::vector<char>* mark) const;

 private:
  static std::span<const int> Edges(const std::vector<int>& start, const std::vector<int>& edges,
                                    int i) {
    const auto v = static_cast<size_t>(i);
    return std::span<const int>(edges).subspan(static_cast<size_t>(start[v]),
                                               static_cast<size_t>(start[v + 1] - start[v]));
  }
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::vector<RecipeNode> nodes_;
  // Dataset -> producer; the keys point into the workspace's recipes.
  std::unordered_map<std::string_view, int> producer_;
  // Adjacency in compressed rows: vertex v's edges are edges[start[v] .. start[v + 1]).
  std::vector<int> up_start_, up_, down_start_, down_;
};

}  // namespace alambic
