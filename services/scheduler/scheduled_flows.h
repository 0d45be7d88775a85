// The flows whose schedules (and triggers) the daemon acts on in an
// environment. Where the environment runs releases only (the warehouse), each
// flow of the working tree that has an active release there is read as
// released: its flow file at the release's commit, so a schedule edited in
// the working tree changes production only once it is promoted. A flow without
// an active release is left out (with a note). Elsewhere (the datalab), the
// working tree's flows.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "core/base/status.h"
#include "core/flow/flow.h"
#include "services/scheduler/scheduler.h"

namespace SQLite {
class Database;
}

namespace alambic {

struct ScheduledFlows {
  std::vector<Flow> flows;         // as the environment runs them (with or without a schedule)
  std::vector<std::string> notes;  // flows left out, and why (one line each)
};

// `working_tree`: the flows of the workspace at `root`. Fails (Invalid, naming
// the release and file) when a released flow file cannot be read or parsed.
Result<ScheduledFlows> LoadScheduledFlows(const std::filesystem::path& root, Catalog& catalog,
                                          const std::vector<Flow>& working_tree, bool releases_only,
                                          const std::string& env);

// The schedules (and data triggers) the daemon runs in `env` now, compiled:
// the workspace at `root` read again (its flows as the environment runs them,
// above), each flow with a `schedule:` compiled. Fails (Invalid, naming the
// flow file or release) on a workspace, flow or schedule that does not parse.
struct DaemonSchedules {
  std::vector<FlowSchedule> flows;
  std::vector<std::string> notes;
  bool releases_only = false;
};
Result<DaemonSchedules> LoadDaemonSchedules(const std::filesystem::path& root, Catalog& catalog,
                                            const std::string& env);

// Tells a running daemon that the active releases of an environment changed
// (a promotion or a rollback by another process), cheaply enough to ask at
// every tick: through its own read connection to the catalog at `catalog`,
// PRAGMA data_version first (has anyone else written?), then the sequence
// number of the environment's last release activation (append-only).
class ReleaseWatch {
 public:
  ReleaseWatch(std::filesystem::path catalog, std::string env);
  ~ReleaseWatch();
  ReleaseWatch(const ReleaseWatch&) = delete;
  ReleaseWatch& operator=(const ReleaseWatch&) = delete;
  // Whether an activation happened since the previous call (false on the
  // first call, which only records where things stand).
  Result<bool> Changed();

 private:
  std::filesystem::path path_;
  std::string env_;
  std::unique_ptr<SQLite::Database> db_;
  int64_t data_version_ = -1;
  int64_t seq_ = -1;
};

}  // namespace alambic
