#include "core/exec/session.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <mutex>
#include <optional>
#include <string_view>
#include <system_error>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>

#include "core/base/hash.h"
#include "core/exec/store_open.h"
#include "core/flow/loader.h"
#include "core/flow/validate.h"

namespace alambic {

// What the planner reads from the catalog: the current version of each
// dataset, each with whether its file is in the store (checked at most once,
// by whichever thread needs it first), and the last build of each recipe,
// kept as stored and decoded when the planner asks for all of it.
struct CatalogView {
  struct Current {
    explicit Current(std::string version) : id(std::move(version)) {}
    std::string id;
    mutable std::atomic<uint8_t> in_store{kUnknown};
    enum : uint8_t { kUnknown, kPresent, kAbsent };
  };
  // A stored recipe state: its columns end to end in one string.
  struct LastBuild {
    enum Field {
      kParamsHash,
      kCodeHash,
      kSourceFingerprint,
      kRunId,
      kInputs,
      kOutputs,
      kSalt,
      kFields
    };
    std::string text;
    uint32_t end[kFields] = {};
    std::string_view field(Field f) const {
      const uint32_t begin = f == 0 ? 0 : end[f - 1];
      return std::string_view(text).substr(begin, end[f] - begin);
    }
    mutable std::unique_ptr<RecipeState> state;  // decoded by the first LastBuild()
  };
  std::unordered_map<std::string, Current> current;   // dataset -> current version
  std::unordered_map<std::string, LastBuild> builds;  // "flow/recipe" -> last build
  bool current_read = false;  // `current` is all of them (it was read without error)

  // On failure the view holds no current version at all (as a failed CurrentVersionIds()).
  Status ReadCurrent(Catalog& catalog, const std::string& env, size_t expected) {
    current.reserve(expected);
    Status st =
        catalog.ForEachCurrentVersionId(env, [&](std::string_view dataset, std::string_view id) {
          current.try_emplace(std::string(dataset), std::string(id));
        });
    if (!st.ok()) current.clear();
    current_read = st.ok();
    return st;
  }
  // `expected`: about how many there are. On failure the view holds no last
  // build at all (as a failed RecipeStates()).
  Status ReadBuilds(Catalog& catalog, const std::string& env, size_t expected) {
    builds.reserve(expected);
    std::string key;
    Status st = catalog.ForEachRecipeState(env, [&](const RecipeStateView& v) {
      key.assign(v.flow);
      key += '/';
      key += v.recipe;
      LastBuild b;
      const std::string_view fields[LastBuild::kFields] = {
          v.params_hash, v.code_hash, v.source_fingerprint, v.run_id, v.inputs, v.outputs, v.salt};
      size_t size = 0;
      for (auto f : fields) size += f.size();
      b.text.reserve(size);
      for (int f = 0; f < LastBuild::kFields; ++f) {
        b.text += fields[f];
        b.end[f] = static_cast<uint32_t>(b.text.size());
      }
      builds.insert_or_assign(key, std::move(b));  // the later row wins, as in RecipeStates()
    });
    if (!st.ok()) builds.clear();
    return st;
  }
};

// The catalog's side of a plan state, read on a helper thread through a
// connection of its own, so that it overlaps with loading and validating the
// flows. Take() gives it only if no connection committed to the catalog since
// it started reading (PRAGMA data_version): it is then exactly what reading
// the catalog at Take() time would give.
class PlanStatePrefetch {
 public:
  // Starts reading the catalog at `path` if there is one (nothing is created);
  // nullptr when no thread can be started.
  static std::unique_ptr<PlanStatePrefetch> Start(const std::filesystem::path& path,
                                                  const std::string& env) {
    std::unique_ptr<PlanStatePrefetch> p(new PlanStatePrefetch());
    try {
      p->thread_ = std::thread([q = p.get(), path, env] { q->Read(path, env); });
    } catch (const std::system_error&) {
      return nullptr;
    }
    return p;
  }
  ~PlanStatePrefetch() {
    if (thread_.joinable()) thread_.join();
  }
  PlanStatePrefetch(const PlanStatePrefetch&) = delete;
  PlanStatePrefetch& operator=(const PlanStatePrefetch&) = delete;

