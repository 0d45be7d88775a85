#include "core/vcs/git_paths.h"

#include <git2.h>

#include <system_error>

#include <fmt/format.h>

#include "core/vcs/git_internal.h"

namespace alambic {

namespace {

using git_internal::EnsureLibgit2;
using git_internal::GitError;
using git_internal::IndexPtr;
using git_internal::RepoPtr;

// The highest stage of an index entry (0: merged; 1-3: sides of a conflict).
constexpr int kMaxIndexStage = 3;

}  // namespace

Result<bool> GitTracksPath(const std::filesystem::path& file) {
  namespace fs = std::filesystem;
  EnsureLibgit2();
  std::error_code ec;
  const fs::path path = fs::weakly_canonical(fs::absolute(file, ec), ec);
  if (ec) return false;  // nothing there to be tracked
  git_repository* raw = nullptr;
  const int opened = git_repository_open_ext(&raw, path.parent_path().c_str(), 0, nullptr);
  if (opened == GIT_ENOTFOUND) return false;
  if (opened != 0) return GitError(fmt::format("open the repository holding {}", path.string()));
  RepoPtr repo(raw);
  const char* workdir = git_repository_workdir(repo.get());
  if (!workdir || git_repository_is_bare(repo.get())) return false;
  const fs::path root = fs::weakly_canonical(fs::path(workdir), ec);
  if (ec) return false;
  const fs::path rel = path.lexically_relative(root);
  if (rel.empty() || *rel.begin() == "..") return false;
  git_index* index_raw = nullptr;
  if (git_repository_index(&index_raw, repo.get()) != 0)
    return GitError(fmt::format("read the index of {}", root.string()));
  IndexPtr index(index_raw);
  const std::string entry = rel.generic_string();
  for (int stage = 0; stage <= kMaxIndexStage; ++stage)
    if (git_index_get_bypath(index.get(), entry.c_str(), stage) != nullptr) return true;
  return false;
}

}  // namespace alambic
