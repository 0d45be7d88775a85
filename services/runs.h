// Runs as a library: one request (environment, selection, who asked and why)
// gives the runs recorded, or the refusal and its audit entry, and the verdict
// (succeeded, failed, cancelled, refused) as data. An environment that runs
// only releases (the warehouse) runs each selected flow from a clone of its
// active release; a flow without one is refused, and the refusal is audited
// (who tried to run what, and why not). Nothing here prints: progress, skipped
// flows and warnings go to a RunListener (the CLI prints them, the daemon logs
// them). See docs/architecture.md, "Services".
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "catalog/openlineage.h"
#include "core/base/cancel.h"
#include "core/base/status.h"
#include "core/exec/run.h"
#include "core/exec/session.h"
#include "core/plan/plan.h"

namespace alambic {

struct RunRequest {
  std::string env;        // "" : the workspace's default environment
  PlanOptions selection;  // flows (all when none), only / from / to, force
  int jobs = 0;           // 0 : the number of cores
  bool keep_going = false;
  std::string executor;  // "local" or "slurm": instead of the environment's; "" : as configured
  bool handle_signals = false;     // SIGINT / SIGTERM stop the run (the CLI's Ctrl-C)
  std::string requested_by;        // recorded as the run's user; "" : the current user
  std::string trigger = "manual";  // manual, schedule, catchup, ...
  // Checked before each flow starts: once cancelled, no further flow starts and
  // the verdict is kCancelled. The executor polls it too: a flow already
  // running stops (its run is recorded as cancelled).
  const CancelToken* cancel = nullptr;
  // While another run or gc holds the workspace's lock: wait for it (until `cancel`),
  // telling the listener (Warning) once, instead of failing at once (RunOptions).
  bool wait_for_lock = false;
  // The id of the first run created ("": a new UUID), chosen by a caller that
  // records it first (the scheduler, on its slot).
  std::string run_id;
  // A lease's fencing token (0: none): the runs' catalog writes are refused
  // once another holder took the lease of (lease_workspace, env), so a
  // scheduler that lost its lease cannot publish (Catalog::SetFence).
  std::string lease_workspace;
  int64_t lease_token = 0;
  // The process exits once the request returns (the CLI): the session's memory
  // is left to the process's end (Session::CloseAndLeaveToExit), its catalog
  // and store closed as usual.
  bool process_exits_after = false;
};

enum class RunVerdict {
  kSucceeded,  // every run succeeded (or nothing was due)
  kFailed,     // a run failed, or could not run (error)
  kCancelled,  // a run was stopped, or `cancel` was set
  kRefused,    // a warehouse run was refused (no active release, bad checkout): audited
};

struct RunOutcome {
  // Every run recorded, in order (one per flow in a releases-only environment,
  // else one). Each ran its flows to the end (run.status says how).
  std::vector<RunSummary> runs;
  RunVerdict verdict = RunVerdict::kSucceeded;
  // Set when refused: why (the runs before the refusal stand).
  Status refusal;
  // The audit entry of the refusal, as recorded in the catalog (seq: its id in
  // the audit log).
  std::optional<AuditEntry> refusal_audit;
  // Appending the refusal's audit entry failed (the refusal stands).
  Status audit_error;
};

// Receives what a run reports besides its records. Every method has a default
// that does nothing; RunObserver's are called by the executor's threads.
class RunListener {
 public:
  virtual ~RunListener() = default;
  // A flow of a releases-only environment is about to run from `release`.
  virtual void ReleaseStarting(const std::string& /*flow*/, const ReleaseRecord& /*release*/) {}
  // With no flow named, a flow without a release in the environment is skipped.
  virtual void FlowSkipped(const std::string& /*flow*/, const std::string& /*env*/) {}
  // Something the user should know that did not change the verdict
  // (OpenLineage events not sent).
  virtual void Warning(const std::string& /*message*/) {}
  // The observer of the next run (nullptr: none), asked once before each run.
  virtual RunObserver* ObserverForRun() { return nullptr; }
};

// Runs `request` in the workspace at `root` (FindWorkspace). A non-ok Result:
// a run of the working tree could not start or its bookkeeping failed (no
// audit entry); refusals of a releases-only environment are in the outcome.
// After each run its OpenLineage events go to the configured endpoint (a
// failure is a Warning).
Result<RunOutcome> RunWorkspace(const std::filesystem::path& root, const RunRequest& request,
                                RunListener* listener = nullptr);

// The OpenLineage naming of a workspace's events in `env`.
OpenLineageOptions LineageOptionsFor(const WorkspaceConfig& config, const std::string& env);

// Posts the events of `run` to the workspace's OpenLineage endpoint, if one is
// configured; failures go to `warn` (the run and its status stand).
void PostRunEvents(Session& session, const RunRecord& run,
                   const std::function<void(const std::string&)>& warn);

}  // namespace alambic
