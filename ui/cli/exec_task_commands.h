// `alambic exec-task SPEC` (hidden): what a cluster job runs. Runs the one
// recipe attempt a task spec describes (core/exec/task_spec.h) and writes its
// outputs and result file into the attempt's staging directory; never touches
// the catalog. Exit 0 once the result file is written, whether the recipe
// succeeded or not (the coordinator reads which); 1 when it could not be.
#pragma once

#include <string>

#include "ui/cli/cli.h"

namespace alambic {

class ExecTaskCommand {
 public:
  void Add(CLI::App& app);
  bool parsed() const;
  int Run() const;

 private:
  CLI::App* cmd_ = nullptr;
  std::string spec_;
};

}  // namespace alambic
