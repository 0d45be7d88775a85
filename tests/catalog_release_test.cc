// Releases, their activations and the audit log in the catalog (catalog/release.cc,
// catalog/audit.cc), and the recipe runs a promotion reads (LatestRecipeRunsAtCommit):
// a real SQLite catalog in a temp dir, edited around the API with raw SQLite where
// the test is about tampering.
#include <sys/mount.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include <SQLiteCpp/SQLiteCpp.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "catalog/catalog.h"
#include "core/base/hash.h"
#include "tests/test_util.h"

namespace alambic::catalog_release_test {
namespace {

using testing::TempDir;

const Actor kAlice{"alice", "lab-1"};
const Actor kBob{"bob", "prod-2"};

ReleaseRecord Release(const std::string& flow, const std::string& env, int number,
                      const std::string& commit = "c0ffee") {
  ReleaseRecord r;
  r.flow = flow;
  r.environment = env;
  r.number = number;
  r.git_commit = commit;
  r.tag = fmt::format("{}-{}-{}", flow, env, number);
  r.gates = nlohmann::json::array({{{"gate", "clean tree"}, {"passed", true}, {"reason", ""}},
                                   {{"gate", "checks"}, {"passed", true}, {"reason", "3/3"}}});
  r.schemas = {{"centre_rates", {{{"name", "centre_id"}, {"type", "string"}}}}};
  r.user = "alice";
  r.host = "lab-1";
  r.note = "release " + std::to_string(number);
  return r;
}

class CatalogReleaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = Catalog::Open(path());
    ASSERT_TRUE(c.ok()) << c.status().message();
    cat_ = std::move(*c);
  }
  std::filesystem::path path() const { return dir_.path() / "c.db"; }
  void Add(int number, const std::string& flow = "permis", const std::string& env = "warehouse") {
    Status st = cat_->AddRelease(Release(flow, env, number), kAlice);
    ASSERT_TRUE(st.ok()) << st.message();
  }
  // number -> status of permis in warehouse.
  std::map<int, std::string> Statuses() {
    auto list = cat_->ListReleases("permis", "warehouse");
    EXPECT_TRUE(list.ok()) << list.status().message();
    std::map<int, std::string> out;
    if (list.ok())
      for (const auto& r : *list) out[r.number] = r.status;
    return out;
  }
  // The message raw SQLite gives for `sql` (an exception is expected).
  std::string RawError(const std::string& sql) {
    SQLite::Database db(path().string(), SQLite::OPEN_READWRITE);
    try {
      db.exec(sql);
    } catch (const std::exception& e) {
      return e.what();
    }
    return "no error";
  }
  void Raw(const std::string& sql) {
    SQLite::Database db(path().string(), SQLite::OPEN_READWRITE);
    db.exec(sql);
  }
  AuditEntry Entry(const std::string& action, const std::string& flow, const std::string& outcome,
                   nlohmann::json detail = nlohmann::json::object()) {
    AuditEntry e;
    e.user = "alice";
    e.host = "lab-1";
    e.action = action;
    e.environment = "warehouse";
    e.flow = flow;
    e.target = flow + "/1";
    e.outcome = outcome;
    e.detail = std::move(detail);
    return e;
  }
  void Append(AuditEntry e) {
    Status st = cat_->AppendAudit(std::move(e));
    ASSERT_TRUE(st.ok()) << st.message();
  }
  TempDir dir_;
  std::unique_ptr<Catalog> cat_;
};

