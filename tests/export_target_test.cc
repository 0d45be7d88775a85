// Exports end to end through the `alambic` binary: an export is up to date
// only while its target (a file or a SQLite table) holds what its version
// wrote; exports may not write into the workspace's code, git data or state.
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/test_util.h"

namespace alambic::export_target_test {
namespace {

namespace fs = std::filesystem;
using testing::Cli;
using testing::CliResult;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;

constexpr const char* kOriginal = "id,amount\n1,10\n2,20\n";
constexpr const char* kChanged = "id,amount\n1,10\n2,99\n";

class ExportTargetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ws_ = dir_.path() / "ws";
    auto r = Cli(dir_.path(), {"init", "ws"});
    ASSERT_EQ(r.code, 0) << r.err;
    WriteFile(ws_ / "data" / "in.csv", kOriginal);
  }
  // collect data/in.csv -> filter -> export to `path` (more params in `extra`).
  void WriteFlow(const std::string& path, const std::string& extra = "") {
    WriteFile(ws_ / "flows" / "pub.yaml", R"(flow: pub
usecase: demo
recipes:
  - name: collect_in
    kind: collect
    outputs: [raw]
    params: {path: data/in.csv}
  - name: keep
    kind: filter
    inputs: [raw]
    outputs: [kept]
    params: {where: "amount > 0"}
  - name: publish
    kind: export
    inputs: [kept]
    outputs: [kept_published]
    params: {path: ")" + path + "\"" + extra + R"(}
)");
  }
  CliResult Run(const std::vector<std::string>& args) { return Cli(ws_, args); }
  // Rows of `table` in the SQLite database `db`, as "a|b\n" lines ordered by rowid.
  static std::string Rows(const fs::path& db, const std::string& table) {
    sqlite3* raw = nullptr;
    if (sqlite3_open_v2(db.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
      sqlite3_close_v2(raw);
      return "<cannot open>";
    }
    std::string out;
    sqlite3_stmt* st = nullptr;
    const std::string sql = "SELECT id, amount FROM \"" + table + "\" ORDER BY rowid";
    if (sqlite3_prepare_v2(raw, sql.c_str(), -1, &st, nullptr) == SQLITE_OK)
      while (sqlite3_step(st) == SQLITE_ROW)
        out += std::to_string(sqlite3_column_int64(st, 0)) + "|" +
               std::to_string(sqlite3_column_int64(st, 1)) + "\n";
    else
      out = "<no table>";
    sqlite3_finalize(st);
    sqlite3_close_v2(raw);
    return out;
  }
  static void Exec(const fs::path& db, const std::string& sql) {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(db.c_str(), &raw), SQLITE_OK);
    char* err = nullptr;
    int rc = sqlite3_exec(raw, sql.c_str(), nullptr, nullptr, &err);
    std::string msg = err ? err : "";
    sqlite3_free(err);
    sqlite3_close_v2(raw);
    ASSERT_EQ(rc, SQLITE_OK) << msg;
  }

  TempDir dir_;
  fs::path ws_;
};

TEST_F(ExportTargetTest, ARevertedInputRewritesTheExportedFile) {
  WriteFlow("out/x.csv");
  auto r = Run({"run"});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(ReadFile(ws_ / "out/x.csv"), kOriginal);

  WriteFile(ws_ / "data" / "in.csv", kChanged);
  r = Run({"run"});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(ReadFile(ws_ / "out/x.csv"), kChanged);

  // Back to the original data: every version is in the store, but out/x.csv
  // holds the changed rows, so the export is stale and runs again.
  WriteFile(ws_ / "data" / "in.csv", kOriginal);
  r = Run({"plan", "--explain"});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("target out/x.csv differs from version"));
  r = Run({"run"});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(ReadFile(ws_ / "out/x.csv"), kOriginal);

  // Now it is up to date, and stays so.
  r = Run({"plan", "--explain"});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, Not(HasSubstr("target out/x.csv")));
  r = Run({"status"});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, Not(HasSubstr("stale")));
}

TEST_F(ExportTargetTest, AnEditedOrMissingFileIsStale) {
  WriteFlow("out/x.csv");
  ASSERT_EQ(Run({"run"}).code, 0);
  // Edited by hand: status shows the export stale, run rewrites it.
  WriteFile(ws_ / "out/x.csv", "id,amount\n1,10\n");
  auto r = Run({"status"});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("stale: target"));
  ASSERT_EQ(Run({"run"}).code, 0);
  EXPECT_EQ(ReadFile(ws_ / "out/x.csv"), kOriginal);
  // Deleted: stale, as in make.
  fs::remove(ws_ / "out/x.csv");
  r = Run({"plan", "--explain"});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("target out/x.csv is missing"));
  r = Run({"run"});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(ReadFile(ws_ / "out/x.csv"), kOriginal);
  // Only the export ran again: its input did not change.
  r = Run({"plan", "--explain"});
  EXPECT_THAT(r.out, Not(HasSubstr("is missing")));
}

