// Running recipe attempts in other processes (a cluster's jobs). A TaskFn is an
// in-process closure; for a JobLauncher the runner (run.h) turns each attempt
// into a task spec file (task_spec.h) that `alambic exec-task SPEC` runs
// elsewhere, and collects the outputs the job staged. The job never touches
// the catalog: the coordinator validates, publishes and records as a local run
// does (one catalog writer).
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "core/base/cancel.h"
#include "core/base/status.h"
#include "core/flow/flow.h"

namespace alambic {

struct JobRequest {
  std::string name;               // for the queue: "flow/recipe"
  std::vector<std::string> argv;  // what the job runs (an argument vector, never a shell line)
  std::filesystem::path workdir;  // where it runs
  std::filesystem::path output;   // the job's stdout and stderr
  JobResources resources;         // the recipe's; unset fields: the launcher's defaults
  // Names of environment variables the job needs (the recipe's secrets given
  // as `env:`); every other variable but PATH, HOME, LANG, ... is left out.
  std::vector<std::string> env;
};

class JobLauncher {
 public:
  virtual ~JobLauncher() = default;
  // A directory every node sees, for task specs, staged outputs and job logs.
  virtual std::filesystem::path staging() const = 0;
  // How a recipe runs, for `plan --explain`: "as a Slurm job (partition debug)".
  virtual std::string Describe() const = 0;
  // Submits the job and waits until it ends. `submitted` is called with its
  // id once it is queued (on the calling thread). Returns Ok when the job ran
  // to its end with exit status 0; an error when it failed or was lost (the
  // runner retries it per the task's policy); cancel.AsStatus() once `cancel`
  // is set (the job is cancelled first). Thread-safe.
  virtual Status RunJob(const JobRequest& job, const CancelToken& cancel,
                        const std::function<void(const std::string& id)>& submitted) = 0;
};

}  // namespace alambic