TEST_F(CatalogReleaseTest, NumbersReleasesPerFlowAndEnvironment) {
  EXPECT_EQ(*cat_->NextReleaseNumber("permis", "warehouse"), 1);
  Add(1);
  Add(2);
  EXPECT_EQ(*cat_->NextReleaseNumber("permis", "warehouse"), 3);
  EXPECT_EQ(*cat_->NextReleaseNumber("permis", "datalab"), 1);
  EXPECT_EQ(*cat_->NextReleaseNumber("forecast", "warehouse"), 1);
  Add(1, "forecast");
  EXPECT_EQ(*cat_->NextReleaseNumber("forecast", "warehouse"), 2);

  Status dup = cat_->AddRelease(Release("permis", "warehouse", 2, "other"), kBob);
  EXPECT_EQ(dup.code(), StatusCode::kInvalid);
  EXPECT_EQ(dup.message(), "release permis/2 already exists in warehouse");

  auto list = *cat_->ListReleases("permis", "warehouse");
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].number, 2);  // newest first
  EXPECT_EQ(list[1].number, 1);
  const ReleaseRecord& r = list[0];
  const ReleaseRecord want = Release("permis", "warehouse", 2);
  EXPECT_EQ(r.Name(), "permis/2");
  EXPECT_EQ(r.git_commit, "c0ffee");  // not the refused duplicate's
  EXPECT_EQ(r.tag, want.tag);
  EXPECT_EQ(r.gates, want.gates);
  EXPECT_EQ(r.schemas, want.schemas);
  EXPECT_EQ(r.user, "alice");
  EXPECT_EQ(r.host, "lab-1");
  EXPECT_EQ(r.note, "release 2");
  EXPECT_EQ(r.created_at.size(), 24u);  // filled: 2026-01-01T00:00:00.000Z
  EXPECT_EQ(GatesSummary(r.gates), "2/2 gates");
  EXPECT_EQ(GatesSummary(nlohmann::json::array({{{"gate", "g"}, {"passed", false}}})), "0/1 gate");
  EXPECT_EQ(GatesSummary(nlohmann::json::array()), "no gates");

  // Who and when default to the promoter and now.
  ReleaseRecord bare;
  bare.flow = "permis";
  bare.environment = "warehouse";
  bare.number = 3;
  bare.git_commit = "abc";
  ASSERT_TRUE(cat_->AddRelease(bare, kBob).ok());
  const ReleaseRecord third = cat_->ListReleases("permis", "warehouse")->at(0);
  EXPECT_EQ(third.user, "bob");
  EXPECT_EQ(third.host, "prod-2");
  EXPECT_LE(third.created_at, third.activated_at);
  EXPECT_FALSE(third.created_at.empty());
  EXPECT_EQ(third.gates, nlohmann::json::array());
  EXPECT_EQ(third.schemas, nlohmann::json::object());
}

TEST_F(CatalogReleaseTest, ReleasesActivationsAndAuditRefuseUpdateAndDelete) {
  Add(1);
  Append(Entry("promote", "permis", "ok"));
  EXPECT_EQ(RawError("UPDATE releases SET git_commit = 'evil'"), "releases are immutable");
  EXPECT_EQ(RawError("DELETE FROM releases"), "releases are immutable");
  EXPECT_EQ(RawError("UPDATE release_activations SET number = 7"),
            "release activations are append-only");
  EXPECT_EQ(RawError("DELETE FROM release_activations"), "release activations are append-only");
  EXPECT_EQ(RawError("UPDATE audit SET outcome = 'refused'"), "the audit log is append-only");
  EXPECT_EQ(RawError("DELETE FROM audit"), "the audit log is append-only");
  EXPECT_EQ(RawError("INSERT INTO release_activations (flow, environment, number, action, at) "
                     "VALUES ('permis', 'warehouse', 1, 'delete', 'now')"),
            "CHECK constraint failed: action IN ('promote', 'rollback')");
  // Everything is still there.
  EXPECT_EQ(cat_->ListReleases("permis", "warehouse")->at(0).git_commit, "c0ffee");
  EXPECT_EQ(cat_->ReadAudit({})->size(), 1u);
  EXPECT_TRUE(cat_->VerifyAudit().ok());
}