  // Waits for the reads; their result if the catalog is unchanged since.
  std::unique_ptr<CatalogView> Take() {
    if (thread_.joinable()) thread_.join();
    if (!view_ || reader_->DataVersion() != version_) return nullptr;
    return std::move(view_);
  }

 private:
  PlanStatePrefetch() = default;
  void Read(const std::filesystem::path& path, const std::string& env) {
    auto reader = Catalog::OpenReader(path);
    if (!reader.ok()) return;
    reader_ = std::move(*reader);
    version_ = reader_->DataVersion();
    auto view = std::make_unique<CatalogView>();
    if (version_ < 0 || !view->ReadCurrent(*reader_, env, 0).ok() ||
        !view->ReadBuilds(*reader_, env, view->current.size()).ok())
      return;
    view_ = std::move(view);
  }

  std::thread thread_;
  // Written by the thread, read by Take() after joining it.
  std::unique_ptr<Catalog> reader_;
  int64_t version_ = -1;
  std::unique_ptr<CatalogView> view_;
};

Session::~Session() = default;

void Session::CloseAndLeaveToExit(std::unique_ptr<Session> session) {
  if (!session) return;
  session->prefetch_.reset();  // joins its thread
  session->store_.reset();
  session->catalog_.reset();
  static std::mutex mu;
  static auto* const left = new std::vector<std::unique_ptr<Session>>();  // never freed
  std::lock_guard lock(mu);
  left->push_back(std::move(session));
}

Result<std::unique_ptr<Session>> Session::Open(const std::filesystem::path& root,
                                               const std::string& environment,
                                               const RecipeRegistry& kinds,
                                               const SessionOptions& options) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path home = fs::absolute(root, ec).lexically_normal();
  if (!home.empty() && home.filename().empty()) home = home.parent_path();
  const fs::path code = options.code_root.empty() ? home : options.code_root;
  LoadOptions load;
  load.state_root = home;
  // The environment is known from alambic.yaml: its plan state can be read
  // while the flows are parsed.
  std::unique_ptr<PlanStatePrefetch> prefetch;
  // (Not for an in-memory catalog: the file, if any, is another catalog.)
  load.on_config = [&](const LoadedWorkspace& config) {
    if (config.ok() && !options.in_memory_catalog)
      prefetch = PlanStatePrefetch::Start(
          home / ".alambic" / "catalog.db",
          environment.empty() ? config.workspace.config.default_environment : environment);
  };
  LoadedWorkspace loaded = LoadWorkspace(code, load);
  std::vector<Diagnostic> diags = std::move(loaded.diagnostics);
  std::unique_ptr<Session> s(new Session());
  s->ws_ = std::move(loaded.workspace);
  if (diags.empty()) {
    // One graph for validation and the session's plans.
    s->graph_ = std::make_unique<FlowGraph>(s->ws_);
    diags = ValidateWorkspace(s->ws_, kinds, {}, s->graph_.get());
  }
  if (!diags.empty()) {
    std::string msg;
    for (const auto& d : diags) msg += (msg.empty() ? "" : "\n") + d.ToString();
    return Status::Invalid(msg);
  }
  s->home_ = home;
  s->env_ = environment.empty() ? s->ws_.config.default_environment : environment;
  if (!s->ws_.config.environments.count(s->env_))
    return Status::Invalid(fmt::format("unknown environment '{}'", s->env_));
  s->kinds_ = &kinds;
  const std::filesystem::path catalog_file = s->state_dir() / "catalog.db";
  std::error_code exists_ec;
  if (options.read_only && !options.in_memory_catalog &&
      std::filesystem::exists(catalog_file, exists_ec)) {
    // Read-only (works on a full disk); a catalog to migrate is opened to write.
    auto reader = Catalog::OpenReader(catalog_file);
    if (!reader.ok() && reader.status().code() != StatusCode::kInvalid) return reader.status();
    if (reader.ok()) s->catalog_ = std::move(*reader);
  }
  if (options.in_memory_catalog) {
    ALAMBIC_ASSIGN_OR_RETURN(s->catalog_, Catalog::OpenInMemory());
  } else if (!s->catalog_) {
    ALAMBIC_ASSIGN_OR_RETURN(s->catalog_, Catalog::Open(catalog_file));
  }
  ALAMBIC_ASSIGN_OR_RETURN(s->store_, OpenEnvironmentStore(s->ws_.config, s->env_, s->home_));
  s->prefetch_ = std::move(prefetch);
  return s;
}

