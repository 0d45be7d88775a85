// `alambic init`, `validate`, `gc` and `plugin list`: creating and checking a
// workspace, collecting unused dataset versions, the plugins found.
#pragma once

#include <string>

#include "ui/cli/cli.h"

namespace alambic {

// Each Add* registers one command on the app (in the order of `alambic --help`);
// Run executes the one parsed. Holds the parsed options: outlives parsing.
class WorkspaceCommands {
 public:
  void AddInit(CLI::App& app);
  void AddValidate(CLI::App& app);
  void AddGc(CLI::App& app);
  void AddPlugin(CLI::App& app);
  bool parsed() const;
  int Run(const Globals& g) const;

 private:
  CLI::App* init_ = nullptr;
  CLI::App* validate_ = nullptr;
  CLI::App* gc_ = nullptr;
  CLI::App* plugin_list_ = nullptr;
  std::string init_dir_, init_name_, validate_format_ = "text", plugin_format_ = "text";
  int keep_runs_ = -1;
  bool dry_run_ = false;
};

}  // namespace alambic
