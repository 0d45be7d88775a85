#include "catalog/catalog.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/base/hash.h"
#include "tests/fault_vfs.h"
#include "tests/test_util.h"

namespace alambic::catalog_test {
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

// Run r1, which records version v1 of dataset raw in the datalab.
void CommitRawV1(Catalog& cat) {
  ASSERT_TRUE(cat.BeginRun(MakeRun("r1", "2026-01-01T00:00:00.000Z")).ok());
  CatalogBatch b;
  b.environment = "datalab";
  b.versions = {Version("raw", "v1", "r1")};
  ASSERT_TRUE(cat.Commit(b).ok());
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

// A catalog of schema 1 (before version salts) opens: its recipe states are kept, with no
// salt, and a salt is stored from then on. Its runs and recipe runs go through every
// later step (schema 5: no release, no recorded outputs).
TEST(CatalogTest, MigratesASchema1CatalogAddingVersionSalts) {
  TempDir dir;
  {
    // A real schema-1 catalog: the first migration only.
    SQLite::Database db((dir.path() / "c.db").string(),
                        SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec(CatalogMigrationSql(1));
    db.exec(
        "INSERT INTO recipe_state VALUES ('datalab', 'f', 'a', 'p', 'c', 's', '{}', "
        "'{\"out\":\"v1\"}', 'r1')");
    db.exec(
        "INSERT INTO runs (id, flows, environment, trigger, git_commit, status, started_at) VALUES "
        "('r1', 'f', 'datalab', 'manual', 'abc', 'succeeded', '2026-01-01T00:00:00.000Z')");
    db.exec(
        "INSERT INTO recipe_runs (run_id, flow, recipe, kind, status, metrics) VALUES ('r1', 'f', "
        "'a', 'sql', 'succeeded', '{\"rows\":2}')");
    db.exec("PRAGMA user_version = 1");
  }
  auto cat = Catalog::Open(dir.path() / "c.db");
  ASSERT_TRUE(cat.ok()) << cat.status().message();
  EXPECT_EQ((*cat)->schema_version(), kCatalogSchemaVersion);
  auto states = (*cat)->RecipeStates("datalab");
  ASSERT_TRUE(states.ok()) << states.status().message();
  ASSERT_EQ(states->size(), 1u);
  const RecipeState& old = states->at("f/a");
  EXPECT_EQ(old.params_hash, "p");
  EXPECT_EQ(old.outputs, (std::map<std::string, std::string>{{"out", "v1"}}));
  EXPECT_EQ(old.salt, "");
  CatalogBatch b;
  b.environment = "datalab";
  RecipeState salted = old;
  salted.salt = R"({"secret k":"0123"})";
  b.states.emplace_back("f", "a", salted);
  ASSERT_TRUE((*cat)->Commit(b).ok());
  EXPECT_EQ((*cat)->RecipeStates("datalab")->at("f/a").salt, salted.salt);
  // Steps 3 to 5: the run and its recipe run, with the columns added since.
  RunRecord run = *(*cat)->FindRun("r1");
  EXPECT_EQ(run.git_commit, "abc");
  EXPECT_EQ(run.host, "");
  EXPECT_EQ(run.release, "");
  auto recipes = *(*cat)->RecipeRuns("r1");
  ASSERT_EQ(recipes.size(), 1u);
  EXPECT_EQ(recipes[0].uuid.size(), 36u);
  EXPECT_EQ(recipes[0].metrics, (nlohmann::json{{"rows", 2}}));
  EXPECT_TRUE(recipes[0].outputs.empty());
  EXPECT_EQ((*cat)->LatestRecipeRunsAtCommit("datalab", "f", "abc")->size(), 1u);
  EXPECT_EQ(*(*cat)->NextReleaseNumber("f", "warehouse"), 1);
  EXPECT_TRUE((*cat)->ReadAudit({})->empty());
  EXPECT_TRUE((*cat)->VerifyAudit().ok());
  EXPECT_EQ(*(*cat)->IntegrityCheck(), "ok");
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
  EXPECT_EQ(cat.status().message(),
            fmt::format("catalog schema version 99 is newer than this alambic ({})",
                        kCatalogSchemaVersion));
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
  EXPECT_TRUE(*cat->HasVersion("datalab", "raw", "v1"));
  EXPECT_FALSE(*cat->HasVersion("warehouse", "raw", "v1"));
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
  EXPECT_FALSE(*cat->HasVersion("datalab", "raw", "v1"));
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
  EXPECT_FALSE(*cat->HasVersion("datalab", "raw", "v1"));
  EXPECT_TRUE(*cat->HasVersion("datalab", "raw", "v3"));
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

TEST(CatalogTest, CurrentVersionIdsAreTheCurrentVersions) {
  TempDir dir;
  auto cat = std::move(*Catalog::Open(dir.path() / "c.db"));
  ASSERT_TRUE(cat->BeginRun(MakeRun("r1", "2026-01-01T00:00:00.000Z")).ok());
  CatalogBatch b;
  b.environment = "datalab";
  b.versions = {Version("raw", "v1", "r1"), Version("out", "w1", "r1"),
                Version("gone", "g1", "r1")};
  ASSERT_TRUE(cat->Commit(b).ok());
  b.environment = "warehouse";
  for (auto& v : b.versions) v.environment = "warehouse";
  b.versions.resize(1);
  b.versions[0].id = "v9";
  ASSERT_TRUE(cat->Commit(b).ok());
  {
    // A current version whose record was deleted (by hand) is not current.
    SQLite::Database db((dir.path() / "c.db").string(), SQLite::OPEN_READWRITE);
    db.exec("DELETE FROM dataset_versions WHERE dataset = 'gone'");
  }
  auto ids = cat->CurrentVersionIds("datalab");
  ASSERT_TRUE(ids.ok()) << ids.status().message();
  std::unordered_map<std::string, std::string> expected;
  const auto current = cat->CurrentVersions("datalab");
  ASSERT_TRUE(current.ok());
  for (const auto& c : *current) expected[c.dataset] = c.version_id;
  EXPECT_EQ(*ids, expected);
  EXPECT_EQ(*ids, (std::unordered_map<std::string, std::string>{{"raw", "v1"}, {"out", "w1"}}));
  EXPECT_EQ(*cat->CurrentVersionIds("warehouse"),
            (std::unordered_map<std::string, std::string>{{"raw", "v9"}}));
}

// What RecipeStates() made of a JSON column before it had a fast path.
std::map<std::string, std::string> ReferenceJsonToMap(const std::string& s) {
  std::map<std::string, std::string> m;
  auto j = nlohmann::json::parse(s, nullptr, false);
  if (j.is_object())
    for (const auto& [k, v] : j.items())
      if (v.is_string()) m[k] = v.get<std::string>();
  return m;
}

TEST(CatalogTest, RecipeStatesReadAnyJsonAsBefore) {
  TempDir dir;
  auto cat = std::move(*Catalog::Open(dir.path() / "c.db"));
  const std::vector<std::string> columns = {
      "{}",
      R"({"raw":"v1"})",
      R"({"a":"1","b":"2","c":""})",
      R"({"a":"1","a":"2"})",
      R"({ "a" : "b" })",
      R"({"a\"b":"x\\y","c":"\u00e9"})",
      R"({"é":"ü"})",
      R"({"a":1,"b":"c","d":null,"e":["f"]})",
      R"({"a":"b",})",
      R"({"a":"b"} )",
      R"({"a":"b"}{)",
      R"({"a":"b)",
      R"({"a")",
      R"({"a":)",
      R"({"a":"b","c")",
      "[\"a\"]",
      "not json",
      "",
      "{\"a\":\"\xff\"}",
      "{\"a\":\"b\tc\"}",
  };
  {
    SQLite::Database db((dir.path() / "c.db").string(), SQLite::OPEN_READWRITE);
    SQLite::Statement q(
        db, "INSERT INTO recipe_state VALUES ('datalab', 'f', ?, '', '', '', ?, ?, 'r', '')");
    for (size_t i = 0; i < columns.size(); ++i) {
      q.reset();
      q.bind(1, "r" + std::to_string(i));
      q.bind(2, columns[i]);
      q.bind(3, columns[columns.size() - 1 - i]);
      q.exec();
    }
  }
  auto states = cat->RecipeStates("datalab");
  ASSERT_TRUE(states.ok()) << states.status().message();
  ASSERT_EQ(states->size(), columns.size());
  for (size_t i = 0; i < columns.size(); ++i) {
    const RecipeState& st = states->at("f/r" + std::to_string(i));
    EXPECT_EQ(st.inputs, ReferenceJsonToMap(columns[i])) << columns[i];
    EXPECT_EQ(st.outputs, ReferenceJsonToMap(columns[columns.size() - 1 - i]));
    EXPECT_EQ(st.run_id, "r");
  }
}

TEST(CatalogTest, MapEqualsIsDecodeThenCompare) {
  const std::vector<std::string> jsons = {"{}",
                                          R"({"a":"1"})",
                                          R"({"a":"1","b":"2"})",
                                          R"({"b":"2","a":"1"})",
                                          R"({"a":"1","a":"2"})",
                                          R"({"a":"2","a":"1"})",
                                          R"({ "a" : "1" })",
                                          R"({"a":1})",
                                          R"({"a":"1","b":2})",
                                          R"({"a":"1",})",
                                          R"({"a":"1")",
                                          R"({"a":"1"} )",
                                          "",
                                          "[]",
                                          "not json",
                                          R"({"a\"b":"1"})",
                                          R"({"é":"1"})",
                                          R"({"a":"1","b":"2","c":"3"})",
                                          R"({"":""})",
                                          R"({"a":""})",
                                          "{\"a\":\"\xff\"}"};
  const std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>> wanted = {
      {{}, {}},
      {{"a"}, {"1"}},
      {{"a"}, {"2"}},
      {{"b"}, {"2"}},
      {{"a", "b"}, {"1", "2"}},
      {{"b", "a"}, {"2", "1"}},
      {{"a", "a"}, {"1", "1"}},
      {{"a", "b", "c"}, {"1", "2", "3"}},
      {{"a\"b"}, {"1"}},
      {{"é"}, {"1"}},
      {{""}, {""}},
      {{"a"}, {""}},
  };
  for (const auto& json : jsons)
    for (const auto& [keys, values] : wanted) {
      const auto m = ReferenceJsonToMap(json);
      bool expected = m.size() == keys.size();
      for (size_t i = 0; expected && i < keys.size(); ++i)
        expected = m.count(keys[i]) && m.at(keys[i]) == values[i];
      EXPECT_EQ(RecipeStateView::MapEquals(json, keys, values), expected)
          << json << " with " << keys.size() << " keys";
    }
}

