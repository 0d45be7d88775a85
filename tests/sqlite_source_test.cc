// collect from a query on a SQLite connection declared in alambic.yaml: a real
// database file, opened read-only; types from SQLite values; the fingerprint
// follows the query and the file's content.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <SQLiteCpp/SQLiteCpp.h>

#include "core/exec/run.h"
#include "core/exec/session.h"
#include "core/flow/connections.h"
#include "core/flow/loader.h"
#include "core/recipe/recipe.h"
#include "core/table/sqlite_read.h"
#include "tests/csv_corpus.h"
#include "tests/test_util.h"

namespace alambic::sqlite_source_test {
namespace {

using testing::TableToJson;
using testing::TempDir;
using testing::WriteFile;
using json = nlohmann::json;

class SqliteSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteFile(dir_.path() / "alambic.yaml",
              "name: t\nconnections:\n  refdb: {type: sqlite, path: data/ref.sqlite}\n"
              "  pg: {type: mysql, path: x}\n");
    std::filesystem::create_directories(dir_.path() / "data");
    SQLite::Database db((dir_.path() / "data/ref.sqlite").string(),
                        SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec(
        "create table centres (centre_id text, departement text, capacity integer, rate real, "
        "opened text, note text, empty_int integer);"
        "insert into centres values ('CE0010001', '01', 12, 0.5, '2020-01-31', 'a', null);"
        "insert into centres values ('CE02A0002', '2A', 7, 1, '2021-06-30', 3, null);"
        "insert into centres values ('CE9740003', '974', null, 0.25, '2022-12-01', null, null);");
    kind_ = alambic::testing::BuiltinKinds().Find("collect");
  }
  Result<RecipeOutput> Run(const json& params) {
    params_ = params;
    RecipeContext ctx;
    ctx.recipe = "collect_ref";
    ctx.params = &params_;
    ctx.outputs = {"out"};
    ctx.workspace = dir_.path();
    ctx.config = Config();
    return kind_->Run(ctx);
  }
  Result<std::string> Fingerprint(const json& params) {
    params_ = params;
    RecipeContext ctx;
    ctx.recipe = "collect_ref";
    ctx.params = &params_;
    ctx.workspace = dir_.path();
    ctx.config = Config();
    return kind_->SourceFingerprint(ctx);
  }
  // alambic.yaml as the session reads it (tests rewrite it).
  const WorkspaceConfig* Config() {
    config_ = LoadWorkspaceConfig(dir_.path()).workspace.config;
    return &config_;
  }
  TempDir dir_;
  const RecipeKind* kind_ = nullptr;
  json params_;
  WorkspaceConfig config_;
};

TEST_F(SqliteSourceTest, TypesComeFromSqliteValues) {
  auto out = Run({{"connection", "refdb"}, {"query", "select * from centres order by centre_id;"}});
  ASSERT_TRUE(out.ok()) << out.status().message();
  json t = TableToJson(out->tables[0]);
  EXPECT_EQ(t["columns"], json::parse(R"([["centre_id","utf8"],["departement","utf8"],
      ["capacity","int64"],["rate","float64"],["opened","date32"],["note","utf8"],
      ["empty_int","int64"]])"));
  EXPECT_EQ(t["rows"], json::parse(R"([["CE0010001","01",12,0.5,"2020-01-31","a",null],
      ["CE02A0002","2A",7,1.0,"2021-06-30","3",null],
      ["CE9740003","974",null,0.25,"2022-12-01",null,null]])"));
  EXPECT_EQ(out->metrics["rows"], 3);
}

TEST_F(SqliteSourceTest, TheDatabaseIsOpenedReadOnly) {
  auto write = Run({{"connection", "refdb"}, {"query", "delete from centres"}});
  ASSERT_FALSE(write.ok());
  EXPECT_EQ(write.status().message(),
            "recipe collect_ref: connection refdb: the query must be one read-only statement "
            "(select ...): a write is not allowed");
  auto two = Run({{"connection", "refdb"}, {"query", "select 1; select 2"}});
  ASSERT_FALSE(two.ok());
  EXPECT_EQ(two.status().message(),
            "recipe collect_ref: connection refdb: the query must be a single statement");
  auto bad = Run({{"connection", "refdb"}, {"query", "select nope from centres"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "recipe collect_ref: connection refdb: query: no such column: nope");
  SQLite::Database db((dir_.path() / "data/ref.sqlite").string());
  EXPECT_EQ(db.execAndGet("select count(*) from centres").getInt(), 3);
}

// SQLite counts ATTACH, BEGIN and PRAGMA as read-only statements: they are refused
// all the same, and a second statement after a read is refused before anything runs.
TEST_F(SqliteSourceTest, AttachPragmaAndTransactionsAreRefused) {
  const std::string other = (dir_.path() / "data/other.sqlite").string();
  const std::pair<std::string, std::string> cases[] = {
      {"attach '" + other + "' as o", "ATTACH"},
      {"detach o", "DETACH"},
      {"pragma user_version = 7", "PRAGMA"},
      {"pragma journal_mode", "PRAGMA"},
      {"begin", "a transaction"},
      {"savepoint s", "SAVEPOINT"},
  };
  for (const auto& [query, what] : cases) {
    auto r = Run({{"connection", "refdb"}, {"query", query}});
    ASSERT_FALSE(r.ok()) << query;
    EXPECT_EQ(r.status().message(),
              "recipe collect_ref: connection refdb: the query must be one read-only statement "
              "(select ...): " +
                  what + " is not allowed")
        << query;
  }
  auto trailing = Run(
      {{"connection", "refdb"}, {"query", "select * from centres; attach '" + other + "' as o"}});
  ASSERT_FALSE(trailing.ok());
  EXPECT_EQ(trailing.status().message(),
            "recipe collect_ref: connection refdb: the query must be a single statement");
  EXPECT_FALSE(std::filesystem::exists(other));
  SQLite::Database db((dir_.path() / "data/ref.sqlite").string());
  EXPECT_EQ(db.execAndGet("pragma user_version").getInt(), 0);
  // Reads with functions, CTEs and subqueries still work.
  auto ok = Run({{"connection", "refdb"},
                 {"query",
                  "with recursive n(i) as (select 1 union all select i + 1 from n "
                  "where i < 3) select i, upper('x') from n"}});
  ASSERT_TRUE(ok.ok()) << ok.status().message();
}

TEST_F(SqliteSourceTest, ConnectionErrorsNameTheConnection) {
  auto undeclared = Run({{"connection", "nope"}, {"query", "select 1"}});
  ASSERT_FALSE(undeclared.ok());
  EXPECT_EQ(undeclared.status().message(),
            "recipe collect_ref: connection 'nope' is not declared in alambic.yaml (add "
            "connections: {nope: {type: sqlite, path: data/file.sqlite}})");
  auto pg = Run({{"connection", "pg"}, {"query", "select 1"}});
  ASSERT_FALSE(pg.ok());
  EXPECT_EQ(pg.status().message(),
            "recipe collect_ref: alambic.yaml:4:14: connection 'pg': type 'mysql' is not "
            "supported (expected sqlite, file or postgres)");
  std::filesystem::remove(dir_.path() / "data/ref.sqlite");
  auto gone = Run({{"connection", "refdb"}, {"query", "select 1"}});
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.status().message(),
            "recipe collect_ref: connection refdb: data/ref.sqlite: no such database file");
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "data/ref.sqlite"));  // not created
  // Without a query the connection must be a file (known once alambic.yaml is read).
  EXPECT_TRUE(kind_->CheckParams({{"connection", "refdb"}}).ok());
  EXPECT_EQ(Run({{"connection", "refdb"}}).status().message(),
            "recipe collect_ref: connection refdb is a sqlite database: give a query");
  EXPECT_EQ(
      kind_->CheckParams({{"connection", "refdb"}, {"query", "select 1"}, {"path", "x"}}).message(),
      "param 'connection': give one of path, url or connection");
}

