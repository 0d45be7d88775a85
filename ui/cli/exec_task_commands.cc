#include "ui/cli/exec_task_commands.h"

#include <CLI/CLI.hpp>

#include "core/exec/task_spec.h"
#include "services/workspace.h"

namespace alambic {

void ExecTaskCommand::Add(CLI::App& app) {
  cmd_ = app.add_subcommand("exec-task", "Run one recipe attempt of a task spec (cluster jobs)");
  cmd_->group("");  // hidden: the Slurm executor's jobs run it
  cmd_->add_option("spec", spec_, "The task spec (spec.json)")->required();
}

bool ExecTaskCommand::parsed() const { return cmd_->parsed(); }

int ExecTaskCommand::Run() const {
  auto sj = ReadJsonFile(spec_);
  if (!sj.ok()) return Fail(sj.status());
  auto spec = TaskSpecFromJson(*sj);
  if (!spec.ok()) return Fail(spec.status());
  auto kinds = LoadKinds(spec->code_root);
  if (!kinds.ok()) {
    // Still a result: the coordinator reports why.
    TaskResultFile r;
    r.error = kinds.status().message();
    Status st = WriteJsonFile(spec->result, TaskResultJson(r));
    return st.ok() ? kExitOk : Fail(st);
  }
  Status st = ExecuteTaskSpec(spec_, *(*kinds)->registry);
  return st.ok() ? kExitOk : Fail(st);
}

}  // namespace alambic
