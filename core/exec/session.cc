#include "core/exec/session.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <optional>
#include <string_view>
#include <system_error>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>

#include "core/base/hash.h"
#include "core/flow/loader.h"
#include "core/flow/validate.h"

namespace alambic {

// The catalog's side of a plan state (current versions, recipe states), read
// on a helper thread through a connection of its own, so that it overlaps with
// loading and validating the flows. Take() gives it only if no connection
// committed to the catalog since it started reading (PRAGMA data_version): it
// is then exactly what reading the catalog at Take() time would give.
class PlanStatePrefetch {
 public:
  struct Data {
    std::unordered_map<std::string, std::string> current;  // dataset -> version id
    std::map<std::string, RecipeState> states;             // "flow/recipe" -> last build
  };

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
  std::optional<Data> Take() {
    if (thread_.joinable()) thread_.join();
    if (!read_ || reader_->DataVersion() != version_) return std::nullopt;
    return std::move(data_);
  }

 private:
  PlanStatePrefetch() = default;
  void Read(const std::filesystem::path& path, const std::string& env) {
    auto reader = Catalog::OpenReader(path);
    if (!reader.ok()) return;
    reader_ = std::move(*reader);
    version_ = reader_->DataVersion();
    auto current = reader_->CurrentVersionIds(env);
    if (version_ < 0 || !current.ok()) return;
    auto states = reader_->RecipeStates(env);
    if (!states.ok()) return;
    data_.current = std::move(*current);
    data_.states = std::move(*states);
    read_ = true;
  }

