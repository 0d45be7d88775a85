#include "ui/cli/lineage_commands.h"

#include <cstdio>
#include <iostream>
#include <set>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "catalog/catalog.h"
#include "catalog/lab_catalog.h"
#include "catalog/lineage.h"
#include "catalog/openlineage.h"
#include "core/flow/loader.h"
#include "services/runs.h"
#include "services/workspace_snapshot.h"
#include "ui/common/lineage_view.h"
#include "ui/common/text_table.h"

namespace fs = std::filesystem;

namespace alambic {
namespace {

// DATASET or DATASET.COLUMN: a name recorded as a dataset wins; else the last dot splits.
std::pair<std::string, std::string> SplitDatasetColumn(History& h, const std::string& arg) {
  auto versions = h.catalog->Versions(h.env, arg);
  if (versions.ok() && !versions->empty()) return {arg, ""};
  size_t dot = arg.rfind('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == arg.size()) return {arg, ""};
  return {arg.substr(0, dot), arg.substr(dot + 1)};
}

int CmdLineage(const Globals& g, const std::string& target, bool downstream, int depth,
               const std::string& version, const std::string& format) {
  auto h = OpenHistory(g);
  if (!h.ok()) return Fail(h.status());
  LineageQuery q;
  q.environment = h->env;
  std::tie(q.dataset, q.column) = SplitDatasetColumn(*h, target);
  q.version = version;
  q.direction = downstream ? LineageDirection::kDownstream : LineageDirection::kUpstream;
  q.depth = depth;
  auto graph = TraceLineage(*h->catalog, q);
  if (!graph.ok()) return Fail(graph.status());
  // Across workspaces: datasets of the graph that read a file another workspace
  // of the lab catalog writes (as registered by `alambic catalog sync`).
  std::vector<SharedFileEdge> shared;
  LoadedWorkspace lw = LoadWorkspaceConfig(h->root);
  lw.workspace.root = h->root;
  const std::string ws_name =
      lw.workspace.config.name.empty() ? h->root.filename().string() : lw.workspace.config.name;
  if (auto lab = LabCatalog::Open(LabCatalogPath(lw.workspace)); lab.ok())
    if (auto edges = (*lab)->SharedFiles(); edges.ok())
      for (const auto& e : *edges) {
        const bool here = e.to_workspace == ws_name && !downstream;
        const bool there = e.from_workspace == ws_name && downstream;
        for (const auto& n : graph->nodes)
          if ((here && n.dataset == e.to_dataset) || (there && n.dataset == e.from_dataset)) {
            shared.push_back(e);
            break;
          }
      }
  std::string out;
  if (format == "json") {
    nlohmann::json j = LineageJson(*graph);
    j["across_workspaces"] = nlohmann::json::array();
    for (const auto& e : shared)
      j["across_workspaces"].push_back(
          {{"file", e.file},
           {"from", {{"workspace", e.from_workspace}, {"dataset", e.from_dataset}}},
           {"to", {{"workspace", e.to_workspace}, {"dataset", e.to_dataset}}}});
    out = j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  } else if (format == "dot") {
    out = LineageDot(*graph);
  } else {
    out = LineageText(*graph);
    for (const auto& e : shared)
      out += Printable(downstream
                           ? fmt::format("{} is written to {}, read by workspace {} as {}",
                                         e.from_dataset, e.file, e.to_workspace, e.to_dataset)
                           : fmt::format("{} is read from {}, written by workspace {} as {}",
                                         e.to_dataset, e.file, e.from_workspace, e.from_dataset)) +
             "\n";
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return kExitOk;
}

// What would become stale if DATASET changed: the recipes reading it, transitively,
// from the workspace's flows and from every recipe the catalog recorded in this
// environment (flows since removed or in other workspaces sharing the catalog).
int CmdImpact(const Globals& g, const std::string& target, int depth, const std::string& format) {
  auto h = OpenHistory(g);
  if (!h.ok()) return Fail(h.status());
  auto [dataset, column] = SplitDatasetColumn(*h, target);
  if (!column.empty()) {
    // Column level: the columns derived from it in the current versions downstream.
    LineageQuery q;
    q.environment = h->env;
    q.dataset = dataset;
    q.column = column;
    q.direction = LineageDirection::kDownstream;
    q.depth = depth;
    auto graph = TraceLineage(*h->catalog, q);
    if (!graph.ok()) return Fail(graph.status());
    if (format == "json") {
      std::cout << LineageJson(*graph).dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
                << "\n";
      return kExitOk;
    }
    TextTable table({"column", "flow/recipe", "depth", "via"});
    for (size_t i = 1; i < graph->nodes.size(); ++i) {
      const LineageNode& n = graph->nodes[i];
      std::string via;
      for (const auto& e : graph->edges)
        if (e.to == static_cast<int>(i)) {
          const LineageNode& from = graph->nodes[static_cast<size_t>(e.from)];
          via += (via.empty() ? "" : ", ") + from.dataset + "." + from.column + " [" + e.transform +
                 "]";
        }
      table.AddRow(
          {n.dataset + "." + n.column, n.flow + "/" + n.recipe, std::to_string(n.depth), via});
    }
    std::fputs(table.Render().c_str(), stdout);
    std::printf("%zu column%s derived from %s\n", graph->nodes.size() - 1,
                graph->nodes.size() == 2 ? "" : "s", Printable(target).c_str());
    return kExitOk;
  }
  std::vector<RecipeIo> recipes;
  std::set<std::string> known;
  LoadedWorkspace lw = LoadWorkspace(h->root);
  for (const auto& f : lw.workspace.flows)
    for (const auto& r : f.recipes) {
      recipes.push_back({f.name, r.name, r.inputs, r.outputs});
      known.insert(f.name + "/" + r.name);
    }
  auto states = h->catalog->RecipeStates(h->env);
  if (!states.ok()) return Fail(states.status());
  for (const auto& [key, st] : *states) {
    if (known.count(key)) continue;
    size_t slash = key.find('/');
    RecipeIo io{key.substr(0, slash), key.substr(slash + 1), {}, {}};
    for (const auto& [ds, v] : st.inputs) io.inputs.push_back(ds);
    for (const auto& [ds, v] : st.outputs) io.outputs.push_back(ds);
    recipes.push_back(std::move(io));
  }
  bool exists = false;
  for (const auto& r : recipes)
    for (const auto& o : r.outputs) exists = exists || o == dataset;
  if (!exists)
    return Fail(Status::NotFound(
        fmt::format("no recipe of this workspace or the catalog writes dataset '{}'", dataset)));
  auto impacted = ImpactOf(recipes, dataset, depth);
  if (format == "json") {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& r : impacted)
      j.push_back({{"flow", r.flow},
                   {"recipe", r.recipe},
                   {"outputs", r.outputs},
                   {"via", r.via},
                   {"depth", r.depth}});
    std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return kExitOk;
  }
  TextTable table({"recipe", "rebuilds", "depth", "because it reads"});
  for (const auto& r : impacted) {
    std::string outs;
    for (const auto& o : r.outputs) outs += (outs.empty() ? "" : ", ") + o;
    table.AddRow({r.flow + "/" + r.recipe, outs, std::to_string(r.depth), r.via});
  }
  std::fputs(table.Render().c_str(), stdout);
  std::printf("%zu recipe%s would become stale if %s changed\n", impacted.size(),
              impacted.size() == 1 ? "" : "s", Printable(dataset).c_str());
  return kExitOk;
}

int CmdOpenLineage(const Globals& g, const std::string& run_id, bool pretty) {
  auto h = OpenHistory(g);
  if (!h.ok()) return Fail(h.status());
  auto run = h->catalog->FindRun(run_id);
  if (!run.ok()) return Fail(run.status());
  LoadedWorkspace lw = LoadWorkspaceConfig(h->root);
  auto events = OpenLineageEvents(*h->catalog, run->id,
                                  LineageOptionsFor(lw.workspace.config, run->environment));
  if (!events.ok()) return Fail(events.status());
  for (const auto& e : *events)
    std::cout << e.dump(pretty ? 2 : -1, ' ', false, nlohmann::json::error_handler_t::replace)
              << "\n";
  return kExitOk;
}

}  // namespace

void LineageCommands::AddLineage(CLI::App& app) {
  lineage_ = app.add_subcommand("lineage", "Where a dataset (or column) comes from, or goes");
  lineage_->add_option("target", lineage_target_, "DATASET or DATASET.COLUMN")->required();
  auto* up_flag = lineage_->add_flag("--upstream", lineage_up_, "What it was built from (default)");
  lineage_->add_flag("--downstream", lineage_down_, "What was built from it")->excludes(up_flag);
  lineage_->add_option("--depth", lineage_depth_, "Edges to follow (default: all)")
      ->check(CLI::NonNegativeNumber);
  lineage_->add_option("--version", lineage_version_,
                       "A version id or unique prefix (default: current)");
  lineage_->add_option("--format", lineage_format_)->check(CLI::IsMember({"text", "json", "dot"}));
}

void LineageCommands::AddImpact(CLI::App& app) {
  impact_ = app.add_subcommand("impact", "What would become stale if a dataset changed");
  impact_->add_option("target", impact_target_, "DATASET or DATASET.COLUMN")->required();
  impact_->add_option("--depth", impact_depth_, "Steps to follow (default: all)")
      ->check(CLI::NonNegativeNumber);
  impact_->add_option("--format", impact_format_)->check(CLI::IsMember({"text", "json"}));
}

void LineageCommands::AddOpenLineage(CLI::App& app) {
  openlineage_ =
      app.add_subcommand("openlineage", "A run's OpenLineage RunEvents, one JSON per line");
  openlineage_->add_option("run", ol_run_, "Run id or unique prefix")->required();
  openlineage_->add_flag("--pretty", ol_pretty_, "Indented JSON");
}

bool LineageCommands::parsed() const { return *lineage_ || *impact_ || *openlineage_; }

int LineageCommands::Run(const Globals& g) const {
  if (*lineage_)
    return CmdLineage(g, lineage_target_, lineage_down_, lineage_depth_, lineage_version_,
                      lineage_format_);
  if (*impact_) return CmdImpact(g, impact_target_, impact_depth_, impact_format_);
  if (*openlineage_) return CmdOpenLineage(g, ol_run_, ol_pretty_);
  return kExitUsage;
}

}  // namespace alambic
