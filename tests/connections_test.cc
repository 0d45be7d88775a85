// ResolveConnection: top-level entries, an environment's entries overriding
// them by name, the file and sqlite types, and messages naming the connection.
#include "core/flow/connections.h"
#include "core/flow/loader.h"

#include <gtest/gtest.h>

#include "tests/test_util.h"

namespace alambic::connections_test {
namespace {

using testing::TempDir;
using testing::WriteFile;

class ConnectionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteFile(dir_.path() / "alambic.yaml",
              "name: t\n"
              "environments:\n"
              "  datalab: {}\n"
              "  warehouse:\n"
              "    connections:\n"
              "      exams: {type: file, path: /srv/extracts/exams.csv}\n"
              "      refdb: {type: file}\n"
              "  staging:\n"
              "connections:\n"
              "  exams: {type: file, path: data/exams.csv}\n"
              "  refdb: {type: sqlite, path: data/ref.sqlite}\n"
              "  pg: {type: mysql, path: x}\n");
  }
  // The connections of alambic.yaml, as the workspace loader reads them.
  Result<ConnectionSpec> Resolve(const std::string& name, const std::string& environment) {
    const LoadedWorkspace lw = LoadWorkspaceConfig(dir_.path());
    return ResolveConnection(lw.workspace.config.connections, name, environment);
  }
  TempDir dir_;
};

TEST_F(ConnectionsTest, AnEnvironmentsEntryOverridesTheTopLevelOne) {
  auto lab = Resolve("exams", "datalab");
  ASSERT_TRUE(lab.ok()) << lab.status().message();
  EXPECT_EQ(lab->type, "file");
  EXPECT_EQ(lab->path, "data/exams.csv");
  EXPECT_EQ(lab->environment, "");
  auto wh = Resolve("exams", "warehouse");
  ASSERT_TRUE(wh.ok()) << wh.status().message();
  EXPECT_EQ(wh->path, "/srv/extracts/exams.csv");
  EXPECT_EQ(wh->environment, "warehouse");
  // "", an environment with nothing of its own, or an undeclared one: the top level.
  EXPECT_EQ(Resolve("exams", "")->path, "data/exams.csv");
  EXPECT_EQ(Resolve("exams", "staging")->path, "data/exams.csv");
  EXPECT_EQ(Resolve("exams", "nowhere")->path, "data/exams.csv");
  auto db = Resolve("refdb", "datalab");
  ASSERT_TRUE(db.ok());
  EXPECT_EQ(db->type, "sqlite");
}

TEST_F(ConnectionsTest, ErrorsNameTheConnectionAndItsEnvironment) {
  EXPECT_EQ(Resolve("refdb", "warehouse").status().message(),
            "alambic.yaml:7:14: connection 'refdb' (environment warehouse): path is required for "
            "file");
  EXPECT_EQ(Resolve("pg", "warehouse").status().message(),
            "alambic.yaml:12:14: connection 'pg': type 'mysql' is not supported (expected sqlite, "
            "file or postgres)");
  EXPECT_EQ(Resolve("nope", "warehouse").status().message(),
            "connection 'nope' is not declared in alambic.yaml (add connections: {nope: {type: "
            "sqlite, path: data/file.sqlite}})");
}

// Connections resolve from a configuration built in memory: no alambic.yaml
// is read (there is none).
TEST(ConnectionsConfigTest, ResolvesFromAConfigurationBuiltInMemory) {
  TempDir empty;
  ASSERT_FALSE(std::filesystem::exists(empty.path() / "alambic.yaml"));
  ConnectionsConfig config;
  config.connections["exams"] = {.type = "file", .path = "data/exams.csv"};
  config.connections["refdb"] = {.type = "sqlite", .path = "data/ref.sqlite"};
  config.connections["pg"] = {
      .error = "alambic.yaml:9:13: connection 'pg': type 'mysql' is not supported"};
  config.environments["warehouse"]["exams"] = {.type = "file", .path = "/srv/exams.csv"};
  auto lab = ResolveConnection(config, "exams", "datalab");
  ASSERT_TRUE(lab.ok()) << lab.status().message();
  EXPECT_EQ(lab->path, "data/exams.csv");
  EXPECT_EQ(lab->environment, "");
  auto wh = ResolveConnection(config, "exams", "warehouse");
  ASSERT_TRUE(wh.ok()) << wh.status().message();
  EXPECT_EQ(wh->path, "/srv/exams.csv");
  EXPECT_EQ(wh->environment, "warehouse");
  EXPECT_EQ(ResolveConnection(config, "refdb", "warehouse")->type, "sqlite");
  EXPECT_EQ(ResolveConnection(config, "pg", "").status().message(),
            "alambic.yaml:9:13: connection 'pg': type 'mysql' is not supported");
  EXPECT_EQ(ResolveConnection(config, "x", "").status().message(),
            "connection 'x' is not declared in alambic.yaml (add connections: {x: {type: sqlite, "
            "path: data/file.sqlite}})");
  // An entry built without type or path is refused, not used.
  config.connections["half"] = {.type = "file"};
  EXPECT_EQ(ResolveConnection(config, "half", "").status().code(), StatusCode::kInvalid);
}

// The workspace loader keeps each entry, a malformed one with its line: not a
// mapping, another key, no type, no path.
TEST(ConnectionsConfigTest, TheLoaderKeepsEachEntryAndTheLineOfAMalformedOne) {
  TempDir ws;
  WriteFile(ws.path() / "alambic.yaml",
            "name: t\n"
            "connections:\n"
            "  a: {type: sqlite, path: a.db}\n"
            "  b: x\n"
            "  c: {type: file, path: c.csv, user: me}\n"
            "  d: {path: d.csv}\n"
            "  e: {type: file}\n");
  const LoadedWorkspace lw = LoadWorkspaceConfig(ws.path());
  ASSERT_TRUE(lw.ok()) << lw.diagnostics.at(0).ToString();
  const ConnectionsConfig& c = lw.workspace.config.connections;
  EXPECT_EQ(c.connections.at("a").type, "sqlite");
  EXPECT_EQ(c.connections.at("a").path, "a.db");
  EXPECT_EQ(c.connections.at("b").error,
            "alambic.yaml:4:6: connection 'b' must be a mapping {type: ..., ...}");
  EXPECT_EQ(c.connections.at("c").error,
            "alambic.yaml:5:32: connection 'c': unknown key 'user' (expected type, path)");
  EXPECT_EQ(c.connections.at("d").error, "alambic.yaml:6:6: connection 'd': type is required");
  EXPECT_EQ(c.connections.at("e").error,
            "alambic.yaml:7:6: connection 'e': path is required for file");
}

}  // namespace
}  // namespace alambic::connections_test
