// `alambic schedule list|next|catchup|pause|resume`: the flows' schedules,
// their next fire times (local and UTC, across DST transitions), the slots a
// catch-up would replay, and pausing (see docs/cli.md, docs/operations.md).
// Output goes to stdout, errors to stderr as "alambic: message".
#pragma once

#include <string>

namespace CLI {
class App;
}  // namespace CLI

namespace alambic {

class ScheduleCommands {
 public:
  explicit ScheduleCommands(CLI::App& app);
  bool parsed() const;
  // Runs the parsed command in the workspace found from `dir`; `env` is the
  // --env option ("" : warehouse, where schedules run). Returns the exit status.
  int Run(const std::string& dir, const std::string& env) const;

 private:
  CLI::App* schedule_ = nullptr;
  CLI::App* list_ = nullptr;
  CLI::App* next_ = nullptr;
  CLI::App* catchup_ = nullptr;
  CLI::App* pause_ = nullptr;
  CLI::App* resume_ = nullptr;
  std::string flow_, at_;
  int count_ = 5;
  bool dry_run_ = false;
};

}  // namespace alambic
