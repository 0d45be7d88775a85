#include "services/catalog_sync.h"

#include <set>

#include "catalog/catalog.h"
#include "catalog/usecase.h"
#include "services/workspace.h"
#include "services/workspace_snapshot.h"

namespace alambic {

Result<LabSync> SyncLabCatalog(const std::filesystem::path& root, const std::string& env) {
  ALAMBIC_ASSIGN_OR_RETURN(auto session, OpenWorkspaceSession(root, env));
  LoadedUseCases cards = LoadUseCases(session->root());
  if (!cards.ok()) {
    std::string all;
    for (const auto& d : cards.diagnostics) all += (all.empty() ? "" : "\n") + d.ToString();
    return Status::Invalid(all);
  }
  std::set<std::string> ids;
  for (const auto& c : cards.cards) ids.insert(c.id);
  LabSync out;
  ALAMBIC_ASSIGN_OR_RETURN(out.snapshot, SnapshotWorkspace(*session, std::move(cards.cards)));
  out.path = LabCatalogPath(session->workspace());
  ALAMBIC_ASSIGN_OR_RETURN(out.lab, LabCatalog::Open(out.path));
  ALAMBIC_RETURN_IF_ERROR(out.lab->Sync(out.snapshot, NowIso()));
  for (const auto& f : out.snapshot.flows) {
    if (f.usecase.empty())
      out.without_card.push_back({f.name, ""});
    else if (auto known = out.lab->FindUseCase(f.usecase);
             !ids.count(f.usecase) && (!known.ok() || !*known))
      out.without_card.push_back({f.name, f.usecase});
  }
  return out;
}

}  // namespace alambic
