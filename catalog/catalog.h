// The catalog: a SQLite database (through SQLiteCpp) recording runs, recipe runs,
// dataset versions and their inputs, current versions per dataset, the last
// successful build of each recipe (for staleness reasons), a stat cache of
// file fingerprints, releases and their activations (release.h) and the audit
// log (audit.h).
//
// Thread-safety: every method locks one mutex; callers may share a Catalog.
// Durability: WAL journal, synchronous=FULL; each Commit() is one transaction,
// so a crash leaves either all or none of a batch.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "catalog/audit.h"
#include "catalog/release.h"
#include "catalog/schedule_state.h"
#include "core/base/actor.h"
#include "core/base/status.h"

namespace SQLite {
class Database;
class Statement;
}  // namespace SQLite

namespace alambic {

// Latest schema version; migrations run in order on Open().
inline constexpr int kCatalogSchemaVersion = 11;
// The SQL that takes a catalog from schema version - 1 to `version` (1 creates it),
// for tests that build an older catalog and tools that inspect the history.
const char* CatalogMigrationSql(int version);

struct RunRecord {
  std::string id;     // UUID
  std::string flows;  // comma-separated flow names
  std::string environment;
  std::string trigger;  // manual, schedule, promotion
  std::string user;
  std::string git_commit;
  bool git_dirty = false;
  std::string status;                   // running, succeeded, failed, cancelled
  std::string started_at, finished_at;  // ISO-8601 UTC
  std::string error;
  // The execution environment the run happened in (schema 2; "" before).
  std::string alambic_version, host;
  // The release it ran, as "permis/3" ("" for a run of the working tree; schema 5).
  std::string release;
};

struct RecipeRunRecord {
  std::string run_id, flow, recipe, kind;
  std::string status;  // succeeded, failed, cancelled, timed_out, skipped, up_to_date
  std::string reason;  // the planner's explanation
  int attempts = 0;
  std::string started_at, finished_at;
  double duration_ms = 0;
  int64_t rows_in = 0, rows_out = 0, bytes_out = 0;
  std::string error;
  std::string log;
  nlohmann::json metrics = nlohmann::json::object();
  // This recipe run's own id (a UUID; OpenLineage's runId, the run being its parent).
  std::string uuid;
  // The input versions it read (or was to read): dataset -> version id.
  std::map<std::string, std::string> inputs;
  // Its output versions: dataset -> version id. The versions it published
  // (succeeded), or the current versions it found up to date (up_to_date);
  // empty otherwise (schema 5).
  std::map<std::string, std::string> outputs;
  // The rows of each output it published, in the recipe's output order
  // (succeeded only; not stored: the dataset versions hold them).
  std::vector<std::pair<std::string, int64_t>> output_rows;
};

// One edge of column-level lineage: output column `column` of a dataset version
// derives from `input_column` of `input_dataset` (the input version is the one
// the version's inputs name). An opaque edge (the kind could not tell) has an
// empty input_column: the column may depend on any column of that input.
struct ColumnLineageEdge {
  std::string column, input_dataset, input_column;
  std::string transform;  // identity, transformation, aggregation, join_key, filter, opaque
  bool operator==(const ColumnLineageEdge&) const = default;
};

struct DatasetVersionRecord {
  std::string id, dataset, environment;
  std::string file;    // relative to the store root
  std::string schema;  // JSON array of {name, type}
  int64_t rows = 0, bytes = 0;
  std::string run_id, flow, recipe, created_at;
  std::vector<std::pair<std::string, std::string>> inputs;  // (dataset, version id)
  // Written by Commit(); read back by LoadLineage().
  std::vector<ColumnLineageEdge> column_lineage;
};

// A dataset version, by name and id.
struct VersionRef {
  std::string dataset, version_id;
  bool operator==(const VersionRef&) const = default;
  bool operator<(const VersionRef& o) const {
    return std::tie(dataset, version_id) < std::tie(o.dataset, o.version_id);
  }
};

// What the planner compares against to explain staleness.
struct RecipeState {
  std::string params_hash, code_hash, source_fingerprint;
  // The recipe's version salts (RecipeKind::VersionSalts) as a JSON object
  // what -> id, e.g. {"secret pseudo_key": KeyId}; "" when it has none.
  std::string salt;
  std::map<std::string, std::string> inputs;   // dataset -> version id consumed
  std::map<std::string, std::string> outputs;  // dataset -> version id produced
  std::string run_id;
};

// A recipe state as stored, for readers that decode only what they use. The
// views point into the catalog's current row: valid during one call of the
// ForEachRecipeState callback.
struct RecipeStateView {
  std::string_view flow, recipe;
  std::string_view params_hash, code_hash, source_fingerprint, run_id;
  std::string_view inputs, outputs;  // JSON objects as stored: dataset -> version id
  std::string_view salt;
  // The state RecipeStates() gives for this row.
  RecipeState Decode() const;
  // One of the JSON maps, decoded as Decode() does (entries whose value is
  // not a string are left out; what is not a JSON object is empty).
  static std::map<std::string, std::string> DecodeMap(std::string_view json);
  // Whether DecodeMap(json) is exactly {keys[i]: values[i]} (same sizes),
  // mostly without decoding it.
  static bool MapEquals(std::string_view json, const std::vector<std::string>& keys,
                        const std::vector<std::string>& values);
};

// A recipe a run found up to date (schema 10). A run's up-to-date recipes are
// recorded together, in one catalog row (table run_up_to_date), and read back
// by RecipeRuns, FindRecipeRun and LatestRecipeRunsAtCommit (and the view
// recipe_run_rows) as recipe runs of status up_to_date: the versions found
// current, no timings, the metrics of the recipe run that built the first
// output's version (looked up when read), and a UUID derived from the run id,
// flow and recipe (UpToDateRecipeUuid).
struct UpToDateRecipe {
  std::string flow, recipe, kind;
  std::string reason;  // the planner's explanation
  // (dataset, version id), in the recipe's input and output order.
  std::vector<std::pair<std::string, std::string>> inputs, outputs;
};

// The same, as views of the caller's names and ids (nothing copied): for
// encoding a run's up-to-date recipes beforehand (EncodeUpToDateRecipes).
struct UpToDateRecipeRef {
  std::string_view flow, recipe, kind, reason;
  // The datasets and their version ids, in the recipe's input and output order
  // (pairs up to the shorter of each two).
  std::span<const std::string> inputs, input_versions, outputs, output_versions;
};

// The row CatalogBatch::up_to_date_row holds for these recipes: what Commit
// writes for the same recipes given as UpToDateRecipe.
std::string EncodeUpToDateRecipes(std::span<const UpToDateRecipeRef> recipes);

// One group commit: recipe runs, published versions, new current versions and
// recipe states, all in one transaction.
struct CatalogBatch {
  // A run to begin (as Catalog::BeginRun) in the same transaction, before the
  // records below: a run's start and its up-to-date recipes in one commit.
  std::optional<RunRecord> begin_run;
  std::vector<RecipeRunRecord> recipe_runs;
  // The up-to-date recipes of run `up_to_date_run`, written as one row.
  std::string up_to_date_run;
  std::vector<UpToDateRecipe> up_to_date;
  // Or, instead of up_to_date, their row already encoded (EncodeUpToDateRecipes):
  // written as is when not empty.
  std::string up_to_date_row;
  std::vector<DatasetVersionRecord> versions;
  std::vector<std::tuple<std::string, std::string, RecipeState>> states;  // flow, recipe, state
  std::string environment;
};

struct CurrentVersion {
  std::string dataset, version_id, run_id, updated_at;
  int64_t rows = 0, bytes = 0;
  std::string flow, recipe;
  std::string release;  // the release the run `run_id` ran ("" when none)
};

// A model version: a dataset version written by a `train` recipe, with the
// metrics its recipe run recorded.
struct ModelVersionRecord {
  std::string model;  // the train recipe's output dataset
  std::string version_id, environment, run_id, flow, recipe, created_at;
  bool current = false;  // the dataset's current version
  nlohmann::json metrics = nlohmann::json::object();
};

// One run of an `evaluate` recipe: a model re-checked on labelled data.
struct ModelEvaluationRecord {
  std::string run_id, flow, recipe, finished_at;
  nlohmann::json metrics = nlohmann::json::object();  // with model_id and dataset
};

struct FileFingerprint {
  int64_t size = 0, mtime_ns = 0, inode = 0;
  std::string sha256;
};

class Catalog {
 public:
  // Opens (creating if needed) and migrates the catalog at `path`.
  static Result<std::unique_ptr<Catalog>> Open(const std::filesystem::path& path);
  // A connection to the existing catalog at `path`, to read in parallel with
  // another (e.g. from another thread): creates and migrates nothing, and fails
  // when there is no catalog there or its schema is not kCatalogSchemaVersion.
  static Result<std::unique_ptr<Catalog>> OpenReader(const std::filesystem::path& path);
  // A new, empty catalog in memory (SQLite ":memory:"), migrated to the latest
  // schema: for engine tests that need no files. It lives as long as the object
  // and has no other connection (OpenReader() fails).
  static Result<std::unique_ptr<Catalog>> OpenInMemory();
  // Another connection to this catalog's file, as OpenReader(path) makes.
  Result<std::unique_ptr<Catalog>> OpenReader();
  bool in_memory() const { return in_memory_; }
  ~Catalog();
  Catalog(const Catalog&) = delete;
  Catalog& operator=(const Catalog&) = delete;

