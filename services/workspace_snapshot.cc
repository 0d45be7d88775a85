#include "services/workspace_snapshot.h"

#include <cstdlib>
#include <map>
#include <sstream>

#include "core/vcs/git.h"

namespace alambic {
namespace {

// Runs read to find each flow's last ones.
constexpr int kRunsScanned = 500;

std::string Absolute(const Session& s, const std::string& path) {
  std::error_code ec;
  std::filesystem::path p(path);
  if (p.is_relative()) p = s.root() / p;
  auto canonical = std::filesystem::weakly_canonical(p, ec);
  return (ec ? p.lexically_normal() : canonical).string();
}

bool RanFlow(const RunRecord& r, const std::string& flow) {
  std::stringstream in(r.flows);
  for (std::string f; std::getline(in, f, ',');)
    if (f == flow) return true;
  return false;
}

}  // namespace

std::filesystem::path LabCatalogPath(const Workspace& ws) {
  if (const char* env = std::getenv("ALAMBIC_CATALOG"); env && *env) {
    std::filesystem::path p(env);
    return p.is_absolute() ? p : ws.root / p;
  }
  if (!ws.config.catalog_path.empty()) return ws.config.catalog_path;
  return ws.root / ".alambic" / "catalog.db";
}

Result<WorkspaceSnapshot> SnapshotWorkspace(Session& s, std::vector<UseCaseCard> cards) {
  WorkspaceSnapshot snap;
  const Workspace& ws = s.workspace();
  snap.name = ws.config.name.empty() ? ws.root.filename().string() : ws.config.name;
  snap.root = ws.root.string();
  if (auto head = GitReadHead(ws.root); head.ok() && head->is_repository)
    snap.git_commit = head->commit + (head->dirty ? "+dirty" : "");
  snap.cards = std::move(cards);

  ALAMBIC_ASSIGN_OR_RETURN(auto runs, s.catalog().ListRuns(kRunsScanned));
  for (const auto& f : ws.flows) {
    LabFlow lf{f.name, f.usecase, f.description, f.file, f.schedule ? f.schedule->cron : "", {}};
    for (const auto& r : runs) {
      if (static_cast<int>(lf.last_runs.size()) >= kLabRunsPerFlow) break;
      if (r.environment == s.environment() && RanFlow(r, f.name))
        lf.last_runs.push_back({r.id, r.status, r.started_at, r.finished_at, r.error});
    }
    snap.flows.push_back(std::move(lf));
  }

  // A flow that cannot be planned (a missing secret, a bad parameter) does
  // not hide the others: its datasets are registered "unplannable: <why>".
  std::vector<RecipePlan> planned;
  std::map<std::string, std::string> plan_errors;  // flow -> why
  if (auto all = s.MakePlan({}); all.ok()) {
    planned = std::move(all->recipes);
  } else {
    for (const auto& f : ws.flows) {
      PlanOptions one;
      one.flows = {f.name};
      auto p = s.MakePlan(one);
      if (!p.ok()) {
        plan_errors[f.name] = p.status().message();
        continue;
      }
      for (auto& rp : p->recipes) planned.push_back(std::move(rp));
    }
  }
  std::map<int, const RecipePlan*> by_node;
  for (const auto& rp : planned) by_node[rp.node] = &rp;
  ALAMBIC_ASSIGN_OR_RETURN(auto current, s.catalog().CurrentVersions(s.environment()));
  std::map<std::string, const CurrentVersion*> cur;
  for (const auto& c : current) cur[c.dataset] = &c;

  for (int i = 0; i < s.graph().size(); ++i) {
    const RecipeNode& node = s.graph().node(i);
    const RecipeSpec& r = *node.recipe;
    for (size_t k = 0; k < r.outputs.size(); ++k) {
      LabDataset d;
      d.name = r.outputs[k];
      d.flow = node.flow->name;
      d.recipe = r.name;
      d.environment = s.environment();
      const DatasetSpec* spec = nullptr;
      if (auto it = node.flow->datasets.find(d.name); it != node.flow->datasets.end())
        spec = &it->second;
      if (spec) d.description = spec->description;
      auto path = r.params.find("path");
      if (path != r.params.end() && path->is_string()) {
        if (r.kind == "collect") d.reads_files.push_back(Absolute(s, path->get<std::string>()));
        if (r.kind == "export") d.writes_files.push_back(Absolute(s, path->get<std::string>()));
      }
      auto cit = cur.find(d.name);
      if (auto err = plan_errors.find(d.flow); err != plan_errors.end()) {
        d.state = "unplannable: " + err->second;
        if (cit != cur.end()) {
          d.version_id = cit->second->version_id;
          d.updated_at = cit->second->updated_at;
          d.rows = cit->second->rows;
        }
      } else if (cit == cur.end()) {
        d.state = "never built";
      } else {
        const CurrentVersion& c = *cit->second;
        d.version_id = c.version_id;
        d.updated_at = c.updated_at;
        d.rows = c.rows;
        d.state = "fresh";
        if (auto pit = by_node.find(i); pit != by_node.end()) {
          const RecipePlan& rp = *pit->second;
          if (rp.decision == Decision::kRun)
            d.state = "stale: " + rp.explanation;
          else if (k < rp.output_versions.size() && rp.output_versions[k] != c.version_id)
            d.state = "stale: another built version matches the flow";
        }
        ALAMBIC_ASSIGN_OR_RETURN(auto v,
                                 s.catalog().FindVersion(s.environment(), d.name, c.version_id));
        auto schema = nlohmann::json::parse(v ? v->schema : "[]", nullptr, false);
        if (schema.is_array())
          for (const auto& f : schema)
            if (f.is_object() && f.contains("name") && f["name"].is_string())
              d.columns.push_back({f["name"], f.value("type", std::string()), "", {}});
      }
      if (spec)
        for (const auto& cs : spec->columns) {
          LabColumn* col = nullptr;
          for (auto& c : d.columns)
            if (c.name == cs.name) col = &c;
          if (!col) {
            d.columns.push_back({cs.name, "", "", {}});
            col = &d.columns.back();
          }
          col->description = cs.description;
          col->tags = cs.tags;
        }
      snap.datasets.push_back(std::move(d));
    }
  }
  return snap;
}

}  // namespace alambic
