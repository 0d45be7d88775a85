// The RunLauncher of the daemon: runs a flow the way `alambic --env E run
// FLOW` does (from its active release's checkout where the environment runs
// releases only, else from the workspace), one run at a time (the engine
// holds the workspace lock for a run). The run's catalog connection is fenced
// with the request's lease token, so a run of a daemon that lost its lease
// cannot publish.
//
// The one place where the scheduler meets the engine: to be re-pointed at the
// run service (services/runs.h) when it lands.
#pragma once

#include <filesystem>
#include <functional>
#include <mutex>

#include "core/recipe/recipe.h"
#include "services/scheduler/scheduler.h"

namespace alambic {

class EngineLauncher final : public RunLauncher {
 public:
  // `kinds` gives the recipe kinds for a code root (built-ins and its plugins).
  using KindsFor = std::function<const RecipeRegistry&(const std::filesystem::path&)>;
  EngineLauncher(std::filesystem::path root, KindsFor kinds)
      : root_(std::move(root)), kinds_(std::move(kinds)) {}
  Result<LaunchedRun> Launch(const ScheduledRunRequest& request, const CancelToken& cancel,
                             const std::function<void(const std::string&)>& started) override;

 private:
  std::filesystem::path root_;
  KindsFor kinds_;
  std::mutex mu_;  // one run at a time
};

}  // namespace alambic
