// Where a workspace's run catalog is: the one answer for every service that
// opens it (runs of releases, the scheduling daemon, schedule commands).
#pragma once

#include <filesystem>

namespace alambic {

// The run catalog of the workspace at `root`: <root>/.alambic/catalog.db, the
// file the engine's sessions record runs in (Session::state_dir()), and with
// them releases, schedule slots, leases and the audit log of every
// environment. alambic.yaml's `catalog: {path}` and $ALAMBIC_CATALOG move the
// lab catalog only (workspace_snapshot.h LabCatalogPath), never this one: a
// daemon's slots and the runs they start must stay in one file.
inline std::filesystem::path RunCatalogPath(const std::filesystem::path& root) {
  return root / ".alambic" / "catalog.db";
}

}  // namespace alambic
