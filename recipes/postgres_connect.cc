#include "recipes/postgres_connect.h"

#include <fmt/format.h>

#include "core/exec/store_open.h"
#include "core/flow/flow.h"

namespace alambic {

Result<std::unique_ptr<PgConnection>> ConnectPostgres(const RecipeContext& ctx,
                                                      const ConnectionSpec& spec) {
  const std::string prefix = fmt::format("recipe {}", ctx.recipe);
  if (spec.type != kConnectionPostgres)
    return Status::Invalid(
        fmt::format("{}: connection {} is not a postgres connection", prefix, spec.name));
  auto conn = OpenPgConnection(spec.postgres, spec.name, ctx.Config().secrets, ctx.environment,
                               ctx.workspace, ctx.SecretsRoot());
  if (!conn.ok()) return conn.status().WithContext(prefix);
  return conn;
}

nlohmann::json PostgresDataset(const ConnectionSpec& spec, const std::string& name) {
  const std::string host = spec.postgres.host.empty() ? "localhost" : spec.postgres.host;
  const std::string port = spec.postgres.port.empty() ? "5432" : spec.postgres.port;
  return {{"namespace", fmt::format("postgres://{}:{}", host, port)},
          {"name", name.empty() ? spec.postgres.dbname : spec.postgres.dbname + "." + name}};
}

}  // namespace alambic
