#include "ui/cli/catalog_commands.h"

#include <cstdio>
#include <iostream>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "catalog/usecase.h"
#include "services/catalog_sync.h"
#include "ui/common/progress.h"
#include "ui/common/text_table.h"

namespace fs = std::filesystem;

namespace alambic {
namespace {

Result<LabSync> Sync(const Globals& g) {
  ALAMBIC_ASSIGN_OR_RETURN(fs::path root, WorkspaceRoot(g));
  return SyncLabCatalog(root, g.env);
}

// The lab catalog, after registering the workspace in it.
Result<std::unique_ptr<LabCatalog>> SyncedLab(const Globals& g) {
  ALAMBIC_ASSIGN_OR_RETURN(LabSync sync, Sync(g));
  return std::move(sync.lab);
}

int CmdCatalogSync(const Globals& g) {
  auto sync = Sync(g);
  if (!sync.ok()) return Fail(sync.status());
  const WorkspaceSnapshot& snap = sync->snapshot;
  std::string summary = fmt::format(
      "registered workspace {} in {}: {} use case{}, {} flow{}, {} dataset{}", snap.name,
      sync->path.string(), snap.cards.size(), snap.cards.size() == 1 ? "" : "s", snap.flows.size(),
      snap.flows.size() == 1 ? "" : "s", snap.datasets.size(),
      snap.datasets.size() == 1 ? "" : "s");
  for (const auto& f : sync->without_card) {
    if (f.usecase.empty())
      summary += fmt::format("\nnote: flow {} names no use case", f.flow);
    else
      summary +=
          fmt::format("\nnote: flow {} names use case '{}', which has no card", f.flow, f.usecase);
  }
  std::printf("%s\n", Printable(summary).c_str());
  return kExitOk;
}

int CmdCatalogSearch(const Globals& g, const std::string& text, const std::string& format) {
  auto lab = SyncedLab(g);
  if (!lab.ok()) return Fail(lab.status());
  auto hits = (*lab)->Search(text, 50);
  if (!hits.ok()) return Fail(hits.status());
  if (format == "json") {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& h : *hits)
      j.push_back({{"kind", h.kind},
                   {"ref", h.ref},
                   {"workspace", h.workspace},
                   {"title", h.title},
                   {"snippet", h.snippet}});
    std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return kExitOk;
  }
  TextTable table({"kind", "name", "workspace", "match"}, 100);
  for (const auto& h : *hits) {
    std::string snippet = h.snippet;
    for (char& c : snippet)
      if (c == '\n') c = ' ';
    table.AddRow({h.kind, h.ref, h.workspace, snippet});
  }
  std::fputs(table.Render().c_str(), stdout);
  std::printf("%zu match%s\n", hits->size(), hits->size() == 1 ? "" : "es");
  return kExitOk;
}

std::string LastRunOf(const LabFlow& f) {
  if (f.last_runs.empty()) return "never run";
  const LabRun& r = f.last_runs.front();
  return fmt::format("{} {} ({})", r.id.substr(0, kShortIdLength), r.status, r.started_at);
}

int CmdUsecaseList(const Globals& g, const UseCaseFilter& filter, const std::string& format) {
  auto lab = SyncedLab(g);
  if (!lab.ok()) return Fail(lab.status());
  auto list = (*lab)->ListUseCases(filter);
  if (!list.ok()) return Fail(list.status());
  if (format == "json") {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& e : *list) {
      nlohmann::json card = UseCaseJson(e.card);
      card["workspace"] = e.workspace;
      card["health"] = e.health;
      j.push_back(std::move(card));
    }
    std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return kExitOk;
  }
  TextTable table({"id", "title", "status", "priority", "owner", "flows", "health"}, 100);
  for (const auto& e : *list)
    table.AddRow({e.card.id, e.card.title, e.card.status, e.card.priority, e.card.owner,
                  std::to_string(e.flows.size()), e.health});
  std::fputs(table.Render().c_str(), stdout);
  std::printf("%zu use case%s\n", list->size(), list->size() == 1 ? "" : "s");
  return kExitOk;
}

