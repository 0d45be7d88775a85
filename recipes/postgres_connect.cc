#include "recipes/postgres_connect.h"

#include <openssl/crypto.h>

#include <fmt/format.h>

#include "core/base/secrets.h"
#include "core/flow/flow.h"
#include "core/vcs/git_paths.h"

namespace alambic {

Result<std::unique_ptr<PgConnection>> ConnectPostgres(const RecipeContext& ctx,
                                                      const ConnectionSpec& spec) {
  const std::string prefix = fmt::format("recipe {}", ctx.recipe);
  if (spec.type != kConnectionPostgres)
    return Status::Invalid(
        fmt::format("{}: connection {} is not a postgres connection", prefix, spec.name));
  const PostgresParams& p = spec.postgres;
  PgConnectOptions o;
  o.label = fmt::format("connection {}", spec.name);
  o.host = p.host;
  o.port = p.port;
  o.dbname = p.dbname;
  o.user = p.user;
  o.sslmode = p.sslmode;
  auto file = [&](const std::string& f) {
    if (f.empty()) return f;
    std::filesystem::path path(f);
    return path.is_absolute() ? f : (ctx.workspace / path).lexically_normal().string();
  };
  o.sslrootcert = file(p.sslrootcert);
  o.sslcert = file(p.sslcert);
  o.sslkey = file(p.sslkey);
  if (!p.password.empty()) {
    auto pw = ResolveSecret(ctx.Config().secrets, p.password, ctx.environment, ctx.SecretsRoot(),
                            GitTracksPath);
    if (!pw.ok())
      return pw.status().WithContext(fmt::format("{}: connection {}", prefix, spec.name));
    o.password = std::move(*pw);
  }
  auto conn = PgConnection::Connect(o);
  if (!o.password.empty()) OPENSSL_cleanse(o.password.data(), o.password.size());
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
