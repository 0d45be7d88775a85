#include "core/vcs/git.h"

#include <git2.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <set>
#include <string_view>

#include <fmt/format.h>

#include "core/base/crash_point.h"
#include "core/vcs/git_internal.h"

// GCC says __SANITIZE_ADDRESS__, clang 14 only __has_feature(address_sanitizer).
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ALAMBIC_GIT_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(ALAMBIC_GIT_ASAN)
// LeakSanitizer's built-in suppressions for the ASan build. libgit2 1.5 (Debian
// 12) leaks a PCRE2 match data, with its heap frames, from its config regex
// matching each time a remote is created (clone, fetch): LSan shows
// pcre2_match_data_create called from git_remote_create_with_opts. PCRE2 is
// built without frame pointers, so the leak's stack usually ends inside
// libpcre2 and only the module can be named: this also hides a PCRE2 allocation
// Alambic itself would leak, which its matchers rule out by owning every PCRE2
// object (core/table/regex.cc).
extern "C" const char* __lsan_default_suppressions() { return "leak:libpcre2-8.so\n"; }
#endif

namespace alambic {

using namespace git_internal;  // NOLINT: this file implements them

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

namespace {

// Compares tag names with runs of digits compared as numbers ("9" < "10").
bool NaturalLess(std::string_view a, std::string_view b) {
  auto digit = [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; };
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (digit(a[i]) && digit(b[j])) {
      size_t ie = i, je = j;
      while (ie < a.size() && digit(a[ie])) ++ie;
      while (je < b.size() && digit(b[je])) ++je;
      std::string_view na = a.substr(i, ie - i), nb = b.substr(j, je - j);
      while (na.size() > 1 && na.front() == '0') na.remove_prefix(1);
      while (nb.size() > 1 && nb.front() == '0') nb.remove_prefix(1);
      if (na.size() != nb.size()) return na.size() < nb.size();
      if (na != nb) return na < nb;
      i = ie;
      j = je;
    } else {
      if (a[i] != b[j]) return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[j]);
      ++i;
      ++j;
    }
  }
  if ((a.size() - i) != (b.size() - j)) return (a.size() - i) < (b.size() - j);
  return a < b;  // equal as numbers ("01" and "1"): a stable order
}

// The signature for new tags: the git config's user, or "Alambic".
Result<SigPtr> DefaultSignature(git_repository* repo) {
  git_signature* raw = nullptr;
  if (git_signature_default(&raw, repo) != 0 &&
      git_signature_now(&raw, "Alambic", "alambic@localhost") != 0)
    return GitError("signature");
  return SigPtr(raw);
}

// Workspace paths checked and mapped to repository paths.
Result<std::vector<std::string>> RepoPaths(const WorkspaceRepo& w,
                                           const std::vector<std::string>& paths) {
  std::vector<std::string> out;
  out.reserve(paths.size());
  for (const auto& p : paths) {
    ALAMBIC_ASSIGN_OR_RETURN(std::string n, CheckWorkspacePath(p));
    out.push_back(w.RepoPath(n));
  }
  return out;
}

}  // namespace

Result<std::string> GitResolveRevision(const std::filesystem::path& dir, const std::string& rev) {
  ALAMBIC_ASSIGN_OR_RETURN(WorkspaceRepo w, OpenWorkspaceRepo(dir));
  ALAMBIC_ASSIGN_OR_RETURN(CommitPtr commit, LookupCommit(w.repo.get(), rev));
  return OidHex(*git_commit_id(commit.get()));
}

Result<std::string> GitReadFileAt(const std::filesystem::path& dir, const std::string& commit,
                                  const std::string& path) {
  ALAMBIC_ASSIGN_OR_RETURN(WorkspaceRepo w, OpenWorkspaceRepo(dir));
  ALAMBIC_ASSIGN_OR_RETURN(std::string rel, CheckWorkspacePath(path));
  ALAMBIC_ASSIGN_OR_RETURN(CommitPtr c, LookupCommit(w.repo.get(), commit));
  ALAMBIC_ASSIGN_OR_RETURN(TreePtr tree, CommitTree(c.get()));
  const std::string short_id = ShortId(OidHex(*git_commit_id(c.get())));
  const std::string repo_path = w.RepoPath(rel);
  std::optional<EntryId> e = EntryAt(tree.get(), repo_path);
  if (!e) return Status::NotFound(fmt::format("{} does not exist in commit {}", path, short_id));
  if (e->mode == GIT_FILEMODE_TREE || e->mode == GIT_FILEMODE_COMMIT)
    return Status::Invalid(fmt::format("{} is a directory in commit {}", path, short_id));
  ALAMBIC_ASSIGN_OR_RETURN(std::optional<std::string> text,
                           ReadBlobAt(w.repo.get(), tree.get(), repo_path));
  return std::move(*text);
}

