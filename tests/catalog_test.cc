#include "catalog/catalog.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include "tests/test_util.h"

namespace alambic {
namespace {

using testing::TempDir;

DatasetVersionRecord Version(const std::string& ds, const std::string& id, const std::string& run,
                             std::vector<std::pair<std::string, std::string>> inputs = {}) {
  DatasetVersionRecord v;
  v.id = id;
  v.dataset = ds;
  v.environment = "datalab";
  v.file = ds + "/" + id + ".arrow";
  v.schema = "[]";
  v.rows = 3;
  v.bytes = 100;
  v.run_id = run;
  v.flow = "f";
  v.recipe = "r_" + ds;
  v.created_at = NowIso();
  v.inputs = std::move(inputs);
  return v;
}

RunRecord MakeRun(const std::string& id, const std::string& started) {
  RunRecord r;
  r.id = id;
  r.flows = "f";
  r.environment = "datalab";
  r.trigger = "manual";
  r.status = "succeeded";
  r.started_at = started;
  return r;
}

TEST(CatalogTest, CreatesSchemaAndReopensWithoutMigratingTwice) {
  TempDir dir;
  {
    auto cat = Catalog::Open(dir.path() / "c.db");
    ASSERT_TRUE(cat.ok()) << cat.status().message();
    EXPECT_EQ((*cat)->schema_version(), kCatalogSchemaVersion);
    ASSERT_TRUE((*cat)->BeginRun(MakeRun("r1", "2026-01-01T00:00:00.000Z")).ok());
  }
  auto again = Catalog::Open(dir.path() / "c.db");
  ASSERT_TRUE(again.ok());
  auto runs = (*again)->ListRuns(10);
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ(runs->at(0).id, "r1");
  EXPECT_EQ(*(*again)->IntegrityCheck(), "ok");
}

TEST(CatalogTest, RefusesANewerSchema) {
  TempDir dir;
  {
    SQLite::Database db((dir.path() / "c.db").string(),
                        SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec("PRAGMA user_version = 99");
  }
  auto cat = Catalog::Open(dir.path() / "c.db");
  ASSERT_FALSE(cat.ok());
  EXPECT_EQ(cat.status().message(), "catalog schema version 99 is newer than this alambic (1)");
}

TEST(CatalogTest, CommitRecordsVersionsCurrentAndStateTogether) {
  TempDir dir;
  auto cat = std::move(*Catalog::Open(dir.path() / "c.db"));
  ASSERT_TRUE(cat->BeginRun(MakeRun("r1", "2026-01-01T00:00:00.000Z")).ok());
  CatalogBatch b;
  b.environment = "datalab";
  b.versions = {Version("raw", "v1", "r1"), Version("out", "w1", "r1", {{"raw", "v1"}})};
  RecipeState s;
  s.params_hash = "p";
  s.inputs = {{"raw", "v1"}};
  s.outputs = {{"out", "w1"}};
  b.states.emplace_back("f", "r_out", s);
  RecipeRunRecord rr;
  rr.run_id = "r1";
  rr.flow = "f";
  rr.recipe = "r_out";
  rr.kind = "sql";
  rr.status = "succeeded";
  rr.rows_out = 3;
  rr.log = "line\n";
  b.recipe_runs.push_back(rr);
  ASSERT_TRUE(cat->Commit(b).ok());

  auto cur = *cat->CurrentVersions("datalab");
  ASSERT_EQ(cur.size(), 2u);
  EXPECT_EQ(cur[0].dataset, "out");
  EXPECT_EQ(cur[0].version_id, "w1");
  EXPECT_EQ(cur[0].rows, 3);
  EXPECT_TRUE(cat->HasVersion("datalab", "raw", "v1"));
  EXPECT_FALSE(cat->HasVersion("warehouse", "raw", "v1"));
  auto states = *cat->RecipeStates("datalab");
  EXPECT_EQ(states.at("f/r_out").inputs.at("raw"), "v1");
  auto runs = *cat->RecipeRuns("r1");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].log, "line\n");
  auto found = *cat->FindVersion("datalab", "out", "w");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->id, "w1");
}

