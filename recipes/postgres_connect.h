// Opening a postgres connection of alambic.yaml for a recipe (collect, export):
// the password is read from its secret in the recipe's environment and handed
// to libpq only (never logged, hashed or put in metrics); relative TLS file
// paths (sslrootcert, sslcert, sslkey) resolve against the workspace.
#pragma once

#include <memory>

#include "core/flow/connections.h"
#include "core/net/postgres.h"
#include "core/recipe/recipe.h"

namespace alambic {

// Connects to `spec` (type postgres); errors name the recipe and the connection.
Result<std::unique_ptr<PgConnection>> ConnectPostgres(const RecipeContext& ctx,
                                                      const ConnectionSpec& spec);

// The OpenLineage dataset of a table or query of a postgres connection:
// namespace postgres://host:port, name dbname[.schema.table].
nlohmann::json PostgresDataset(const ConnectionSpec& spec, const std::string& name);

}  // namespace alambic