Result<std::vector<std::string>> GitListFilesAt(const std::filesystem::path& dir,
                                                const std::string& commit,
                                                const std::string& prefix) {
  ALAMBIC_ASSIGN_OR_RETURN(WorkspaceRepo w, OpenWorkspaceRepo(dir));
  ALAMBIC_ASSIGN_OR_RETURN(CommitPtr c, LookupCommit(w.repo.get(), commit));
  ALAMBIC_ASSIGN_OR_RETURN(TreePtr root, CommitTree(c.get()));
  std::vector<std::string> files;
  TreePtr sub;
  git_tree* top = root.get();
  if (!w.prefix.empty()) {
    std::optional<EntryId> e = EntryAt(root.get(), w.RepoPath(""));
    if (!e || e->mode != GIT_FILEMODE_TREE) return files;
    git_tree* raw = nullptr;
    if (git_tree_lookup(&raw, w.repo.get(), &e->id) != 0) return GitError("workspace tree");
    sub.reset(raw);
    top = sub.get();
  }
  struct Walk {
    const std::string* prefix;
    std::vector<std::string>* files;
  } walk{&prefix, &files};
  auto cb = [](const char* root_path, const git_tree_entry* entry, void* payload) -> int {
    auto* wk = static_cast<Walk*>(payload);
    std::string path = std::string(root_path) + git_tree_entry_name(entry);
    const std::string& pre = *wk->prefix;
    if (git_tree_entry_type(entry) == GIT_OBJECT_TREE) {
      path += "/";
      // Only descend where the prefix can still match.
      const bool may_match = path.rfind(pre, 0) == 0 || pre.rfind(path, 0) == 0;
      return may_match ? 0 : 1;
    }
    if (git_tree_entry_type(entry) == GIT_OBJECT_BLOB && path.rfind(pre, 0) == 0)
      wk->files->push_back(std::move(path));
    return 0;
  };
  if (git_tree_walk(top, GIT_TREEWALK_PRE, cb, &walk) != 0) return GitError("list files");
  std::sort(files.begin(), files.end());
  return files;
}

Result<std::vector<std::string>> GitUncommittedPaths(const std::filesystem::path& dir,
                                                     const std::vector<std::string>& paths) {
  ALAMBIC_ASSIGN_OR_RETURN(WorkspaceRepo w, OpenWorkspaceRepo(dir));
  ALAMBIC_ASSIGN_OR_RETURN(std::vector<std::string> repo_paths, RepoPaths(w, paths));
  git_status_options opts = GIT_STATUS_OPTIONS_INIT;
  opts.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR;
  opts.flags = GIT_STATUS_OPT_INCLUDE_UNTRACKED | GIT_STATUS_OPT_RECURSE_UNTRACKED_DIRS |
               GIT_STATUS_OPT_EXCLUDE_SUBMODULES;
  git_status_list* list_raw = nullptr;
  if (git_status_list_new(&list_raw, w.repo.get(), &opts) != 0) return GitError("status");
  StatusPtr list(list_raw);
  std::set<std::string> changed;
  const size_t n = git_status_list_entrycount(list.get());
  for (size_t i = 0; i < n; ++i) {
    const git_status_entry* e = git_status_byindex(list.get(), i);
    if (!e || e->status == GIT_STATUS_CURRENT || (e->status & GIT_STATUS_IGNORED)) continue;
    for (const git_diff_delta* d : {e->head_to_index, e->index_to_workdir}) {
      if (!d) continue;
      if (d->old_file.path) changed.insert(d->old_file.path);
      if (d->new_file.path) changed.insert(d->new_file.path);
    }
  }
  std::vector<std::string> out;
  for (size_t i = 0; i < paths.size(); ++i) {
    const std::string& rp = repo_paths[i];
    bool hit = changed.count(rp) > 0;
    if (!hit) {
      // A directory: anything below it ("" is the repository's root).
      const std::string below = rp.empty() ? std::string() : rp + "/";
      auto it = changed.lower_bound(below);
      hit = it != changed.end() && it->rfind(below, 0) == 0;
    }
    if (hit) out.push_back(paths[i]);
  }
  return out;
}

