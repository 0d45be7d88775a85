#include "ui/cli/inspect_commands.h"

#include <cstdio>
#include <limits>
#include <map>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "catalog/catalog.h"
#include "core/exec/run.h"
#include "ui/common/progress.h"
#include "ui/common/text_table.h"

namespace fs = std::filesystem;

namespace alambic {
namespace {

std::string CommitLabel(const RunRecord& r) {
  if (r.git_commit.empty()) return "-";
  return r.git_commit.substr(0, 10) + (r.git_dirty ? "+" : "");
}

OJson RunJson(const RunRecord& r) {
  return {{"id", r.id},
          {"status", r.status},
          {"environment", r.environment},
          {"started_at", r.started_at},
          {"finished_at", r.finished_at.empty() ? OJson() : OJson(r.finished_at)},
          {"trigger", r.trigger},
          {"user", r.user},
          {"commit", r.git_commit.empty() ? OJson() : OJson(r.git_commit)},
          {"dirty", r.git_dirty},
          {"flows", r.flows},
          {"release", r.release.empty() ? OJson() : OJson(r.release)},
          {"error", r.error.empty() ? OJson() : OJson(r.error)}};
}

// With --env, only that environment's runs; else every environment's.
int CmdRuns(const Globals& g, int limit, const std::string& format) {
  auto h = OpenHistory(g, /*read_only=*/true);
  if (!h.ok()) return Fail(h.status());
  auto runs = h->catalog->ListRuns(g.env.empty() ? limit : std::numeric_limits<int>::max());
  if (!runs.ok()) return Fail(runs.status());
  if (!g.env.empty()) {
    std::erase_if(*runs, [&](const RunRecord& r) { return r.environment != h->env; });
    if (runs->size() > static_cast<size_t>(limit)) runs->resize(static_cast<size_t>(limit));
  }
  // The Slurm job ids of each run's recipes (the Slurm executor records them
  // per recipe, one per attempt), "flow/recipe" -> ids.
  std::vector<std::vector<std::pair<std::string, std::vector<std::string>>>> jobs(runs->size());
  bool any_jobs = false;
  for (size_t i = 0; i < runs->size(); ++i) {
    auto recipes = h->catalog->RecipeRuns((*runs)[i].id);
    if (!recipes.ok()) return Fail(recipes.status());
    for (const auto& rr : *recipes) {
      auto it = rr.metrics.find("slurm_jobs");
      if (it == rr.metrics.end() || !it->is_array()) continue;
      std::vector<std::string> ids;
      for (const auto& id : *it)
        if (id.is_string()) ids.push_back(id.get<std::string>());
      if (ids.empty()) continue;
      jobs[i].emplace_back(rr.flow + "/" + rr.recipe, std::move(ids));
      any_jobs = true;
    }
  }
  if (format == "json") {
    OJson out = OJson::array();
    for (size_t i = 0; i < runs->size(); ++i) {
      OJson j = RunJson((*runs)[i]);
      OJson by_recipe = OJson::object();
      for (const auto& [recipe, ids] : jobs[i]) by_recipe[recipe] = ids;
      j["slurm_jobs"] = std::move(by_recipe);
      out.push_back(std::move(j));
    }
    PrintJson(out);
    return kExitOk;
  }
  // The release column only when a run listed ran one; the Slurm jobs column
  // only when a run listed ran recipes as Slurm jobs.
  bool releases = false;
  for (const auto& r : *runs) releases = releases || !r.release.empty();
  std::vector<std::string> header = {"run",     "status", "env",  "started",
                                     "trigger", "commit", "flows"};
  if (releases) header.push_back("release");
  if (any_jobs) header.push_back("slurm jobs");
  TextTable table(header);
  for (size_t i = 0; i < runs->size(); ++i) {
    const RunRecord& r = (*runs)[i];
    std::vector<std::string> row = {r.id.substr(0, kShortIdLength),
                                    r.status,
                                    r.environment,
                                    r.started_at,
                                    r.trigger,
                                    CommitLabel(r),
                                    r.flows};
    if (releases) row.push_back(r.release.empty() ? "-" : r.release);
    if (any_jobs) {
      // "123 124" for one recipe; "recipe: 123, other: 125" for several.
      std::string cell;
      for (const auto& [recipe, ids] : jobs[i]) {
        std::string list;
        for (const auto& id : ids) list += (list.empty() ? "" : " ") + id;
        cell += (cell.empty() ? "" : ", ") +
                (jobs[i].size() == 1 ? list : recipe.substr(recipe.find('/') + 1) + ": " + list);
      }
      row.push_back(cell.empty() ? "-" : Printable(cell));
    }
    table.AddRow(std::move(row));
  }
  std::fputs(table.Render().c_str(), stdout);
  return kExitOk;
}

std::string DurationOf(const RecipeRunRecord& r) {
  return r.attempts > 0 ? FormatDuration(r.duration_ms / 1000) : "-";
}

OJson RecipeRunJson(const RecipeRunRecord& r, bool with_log) {
  auto opt = [](const std::string& v) { return v.empty() ? OJson() : OJson(v); };
  OJson outputs = OJson::object(), inputs = OJson::object();
  for (const auto& [ds, id] : r.inputs) inputs[ds] = id;
  for (const auto& [ds, id] : r.outputs) outputs[ds] = id;
  OJson j = {{"flow", r.flow},
             {"recipe", r.recipe},
             {"kind", r.kind},
             {"status", r.status},
             {"reason", r.reason},
             {"attempts", r.attempts},
             {"started_at", opt(r.started_at)},
             {"finished_at", opt(r.finished_at)},
             {"duration_ms", r.duration_ms},
             {"rows_in", r.rows_in},
             {"rows_out", r.rows_out},
             {"bytes_out", r.bytes_out},
             {"error", opt(r.error)},
             {"metrics", r.metrics},
             {"inputs", std::move(inputs)},
             {"outputs", std::move(outputs)}};
  if (with_log) j["log"] = r.log;
  return j;
}

int CmdLog(const Globals& g, const std::string& run_id, const std::string& recipe,
           const std::string& format) {
  auto h = OpenHistory(g, /*read_only=*/true);
  if (!h.ok()) return Fail(h.status());
  auto run = h->catalog->FindRun(run_id);
  if (!run.ok()) return Fail(run.status());
  auto recipes = h->catalog->RecipeRuns(run->id);
  if (!recipes.ok()) return Fail(recipes.status());
  if (recipe.empty() && format == "json") {
    OJson list = OJson::array();
    for (const auto& r : *recipes) list.push_back(RecipeRunJson(r, false));
    OJson out = RunJson(*run);
    out["recipes"] = std::move(list);
    PrintJson(out);
    return kExitOk;
  }
  if (recipe.empty()) {
    std::printf(
        "run       %s\nstatus    %s\nflows     %s\nenv       %s\ntrigger   %s\nuser      %s\n"
        "commit    %s\nstarted   %s\nfinished  %s\n",
        run->id.c_str(), run->status.c_str(), run->flows.c_str(), run->environment.c_str(),
        run->trigger.c_str(), Printable(run->user).c_str(),
        run->git_commit.empty()
            ? "-"
            : (run->git_commit + (run->git_dirty ? " (dirty working tree)" : "")).c_str(),
        run->started_at.c_str(), run->finished_at.empty() ? "-" : run->finished_at.c_str());
    if (!run->release.empty()) std::printf("release   %s\n", Printable(run->release).c_str());
    if (!run->error.empty())
      std::printf("error     %s\n", PrintableLines(run->error, "          ").c_str());
    bool ran = false;
    for (const auto& r : *recipes) ran = ran || r.status != "up_to_date";
    if (!ran) std::printf("\nnothing was run: every selected recipe was up to date\n");
    TextTable table({"recipe", "status", "attempts", "rows in", "rows out", "duration", "reason"},
                    80);
    for (size_t i : {2, 3, 4, 5}) table.AlignRight(i);
    for (const auto& r : *recipes)
      table.AddRow({r.flow + "/" + r.recipe, r.status, std::to_string(r.attempts),
                    FormatCount(r.rows_in), FormatCount(r.rows_out), DurationOf(r), r.reason});
    if (table.rows() > 0) std::printf("\n%s", table.Render().c_str());
    // Recipes run as cluster jobs (the Slurm executor): their job ids, one per attempt.
    std::string jobs;
    for (const auto& r : *recipes) {
      auto it = r.metrics.find("slurm_jobs");
      if (it == r.metrics.end() || !it->is_array()) continue;
      std::string ids;
      for (const auto& id : *it)
        if (id.is_string()) ids += (ids.empty() ? "" : " ") + id.get<std::string>();
      jobs += "  " + Printable(fmt::format("{}/{}: {}", r.flow, r.recipe, ids)) + "\n";
    }
    if (!jobs.empty()) std::printf("\nSlurm jobs\n%s", jobs.c_str());
    return kExitOk;
  }
  const RecipeRunRecord* found = nullptr;
  for (const auto& r : *recipes)
    if (r.recipe == recipe || r.flow + "/" + r.recipe == recipe) {
      if (found)
        return Fail(Status::Invalid(fmt::format(
            "recipe '{}' is ambiguous in run {}: name it as FLOW/RECIPE", recipe, run->id)));
      found = &r;
    }
  if (!found)
    return Fail(Status::NotFound(fmt::format("run {} has no recipe '{}'", run->id, recipe)));
  const RecipeRunRecord& r = *found;
  if (format == "json") {
    PrintJson(RecipeRunJson(r, true));
    return kExitOk;
  }
  std::printf(
      "recipe    %s/%s (%s)\nrun       %s\nstatus    %s\nreason    %s\nattempts  %d\n"
      "started   %s\nfinished  %s\nduration  %s\nrows in   %s\nrows out  %s\nbytes out "
      "%s\n",
      Printable(r.flow).c_str(), Printable(r.recipe).c_str(), r.kind.c_str(), r.run_id.c_str(),
      r.status.c_str(), Printable(r.reason).c_str(), r.attempts,
      r.started_at.empty() ? "-" : r.started_at.c_str(),
      r.finished_at.empty() ? "-" : r.finished_at.c_str(), DurationOf(r).c_str(),
      FormatCount(r.rows_in).c_str(), FormatCount(r.rows_out).c_str(),
      FormatCount(r.bytes_out).c_str());
  if (!r.error.empty())
    std::printf("error     %s\n", PrintableLines(r.error, "          ").c_str());
  if (!r.metrics.empty())
    std::printf("metrics   %s\n",
                r.metrics.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  if (!r.outputs.empty()) {
    std::string outs;
    for (const auto& [ds, id] : r.outputs)
      outs += (outs.empty() ? "" : ", ") + ds + " " + id.substr(0, kVersionDisplayLength);
    std::printf("outputs   %s\n", Printable(outs).c_str());
  }
  std::printf("\n");
  // Log lines are untrusted text (they quote data): escape each line, keep the breaks.
  size_t pos = 0;
  const std::string& log = r.log;
  while (pos < log.size()) {
    size_t nl = log.find('\n', pos);
    if (nl == std::string::npos) nl = log.size();
    std::printf("%s\n", Printable(std::string_view(log).substr(pos, nl - pos)).c_str());
    pos = nl + 1;
  }
  return kExitOk;
}

struct StatusRow {
  std::string dataset, flow, version, state, stale_reason, updated_at, run, release;
  std::optional<int64_t> rows;
  bool built = false;
};

// Adds a row per dataset of `s` (of `flow` only, unless empty) to `rows`.
Status AddStatusRows(Session& s, const std::string& flow, std::vector<StatusRow>* rows);

void AddStatusRows(const std::vector<StatusRow>& rows, TextTable* table) {
  for (const auto& r : rows) {
    if (!r.built) {
      table->AddRow({r.dataset, r.flow, "-", "never built", "-", "-", "-"});
      continue;
    }
    std::string last_run = r.run.substr(0, kShortIdLength);
    if (!r.release.empty()) last_run += " (" + r.release + ")";
    table->AddRow({r.dataset, r.flow, r.version.substr(0, kVersionDisplayLength),
                   r.stale_reason.empty() ? r.state : r.state + ": " + r.stale_reason,
                   FormatCount(r.rows.value_or(0)), r.updated_at, last_run});
  }
}

int CmdStatus(const Globals& g, const std::string& format) {
  std::vector<StatusRow> rows;
  if (format == "json") {
    auto releases = OpenReleaseSessions(g, {});
    if (!releases.ok()) return Fail(releases.status());
    if (*releases) {
      for (auto& rs : **releases)
        if (Status st = AddStatusRows(*rs.session, rs.flow, &rows); !st.ok()) return Fail(st);
    } else {
      auto session = OpenSession(g);
      if (!session.ok()) return Fail(session.status());
      if (Status st = AddStatusRows(**session, "", &rows); !st.ok()) return Fail(st);
    }
    OJson out = OJson::array();
    auto opt = [](const std::string& v) { return v.empty() ? OJson() : OJson(v); };
    for (const auto& r : rows)
      out.push_back({{"dataset", r.dataset},
                     {"flow", r.flow},
                     {"version", opt(r.version)},
                     {"state", r.state},
                     {"reason", opt(r.stale_reason)},
                     {"rows", r.rows ? OJson(*r.rows) : OJson()},
                     {"updated_at", opt(r.updated_at)},
                     {"run", opt(r.run)},
                     {"release", opt(r.release)}});
    PrintJson(out);
    return kExitOk;
  }
  TextTable table({"dataset", "flow", "version", "state", "rows", "updated", "last run"}, 100);
  table.AlignRight(4);
  auto releases = OpenReleaseSessions(g, {});
  if (!releases.ok()) return Fail(releases.status());
  if (*releases) {
    for (auto& rs : **releases) {
      std::fputs(ReleaseHeading(rs).c_str(), stdout);
      rows.clear();
      if (Status st = AddStatusRows(*rs.session, rs.flow, &rows); !st.ok()) return Fail(st);
      AddStatusRows(rows, &table);
    }
  } else {
    auto session = OpenSession(g, /*read_only=*/true);
    if (!session.ok()) return Fail(session.status());
    if (Status st = AddStatusRows(**session, "", &rows); !st.ok()) return Fail(st);
    AddStatusRows(rows, &table);
  }
  std::fputs(table.Render().c_str(), stdout);
  return kExitOk;
}

Status AddStatusRows(Session& s, const std::string& flow, std::vector<StatusRow>* rows) {
  PlanOptions options;
  if (!flow.empty()) options.flows = {flow};
  ALAMBIC_ASSIGN_OR_RETURN(Plan plan_value, s.MakePlan(options));
  const Plan* plan = &plan_value;
  ALAMBIC_ASSIGN_OR_RETURN(auto current_value, s.catalog().CurrentVersions(s.environment()));
  const auto* current = &current_value;
  std::map<std::string, const CurrentVersion*> cur;
  for (const auto& c : *current) cur[c.dataset] = &c;
  std::map<int, const RecipePlan*> by_node;
  for (const auto& rp : plan->recipes) by_node[rp.node] = &rp;

  for (int i = 0; i < s.graph().size(); ++i) {
    const RecipeNode& node = s.graph().node(i);
    if (!flow.empty() && node.flow->name != flow) continue;
    auto pit = by_node.find(i);
    for (size_t k = 0; k < node.recipe->outputs.size(); ++k) {
      const std::string& ds = node.recipe->outputs[k];
      auto cit = cur.find(ds);
      StatusRow row;
      row.dataset = ds;
      row.flow = node.flow->name;
      if (cit == cur.end()) {
        row.state = "never built";
        rows->push_back(std::move(row));
        continue;
      }
      const CurrentVersion& c = *cit->second;
      row.built = true;
      row.state = "fresh";
      if (pit != by_node.end()) {
        const RecipePlan& rp = *pit->second;
        if (rp.decision == Decision::kRun) {
          row.state = "stale";
          row.stale_reason = rp.explanation;
        } else if (k < rp.output_versions.size() && rp.output_versions[k] != c.version_id) {
          row.state = "stale";
          row.stale_reason = "another built version matches the flow";
        }
      }
      row.version = c.version_id;
      row.rows = c.rows;
      row.updated_at = c.updated_at;
      row.run = c.run_id;
      row.release = c.release;
      rows->push_back(std::move(row));
    }
  }
  return Status::Ok();
}

}  // namespace

void InspectCommands::AddRuns(CLI::App& app) {
  runs_ = app.add_subcommand("runs", "Recent runs, newest first");
  runs_->add_option("-n", runs_limit_, "How many")->check(CLI::PositiveNumber);
  AddFormat(runs_, &runs_format_);
}

void InspectCommands::AddLog(CLI::App& app) {
  log_ = app.add_subcommand("log", "A run and its recipes, or one recipe's log");
  log_->add_option("run", log_run_, "Run id or unique prefix")->required();
  log_->add_option("recipe", log_recipe_, "Recipe (or FLOW/RECIPE)");
  AddFormat(log_, &log_format_);
}

void InspectCommands::AddStatus(CLI::App& app) {
  status_ = app.add_subcommand("status", "Every dataset: version, fresh or stale, last run");
  AddFormat(status_, &status_format_);
}

bool InspectCommands::parsed() const { return *runs_ || *log_ || *status_; }

int InspectCommands::Run(const Globals& g) const {
  if (*runs_) return CmdRuns(g, runs_limit_, runs_format_);
  if (*log_) return CmdLog(g, log_run_, log_recipe_, log_format_);
  if (*status_) return CmdStatus(g, status_format_);
  return kExitUsage;
}

}  // namespace alambic
