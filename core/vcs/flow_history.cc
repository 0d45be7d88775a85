#include "core/vcs/flow_history.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <utility>

#include <fmt/format.h>

#include "core/flow/loader.h"
#include "core/vcs/git_internal.h"
#include "core/vcs/line_diff.h"

namespace alambic {

namespace fs = std::filesystem;
using namespace git_internal;  // NOLINT: core/vcs internals

namespace {

constexpr const char* kConfigFile = "alambic.yaml";
constexpr const char* kFlowsDir = "flows";
constexpr const char* kRecipesDir = "recipes/";
constexpr size_t kMaxValueChars = 100;  // a param value longer than this is cut in a detail line

bool IsFlowFileName(const std::string& name) {
  const std::string ext = fs::path(name).extension().string();
  return ext == ".yaml" || ext == ".yml";
}

// Workspace path of a recipes/ file a param names, or nullopt.
std::optional<std::string> RecipesFile(const std::string& value) {
  auto p = CheckWorkspacePath(value);
  if (!p.ok() || p->rfind(kRecipesDir, 0) != 0 || p->size() == std::string(kRecipesDir).size())
    return std::nullopt;
  return *p;
}

void CollectRecipesFiles(const nlohmann::json& v, std::set<std::string>* out) {
  if (v.is_string()) {
    if (auto f = RecipesFile(v.get<std::string>())) out->insert(*f);
  } else if (v.is_structured()) {
    for (const auto& e : v) CollectRecipesFiles(e, out);
  }
}

// The code files one recipe uses: its script and the recipes/ files its params name.
std::set<std::string> RecipeCodeFiles(const RecipeSpec& r) {
  std::set<std::string> files;
  if (!r.script.empty())
    if (auto p = CheckWorkspacePath(r.script); p.ok() && !p->empty()) files.insert(*p);
  CollectRecipesFiles(r.params, &files);
  return files;
}

// ---- the files of one side of a comparison: a commit or the working tree ----

class Snapshot {
 public:
  virtual ~Snapshot() = default;
  // The content of a workspace file; nullopt when absent.
  virtual Result<std::optional<std::string>> Read(const std::string& path) = 0;
  // flows/*.yaml and flows/*.yml, sorted.
  virtual Result<std::vector<std::string>> FlowFileNames() = 0;
  // "commit abc1234" or "the working tree", for messages.
  virtual std::string Where() const = 0;
};

class CommitSnapshot final : public Snapshot {
 public:
  CommitSnapshot(const WorkspaceRepo& w, CommitPtr commit, TreePtr tree)
      : w_(w), commit_(std::move(commit)), tree_(std::move(tree)) {}

  static Result<std::unique_ptr<CommitSnapshot>> Open(const WorkspaceRepo& w,
                                                      const std::string& rev) {
    ALAMBIC_ASSIGN_OR_RETURN(CommitPtr c, LookupCommit(w.repo.get(), rev));
    ALAMBIC_ASSIGN_OR_RETURN(TreePtr t, CommitTree(c.get()));
    return std::make_unique<CommitSnapshot>(w, std::move(c), std::move(t));
  }

  Result<std::optional<std::string>> Read(const std::string& path) override {
    return ReadBlobAt(w_.repo.get(), tree_.get(), w_.RepoPath(path));
  }

