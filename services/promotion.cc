#include "services/promotion.h"

#include <fmt/format.h>

#include "catalog/catalog.h"
#include "core/flow/loader.h"
#include "services/workspace.h"

namespace alambic {

Result<PromoteOutcome> PromoteFlow(const std::filesystem::path& root,
                                   const PromotionRequest& request) {
  LoadedWorkspace config = LoadWorkspaceConfig(root);
  const WorkspaceConfig& cfg = config.workspace.config;
  const std::string from = EnvironmentName(cfg, request.from);
  const PromoteOptions& o = request.options;
  if (!cfg.environments.count(o.to))
    return Status::Invalid(fmt::format("unknown environment '{}'", o.to));
  if (o.to == from)
    return Status::Invalid(
        fmt::format("cannot promote from {} to itself: name the target with --to", from));
  ALAMBIC_ASSIGN_OR_RETURN(auto catalog, Catalog::Open(root / ".alambic" / "catalog.db"));
  return Promote(*catalog, root, from, o, request.who);
}

}  // namespace alambic
