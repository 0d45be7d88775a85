// The flow model: datasets and recipes declared in flows/*.yaml, plus the
// workspace settings from alambic.yaml. Loading never stops at the first
// problem: every problem becomes a Diagnostic with file:line:column.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/base/diagnostic.h"
#include "core/base/limits.h"
#include "core/base/secrets.h"
#include "core/flow/connections.h"

namespace alambic {

struct ColumnSpec {
  std::string name;
  std::vector<std::string> tags;  // e.g. personal, pseudonymised, public
  std::string description;
  SourceLoc loc;
  bool operator==(const ColumnSpec&) const = default;
};

struct DatasetSpec {
  std::string name;
  std::string description;
  std::vector<ColumnSpec> columns;
  SourceLoc loc;
  bool operator==(const DatasetSpec&) const = default;
};

// Retry and timeout settings; unset fields fall back to the flow's, then defaults.
struct ExecPolicy {
  std::optional<double> timeout_seconds;        // per attempt
  std::optional<int> retries;                   // extra attempts after the first
  std::optional<double> retry_backoff_seconds;  // first delay, doubled each attempt
  bool operator==(const ExecPolicy&) const = default;
};

// What a recipe's job asks of a cluster executor (Slurm): `resources: {cpus,
// mem, time}` on a recipe, or the defaults of an environment's executor. 0 / "":
// unset (the environment's default, else the cluster's).
struct JobResources {
  int cpus = 0;
  std::string mem;   // as sbatch takes it: 512M, 4G
  std::string time;  // as sbatch takes it: minutes, MM:SS, HH:MM:SS, D-HH[:MM[:SS]]
  bool operator==(const JobResources&) const = default;
};

struct RecipeSpec {
  std::string name;
  std::string kind;
  std::vector<std::string> inputs;
  std::vector<std::string> outputs;
  nlohmann::json params = nlohmann::json::object();
  std::map<std::string, SourceLoc> param_locs;  // top-level param key -> location of its value
  std::string script;  // optional code file (lua, sql), relative to the workspace
  std::string description;
  ExecPolicy policy;
  JobResources resources;  // `resources:` (Slurm jobs only)
  SourceLoc loc;           // the recipe's entry
  SourceLoc kind_loc, params_loc;
  std::vector<SourceLoc> input_locs, output_locs;
  bool operator==(const RecipeSpec&) const = default;
};

// `schedule: on_change:` one upstream source whose change runs the flow
// (services/scheduler/triggers.h polls it): exactly one of
//   file: PATH                       the file's content (SHA-256)
//   http: URL                        its ETag, else Last-Modified, else the body's hash
//   dataset: FLOW/DATASET            the current version of another flow's dataset
//   sql: {connection: C, query: Q}   the hash of the query's rows (a sqlite connection)
// polled every `every` (at least kMinTriggerEverySeconds).
struct ChangeTrigger {
  std::string kind;        // file | http | dataset | sql
  std::string target;      // the path, the URL, "flow/dataset", or the query
  std::string connection;  // sql only
  std::string every = "5m";
  SourceLoc loc;
  // What identifies it (its cursor's key): "file:data/exams.csv", ...
  std::string Key() const {
    return kind + ":" + (connection.empty() ? "" : connection + ":") + target;
  }
  bool operator==(const ChangeTrigger&) const = default;
};
// The shortest polling interval of a trigger, in seconds.
inline constexpr int kMinTriggerEverySeconds = 10;

// `schedule:` as written (validated by the loader; core/sched/schedule.h
// says what each field means; core/flow/schedule_spec.h compiles it).
struct Schedule {
  std::string cron;  // five fields, or a shortcut (@daily); "" when only on_change
  std::string timezone = "Europe/Paris";
  std::string catchup = "latest";  // latest | all | none
  int catchup_max = 10;            // `catchup: {policy, max, window}`
  std::string catchup_window = "7d";
  std::string start, end;               // local "YYYY-MM-DD[THH:MM]", "" for none
  std::string dst_gap = "run_at_next";  // run_at_next | skip
  std::string dst_overlap = "first";    // first | second
  // How the scheduler runs a slot (services/scheduler/scheduler.h).
  int retries = 0;                       // further runs of a failed slot
  std::string retry_delay = "1m";        // before the first retry; doubles each time
  int max_active_runs = 1;               // runs of this flow at once
  std::string overlap = "skip";          // skip | queue | cancel, when max_active_runs are running
  std::string timeout;                   // a run's wall-clock limit ("" none), e.g. "2h"
  std::string late_after;                // lateness alert: not finished this long after nominal
  std::vector<ChangeTrigger> on_change;  // runs when an upstream source changes
  SourceLoc loc;
  bool operator==(const Schedule&) const = default;
};

struct Partitioning {
  std::string by;                   // a name, e.g. month or departement
  std::vector<std::string> values;  // explicit partition values
  SourceLoc loc;
  bool operator==(const Partitioning&) const = default;
};

struct Flow {
  std::string name;
  std::string file;  // relative path of the YAML file
  std::string usecase;
  std::string description;
  std::optional<Schedule> schedule;
  std::optional<Partitioning> partitioning;
  ExecPolicy policy;  // defaults for the flow's recipes
  std::map<std::string, DatasetSpec> datasets;
  std::vector<RecipeSpec> recipes;
  SourceLoc loc;
  bool operator==(const Flow&) const = default;
};

// One entry of `environments:` in alambic.yaml: where an environment keeps its
// datasets, how it runs recipes, what it may read. Its `connections:` and
// `secrets:` override the top-level entries of the same name in that
// environment (core/flow/connections.h, core/base/secrets.h).
// `executor: {kind: slurm, ...}` of an environment (core/exec/slurm_executor.h).
struct SlurmSettings {
  std::string partition, account, qos;  // "" : the cluster's default
  JobResources defaults;                // cpus, mem, time
  int max_jobs = 8;                     // jobs in the queue at once
  double poll_seconds = 1;              // how often squeue is asked
  // Where task specs, job outputs and logs go: a directory every node sees
  // (absolute; default <workspace>/.alambic/slurm).
  std::filesystem::path staging;
  bool operator==(const SlurmSettings&) const = default;
};

struct EnvironmentSpec {
  std::string name;
  // The dataset store (absolute). `store:` relative paths resolve against the
  // workspace that holds the state (.alambic/); default
  // <that workspace>/.alambic/store/<name>.
  std::filesystem::path store;
  // `store: {kind: postgres, connection: NAME, schema: S}`: the datasets live
  // as tables of schema S of that postgres connection (core/store/pg_store.h);
  // store_connection is then set and `store` is unused.
  std::string store_connection, store_schema;
  SourceLoc store_loc;             // the `store:` entry, for messages
  std::string executor = "local";  // local | slurm
  SlurmSettings slurm;             // when executor is slurm
  // Runs only promoted releases (default: true for an environment named
  // "warehouse", false for any other).
  bool releases_only = false;
  // Added to the top-level data_roots in this environment (absolute).
  std::vector<std::filesystem::path> data_roots;
  // Names of the connections and secrets this environment declares itself.
  std::vector<std::string> connections, secrets;
  SourceLoc loc;  // its entry in alambic.yaml
  bool operator==(const EnvironmentSpec&) const = default;
};

struct WorkspaceConfig {
  std::string name;
  std::string default_environment = "datalab";
  // Never empty once loaded: with no `environments:`, datalab and warehouse.
  std::map<std::string, EnvironmentSpec> environments;
  std::vector<std::filesystem::path> data_roots;  // absolute
  int gc_keep_runs = 10;
  ResourceLimits lua_limits = kDefaultLuaLimits;        // `lua:` section
  ResourceLimits plugin_limits = kDefaultPluginLimits;  // `plugins:` section
  std::vector<std::filesystem::path> plugin_dirs;       // `plugins: {dirs: [...]}`, absolute
  // catalog: {path: ...}: a catalog shared by several workspaces (absolute, or
  // relative to the workspace); "" : <workspace>/.alambic/catalog.db. The
  // ALAMBIC_CATALOG environment variable overrides both.
  std::filesystem::path catalog_path;
  // openlineage: {url, namespace, retries, retry_backoff, timeout}: where runs
  // post their OpenLineage events ("" : nowhere).
  std::string openlineage_url;
  std::string openlineage_namespace;  // "" : the workspace's name
  int openlineage_retries = 2;
  double openlineage_retry_backoff_seconds = 0.5;
  double openlineage_timeout_seconds = 5;
  // `connections:` and `secrets:`, top level and each environment's own: what
  // ResolveConnection() and ResolveSecret() resolve from.
  ConnectionsConfig connections;
  SecretsConfig secrets;
};

// The data roots of `environment`: the top-level ones, then the environment's.
std::vector<std::filesystem::path> EnvironmentDataRoots(const WorkspaceConfig& config,
                                                        const std::string& environment);

// A loaded workspace: its configuration and every flow, in file order.
struct Workspace {
  std::filesystem::path root;  // absolute
  WorkspaceConfig config;
  std::vector<Flow> flows;
  const Flow* FindFlow(const std::string& name) const;
};

}  // namespace alambic
