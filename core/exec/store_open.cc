#include "core/exec/store_open.h"

#include <openssl/crypto.h>

#include <atomic>

#include <fmt/format.h>

#include "core/base/secrets.h"
#include "core/flow/connections.h"
#include "core/net/postgres.h"
#include "core/store/pg_store.h"
#include "core/vcs/git_paths.h"

namespace alambic {

Result<std::unique_ptr<PgConnection>> OpenPgConnection(const PostgresParams& p,
                                                       const std::string& name,
                                                       const SecretsConfig& secrets,
                                                       const std::string& environment,
                                                       const std::filesystem::path& files_root,
                                                       const std::filesystem::path& secrets_root) {
  PgConnectOptions o;
  o.label = fmt::format("connection {}", name);
  o.host = p.host;
  o.port = p.port;
  o.dbname = p.dbname;
  o.user = p.user;
  o.sslmode = p.sslmode;
  auto file = [&](const std::string& f) {
    if (f.empty()) return f;
    std::filesystem::path path(f);
    return path.is_absolute() ? f : (files_root / path).lexically_normal().string();
  };
  o.sslrootcert = file(p.sslrootcert);
  o.sslcert = file(p.sslcert);
  o.sslkey = file(p.sslkey);
  if (!p.password.empty()) {
    auto pw = ResolveSecret(secrets, p.password, environment, secrets_root, GitTracksPath);
    if (!pw.ok()) return pw.status().WithContext(o.label);
    o.password = std::move(*pw);
  }
  auto conn = PgConnection::Connect(o);
  if (!o.password.empty()) OPENSSL_cleanse(o.password.data(), o.password.size());
  return conn;
}

namespace {
std::atomic<FileSystem*> g_store_fs{nullptr};
}  // namespace

void SetStoreFileSystemForTesting(FileSystem* fs) { g_store_fs.store(fs); }

Result<std::unique_ptr<DatasetStore>> OpenEnvironmentStore(const WorkspaceConfig& config,
                                                           const std::string& environment,
                                                           const std::filesystem::path& home) {
  FileSystem* test_fs = g_store_fs.load();
  FileSystem& fs = test_fs ? *test_fs : RealFileSystem();
  auto it = config.environments.find(environment);
  if (it == config.environments.end())
    return std::make_unique<DatasetStore>(home / ".alambic" / "store" / environment, fs);
  const EnvironmentSpec& env = it->second;
  if (env.store_connection.empty()) return std::make_unique<DatasetStore>(env.store, fs);
  const std::string where =
      fmt::format("alambic.yaml:{}: environments.{}.store", env.store_loc.line, environment);
  auto spec = ResolveConnection(config.connections, env.store_connection, environment);
  if (!spec.ok()) return spec.status().WithContext(where);
  if (spec->type != kConnectionPostgres)
    return Status::Invalid(fmt::format("{}: connection {} is a {} connection, not postgres", where,
                                       env.store_connection, spec->type));
  const std::string label = fmt::format("store of environment {}", environment);
  auto connect = [p = spec->postgres, name = env.store_connection, secrets = config.secrets,
                  environment,
                  home]() { return OpenPgConnection(p, name, secrets, environment, home, home); };
  return std::make_unique<DatasetStore>(
      std::make_shared<PgTableStore>(std::move(connect), env.store_schema, label));
}

}  // namespace alambic
