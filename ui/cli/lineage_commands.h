// `alambic lineage`, `impact` and `openlineage`: where a dataset or column comes
// from and goes, what a change would make stale, a run's OpenLineage events.
#pragma once

#include <cstdint>
#include <string>

#include "ui/cli/cli.h"

namespace alambic {

class LineageCommands {
 public:
  void AddLineage(CLI::App& app);
  void AddImpact(CLI::App& app);
  void AddOpenLineage(CLI::App& app);
  bool parsed() const;
  int Run(const Globals& g) const;

 private:
  CLI::App* lineage_ = nullptr;
  CLI::App* impact_ = nullptr;
  CLI::App* openlineage_ = nullptr;
  std::string lineage_target_, lineage_version_, lineage_format_ = "text";
  bool lineage_up_ = false, lineage_down_ = false;
  int lineage_depth_ = -1;
  std::string impact_target_, impact_format_ = "text";
  int impact_depth_ = -1;
  std::string ol_run_;
  bool ol_pretty_ = false;
};

}  // namespace alambic