namespace {

// The planner's view of the catalog and the store. Whether each current
// version's file is in the store (one stat per output, the bulk of an
// up-to-date plan's time) is checked by a helper thread, in graph order, ahead
// of the planner, which checks a file itself when it gets there first.
class CatalogPlanState final : public PlanState {
 public:
  // Reads the catalog unless `prefetched` holds what it would read.
  CatalogPlanState(Catalog& catalog, const DatasetStore& store, std::string env,
                   const FlowGraph& graph, std::shared_ptr<CatalogView> prefetched)
      : catalog_(catalog), store_(store), env_(std::move(env)), graph_(graph) {
    if (!store_.backend())
      store_dir_ = ::open(store_.root().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (prefetched) {
      view_ = std::move(prefetched);
      StartProbing();
    } else if (!ReadInParallel()) {
      view_ = std::make_shared<CatalogView>();
      (void)view_->ReadCurrent(catalog_, env_, static_cast<size_t>(graph_.size()));
      StartProbing();
      (void)view_->ReadBuilds(catalog_, env_, static_cast<size_t>(graph_.size()));
    }
  }
  ~CatalogPlanState() override {
    stop_.store(true, std::memory_order_relaxed);
    if (prober_.joinable()) prober_.join();
    if (store_dir_ >= 0) ::close(store_dir_);
    if (view_) view_->builds.clear();  // the session may keep the current versions only
  }
  CatalogPlanState(const CatalogPlanState&) = delete;
  CatalogPlanState& operator=(const CatalogPlanState&) = delete;

  bool Published(const std::string& dataset, const std::string& id) const override {
    auto it = view_->current.find(dataset);
    if (it != view_->current.end() && it->second.id == id) return InStore(it->first, it->second);
    // A catalog that cannot be read says "not published": the recipe runs again.
    auto recorded = catalog_.HasVersion(env_, dataset, id);
    return recorded.ok() && *recorded && StoreHas(dataset, id);
  }
  std::string Current(const std::string& dataset) const override {
    auto it = view_->current.find(dataset);
    return it == view_->current.end() ? "" : it->second.id;
  }
  const RecipeState* LastBuild(const std::string& key) const override {
    auto it = view_->builds.find(key);
    if (it == view_->builds.end()) return nullptr;
    using B = CatalogView::LastBuild;
    const B& b = it->second;
    if (!b.state) {
      RecipeStateView v;
      v.params_hash = b.field(B::kParamsHash);
      v.code_hash = b.field(B::kCodeHash);
      v.source_fingerprint = b.field(B::kSourceFingerprint);
      v.run_id = b.field(B::kRunId);
      v.inputs = b.field(B::kInputs);
      v.outputs = b.field(B::kOutputs);
      v.salt = b.field(B::kSalt);
      b.state = std::make_unique<RecipeState>(v.Decode());
    }
    return b.state.get();
  }
  bool LastBuildProduced(const std::string& key, const std::vector<std::string>& datasets,
                         const std::vector<std::string>& versions) const override {
    auto it = view_->builds.find(key);
    if (it == view_->builds.end()) return false;
    return RecipeStateView::MapEquals(it->second.field(CatalogView::LastBuild::kOutputs), datasets,
                                      versions);
  }
  // What the planner reads (shared: Session::CurrentVersionIds may keep it).
  const std::shared_ptr<CatalogView>& view() const { return view_; }

  nlohmann::json LastBuildMetrics(const std::string& key) const override {
    const RecipeState* last = LastBuild(key);
    const auto slash = key.find('/');
    if (!last || slash == std::string::npos) return nlohmann::json::object();
    auto run = catalog_.FindRecipeRun(last->run_id, key.substr(0, slash), key.substr(slash + 1));
    if (!run.ok() || !*run || !(*run)->metrics.is_object()) return nlohmann::json::object();
    return (*run)->metrics;
  }

 private:
  // Reads the current versions (then checks their files) on a second catalog
  // connection and thread while this thread reads the last builds. False,
  // with nothing read, when that is not worth it or not possible.
  bool ReadInParallel() {
    if (static_cast<size_t>(graph_.size()) < kMinOutputsForThread) return false;
    auto reader = catalog_.OpenReader();
    if (!reader.ok()) return false;
    // The helper fills (then only reads) view->current; this thread fills
    // view->builds once the helper is done with the reading.
    auto view = std::make_unique<CatalogView>();
    std::promise<void> read;
    std::future<void> ready = read.get_future();
    try {
      prober_ = std::thread(
          [this, v = view.get()](std::unique_ptr<Catalog> other, std::promise<void> done) {
            (void)v->ReadCurrent(*other, env_, static_cast<size_t>(graph_.size()));
            other.reset();
            done.set_value();
            ProbeAll(*v);
          },
          std::move(*reader), std::move(read));
    } catch (const std::system_error&) {
      return false;
    }
    CatalogView builds;
    (void)builds.ReadBuilds(catalog_, env_, static_cast<size_t>(graph_.size()));
    ready.wait();
    view->builds = std::move(builds.builds);
    view_ = std::move(view);
    return true;
  }

  // Checks the files of the graph's outputs on a helper thread (unless there
  // are too few to bother).
  void StartProbing() {
    if (static_cast<size_t>(graph_.size()) < kMinOutputsForThread) return;
    try {
      prober_ = std::thread([this] { ProbeAll(*view_); });
    } catch (const std::system_error&) {
      // No thread: the planner checks every file itself.
    }
  }

  void ProbeAll(const CatalogView& view) const {
    for (int i = 0; i < graph_.size(); ++i) {
      if (stop_.load(std::memory_order_relaxed)) return;
      for (const auto& out : graph_.node(i).recipe->outputs) {
        auto it = view.current.find(out);
        if (it != view.current.end()) InStore(it->first, it->second);
      }
    }
  }

  // Whether the file of a current version is in the store, checking it now
  // unless known.
  bool InStore(const std::string& dataset, const CatalogView::Current& c) const {
    uint8_t known = c.in_store.load(std::memory_order_acquire);
    if (known == CatalogView::Current::kUnknown) {
      known =
          StoreHas(dataset, c.id) ? CatalogView::Current::kPresent : CatalogView::Current::kAbsent;
      c.in_store.store(known, std::memory_order_release);
    }
    return known == CatalogView::Current::kPresent;
  }

  // store_.Exists(dataset, id), resolving only the path below the store's
  // directory (opened once) rather than the whole path for every output.
  bool StoreHas(const std::string& dataset, const std::string& id) const {
    if (store_dir_ < 0 || dataset.empty() || dataset.front() == '/')
      return store_.Exists(dataset, id);
    struct stat st;
    return ::fstatat(store_dir_, DatasetStore::RelativePath(dataset, id).c_str(), &st, 0) == 0;
  }

  static constexpr size_t kMinOutputsForThread = 256;

  Catalog& catalog_;
  const DatasetStore& store_;
  std::string env_;
  const FlowGraph& graph_;
  int store_dir_ = -1;  // the store's root directory, or -1 if it cannot be opened
  std::shared_ptr<CatalogView> view_;
  std::atomic<bool> stop_{false};
  std::thread prober_;  // last: joined before the rest goes
};

class SessionFingerprinter final : public Fingerprinter {
 public:
  explicit SessionFingerprinter(Session& s) : s_(s), ctx_(s.MakeContext(RecipeSpec{})) {
    ctx_.params = nullptr;  // each call's recipe's (For)
  }
  Result<std::string> FileHash(const std::string& path) override {
    RecipeContext ctx = s_.MakeContext(RecipeSpec{});
    ctx.recipe = "code";
    ALAMBIC_ASSIGN_OR_RETURN(auto p, ctx.ResolvePath(path));
    return CachedFileHash(s_.catalog(), p);
  }
  Result<std::string> SourceFingerprint(const RecipeSpec& recipe, const RecipeKind& kind) override {
    return kind.SourceFingerprint(For(recipe, false));
  }
  Result<std::vector<VersionSalt>> VersionSalts(const RecipeSpec& recipe,
                                                const RecipeKind& kind) override {
    return kind.VersionSalts(For(recipe, false));
  }
  Result<std::optional<EffectTarget>> Target(const RecipeSpec& recipe,
                                             const RecipeKind& kind) override {
    return kind.Target(For(recipe, true));  // with its inputs' names only
  }

