// The one recipe interface shared by built-in kinds, Lua scripts and plugins.
//
// A RecipeKind declares its parameters (checked by `alambic validate` before
// any run) and runs one recipe: it gets its resolved input tables, params, a
// logger, a cancellation token and the workspace paths, and returns output
// tables (one per declared output, in order) plus metrics. Run() may be called
// from any executor thread at the same time for different recipes; kinds hold
// no mutable state.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/base/cancel.h"
#include "core/base/limits.h"
#include "core/base/status.h"
#include "core/table/table.h"

namespace alambic {

struct WorkspaceConfig;  // core/flow/flow.h

enum class ParamType { kString, kInt, kNumber, kBool, kStringList, kMap, kList, kAny };
const char* ParamTypeName(ParamType t);

struct ParamSpec {
  std::string name;
  ParamType type = ParamType::kString;
  bool required = false;
  std::string doc;
  std::string default_json;  // JSON text of the default ("" : none); shown to users
};

enum class LogLevel { kDebug, kInfo, kWarn, kError };

// Receives a recipe's log lines. Implementations are thread-safe.
class RecipeLogger {
 public:
  virtual ~RecipeLogger() = default;
  virtual void Log(LogLevel level, const std::string& message) = 0;
  void Info(const std::string& m) { Log(LogLevel::kInfo, m); }
  void Warn(const std::string& m) { Log(LogLevel::kWarn, m); }
};

struct NamedTable {
  std::string name;  // dataset name
  std::shared_ptr<const Table> table;
};

struct RecipeContext {
  std::string recipe;                             // recipe name, for messages
  const nlohmann::json* params;                   // validated params (an object)
  std::vector<NamedTable> inputs;                 // in declaration order
  std::vector<std::string> outputs;               // dataset names, in declaration order
  std::filesystem::path workspace;                // absolute workspace root (the code)
  std::vector<std::filesystem::path> data_roots;  // extra readable roots (absolute)
  // The environment the recipe runs in: its connections and secrets override
  // the top-level ones of the same name ("": top-level entries only).
  std::string environment;
  // Where relative secret files resolve (the workspace holding .alambic/);
  // empty: `workspace`.
  std::filesystem::path secrets_root;
  // The workspace's alambic.yaml as the loader read it (connections, secrets,
  // environments), owned by the session; null: an empty one (nothing declared).
  const WorkspaceConfig* config = nullptr;
  std::string script;  // the recipe's `script:` file, relative to the workspace ("" if none)
  // Workspace defaults (alambic.yaml) for recipes running foreign code.
  ResourceLimits lua_limits = kDefaultLuaLimits;
  ResourceLimits plugin_limits = kDefaultPluginLimits;
  RecipeLogger* log = nullptr;
  const CancelToken* cancel = nullptr;
  // Called now and then with rows processed so far (progress display). May be empty.
  std::function<void(int64_t)> progress;
  // Content hash of a file; the session's version caches it by (size, mtime,
  // inode). Source kinds use it, through HashFile(), for their fingerprint.
  std::function<Result<std::string>(const std::filesystem::path&)> hash_file;
  // Reads a published version of a dataset (id or unique prefix) from this
  // environment's store, for kinds that take a pinned version (score). May be empty.
  std::function<Result<Table>(const std::string& dataset, const std::string& version)> read_version;
  // *config, or an empty configuration when there is none.
  const WorkspaceConfig& Config() const;
  // secrets_root, or workspace when it is empty.
  const std::filesystem::path& SecretsRoot() const {
    return secrets_root.empty() ? workspace : secrets_root;
  }
  // hash_file(p) when set, else Sha256File(p).
  Result<std::string> HashFile(const std::filesystem::path& p) const;
  // Metrics of a run that fails: a kind may fill this before returning an error
  // (e.g. the results of the checks that failed) and the runner records it with
  // the failed recipe run. Ignored when Run() succeeds (its RecipeOutput's
  // metrics are recorded instead). Must not hold secrets.
  nlohmann::json failure_metrics = nlohmann::json::object();

