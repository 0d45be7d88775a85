// `alambic plan` and `alambic run`: what a run would build, and building it
// (services/runs.h decides; this prints the plan, the progress and the verdict).
#pragma once

#include <string>
#include <vector>

#include "ui/cli/cli.h"

namespace alambic {

// The selection options shared by plan and run.
struct Selection {
  std::vector<std::string> flows, only, from, to;
  bool force = false;
};

class RunCommands {
 public:
  void AddPlan(CLI::App& app);
  void AddRun(CLI::App& app);
  bool parsed() const;
  int Run(const Globals& g) const;

 private:
  CLI::App* plan_ = nullptr;
  CLI::App* run_ = nullptr;
  Selection plan_sel_, run_sel_;
  bool explain_ = false, exit_code_ = false;
  std::string plan_format_ = "text";
  int jobs_ = 0;
  bool keep_going_ = false, verbose_ = false;
  std::string executor_;
};

}  // namespace alambic