TEST_F(CatalogReleaseTest, StatusFollowsPromotionsAndRollbacks) {
  EXPECT_FALSE(cat_->ActiveRelease("permis", "warehouse")->has_value());
  Add(1);
  Add(2);
  Add(3);
  EXPECT_EQ(Statuses(),
            (std::map<int, std::string>{{1, "superseded"}, {2, "superseded"}, {3, "active"}}));
  EXPECT_EQ((*cat_->ActiveRelease("permis", "warehouse"))->number, 3);

  ASSERT_TRUE(cat_->ActivateRelease("permis", "warehouse", 2, "rollback", kBob, "bad rates").ok());
  EXPECT_EQ(Statuses(),
            (std::map<int, std::string>{{1, "superseded"}, {2, "active"}, {3, "rolled back"}}));
  auto active = *cat_->ActiveRelease("permis", "warehouse");
  ASSERT_TRUE(active.has_value());
  EXPECT_EQ(active->number, 2);
  EXPECT_EQ(active->status, "active");

  ASSERT_TRUE(cat_->ActivateRelease("permis", "warehouse", 1, "rollback", kBob, "").ok());
  EXPECT_EQ(Statuses(),
            (std::map<int, std::string>{{1, "active"}, {2, "rolled back"}, {3, "rolled back"}}));
  Add(4);
  EXPECT_EQ(Statuses(),
            (std::map<int, std::string>{
                {1, "superseded"}, {2, "rolled back"}, {3, "rolled back"}, {4, "active"}}));
  // Re-activating 3 makes it active again; 4 was moved away from by a rollback.
  ASSERT_TRUE(cat_->ActivateRelease("permis", "warehouse", 3, "rollback", kBob, "").ok());
  EXPECT_EQ(Statuses(),
            (std::map<int, std::string>{
                {1, "superseded"}, {2, "rolled back"}, {3, "active"}, {4, "rolled back"}}));
  // The last activation's time is the release's.
  auto list = *cat_->ListReleases("permis", "warehouse");
  EXPECT_GE(list[1].activated_at, list[0].activated_at);  // 3 after 4
  EXPECT_GE(list[1].activated_at, list[1].created_at);
  // Other flows and environments are apart.
  EXPECT_FALSE(cat_->ActiveRelease("permis", "datalab")->has_value());
  EXPECT_TRUE(cat_->ListReleases("forecast", "warehouse")->empty());
}

TEST_F(CatalogReleaseTest, ActivationRefusals) {
  Add(1);
  Add(2);
  Status same = cat_->ActivateRelease("permis", "warehouse", 2, "rollback", kBob, "");
  EXPECT_EQ(same.code(), StatusCode::kInvalid);
  EXPECT_EQ(same.message(), "release permis/2 is already active in warehouse");
  Status missing = cat_->ActivateRelease("permis", "warehouse", 9, "rollback", kBob, "");
  EXPECT_EQ(missing.code(), StatusCode::kNotFound);
  EXPECT_EQ(missing.message(), "flow permis has no release 9 in warehouse");
  Status other_env = cat_->ActivateRelease("permis", "datalab", 1, "rollback", kBob, "");
  EXPECT_EQ(other_env.message(), "flow permis has no release 1 in datalab");
  Status action = cat_->ActivateRelease("permis", "warehouse", 1, "delete", kBob, "");
  EXPECT_EQ(action.message(), "unknown release activation 'delete' (expected promote or rollback)");
  EXPECT_EQ((*cat_->ActiveRelease("permis", "warehouse"))->number, 2);
}

TEST_F(CatalogReleaseTest, AReleaseNeverActivatedIsInactive) {
  Add(1);
  // Only through raw SQL: AddRelease always records the promotion.
  Raw("INSERT INTO releases (flow, environment, number, git_commit, created_at) VALUES "
      "('permis', 'warehouse', 2, 'abc', '2026-01-01T00:00:00.000Z')");
  EXPECT_EQ(Statuses(), (std::map<int, std::string>{{1, "active"}, {2, "inactive"}}));
  EXPECT_EQ(cat_->ListReleases("permis", "warehouse")->at(0).activated_at, "");
  EXPECT_EQ((*cat_->ActiveRelease("permis", "warehouse"))->number, 1);
}

