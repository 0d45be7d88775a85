#include "core/exec/session.h"

#include <sys/stat.h>

#include <unordered_map>

#include <fmt/format.h>

#include "core/base/hash.h"
#include "core/flow/loader.h"
#include "core/flow/validate.h"

namespace alambic {

Result<std::unique_ptr<Session>> Session::Open(const std::filesystem::path& root,
                                               const std::string& environment,
                                               const RecipeRegistry& kinds) {
  LoadedWorkspace loaded = LoadWorkspace(root);
  std::vector<Diagnostic> diags = loaded.diagnostics;
  if (diags.empty()) diags = ValidateWorkspace(loaded.workspace, kinds);
  if (!diags.empty()) {
    std::string msg;
    for (const auto& d : diags) msg += (msg.empty() ? "" : "\n") + d.ToString();
    return Status::Invalid(msg);
  }
  std::unique_ptr<Session> s(new Session());
  s->ws_ = std::move(loaded.workspace);
  s->env_ = environment.empty() ? s->ws_.config.default_environment : environment;
  if (!s->ws_.config.environments.count(s->env_))
    return Status::Invalid(fmt::format("unknown environment '{}'", s->env_));
  s->kinds_ = &kinds;
  s->graph_ = std::make_unique<FlowGraph>(s->ws_);
  ALAMBIC_ASSIGN_OR_RETURN(s->catalog_, Catalog::Open(s->state_dir() / "catalog.db"));
  s->store_ = std::make_unique<DatasetStore>(s->state_dir() / "store" / s->env_);
  return s;
}

namespace {

class CatalogPlanState final : public PlanState {
 public:
  CatalogPlanState(Catalog& catalog, const DatasetStore& store, std::string env)
      : catalog_(catalog), store_(store), env_(std::move(env)) {
    if (auto cur = catalog_.CurrentVersions(env_); cur.ok())
      for (auto& c : *cur) current_[c.dataset] = c.version_id;
    if (auto st = catalog_.RecipeStates(env_); st.ok()) states_ = std::move(*st);
  }
  bool Published(const std::string& dataset, const std::string& id) const override {
    auto it = current_.find(dataset);
    bool recorded =
        (it != current_.end() && it->second == id) || catalog_.HasVersion(env_, dataset, id);
    return recorded && store_.Exists(dataset, id);
  }
  std::string Current(const std::string& dataset) const override {
    auto it = current_.find(dataset);
    return it == current_.end() ? "" : it->second;
  }
  const RecipeState* LastBuild(const std::string& key) const override {
    auto it = states_.find(key);
    return it == states_.end() ? nullptr : &it->second;
  }

 private:
  Catalog& catalog_;
  const DatasetStore& store_;
  std::string env_;
  std::unordered_map<std::string, std::string> current_;
  std::map<std::string, RecipeState> states_;
};

class SessionFingerprinter final : public Fingerprinter {
 public:
  explicit SessionFingerprinter(Session& s) : s_(s) {}
  Result<std::string> FileHash(const std::string& path) override {
    RecipeContext ctx = s_.MakeContext(RecipeSpec{});
    ctx.recipe = "code";
    ALAMBIC_ASSIGN_OR_RETURN(auto p, ctx.ResolvePath(path));
    return CachedFileHash(s_.catalog(), p);
  }
  Result<std::string> SourceFingerprint(const RecipeSpec& recipe, const RecipeKind& kind) override {
    RecipeContext ctx = s_.MakeContext(recipe);
    return kind.SourceFingerprint(ctx);
  }

 private:
  Session& s_;
};

}  // namespace

Result<std::string> CachedFileHash(Catalog& catalog, const std::filesystem::path& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    return Status::NotFound(fmt::format("{}: no such file", path.string()));
  FileFingerprint fp;
  fp.size = st.st_size;
  fp.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  fp.inode = static_cast<int64_t>(st.st_ino);
  auto cached = catalog.GetFingerprint(path.string());
  if (cached && cached->size == fp.size && cached->mtime_ns == fp.mtime_ns &&
      cached->inode == fp.inode)
    return cached->sha256;
  ALAMBIC_ASSIGN_OR_RETURN(fp.sha256, Sha256File(path));
  (void)catalog.PutFingerprint(path.string(), fp);  // a cache: failing to store it is harmless
  return fp.sha256;
}

std::unique_ptr<PlanState> Session::LoadPlanState() {
  return std::make_unique<CatalogPlanState>(*catalog_, *store_, env_);
}

std::unique_ptr<Fingerprinter> Session::MakeFingerprinter() {
  return std::make_unique<SessionFingerprinter>(*this);
}

Result<Plan> Session::MakePlan(const PlanOptions& options) {
  auto state = LoadPlanState();
  auto fps = MakeFingerprinter();
  return alambic::MakePlan(ws_, *graph_, *kinds_, *state, *fps, options);
}

RecipeContext Session::MakeContext(const RecipeSpec& recipe) const {
  RecipeContext ctx;
  ctx.recipe = recipe.name;
  ctx.params = &recipe.params;
  ctx.outputs = recipe.outputs;
  ctx.workspace = ws_.root;
  ctx.data_roots = ws_.config.data_roots;
  Catalog* cat = catalog_.get();
  ctx.hash_file = [cat](const std::filesystem::path& p) { return CachedFileHash(*cat, p); };
  return ctx;
}

}  // namespace alambic
