#include "catalog/lineage.h"

#include <deque>
#include <map>
#include <optional>
#include <set>
#include <tuple>

#include <fmt/format.h>

namespace alambic {

namespace {

// Resolves nodes and walks edges with per-version caches.
class Tracer {
 public:
  Tracer(Catalog& catalog, const LineageQuery& q) : cat_(catalog), q_(q) {}

  Result<LineageGraph> Run() {
    ALAMBIC_ASSIGN_OR_RETURN(auto current, cat_.CurrentVersions(q_.environment));
    for (const auto& c : current) current_[c.dataset] = c.version_id;
    std::string start_id;
    if (!q_.version.empty()) {
      ALAMBIC_ASSIGN_OR_RETURN(auto v, cat_.FindVersion(q_.environment, q_.dataset, q_.version));
      if (!v)
        return Status::NotFound(fmt::format("dataset {} has no version '{}' in {}", q_.dataset,
                                            q_.version, q_.environment));
      start_id = v->id;
    } else {
      auto it = current_.find(q_.dataset);
      if (it == current_.end())
        return Status::NotFound(fmt::format(
            "dataset {} has no version in {} (unknown dataset, or never built: run `alambic run`)",
            q_.dataset, q_.environment));
      start_id = it->second;
    }
    if (!q_.column.empty()) {
      ALAMBIC_ASSIGN_OR_RETURN(const DatasetVersionRecord* v, Version(q_.dataset, start_id));
      auto schema = nlohmann::json::parse(v ? v->schema : "[]", nullptr, false);
      std::vector<std::string> names;
      if (schema.is_array())
        for (const auto& f : schema)
          if (f.is_object() && f.contains("name") && f["name"].is_string())
            names.push_back(f["name"].get<std::string>());
      bool found = false;
      for (const auto& n : names) found = found || n == q_.column;
      if (!found) {
        std::string list;
        for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
        return Status::NotFound(fmt::format("dataset {} has no column '{}' (columns: {})",
                                            q_.dataset, q_.column, list));
      }
    }
    g_.direction = q_.direction;
    ALAMBIC_ASSIGN_OR_RETURN(int root, Node(q_.dataset, start_id, q_.column, 0));
    std::deque<int> todo{root};
    while (!todo.empty()) {
      const int n = todo.front();
      todo.pop_front();
      const LineageNode node = g_.nodes[static_cast<size_t>(n)];
      if (q_.depth >= 0 && node.depth >= q_.depth) continue;
      if (node.column == "*") continue;  // an opaque input: no column to follow
      std::vector<std::tuple<std::string, std::string, std::string, std::string>> next;
      if (q_.direction == LineageDirection::kUpstream) {
        ALAMBIC_RETURN_IF_ERROR(Upstream(node, &next));
      } else {
        ALAMBIC_RETURN_IF_ERROR(Downstream(node, &next));
      }
      for (const auto& [ds, ver, col, transform] : next) {
        const bool seen = index_.count({ds, ver, col}) > 0;
        ALAMBIC_ASSIGN_OR_RETURN(int m, Node(ds, ver, col, node.depth + 1));
        LineageEdge e;
        e.from = q_.direction == LineageDirection::kUpstream ? m : n;
        e.to = q_.direction == LineageDirection::kUpstream ? n : m;
        e.transform = transform;
        if (edges_.insert({e.from, e.to, e.transform}).second) g_.edges.push_back(e);
        if (!seen) todo.push_back(m);
      }
    }
    return std::move(g_);
  }

 private:
  using Next = std::vector<std::tuple<std::string, std::string, std::string, std::string>>;

  Result<const DatasetVersionRecord*> Version(const std::string& ds, const std::string& id) {
    auto key = std::make_pair(ds, id);
    auto it = versions_.find(key);
    if (it != versions_.end()) return it->second ? &*it->second : nullptr;
    ALAMBIC_ASSIGN_OR_RETURN(auto v, cat_.FindVersion(q_.environment, ds, id));
    if (v && v->id != id) v.reset();  // a longer id sharing the prefix is another version
    if (v) ALAMBIC_RETURN_IF_ERROR(cat_.LoadLineage(&*v));
    auto& slot = versions_[key];
    slot = std::move(v);
    return slot ? &*slot : nullptr;
  }

  Result<int> Node(const std::string& ds, const std::string& id, const std::string& col,
                   int depth) {
    auto key = std::make_tuple(ds, id, col);
    auto it = index_.find(key);
    if (it != index_.end()) return it->second;
    LineageNode n;
    n.dataset = ds;
    n.version_id = id;
    n.column = col;
    n.depth = depth;
    ALAMBIC_ASSIGN_OR_RETURN(const DatasetVersionRecord* v, Version(ds, id));
    if (v) {
      n.flow = v->flow;
      n.recipe = v->recipe;
      n.run_id = v->run_id;
      n.created_at = v->created_at;
      auto [run, fresh] = runs_.try_emplace(v->run_id);
      if (fresh && !v->run_id.empty())
        if (auto r = cat_.FindRun(v->run_id); r.ok()) run->second = std::move(*r);
      n.git_commit = run->second.git_commit;
      n.git_dirty = run->second.git_dirty;
    }
    auto cur = current_.find(ds);
    n.current = cur != current_.end() && cur->second == id;
    g_.nodes.push_back(std::move(n));
    const int index = static_cast<int>(g_.nodes.size()) - 1;
    index_[key] = index;
    return index;
  }

