// The flows whose schedules (and triggers) the daemon acts on in an
// environment. Where the environment runs releases only (the warehouse), each
// flow of the working tree that has an active release there is read as
// released: its flow file at the release's commit, so a schedule edited in
// the working tree changes production only once it is promoted. A flow without
// an active release is left out (with a note). Elsewhere (the datalab), the
// working tree's flows.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "core/base/status.h"
#include "core/flow/flow.h"

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

}  // namespace alambic