  // Resolves a path from params against the workspace and checks it stays inside
  // the workspace or a data root (after resolving symlinks and "..").
  Result<std::filesystem::path> ResolvePath(const std::string& p) const;
};

// How an output column derives from one of its input columns (the catalog
// stores these names; OpenLineage exports them as transformation types).
inline constexpr const char* kTransformIdentity = "identity";              // copied unchanged
inline constexpr const char* kTransformTransformation = "transformation";  // computed from it
inline constexpr const char* kTransformAggregation = "aggregation";
inline constexpr const char* kTransformJoinKey = "join_key";
inline constexpr const char* kTransformFilter = "filter";
// Computed from it by a transformation that hides its values (a keyed hash: the
// clean recipe's `pseudonymise`); OpenLineage: DIRECT/TRANSFORMATION, masking.
inline constexpr const char* kTransformMasking = "masking";
// Recorded by the runner for every output column of a kind that reported no
// lineage (sql, lua, plugins that do not declare it).
inline constexpr const char* kTransformOpaque = "opaque";

// An input column an output column was computed from. Kinds that do not say
// how leave the default, identity.
struct ColumnSource {
  std::string dataset, column;
  std::string transform = kTransformIdentity;  // one of the kTransform* names
  bool operator==(const ColumnSource&) const = default;
};

struct RecipeOutput {
  std::vector<Table> tables;  // one per ctx.outputs entry, same order
  nlohmann::json metrics = nlohmann::json::object();
  // Column-level lineage, one map per output table (same order as `tables`):
  // output column -> the input columns it came from. Empty when the kind cannot
  // tell (a SQL query, a Lua script); a column computed from nothing (a
  // constant) maps to an empty list.
  std::vector<std::map<std::string, std::vector<ColumnSource>>> column_lineage;
};

// Something besides params, code and inputs that a recipe's output version
// depends on, e.g. {"secret pseudo_key", KeyId(key)}: `what` names it in the
// planner's reasons ("secret pseudo_key changed"), `id` is public (a
// fingerprint, never a secret).
struct VersionSalt {
  std::string what;
  std::string id;
};

// What a recipe with an effect outside the store (an export) wrote there, as
// it is now: `label` names it for users ("out/x.csv", "out/db.sqlite table t"),
// `fingerprint` is a content fingerprint ("" when the target is missing). The
// kind puts the fingerprint of what it wrote in its metrics under
// kTargetFingerprintMetric; the planner reruns the recipe when the target no
// longer holds what the expected version wrote.
struct EffectTarget {
  std::string label;
  std::string fingerprint;
};
inline constexpr const char* kTargetFingerprintMetric = "target_fingerprint";

class RecipeKind {
 public:
  virtual ~RecipeKind() = default;
  virtual std::string name() const = 0;
  virtual const std::vector<ParamSpec>& params() const = 0;
  // Source kinds take no inputs; their version comes from SourceFingerprint().
  virtual bool is_source() const { return false; }
  // Bounds on the number of inputs and outputs (-1: unbounded).
  virtual int min_inputs() const { return is_source() ? 0 : 1; }
  virtual int max_inputs() const { return is_source() ? 0 : -1; }
  virtual int min_outputs() const { return 1; }
  virtual int max_outputs() const { return 1; }
  // Kind-specific checks after generic type checks; return Invalid with a message
  // naming the parameter.
  virtual Status CheckParams(const nlohmann::json& /*params*/) const { return Status::Ok(); }
  // Files (relative to the workspace) whose content is part of the recipe's code
  // and so of its output version, e.g. a .sql or .lua script.
  virtual std::vector<std::string> CodeFiles(const nlohmann::json& /*params*/) const { return {}; }
  // Whether the recipe must name a `script:` file (checked by validate).
  virtual bool requires_script() const { return false; }
  // A version of the kind's own code, part of every output version (e.g. a
  // plugin's version and library hash). Built-in kinds are covered by the
  // engine format version; one whose results alone changed since that format
  // returns a short tag (bumped with each such change), so that only its
  // outputs and those downstream are rebuilt.
  virtual std::string code_version() const { return {}; }
  // For sources: a stable fingerprint of the external data (e.g. a content hash).
  virtual Result<std::string> SourceFingerprint(const RecipeContext& ctx) const;
  // Values folded into the recipe's output versions besides params, code and
  // inputs, read when planning (ctx has params and the workspace, no inputs):
  // e.g. the KeyId of each key the recipe uses, so that a new key makes it
  // stale. Must never return a secret. An error fails the plan. Default: none.
  virtual Result<std::vector<VersionSalt>> VersionSalts(const RecipeContext& /*ctx*/) const {
    return std::vector<VersionSalt>{};
  }
  // For kinds with an effect outside the store: that target's state now, read
  // when planning (ctx has params and the workspace, no inputs). An error (a
  // target in a forbidden place) fails the plan. Default: no effect.
  virtual Result<std::optional<EffectTarget>> Target(const RecipeContext& /*ctx*/) const {
    return std::optional<EffectTarget>{};
  }
  virtual Result<RecipeOutput> Run(RecipeContext& ctx) const = 0;
};

// Kinds by name. Registering a duplicate name is refused. The engine has no
// default set of kinds: a new registry is empty, and the program that uses the
// engine fills it (recipes/builtin_kinds.h's RegisterBuiltinKinds(), then the
// plugins of plugins/loader.h) and passes it to the session.
class SqlPushdown;  // core/recipe/pushdown.h

class RecipeRegistry {
 public:
  RecipeRegistry();
  ~RecipeRegistry();
  RecipeRegistry(RecipeRegistry&&) noexcept;
  RecipeRegistry& operator=(RecipeRegistry&&) noexcept;
  Status Register(std::unique_ptr<RecipeKind> kind);
  const RecipeKind* Find(const std::string& name) const;
  std::vector<std::string> Names() const;
  // The SQL translations of the kinds (push-down to a PostgreSQL store), or null.
  void SetPushdown(std::unique_ptr<SqlPushdown> p);
  const SqlPushdown* pushdown() const { return pushdown_.get(); }

 private:
  std::map<std::string, std::unique_ptr<RecipeKind>> kinds_;
  std::unique_ptr<SqlPushdown> pushdown_;
};

}  // namespace alambic