TEST_F(CatalogReleaseTest, AuditEntriesAreChainedAndFiltered) {
  Append(Entry("promote", "permis", "ok", {{"gates", "5/5"}}));
  Append(Entry("run", "permis", "succeeded"));
  AuditEntry other = Entry("rollback", "forecast", "refused");
  other.environment = "datalab";
  other.at = "2030-01-01T00:00:00.000Z";
  Append(other);
  auto all = *cat_->ReadAudit({});
  ASSERT_EQ(all.size(), 3u);
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].seq, static_cast<int64_t>(i + 1));
    EXPECT_EQ(all[i].prev_hash, i == 0 ? "" : all[i - 1].hash);
    EXPECT_EQ(all[i].hash.size(), 64u);
    EXPECT_EQ(all[i].hash, AuditHash(all[i], all[i].detail.dump()));
  }
  EXPECT_EQ(all[0].detail, (nlohmann::json{{"gates", "5/5"}}));
  EXPECT_EQ(all[0].user, "alice");
  EXPECT_EQ(all[0].at.size(), 24u);  // filled when empty
  EXPECT_EQ(all[2].at, "2030-01-01T00:00:00.000Z");
  EXPECT_TRUE(cat_->VerifyAudit().ok());

  auto seqs = [&](const AuditFilter& f) {
    std::vector<int64_t> out;
    const auto entries = cat_->ReadAudit(f);
    for (const auto& e : *entries) out.push_back(e.seq);
    return out;
  };
  EXPECT_EQ(seqs({.action = "run"}), (std::vector<int64_t>{2}));
  EXPECT_EQ(seqs({.flow = "permis"}), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(seqs({.environment = "datalab"}), (std::vector<int64_t>{3}));
  EXPECT_EQ(seqs({.since = "2029"}), (std::vector<int64_t>{3}));
  EXPECT_EQ(seqs({.limit = 2}), (std::vector<int64_t>{2, 3}));  // the newest 2, oldest first
  EXPECT_EQ(seqs({.flow = "permis", .limit = 1}), (std::vector<int64_t>{2}));
  EXPECT_TRUE(seqs({.action = "secret.use"}).empty());
}

// The chain format documented in catalog/audit.h, computed independently.
TEST_F(CatalogReleaseTest, AuditHashFollowsTheDocumentedFormat) {
  AuditEntry e = Entry("promote", "permis", "ok", {{"b", 1}, {"a", "é"}});
  e.at = "2026-03-01T10:00:00.000Z";
  Append(e);
  Append(Entry("run", "permis", "failed"));
  auto all = *cat_->ReadAudit({});
  const std::string first =
      "1:1,24:2026-03-01T10:00:00.000Z,5:alice,5:lab-1,7:promote,9:warehouse,6:permis,"
      "8:permis/1,2:ok,16:{\"a\":\"é\",\"b\":1},";
  EXPECT_EQ(all[0].hash, Sha256Hex(first));
  const std::string second =
      all[0].hash + fmt::format(
                        "1:2,24:{},5:alice,5:lab-1,3:run,9:warehouse,6:permis,"
                        "8:permis/1,6:failed,2:{{}},",
                        all[1].at);
  EXPECT_EQ(all[1].hash, Sha256Hex(second));
}

TEST_F(CatalogReleaseTest, AnEditAroundTheTriggersIsDetected) {
  for (int i = 0; i < 4; ++i) Append(Entry("run", "permis", "succeeded", {{"i", i}}));
  ASSERT_TRUE(cat_->VerifyAudit().ok());
  Raw("DROP TRIGGER audit_no_update");
  Raw("UPDATE audit SET outcome = 'failed' WHERE seq = 2");
  Status st = cat_->VerifyAudit();
  EXPECT_EQ(st.code(), StatusCode::kFailed);
  EXPECT_EQ(st.message(), "audit entry 2 was altered or removed");
  // Undone: the chain holds again.
  Raw("UPDATE audit SET outcome = 'succeeded' WHERE seq = 2");
  EXPECT_TRUE(cat_->VerifyAudit().ok());
  // The detail is covered too.
  Raw("UPDATE audit SET detail = '{\"i\":7}' WHERE seq = 3");
  EXPECT_EQ(cat_->VerifyAudit().message(), "audit entry 3 was altered or removed");
}

TEST_F(CatalogReleaseTest, AnEditWithItsHashRecomputedBreaksTheNextLink) {
  for (int i = 0; i < 3; ++i) Append(Entry("run", "permis", "succeeded"));
  AuditEntry forged = cat_->ReadAudit({})->at(1);
  forged.outcome = "refused";
  const std::string hash = AuditHash(forged, forged.detail.dump());
  Raw("DROP TRIGGER audit_no_update");
  Raw(fmt::format("UPDATE audit SET outcome = 'refused', hash = '{}' WHERE seq = 2", hash));
  EXPECT_EQ(cat_->VerifyAudit().message(), "audit entry 3 was altered or removed");
}