int CmdUsecaseShow(const Globals& g, const std::string& id, const std::string& format) {
  auto lab = SyncedLab(g);
  if (!lab.ok()) return Fail(lab.status());
  auto found = (*lab)->FindUseCase(id);
  if (!found.ok()) return Fail(found.status());
  if (!*found) {
    std::string known;
    if (auto all = (*lab)->ListUseCases({}); all.ok())
      for (const auto& e : *all) known += (known.empty() ? "" : ", ") + e.card.id;
    return Fail(Status::NotFound(fmt::format("no use case '{}' in the catalog (known: {})", id,
                                             known.empty() ? "none" : known)));
  }
  const UseCaseEntry& e = **found;
  const UseCaseCard& c = e.card;
  if (format == "json") {
    nlohmann::json j = UseCaseJson(c);
    j["workspace"] = e.workspace;
    j["health"] = e.health;
    j["history"] = nlohmann::json::array();
    for (const auto& h : e.history)
      j["history"].push_back({{"status", h.status},
                              {"reason", h.reason},
                              {"changed_at", h.changed_at},
                              {"git_commit", h.git_commit},
                              {"workspace", h.workspace}});
    j["flows"] = nlohmann::json::array();
    for (const auto& [w, f] : e.flows) {
      nlohmann::json runs = nlohmann::json::array();
      for (const auto& r : f.last_runs)
        runs.push_back({{"id", r.id},
                        {"status", r.status},
                        {"started_at", r.started_at},
                        {"finished_at", r.finished_at}});
      j["flows"].push_back({{"workspace", w}, {"flow", f.name}, {"last_runs", runs}});
    }
    j["datasets"] = nlohmann::json::array();
    for (const auto& [w, d] : e.datasets)
      j["datasets"].push_back({{"workspace", w},
                               {"dataset", d.name},
                               {"flow", d.flow},
                               {"version", d.version_id},
                               {"rows", d.rows},
                               {"updated_at", d.updated_at},
                               {"state", d.state}});
    std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return kExitOk;
  }
  std::string out = fmt::format("{}  {}\n", c.id, c.title);
  auto line = [&](const char* label, const std::string& v) {
    if (!v.empty()) out += fmt::format("{:<12} {}\n", label, v);
  };
  line("status:", c.status + (c.reason.empty() ? "" : " — " + c.reason));
  line("priority:", c.priority);
  line("owner:", c.owner + (c.team.empty() ? "" : " (" + c.team + ")"));
  line("direction:", c.direction);
  line("ministry:", c.ministry);
  std::string tags;
  for (const auto& t : c.tags) tags += (tags.empty() ? "" : ", ") + t;
  line("tags:", tags);
  line("workspace:", e.workspace + " (" + c.file + ")");
  line("health:", e.health);
  if (!c.description.empty())
    out += "\n" + c.description + (c.description.back() == '\n' ? "" : "\n");
  if (!c.expected_benefits.empty() || !c.measured_benefits.empty() || !c.kpis.empty()) {
    out += "\nbenefits\n";
    line("  expected:", c.expected_benefits);
    line("  measured:", c.measured_benefits);
    if (!c.kpis.empty()) {
      TextTable kpis({"kpi", "unit", "expected", "measured", "date"});
      auto num = [](const std::optional<double>& v) {
        return v ? fmt::format("{:g}", *v) : std::string("-");
      };
      for (const auto& k : c.kpis)
        kpis.AddRow({k.name, k.unit, num(k.expected), num(k.measured), k.date});
      out += kpis.Render();
    }
  }
  if (!c.links.empty()) {
    out += "\nlinks\n";
    for (const auto& l : c.links) out += fmt::format("  [{}] {} {}\n", l.type, l.title, l.url);
  }
  if (!c.sources.empty()) {
    out += "\ndata sources\n";
    for (const auto& s : c.sources)
      out += fmt::format("  {}{}{}\n", s.name, s.dataset.empty() ? "" : " -> " + s.dataset,
                         s.description.empty() ? "" : ": " + s.description);
  }
  out += "\nflows\n";
  if (e.flows.empty()) out += "  (no flow names this use case)\n";
  for (const auto& [w, f] : e.flows)
    out += fmt::format("  {}/{}  last run: {}{}\n", w, f.name, LastRunOf(f),
                       f.schedule.empty() ? "" : "  schedule: " + f.schedule);
  if (!e.datasets.empty()) {
    out += "\ndatasets\n";
    TextTable ds({"dataset", "flow", "version", "rows", "updated", "freshness"}, 100);
    ds.AlignRight(3);
    for (const auto& [w, d] : e.datasets)
      ds.AddRow({d.name, w + "/" + d.flow,
                 d.version_id.empty() ? "-" : d.version_id.substr(0, kVersionDisplayLength),
                 d.version_id.empty() ? "-" : FormatCount(d.rows),
                 d.updated_at.empty() ? "-" : d.updated_at, d.state});
    out += ds.Render();
  }
  out += "\nstatus history\n";
  for (const auto& h : e.history)
    out += fmt::format(
        "  {}  {}{}{}\n", h.changed_at, h.status, h.reason.empty() ? "" : " — " + h.reason,
        h.git_commit.empty() ? "" : "  (commit " + h.git_commit.substr(0, kShortIdLength) + ")");
  // Card text is untrusted: escape control characters, keep the lines.
  for (size_t pos = 0; pos < out.size();) {
    size_t nl = out.find('\n', pos);
    if (nl == std::string::npos) nl = out.size();
    std::printf("%s\n", Printable(std::string_view(out).substr(pos, nl - pos)).c_str());
    pos = nl + 1;
  }
  return kExitOk;
}

}  // namespace