// Each read of the catalog file failing in turn (SQLITE_IOERR_READ): a lookup
// gives an error or the right answer, never an exception (the fault loop found
// GetFingerprint's escaping a run) and never "not recorded" for a recorded version
// (gc would delete it).
TEST(CatalogTest, FailedReadsGiveErrorsNotExceptionsNorWrongAnswers) {
  TempDir dir;
  const FileFingerprint fp{12, 34, 56, std::string(64, 'a')};
  {
    auto cat = std::move(*Catalog::Open(dir.path() / "c.db"));
    CommitRawV1(*cat);
    ASSERT_FALSE(::testing::Test::HasFatalFailure());
    ASSERT_TRUE(cat->PutFingerprint("data/raw.csv", fp).ok());
  }
  int injected = 0;
  for (int n = 1; n < 200; ++n) {
    testing::FaultVfs vfs;
    vfs.FailNth(testing::FaultVfs::Op::kRead, n, testing::FaultVfs::Error::kIoErr);
    auto cat = Catalog::OpenReader(dir.path() / "c.db");
    if (cat.ok()) {
      std::optional<FileFingerprint> got;
      EXPECT_NO_THROW(got = (*cat)->GetFingerprint("data/raw.csv")) << "read #" << n;
      if (got) {
        EXPECT_EQ(got->sha256, fp.sha256) << "read #" << n;
      }
      Result<bool> has = Status::Invalid("not asked");
      EXPECT_NO_THROW(has = (*cat)->HasVersion("datalab", "raw", "v1")) << "read #" << n;
      if (has.ok()) {
        EXPECT_TRUE(*has) << "read #" << n;
      }
    }
    if (vfs.Failures() == 0) break;  // past the last read
    ++injected;
  }
  EXPECT_GT(injected, 0);
}