TEST_F(CatalogReleaseTest, ARemovedEntryIsDetectedEvenTheLastOne) {
  for (int i = 0; i < 4; ++i) Append(Entry("run", "permis", "succeeded"));
  Raw("DROP TRIGGER audit_no_delete");
  Raw("DELETE FROM audit WHERE seq = 4");
  EXPECT_EQ(cat_->VerifyAudit().message(), "audit entry 4 was altered or removed");
  // An entry appended afterwards does not take the removed one's place.
  Append(Entry("run", "permis", "succeeded"));
  EXPECT_EQ(cat_->ReadAudit({})->back().seq, 5);
  EXPECT_EQ(cat_->VerifyAudit().message(), "audit entry 4 was altered or removed");
  Raw("DELETE FROM audit WHERE seq = 2");
  EXPECT_EQ(cat_->VerifyAudit().message(), "audit entry 2 was altered or removed");
  Raw("DELETE FROM audit");
  EXPECT_EQ(cat_->VerifyAudit().message(), "audit entry 1 was altered or removed");
}

TEST_F(CatalogReleaseTest, AnEmptyAuditLogVerifies) { EXPECT_TRUE(cat_->VerifyAudit().ok()); }

// Recipe runs for LatestRecipeRunsAtCommit.
class AtCommitTest : public CatalogReleaseTest {
 protected:
  void RunAt(const std::string& id, const std::string& env, const std::string& commit, bool dirty,
             const std::string& started) {
    RunRecord r;
    r.id = id;
    r.flows = "permis";
    r.environment = env;
    r.trigger = "manual";
    r.git_commit = commit;
    r.git_dirty = dirty;
    r.status = "succeeded";
    r.started_at = started;
    ASSERT_TRUE(cat_->BeginRun(r).ok());
  }
  void RecipeRun(const std::string& run, const std::string& flow, const std::string& recipe,
                 const std::string& status, const std::string& out_version,
                 nlohmann::json metrics = nlohmann::json::object()) {
    CatalogBatch b;
    b.environment = "datalab";
    RecipeRunRecord rr;
    rr.run_id = run;
    rr.flow = flow;
    rr.recipe = recipe;
    rr.kind = "sql";
    rr.status = status;
    rr.metrics = std::move(metrics);
    if (!out_version.empty()) rr.outputs = {{recipe + "_out", out_version}};
    b.recipe_runs.push_back(rr);
    ASSERT_TRUE(cat_->Commit(b).ok());
  }
};

