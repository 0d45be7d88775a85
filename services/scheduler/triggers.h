// Data triggers (`schedule: on_change:`, core/flow/flow.h ChangeTrigger): what
// an upstream source looks like now, as a content hash. The scheduler polls
// each trigger every `every`, compares the hash with the trigger's cursor in
// the catalog and fires a slot when it changed (Scheduler, "data triggers").
//   file     "sha256:<content hash>" of the file (workspace or data roots only)
//   http     "etag:<ETag>", else "last-modified:<date>" (from a HEAD request),
//            else "sha256:<body hash>" (a GET)
//   dataset  "version:<id>" of FLOW/DATASET's current version in the
//            environment ("none" before its first build)
//   sql      "sha256:<hash of the rows as CSV>" of the query on a sqlite
//            connection of alambic.yaml (read-only, one statement)
// Errors (a missing file, an HTTP error, a bad query) name the trigger's
// place in its flow file; the cursor then stays where it was.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "core/base/status.h"
#include "core/flow/connections.h"
#include "core/flow/flow.h"

namespace alambic {

struct TriggerSources {
  std::filesystem::path root;                      // the workspace (relative paths)
  std::vector<std::filesystem::path> data_roots;   // also readable (absolute)
  const ConnectionsConfig* connections = nullptr;  // for sql (borrowed)
  std::string environment;                         // for dataset and connections
  Catalog* catalog = nullptr;                      // for dataset (borrowed)
  double http_timeout_seconds = 10;
};

// How logs and errors name `trigger` (a URL without its credentials and query).
std::string TriggerName(const ChangeTrigger& trigger);

// The current content hash of `trigger`'s source.
Result<std::string> PollTrigger(const ChangeTrigger& trigger, const TriggerSources& sources);

}  // namespace alambic
