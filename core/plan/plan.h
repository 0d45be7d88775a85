// The planner: decides, without side effects, which recipes must run and why.
//
// Every dataset version id is a content hash (DESIGN.md, "Versions"):
//   derived: H(engine format, kind, params, code, input version ids, output name)
//   source:  H(engine format, kind, params, source fingerprint, output name)
// plus, for a recipe whose kind has version salts (a pseudonymisation key's
// fingerprint), those salts.
// so the whole tree of expected versions is known before anything runs. A
// recipe runs when one of its expected output versions is not published yet (or
// when forced); the reason compares with the recipe's last successful build.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "core/base/status.h"
#include "core/flow/flow.h"
#include "core/plan/graph.h"
#include "core/recipe/recipe.h"

namespace alambic {

// Bumped when the on-disk format or a built-in kind's semantics change, so that
// every version id changes with it.
inline constexpr const char* kEngineFormatVersion = "alambic-format-2";

enum class Decision { kRun, kUpToDate, kNotSelected };

enum class Reason {
  kUpToDate,
  kNeverBuilt,
  kParamsChanged,
  kCodeChanged,
  kSaltChanged,
  kSourceChanged,
  kInputNewVersion,
  kUpstreamWillChange,
  kOutputMissing,
  kTargetMissing,  // an export's file (or table) is gone
  kTargetChanged,  // an export's file (or table) no longer holds what its version wrote
  kForced,
  kNotSelected,
};

const char* DecisionName(Decision d);

// What the planner reads: published versions and last builds, behind a seam so
// tests can plan against an in-memory state.
class PlanState {
 public:
  virtual ~PlanState() = default;
  // True when version `id` of `dataset` is published (recorded and its file present).
  virtual bool Published(const std::string& dataset, const std::string& id) const = 0;
  // The current version of `dataset`, or "" if it was never built.
  virtual std::string Current(const std::string& dataset) const = 0;
  // The last successful build of recipe "flow/recipe", or nullptr.
  virtual const RecipeState* LastBuild(const std::string& flow_recipe) const = 0;
  // Whether the last successful build of "flow/recipe" produced exactly
  // `datasets[i]` at `versions[i]` for each i, and no other output. What an
  // up-to-date recipe's explanation needs; by default from LastBuild(), which
  // an implementation may decode lazily instead.
  virtual bool LastBuildProduced(const std::string& flow_recipe,
                                 const std::vector<std::string>& datasets,
                                 const std::vector<std::string>& versions) const;
  // The metrics of the recipe run of the last successful build of
  // "flow/recipe" (an object; empty when unknown). Read only for recipes with
  // an effect outside the store. Default: empty.
  virtual nlohmann::json LastBuildMetrics(const std::string& /*flow_recipe*/) const {
    return nlohmann::json::object();
  }
};

// Reads files the planner must hash: source fingerprints and code files.
class Fingerprinter {
 public:
  virtual ~Fingerprinter() = default;
  // The content hash of a workspace file (relative or absolute path).
  virtual Result<std::string> FileHash(const std::string& path) = 0;
  // The source fingerprint of a source recipe.
  virtual Result<std::string> SourceFingerprint(const RecipeSpec& recipe,
                                                const RecipeKind& kind) = 0;
  // The kind's version salts for a recipe (RecipeKind::VersionSalts). Default: none.
  virtual Result<std::vector<VersionSalt>> VersionSalts(const RecipeSpec& /*recipe*/,
                                                        const RecipeKind& /*kind*/) {
    return std::vector<VersionSalt>{};
  }
  // The state of a recipe's target outside the store (RecipeKind::Target).
  // Default: none.
  virtual Result<std::optional<EffectTarget>> Target(const RecipeSpec& /*recipe*/,
                                                     const RecipeKind& /*kind*/) {
    return std::optional<EffectTarget>{};
  }
};

struct PlanOptions {
  std::vector<std::string> flows;           // empty: every flow
  std::vector<std::string> only, from, to;  // recipe names (optionally "flow/recipe")
  bool force = false;
};

struct RecipePlan {
  int node = -1;
  Decision decision = Decision::kUpToDate;
  Reason reason = Reason::kUpToDate;
  std::string explanation;  // "input exams_raw has a new version", ...
  std::string params_hash, code_hash, source_fingerprint;
  std::string salt;  // version salts as a JSON object what -> id; "" when none
  std::vector<std::string> input_versions;   // per recipe->inputs
  std::vector<std::string> output_versions;  // per recipe->outputs
};

struct Plan {
  std::vector<RecipePlan> recipes;  // topological order, only recipes of the selected flows
  int to_run = 0;
};

// Plans the selected flows. Fails (Invalid) on unknown flow or recipe names,
// and when a recipe to run reads a dataset that is neither built in this plan
// nor published.
Result<Plan> MakePlan(const Workspace& ws, const FlowGraph& graph, const RecipeRegistry& kinds,
                      const PlanState& state, Fingerprinter& fingerprints,
                      const PlanOptions& options);

// The hash of a recipe's params (canonical JSON: keys sorted).
std::string ParamsHash(const RecipeSpec& recipe);

}  // namespace alambic