  std::thread thread_;
  // Written by the thread, read by Take() after joining it.
  std::unique_ptr<Catalog> reader_;
  int64_t version_ = -1;
  bool read_ = false;
  Data data_;
};

Session::~Session() = default;

Result<std::unique_ptr<Session>> Session::Open(const std::filesystem::path& root,
                                               const std::string& environment,
                                               const RecipeRegistry& kinds) {
  // The environment is known from alambic.yaml: its plan state can be read now.
  std::unique_ptr<PlanStatePrefetch> prefetch;
  if (LoadedWorkspace config = LoadWorkspaceConfig(root); config.ok())
    prefetch = PlanStatePrefetch::Start(
        config.workspace.root / ".alambic" / "catalog.db",
        environment.empty() ? config.workspace.config.default_environment : environment);
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
  s->prefetch_ = std::move(prefetch);
  return s;
}

namespace {

// The planner's view of the catalog and the store. Whether each current
// version's file is in the store (one stat per output, the bulk of an
// up-to-date plan's time) is checked by a helper thread, from the last output
// back, while the recipe states are read and the planner works; the planner
// checks whatever the helper has not reached yet itself.
class CatalogPlanState final : public PlanState {
 public:
  // Reads the catalog unless `prefetched` holds what it would read.
  CatalogPlanState(Catalog& catalog, const DatasetStore& store, std::string env,
                   const FlowGraph& graph, std::optional<PlanStatePrefetch::Data> prefetched)
      : catalog_(catalog), store_(store), env_(std::move(env)) {
    store_dir_ = ::open(store_.root().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (prefetched) {
      current_ = std::move(prefetched->current);
      states_ = std::move(prefetched->states);
      ListProbes(graph);
      StartProbing();
    } else if (!LoadInParallel(graph)) {
      LoadCurrentVersions(catalog_, graph);
      StartProbing();
      LoadRecipeStates();
    }
  }
  ~CatalogPlanState() override {
    stop_.store(true, std::memory_order_relaxed);
    if (prober_.joinable()) prober_.join();
    if (store_dir_ >= 0) ::close(store_dir_);
  }
  CatalogPlanState(const CatalogPlanState&) = delete;
  CatalogPlanState& operator=(const CatalogPlanState&) = delete;

  bool Published(const std::string& dataset, const std::string& id) const override {
    auto it = current_.find(dataset);
    if (it != current_.end() && it->second == id) {
      auto probe = probe_of_.find(it->first);
      if (probe != probe_of_.end()) return Probed(probe->second);
      return StoreHas(dataset, id);
    }
    return catalog_.HasVersion(env_, dataset, id) && StoreHas(dataset, id);
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
  enum : uint8_t { kUnknown, kPresent, kAbsent };

  // Reads the current versions (then checks their files) on a second catalog
  // connection and thread while this thread reads the recipe states. False,
  // with nothing loaded, when that is not worth it or not possible.
  bool LoadInParallel(const FlowGraph& graph) {
    if (static_cast<size_t>(graph.size()) < kMinProbesForThread) return false;
    auto reader = catalog_.OpenReader();
    if (!reader.ok()) return false;
    std::promise<void> listed;
    std::future<void> ready = listed.get_future();
    try {
      prober_ = std::thread(
          [this, &graph](std::unique_ptr<Catalog> other, std::promise<void> done) {
            LoadCurrentVersions(*other, graph);
            other.reset();
            done.set_value();  // from here on `graph` may be gone
            ProbeAll();
          },
          std::move(*reader), std::move(listed));
    } catch (const std::system_error&) {
      return false;
    }
    LoadRecipeStates();
    ready.wait();
    return true;
  }

  void LoadRecipeStates() {
    if (auto st = catalog_.RecipeStates(env_); st.ok()) states_ = std::move(*st);
  }

  // Reads the current versions and lists the files to check.
  void LoadCurrentVersions(Catalog& catalog, const FlowGraph& graph) {
    if (auto cur = catalog.CurrentVersionIds(env_); cur.ok()) current_ = std::move(*cur);
    ListProbes(graph);
  }

  // Lists the current versions of the graph's outputs, in graph order, as the
  // files to check.
  void ListProbes(const FlowGraph& graph) {
    for (int i = 0; i < graph.size(); ++i)
      for (const auto& out : graph.node(i).recipe->outputs) {
        auto it = current_.find(out);
        if (it == current_.end() || probe_of_.count(it->first)) continue;
        probe_of_.emplace(it->first, probes_.size());
        probes_.push_back({&it->first, &it->second});
      }
    probe_state_ = std::make_unique<std::atomic<uint8_t>[]>(probes_.size());
  }

  // Checks the listed files on a helper thread (unless there are too few).
  void StartProbing() {
    if (probes_.size() < kMinProbesForThread) return;
    try {
      prober_ = std::thread([this] { ProbeAll(); });
    } catch (const std::system_error&) {
      // No thread: the planner checks every file itself.
    }
  }

  // In graph order, ahead of the planner (which checks a file itself when it
  // gets there first).
  void ProbeAll() const {
    for (size_t k = 0; k < probes_.size() && !stop_.load(std::memory_order_relaxed); ++k)
      Probed(k);
  }

  // Whether probe k's file exists, checking it now unless known.
  bool Probed(size_t k) const {
    uint8_t known = probe_state_[k].load(std::memory_order_acquire);
    if (known == kUnknown) {
      known = StoreHas(*probes_[k].dataset, *probes_[k].id) ? kPresent : kAbsent;
      probe_state_[k].store(known, std::memory_order_release);
    }
    return known == kPresent;
  }

  // store_.Exists(dataset, id), resolving only the path below the store's
  // directory (opened once) rather than the whole path for every output.
  bool StoreHas(const std::string& dataset, const std::string& id) const {
    if (store_dir_ < 0 || dataset.empty() || dataset.front() == '/')
      return store_.Exists(dataset, id);
    struct stat st;
    return ::fstatat(store_dir_, DatasetStore::RelativePath(dataset, id).c_str(), &st, 0) == 0;
  }

  static constexpr size_t kMinProbesForThread = 256;

  Catalog& catalog_;
  const DatasetStore& store_;
  std::string env_;
  int store_dir_ = -1;  // the store's root directory, or -1 if it cannot be opened
  std::unordered_map<std::string, std::string> current_;  // dataset -> version id
  std::map<std::string, RecipeState> states_;
  // The (dataset, current version) files to check, pointing into current_.
  struct Probe {
    const std::string* dataset;
    const std::string* id;
  };
  std::vector<Probe> probes_;
  std::unordered_map<std::string_view, size_t> probe_of_;  // dataset -> index in probes_
  std::unique_ptr<std::atomic<uint8_t>[]> probe_state_;    // per probe: kUnknown, ...
  std::atomic<bool> stop_{false};
  std::thread prober_;  // last: joined before the rest goes
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
  std::optional<PlanStatePrefetch::Data> prefetched;
  if (prefetch_) {
    prefetched = prefetch_->Take();
    prefetch_.reset();
  }
  return std::make_unique<CatalogPlanState>(*catalog_, *store_, env_, *graph_,
                                            std::move(prefetched));
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