TEST(CatalogTest, HasVersionSeesWhatOtherConnectionsCommit) {
  TempDir dir;
  auto reader = std::move(*Catalog::Open(dir.path() / "c.db"));
  auto writer = std::move(*Catalog::Open(dir.path() / "c.db"));
  ASSERT_TRUE(writer->BeginRun(MakeRun("r1", "2026-01-01T00:00:00.000Z")).ok());
  for (int i = 1; i <= 3; ++i) {
    const std::string id = "v" + std::to_string(i);
    EXPECT_FALSE(*reader->HasVersion("datalab", "raw", id));
    CatalogBatch b;
    b.environment = "datalab";
    b.versions = {Version("raw", id, "r1")};
    ASSERT_TRUE(writer->Commit(b).ok());
    EXPECT_TRUE(*reader->HasVersion("datalab", "raw", id)) << id;
    EXPECT_TRUE(*reader->HasVersion("datalab", "raw", id)) << id;
  }
  // The reader holds no snapshot between calls: the writer can checkpoint.
  EXPECT_EQ(*writer->IntegrityCheck(), "ok");
}

TEST(CatalogTest, AReaderConnectionReadsTheSameCatalog) {
  TempDir dir;
  auto cat = std::move(*Catalog::Open(dir.path() / "c.db"));
  CommitRawV1(*cat);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  auto reader = cat->OpenReader();
  ASSERT_TRUE(reader.ok()) << reader.status().message();
  EXPECT_EQ(*(*reader)->CurrentVersionIds("datalab"), *cat->CurrentVersionIds("datalab"));
  EXPECT_TRUE(*(*reader)->HasVersion("datalab", "raw", "v1"));
  {
    SQLite::Database db((dir.path() / "c.db").string(), SQLite::OPEN_READWRITE);
    db.exec(fmt::format("PRAGMA user_version = {}", kCatalogSchemaVersion + 1));
  }
  auto stale = cat->OpenReader();
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(
      stale.status().message(),
      fmt::format("catalog {}: schema version {}, expected {}", (dir.path() / "c.db").string(),
                  kCatalogSchemaVersion + 1, kCatalogSchemaVersion));
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

RecipeRunRecord BuiltRecipeRun(const std::string& run, const std::string& recipe,
                               nlohmann::json metrics, const std::string& status = "succeeded",
                               const std::string& started = "2026-01-01T00:00:01.000Z") {
  RecipeRunRecord r;
  r.run_id = run;
  r.flow = "f";
  r.recipe = recipe;
  r.kind = "sql";
  r.status = status;
  r.attempts = 1;
  r.started_at = status == "skipped" ? "" : started;
  r.metrics = std::move(metrics);
  return r;
}

UpToDateRecipe Current(const std::string& recipe, const std::string& reason,
                       std::vector<std::pair<std::string, std::string>> inputs,
                       std::vector<std::pair<std::string, std::string>> outputs) {
  return {"f", recipe, "sql", reason, std::move(inputs), std::move(outputs)};
}

// A run's up-to-date recipes are one catalog row (schema 10), read back by every
// reader as the up_to_date recipe runs they were before: versions, reason,
// the metrics of the build, a stable UUID; in RecipeRuns' order; in
// LatestRecipeRunsAtCommit by run recency; in the SQL view recipe_run_rows.
// The row encoded beforehand from views (EncodeUpToDateRecipes, as a run
// records it) is byte for byte the one Commit writes for the same recipes as
// UpToDateRecipe; views pair names and ids up to the shorter list.
TEST(CatalogTest, UpToDateRowsFromViewsAreThoseOfCopies) {
  TempDir dir;
  auto opened = Catalog::Open(dir.path() / "c.db");
  ASSERT_TRUE(opened.ok()) << opened.status().message();
  Catalog& cat = **opened;
  const std::string odd = "odd \"reason\" \\ \x02 \xc3\xa9";
  const std::vector<std::string> raw_out = {"raw"}, raw_v = {"v1"}, mid_in = {"raw", "ext"},
                                 mid_in_v = {"v1", "e\"9"}, mid_out = {"mid", "extra"},
                                 mid_v = {"m1"};
  std::vector<UpToDateRecipe> copies = {
      Current("r_raw", "up to date", {}, {{"raw", "v1"}}),
      Current("r_mid", odd, {{"raw", "v1"}, {"ext", "e\"9"}}, {{"mid", "m1"}})};
  std::vector<UpToDateRecipeRef> refs(2);
  refs[0] = {"f", "r_raw", "sql", "up to date", {}, {}, raw_out, raw_v};
  refs[1] = {"f", "r_mid", "sql", odd, mid_in, mid_in_v, mid_out, mid_v};
  CatalogBatch a;
  a.environment = "datalab";
  a.begin_run = MakeRun("ra", "2026-01-01T00:00:00.000Z");
  a.up_to_date_run = "ra";
  a.up_to_date = copies;
  ASSERT_TRUE(cat.Commit(a).ok());
  CatalogBatch b;
  b.environment = "datalab";
  b.begin_run = MakeRun("rb", "2026-01-02T00:00:00.000Z");
  b.up_to_date_run = "rb";
  b.up_to_date_row = EncodeUpToDateRecipes(refs);
  ASSERT_TRUE(cat.Commit(b).ok());
  SQLite::Database db((dir.path() / "c.db").string(), SQLite::OPEN_READONLY);
  const std::string row_a =
      db.execAndGet("SELECT recipes FROM run_up_to_date_recipes WHERE run_id = 'ra'").getString();
  const std::string row_b =
      db.execAndGet("SELECT recipes FROM run_up_to_date_recipes WHERE run_id = 'rb'").getString();
  EXPECT_EQ(row_a, row_b);
  auto runs = cat.RecipeRuns("rb");
  ASSERT_TRUE(runs.ok()) << runs.status().message();
  ASSERT_EQ(runs->size(), 2u);
  EXPECT_EQ((*runs)[1].reason, odd);
  EXPECT_EQ((*runs)[1].inputs,
            (std::map<std::string, std::string>{{"ext", "e\"9"}, {"raw", "v1"}}));
  EXPECT_EQ((*runs)[1].outputs, (std::map<std::string, std::string>{{"mid", "m1"}}));
}

TEST(CatalogTest, UpToDateRecipesAreOneRowReadBackAsRecipeRuns) {
  TempDir dir;
  auto opened = Catalog::Open(dir.path() / "c.db");
  ASSERT_TRUE(opened.ok()) << opened.status().message();
  Catalog& cat = **opened;
  // r1 builds raw (v1) then mid (m1, from raw v1).
  RunRecord r1 = MakeRun("r1", "2026-01-01T00:00:00.000Z");
  r1.git_commit = "c1";
  CatalogBatch b1;
  b1.environment = "datalab";
  b1.begin_run = r1;
  b1.recipe_runs = {BuiltRecipeRun("r1", "r_raw", {{"rows", 3}}),
                    BuiltRecipeRun("r1", "r_mid", {{"checks", {"a", "b"}}})};
  b1.versions = {Version("raw", "v1", "r1"), Version("mid", "m1", "r1", {{"raw", "v1"}})};
  ASSERT_TRUE(cat.Commit(b1).ok());
  // r2 finds them up to date, runs r_new, skips r_skip; r_exp (no output) is up to date.
  RunRecord r2 = MakeRun("r2", "2026-01-02T00:00:00.000Z");
  r2.git_commit = "c1";
  CatalogBatch b2;
  b2.environment = "datalab";
  b2.begin_run = r2;
  b2.up_to_date_run = "r2";
  const std::string odd = "custom \"quoted\"\n\\ reason \xc3\xa9";
  // (ASCII only, so written by the encoder's own escaping rather than nlohmann's.)
  const std::string odd_id = "e9 \"q\" \\ \t\x01 end";
  b2.up_to_date = {Current("r_raw", "up to date", {}, {{"raw", "v1"}}),
                   Current("r_mid", "up to date (this version was built before)", {{"raw", "v1"}},
                           {{"mid", "m1"}}),
                   Current("r_exp", odd, {{"mid", "m1"}, {"ext", odd_id}}, {})};
  b2.recipe_runs = {BuiltRecipeRun("r2", "r_skip", nlohmann::json::object(), "skipped"),
                    BuiltRecipeRun("r2", "r_new", {{"n", 1}})};
  ASSERT_TRUE(cat.Commit(b2).ok());
  {
    SQLite::Database db((dir.path() / "c.db").string(), SQLite::OPEN_READONLY);
    EXPECT_EQ(db.execAndGet("SELECT count(*) FROM recipe_runs WHERE run_id = 'r2'").getInt(), 2);
    EXPECT_EQ(db.execAndGet("SELECT count(*) FROM run_up_to_date").getInt(), 1);
  }
  auto runs = cat.RecipeRuns("r2");
  ASSERT_TRUE(runs.ok()) << runs.status().message();
  std::vector<std::string> order;
  for (const auto& r : *runs) order.push_back(r.recipe + ":" + r.status);
  EXPECT_EQ(order,
            (std::vector<std::string>{"r_new:succeeded", "r_raw:up_to_date", "r_mid:up_to_date",
                                      "r_exp:up_to_date", "r_skip:skipped"}));
  ASSERT_EQ(runs->size(), 5u);
  const RecipeRunRecord &raw = (*runs)[1], &mid = (*runs)[2], &exp = (*runs)[3];
  EXPECT_EQ(raw.run_id, "r2");
  EXPECT_EQ(raw.kind, "sql");
  EXPECT_EQ(raw.attempts, 0);
  EXPECT_EQ(raw.started_at, "");
  EXPECT_EQ(raw.reason, "up to date");
  EXPECT_EQ(mid.reason, "up to date (this version was built before)");
  EXPECT_EQ(exp.reason, odd);
  EXPECT_EQ(raw.outputs, (std::map<std::string, std::string>{{"raw", "v1"}}));
  EXPECT_TRUE(raw.inputs.empty());
  EXPECT_EQ(mid.inputs, (std::map<std::string, std::string>{{"raw", "v1"}}));
  EXPECT_EQ(mid.outputs, (std::map<std::string, std::string>{{"mid", "m1"}}));
  EXPECT_EQ(exp.inputs, (std::map<std::string, std::string>{{"ext", odd_id}, {"mid", "m1"}}));
  EXPECT_TRUE(exp.outputs.empty());
  // The metrics of the recipe run that built each one's output.
  EXPECT_EQ(raw.metrics, (nlohmann::json{{"rows", 3}}));
  EXPECT_EQ(mid.metrics, (nlohmann::json{{"checks", {"a", "b"}}}));
  EXPECT_EQ(exp.metrics, nlohmann::json::object());
  // Stable, distinct, well-formed UUIDs.
  auto again = cat.RecipeRuns("r2");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)[1].uuid, raw.uuid);
  EXPECT_NE(mid.uuid, raw.uuid);
  EXPECT_EQ(raw.uuid, UpToDateRecipeUuid("r2", "f", "r_raw"));
  ASSERT_EQ(raw.uuid.size(), 36u);
  EXPECT_EQ(raw.uuid[14], '8');
  EXPECT_TRUE(raw.uuid[19] == '8' || raw.uuid[19] == '9' || raw.uuid[19] == 'a' ||
              raw.uuid[19] == 'b');
  auto found = cat.FindRecipeRun("r2", "f", "r_mid");
  ASSERT_TRUE(found.ok() && *found);
  EXPECT_EQ((*found)->status, "up_to_date");
  EXPECT_EQ((*found)->metrics, mid.metrics);
  EXPECT_EQ((*found)->uuid, mid.uuid);
  EXPECT_FALSE(cat.FindRecipeRun("r2", "f", "nope")->has_value());
  EXPECT_FALSE(cat.FindRecipeRun("r2", "g", "r_mid")->has_value());
  // At commit c1: r3 (newer) failed r_mid; a dirty run is not counted.
  RunRecord r3 = MakeRun("r3", "2026-01-03T00:00:00.000Z");
  r3.git_commit = "c1";
  RunRecord r4 = MakeRun("r4", "2026-01-04T00:00:00.000Z");
  r4.git_commit = "c1";
  r4.git_dirty = true;
  CatalogBatch b3;
  b3.environment = "datalab";
  b3.begin_run = r3;
  b3.recipe_runs = {BuiltRecipeRun("r3", "r_mid", nlohmann::json::object(), "failed",
                                   "2026-01-03T00:00:01.000Z")};
  ASSERT_TRUE(cat.Commit(b3).ok());
  CatalogBatch b4;
  b4.environment = "datalab";
  b4.begin_run = r4;
  b4.up_to_date_run = "r4";
  b4.up_to_date = {Current("r_raw", "up to date", {}, {{"raw", "v1"}})};
  ASSERT_TRUE(cat.Commit(b4).ok());
  auto latest = cat.LatestRecipeRunsAtCommit("datalab", "f", "c1");
  ASSERT_TRUE(latest.ok()) << latest.status().message();
  std::vector<std::string> at_commit;
  for (const auto& r : *latest) at_commit.push_back(r.recipe + ":" + r.run_id + ":" + r.status);
  EXPECT_EQ(at_commit, (std::vector<std::string>{"r_exp:r2:up_to_date", "r_mid:r3:failed",
                                                 "r_new:r2:succeeded", "r_raw:r2:up_to_date",
                                                 "r_skip:r2:skipped"}));
  EXPECT_EQ((*latest)[3].metrics, raw.metrics);
  EXPECT_TRUE(cat.LatestRecipeRunsAtCommit("datalab", "g", "c1")->empty());
  // The view gives SQL readers the same rows.
  SQLite::Database db((dir.path() / "c.db").string(), SQLite::OPEN_READONLY);
  SQLite::Statement q(db,
                      "SELECT recipe, status, reason, metrics, attempts, log FROM recipe_run_rows "
                      "WHERE run_id = 'r2' ORDER BY recipe");
  std::vector<std::string> viewed, expected;
  while (q.executeStep())
    viewed.push_back(fmt::format("{}|{}|{}|{}|{}|{}", q.getColumn(0).getString(),
                                 q.getColumn(1).getString(), q.getColumn(2).getString(),
                                 nlohmann::json::parse(q.getColumn(3).getString()).dump(),
                                 q.getColumn(4).getInt(), q.getColumn(5).getString()));
  std::vector<RecipeRunRecord> sorted = *runs;
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return a.recipe < b.recipe; });
  for (const auto& r : sorted)
    expected.push_back(fmt::format("{}|{}|{}|{}|{}|{}", r.recipe, r.status, r.reason,
                                   r.metrics.dump(), r.attempts, r.log));
  EXPECT_EQ(viewed, expected);
}

