#include "services/scheduler/engine_launcher.h"

#include <atomic>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "core/base/crash_point.h"
#include "services/runs.h"

namespace alambic {

namespace {

// Tells the scheduler the run's id once it is created, logs the run's warnings
// (named by the flow and slot), and passes the run's steps to the crash hook
// (core/base/crash_point.h).
class LaunchListener final : public RunListener, public RunObserver {
 public:
  LaunchListener(const std::function<void(const std::string&)>& started,
                 const std::function<void(const std::string&)>& log, std::string prefix)
      : started_(started), log_(log), prefix_(std::move(prefix)) {}
  void Warning(const std::string& message) override {
    if (log_) log_(prefix_ + message);
  }
  RunObserver* ObserverForRun() override { return this; }
  void RunStarted(const RunRecord& run, const Plan&) override {
    CrashPoint("run_created");
    if (started_) started_(run.id);
  }
  void RecipeStarted(const RecipeNode&, int) override {
    if (!recipe_started_.exchange(true)) CrashPoint("run_started");
  }

 private:
  const std::function<void(const std::string&)>& started_;
  const std::function<void(const std::string&)>& log_;
  const std::string prefix_;
  std::atomic<bool> recipe_started_{false};
};

}  // namespace

Result<LaunchedRun> EngineLauncher::Launch(const ScheduledRunRequest& req,
                                           const CancelToken& cancel,
                                           const std::function<void(const std::string&)>& started) {
  std::lock_guard lock(mu_);
  RunRequest r;
  r.env = req.environment;
  r.selection.flows = {req.flow};
  r.requested_by = req.requested_by;
  r.trigger = req.trigger;
  r.cancel = &cancel;
  r.run_id = req.run_id;
  r.lease_workspace = req.workspace;
  r.lease_token = req.lease_token;
  // A slot whose time came while a manual run or gc holds the workspace waits for it, as
  // the scheduler's own runs wait for each other (mu_); a manual trigger is refused.
  r.wait_for_lock = !req.nominal.empty();
  LaunchListener listener(
      started, log_,
      req.nominal.empty() ? req.flow + ": " : fmt::format("{} {}: ", req.flow, req.nominal));
  ALAMBIC_ASSIGN_OR_RETURN(RunOutcome outcome, RunWorkspace(root_, r, &listener));
  if (outcome.verdict == RunVerdict::kRefused) return outcome.refusal;
  if (outcome.runs.empty()) {
    if (outcome.verdict == RunVerdict::kCancelled)
      return LaunchedRun{"", "cancelled", "cancelled before the run started", {}};
    return Status::Failed(fmt::format("{}: no run was recorded", req.flow));
  }
  const RunSummary& summary = outcome.runs.front();
  LaunchedRun launched{summary.run.id, summary.run.status, summary.run.error, {}};
  for (const RecipeRunRecord& rec : summary.recipes) {
    if (!rec.metrics.is_object() || !rec.metrics.contains("checks") ||
        !rec.metrics["checks"].is_array())
      continue;
    for (const auto& c : rec.metrics["checks"])
      if (c.value("severity", "") == "warn" && !c.value("passed", true))
        launched.warnings.push_back(
            fmt::format("recipe {}: {}", rec.recipe, c.value("message", std::string())));
  }
  return launched;
}

}  // namespace alambic
