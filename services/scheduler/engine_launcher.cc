#include "services/scheduler/engine_launcher.h"

#include <fmt/format.h>

#include "core/exec/run.h"
#include "core/exec/session.h"
#include "core/flow/loader.h"
#include "core/vcs/promotion.h"

namespace alambic {

Result<LaunchedRun> EngineLauncher::Launch(const ScheduledRunRequest& req,
                                           const CancelToken& cancel,
                                           const std::function<void(const std::string&)>& started) {
  std::lock_guard lock(mu_);
  LoadedWorkspace config = LoadWorkspaceConfig(root_);
  const WorkspaceConfig& cfg = config.workspace.config;
  auto spec = cfg.environments.find(req.environment);
  if (spec == cfg.environments.end())
    return Status::Invalid(fmt::format("unknown environment '{}'", req.environment));
  const bool releases_only = req.environment == kWarehouse || spec->second.releases_only;
  SessionOptions so;
  RunOptions opts;
  if (releases_only) {
    ALAMBIC_ASSIGN_OR_RETURN(auto catalog, Catalog::Open(root_ / ".alambic" / "catalog.db"));
    ALAMBIC_ASSIGN_OR_RETURN(ReleaseCheckout checkout,
                             CheckoutActiveRelease(*catalog, root_, req.flow, req.environment));
    so.code_root = checkout.code_root;
    opts.release = fmt::format("{}/{}", req.flow, checkout.release.number);
  }
  auto session = Session::Open(root_, req.environment,
                               kinds_(so.code_root.empty() ? root_ : so.code_root), so);
  if (!session.ok()) return session.status();
  if (req.lease_token != 0)
    (*session)->catalog().SetFence(req.workspace, req.environment, req.lease_token);
  opts.plan.flows = {req.flow};
  opts.exec.stop = &cancel;
  opts.trigger = req.trigger;
  opts.user = req.requested_by;
  opts.run_id = req.run_id;
  struct Observer final : RunObserver {
    const std::function<void(const std::string&)>* started;
    void RunStarted(const RunRecord& run, const Plan&) override {
      if (*started) (*started)(run.id);
    }
  } observer;
  observer.started = &started;
  ALAMBIC_ASSIGN_OR_RETURN(RunSummary summary, RunFlows(**session, opts, &observer));
  return LaunchedRun{summary.run.id, summary.run.status, summary.run.error};
}

}  // namespace alambic