  int schema_version();

  Status BeginRun(const RunRecord& run);
  Status FinishRun(const std::string& id, const std::string& status, const std::string& finished_at,
                   const std::string& error);
  Status Commit(const CatalogBatch& batch);

  // Runs, newest first.
  Result<std::vector<RunRecord>> ListRuns(int limit);
  // A run by id or unique id prefix.
  Result<RunRecord> FindRun(const std::string& id_or_prefix);
  // A run's recipe runs: those that started (in start order), then its
  // up-to-date recipes (UpToDateRecipe, in plan order), then the others.
  Result<std::vector<RecipeRunRecord>> RecipeRuns(const std::string& run_id);
  // The recipe run of `flow`/`recipe` in run `run_id`, if recorded.
  Result<std::optional<RecipeRunRecord>> FindRecipeRun(const std::string& run_id,
                                                       const std::string& flow,
                                                       const std::string& recipe);
  // Where to find the metrics of the recipe run that built a version: version
  // `version` of `dataset`, built by recipe `flow`/`recipe`.
  struct BuiltBy {
    std::string dataset, version, flow, recipe;
  };
  // For each of `wanted`, in order: the metrics (JSON text) of recipe run
  // `flow`/`recipe` of the run that built that version in `env`, or nullopt
  // when the version or that recipe run is not recorded. One read transaction
  // and one prepared statement for all. (Up-to-date records no longer copy
  // these metrics: since schema 10 they are read when a record is read.)
  Result<std::vector<std::optional<std::string>>> BuiltMetrics(const std::string& env,
                                                               const std::vector<BuiltBy>& wanted);
  // The latest recipe runs at a commit: for each recipe of `flow` with one, the
  // most recent recipe run (any status) in environment `env` of a run with
  // git_commit = `commit` made from a clean tree (runs of a dirty tree do not
  // count), with its outputs and metrics; ordered by recipe name.
  Result<std::vector<RecipeRunRecord>> LatestRecipeRunsAtCommit(const std::string& env,
                                                                const std::string& flow,
                                                                const std::string& commit);

