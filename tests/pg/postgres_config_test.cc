// A postgres connection in alambic.yaml: its keys, its password as a secret
// reference only, environment overrides; and the export params of a table of
// one. No server needed.
#include <gtest/gtest.h>

#include "core/flow/connections.h"
#include "core/flow/loader.h"
#include "tests/kind_test_util.h"
#include "tests/test_util.h"

namespace alambic {
namespace {

using testing::TempDir;
using testing::WriteFile;

class PostgresConfigTest : public ::testing::Test {
 protected:
  LoadedWorkspace Load(const std::string& yaml) {
    WriteFile(dir_.path() / "alambic.yaml", yaml);
    return LoadWorkspaceConfig(dir_.path());
  }
  TempDir dir_;
};

TEST_F(PostgresConfigTest, ReadsEveryKeyAndEnvironmentOverrides) {
  auto loaded = Load(
      "name: t\n"
      "connections:\n"
      "  wh: {type: postgres, host: db.example, port: '6432', dbname: dwh, user: alambic,\n"
      "       password: 'secret:whpw', sslmode: verify-full, sslrootcert: /etc/ca.pem,\n"
      "       sslcert: c.pem, sslkey: k.pem}\n"
      "default_environment: warehouse\n"
      "environments:\n"
      "  warehouse:\n"
      "    connections:\n"
      "      wh: {type: postgres, host: prod.example, dbname: prod, password: 'secret:prodpw'}\n");
  ASSERT_TRUE(loaded.ok()) << loaded.diagnostics[0].message;
  const auto& cfg = loaded.workspace.config.connections;
  auto lab = ResolveConnection(cfg, "wh", "");
  ASSERT_TRUE(lab.ok()) << lab.status().message();
  EXPECT_EQ(lab->type, "postgres");
  EXPECT_EQ(lab->postgres, (PostgresParams{"db.example", "6432", "dwh", "alambic", "secret:whpw",
                                           "verify-full", "/etc/ca.pem", "c.pem", "k.pem"}));
  auto wh = ResolveConnection(cfg, "wh", "warehouse");
  ASSERT_TRUE(wh.ok()) << wh.status().message();
  EXPECT_EQ(wh->environment, "warehouse");
  EXPECT_EQ(wh->postgres,
            (PostgresParams{"prod.example", "", "prod", "", "secret:prodpw", "", "", "", ""}));
}

TEST_F(PostgresConfigTest, MalformedEntriesSayWhyAndWhere) {
  auto loaded = Load(
      "name: t\n"
      "connections:\n"
      "  literal: {type: postgres, dbname: d, password: hunter2}\n"
      "  nodb: {type: postgres, host: h}\n"
      "  typo: {type: postgres, dbname: d, hots: h}\n"
      "default_environment: warehouse\n"
      "environments:\n"
      "  warehouse:\n"
      "    connections:\n"
      "      wh: {type: postgres, dbname: d, pasword: 'secret:x'}\n");
  const auto& cfg = loaded.workspace.config.connections;
  auto literal = ResolveConnection(cfg, "literal", "");
  ASSERT_FALSE(literal.ok());
  EXPECT_EQ(literal.status().message(),
            "alambic.yaml:3:50: connection 'literal': password must be a secret reference "
            "(\"secret:NAME\"), never the password itself");
  EXPECT_EQ(literal.status().message().find("hunter2"), std::string::npos);
  EXPECT_EQ(ResolveConnection(cfg, "nodb", "").status().message(),
            "alambic.yaml:4:9: connection 'nodb': dbname is required for postgres");
  EXPECT_EQ(ResolveConnection(cfg, "typo", "").status().message(),
            "alambic.yaml:5:37: connection 'typo': unknown key 'hots' (expected type, host, port, "
            "dbname, user, password, sslmode, sslrootcert, sslcert, sslkey)");
  ASSERT_EQ(loaded.diagnostics.size(), 1u);
  EXPECT_EQ(loaded.diagnostics[0].message.rfind(
                "unknown key 'pasword' in environments.warehouse.connections.wh", 0),
            0u)
      << loaded.diagnostics[0].message;
}

TEST_F(PostgresConfigTest, ExportParamsOfATable) {
  auto check = [](const nlohmann::json& p) { return testing::CheckKindParams("export", p); };
  EXPECT_EQ(check({{"connection", "wh"}, {"table", "rates"}, {"schema", "lab"}}), "");
  EXPECT_EQ(check({{"connection", "wh"}}), "");
  EXPECT_EQ(check({{"connection", "wh"}, {"path", "x.csv"}}),
            "param 'path': does not apply to a connection (use table)");
  EXPECT_EQ(check({{"connection", "wh"}, {"format", "csv"}}),
            "param 'format': must be postgres (or absent) with a connection");
  EXPECT_EQ(check({{"connection", "wh"}, {"table", std::string(64, 'x')}}),
            "param 'table': is longer than PostgreSQL's 63 bytes for a name");
  EXPECT_EQ(check({{"path", "x.csv"}, {"schema", "s"}}),
            "param 'schema': applies to a postgres connection only");
  EXPECT_EQ(check({{"format", "postgres"}, {"path", "x"}}),
            "param 'format': must be csv, json, ndjson or sqlite (postgres: give a connection)");
}

TEST_F(PostgresConfigTest, StoreOfAnEnvironment) {
  auto loaded = Load(
      "name: t\n"
      "environments:\n"
      "  datalab: {}\n"
      "  warehouse:\n"
      "    store: {kind: postgres, connection: wh, schema: alambic_wh}\n");
  ASSERT_TRUE(loaded.ok()) << loaded.diagnostics[0].message;
  const auto& wh = loaded.workspace.config.environments.at("warehouse");
  EXPECT_EQ(wh.store_connection, "wh");
  EXPECT_EQ(wh.store_schema, "alambic_wh");
  EXPECT_EQ(wh.store_loc.line, 5);
  EXPECT_EQ(loaded.workspace.config.environments.at("datalab").store_connection, "");

  auto bad = Load(
      "name: t\n"
      "environments:\n"
      "  a:\n"
      "    store: {kind: oracle, connection: wh, schema: s}\n"
      "  b:\n"
      "    store: {kind: postgres, schema: s}\n"
      "  c:\n"
      "    store: {kind: postgres, connection: wh, schemas: s}\n");
  std::string all;
  for (const auto& d : bad.diagnostics) all += d.ToString() + "\n";
  EXPECT_NE(all.find("environments.a.store.kind: 'oracle' is not a store kind"), std::string::npos)
      << all;
  EXPECT_NE(all.find("environments.b.store needs a connection"), std::string::npos) << all;
  EXPECT_NE(all.find("unknown key 'schemas'"), std::string::npos) << all;
  EXPECT_NE(all.find("environments.c.store needs a schema"), std::string::npos) << all;
}

}  // namespace
}  // namespace alambic