Result<std::vector<GitCommitInfo>> GitLog(const std::filesystem::path& dir,
                                          const std::vector<std::string>& paths, int limit) {
  ALAMBIC_ASSIGN_OR_RETURN(WorkspaceRepo w, OpenWorkspaceRepo(dir));
  std::vector<std::string> asked = paths.empty() ? std::vector<std::string>{""} : paths;
  ALAMBIC_ASSIGN_OR_RETURN(std::vector<std::string> repo_paths, RepoPaths(w, asked));
  std::vector<GitCommitInfo> out;
  if (git_repository_head_unborn(w.repo.get()) == 1) return out;
  ALAMBIC_ASSIGN_OR_RETURN(CommitPtr commit, LookupCommit(w.repo.get(), "HEAD"));
  ALAMBIC_ASSIGN_OR_RETURN(TreePtr tree, CommitTree(commit.get()));
  while (commit) {
    CommitPtr parent;
    TreePtr parent_tree;
    if (git_commit_parentcount(commit.get()) > 0) {
      git_commit* raw = nullptr;
      if (git_commit_parent(&raw, commit.get(), 0) != 0)
        return GitError("parent of " + ShortId(OidHex(*git_commit_id(commit.get()))));
      parent.reset(raw);
      ALAMBIC_ASSIGN_OR_RETURN(parent_tree, CommitTree(parent.get()));
    }
    std::vector<std::string> touched;
    for (size_t i = 0; i < repo_paths.size(); ++i) {
      std::optional<EntryId> now = EntryAt(tree.get(), repo_paths[i]);
      std::optional<EntryId> before =
          parent_tree ? EntryAt(parent_tree.get(), repo_paths[i]) : std::nullopt;
      if (now != before) touched.push_back(paths.empty() ? "." : paths[i]);
    }
    if (!touched.empty()) {
      GitCommitInfo info = CommitInfoOf(commit.get());
      if (!paths.empty()) info.paths = std::move(touched);
      out.push_back(std::move(info));
      if (limit > 0 && static_cast<int>(out.size()) >= limit) break;
    }
    commit = std::move(parent);
    tree = std::move(parent_tree);
  }
  return out;
}

Status GitCreateAnnotatedTag(const std::filesystem::path& dir, const std::string& name,
                             const std::string& commit, const std::string& message) {
  ALAMBIC_ASSIGN_OR_RETURN(WorkspaceRepo w, OpenWorkspaceRepo(dir));
  int valid = 0;
  if (name.empty() || git_tag_name_is_valid(&valid, name.c_str()) != 0 || !valid)
    return Status::Invalid(fmt::format("invalid tag name '{}'", name));
  git_reference* ref_raw = nullptr;
  if (git_reference_lookup(&ref_raw, w.repo.get(), ("refs/tags/" + name).c_str()) == 0) {
    git_reference_free(ref_raw);
    return Status::Invalid(fmt::format("tag {} already exists", name));
  }
  ALAMBIC_ASSIGN_OR_RETURN(CommitPtr c, LookupCommit(w.repo.get(), commit));
  ALAMBIC_ASSIGN_OR_RETURN(SigPtr tagger, DefaultSignature(w.repo.get()));
  std::string text = message;
  if (text.empty() || text.back() != '\n') text += '\n';
  git_oid tag_id;
  const int rc = git_tag_create(&tag_id, w.repo.get(), name.c_str(),
                                reinterpret_cast<const git_object*>(c.get()), tagger.get(),
                                text.c_str(), /*force=*/0);
  if (rc == GIT_EEXISTS) return Status::Invalid(fmt::format("tag {} already exists", name));
  if (rc != 0) return GitError("create tag " + name);
  return Status::Ok();
}

Result<std::vector<GitTagInfo>> GitListTags(const std::filesystem::path& dir,
                                            const std::string& prefix) {
  ALAMBIC_ASSIGN_OR_RETURN(WorkspaceRepo w, OpenWorkspaceRepo(dir));
  git_strarray names = {nullptr, 0};
  if (git_tag_list(&names, w.repo.get()) != 0) return GitError("list tags");
  std::vector<std::string> matching;
  for (size_t i = 0; i < names.count; ++i)
    if (std::string_view(names.strings[i]).rfind(prefix, 0) == 0)
      matching.push_back(names.strings[i]);
  git_strarray_dispose(&names);
  std::vector<GitTagInfo> out;
  for (const auto& name : matching) {
    git_object* obj_raw = nullptr;
    if (git_revparse_single(&obj_raw, w.repo.get(), ("refs/tags/" + name).c_str()) != 0)
      return GitError("tag " + name);
    ObjectPtr obj(obj_raw);
    GitTagInfo t;
    t.name = name;
    if (git_object_type(obj.get()) == GIT_OBJECT_TAG) {
      const auto* tag = reinterpret_cast<const git_tag*>(obj.get());
      if (const git_signature* s = git_tag_tagger(tag)) {
        t.tagger = s->name ? s->name : "";
        t.time = s->when.time;
      }
      const char* msg = git_tag_message(tag);
      t.message = msg ? msg : "";
      while (!t.message.empty() && (t.message.back() == '\n' || t.message.back() == '\r'))
        t.message.pop_back();
    }
    git_object* peeled_raw = nullptr;
    if (git_object_peel(&peeled_raw, obj.get(), GIT_OBJECT_COMMIT) != 0) continue;  // not a commit
    ObjectPtr peeled(peeled_raw);
    t.commit = OidHex(*git_object_id(peeled.get()));
    if (git_object_type(obj.get()) != GIT_OBJECT_TAG)
      if (const git_signature* a =
              git_commit_author(reinterpret_cast<const git_commit*>(peeled.get())))
        t.time = a->when.time;
    out.push_back(std::move(t));
  }
  std::sort(out.begin(), out.end(),
            [](const GitTagInfo& a, const GitTagInfo& b) { return NaturalLess(a.name, b.name); });
  return out;
}