// Runs that find the same versions up to date share one stored row (schema 11,
// up_to_date_sets keyed by the row's SHA-256); a run finding others gets its
// own. A schema-10 catalog's inline row (set_hash NULL) migrates and reads as
// before, in RecipeRuns and in the view recipe_run_rows.
TEST(CatalogTest, RunsFindingTheSameVersionsUpToDateShareOneRow) {
  TempDir dir;
  const auto path = dir.path() / "c.db";
  const std::vector<std::string> raw_out = {"raw"}, raw_v = {"v1"};
  const std::vector<UpToDateRecipeRef> refs = {
      {"f", "r_raw", "sql", "up to date", {}, {}, raw_out, raw_v}};
  const std::string row = EncodeUpToDateRecipes(refs);
  {
    SQLite::Database db(path.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    for (int v = 1; v <= 10; ++v) db.exec(CatalogMigrationSql(v));
    db.exec(
        "INSERT INTO runs (id, flows, environment, trigger, git_commit, status, started_at, host) "
        "VALUES ('old', 'f', 'datalab', 'manual', 'c1', 'succeeded', "
        "'2026-01-01T00:00:00.000Z', 'lab-1')");
    SQLite::Statement q(db, "INSERT INTO run_up_to_date VALUES ('old', ?)");
    q.bind(1, row);
    q.exec();
    db.exec("PRAGMA user_version = 10");
  }
  auto opened = Catalog::Open(path);
  ASSERT_TRUE(opened.ok()) << opened.status().message();
  Catalog& cat = **opened;
  ASSERT_EQ(cat.schema_version(), 11);
  auto Commit = [&](const std::string& run, const std::string& day, const std::string& text) {
    CatalogBatch b;
    b.environment = "datalab";
    b.begin_run = MakeRun(run, "2026-01-0" + day + "T00:00:00.000Z");
    b.up_to_date_run = run;
    b.up_to_date_row = text;
    ASSERT_TRUE(cat.Commit(b).ok());
  };
  Commit("n1", "2", row);
  Commit("n2", "3", row);
  const std::vector<std::string> raw_v2 = {"v2"};
  const std::vector<UpToDateRecipeRef> other = {
      {"f", "r_raw", "sql", "up to date", {}, {}, raw_out, raw_v2}};
  Commit("n3", "4", EncodeUpToDateRecipes(other));
  Commit("n4", "5", row);
  SQLite::Database db(path.string(), SQLite::OPEN_READONLY);
  // Two contents, two rows: n1, n2 and n4 name the first, n3 the second.
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM up_to_date_sets").getInt(), 2);
  EXPECT_EQ(db.execAndGet("SELECT count(DISTINCT set_hash) FROM run_up_to_date WHERE run_id IN "
                          "('n1', 'n2', 'n4')")
                .getInt(),
            1);
  EXPECT_EQ(db.execAndGet("SELECT set_hash FROM run_up_to_date WHERE run_id = 'n1'").getString(),
            Sha256Hex(row));
  EXPECT_EQ(db.execAndGet("SELECT recipes FROM up_to_date_sets WHERE hash = (SELECT set_hash "
                          "FROM run_up_to_date WHERE run_id = 'n1')")
                .getString(),
            row);
  // The run from before keeps its inline row.
  EXPECT_TRUE(
      db.execAndGet("SELECT set_hash IS NULL FROM run_up_to_date WHERE run_id = 'old'").getInt());
  for (const std::string run : {"old", "n1", "n2", "n3", "n4"}) {
    auto runs = cat.RecipeRuns(run);
    ASSERT_TRUE(runs.ok()) << runs.status().message();
    ASSERT_EQ(runs->size(), 1u) << run;
    EXPECT_EQ((*runs)[0].status, "up_to_date");
    EXPECT_EQ((*runs)[0].run_id, run);
    EXPECT_EQ((*runs)[0].outputs,
              (std::map<std::string, std::string>{{"raw", run == "n3" ? "v2" : "v1"}}));
    SQLite::Statement v(db, "SELECT recipe, status FROM recipe_run_rows WHERE run_id = ?");
    v.bind(1, run);
    ASSERT_TRUE(v.executeStep()) << run;
    EXPECT_EQ(v.getColumn(0).getString(), "r_raw");
    EXPECT_EQ(v.getColumn(1).getString(), "up_to_date");
    EXPECT_FALSE(v.executeStep()) << run;
  }
  EXPECT_EQ(*cat.IntegrityCheck(), "ok");
}

}  // namespace
}  // namespace alambic::catalog_test
