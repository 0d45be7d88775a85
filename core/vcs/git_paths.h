// Questions about one path of a git work tree, through libgit2: used to keep
// secrets out of repositories. Reentrant.
#pragma once

#include <filesystem>

#include "core/base/status.h"

namespace alambic {

// Whether `file` is tracked by the git repository whose work tree holds it:
// whether its index has an entry for it, as `git ls-files` would list it
// (staged but not yet committed counts). Symlinks and ".." are resolved first.
// False when no repository holds the file, or only a bare one. Failed when the
// repository or its index cannot be read.
Result<bool> GitTracksPath(const std::filesystem::path& file);

}  // namespace alambic
