#include "core/vcs/git.h"

#include <git2.h>

#include <memory>

#include <fmt/format.h>

namespace alambic {

namespace {

// libgit2 needs one global init per process; this keeps it for the process lifetime.
void EnsureLibgit2() {
  static const int once = git_libgit2_init();
  (void)once;
}

Status GitError(const std::string& what) {
  const git_error* e = git_error_last();
  return Status::Failed(
      fmt::format("git: {}: {}", what, e && e->message ? e->message : "unknown error"));
}

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const {
    if (p) Free(p);
  }
};
using RepoPtr = std::unique_ptr<git_repository, Deleter<git_repository, git_repository_free>>;
using IndexPtr = std::unique_ptr<git_index, Deleter<git_index, git_index_free>>;
using TreePtr = std::unique_ptr<git_tree, Deleter<git_tree, git_tree_free>>;
using SigPtr = std::unique_ptr<git_signature, Deleter<git_signature, git_signature_free>>;
using StatusPtr = std::unique_ptr<git_status_list, Deleter<git_status_list, git_status_list_free>>;

}  // namespace

Status GitInitWithCommit(const std::filesystem::path& dir, const std::vector<std::string>& files,
                         const std::string& message) {
  EnsureLibgit2();
  git_repository* raw = nullptr;
  if (git_repository_open_ext(&raw, dir.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH, nullptr) != 0) {
    git_repository_init_options opts = GIT_REPOSITORY_INIT_OPTIONS_INIT;
    opts.flags = GIT_REPOSITORY_INIT_MKPATH;
    opts.initial_head = "main";
    if (git_repository_init_ext(&raw, dir.c_str(), &opts) != 0)
      return GitError("init " + dir.string());
  }
  RepoPtr repo(raw);
  if (git_repository_head_unborn(repo.get()) != 1) return Status::Ok();  // already has commits
  git_index* idx_raw = nullptr;
  if (git_repository_index(&idx_raw, repo.get()) != 0) return GitError("index");
  IndexPtr index(idx_raw);
  for (const auto& f : files)
    if (git_index_add_bypath(index.get(), f.c_str()) != 0) return GitError("add " + f);
  if (git_index_write(index.get()) != 0) return GitError("write index");
  git_oid tree_id, commit_id;
  if (git_index_write_tree(&tree_id, index.get()) != 0) return GitError("write tree");
  git_tree* tree_raw = nullptr;
  if (git_tree_lookup(&tree_raw, repo.get(), &tree_id) != 0) return GitError("lookup tree");
  TreePtr tree(tree_raw);
  git_signature* sig_raw = nullptr;
  if (git_signature_default(&sig_raw, repo.get()) != 0 &&
      git_signature_now(&sig_raw, "Alambic", "alambic@localhost") != 0)
    return GitError("signature");
  SigPtr sig(sig_raw);
  if (git_commit_create_v(&commit_id, repo.get(), "HEAD", sig.get(), sig.get(), nullptr,
                          message.c_str(), tree.get(), 0) != 0)
    return GitError("commit");
  return Status::Ok();
}

Result<GitHead> GitReadHead(const std::filesystem::path& dir) {
  EnsureLibgit2();
  GitHead head;
  git_repository* raw = nullptr;
  if (git_repository_open_ext(&raw, dir.c_str(), 0, nullptr) != 0) return head;  // not a repository
  RepoPtr repo(raw);
  head.is_repository = true;
  git_oid oid;
  if (git_reference_name_to_id(&oid, repo.get(), "HEAD") == 0) {
    char buf[GIT_OID_HEXSZ + 1];
    git_oid_tostr(buf, sizeof buf, &oid);
    head.commit = buf;
  }
  git_status_options opts = GIT_STATUS_OPTIONS_INIT;
  opts.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR;
  opts.flags = GIT_STATUS_OPT_INCLUDE_UNTRACKED | GIT_STATUS_OPT_EXCLUDE_SUBMODULES;
  git_status_list* list_raw = nullptr;
  if (git_status_list_new(&list_raw, repo.get(), &opts) != 0) return GitError("status");
  StatusPtr list(list_raw);
  head.dirty = git_status_list_entrycount(list.get()) > 0;
  return head;
}

}  // namespace alambic
