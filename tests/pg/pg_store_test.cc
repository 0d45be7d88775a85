// The PostgreSQL store of an environment against a real server: a flow run in
// an environment whose `store:` is a postgres schema writes each version as a
// table named from its version id, with the same version ids as the file store
// of another environment, and reads back exactly what it wrote.
//
// Needs the server tests/pg/pg-harness starts (ctest's postgres_connection
// runs PostgresStoreTest.* through it); without it every test here is skipped.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>

#include "core/exec/run.h"
#include "core/exec/session.h"
#include "core/net/postgres.h"
#include "core/store/pg_store.h"
#include "tests/kind_test_util.h"
#include "tests/pg/pg_test_util.h"
#include "tests/test_util.h"

namespace alambic {
namespace {

using testing::TempDir;
using testing::WriteFile;

using testing::Env;

// "" when `a` and `b` hold the same columns, types and cells (doubles bit for bit, NaN
// as NaN), else the first difference.
std::string ExactDiff(const Table& a, const Table& b) { return testing::TableDiff(a, b); }

class PostgresStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (Env("ALAMBIC_TEST_PG_HOST").empty())
      GTEST_SKIP() << "no PostgreSQL server (run through tests/pg/pg-harness)";
    PgConnectOptions o = testing::HarnessServer("test");
    auto c = PgConnection::Connect(o);
    ASSERT_TRUE(c.ok()) << c.status().message();
    db_ = std::move(*c);
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    schema_ = fmt::format("Store {}", info->name());  // a name that needs quoting
    ASSERT_TRUE(db_->Exec(fmt::format("DROP SCHEMA IF EXISTS \"{}\" CASCADE", schema_)).ok());
    WriteConfig();
    // Adversarial cells: nulls, empty strings, tabs, newlines, backslashes,
    // accents, case, -0.0 and extreme doubles and integers, dates before 1970.
    WriteFile(dir_.path() / "data" / "cells.csv",
              "id,name,score,born,ok\n"
              "1,\"Zoé \\ \tà\",1.5,1950-03-01,true\n"
              "2,,,,false\n"
              "3,\"multi\nline\",-2.5e-300,2024-02-29,\n"
              "-9223372036854775808,élan,0.1,1969-12-31,true\n"
              "9223372036854775807,apple,1e308,2038-01-19,false\n"
              "6,Apple,-0.0,1900-01-01,true\n");
    WriteFile(dir_.path() / "flows" / "f.yaml",
              "flow: f\n"
              "recipes:\n"
              "  - name: collect_cells\n"
              "    kind: collect\n"
              "    outputs: [cells]\n"
              "    params: {path: data/cells.csv, format: csv}\n"
              "  - name: sorted\n"
              "    kind: sort\n"
              "    inputs: [cells]\n"
              "    outputs: [cells_sorted]\n"
              "    params: {by: [name]}\n"
              "  - name: by_ok\n"
              "    kind: group\n"
              "    inputs: [cells_sorted]\n"
              "    outputs: [by_ok]\n"
              "    params: {keys: [ok], aggregates: [{name: n, fn: count}]}\n");
  }

  void WriteConfig(const std::string& connection = "wh") {
    WriteFile(
        dir_.path() / "alambic.yaml",
        fmt::format("name: t\n"
                    "secrets:\n  pgpw: {{env: ALAMBIC_TEST_PG_PASSWORD}}\n"
                    "connections:\n"
                    "  wh: {{type: postgres, host: {}, port: '{}', dbname: {}, user: {}, "
                    "password: 'secret:pgpw', sslmode: disable}}\n"
                    "environments:\n"
                    "  datalab: {{}}\n"
                    "  pg:\n"
                    "    store: {{kind: postgres, connection: {}, schema: '{}'}}\n",
                    Env("ALAMBIC_TEST_PG_HOST"), Env("ALAMBIC_TEST_PG_PORT"),
                    Env("ALAMBIC_TEST_PG_DB"), Env("ALAMBIC_TEST_PG_USER"), connection, schema_));
  }

  std::unique_ptr<Session> Open(const std::string& env) {
    auto s = Session::Open(dir_.path(), env, testing::BuiltinKinds());
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() ? std::move(*s) : nullptr;
  }

  // dataset -> version id of each output of a run.
  std::map<std::string, std::string> Run(Session& s, int want_succeeded) {
    auto r = RunFlows(s, {});
    EXPECT_TRUE(r.ok()) << r.status().message();
    std::map<std::string, std::string> out;
    if (!r.ok()) return out;
    EXPECT_EQ(r->succeeded, want_succeeded);
    EXPECT_EQ(r->failed, 0);
    for (const auto& rec : r->recipes) {
      EXPECT_EQ(rec.status, "succeeded") << rec.recipe << ": " << rec.error;
      for (const auto& [ds, v] : rec.outputs) out[ds] = v;
      engines[rec.recipe] = rec.metrics.value("engine", "local");
    }
    return out;
  }

  std::string Scalar(const std::string& sql, const std::vector<std::optional<std::string>>& p) {
    auto rows = db_->Query(sql, p);
    EXPECT_TRUE(rows.ok()) << rows.status().message();
    if (!rows.ok() || rows->empty() || !(*rows)[0][0]) return "null";
    return *(*rows)[0][0];
  }

  std::map<std::string, std::string> engines;  // recipe -> its metrics' engine
  TempDir dir_;
  std::string schema_;
  std::unique_ptr<PgConnection> db_;
};