void CatalogCommands::AddUsecase(CLI::App& app) {
  auto* usecase = app.add_subcommand("usecase", "The use-case catalog (usecases/*.yaml)");
  usecase->require_subcommand(1);
  usecase_list_ = usecase->add_subcommand("list", "Use cases of the lab catalog");
  usecase_list_->add_option("--status", usecase_filter_.status, "Only this status")
      ->check(CLI::IsMember({"idea", "poc", "preprod", "production", "abandoned"}));
  usecase_list_->add_option("--tag", usecase_filter_.tag, "Only use cases with this tag");
  usecase_list_->add_option("--search", usecase_filter_.search,
                            "Full-text search (use cases, their datasets and columns)");
  usecase_list_->add_option("--format", usecase_format_)->check(CLI::IsMember({"text", "json"}));
  usecase_show_ = usecase->add_subcommand("show", "A use case: card, flows, datasets, runs");
  usecase_show_->add_option("id", usecase_id_)->required();
  usecase_show_->add_option("--format", usecase_format_)->check(CLI::IsMember({"text", "json"}));
}

void CatalogCommands::AddCatalog(CLI::App& app) {
  auto* catalog = app.add_subcommand("catalog", "The lab catalog shared by workspaces");
  catalog->require_subcommand(1);
  catalog_sync_ =
      catalog->add_subcommand("sync", "Register this workspace's use cases, flows and datasets");
  catalog_search_ =
      catalog->add_subcommand("search", "Full-text search over use cases, datasets and columns");
  catalog_search_->add_option("text", search_text_)->required();
  catalog_search_->add_option("--format", search_format_)->check(CLI::IsMember({"text", "json"}));
}

bool CatalogCommands::parsed() const {
  return *usecase_list_ || *usecase_show_ || *catalog_sync_ || *catalog_search_;
}

int CatalogCommands::Run(const Globals& g) const {
  if (*usecase_list_) return CmdUsecaseList(g, usecase_filter_, usecase_format_);
  if (*usecase_show_) return CmdUsecaseShow(g, usecase_id_, usecase_format_);
  if (*catalog_sync_) return CmdCatalogSync(g);
  if (*catalog_search_) return CmdCatalogSearch(g, search_text_, search_format_);
  return kExitUsage;
}

}  // namespace alambic
