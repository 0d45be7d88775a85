// Recording, one part of a run (run.h): what a run writes to the catalog
// besides the outputs it publishes: the run's audit entries, the records of
// up-to-date recipes, versions made current again without running, and the
// catalog form of a recipe's outputs (schema, column lineage, status).
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "core/exec/executor.h"
#include "core/exec/run.h"
#include "core/exec/session.h"
#include "core/plan/plan.h"

namespace alambic {

// A schema as the catalog stores it: [{"name", "type", "nullable"}, ...].
std::string SchemaJson(const Schema& s);

// A task's end state as a recipe run's status ("succeeded", "failed", ...).
std::string RecipeRunStatus(TaskState s);

// The column lineage a kind reported for one output, as catalog edges. A kind
// that reported none (`lineage` null) gets opaque edges: every output column
// may depend on any column of every input. Columns the kind left out of its map
// are opaque too.
std::vector<ColumnLineageEdge> LineageEdges(
    const Schema& schema, const std::map<std::string, std::vector<ColumnSource>>* lineage,
    const std::vector<std::string>& inputs);

// The names of the secrets `recipe` uses in environment `environment`: every
// "secret:NAME" string of its params, at any depth, and the password of the
// connection its `connection` param names.
std::set<std::string> RecipeSecretNames(const WorkspaceConfig& config,
                                        const std::string& environment, const RecipeSpec& recipe);

// The environment variables a job running `recipe` is given: those of the
// secrets it uses (RecipeSecretNames) that are declared `env:`, top-level and
// the environment's own entry. No other secret reaches the job: a cluster keeps
// a job's environment (Slurm in its controller's state files).
std::vector<std::string> RecipeSecretEnv(const WorkspaceConfig& config,
                                         const std::string& environment, const RecipeSpec& recipe);

// One "secret.use" audit entry per secret the recipes to run use
// (RecipeSecretNames): the secret's name and the recipes, never its value.
Status AuditSecretUse(Session& session, const Plan& plan, const RunRecord& run);

// The "run" audit entry of a finished run.
Status AuditRun(Session& session, const RunSummary& summary);

// Adds to `batch` the up-to-date recipes of the plan (one catalog row for all,
// encoded here from the plan without copies: batch.up_to_date_row; as
// UpToDateRecipe copies if the batch lists some already): the versions each
// found current. They read back as
// recipe runs of status up_to_date with the metrics of the recipe run that
// built them, so that what a commit produced can be read from its latest run
// alone.
Status AddUpToDate(Session& session, const Plan& plan, const RunRecord& run, CatalogBatch& batch);

// An up-to-date recipe whose expected version is published but not current
// (its params were changed, built, then changed back): adds to `batch` that
// version made current again without running anything, like a build cache hit,
// and the recipe's state. `now` is its new update time.
Status AddRestoredVersions(Session& session, const Plan& plan, const std::string& run_id,
                           const std::string& now, CatalogBatch& batch);

}  // namespace alambic
