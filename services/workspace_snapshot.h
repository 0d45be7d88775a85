// What `alambic catalog sync` registers in the lab catalog (lab_catalog.h),
// read from an open session: the use-case cards, the flows with their last
// runs, and every dataset with its current version, freshness and columns.
#pragma once

#include <filesystem>

#include "catalog/lab_catalog.h"
#include "core/exec/session.h"

namespace alambic {

// Runs the planner (for freshness) and reads the catalog; `cards` from LoadUseCases.
Result<WorkspaceSnapshot> SnapshotWorkspace(Session& session, std::vector<UseCaseCard> cards);

// Where the workspace's lab catalog is: $ALAMBIC_CATALOG when set, else
// alambic.yaml's catalog path, else <root>/.alambic/catalog.db.
std::filesystem::path LabCatalogPath(const Workspace& ws);

// How many recent runs of each flow the lab catalog keeps.
inline constexpr int kLabRunsPerFlow = 5;

}  // namespace alambic