TEST_F(AtCommitTest, PicksTheLatestCleanRunOfTheCommitPerRecipe) {
  RunAt("r1", "datalab", "A", false, "2026-01-01T00:00:00.000Z");
  RecipeRun("r1", "permis", "rates", "failed", "");
  RecipeRun("r1", "permis", "collect", "succeeded", "c1", {{"rows", 10}});
  RunAt("r2", "datalab", "A", false, "2026-01-02T00:00:00.000Z");
  RecipeRun("r2", "permis", "rates", "succeeded", "v2", {{"checks", "ok"}});
  RecipeRun("r2", "forecast", "rates", "succeeded", "f2");  // another flow
  // Later, but dirty, another commit, or another environment: not counted.
  RunAt("r3", "datalab", "A", true, "2026-01-03T00:00:00.000Z");
  RecipeRun("r3", "permis", "rates", "succeeded", "v3");
  RunAt("r4", "datalab", "B", false, "2026-01-04T00:00:00.000Z");
  RecipeRun("r4", "permis", "rates", "succeeded", "v4");
  RunAt("r5", "warehouse", "A", false, "2026-01-05T00:00:00.000Z");
  RecipeRun("r5", "permis", "rates", "succeeded", "v5");

  auto at = cat_->LatestRecipeRunsAtCommit("datalab", "permis", "A");
  ASSERT_TRUE(at.ok()) << at.status().message();
  ASSERT_EQ(at->size(), 2u);
  EXPECT_EQ((*at)[0].recipe, "collect");
  EXPECT_EQ((*at)[0].run_id, "r1");
  EXPECT_EQ((*at)[0].outputs, (std::map<std::string, std::string>{{"collect_out", "c1"}}));
  EXPECT_EQ((*at)[0].metrics, (nlohmann::json{{"rows", 10}}));
  EXPECT_EQ((*at)[1].recipe, "rates");
  EXPECT_EQ((*at)[1].run_id, "r2");
  EXPECT_EQ((*at)[1].status, "succeeded");
  EXPECT_EQ((*at)[1].outputs, (std::map<std::string, std::string>{{"rates_out", "v2"}}));
  EXPECT_EQ((*at)[1].metrics, (nlohmann::json{{"checks", "ok"}}));

  // A later clean run of A wins, whatever its status.
  RunAt("r6", "datalab", "A", false, "2026-01-06T00:00:00.000Z");
  RecipeRun("r6", "permis", "rates", "failed", "");
  at = cat_->LatestRecipeRunsAtCommit("datalab", "permis", "A");
  ASSERT_EQ(at->size(), 2u);
  EXPECT_EQ((*at)[1].run_id, "r6");
  EXPECT_EQ((*at)[1].status, "failed");
  EXPECT_TRUE((*at)[1].outputs.empty());

  EXPECT_EQ(cat_->LatestRecipeRunsAtCommit("datalab", "permis", "B")->at(0).run_id, "r4");
  EXPECT_TRUE(cat_->LatestRecipeRunsAtCommit("datalab", "permis", "C")->empty());
  EXPECT_TRUE(cat_->LatestRecipeRunsAtCommit("datalab", "nope", "A")->empty());
}

TEST_F(AtCommitTest, ReleaseOfARunIsRecordedAndReadBack) {
  RunRecord r;
  r.id = "w1";
  r.flows = "permis";
  r.environment = "warehouse";
  r.trigger = "promotion";
  r.status = "running";
  r.started_at = NowIso();
  r.release = "permis/3";
  ASSERT_TRUE(cat_->BeginRun(r).ok());
  EXPECT_EQ(cat_->FindRun("w1")->release, "permis/3");
  EXPECT_EQ(cat_->ListRuns(1)->at(0).release, "permis/3");
  CatalogBatch b;
  b.environment = "warehouse";
  DatasetVersionRecord v;
  v.id = "v1";
  v.dataset = "rates";
  v.environment = "warehouse";
  v.file = "rates/v1.arrow";
  v.schema = "[]";
  v.run_id = "w1";
  v.flow = "permis";
  v.recipe = "rates";
  v.created_at = NowIso();
  b.versions.push_back(v);
  ASSERT_TRUE(cat_->Commit(b).ok());
  auto current = *cat_->CurrentVersions("warehouse");
  ASSERT_EQ(current.size(), 1u);
  EXPECT_EQ(current[0].release, "permis/3");
}