  // Current version of every dataset in an environment.
  Result<std::vector<CurrentVersion>> CurrentVersions(const std::string& env);
  // Dataset -> version id of the same current versions, without their details
  // (what the planner reads).
  Result<std::unordered_map<std::string, std::string>> CurrentVersionIds(const std::string& env);
  // Calls fn(dataset, version id) for each of them, under the catalog's lock
  // (fn must not call the catalog).
  Status ForEachCurrentVersionId(const std::string& env,
                                 const std::function<void(std::string_view, std::string_view)>& fn);
  Result<std::optional<DatasetVersionRecord>> FindVersion(const std::string& env,
                                                          const std::string& dataset,
                                                          const std::string& id_or_prefix);
  Result<std::vector<DatasetVersionRecord>> Versions(const std::string& env,
                                                     const std::string& dataset);
  // Whether version `id` of `dataset` is recorded (an error when the catalog
  // cannot be read).
  Result<bool> HasVersion(const std::string& env, const std::string& dataset,
                          const std::string& id);
  Result<std::map<std::string, RecipeState>> RecipeStates(
      const std::string& env);  // "flow/recipe" -> state
  // Calls fn on each stored recipe state of `env`, in the order RecipeStates()
  // reads them (of two rows with the same "flow/recipe", the later wins
  // there). fn runs under the catalog's lock: it must not call the catalog.
  Status ForEachRecipeState(const std::string& env,
                            const std::function<void(const RecipeStateView&)>& fn);

