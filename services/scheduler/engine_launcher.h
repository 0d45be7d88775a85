// The RunLauncher of the daemon: runs a flow through the run service
// (services/runs.h, RunWorkspace), i.e. exactly as `alambic --env E run FLOW`
// does: from its active release's checkout where the environment runs
// releases only (a flow without one is refused), else from the workspace; the
// run's OpenLineage events are posted when an endpoint is configured. One run
// at a time (the engine holds the workspace lock for a run). The run's catalog
// writes are fenced with the request's lease token, so a run of a daemon that
// lost its lease cannot publish.
#pragma once

#include <filesystem>
#include <functional>
#include <mutex>
#include <string>

#include "services/scheduler/scheduler.h"

namespace alambic {

class EngineLauncher final : public RunLauncher {
 public:
  // `log` receives the run service's warnings (OpenLineage events not sent);
  // none when empty.
  explicit EngineLauncher(std::filesystem::path root,
                          std::function<void(const std::string&)> log = {})
      : root_(std::move(root)), log_(std::move(log)) {}
  Result<LaunchedRun> Launch(const ScheduledRunRequest& request, const CancelToken& cancel,
                             const std::function<void(const std::string&)>& started) override;

 private:
  std::filesystem::path root_;
  std::function<void(const std::string&)> log_;
  std::mutex mu_;  // one run at a time
};

}  // namespace alambic
