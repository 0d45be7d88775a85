// Running a program and collecting its output: the process-launching seam of
// the Slurm executor (sbatch, squeue, scontrol, sacct, scancel). The real one
// uses posix_spawnp with an argument vector (never a shell line) and an
// environment cleaned of everything but a short allow-list; tests use a fake.
#pragma once

#include <string>
#include <vector>

#include "core/base/status.h"

namespace alambic {

struct CommandResult {
  int exit_code = 0;  // 128 + N when killed by signal N
  std::string out, err;
};

class CommandRunner {
 public:
  virtual ~CommandRunner() = default;
  // Runs argv[0] (looked up in PATH) with argv; `keep_env` names variables of
  // this process's environment passed on besides the allow-list. An error only
  // when the program could not be started (not found, no resources).
  virtual Result<CommandResult> Run(const std::vector<std::string>& argv,
                                    const std::vector<std::string>& keep_env = {}) = 0;
};

// The environment a child gets: PATH, HOME, USER, LOGNAME, LANG, LC_*, TZ,
// TMPDIR, SLURM_CONF, MUNGE_* and the `keep` names that are set, as NAME=VALUE.
std::vector<std::string> CleanEnvironment(const std::vector<std::string>& keep);

CommandRunner& RealCommandRunner();

}  // namespace alambic
