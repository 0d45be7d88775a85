// `catalog sync` as a library: registers a workspace's use-case cards, flows
// (with their last runs) and datasets (current version, freshness, columns) in
// its lab catalog, the catalog shared by the workspaces of a lab.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "catalog/lab_catalog.h"
#include "core/base/status.h"

namespace alambic {

// A flow whose use case has no card: `usecase` is "" when the flow names none.
struct FlowWithoutCard {
  std::string flow, usecase;
};

struct LabSync {
  std::unique_ptr<LabCatalog> lab;  // still open, for searches and listings
  std::filesystem::path path;       // where the lab catalog is
  WorkspaceSnapshot snapshot;       // what was registered
  std::vector<FlowWithoutCard> without_card;
};

// Opens a session on the workspace at `root` in `env` ("" : the default),
// reads its cards and registers the snapshot. Invalid with every problem
// (file:line, one per line) when a card does not load.
Result<LabSync> SyncLabCatalog(const std::filesystem::path& root, const std::string& env);

}  // namespace alambic
