// `alambic model list` and `alambic model show`: the models of an environment
// as the catalog records them (see docs/cli.md). Both print to stdout.
#pragma once

#include <string>

#include "catalog/catalog.h"
#include "core/base/status.h"

namespace alambic {

// Each model with its latest version (the current one when there is one) and
// main metric, e.g. "AUC 0.9312".
Status PrintModelList(Catalog& catalog, const std::string& env);

// One version of `model` (the latest, or `version`: an id or unique prefix):
// where it comes from, every metric, the confusion matrix, feature importance,
// cross-validation and grid results, its evaluations over time, and the
// model's other versions.
Status PrintModelShow(Catalog& catalog, const std::string& env, const std::string& model,
                      const std::string& version);

}  // namespace alambic
