// `alambic runs`, `log` and `status`: the runs recorded, one run or recipe in
// detail, and every dataset's version and freshness.
#pragma once

#include <cstdint>
#include <string>

#include "ui/cli/cli.h"

namespace alambic {

class InspectCommands {
 public:
  void AddRuns(CLI::App& app);
  void AddLog(CLI::App& app);
  void AddStatus(CLI::App& app);
  bool parsed() const;
  int Run(const Globals& g) const;

 private:
  CLI::App* runs_ = nullptr;
  CLI::App* log_ = nullptr;
  CLI::App* status_ = nullptr;
  int runs_limit_ = 20;
  std::string runs_format_ = "text", log_run_, log_recipe_, log_format_ = "text",
              status_format_ = "text";
};

}  // namespace alambic