  // Fills v->inputs and v->column_lineage from the catalog (as Commit() wrote them).
  Status LoadLineage(DatasetVersionRecord* v);
  // Versions that recorded (input_dataset, input_version) as an input; any
  // version of input_dataset when input_version is "".
  Result<std::vector<VersionRef>> VersionsReading(const std::string& env,
                                                  const std::string& input_dataset,
                                                  const std::string& input_version);
  // The versions a run produced, in the order they were recorded.
  Result<std::vector<DatasetVersionRecord>> VersionsOfRun(const std::string& run_id);

  // Versions to keep on gc: current ones and those the last `keep_runs` runs produced or read.
  Result<std::vector<DatasetVersionRecord>> VersionsNotReferenced(const std::string& env,
                                                                  int keep_runs);
  Status DeleteVersions(const std::string& env, const std::vector<DatasetVersionRecord>& versions);

  // Model versions of `env` (of every model when `model` is ""), newest first.
  Result<std::vector<ModelVersionRecord>> ModelVersions(const std::string& env,
                                                        const std::string& model = "");
  // Successful evaluate runs of `env` on the model whose content id is
  // `model_id`, oldest first.
  Result<std::vector<ModelEvaluationRecord>> ModelEvaluations(const std::string& env,
                                                              const std::string& model_id);

  std::optional<FileFingerprint> GetFingerprint(const std::string& path);
  Status PutFingerprint(const std::string& path, const FileFingerprint& fp);

  // ---- releases (release.h) ----
  // 1 + the highest release number of (flow, env); 1 for the first.
  Result<int> NextReleaseNumber(const std::string& flow, const std::string& env);
  // Records release `r` (r.status and r.activated_at are ignored; an empty
  // created_at is now, an empty user or host is `who`'s) and its 'promote'
  // activation by `who`, in one transaction. Fails (Invalid) when (flow,
  // environment, number) exists, naming the release. With `audit`, its entry is
  // appended in the same transaction: a release is never active unaudited.
  Status AddRelease(const ReleaseRecord& r, const Actor& who, const AuditEntry* audit = nullptr);
  // The releases of (flow, env), newest number first, with status and
  // activated_at filled.
  Result<std::vector<ReleaseRecord>> ListReleases(const std::string& flow, const std::string& env);
  // The release of the latest activation of (flow, env); none before the first.
  Result<std::optional<ReleaseRecord>> ActiveRelease(const std::string& flow,
                                                     const std::string& env);
  // Appends an activation of release `number` (action "promote" or "rollback").
  // Fails (Invalid) for another action, (NotFound) when the release does not
  // exist, (Invalid) when it is already the active one. With `audit`, its entry
  // is appended in the same transaction (nothing is appended on a failure).
  Status ActivateRelease(const std::string& flow, const std::string& env, int number,
                         const std::string& action, const Actor& who, const std::string& note,
                         const AuditEntry* audit = nullptr);

  // ---- the audit log (audit.h) ----
  // Appends `entry`, filling seq, at (when empty), prev_hash and hash, in one
  // transaction that also reads the previous hash (safe across processes).
  Status AppendAudit(AuditEntry entry);
  // Entries matching `f`, oldest first.
  Result<std::vector<AuditEntry>> ReadAudit(const AuditFilter& f);
  // Recomputes the hash chain: ok, or Failed naming the first entry that does
  // not match, "audit entry 7 was altered or removed" (also for a missing
  // entry, including the last one).
  Status VerifyAudit();

  // ---- schedules (schedule_state.h) ----
  // Records that slot `s` fires, before its run is created: true when this
  // call claimed it, false when it was already claimed (by anyone, ever).
  Result<bool> TryClaimSlot(const SlotClaim& s);
  // Attaches the run created for a claimed slot.
  Status SetSlotRun(const SlotClaim& s, const std::string& run_id);
  // The claimed slot of (flow, env) with the latest nominal time in `timezone`.
  Result<std::optional<SlotClaim>> LastClaimedSlot(const std::string& flow, const std::string& env,
                                                   const std::string& timezone);
  // The state of (flow, env) after seeing its schedule `definition` at `now`
  // (ISO-8601 UTC): first_seen is `now` the first time and whenever the
  // definition changed, else kept; the pause state is kept.
  Result<ScheduleState> ObserveSchedule(const std::string& flow, const std::string& env,
                                        const std::string& definition, const std::string& now);
  // The recorded state, if any.
  Result<std::optional<ScheduleState>> GetScheduleState(const std::string& flow,
                                                        const std::string& env);
  // Pauses or resumes (flow, env) at `now` by `who`: false (nothing changed)
  // when it already was in that state.
  Result<bool> SetSchedulePaused(const std::string& flow, const std::string& env, bool paused,
                                 const Actor& who, const std::string& now);

