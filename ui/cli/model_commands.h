// `alambic model list` and `alambic model show`: the models of an environment
// as the catalog records them (see docs/cli.md). Both print to stdout.
#pragma once

#include <string>

#include "catalog/catalog.h"
#include "core/base/status.h"
#include "ui/cli/cli.h"

namespace alambic {

// Each model with its latest version (the current one when there is one) and
// main metric, e.g. "AUC 0.9312".
// With `json`, a JSON array of {model, version, current, task, main_metric,
// metric, versions, created_at, flow, recipe} instead of a table.
Status PrintModelList(Catalog& catalog, const std::string& env, bool json = false);

// One version of `model` (the latest, or `version`: an id or unique prefix):
// where it comes from, every metric, the confusion matrix, feature importance,
// cross-validation and grid results, its evaluations over time, and the
// model's other versions.
// With `json`, one JSON object: the version's record, its metrics as the train
// recipe recorded them, its evaluations and the model's versions.
Status PrintModelShow(Catalog& catalog, const std::string& env, const std::string& model,
                      const std::string& version, bool json = false);

// The command group: `alambic model list|show`.
class ModelCommands {
 public:
  void Add(CLI::App& app);
  bool parsed() const;
  int Run(const Globals& g) const;

 private:
  CLI::App* model_ = nullptr;
  CLI::App* list_ = nullptr;
  std::string name_, version_, format_ = "text";
};

}  // namespace alambic