TEST(CatalogTest, FailedCommitLeavesNothing) {
  TempDir dir;
  auto cat = std::move(*Catalog::Open(dir.path() / "c.db"));
  CatalogBatch b;
  b.environment = "datalab";
  b.versions = {Version("raw", "v1", "nope")};
  RecipeRunRecord rr;
  rr.run_id = "no-such-run";  // violates the foreign key: the whole batch is rolled back
  rr.flow = "f";
  rr.recipe = "r";
  rr.kind = "sql";
  rr.status = "succeeded";
  b.recipe_runs.push_back(rr);
  Status st = cat->Commit(b);
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(st.message().rfind("catalog: commit: FOREIGN KEY constraint failed", 0), 0u)
      << st.message();
  EXPECT_FALSE(cat->HasVersion("datalab", "raw", "v1"));
  EXPECT_TRUE(cat->CurrentVersions("datalab")->empty());
}

TEST(CatalogTest, FindRunByPrefixAndAmbiguity) {
  TempDir dir;
  auto cat = std::move(*Catalog::Open(dir.path() / "c.db"));
  ASSERT_TRUE(cat->BeginRun(MakeRun("abc-1", "2026-01-01T00:00:00.000Z")).ok());
  ASSERT_TRUE(cat->BeginRun(MakeRun("abd-2", "2026-01-02T00:00:00.000Z")).ok());
  EXPECT_EQ(cat->FindRun("abc")->id, "abc-1");
  EXPECT_EQ(cat->FindRun("ab").status().message(), "run id 'ab' is ambiguous");
  EXPECT_EQ(cat->FindRun("zz").status().message(), "no run with id 'zz'");
  EXPECT_EQ(cat->ListRuns(10)->at(0).id, "abd-2");  // newest first
}

TEST(CatalogTest, GcKeepsCurrentAndRecentRunsVersions) {
  TempDir dir;
  auto cat = std::move(*Catalog::Open(dir.path() / "c.db"));
  // Three runs; each rebuilt raw and out. Run 3's outputs are current.
  for (int i = 1; i <= 3; ++i) {
    std::string run = "r" + std::to_string(i);
    ASSERT_TRUE(
        cat->BeginRun(MakeRun(run, "2026-01-0" + std::to_string(i) + "T00:00:00.000Z")).ok());
    CatalogBatch b;
    b.environment = "datalab";
    b.versions = {Version("raw", "v" + std::to_string(i), run),
                  Version("out", "w" + std::to_string(i), run, {{"raw", "v" + std::to_string(i)}})};
    ASSERT_TRUE(cat->Commit(b).ok());
  }
  auto keep1 = *cat->VersionsNotReferenced("datalab", 1);
  std::set<std::string> ids;
  for (const auto& v : keep1) ids.insert(v.id);
  EXPECT_EQ(ids, (std::set<std::string>{"v1", "w1", "v2", "w2"}));
  auto keep2 = *cat->VersionsNotReferenced("datalab", 2);
  ids.clear();
  for (const auto& v : keep2) ids.insert(v.id);
  EXPECT_EQ(ids, (std::set<std::string>{"v1", "w1"}));
  ASSERT_TRUE(cat->DeleteVersions("datalab", keep1).ok());
  EXPECT_FALSE(cat->HasVersion("datalab", "raw", "v1"));
  EXPECT_TRUE(cat->HasVersion("datalab", "raw", "v3"));
  EXPECT_EQ(*cat->IntegrityCheck(), "ok");
}

TEST(CatalogTest, FingerprintCache) {
  TempDir dir;
  auto cat = std::move(*Catalog::Open(dir.path() / "c.db"));
  EXPECT_FALSE(cat->GetFingerprint("/x").has_value());
  ASSERT_TRUE(cat->PutFingerprint("/x", {10, 20, 30, "abc"}).ok());
  auto fp = cat->GetFingerprint("/x");
  ASSERT_TRUE(fp.has_value());
  EXPECT_EQ(fp->sha256, "abc");
  EXPECT_EQ(fp->mtime_ns, 20);
}

TEST(CatalogTest, UuidsAreVersion4AndDistinct) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string u = NewUuid();
    ASSERT_EQ(u.size(), 36u);
    EXPECT_EQ(u[14], '4');
    EXPECT_TRUE(u[19] == '8' || u[19] == '9' || u[19] == 'a' || u[19] == 'b');
    seen.insert(u);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

}  // namespace
}  // namespace alambic
