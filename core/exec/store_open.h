// Opening the dataset store of an environment from alambic.yaml: a directory
// of Arrow files (`store: DIR`, the default), or a PostgreSQL schema (`store:
// {kind: postgres, connection: NAME, schema: S}`, core/store/pg_store.h) whose
// connection's password is read from its secret in that environment when the
// store first connects (never logged).
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "core/flow/connections.h"
#include "core/flow/flow.h"
#include "core/net/postgres.h"
#include "core/store/store.h"

namespace alambic {

// `home` is the workspace root: relative secret files and TLS files resolve
// against it. Invalid (naming alambic.yaml's line) when the store's connection
// is not declared or not a postgres connection. A directory store works
// through the real filesystem (or SetStoreFileSystemForTesting()'s).
Result<std::unique_ptr<DatasetStore>> OpenEnvironmentStore(const WorkspaceConfig& config,
                                                           const std::string& environment,
                                                           const std::filesystem::path& home);

// TEST HOOK: the filesystem the directory stores that OpenEnvironmentStore()
// opens from now on work through (borrowed; null: the real one).
// The fault loops (tests/fault_loop_test.cc) run whole runs on a
// FaultyFileSystem this way.
void SetStoreFileSystemForTesting(FileSystem* fs);

// Connects with a postgres connection's parameters: TLS files resolve against
// `files_root`, the password is read from its secret (secret files against
// `secrets_root`) and wiped once connected. Errors carry "connection NAME".
Result<std::unique_ptr<PgConnection>> OpenPgConnection(const PostgresParams& p,
                                                       const std::string& name,
                                                       const SecretsConfig& secrets,
                                                       const std::string& environment,
                                                       const std::filesystem::path& files_root,
                                                       const std::filesystem::path& secrets_root);

}  // namespace alambic
