// OpenLineage export: a run's recipe runs as OpenLineage 2-0-2 RunEvents, built
// from what the catalog recorded, and their delivery to an HTTP endpoint
// (Marquez-compatible POST /api/v1/lineage).
//
// Each recipe run that started gives a START event and then one of COMPLETE,
// FAIL (failed or timed out) or ABORT (cancelled). The job is
// (job_namespace, "<flow>.<recipe>"), the runId the recipe run's own UUID and
// the `parent` run facet names the flow run (its run id, job "<flow>"). Inputs
// and outputs carry the `schema` and `version` dataset facets; outputs the
// `columnLineage` facet (opaque edges are left out: OpenLineage has no "any
// column"); the inputs of a check recipe the `dataQualityAssertions` input facet.
// Run facets: `nominalTime` (the run's start), `parent`, and `errorMessage` on FAIL.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "catalog/catalog.h"
#include "core/base/status.h"

namespace alambic {

inline constexpr const char* kOpenLineageProducer = "https://github.com/alambic-data/alambic";

struct OpenLineageOptions {
  std::string job_namespace;      // e.g. the workspace name
  std::string dataset_namespace;  // e.g. "alambic://permis/datalab"
  std::string producer = kOpenLineageProducer;
};

// The events of run `run_id` (full id), in time order.
Result<std::vector<nlohmann::json>> OpenLineageEvents(Catalog& catalog, const std::string& run_id,
                                                      const OpenLineageOptions& options);

// Where to POST events.
struct OpenLineageEndpoint {
  std::string url;  // scheme://host[:port][/base]; events go to <url>/api/v1/lineage
  int retries = 2;  // extra attempts per event after the first
  double retry_backoff_seconds = 0.5;  // first delay, doubled each attempt
  double timeout_seconds = 5;          // connect and read, per attempt
};

// POSTs each event as JSON; a 2xx answer accepts it. Failed attempts are retried;
// `warn` is told of each failure. Returns the number of events accepted, or an
// error naming the endpoint when the URL is unusable.
Result<int> PostOpenLineageEvents(const OpenLineageEndpoint& endpoint,
                                  const std::vector<nlohmann::json>& events,
                                  const std::function<void(const std::string&)>& warn);

}  // namespace alambic