TEST_F(PostgresStoreTest, VersionsAreTablesWithTheFileStoresIdsAndContent) {
  auto lab = Open("datalab");
  auto pg = Open("pg");
  ASSERT_TRUE(lab && pg);
  const auto lab_versions = Run(*lab, 3);
  const auto pg_versions = Run(*pg, 3);
  ASSERT_EQ(lab_versions.size(), 3u);
  // Version ids do not depend on the store.
  EXPECT_EQ(lab_versions, pg_versions);
  // sort and group ran inside PostgreSQL; collect locally.
  EXPECT_EQ(engines["sorted"], "postgres");
  EXPECT_EQ(engines["by_ok"], "postgres");
  EXPECT_EQ(engines["collect_cells"], "local");
  for (const auto& [ds, v] : pg_versions) {
    // One table per version, named from its id, with a comment naming the dataset.
    const std::string table = PgTableStore::TableName(v);
    EXPECT_EQ(table, "v_" + v.substr(0, 61));
    EXPECT_EQ(Scalar("SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename = $2",
                     {schema_, table}),
              "1")
        << ds;
    EXPECT_EQ(Scalar("SELECT obj_description(format('%I.%I', $1::text, $2::text)::regclass)",
                     {schema_, table}),
              fmt::format("alambic dataset {} version {}", ds, v));
    // Read back through COPY: exactly the file store's table.
    auto a = lab->store().Read(ds, v);
    auto b = pg->store().Read(ds, v);
    ASSERT_TRUE(a.ok()) << a.status().message();
    ASSERT_TRUE(b.ok()) << b.status().message();
    EXPECT_EQ(ExactDiff(*a, *b), "") << ds;
  }
  // No staged table is left, and nothing was written to the file store of pg.
  EXPECT_EQ(Scalar("SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename LIKE 'tmp%'",
                   {schema_}),
            "0");
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / ".alambic" / "store" / "pg"));
  // The PostgreSQL side of the adversarial cells, as PostgreSQL sees them.
  const std::string cells =
      fmt::format("\"{}\".\"{}\"", schema_, PgTableStore::TableName(pg_versions.at("cells")));
  EXPECT_EQ(Scalar(fmt::format("SELECT string_agg(coalesce(name, '<null>'), '|' ORDER BY id) "
                               "FROM {}",
                               cells),
                   {}),
            "élan|Zoé \\ \tà|<null>|multi\nline|Apple|apple");
  EXPECT_EQ(Scalar(fmt::format("SELECT count(*) FROM {} WHERE score IS NULL", cells), {}), "1");
  EXPECT_EQ(Scalar(fmt::format("SELECT min(id)::text FROM {}", cells), {}), "-9223372036854775808");

  // A second run in pg finds every version in the store: nothing to run.
  auto again = RunFlows(*pg, {});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->succeeded, 0);
  EXPECT_EQ(again->up_to_date, 3);
  // A dropped table is a missing version: its recipe runs again, same id.
  ASSERT_TRUE(db_->Exec(fmt::format("DROP TABLE \"{}\".\"{}\"", schema_,
                                    PgTableStore::TableName(pg_versions.at("by_ok"))))
                  .ok());
  auto pg2 = Open("pg");
  ASSERT_TRUE(pg2);
  EXPECT_EQ(Run(*pg2, 1).at("by_ok"), pg_versions.at("by_ok"));
}

TEST_F(PostgresStoreTest, LeftoverStagedTablesAreCleanedAndBadConnectionsNamed) {
  ASSERT_TRUE(db_->Exec(fmt::format("CREATE SCHEMA \"{0}\"; CREATE TABLE \"{0}\".tmp_dead_1 (x "
                                    "int); CREATE TABLE \"{0}\".keep_me (x int)",
                                    schema_))
                  .ok());
  auto pg = Open("pg");
  ASSERT_TRUE(pg);
  Run(*pg, 3);
  EXPECT_EQ(Scalar("SELECT string_agg(tablename, ',') FROM pg_tables WHERE schemaname = $1 AND "
                   "tablename NOT LIKE 'v\\_%'",
                   {schema_}),
            "keep_me");

  // A store on a connection that does not exist: the session says which.
  WriteConfig("nowhere");
  auto bad = Session::Open(dir_.path(), "pg", testing::BuiltinKinds());
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("environments.pg.store"), std::string::npos)
      << bad.status().message();
  EXPECT_NE(bad.status().message().find("nowhere"), std::string::npos) << bad.status().message();

  // A wrong password: the run fails naming the store's connection, never the password.
  WriteConfig();
  setenv("ALAMBIC_TEST_PG_PASSWORD_SAVED", Env("ALAMBIC_TEST_PG_PASSWORD").c_str(), 1);
  setenv("ALAMBIC_TEST_PG_PASSWORD", "wrong-password-xyz", 1);
  WriteFile(dir_.path() / "data" / "cells.csv", "id\n1\n");
  auto s = Open("pg");
  ASSERT_TRUE(s);
  auto r = RunFlows(*s, {});
  setenv("ALAMBIC_TEST_PG_PASSWORD", Env("ALAMBIC_TEST_PG_PASSWORD_SAVED").c_str(), 1);
  if (r.ok()) {
    EXPECT_GT(r->failed, 0);
    std::string errors;
    for (const auto& rec : r->recipes) errors += rec.error + "\n";
    EXPECT_NE(errors.find("connection wh"), std::string::npos) << errors;
    EXPECT_EQ(errors.find("wrong-password-xyz"), std::string::npos) << errors;
  } else {
    EXPECT_NE(r.status().message().find("connection wh"), std::string::npos)
        << r.status().message();
    EXPECT_EQ(r.status().message().find("wrong-password-xyz"), std::string::npos);
  }
}

}  // namespace
}  // namespace alambic
