// Internals of core/vcs (not for other subsystems): libgit2 handles owned by
// RAII pointers, and the mapping between workspace-relative paths and paths in
// the repository that holds the workspace (which may be a subdirectory of it).
#pragma once

#include <git2.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "core/base/status.h"
#include "core/vcs/git.h"

namespace alambic::git_internal {

// libgit2 needs one global init per process; this keeps it for the process lifetime.
void EnsureLibgit2();

// Failed "git: WHAT: <libgit2's last error>".
Status GitError(const std::string& what);

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const {
    if (p) Free(p);
  }
};
using RepoPtr = std::unique_ptr<git_repository, Deleter<git_repository, git_repository_free>>;
using IndexPtr = std::unique_ptr<git_index, Deleter<git_index, git_index_free>>;
using TreePtr = std::unique_ptr<git_tree, Deleter<git_tree, git_tree_free>>;
using TreeEntryPtr = std::unique_ptr<git_tree_entry, Deleter<git_tree_entry, git_tree_entry_free>>;
using SigPtr = std::unique_ptr<git_signature, Deleter<git_signature, git_signature_free>>;
using StatusPtr = std::unique_ptr<git_status_list, Deleter<git_status_list, git_status_list_free>>;
using CommitPtr = std::unique_ptr<git_commit, Deleter<git_commit, git_commit_free>>;
using ObjectPtr = std::unique_ptr<git_object, Deleter<git_object, git_object_free>>;
using BlobPtr = std::unique_ptr<git_blob, Deleter<git_blob, git_blob_free>>;
using TagPtr = std::unique_ptr<git_tag, Deleter<git_tag, git_tag_free>>;
using RefPtr = std::unique_ptr<git_reference, Deleter<git_reference, git_reference_free>>;
using RemotePtr = std::unique_ptr<git_remote, Deleter<git_remote, git_remote_free>>;

// Full hex of `oid`, and the 7-character form used in messages.
std::string OidHex(const git_oid& oid);
std::string ShortId(const std::string& hex);

// The repository holding a workspace.
struct WorkspaceRepo {
  RepoPtr repo;
  std::filesystem::path workdir;  // the repository's working tree, absolute
  std::string prefix;             // the workspace's directory in it: "" or "sub/dir/"
  // The repository path of a workspace path that CheckWorkspacePath accepted
  // ("" : the workspace's own directory, "" again for a workspace at the root).
  std::string RepoPath(const std::string& workspace_path) const;
};

// Opens the repository containing `dir` (searching upward). NotFound "DIR is
// not in a git repository"; Invalid for a bare repository.
Result<WorkspaceRepo> OpenWorkspaceRepo(const std::filesystem::path& dir);

// `path` normalised ("./a//b" -> "a/b", "." -> ""); Invalid "path 'P' is
// outside the workspace" for an absolute path or one that climbs out with "..".
Result<std::string> CheckWorkspacePath(const std::string& path);

// The commit `rev` names (ids, HEAD, branches, tags peeled, rev-parse
// expressions); Invalid "unknown revision 'REV'" otherwise.
Result<CommitPtr> LookupCommit(git_repository* repo, const std::string& rev);

Result<TreePtr> CommitTree(git_commit* commit);

// The id and mode of what `repo_path` names in `tree` ("" : the tree itself);
// nullopt when absent. Two equal EntryIds have equal content.
struct EntryId {
  git_oid id;
  uint32_t mode = 0;
  bool operator==(const EntryId& o) const { return mode == o.mode && git_oid_equal(&id, &o.id); }
};
std::optional<EntryId> EntryAt(git_tree* tree, const std::string& repo_path);

// The content of the blob at `repo_path` in `tree`; nullopt when absent or a directory.
Result<std::optional<std::string>> ReadBlobAt(git_repository* repo, git_tree* tree,
                                              const std::string& repo_path);

// id, author, email, summary, message (trailing newlines removed), author time.
GitCommitInfo CommitInfoOf(git_commit* commit);

}  // namespace alambic::git_internal
