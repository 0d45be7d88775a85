// Promotion as a library: a flow of the workspace's design environment
// (datalab) released to another environment (the warehouse) if it passes every
// gate (core/vcs/promotion.h). The CLI's `alambic promote` and, later, the
// server call it; nothing here prints. See docs/promotion.md.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "catalog/catalog.h"
#include "core/base/actor.h"
#include "core/base/status.h"
#include "core/vcs/promotion.h"

namespace alambic {

struct PromotionRequest {
  std::string from;        // the environment promoted from; "" : the workspace's default
  PromoteOptions options;  // flow, to, commit, note, allow_breaking
  Actor who;               // recorded with the release and its audit entry
};

// Judges the gates and, when all pass, records the release (active in
// `options.to`, tagged in git) with its audit entry. Invalid, before any gate,
// when `options.to` is not an environment of the workspace or is the one
// promoted from. A refusal by the gates is an ok Result with no release
// (outcome.Admitted() false).
Result<PromoteOutcome> PromoteFlow(const std::filesystem::path& root,
                                   const PromotionRequest& request);

struct RollbackOutcome {
  ReleaseRecord active;                   // the release active now
  std::optional<ReleaseRecord> previous;  // the one it replaced, if one was active
};

// Re-activates release `to` of `flow` in `env` (0: the highest-numbered
// release below the active one) by `who`. Every attempt appends a "rollback"
// audit entry (outcome ok, refused or failed). Refuses (Invalid / NotFound,
// nothing activated) when the flow has no release in `env`, `to` does not
// exist or is already active, or no release is older than the active one.
Result<RollbackOutcome> RollbackFlow(Catalog& catalog, const std::string& env,
                                     const std::string& flow, int to, const std::string& note,
                                     const Actor& who);

}  // namespace alambic