TEST_F(SqliteSourceTest, FingerprintFollowsTheQueryAndTheData) {
  const json p = {{"connection", "refdb"}, {"query", "select * from centres"}};
  auto a = Fingerprint(p);
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_EQ(*Fingerprint(p), *a);
  EXPECT_NE(*Fingerprint({{"connection", "refdb"}, {"query", "select centre_id from centres"}}),
            *a);
  {
    SQLite::Database db((dir_.path() / "data/ref.sqlite").string(), SQLite::OPEN_READWRITE);
    db.exec("insert into centres values ('CE0750004', '75', 3, 0.1, '2023-01-01', null, null)");
  }
  auto b = Fingerprint(p);
  ASSERT_TRUE(b.ok());
  EXPECT_NE(*b, *a);
}

TEST_F(SqliteSourceTest, PlannerSeesDataChanges) {
  WriteFile(dir_.path() / "flows/f.yaml",
            "flow: f\nrecipes:\n  - {name: ref, kind: collect, outputs: [centres], params: "
            "{connection: refdb, query: \"select * from centres\"}}\n");
  auto plan = [&] {
    auto s = Session::Open(dir_.path(), "", alambic::testing::BuiltinKinds());
    EXPECT_TRUE(s.ok()) << s.status().message();
    auto p = (*s)->MakePlan({});
    EXPECT_TRUE(p.ok()) << p.status().message();
    return p.ok() ? p->recipes.at(0).explanation : std::string();
  };
  auto run = [&] {
    auto s = Session::Open(dir_.path(), "", alambic::testing::BuiltinKinds());
    auto r = RunFlows(**s, {});
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? r->succeeded : -1;
  };
  EXPECT_EQ(run(), 1);
  EXPECT_EQ(plan(), "up to date");
  {
    SQLite::Database db((dir_.path() / "data/ref.sqlite").string(), SQLite::OPEN_READWRITE);
    db.exec("update centres set rate = 0.9 where centre_id = 'CE0010001'");
  }
  EXPECT_EQ(plan(), "source data changed (connection refdb)");
  EXPECT_EQ(run(), 1);
  EXPECT_EQ(plan(), "up to date");
}