  // The cursor of a data trigger, if it was ever observed.
  Result<std::optional<TriggerCursor>> GetTriggerCursor(const std::string& flow,
                                                        const std::string& env,
                                                        const std::string& trigger);
  // Moves the trigger's cursor to `c` only when it is still `previous_hash`
  // ("" : never observed) and, with `slot`, claims that slot in the same
  // transaction (fenced like TryClaimSlot), so a change fires its slot exactly
  // once: true when this call did it, false when the cursor had moved or the
  // slot was claimed already (nothing written).
  Result<bool> AdvanceTriggerCursor(const TriggerCursor& c, const std::string& previous_hash,
                                    const SlotClaim* slot);

  // ---- the scheduler's lease (schedule_state.h) ----
  // Takes the lease of (workspace, env) for `holder` until `expires_at`, or
  // renews it when `holder` already holds it: the lease as it stands after
  // the call (holder is someone else when they hold an unexpired lease; then
  // nothing changed). Times are ISO-8601 UTC text of one format, compared as text.
  Result<SchedulerLease> AcquireLease(const std::string& workspace, const std::string& env,
                                      const std::string& holder, const std::string& now,
                                      const std::string& expires_at);
  // The lease, if ever taken.
  Result<std::optional<SchedulerLease>> GetLease(const std::string& workspace,
                                                 const std::string& env);
  // Ends the lease held with `token` at `now` (a clean stop: the next daemon
  // need not wait for it to expire). No-op when the lease has another token.
  Status ReleaseLease(const std::string& workspace, const std::string& env, int64_t token,
                      const std::string& now);
  // From now on every write of this connection through TryClaimSlot,
  // UpdateSlot, SetSlotRun, BeginRun, FinishRun and Commit first checks, in
  // its transaction, that the lease of (workspace, env) still has `token`,
  // and fails (Failed, "lease lost: ...") without writing when not.
  void SetFence(const std::string& workspace, const std::string& env, int64_t token);

  // Records the progress of a claimed slot (status, attempts, next_attempt_at,
  // error, run_id; lease_token is the fence's token, else kept).
  Status UpdateSlot(const SlotClaim& s);
  // The slots of `env` whose status is not final (claimed, queued, running,
  // retry_wait), oldest nominal first.
  Result<std::vector<SlotClaim>> OpenSlots(const std::string& env);
  // Every slot of (flow, env), oldest nominal first (tests, `schedule` views).
  Result<std::vector<SlotClaim>> ListSlots(const std::string& flow, const std::string& env);

  // PRAGMA integrity_check; "ok" when sound.
  Result<std::string> IntegrityCheck();
  // A number that changes whenever another connection commits to the catalog
  // (PRAGMA data_version): tells whether what this connection read is still
  // current. -1 when it cannot be read.
  int64_t DataVersion();
  // How many rows this connection has changed since it was opened
  // (sqlite3_total_changes64): with DataVersion(), tells whether anything was
  // committed since, by this connection or another.
  int64_t TotalChanges();

 private:
  explicit Catalog(std::unique_ptr<SQLite::Database> db);
  Status Migrate();
  std::mutex mu_;
  std::unique_ptr<SQLite::Database> db_;  // guarded by mu_
  bool in_memory_ = false;
  // SetFence's lease (guarded by mu_); token 0: not fenced.
  std::string fence_workspace_, fence_env_;
  int64_t fence_token_ = 0;
  Status CheckFenceLocked();  // requires mu_
  // AppendAudit's insert, inside the caller's write transaction (requires mu_;
  // throws SQLite's errors).
  void InsertAuditLocked(AuditEntry e);
  // HasVersion's statement, prepared on first use (the planner calls it per
  // output); declared after db_ so that it is finalized first. Guarded by mu_.
  std::unique_ptr<SQLite::Statement> has_version_;
};

// Now, as ISO-8601 UTC with milliseconds.
std::string NowIso();
// `t` as ISO-8601 UTC with milliseconds, as NowIso() writes it.
std::string IsoTime(std::chrono::system_clock::time_point t);
// A random (version 4) UUID.
std::string NewUuid();
// The UUID of the up-to-date record of `flow`/`recipe` in run `run_id`: the
// same whenever it is read (a version 8 UUID, from a SHA-256 of the three).
std::string UpToDateRecipeUuid(const std::string& run_id, const std::string& flow,
                               const std::string& recipe);

}  // namespace alambic
