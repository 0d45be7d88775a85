#include "core/plan/graph.h"

#include <algorithm>
#include <utility>

#include <boost/graph/compressed_sparse_row_graph.hpp>
#include <boost/graph/depth_first_search.hpp>
#include <boost/graph/topological_sort.hpp>

namespace alambic {

using BoostGraph = boost::compressed_sparse_row_graph<boost::directedS>;

struct FlowGraph::Impl {
  BoostGraph g;
};

std::string RecipeNode::Label() const { return flow->name + "/" + recipe->name; }

FlowGraph::FlowGraph(const Workspace& ws) {
  size_t count = 0;
  for (const auto& f : ws.flows) count += f.recipes.size();
  nodes_.reserve(count);
  for (const auto& f : ws.flows)
    for (const auto& r : f.recipes) nodes_.push_back({&f, &r});
  const size_t n = nodes_.size();
  producer_.reserve(n);
  for (size_t i = 0; i < n; ++i)
    for (const auto& out : nodes_[i].recipe->outputs) producer_.emplace(out, static_cast<int>(i));

  // Upstream: the producers of each recipe's inputs, once each, in input order.
  up_start_.assign(n + 1, 0);
  std::vector<int> down_count(n, 0);
  std::vector<int> seen_by(n, -1);  // the last reader that listed each producer
  for (size_t i = 0; i < n; ++i) {
    for (const auto& in : nodes_[i].recipe->inputs) {
      int p = ProducerOf(in);
      if (p < 0) continue;
      if (seen_by[static_cast<size_t>(p)] == static_cast<int>(i))
        continue;  // two inputs from one recipe
      seen_by[static_cast<size_t>(p)] = static_cast<int>(i);
      up_.push_back(p);
      ++down_count[static_cast<size_t>(p)];
    }
    up_start_[i + 1] = static_cast<int>(up_.size());
  }
  // Downstream: the same edges reversed, readers in vertex order.
  down_start_.assign(n + 1, 0);
  for (size_t v = 0; v < n; ++v) down_start_[v + 1] = down_start_[v] + down_count[v];
  down_.resize(up_.size());
  std::vector<int> fill(down_start_.begin(), down_start_.end() - 1);
  std::vector<std::pair<size_t, size_t>> edges(up_.size());  // (producer, reader), by producer
  for (size_t i = 0; i < n; ++i)
    for (int k = up_start_[i]; k < up_start_[i + 1]; ++k) {
      const auto p = static_cast<size_t>(up_[static_cast<size_t>(k)]);
      const auto at = static_cast<size_t>(fill[p]++);
      down_[at] = static_cast<int>(i);
      edges[at] = {p, i};
    }
  // The Boost graph has each vertex's out-edges in the same order as Downstream().
  impl_ = std::make_unique<Impl>(
      Impl{BoostGraph(boost::edges_are_sorted, edges.begin(), edges.end(), n)});
}

FlowGraph::~FlowGraph() = default;

int FlowGraph::ProducerOf(const std::string& dataset) const {
  auto it = producer_.find(dataset);
  return it == producer_.end() ? -1 : it->second;
}

int FlowGraph::Find(const std::string& flow, const std::string& name) const {
  for (size_t i = 0; i < nodes_.size(); ++i)
    if (nodes_[i].recipe->name == name && (flow.empty() || nodes_[i].flow->name == flow))
      return static_cast<int>(i);
  return -1;
}

namespace {

// Records DFS tree parents and stops at the first back edge.
struct CycleFinder : boost::default_dfs_visitor {
  std::vector<int>* parent;
  std::vector<int>* cycle;
  void tree_edge(BoostGraph::edge_descriptor e, const BoostGraph& g) const {
    (*parent)[boost::target(e, g)] = static_cast<int>(boost::source(e, g));
  }
  void back_edge(BoostGraph::edge_descriptor e, const BoostGraph& g) const {
    if (!cycle->empty()) return;
    int from = static_cast<int>(boost::source(e, g));
    int to = static_cast<int>(boost::target(e, g));
    // The tree path to -> ... -> from, then back to `to`.
    std::vector<int> path{from};
    for (int v = from; v != to; v = (*parent)[static_cast<size_t>(v)])
      path.push_back((*parent)[static_cast<size_t>(v)]);
    std::reverse(path.begin(), path.end());
    path.push_back(to);
    *cycle = std::move(path);
  }
};

}  // namespace

std::vector<int> FlowGraph::FindCycle() const {
  std::vector<int> parent(nodes_.size(), -1), cycle;
  CycleFinder vis;
  vis.parent = &parent;
  vis.cycle = &cycle;
  boost::depth_first_search(impl_->g, boost::visitor(vis));
  return cycle;
}

std::vector<int> FlowGraph::TopologicalOrder() const {
  std::vector<size_t> rev;
  rev.reserve(nodes_.size());
  boost::topological_sort(impl_->g, std::back_inserter(rev));
  return std::vector<int>(rev.rbegin(), rev.rend());
}

void FlowGraph::MarkAncestors(int from, std::vector<char>* mark) const {
  std::vector<int> stack{from};
  while (!stack.empty()) {
    int v = stack.back();
    stack.pop_back();
    if ((*mark)[static_cast<size_t>(v)]) continue;
    (*mark)[static_cast<size_t>(v)] = 1;
    for (int u : Upstream(v)) stack.push_back(u);
  }
}

void FlowGraph::MarkDescendants(int from, std::vector<char>* mark) const {
  std::vector<int> stack{from};
  while (!stack.empty()) {
    int v = stack.back();
    stack.pop_back();
    if ((*mark)[static_cast<size_t>(v)]) continue;
    (*mark)[static_cast<size_t>(v)] = 1;
    for (int u : Downstream(v)) stack.push_back(u);
  }
}

}  // namespace alambic