// A schema-4 catalog (migrations 1 to 4, as shipped) with runs, recipe runs and
// versions opens at schema 5 with its data, the new columns at their defaults.
TEST(CatalogMigrationTest, MigratesASchema4CatalogKeepingItsData) {
  TempDir dir;
  const auto path = dir.path() / "c.db";
  {
    SQLite::Database db(path.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    for (int v = 1; v <= 4; ++v) db.exec(CatalogMigrationSql(v));
    db.exec(
        "INSERT INTO runs (id, flows, environment, trigger, git_commit, status, started_at, host) "
        "VALUES ('r1', 'permis', 'datalab', 'manual', 'abc', 'succeeded', "
        "'2026-01-01T00:00:00.000Z', 'lab-1')");
    db.exec(
        "INSERT INTO recipe_runs (run_id, flow, recipe, kind, status, metrics, uuid, inputs) "
        "VALUES ('r1', 'permis', 'rates', 'sql', 'succeeded', '{\"rows\":3}', 'u-1', "
        "'{\"exams\":\"e1\"}')");
    db.exec(
        "INSERT INTO dataset_versions VALUES ('datalab', 'rates', 'v1', 'rates/v1.arrow', '[]', 3, "
        "10, 'r1', 'permis', 'rates', '2026-01-01T00:00:01.000Z')");
    db.exec(
        "INSERT INTO current_versions VALUES ('datalab', 'rates', 'v1', 'r1', "
        "'2026-01-01T00:00:01.000Z')");
    db.exec("PRAGMA user_version = 4");
  }
  auto cat = Catalog::Open(path);
  ASSERT_TRUE(cat.ok()) << cat.status().message();
  EXPECT_EQ((*cat)->schema_version(), kCatalogSchemaVersion);
  RunRecord run = *(*cat)->FindRun("r1");
  EXPECT_EQ(run.git_commit, "abc");
  EXPECT_EQ(run.host, "lab-1");
  EXPECT_EQ(run.release, "");
  auto recipes = *(*cat)->RecipeRuns("r1");
  ASSERT_EQ(recipes.size(), 1u);
  EXPECT_EQ(recipes[0].uuid, "u-1");
  EXPECT_EQ(recipes[0].metrics, (nlohmann::json{{"rows", 3}}));
  EXPECT_EQ(recipes[0].inputs, (std::map<std::string, std::string>{{"exams", "e1"}}));
  EXPECT_TRUE(recipes[0].outputs.empty());
  auto current = *(*cat)->CurrentVersions("datalab");
  ASSERT_EQ(current.size(), 1u);
  EXPECT_EQ(current[0].version_id, "v1");
  EXPECT_EQ(current[0].release, "");
  // A clean run of the commit from before the migration counts.
  EXPECT_EQ((*cat)->LatestRecipeRunsAtCommit("datalab", "permis", "abc")->size(), 1u);
  // The new tables work.
  ReleaseRecord r = Release("permis", "warehouse", 1, "abc");
  ASSERT_TRUE((*cat)->AddRelease(r, kAlice).ok());
  EXPECT_EQ((*(*cat)->ActiveRelease("permis", "warehouse"))->git_commit, "abc");
  AuditEntry e;
  e.action = "promote";
  ASSERT_TRUE((*cat)->AppendAudit(e).ok());
  EXPECT_TRUE((*cat)->VerifyAudit().ok());
  EXPECT_EQ(*(*cat)->IntegrityCheck(), "ok");
}

// A full disk during an audit append or a release says so and names the cure,
// as the runs' commits do (one SqlError for the whole catalog). Needs a small
// tmpfs of its own: mounting one takes root, so the test is skipped without it.
TEST(CatalogDiskFullTest, AuditAndReleaseWritesSayTheDiskIsFull) {
  TempDir dir;
  const auto mnt = dir.path() / "small";
  std::filesystem::create_directories(mnt);
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=4m") != 0)
    GTEST_SKIP() << "cannot mount a tmpfs here (needs root): " << std::strerror(errno);
  struct Unmount {
    std::filesystem::path p;
    ~Unmount() { ::umount2(p.c_str(), MNT_DETACH); }
  } unmount{mnt};
  auto cat = Catalog::Open(mnt / "c.db");
  ASSERT_TRUE(cat.ok()) << cat.status().message();
  {  // fill what is left of the disk
    std::ofstream filler(mnt / "filler", std::ios::binary);
    const std::string block(1 << 16, 'f');
    while (filler.write(block.data(), block.size())) {
    }
  }
  const std::string big(1 << 20, 'x');
  AuditEntry e;
  e.action = "promote";
  e.flow = "permis";
  e.detail = {{"note", big}};
  const std::string cure = "the disk is full (";
  const std::string gc = "); free some space (alambic gc deletes old versions)";
  Status audit = (*cat)->AppendAudit(e);
  EXPECT_EQ(audit.message().rfind("catalog: audit: " + cure, 0), 0u) << audit.message();
  EXPECT_NE(audit.message().find(gc), std::string::npos) << audit.message();
  ReleaseRecord r = Release("permis", "warehouse", 1);
  r.note = big;
  Status release = (*cat)->AddRelease(r, kAlice);
  EXPECT_FALSE(release.ok());
  EXPECT_NE(release.message().find(cure), std::string::npos) << release.message();
  EXPECT_NE(release.message().find(gc), std::string::npos) << release.message();
}

}  // namespace
}  // namespace alambic::catalog_release_test
