#include "services/scheduler/scheduled_flows.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <fmt/format.h>

#include "core/flow/loader.h"
#include "core/vcs/git.h"
#include "services/workspace.h"

namespace alambic {

namespace {

// The flow named `name` as committed in `commit`: at `file` (its path in the
// working tree), else in any flow file of that commit.
Result<Flow> FlowAt(const std::filesystem::path& root, const std::string& commit,
                    const std::string& name, const std::string& file, const std::string& tag) {
  auto parse = [&](const std::string& path, const std::string& text) -> Result<Flow> {
    std::vector<Diagnostic> diags;
    Flow f = ParseFlow(text, path, &diags);
    if (!diags.empty())
      return Status::Invalid(fmt::format("release {}: {}", tag, diags.front().ToString()));
    return f;
  };
  auto text = GitReadFileAt(root, commit, file);
  if (text.ok()) {
    ALAMBIC_ASSIGN_OR_RETURN(Flow f, parse(file, *text));
    if (f.name == name) return f;
  }
  ALAMBIC_ASSIGN_OR_RETURN(auto files, GitListFilesAt(root, commit, "flows/"));
  for (const auto& path : files) {
    if (path == file) continue;
    auto other = GitReadFileAt(root, commit, path);
    if (!other.ok()) continue;
    std::vector<Diagnostic> diags;
    Flow f = ParseFlow(*other, path, &diags);
    if (f.name == name) return parse(path, *other);
  }
  return Status::NotFound(
      fmt::format("release {}: no flow file of flow {} in commit {}", tag, name, commit));
}

}  // namespace

Result<ScheduledFlows> LoadScheduledFlows(const std::filesystem::path& root, Catalog& catalog,
                                          const std::vector<Flow>& working_tree, bool releases_only,
                                          const std::string& env) {
  ScheduledFlows out;
  if (!releases_only) {
    out.flows = working_tree;
    return out;
  }
  for (const Flow& wt : working_tree) {
    ALAMBIC_ASSIGN_OR_RETURN(auto active, catalog.ActiveRelease(wt.name, env));
    if (!active) {
      if (wt.schedule)
        out.notes.push_back(fmt::format(
            "{}: not scheduled in {}: no active release (promote it with `alambic promote {} "
            "--to {}`)",
            wt.name, env, wt.name, env));
      continue;
    }
    ALAMBIC_ASSIGN_OR_RETURN(Flow released,
                             FlowAt(root, active->git_commit, wt.name, wt.file, active->tag));
    auto definition = [](std::optional<Schedule> s) {
      if (s) s->loc = {};
      return s;
    };
    if (definition(wt.schedule) != definition(released.schedule))
      out.notes.push_back(fmt::format(
          "{}: the working tree's schedule differs from release {}'s: the release's runs", wt.name,
          active->tag));
    out.flows.push_back(std::move(released));
  }
  return out;
}

Result<DaemonSchedules> LoadDaemonSchedules(const std::filesystem::path& root, Catalog& catalog,
                                            const std::string& env) {
  LoadedWorkspace lw = LoadWorkspace(root);
  if (!lw.ok()) {
    std::string msg;
    for (const auto& d : lw.diagnostics) msg += (msg.empty() ? "" : "\n") + d.ToString();
    return Status::Invalid(msg);
  }
  DaemonSchedules out;
  out.releases_only = RunsReleasesOnly(lw.workspace.config, env);
  ALAMBIC_ASSIGN_OR_RETURN(auto scheduled, LoadScheduledFlows(root, catalog, lw.workspace.flows,
                                                              out.releases_only, env));
  out.notes = std::move(scheduled.notes);
  for (const auto& f : scheduled.flows) {
    if (!f.schedule) continue;
    ALAMBIC_ASSIGN_OR_RETURN(FlowSchedule compiled, CompileFlowSchedule(f));
    out.flows.push_back(std::move(compiled));
  }
  return out;
}

ReleaseWatch::ReleaseWatch(std::filesystem::path catalog, std::string env)
    : path_(std::move(catalog)), env_(std::move(env)) {}

ReleaseWatch::~ReleaseWatch() = default;

Result<bool> ReleaseWatch::Changed() {
  try {
    if (!db_) {
      db_ = std::make_unique<SQLite::Database>(path_.string(), SQLite::OPEN_READONLY);
      db_->setBusyTimeout(5000);
    }
    const int64_t dv = db_->execAndGet("PRAGMA data_version").getInt64();
    if (seq_ >= 0 && dv == data_version_) return false;
    SQLite::Statement q(
        *db_, "SELECT COALESCE(MAX(seq), 0) FROM release_activations WHERE environment = ?");
    q.bind(1, env_);
    q.executeStep();
    const int64_t seq = q.getColumn(0).getInt64();
    data_version_ = dv;
    const bool changed = seq_ >= 0 && seq != seq_;
    seq_ = seq;
    return changed;
  } catch (const std::exception& e) {
    db_.reset();
    return Status::IoError(
        fmt::format("catalog {}: release activations: {}", path_.string(), e.what()));
  }
}

}  // namespace alambic
