#include "core/plan/graph.h"

#include <algorithm>

#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/depth_first_search.hpp>
#include <boost/graph/topological_sort.hpp>

namespace alambic {

using BoostGraph = boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS>;

struct FlowGraph::Impl {
  explicit Impl(size_t n) : g(n) {}
  BoostGraph g;
};

std::string RecipeNode::Label() const { return flow->name + "/" + recipe->name; }

FlowGraph::FlowGraph(const Workspace& ws) {
  for (const auto& f : ws.flows)
    for (const auto& r : f.recipes) nodes_.push_back({&f, &r});
  for (size_t i = 0; i < nodes_.size(); ++i)
    for (const auto& out : nodes_[i].recipe->outputs) producer_.emplace(out, static_cast<int>(i));
  impl_ = std::make_unique<Impl>(nodes_.size());
  upstream_.resize(nodes_.size());
  downstream_.resize(nodes_.size());
  for (size_t i = 0; i < nodes_.size(); ++i) {
    for (const auto& in : nodes_[i].recipe->inputs) {
      int p = ProducerOf(in);
      if (p < 0) continue;
      auto& up = upstream_[i];
      if (std::find(up.begin(), up.end(), p) != up.end()) continue;  // two inputs from one recipe
      up.push_back(p);
      downstream_[static_cast<size_t>(p)].push_back(static_cast<int>(i));
      boost::add_edge(static_cast<size_t>(p), i, impl_->g);
    }
  }
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
    for (int u : upstream_[static_cast<size_t>(v)]) stack.push_back(u);
  }
}

void FlowGraph::MarkDescendants(int from, std::vector<char>* mark) const {
  std::vector<int> stack{from};
  while (!stack.empty()) {
    int v = stack.back();
    stack.pop_back();
    if ((*mark)[static_cast<size_t>(v)]) continue;
    (*mark)[static_cast<size_t>(v)] = 1;
    for (int u : downstream_[static_cast<size_t>(v)]) stack.push_back(u);
  }
}

}  // namespace alambic
