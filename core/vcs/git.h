// Git through libgit2: workspace creation and the commit a run starts from.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "core/base/status.h"

namespace alambic {

struct GitHead {
  std::string commit;  // full hex id, "" when the repository has no commit yet
  bool dirty = false;  // tracked changes or untracked, non-ignored files
  bool is_repository = false;
};

// Creates a repository at `dir` (idempotent) and, if it has no commit yet,
// commits `files` (relative paths) as the initial commit by "Alambic".
Status GitInitWithCommit(const std::filesystem::path& dir, const std::vector<std::string>& files,
                         const std::string& message);

// The HEAD commit and dirty flag of the repository containing `dir`.
Result<GitHead> GitReadHead(const std::filesystem::path& dir);

}  // namespace alambic