 private:
  // s_.MakeContext(recipe) (with `recipe`'s input names if `with_inputs`): one
  // context whose recipe fields are set anew for each call, rather than one
  // built for every recipe (kinds take it const).
  const RecipeContext& For(const RecipeSpec& recipe, bool with_inputs) {
    ctx_.recipe = recipe.name;
    ctx_.params = &recipe.params;
    ctx_.outputs = recipe.outputs;
    ctx_.script = recipe.script;
    ctx_.inputs.clear();
    if (with_inputs)
      for (const auto& in : recipe.inputs) ctx_.inputs.push_back({in, nullptr});
    return ctx_;
  }

  Session& s_;
  RecipeContext ctx_;
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
  // Marked before reading (or taking what was prefetched, which is checked
  // unchanged up to then): any commit after it changes the mark.
  const int64_t data_version = catalog_->DataVersion();
  const int64_t total_changes = catalog_->TotalChanges();
  std::unique_ptr<CatalogView> prefetched;
  if (prefetch_) {
    prefetched = prefetch_->Take();
    prefetch_.reset();
  }
  auto state =
      std::make_unique<CatalogPlanState>(*catalog_, *store_, env_, *graph_, std::move(prefetched));
  planned_ = {};
  if (data_version >= 0 && state->view()->current_read)
    planned_ = {state->view(), data_version, total_changes};
  return state;
}

const std::string* CurrentVersionIds::Find(const std::string& dataset) const {
  if (view_) {
    auto it = view_->current.find(dataset);
    return it == view_->current.end() ? nullptr : &it->second.id;
  }
  auto it = read_.find(dataset);
  return it == read_.end() ? nullptr : &it->second;
}

Result<CurrentVersionIds> Session::CurrentVersions() {
  CurrentVersionIds out;
  if (planned_.view && catalog_->DataVersion() == planned_.data_version &&
      catalog_->TotalChanges() == planned_.total_changes) {
    out.view_ = planned_.view;
    return out;
  }
  ALAMBIC_ASSIGN_OR_RETURN(out.read_, catalog_->CurrentVersionIds(env_));
  return out;
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
  ctx.data_roots = EnvironmentDataRoots(ws_.config, env_);
  ctx.environment = env_;
  ctx.secrets_root = home_;
  ctx.config = &ws_.config;
  ctx.script = recipe.script;
  ctx.lua_limits = ws_.config.lua_limits;
  ctx.plugin_limits = ws_.config.plugin_limits;
  Catalog* cat = catalog_.get();
  ctx.hash_file = [cat](const std::filesystem::path& p) { return CachedFileHash(*cat, p); };
  ctx.read_version = [cat, store = store_.get(), env = env_](
                         const std::string& dataset, const std::string& version) -> Result<Table> {
    if (version.empty()) {
      // The current version's schema only, as a table without rows (collect's type drift).
      ALAMBIC_ASSIGN_OR_RETURN(auto ids, cat->CurrentVersionIds(env));
      auto it = ids.find(dataset);
      if (it == ids.end())
        return Status::NotFound(fmt::format("dataset {} has no current version", dataset));
      ALAMBIC_ASSIGN_OR_RETURN(auto cur, cat->FindVersion(env, dataset, it->second));
      if (!cur) return Status::NotFound(fmt::format("dataset {} has no current version", dataset));
      const auto fields = nlohmann::json::parse(cur->schema, nullptr, false);
      Schema schema;
      std::vector<ColumnPtr> cols;
      if (fields.is_array())
        for (const auto& f : fields) {
          if (!f.is_object() || !f.contains("name") || !f.contains("type") ||
              !f["name"].is_string() || !f["type"].is_string())
            continue;
          auto type = ParseTypeName(f["type"].get<std::string>());
          if (!type.ok()) continue;
          schema.fields.push_back(Field{f["name"].get<std::string>(), *type, true});
          cols.push_back(ColumnBuilder(*type).Finish());
        }
      return Table::Make(std::move(schema), std::move(cols), 0);
    }
    ALAMBIC_ASSIGN_OR_RETURN(auto v, cat->FindVersion(env, dataset, version));
    if (!v)
      return Status::NotFound(
          fmt::format("dataset {} has no version '{}' in {}", dataset, version, env));
    return store->Read(dataset, v->id);
  };
  return ctx;
}

}  // namespace alambic
