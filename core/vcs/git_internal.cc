#include "core/vcs/git_internal.h"

#include <vector>

#include <fmt/format.h>

namespace alambic::git_internal {

namespace fs = std::filesystem;

namespace {

constexpr size_t kShortIdLength = 7;

std::string TrimTrailingNewlines(const char* s) {
  std::string out = s ? s : "";
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

}  // namespace

void EnsureLibgit2() {
  static const int once = git_libgit2_init();
  (void)once;
}

Status GitError(const std::string& what) {
  const git_error* e = git_error_last();
  return Status::Failed(
      fmt::format("git: {}: {}", what, e && e->message ? e->message : "unknown error"));
}

std::string OidHex(const git_oid& oid) {
  char buf[GIT_OID_HEXSZ + 1];
  git_oid_tostr(buf, sizeof buf, &oid);
  return buf;
}

std::string ShortId(const std::string& hex) { return hex.substr(0, kShortIdLength); }

std::string WorkspaceRepo::RepoPath(const std::string& workspace_path) const {
  if (workspace_path.empty())
    return prefix.empty() ? std::string() : prefix.substr(0, prefix.size() - 1);
  return prefix + workspace_path;
}

Result<WorkspaceRepo> OpenWorkspaceRepo(const fs::path& dir) {
  EnsureLibgit2();
  std::error_code ec;
  const fs::path abs = fs::weakly_canonical(fs::absolute(dir, ec), ec);
  git_repository* raw = nullptr;
  if (git_repository_open_ext(&raw, abs.c_str(), 0, nullptr) != 0)
    return Status::NotFound(fmt::format("{} is not in a git repository", abs.string()));
  WorkspaceRepo w;
  w.repo.reset(raw);
  const char* workdir = git_repository_workdir(w.repo.get());
  if (!workdir)
    return Status::Invalid(
        fmt::format("{} is in a bare git repository (no working tree)", abs.string()));
  w.workdir = fs::weakly_canonical(fs::path(workdir), ec);
  // weakly_canonical keeps a trailing separator as an empty last element.
  if (w.workdir.filename().empty()) w.workdir = w.workdir.parent_path();
  const fs::path rel = abs.lexically_relative(w.workdir);
  const std::string r = rel.generic_string();
  if (r.empty() || r == ".." || r.rfind("../", 0) == 0)
    return Status::Internal(fmt::format("{} is not inside the working tree {} of its repository",
                                        dir.string(), w.workdir.string()));
  if (r != ".") w.prefix = r + "/";
  return w;
}

Result<std::string> CheckWorkspacePath(const std::string& path) {
  const fs::path p(path);
  if (p.is_absolute())
    return Status::Invalid(fmt::format("path '{}' is outside the workspace", path));
  std::string n = p.lexically_normal().generic_string();
  if (n == "." || n == "./") n.clear();
  while (!n.empty() && n.back() == '/') n.pop_back();
  if (n == ".." || n.rfind("../", 0) == 0)
    return Status::Invalid(fmt::format("path '{}' is outside the workspace", path));
  return n;
}

Result<CommitPtr> LookupCommit(git_repository* repo, const std::string& rev) {
  git_object* obj_raw = nullptr;
  if (rev.empty() || git_revparse_single(&obj_raw, repo, rev.c_str()) != 0)
    return Status::Invalid(fmt::format("unknown revision '{}'", rev));
  ObjectPtr obj(obj_raw);
  git_object* peeled = nullptr;
  if (git_object_peel(&peeled, obj.get(), GIT_OBJECT_COMMIT) != 0)
    return Status::Invalid(fmt::format("unknown revision '{}'", rev));
  return CommitPtr(reinterpret_cast<git_commit*>(peeled));
}

Result<TreePtr> CommitTree(git_commit* commit) {
  git_tree* raw = nullptr;
  if (git_commit_tree(&raw, commit) != 0)
    return GitError("tree of commit " + ShortId(OidHex(*git_commit_id(commit))));
  return TreePtr(raw);
}

std::optional<EntryId> EntryAt(git_tree* tree, const std::string& repo_path) {
  if (repo_path.empty()) return EntryId{*git_tree_id(tree), GIT_FILEMODE_TREE};
  git_tree_entry* raw = nullptr;
  if (git_tree_entry_bypath(&raw, tree, repo_path.c_str()) != 0) return std::nullopt;
  TreeEntryPtr entry(raw);
  return EntryId{*git_tree_entry_id(entry.get()),
                 static_cast<uint32_t>(git_tree_entry_filemode(entry.get()))};
}

Result<std::optional<std::string>> ReadBlobAt(git_repository* repo, git_tree* tree,
                                              const std::string& repo_path) {
  std::optional<EntryId> e = EntryAt(tree, repo_path);
  if (!e || e->mode == GIT_FILEMODE_TREE || e->mode == GIT_FILEMODE_COMMIT)
    return std::optional<std::string>();
  git_blob* raw = nullptr;
  if (git_blob_lookup(&raw, repo, &e->id) != 0) return GitError("read " + repo_path);
  BlobPtr blob(raw);
  const auto* data = static_cast<const char*>(git_blob_rawcontent(blob.get()));
  return std::optional<std::string>(
      std::string(data, static_cast<size_t>(git_blob_rawsize(blob.get()))));
}

GitCommitInfo CommitInfoOf(git_commit* commit) {
  GitCommitInfo info;
  info.id = OidHex(*git_commit_id(commit));
  if (const git_signature* a = git_commit_author(commit)) {
    info.author = a->name ? a->name : "";
    info.email = a->email ? a->email : "";
    info.time = a->when.time;
  }
  const char* summary = git_commit_summary(commit);
  info.summary = summary ? summary : "";
  info.message = TrimTrailingNewlines(git_commit_message(commit));
  return info;
}

}  // namespace alambic::git_internal