Result<std::filesystem::path> GitCheckoutInto(const std::filesystem::path& dir,
                                              const std::filesystem::path& dest,
                                              const std::string& commit) {
  namespace fs = std::filesystem;
  ALAMBIC_ASSIGN_OR_RETURN(WorkspaceRepo src, OpenWorkspaceRepo(dir));
  ALAMBIC_ASSIGN_OR_RETURN(CommitPtr src_commit, LookupCommit(src.repo.get(), commit));
  const git_oid oid = *git_commit_id(src_commit.get());
  const std::string short_id = ShortId(OidHex(oid));
  const std::string url = src.workdir.string();

  std::error_code ec;
  const fs::path target = fs::weakly_canonical(fs::absolute(dest, ec), ec);
  RepoPtr repo;
  git_repository* raw = nullptr;
  if (fs::exists(target, ec) &&
      git_repository_open_ext(&raw, target.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH, nullptr) == 0) {
    repo.reset(raw);
    const char* wd = git_repository_workdir(repo.get());
    if (!wd) return Status::Invalid(fmt::format("{} is a bare git repository", dest.string()));
    fs::path dest_wd = fs::weakly_canonical(fs::path(wd), ec);
    if (dest_wd.filename().empty()) dest_wd = dest_wd.parent_path();
    if (dest_wd == src.workdir)
      return Status::Invalid(
          fmt::format("{} is the workspace's own repository, not a checkout", dest.string()));
  } else {
    if (fs::exists(target, ec) && !fs::is_empty(target, ec))
      return Status::Invalid(fmt::format(
          "{} exists and is neither empty nor a git repository: not a checkout", dest.string()));
    git_clone_options opts = GIT_CLONE_OPTIONS_INIT;
    opts.checkout_opts.checkout_strategy = GIT_CHECKOUT_NONE;
    opts.local = GIT_CLONE_LOCAL_NO_LINKS;  // copies objects: nothing shared with the source
    if (git_clone(&raw, url.c_str(), target.c_str(), &opts) != 0)
      return GitError(fmt::format("clone {} into {}", url, dest.string()));
    repo.reset(raw);
  }

  git_commit* found = nullptr;
  if (git_commit_lookup(&found, repo.get(), &oid) == 0) {
    git_commit_free(found);
  } else {
    git_remote* remote_raw = nullptr;
    if (git_remote_create_anonymous(&remote_raw, repo.get(), url.c_str()) != 0)
      return GitError("remote " + url);
    RemotePtr remote(remote_raw);
    const char* refspecs[] = {"+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*",
                              "+HEAD:refs/remotes/origin/source-head"};
    git_strarray specs = {const_cast<char**>(refspecs), std::size(refspecs)};
    git_fetch_options fetch = GIT_FETCH_OPTIONS_INIT;
    if (git_remote_fetch(remote.get(), &specs, &fetch, "alambic: fetch") != 0)
      return GitError("fetch from " + url);
    if (git_commit_lookup(&found, repo.get(), &oid) != 0)
      return Status::NotFound(fmt::format(
          "commit {} is not reachable from a branch, a tag or HEAD of {}", short_id, url));
    git_commit_free(found);
  }

  ALAMBIC_ASSIGN_OR_RETURN(CommitPtr c, LookupCommit(repo.get(), OidHex(oid)));
  CrashPoint("release_checkout");
  git_checkout_options co = GIT_CHECKOUT_OPTIONS_INIT;
  co.checkout_strategy = GIT_CHECKOUT_FORCE | GIT_CHECKOUT_REMOVE_UNTRACKED;
  if (git_checkout_tree(repo.get(), reinterpret_cast<const git_object*>(c.get()), &co) != 0)
    return GitError(fmt::format("checkout {} in {}", short_id, dest.string()));
  if (git_repository_set_head_detached(repo.get(), &oid) != 0)
    return GitError(fmt::format("detach HEAD at {} in {}", short_id, dest.string()));
  return src.prefix.empty() ? target : target / src.prefix.substr(0, src.prefix.size() - 1);
}

}  // namespace alambic
