// `alambic history FLOW` and `alambic diff FLOW REV1 [REV2]`: a flow through
// its git history (core/vcs/flow_history.h), see docs/cli.md.
#pragma once

#include <filesystem>
#include <string>

#include "core/base/status.h"

namespace CLI {
class App;
}

namespace alambic {

// The two subcommands, added to `app` on construction; after parsing, Run
// executes the one given. Holds the parsed options, so it must outlive parsing
// and is neither copied nor moved.
class VcsCommands {
 public:
  explicit VcsCommands(CLI::App& app);
  VcsCommands(const VcsCommands&) = delete;
  VcsCommands& operator=(const VcsCommands&) = delete;

  // Whether the command line named one of them.
  bool Selected() const;

  // Runs it on the workspace at `root`, printing to stdout; errors are returned
  // (unknown flow or revision, not a git repository).
  Status Run(const std::filesystem::path& root) const;

 private:
  Status History(const std::filesystem::path& root) const;
  Status Diff(const std::filesystem::path& root) const;

  CLI::App* history_ = nullptr;
  CLI::App* diff_ = nullptr;
  std::string flow_, rev1_, rev2_;
  std::string format_ = "text";
  int limit_ = 0;
};

}  // namespace alambic
