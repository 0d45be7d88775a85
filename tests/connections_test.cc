// ResolveConnection: top-level entries, an environment's entries overriding
// them by name, the file and sqlite types, and messages naming the connection.
#include "core/flow/connections.h"

#include <gtest/gtest.h>

#include "tests/test_util.h"

namespace alambic {
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
              "  pg: {type: postgres, path: x}\n");
  }
  TempDir dir_;
};

TEST_F(ConnectionsTest, AnEnvironmentsEntryOverridesTheTopLevelOne) {
  auto lab = ResolveConnection(dir_.path(), "exams", "datalab");
  ASSERT_TRUE(lab.ok()) << lab.status().message();
  EXPECT_EQ(lab->type, "file");
  EXPECT_EQ(lab->path, "data/exams.csv");
  EXPECT_EQ(lab->environment, "");
  auto wh = ResolveConnection(dir_.path(), "exams", "warehouse");
  ASSERT_TRUE(wh.ok()) << wh.status().message();
  EXPECT_EQ(wh->path, "/srv/extracts/exams.csv");
  EXPECT_EQ(wh->environment, "warehouse");
  // "", an environment with nothing of its own, or an undeclared one: the top level.
  EXPECT_EQ(ResolveConnection(dir_.path(), "exams", "")->path, "data/exams.csv");
  EXPECT_EQ(ResolveConnection(dir_.path(), "exams", "staging")->path, "data/exams.csv");
  EXPECT_EQ(ResolveConnection(dir_.path(), "exams", "nowhere")->path, "data/exams.csv");
  auto db = ResolveConnection(dir_.path(), "refdb", "datalab");
  ASSERT_TRUE(db.ok());
  EXPECT_EQ(db->type, "sqlite");
}

TEST_F(ConnectionsTest, ErrorsNameTheConnectionAndItsEnvironment) {
  EXPECT_EQ(ResolveConnection(dir_.path(), "refdb", "warehouse").status().message(),
            "alambic.yaml: connection 'refdb' (environment warehouse): path is required for file");
  EXPECT_EQ(ResolveConnection(dir_.path(), "pg", "warehouse").status().message(),
            "alambic.yaml: connection 'pg': type 'postgres' is not supported (expected sqlite or "
            "file)");
  EXPECT_EQ(ResolveConnection(dir_.path(), "nope", "warehouse").status().message(),
            "connection 'nope' is not declared in alambic.yaml (add connections: {nope: {type: "
            "sqlite, path: data/file.sqlite}})");
  TempDir empty;
  EXPECT_EQ(ResolveConnection(empty.path(), "x", "").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace alambic