TEST_F(ExportTargetTest, ARevertedInputRewritesTheSqliteTable) {
  WriteFlow("out/db.sqlite", ", table: t");
  ASSERT_EQ(Run({"run"}).code, 0);
  EXPECT_EQ(Rows(ws_ / "out/db.sqlite", "t"), "1|10\n2|20\n");
  WriteFile(ws_ / "data" / "in.csv", kChanged);
  ASSERT_EQ(Run({"run"}).code, 0);
  EXPECT_EQ(Rows(ws_ / "out/db.sqlite", "t"), "1|10\n2|99\n");
  WriteFile(ws_ / "data" / "in.csv", kOriginal);
  auto r = Run({"plan", "--explain"});
  EXPECT_THAT(r.out, HasSubstr("target out/db.sqlite (table t) differs from version"));
  ASSERT_EQ(Run({"run"}).code, 0);
  EXPECT_EQ(Rows(ws_ / "out/db.sqlite", "t"), "1|10\n2|20\n");

  // Another table of the same database changing leaves the export up to date;
  // a row of its own table changed by hand does not.
  Exec(ws_ / "out/db.sqlite", "CREATE TABLE other(a); INSERT INTO other VALUES (1)");
  r = Run({"plan", "--explain"});
  EXPECT_THAT(r.out, Not(HasSubstr("target out/db.sqlite")));
  Exec(ws_ / "out/db.sqlite", "UPDATE t SET amount = 21 WHERE id = 2");
  r = Run({"plan", "--explain"});
  EXPECT_THAT(r.out, HasSubstr("target out/db.sqlite (table t) differs from version"));
  ASSERT_EQ(Run({"run"}).code, 0);
  EXPECT_EQ(Rows(ws_ / "out/db.sqlite", "t"), "1|10\n2|20\n");
  // A dropped table is missing.
  Exec(ws_ / "out/db.sqlite", "DROP TABLE t");
  r = Run({"plan", "--explain"});
  EXPECT_THAT(r.out, HasSubstr("target out/db.sqlite (table t) is missing"));
  ASSERT_EQ(Run({"run"}).code, 0);
  EXPECT_EQ(Rows(ws_ / "out/db.sqlite", "t"), "1|10\n2|20\n");
}

// Each place of the workspace an export may not write, directly, through
// "..", and through a symlink: plan and run fail naming the recipe and path,
// and the file is untouched.
TEST_F(ExportTargetTest, ExportsMayNotWriteTheWorkspacesCodeGitDataOrState) {
  fs::create_directories(ws_ / ".git");
  WriteFile(ws_ / ".git" / "config", "[core]\n");
  fs::create_directories(ws_ / "recipes");
  fs::create_directories(ws_ / "usecases");
  fs::create_directories(ws_ / "out");
  fs::create_symlink(ws_ / ".git", ws_ / "out" / "gitlink");
  const std::string yaml = ReadFile(ws_ / "alambic.yaml");
  for (const std::string path :
       {".git/config", "flows/evil.yaml", "recipes/x.sql", "usecases/x.yaml", "alambic.yaml",
        ".alambic/catalog.db", "out/../.git/config", "./flows/../alambic.yaml",
        "out/gitlink/config", "../ws/.git/config"}) {
    WriteFlow(path);
    auto r = Run({"run"});
    EXPECT_NE(r.code, 0) << path;
    EXPECT_THAT(r.out + r.err, HasSubstr("recipe publish: path '" + path + "' is inside")) << path;
  }
  EXPECT_EQ(ReadFile(ws_ / ".git" / "config"), "[core]\n");
  EXPECT_EQ(ReadFile(ws_ / "alambic.yaml"), yaml);
  EXPECT_FALSE(fs::exists(ws_ / "recipes" / "x.sql"));

  // Out of the workspace: refused, through ".." and through a symlink.
  fs::create_directories(dir_.path() / "elsewhere");
  fs::create_symlink(dir_.path() / "elsewhere", ws_ / "out" / "away");
  for (const std::string path : {"../elsewhere/x.csv", "out/away/x.csv"}) {
    WriteFlow(path);
    auto r = Run({"run"});
    EXPECT_NE(r.code, 0) << path;
    EXPECT_THAT(r.out + r.err,
                HasSubstr("recipe publish: path '" + path + "' is outside the workspace"));
  }
  // A symlink to a missing file outside: SQLite would follow it.
  fs::create_symlink(dir_.path() / "elsewhere" / "new.db", ws_ / "out" / "dangling.db");
  WriteFlow("out/dangling.db");
  auto r = Run({"run"});
  EXPECT_NE(r.code, 0);
  EXPECT_THAT(r.out + r.err, HasSubstr("symbolic link to a missing file"));
  EXPECT_TRUE(fs::is_empty(dir_.path() / "elsewhere"));

  // A data root opens a place outside the workspace.
  std::string with_root = yaml;
  const std::string empty_roots = "data_roots: []";
  ASSERT_NE(with_root.find(empty_roots), std::string::npos) << yaml;
  with_root.replace(with_root.find(empty_roots), empty_roots.size(),
                    "data_roots: [" + (dir_.path() / "elsewhere").string() + "]");
  WriteFile(ws_ / "alambic.yaml", with_root);
  WriteFlow((dir_.path() / "elsewhere" / "x.csv").string());
  r = Run({"run"});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(ReadFile(dir_.path() / "elsewhere" / "x.csv"), kOriginal);
}

}  // namespace
}  // namespace alambic::export_target_test