  Status Upstream(const LineageNode& node, Next* next) {
    ALAMBIC_ASSIGN_OR_RETURN(const DatasetVersionRecord* v, Version(node.dataset, node.version_id));
    if (!v) return Status::Ok();
    if (node.column.empty()) {
      for (const auto& [ds, ver] : v->inputs) next->emplace_back(ds, ver, "", "");
      return Status::Ok();
    }
    for (const auto& e : v->column_lineage) {
      if (e.column != node.column) continue;
      std::string in_version;
      for (const auto& [ds, ver] : v->inputs)
        if (ds == e.input_dataset) in_version = ver;
      if (in_version.empty()) continue;
      next->emplace_back(e.input_dataset, in_version, e.input_column.empty() ? "*" : e.input_column,
                         e.transform);
    }
    return Status::Ok();
  }

  Status Downstream(const LineageNode& node, Next* next) {
    ALAMBIC_ASSIGN_OR_RETURN(auto readers,
                             cat_.VersionsReading(q_.environment, node.dataset, node.version_id));
    for (const auto& r : readers) {
      if (node.column.empty()) {
        next->emplace_back(r.dataset, r.version_id, "", "");
        continue;
      }
      ALAMBIC_ASSIGN_OR_RETURN(const DatasetVersionRecord* v, Version(r.dataset, r.version_id));
      if (!v) continue;
      for (const auto& e : v->column_lineage)
        if (e.input_dataset == node.dataset &&
            (e.input_column == node.column || e.input_column.empty()))
          next->emplace_back(r.dataset, r.version_id, e.column, e.transform);
    }
    return Status::Ok();
  }

  Catalog& cat_;
  const LineageQuery& q_;
  LineageGraph g_;
  std::map<std::string, std::string> current_;
  std::map<std::pair<std::string, std::string>, std::optional<DatasetVersionRecord>> versions_;
  std::map<std::tuple<std::string, std::string, std::string>, int> index_;
  std::set<std::tuple<int, int, std::string>> edges_;
  std::map<std::string, RunRecord> runs_;  // by id
};

}  // namespace

Result<LineageGraph> TraceLineage(Catalog& catalog, const LineageQuery& query) {
  return Tracer(catalog, query).Run();
}

nlohmann::json LineageJson(const LineageGraph& g) {
  nlohmann::json nodes = nlohmann::json::array();
  for (const auto& n : g.nodes) {
    nlohmann::json j = {{"dataset", n.dataset}, {"version", n.version_id},
                        {"flow", n.flow},       {"recipe", n.recipe},
                        {"run", n.run_id},      {"created_at", n.created_at},
                        {"current", n.current}, {"depth", n.depth}};
    if (!n.column.empty()) j["column"] = n.column;
    j["git_commit"] = n.git_commit;
    j["git_dirty"] = n.git_dirty;
    nodes.push_back(std::move(j));
  }
  nlohmann::json edges = nlohmann::json::array();
  for (const auto& e : g.edges) {
    nlohmann::json j = {{"from", e.from}, {"to", e.to}};
    if (!e.transform.empty()) j["transform"] = e.transform;
    edges.push_back(std::move(j));
  }
  return {{"direction", g.direction == LineageDirection::kUpstream ? "upstream" : "downstream"},
          {"nodes", std::move(nodes)},
          {"edges", std::move(edges)}};
}

std::vector<ImpactedRecipe> ImpactOf(const std::vector<RecipeIo>& recipes,
                                     const std::string& dataset, int max_depth) {
  std::vector<ImpactedRecipe> out;
  std::set<std::pair<std::string, std::string>> done;
  std::set<std::string> changed{dataset};
  std::deque<std::pair<std::string, int>> todo{{dataset, 0}};
  while (!todo.empty()) {
    auto [ds, depth] = todo.front();
    todo.pop_front();
    if (max_depth >= 0 && depth >= max_depth) continue;
    for (const auto& r : recipes) {
      bool reads = false;
      for (const auto& in : r.inputs) reads = reads || in == ds;
      if (!reads || !done.insert({r.flow, r.recipe}).second) continue;
      out.push_back({r.flow, r.recipe, r.outputs, ds, depth + 1});
      for (const auto& o : r.outputs)
        if (changed.insert(o).second) todo.emplace_back(o, depth + 1);
    }
  }
  return out;
}

}  // namespace alambic