TEST_F(SqliteSourceTest, ABlobOrAnEmptyQueryIsAnError) {
  {
    SQLite::Database db((dir_.path() / "data/ref.sqlite").string(), SQLite::OPEN_READWRITE);
    db.exec(
        "create table photos (id integer, img blob);"
        "insert into photos values (1, null), (2, x'00ff');");
  }
  auto blob = Run({{"connection", "refdb"}, {"query", "select * from photos order by id"}});
  ASSERT_FALSE(blob.ok());
  EXPECT_EQ(blob.status().message(),
            "recipe collect_ref: connection refdb: column 'img' holds a BLOB at row 2 (not "
            "supported)");
  auto hex = Run({{"connection", "refdb"}, {"query", "select id, hex(img) as img from photos"}});
  ASSERT_TRUE(hex.ok()) << hex.status().message();
  EXPECT_EQ(TableToJson(hex->tables[0])["rows"], json::parse(R"([[1,""],[2,"00FF"]])"));
  auto empty = Run({{"connection", "refdb"}, {"query", "-- nothing"}});
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().message(), "recipe collect_ref: connection refdb: the query is empty");
}

// The database path of a connection is confined like any path of the workspace: `..` or an
// absolute path leading out of it is refused, when planning and when running.
TEST_F(SqliteSourceTest, ADatabaseOutsideTheWorkspaceIsRefused) {
  TempDir outside;
  {
    SQLite::Database db((outside.path() / "x.sqlite").string(),
                        SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec("create table t (a integer); insert into t values (1);");
  }
  const std::string up = "../" + outside.path().filename().string() + "/x.sqlite";
  const std::string abs = (outside.path() / "x.sqlite").string();
  WriteFile(dir_.path() / "alambic.yaml",
            fmt::format("name: t\nconnections:\n  up: {{type: sqlite, path: \"{}\"}}\n"
                        "  abs: {{type: sqlite, path: \"{}\"}}\n",
                        up, abs));
  ASSERT_TRUE(std::filesystem::exists(dir_.path() / up));
  for (const auto& [name, path] : {std::pair{"up", up}, std::pair{"abs", abs}}) {
    const json p = {{"connection", name}, {"query", "select * from t"}};
    const std::string expected = fmt::format(
        "recipe collect_ref: path '{}' is outside the workspace and the configured data roots",
        path);
    auto run = Run(p);
    ASSERT_FALSE(run.ok()) << name;
    EXPECT_EQ(run.status().message(), expected);
    auto fp = Fingerprint(p);
    ASSERT_FALSE(fp.ok()) << name;
    EXPECT_EQ(fp.status().message(), expected);
  }
}

}  // namespace
}  // namespace alambic::sqlite_source_test
