// Promotion: how a flow goes from the datalab to the warehouse.
//
// `Promote` judges one commit of a flow against five gates and, when every gate
// passes, makes an immutable release: an annotated git tag `release/FLOW/N` on
// the commit plus a catalog record (commit, gates and their results, output
// schemas, who, when, note), activated in the target environment at once. The
// gates, in order:
//
//   committed    the flow's files have no uncommitted change (when the commit
//                is HEAD; an older commit is committed by definition)
//   datalab_run  every recipe of the flow, as it is at the commit, succeeded or
//                was up to date in a datalab run made from that exact commit
//                with a clean working tree
//   checks       every `check` recipe of the flow is green in that run
//   data_policy  no column tagged `personal` reaches a dataset the flow derives
//                unless pseudonymised on the way, followed through the column
//                lineage the datalab run recorded
//   schema       no output column of the current release is removed or
//                retyped (unless allowed with --allow-breaking)
//
// The warehouse runs only releases: `CheckoutActiveRelease` gives the working
// copy (a clone under <workspace>/.alambic/checkouts/ENV/FLOW, never the
// engineer's tree) of the flow's active release.
//
// EvaluateGates is pure (tests feed it evidence); Promote and
// CheckoutActiveRelease read git and the catalog and are not reentrant for the
// same workspace (the CLI holds the workspace lock).
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "catalog/catalog.h"
#include "core/base/actor.h"
#include "core/base/status.h"
#include "core/flow/flow.h"

namespace alambic {

// The environment that runs only releases, whatever alambic.yaml says.
inline constexpr const char* kWarehouse = "warehouse";

inline constexpr const char* kGateCommitted = "committed";
inline constexpr const char* kGateDatalabRun = "datalab_run";
inline constexpr const char* kGateChecks = "checks";
inline constexpr const char* kGateDataPolicy = "data_policy";
inline constexpr const char* kGateSchema = "schema";

struct GateResult {
  std::string gate;
  bool passed = false;
  // False when the evidence to judge the gate is missing (no datalab run at
  // the commit): the gate does not pass, and its reason says why.
  bool judged = true;
  std::string reason;                // one line
  std::vector<std::string> details;  // one finding per line (a failed recipe, a column path)
};

// What the gates judge, read from git and the catalog.
struct PromotionEvidence {
  std::string flow_name;
  std::string commit;  // full id
  bool commit_is_head = true;
  std::vector<std::string> uncommitted;  // the flow's files with uncommitted changes
  Flow flow;                             // the flow as it is at `commit`
  std::string datalab;                   // the environment runs are taken from
  // For each recipe of the flow, its latest recipe run in a clean datalab run at
  // `commit` (recipes that never ran there are absent).
  std::map<std::string, RecipeRunRecord> runs;
  // The dataset versions those recipe runs produced or found up to date, with
  // their schema and column lineage, by dataset.
  std::map<std::string, DatasetVersionRecord> versions;
  std::optional<ReleaseRecord> current;  // the active release in the target environment
};

// The five gates, in order. Pure.
std::vector<GateResult> EvaluateGates(const PromotionEvidence& e, bool allow_breaking);

// Output schemas of the evidence's versions, as a release records them:
// dataset -> [{name, type}].
nlohmann::json ReleaseSchemas(const PromotionEvidence& e);

struct PromoteOptions {
  std::string flow;
  std::string to = "warehouse";
  std::string commit;  // "" : HEAD
  std::string note;
  bool allow_breaking = false;
};

struct PromoteOutcome {
  std::string commit;
  std::vector<GateResult> gates;
  std::optional<ReleaseRecord> release;  // set when every gate passed
  bool Admitted() const { return release.has_value(); }
};

// Judges and, when every gate passes, releases `options.flow` of the workspace
// at `root` (the catalog is the workspace's). `datalab` is the environment whose
// runs count. Every attempt, admitted or refused, is appended to the audit log.
// A non-ok Result means the promotion could not be judged (unknown flow or
// commit, unreadable catalog); a refusal is an ok Result whose release is empty.
Result<PromoteOutcome> Promote(Catalog& catalog, const std::filesystem::path& root,
                               const std::string& datalab, const PromoteOptions& options,
                               const Actor& who);

// The tag of release `number` of `flow`.
std::string ReleaseTag(const std::string& flow, int number);

struct ReleaseCheckout {
  ReleaseRecord release;
  std::filesystem::path code_root;  // the workspace inside the clone
};

// The active release of `flow` in `env`, checked out (its tag must still name
// its commit) into <root>/.alambic/checkouts/ENV/FLOW. NotFound, with the
// command to run, when the flow has no release in `env`.
Result<ReleaseCheckout> CheckoutActiveRelease(Catalog& catalog, const std::filesystem::path& root,
                                              const std::string& flow, const std::string& env);

}  // namespace alambic
