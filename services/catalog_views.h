// What the web UI shows, read from a workspace as JSON documents (the shapes
// of docs/api.md): the use-case catalog (from the lab catalog, registered by
// Refresh()), flows, runs, datasets, lineage, staleness and production state
// (from the workspace's flows and its run catalog), and the few changes the UI
// may make (pause/resume a schedule, trigger a run).
//
// Lists that grow with time page by keyset: a Page gives `limit` and the
// opaque `cursor` of the previous page's `next_cursor`; a page costs one index
// seek whatever its depth (runs go through the run_flows index, schema 8).
// A malformed or foreign cursor is Invalid with a message starting "bad cursor".
//
// Thread-safety: every method may be called from many threads at once; each
// thread reads through its own SQLite connections. Refresh() swaps the loaded
// workspace atomically.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/base/actor.h"
#include "core/base/status.h"
#include "core/flow/flow.h"

namespace alambic {

inline constexpr int kMaxPageLimit = 200;
inline constexpr int kDefaultPageLimit = 50;
inline constexpr int kMaxNeighbourhoodNodes = 1000;

struct Page {
  int limit = kDefaultPageLimit;  // 1..kMaxPageLimit
  std::string cursor;             // "" : the first page
};

struct UseCaseQuery {
  std::vector<std::string> status, direction, tag, owner;  // empty: any
  std::string q;                                           // full-text, "" : none
  std::string sort = "title";  // title, status, owner, direction, updated, health
  bool descending = false;
};

struct ScheduleChange {
  std::string flow, environment;
  bool paused = false;
};

class CatalogViews {
 public:
  // Loads the workspace at `root` (its flows must load) and registers it in
  // its lab catalog.
  static Result<std::unique_ptr<CatalogViews>> Open(const std::filesystem::path& root);
  ~CatalogViews();

  // Reloads the flows and registers the workspace in the lab catalog again
  // (freshness, last runs).
  Status Refresh();

  const std::filesystem::path& root() const { return root_; }
  // The workspace's name, default environment and production environment
  // (warehouse when it exists, else the default).
  std::string name() const;
  std::string default_env() const;
  std::string production_env() const;
  // The use case a flow belongs to ("" when none or no such flow).
  std::string UseCaseOfFlow(const std::string& flow) const;
  // Whether `dataset` is produced by a flow of a use case in `usecases`.
  std::string UseCaseOfDataset(const std::string& dataset) const;
  bool HasFlow(const std::string& flow) const;
  // The environment `env` names ("" : default); Invalid when unknown.
  Result<std::string> Env(const std::string& env) const;

  // A number that changes whenever what the views show may have changed: the
  // workspace was reloaded (Refresh) or any connection committed to the run
  // catalog or the lab catalog (PRAGMA data_version). Cheap: two pragmas.
  uint64_t Generation();

  Result<nlohmann::json> UseCases(const UseCaseQuery& q);
  // UseCases() serialized, cached per query until Generation() changes (the
  // home page's answer: one serialization per query and catalog change).
  Result<std::shared_ptr<const std::string>> UseCasesJson(const UseCaseQuery& q);
  Result<nlohmann::json> Search(const std::string& q, int limit);
  Result<nlohmann::json> UseCase(const std::string& id);
  Result<nlohmann::json> UseCaseAudit(const std::string& id, const Page& page);
  Result<nlohmann::json> FlowGraph(const std::string& flow, const std::string& env);
  // The nodes of `flow`'s graph within `depth` hops (both directions, 0..10)
  // of the `centres` (node ids "recipe:NAME" / "dataset:NAME", 1..50), at
  // most `limit` (1..kMaxNeighbourhoodNodes) in breadth-first order; each
  // with "more", its neighbours left out.
  Result<nlohmann::json> FlowNeighbourhood(const std::string& flow,
                                           const std::vector<std::string>& centres, int depth,
                                           int limit, const std::string& env);
  Result<nlohmann::json> Recipe(const std::string& flow, const std::string& recipe,
                                const std::string& env);
  Result<nlohmann::json> FlowRuns(const std::string& flow, const std::string& env,
                                  const std::string& status, const Page& page);
  Result<nlohmann::json> Run(const std::string& id);
  Result<nlohmann::json> RunLogs(const std::string& id, const std::string& recipe,
                                 const Page& page);
  Result<nlohmann::json> Dataset(const std::string& name, const std::string& env);
  Result<nlohmann::json> DatasetVersions(const std::string& name, const std::string& env,
                                         const Page& page);
  Result<nlohmann::json> Preview(const std::string& name, const std::string& env,
                                 const std::string& version, int limit);
  Result<nlohmann::json> Stats(const std::string& name, const std::string& env,
                               const std::string& version, int bins);
  Result<nlohmann::json> Checks(const std::string& name, const std::string& env, const Page& page);
  Result<nlohmann::json> Lineage(const std::string& name, const std::string& env, int depth,
                                 const std::string& direction);
  // The columns `column` of `name` is computed from (sources) and those
  // computed from it (consumers), `depth` hops each way (1..10), at most 500
  // each; an entry marked "more" leads further.
  Result<nlohmann::json> ColumnLineage(const std::string& name, const std::string& column,
                                       const std::string& env, int depth = 1);
  Result<nlohmann::json> WhyStale(const std::string& name, const std::string& env);
  Result<nlohmann::json> Production(const std::string& env);

  // Pauses or resumes the schedule of `flow` in `env`, audited as `who`.
  // NotFound when the flow has no schedule; Invalid ("already ...") when it
  // already was so.
  Result<ScheduleChange> SetSchedulePaused(const std::string& flow, const std::string& env,
                                           bool paused, const Actor& who);

  // The statement FlowRuns() pages with (?1 flow, ?2 ?3 the keyset position
  // started_at and run id, ?4 environment or "", ?5 status or "", ?6 limit):
  // for tests that check its query plan.
  static std::string RunsPageSql();

 private:
  explicit CatalogViews(std::filesystem::path root);
  std::shared_ptr<const Workspace> workspace() const;
  // The home page's cards (every use case matching the full-text `search`,
  // with freshness and health); when `search` is "", built once per
  // Generation() (one thread builds, the others wait for it).
  Result<std::shared_ptr<const std::vector<nlohmann::json>>> Cards(const std::string& search);
  static constexpr size_t kMaxCachedQueries = 256;
  std::filesystem::path catalog_path() const;
  std::filesystem::path lab_path() const;

  std::filesystem::path root_;
  mutable std::mutex mu_;
  std::shared_ptr<const Workspace> ws_;                       // guarded by mu_
  std::filesystem::path lab_path_;                            // guarded by mu_
  std::shared_ptr<const std::vector<nlohmann::json>> cards_;  // guarded by mu_
  uint64_t cards_gen_ = 0;                                    // guarded by mu_
  // Serialized UseCases() answers of generation json_gen_, by query.
  std::map<std::string, std::shared_ptr<const std::string>> json_cache_;  // guarded by mu_
  uint64_t json_gen_ = 0;                                                 // guarded by mu_
  // The KPI series of each use case shown since the last Refresh().
  std::map<std::string, nlohmann::json> kpi_cache_;  // guarded by mu_
  std::mutex build_mu_;                              // held while the cards are built
  // Generation(): its own read connections and the data versions they saw.
  std::mutex gen_mu_;
  struct Watch;
  std::unique_ptr<Watch> watch_;  // guarded by gen_mu_
  uint64_t gen_ = 1;              // guarded by gen_mu_
};

}  // namespace alambic
