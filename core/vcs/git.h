// Git through libgit2: workspace creation, the commit a run starts from, and
// the versioned history of a workspace (revisions, files at a commit, log,
// release tags, a clean checkout of a commit elsewhere).
//
// Every path argument and result is relative to the workspace root `dir`,
// which may be the repository's root or a subdirectory of it. Revisions are
// anything `git rev-parse` takes that names a commit (full or abbreviated id,
// HEAD, a branch, a tag, HEAD~2). A revision that names no commit is Invalid
// "unknown revision 'REV'"; a `dir` outside any repository is NotFound "DIR is
// not in a git repository". Each call opens the repository itself: calls may
// read one repository concurrently; tag creation and checkouts into one `dest`
// must not race each other.
#pragma once

#include <cstdint>
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

struct GitCommitInfo {
  std::string id;                               // full hex
  std::string author, email, summary, message;  // message: without its trailing newlines
  int64_t time = 0;                             // unix seconds (author time)
  std::vector<std::string> paths;               // of the asked-for paths, those this commit changed
};

struct GitTagInfo {
  std::string name;     // without refs/tags/
  std::string commit;   // full hex of the commit it points to (annotated tags peeled)
  std::string tagger;   // "" for a lightweight tag
  std::string message;  // without its trailing newlines; "" for a lightweight tag
  int64_t time = 0;     // the tagging time; a lightweight tag's: its commit's author time
};

// Full commit id of `rev`.
Result<std::string> GitResolveRevision(const std::filesystem::path& dir, const std::string& rev);

// The content of `path` in `commit`'s tree (bytes as committed). NotFound
// "PATH does not exist in commit ABC1234" when absent; Invalid "PATH is a
// directory in commit ABC1234".
Result<std::string> GitReadFileAt(const std::filesystem::path& dir, const std::string& commit,
                                  const std::string& path);

// The workspace's files (blobs, recursively, not directories) at `commit` whose
// path starts with `prefix` (e.g. "flows/"; "" : all), sorted. Empty when the
// workspace's directory does not exist in that commit.
Result<std::vector<std::string>> GitListFilesAt(const std::filesystem::path& dir,
                                                const std::string& commit,
                                                const std::string& prefix);

// Of `paths` (files, or directories meaning everything below; "." the whole
// workspace), those with uncommitted changes: modified, deleted or new in the
// working tree or the index relative to HEAD, untracked and not ignored
// included; in `paths` order. Does not write the index.
Result<std::vector<std::string>> GitUncommittedPaths(const std::filesystem::path& dir,
                                                     const std::vector<std::string>& paths);

// First-parent history from HEAD, newest first, of the commits in which any of
// `paths` (files or directories; empty: the whole workspace) differs from the
// commit's first parent (for a root commit: exists). limit <= 0: all. Empty
// when HEAD has no commit yet.
Result<std::vector<GitCommitInfo>> GitLog(const std::filesystem::path& dir,
                                          const std::vector<std::string>& paths, int limit);

// Creates annotated tag `name` on `commit`, tagged by the git config's user
// (user.name, user.email) or "Alambic". Never moves an existing tag: Invalid
// "tag NAME already exists"; Invalid "invalid tag name 'NAME'".
Status GitCreateAnnotatedTag(const std::filesystem::path& dir, const std::string& name,
                             const std::string& commit, const std::string& message);

// Tags (pointing at commits) whose name starts with `prefix`, sorted by name
// with numeric parts compared as numbers (release/permis/10 after release/permis/9).
Result<std::vector<GitTagInfo>> GitListTags(const std::filesystem::path& dir,
                                            const std::string& prefix);

// Makes `dest` a clone of the repository containing `dir` (git_clone from the
// local path when `dest` does not exist or is empty; later calls reuse it and
// fetch branches, tags and HEAD from the source when `commit` is missing)
// whose working tree is exactly `commit`: detached HEAD, forced checkout,
// files not in the commit removed except ignored ones (e.g. .alambic/). Never
// writes to the repository of `dir` or its working tree. Returns the workspace
// root inside the clone: dest itself, or dest/SUBDIR when the workspace is a
// subdirectory of its repository. Invalid when `dest` is neither empty nor a
// git repository, or is the source repository itself; NotFound when `commit`
// is not reachable from the source's branches, tags or HEAD.
Result<std::filesystem::path> GitCheckoutInto(const std::filesystem::path& dir,
                                              const std::filesystem::path& dest,
                                              const std::string& commit);

}  // namespace alambic
