// A Session is an opened workspace in one environment: the loaded and validated
// flows, the catalog, the dataset store and the recipe kinds. The CLI and the
// web UI both work through it.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "catalog/catalog.h"
#include "core/flow/flow.h"
#include "core/plan/graph.h"
#include "core/plan/plan.h"
#include "core/recipe/recipe.h"
#include "core/store/store.h"

namespace alambic {

class PlanStatePrefetch;
struct CatalogView;

// The id of each dataset's current version in one environment
// (Session::CurrentVersions).
class CurrentVersionIds {
 public:
  // The id of `dataset`'s current version, or nullptr if it has none.
  const std::string* Find(const std::string& dataset) const;

 private:
  friend class Session;
  std::shared_ptr<const CatalogView> view_;            // as the last plan read them, or
  std::unordered_map<std::string, std::string> read_;  // as read from the catalog
};

struct SessionOptions {
  // Where the code is loaded from (alambic.yaml, flows, scripts, the data paths
  // of params) when it is not the workspace itself, e.g. a release's checkout
  // under <root>/.alambic/checkouts/; "": the workspace root. The state
  // (.alambic/: catalog, stores, lock) and relative secret files stay under
  // the workspace root either way.
  std::filesystem::path code_root;
  // Opens the catalog read-only (Catalog::OpenReader) when it exists at the
  // current schema: for commands that only read it (status), so that they work
  // on a full disk.
  bool read_only = false;
  // Opens a new, empty catalog in memory (Catalog::OpenInMemory) instead of
  // <root>/.alambic/catalog.db: nothing is read from or written to that file.
  // For engine tests; the store stays on disk.
  bool in_memory_catalog = false;
};

class Session {
 public:
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Loads the workspace at `root` (its code from options.code_root when set),
  // whose recipes use the kinds of `kinds` (the caller fills it: the engine has
  // no default set of kinds; the registry must outlive the session),
  // and opens its catalog and the store of `environment` ("" for the
  // workspace's default; the environment's `store:`, by default
  // <root>/.alambic/store/<environment>). Fails with every diagnostic (one per
  // line) when the flows do not validate. Meanwhile a helper thread reads the
  // catalog's side of the plan state, for the first LoadPlanState() (which
  // uses it only if the catalog did not change since).
  static Result<std::unique_ptr<Session>> Open(const std::filesystem::path& root,
                                               const std::string& environment,
                                               const RecipeRegistry& kinds,
                                               const SessionOptions& options = {});

  // For a process that exits right after: closes the session's catalog and
  // store (as its destructor does) and leaves the rest (the flows, their graph,
  // the plan state read: tens of MB in small blocks at 10,000 recipes) to the
  // process's end instead of freeing it block by block. It stays reachable
  // (not a leak to LeakSanitizer).
  static void CloseAndLeaveToExit(std::unique_ptr<Session> session);

  const Workspace& workspace() const { return ws_; }
  // The code root: where alambic.yaml, the flows and scripts were loaded from.
  const std::filesystem::path& root() const { return ws_.root; }
  // The workspace root (absolute): where .alambic/ and relative secret files
  // are; root() too unless the session was opened with a code_root.
  const std::filesystem::path& home() const { return home_; }
  const std::string& environment() const { return env_; }
  const FlowGraph& graph() const { return *graph_; }
  const RecipeRegistry& kinds() const { return *kinds_; }
  Catalog& catalog() { return *catalog_; }
  const DatasetStore& store() const { return *store_; }
  std::filesystem::path state_dir() const { return home_ / ".alambic"; }
  // This environment's entry of alambic.yaml.
  const EnvironmentSpec& environment_spec() const { return ws_.config.environments.at(env_); }

  // Plans against the catalog and the store of this environment.
  Result<Plan> MakePlan(const PlanOptions& options);
  // The planner's view of this environment (catalog + store), loaded in bulk;
  // its store files are checked on a helper thread while the planner works.
  std::unique_ptr<PlanState> LoadPlanState();
  // The current versions of this environment: as the last LoadPlanState() read
  // them if nothing was committed to the catalog since (by any connection:
  // PRAGMA data_version and this connection's change count), else read now.
  Result<CurrentVersionIds> CurrentVersions();
  // Source and code fingerprints, with a (size, mtime, inode) cache in the catalog.
  std::unique_ptr<Fingerprinter> MakeFingerprinter();
  // A recipe context with paths set (inputs, logger, token left to the caller).
  RecipeContext MakeContext(const RecipeSpec& recipe) const;

 private:
  Session() = default;
  Workspace ws_;
  std::filesystem::path home_;
  std::string env_;
  std::unique_ptr<FlowGraph> graph_;
  const RecipeRegistry* kinds_ = nullptr;
  std::unique_ptr<Catalog> catalog_;
  std::unique_ptr<DatasetStore> store_;
  std::unique_ptr<PlanStatePrefetch> prefetch_;  // until the first LoadPlanState()
  // What the last LoadPlanState() read, with the catalog's marks before it.
  struct PlannedView {
    std::shared_ptr<const CatalogView> view;
    int64_t data_version = -1;
    int64_t total_changes = -1;
  } planned_;
};

// Hashes a file's content, reusing the catalog's cached hash when the file's
// size, mtime and inode are unchanged (like git's index).
Result<std::string> CachedFileHash(Catalog& catalog, const std::filesystem::path& path);

}  // namespace alambic