  Result<std::vector<std::string>> FlowFileNames() override {
    std::vector<std::string> names;
    std::optional<EntryId> e = EntryAt(tree_.get(), w_.RepoPath(kFlowsDir));
    if (!e || e->mode != GIT_FILEMODE_TREE) return names;
    git_tree* raw = nullptr;
    if (git_tree_lookup(&raw, w_.repo.get(), &e->id) != 0) return GitError("flows tree");
    TreePtr flows(raw);
    for (size_t i = 0, n = git_tree_entrycount(flows.get()); i < n; ++i) {
      const git_tree_entry* entry = git_tree_entry_byindex(flows.get(), i);
      std::string name = git_tree_entry_name(entry);
      if (git_tree_entry_type(entry) == GIT_OBJECT_BLOB && IsFlowFileName(name))
        names.push_back(std::string(kFlowsDir) + "/" + name);
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  std::string Where() const override {
    return "commit " + ShortId(OidHex(*git_commit_id(commit_.get())));
  }

 private:
  const WorkspaceRepo& w_;
  CommitPtr commit_;
  TreePtr tree_;
};

class WorkingTreeSnapshot final : public Snapshot {
 public:
  explicit WorkingTreeSnapshot(fs::path root) : root_(std::move(root)) {}

  Result<std::optional<std::string>> Read(const std::string& path) override {
    std::error_code ec;
    const fs::path p = root_ / path;
    if (!fs::is_regular_file(p, ec)) return std::optional<std::string>();
    // A symbolic link out of the workspace is not read.
    const fs::path real = fs::weakly_canonical(p, ec);
    const fs::path root = fs::weakly_canonical(root_, ec);
    const std::string rel = real.lexically_relative(root).generic_string();
    if (rel.empty() || rel == ".." || rel.rfind("../", 0) == 0)
      return Status::Invalid(fmt::format("{} points outside the workspace", path));
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    if (!in && !in.eof()) return Status::IoError(fmt::format("{}: cannot read", path));
    return std::optional<std::string>(ss.str());
  }

  Result<std::vector<std::string>> FlowFileNames() override {
    std::vector<std::string> names;
    std::error_code ec;
    for (auto it = fs::directory_iterator(root_ / kFlowsDir, ec);
         !ec && it != fs::directory_iterator(); it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (it->is_regular_file() && IsFlowFileName(name))
        names.push_back(std::string(kFlowsDir) + "/" + name);
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  std::string Where() const override { return "the working tree"; }

 private:
  fs::path root_;
};

std::string JoinDiagnostics(const std::vector<Diagnostic>& diags) {
  std::string out;
  for (const auto& d : diags) out += "\n" + d.ToString();
  return out;
}

// The flow named `name` in `snap`, as LoadFlowAt describes.
Result<Flow> FindFlow(Snapshot& snap, const std::string& name) {
  ALAMBIC_ASSIGN_OR_RETURN(std::vector<std::string> files, snap.FlowFileNames());
  std::vector<Diagnostic> unnamed_diags;  // of flows/NAME.yaml when it names no flow
  for (const auto& file : files) {
    ALAMBIC_ASSIGN_OR_RETURN(std::optional<std::string> text, snap.Read(file));
    if (!text) continue;
    std::vector<Diagnostic> diags;
    Flow flow = ParseFlow(*text, file, &diags);
    if (flow.name == name) {
      if (!diags.empty())
        return Status::Invalid(fmt::format("flow {} in {} has problems:{}", name, snap.Where(),
                                           JoinDiagnostics(diags)));
      return flow;
    }
    if (flow.name.empty() && fs::path(file).stem().string() == name && unnamed_diags.empty())
      unnamed_diags = std::move(diags);
  }
  if (!unnamed_diags.empty())
    return Status::Invalid(fmt::format("flow {} in {} has problems:{}", name, snap.Where(),
                                       JoinDiagnostics(unnamed_diags)));
  return Status::NotFound(fmt::format("flow {} does not exist in {}", name, snap.Where()));
}

// ---- history -------------------------------------------------------------------

// The flow's file and code files at one commit.
struct FlowState {
  std::string file;
  std::vector<std::string> files;  // FlowFiles
};

// Finds a flow at successive commits, parsing each distinct flow file blob once.
class FlowFinder {
 public:
  FlowFinder(const WorkspaceRepo& w, std::string name) : w_(w), name_(std::move(name)) {}

  Result<std::optional<FlowState>> At(git_tree* tree) {
    std::optional<EntryId> e = EntryAt(tree, w_.RepoPath(kFlowsDir));
    if (!e || e->mode != GIT_FILEMODE_TREE) return std::optional<FlowState>();
    git_tree* raw = nullptr;
    if (git_tree_lookup(&raw, w_.repo.get(), &e->id) != 0) return GitError("flows tree");
    TreePtr flows(raw);
    std::vector<std::pair<std::string, git_oid>> entries;
    for (size_t i = 0, n = git_tree_entrycount(flows.get()); i < n; ++i) {
      const git_tree_entry* entry = git_tree_entry_byindex(flows.get(), i);
      std::string file = git_tree_entry_name(entry);
      if (git_tree_entry_type(entry) == GIT_OBJECT_BLOB && IsFlowFileName(file))
        entries.emplace_back(std::string(kFlowsDir) + "/" + file, *git_tree_entry_id(entry));
    }
    std::sort(entries.begin(), entries.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& [file, oid] : entries) {
      const std::string key = OidHex(oid);
      auto it = parsed_.find(key);
      if (it == parsed_.end()) {
        git_blob* blob_raw = nullptr;
        if (git_blob_lookup(&blob_raw, w_.repo.get(), &oid) != 0) return GitError("read " + file);
        BlobPtr blob(blob_raw);
        const std::string text(static_cast<const char*>(git_blob_rawcontent(blob.get())),
                               static_cast<size_t>(git_blob_rawsize(blob.get())));
        std::vector<Diagnostic> diags;  // an old, broken flow file still belongs to the history
        it = parsed_.emplace(key, ParseFlow(text, file, &diags)).first;
      }
      if (it->second.name != name_) continue;
      Flow flow = it->second;
      flow.file = file;
      return std::optional<FlowState>(FlowState{file, FlowFiles(flow)});
    }
    return std::optional<FlowState>();
  }

 private:
  const WorkspaceRepo& w_;
  std::string name_;
  std::map<std::string, Flow> parsed_;  // blob id -> parsed flow file
};

// ---- diff ----------------------------------------------------------------------

std::string JoinNames(const std::vector<std::string>& items, const char* sep = ", ") {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : sep) + s;
  return out;
}

std::string Bracket(const std::vector<std::string>& items) { return "[" + JoinNames(items) + "]"; }

// Cuts `s` to about `max` bytes on a UTF-8 character boundary, marking the cut.
std::string Cut(std::string s, size_t max) {
  if (s.size() <= max) return s;
  size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  return s.substr(0, end) + "…";
}

std::string Compact(const nlohmann::json& v) {
  return Cut(v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), kMaxValueChars);
}

std::string Text(const std::string& s) { return s.empty() ? "(none)" : Compact(s); }

std::string Seconds(double s) { return fmt::format("{:g}s", s); }

std::string PolicyText(const ExecPolicy& p) {
  std::vector<std::string> parts;
  if (p.timeout_seconds) parts.push_back("timeout " + Seconds(*p.timeout_seconds));
  if (p.retries) parts.push_back(fmt::format("retries {}", *p.retries));
  if (p.retry_backoff_seconds)
    parts.push_back("retry_backoff " + Seconds(*p.retry_backoff_seconds));
  return parts.empty() ? "(none)" : JoinNames(parts);
}

std::string ScheduleText(const std::optional<Schedule>& s) {
  if (!s) return "(none)";
  return fmt::format("cron {}, timezone {}, catchup {}", Compact(s->cron), s->timezone, s->catchup);
}

std::string PartitioningText(const std::optional<Partitioning>& p) {
  if (!p) return "(none)";
  return p->values.empty() ? "by " + p->by
                           : fmt::format("by {}, values {}", p->by, Bracket(p->values));
}

std::string RecipeSummary(const RecipeSpec& r) {
  std::string s = "kind " + r.kind;
  if (!r.inputs.empty()) s += ", inputs " + JoinNames(r.inputs);
  if (!r.outputs.empty()) s += ", outputs " + JoinNames(r.outputs);
  return s;
}

struct StringChange {
  std::string path, before, after;
};

// "PATH: old → new" per differing leaf (objects by key, equal-length arrays
// by index); changed string leaves are also returned in `strings`.
void DiffJson(const nlohmann::json& a, const nlohmann::json& b, const std::string& path,
              std::vector<std::string>* out, std::vector<StringChange>* strings) {
  if (a == b) return;
  if (a.is_object() && b.is_object()) {
    std::set<std::string> keys;
    for (const auto& [k, v] : a.items()) keys.insert(k);
    for (const auto& [k, v] : b.items()) keys.insert(k);
    for (const auto& k : keys) {
      const std::string sub = path + "." + k;
      if (!a.contains(k))
        out->push_back(fmt::format("{}: (none) → {}", sub, Compact(b[k])));
      else if (!b.contains(k))
        out->push_back(fmt::format("{}: {} → (none)", sub, Compact(a[k])));
      else
        DiffJson(a[k], b[k], sub, out, strings);
    }
    return;
  }
  if (a.is_array() && b.is_array() && a.size() == b.size()) {
    for (size_t i = 0; i < a.size(); ++i)
      DiffJson(a[i], b[i], fmt::format("{}[{}]", path, i), out, strings);
    return;
  }
  if (a.is_string() && b.is_string()) {
    const auto& x = a.get_ref<const std::string&>();
    const auto& y = b.get_ref<const std::string&>();
    strings->push_back({path, x, y});
    // A query or other long text: its changed lines, not two cut values.
    const bool long_text = x.find('\n') != std::string::npos || y.find('\n') != std::string::npos ||
                           Compact(a) != a.dump() || Compact(b) != b.dump();
    if (long_text) {
      LineDiff d = DiffLines(x, y, path, path);
      out->push_back(fmt::format("{}: text changed (+{} −{} lines)", path, d.added, d.removed));
      if (d.lines.size() > 2) out->insert(out->end(), d.lines.begin() + 2, d.lines.end());
      return;
    }
  }
  out->push_back(fmt::format("{}: {} → {}", path, Compact(a), Compact(b)));
}

class FlowDiffer {
 public:
  FlowDiffer(const Flow& before, const Flow& after, Snapshot& old_side, Snapshot& new_side)
      : a_(before), b_(after), old_(old_side), new_(new_side) {}

  Result<std::vector<FlowChange>> Run() {
    FlowLevel();
    ALAMBIC_RETURN_IF_ERROR(Recipes());
    Datasets();
    ALAMBIC_RETURN_IF_ERROR(SameNameCode());
    ALAMBIC_RETURN_IF_ERROR(Config());
    return std::move(changes_);
  }

 private:
  void Add(std::string subject, std::string text, std::vector<std::string> detail = {}) {
    changes_.push_back({std::move(subject), std::move(text), std::move(detail)});
  }

  void FlowLevel() {
    if (a_.file != b_.file) Add("flow", fmt::format("flow file renamed {} → {}", a_.file, b_.file));
    auto field = [&](const char* what, const std::string& x, const std::string& y) {
      if (x != y) Add("flow", fmt::format("flow {}: {} → {}", what, x, y));
    };
    field("usecase", Text(a_.usecase), Text(b_.usecase));
    field("description", Text(a_.description), Text(b_.description));
    field("schedule", ScheduleText(a_.schedule), ScheduleText(b_.schedule));
    field("partitioning", PartitioningText(a_.partitioning), PartitioningText(b_.partitioning));
    field("policy", PolicyText(a_.policy), PolicyText(b_.policy));
  }

  Status Recipes() {
    std::map<std::string, const RecipeSpec*> old_by_name, new_by_name;
    for (const auto& r : a_.recipes) old_by_name.emplace(r.name, &r);
    for (const auto& r : b_.recipes) new_by_name.emplace(r.name, &r);
    for (const auto& r : a_.recipes)
      if (!new_by_name.count(r.name))
        Add("recipe " + r.name, fmt::format("recipe {} removed ({})", r.name, RecipeSummary(r)));
    for (const auto& r : b_.recipes) {
      auto it = old_by_name.find(r.name);
      if (it == old_by_name.end()) {
        std::vector<std::string> detail;
        if (!r.script.empty()) detail.push_back("script: " + r.script);
        if (!r.params.empty()) detail.push_back("params: " + Compact(r.params));
        Add("recipe " + r.name, fmt::format("recipe {} added ({})", r.name, RecipeSummary(r)),
            std::move(detail));
        continue;
      }
      ALAMBIC_RETURN_IF_ERROR(KeptRecipe(*it->second, r));
    }
    return Status::Ok();
  }

  Status KeptRecipe(const RecipeSpec& x, const RecipeSpec& y) {
    std::vector<std::string> aspects, detail;
    auto field = [&](const char* what, const std::string& u, const std::string& v) {
      if (u == v) return;
      aspects.push_back(what);
      detail.push_back(fmt::format("{}: {} → {}", what, u, v));
    };
    field("kind", x.kind, y.kind);
    field("inputs", Bracket(x.inputs), Bracket(y.inputs));
    field("outputs", Bracket(x.outputs), Bracket(y.outputs));
    field("description", Text(x.description), Text(y.description));
    field("script", x.script.empty() ? "(none)" : x.script, y.script.empty() ? "(none)" : y.script);
    field("policy", PolicyText(x.policy), PolicyText(y.policy));
    std::vector<StringChange> strings;
    const size_t before = detail.size();
    DiffJson(x.params, y.params, "params", &detail, &strings);
    if (detail.size() != before) aspects.push_back("params");
    if (aspects.empty()) return Status::Ok();
    Add("recipe " + y.name, fmt::format("recipe {} changed ({})", y.name, JoinNames(aspects)),
        std::move(detail));

    // A script or code param now pointing to another file: diff the two files.
    if (!x.script.empty() && !y.script.empty() && x.script != y.script)
      ALAMBIC_RETURN_IF_ERROR(CodeMoved(y.name, "script", x.script, y.script));
    for (const auto& s : strings) {
      auto from = RecipesFile(s.before), to = RecipesFile(s.after);
      if (from && to) ALAMBIC_RETURN_IF_ERROR(CodeMoved(y.name, s.path, *from, *to));
    }
    return Status::Ok();
  }

  Status CodeMoved(const std::string& recipe, const std::string& what, const std::string& from,
                   const std::string& to) {
    auto from_path = CheckWorkspacePath(from), to_path = CheckWorkspacePath(to);
    if (!from_path.ok() || !to_path.ok()) return Status::Ok();  // outside: never read
    ALAMBIC_ASSIGN_OR_RETURN(std::optional<std::string> x, old_.Read(*from_path));
    ALAMBIC_ASSIGN_OR_RETURN(std::optional<std::string> y, new_.Read(*to_path));
    LineDiff d = DiffLines(x.value_or(""), y.value_or(""), *from_path, *to_path);
    std::string text =
        fmt::format("recipe {} {} {} → {} ({})", recipe, what, *from_path, *to_path, Counts(d));
    if (!x) text += fmt::format(", {} missing in {}", *from_path, old_.Where());
    if (!y) text += fmt::format(", {} missing in {}", *to_path, new_.Where());
    Add("code " + *to_path, std::move(text), DiffDetail(d));
    return Status::Ok();
  }

  static std::string Counts(const LineDiff& d) {
    return fmt::format("+{} −{} lines", d.added, d.removed);
  }

  static std::vector<std::string> DiffDetail(const LineDiff& d) {
    if (!d.too_large) return d.lines;
    return {fmt::format("(diff not shown: the changed region is too large, +{} −{} lines)", d.added,
                        d.removed)};
  }

  // A file read on both sides under one name: a "code"/"config" change when it differs.
  Status SameFile(const std::string& subject, const std::string& path, const std::string& users) {
    ALAMBIC_ASSIGN_OR_RETURN(std::optional<std::string> x, old_.Read(path));
    ALAMBIC_ASSIGN_OR_RETURN(std::optional<std::string> y, new_.Read(path));
    if (x == y) return Status::Ok();
    LineDiff d = DiffLines(x.value_or(""), y.value_or(""), path, path);
    std::string text;
    if (!x)
      text = fmt::format("{} added ({}; missing in {})", path, Counts(d), old_.Where());
    else if (!y)
      text = fmt::format("{} deleted ({}; missing in {})", path, Counts(d), new_.Where());
    else
      text = fmt::format("{} changed ({})", path, Counts(d));
    Add(subject + " " + path, text + users, DiffDetail(d));
    return Status::Ok();
  }

  // Code files used under the same name on both sides whose content changed.
  Status SameNameCode() {
    std::map<std::string, std::vector<std::string>> old_users, new_users;
    for (const auto& r : a_.recipes)
      for (const auto& f : RecipeCodeFiles(r)) old_users[f].push_back(r.name);
    for (const auto& r : b_.recipes)
      for (const auto& f : RecipeCodeFiles(r)) new_users[f].push_back(r.name);
    for (const auto& [path, users] : new_users) {
      if (!old_users.count(path)) continue;
      ALAMBIC_RETURN_IF_ERROR(SameFile(
          "code", path,
          fmt::format(", used by recipe{} {}", users.size() == 1 ? "" : "s", JoinNames(users))));
    }
    return Status::Ok();
  }

  Status Config() { return SameFile("config", kConfigFile, ""); }

  void Datasets() {
    std::set<std::string> names;
    for (const auto& [n, d] : a_.datasets) names.insert(n);
    for (const auto& [n, d] : b_.datasets) names.insert(n);
    for (const auto& n : names) {
      auto x = a_.datasets.find(n), y = b_.datasets.find(n);
      const std::string subject = "dataset " + n;
      if (x == a_.datasets.end()) {
        Add(subject, "dataset " + n + " added", ColumnLines(y->second));
        continue;
      }
      if (y == b_.datasets.end()) {
        Add(subject, "dataset " + n + " removed", ColumnLines(x->second));
        continue;
      }
      const DatasetSpec &u = x->second, &v = y->second;
      if (u.description != v.description)
        Add(subject, fmt::format("dataset {}: description {} → {}", n, Text(u.description),
                                 Text(v.description)));
      std::map<std::string, const ColumnSpec*> old_cols, new_cols;
      for (const auto& c : u.columns) old_cols.emplace(c.name, &c);
      for (const auto& c : v.columns) new_cols.emplace(c.name, &c);
      for (const auto& c : u.columns)
        if (!new_cols.count(c.name))
          Add(subject,
              fmt::format("dataset {}: column {} removed (tags {})", n, c.name, Bracket(c.tags)));
      for (const auto& c : v.columns) {
        auto it = old_cols.find(c.name);
        if (it == old_cols.end()) {
          Add(subject,
              fmt::format("dataset {}: column {} added (tags {})", n, c.name, Bracket(c.tags)));
          continue;
        }
        const ColumnSpec& o = *it->second;
        if (o.tags != c.tags)
          Add(subject, fmt::format("dataset {}: column {} tags {} → {}", n, c.name, Bracket(o.tags),
                                   Bracket(c.tags)));
        if (o.description != c.description)
          Add(subject, fmt::format("dataset {}: column {} description {} → {}", n, c.name,
                                   Text(o.description), Text(c.description)));
      }
    }
  }

  static std::vector<std::string> ColumnLines(const DatasetSpec& d) {
    std::vector<std::string> lines;
    for (const auto& c : d.columns)
      lines.push_back(fmt::format("column {} tags {}", c.name, Bracket(c.tags)));
    return lines;
  }

  const Flow& a_;
  const Flow& b_;
  Snapshot& old_;
  Snapshot& new_;
  std::vector<FlowChange> changes_;
};

}  // namespace

std::vector<std::string> FlowFiles(const Flow& flow) {
  std::set<std::string> files = {kConfigFile};
  if (auto p = CheckWorkspacePath(flow.file); p.ok() && !p->empty()) files.insert(*p);
  for (const auto& r : flow.recipes) {
    std::set<std::string> code = RecipeCodeFiles(r);
    files.insert(code.begin(), code.end());
  }
  return {files.begin(), files.end()};
}

Result<Flow> LoadFlowAt(const std::filesystem::path& dir, const std::string& commit,
                        const std::string& flow) {
  ALAMBIC_ASSIGN_OR_RETURN(WorkspaceRepo w, OpenWorkspaceRepo(dir));
  ALAMBIC_ASSIGN_OR_RETURN(std::unique_ptr<CommitSnapshot> snap, CommitSnapshot::Open(w, commit));
  return FindFlow(*snap, flow);
}

Result<std::vector<GitCommitInfo>> FlowHistory(const std::filesystem::path& dir,
                                               const std::string& flow, int limit) {
  ALAMBIC_ASSIGN_OR_RETURN(WorkspaceRepo w, OpenWorkspaceRepo(dir));
  std::vector<GitCommitInfo> out;
  const auto never =
      Status::NotFound(fmt::format("flow {} does not exist in the history of HEAD", flow));
  if (git_repository_head_unborn(w.repo.get()) == 1) return never;
  FlowFinder finder(w, flow);
  bool seen = false;
  ALAMBIC_ASSIGN_OR_RETURN(CommitPtr commit, LookupCommit(w.repo.get(), "HEAD"));
  ALAMBIC_ASSIGN_OR_RETURN(TreePtr tree, CommitTree(commit.get()));
  ALAMBIC_ASSIGN_OR_RETURN(std::optional<FlowState> state, finder.At(tree.get()));
  while (commit) {
    CommitPtr parent;
    TreePtr parent_tree;
    std::optional<FlowState> parent_state;
    if (git_commit_parentcount(commit.get()) > 0) {
      git_commit* raw = nullptr;
      if (git_commit_parent(&raw, commit.get(), 0) != 0)
        return GitError("parent of " + ShortId(OidHex(*git_commit_id(commit.get()))));
      parent.reset(raw);
      ALAMBIC_ASSIGN_OR_RETURN(parent_tree, CommitTree(parent.get()));
      ALAMBIC_ASSIGN_OR_RETURN(parent_state, finder.At(parent_tree.get()));
    }
    if (state || parent_state) {
      seen = true;
      std::set<std::string> files;
      if (state) files.insert(state->files.begin(), state->files.end());
      if (parent_state) files.insert(parent_state->files.begin(), parent_state->files.end());
      std::vector<std::string> changed;
      for (const auto& f : files) {
        const std::string rp = w.RepoPath(f);
        const std::optional<EntryId> now = EntryAt(tree.get(), rp);
        const std::optional<EntryId> before =
            parent_tree ? EntryAt(parent_tree.get(), rp) : std::nullopt;
        if (now != before) changed.push_back(f);
      }
      const bool created_or_deleted = state.has_value() != parent_state.has_value();
      const bool renamed = state && parent_state && state->file != parent_state->file;
      if (!changed.empty() || created_or_deleted || renamed) {
        GitCommitInfo info = CommitInfoOf(commit.get());
        info.paths = std::move(changed);
        out.push_back(std::move(info));
        if (limit > 0 && static_cast<int>(out.size()) >= limit) break;
      }
    }
    commit = std::move(parent);
    tree = std::move(parent_tree);
    state = std::move(parent_state);
  }
  if (!seen) return never;
  return out;
}

Result<std::vector<FlowChange>> DiffFlow(const std::filesystem::path& dir, const std::string& flow,
                                         const std::string& rev1, const std::string& rev2) {
  ALAMBIC_ASSIGN_OR_RETURN(WorkspaceRepo w, OpenWorkspaceRepo(dir));
  ALAMBIC_ASSIGN_OR_RETURN(std::unique_ptr<CommitSnapshot> old_side, CommitSnapshot::Open(w, rev1));
  std::unique_ptr<Snapshot> new_side;
  if (rev2.empty()) {
    new_side = std::make_unique<WorkingTreeSnapshot>(dir);
  } else {
    ALAMBIC_ASSIGN_OR_RETURN(new_side, CommitSnapshot::Open(w, rev2));
  }
  ALAMBIC_ASSIGN_OR_RETURN(Flow before, FindFlow(*old_side, flow));
  ALAMBIC_ASSIGN_OR_RETURN(Flow after, FindFlow(*new_side, flow));
  return FlowDiffer(before, after, *old_side, *new_side).Run();
}

}  // namespace alambic
