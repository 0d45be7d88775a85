// `alambic releases`, `alambic rollback` and `alambic audit` end to end (the real
// binary), plus the release shown by `runs`, `log` and `status`, on a workspace
// whose catalog is built through the Catalog API.
#include <sys/wait.h>

#include <SQLiteCpp/SQLiteCpp.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "catalog/catalog.h"
#include "tests/test_util.h"

namespace alambic::release_commands_test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;

using testing::CliResult;

// The commands run as user carol (the actor they record).
CliResult Cli(const fs::path& cwd, const std::vector<std::string>& args) {
  return testing::Cli(cwd, args, "USER=carol");
}

class ReleaseCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ws_ = dir_.path() / "ws";
    WriteFile(ws_ / "alambic.yaml",
              "name: ws\ndefault_environment: datalab\nenvironments:\n  datalab: {}\n"
              "  warehouse: {}\n  preprod: {}\n");
    WriteFile(ws_ / "data/people.csv", "id;dept\n1;01\n2;2A\n");
    WriteFile(ws_ / "flows/people.yaml", R"(flow: people
recipes:
  - {name: collect_people, kind: collect, outputs: [people_raw], params: {path: data/people.csv, delimiter: ";"}}
)");
  }
  std::unique_ptr<Catalog> Cat() {
    auto c = Catalog::Open(ws_ / ".alambic" / "catalog.db");
    EXPECT_TRUE(c.ok()) << c.status().message();
    return c.ok() ? std::move(*c) : nullptr;
  }
  // Releases 1..n of `flow` in the warehouse; the gates of release 2 fail one of three.
  void Promote(int n, const std::string& flow = "people") {
    auto cat = Cat();
    for (int i = 1; i <= n; ++i) {
      ReleaseRecord r;
      r.flow = flow;
      r.environment = "warehouse";
      r.number = *cat->NextReleaseNumber(flow, "warehouse");
      r.git_commit = std::string(40, static_cast<char>('a' + r.number));
      r.tag = flow + "-" + std::to_string(r.number);
      r.gates = json::array({{{"gate", "clean tree"}, {"passed", true}, {"reason", ""}},
                             {{"gate", "checks"}, {"passed", r.number != 2}, {"reason", ""}},
                             {{"gate", "personal"}, {"passed", true}, {"reason", ""}}});
      r.user = "alice";
      r.host = "lab";
      r.note = "release number " + std::to_string(r.number);
      ASSERT_TRUE(cat->AddRelease(r, {"alice", "lab"}).ok());
      AuditEntry e;
      e.user = "alice";
      e.host = "lab";
      e.action = "promote";
      e.environment = "warehouse";
      e.flow = flow;
      e.target = r.Name();
      e.outcome = "ok";
      e.detail = {{"commit", r.git_commit}};
      ASSERT_TRUE(cat->AppendAudit(e).ok());
    }
  }
  std::map<int, std::string> Statuses(const std::string& flow = "people") {
    std::map<int, std::string> out;
    auto cat = Cat();
    const auto releases = cat->ListReleases(flow, "warehouse");
    for (const auto& r : *releases) out[r.number] = r.status;
    return out;
  }
  std::vector<AuditEntry> Rollbacks() { return *Cat()->ReadAudit({.action = "rollback"}); }
  TempDir dir_;
  fs::path ws_;
};

TEST_F(ReleaseCommandsTest, ReleasesListsNewestFirstWithStatusCommitAndGates) {
  Promote(3);
  auto r = Cli(ws_, {"releases", "people"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, ContainsRegex("^release +status +commit +created +user +gates +note\n"));
  EXPECT_THAT(r.out, ContainsRegex("\n +3 +active +dddddddddd +20[0-9-]+T[0-9:.]+Z +alice +3/3 "
                                   "gates +release number 3\n"));
  EXPECT_THAT(r.out,
              ContainsRegex("\n +2 +superseded +cccccccccc .* 2/3 gates +release number 2\n"));
  EXPECT_LT(r.out.find(" 3 "), r.out.find(" 1 "));

  auto j = Cli(ws_, {"releases", "people", "--format", "json"});
  ASSERT_EQ(j.code, 0) << j.err;
  json list = json::parse(j.out);
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0]["release"], "people/3");
  EXPECT_EQ(list[0]["status"], "active");
  EXPECT_EQ(list[0]["environment"], "warehouse");
  EXPECT_EQ(list[0]["git_commit"], std::string(40, 'd'));
  EXPECT_EQ(list[0]["tag"], "people-3");
  EXPECT_EQ(list[1]["gates"][1]["passed"], false);
  EXPECT_FALSE(list[2]["activated_at"].get<std::string>().empty());
}

TEST_F(ReleaseCommandsTest, ReleasesOfAFlowWithoutAnyAndOtherEnvironments) {
  auto none = Cli(ws_, {"releases", "people"});
  EXPECT_EQ(none.code, 0);
  EXPECT_EQ(none.out, "flow people has no release in warehouse\n");
  EXPECT_EQ(Cli(ws_, {"releases", "people", "--format", "json"}).out, "[]\n");
  Promote(1);
  auto datalab = Cli(ws_, {"--env", "datalab", "releases", "people"});
  EXPECT_EQ(datalab.out, "flow people has no release in datalab\n");
  auto unknown = Cli(ws_, {"--env", "nope", "releases", "people"});
  EXPECT_EQ(unknown.code, 1);
  EXPECT_EQ(unknown.err, "alambic: unknown environment 'nope'\n");
  EXPECT_EQ(Cli(ws_, {"releases"}).code, 2);
  EXPECT_EQ(Cli(ws_, {"releases", "people", "--format", "xml"}).code, 2);
}

TEST_F(ReleaseCommandsTest, RollbackReactivatesTheReleaseBelowTheActiveOne) {
  Promote(3);
  auto r = Cli(ws_, {"rollback", "people", "--note", "rates look wrong"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out,
            "rolled back people in warehouse: release 2 is active (commit cccccccccc, tag "
            "people-2), was 3\n");
  EXPECT_EQ(Statuses(),
            (std::map<int, std::string>{{1, "superseded"}, {2, "active"}, {3, "rolled back"}}));
  auto audit = Rollbacks();
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0].outcome, "ok");
  EXPECT_EQ(audit[0].user, "carol");
  EXPECT_EQ(audit[0].environment, "warehouse");
  EXPECT_EQ(audit[0].flow, "people");
  EXPECT_EQ(audit[0].target, "people/2");
  EXPECT_EQ(audit[0].detail,
            (json{{"from", "people/3"}, {"to", "people/2"}, {"note", "rates look wrong"}}));

  // Again: down to 1, the oldest; then nothing is older.
  ASSERT_EQ(Cli(ws_, {"rollback", "people"}).code, 0);
  EXPECT_EQ((*Cat()->ActiveRelease("people", "warehouse"))->number, 1);
  auto oldest = Cli(ws_, {"rollback", "people"});
  EXPECT_EQ(oldest.code, 1);
  EXPECT_EQ(oldest.out, "");
  EXPECT_EQ(oldest.err,
            "alambic: release people/1 is the oldest release of people in warehouse: there is no "
            "earlier release to roll back to\n");
  audit = Rollbacks();
  ASSERT_EQ(audit.size(), 3u);
  EXPECT_EQ(audit[2].outcome, "refused");
  EXPECT_EQ(audit[2].detail["from"], "people/1");
  EXPECT_THAT(audit[2].detail["reason"].get<std::string>(), HasSubstr("is the oldest release"));
  EXPECT_EQ((*Cat()->ActiveRelease("people", "warehouse"))->number, 1);
}

TEST_F(ReleaseCommandsTest, RollbackToANamedRelease) {
  Promote(3);
  auto r = Cli(ws_, {"rollback", "people", "--to", "1"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("release 1 is active"));
  EXPECT_EQ(Statuses(),
            (std::map<int, std::string>{{1, "active"}, {2, "superseded"}, {3, "rolled back"}}));
  // "Rolling back" forward to 3 is allowed: any release other than the active one.
  ASSERT_EQ(Cli(ws_, {"rollback", "people", "--to", "3"}).code, 0);
  EXPECT_EQ(Statuses(),
            (std::map<int, std::string>{{1, "rolled back"}, {2, "superseded"}, {3, "active"}}));
}

TEST_F(ReleaseCommandsTest, RollbackRefusalsAreClearAuditedAndChangeNothing) {
  auto none = Cli(ws_, {"rollback", "people"});
  EXPECT_EQ(none.code, 1);
  EXPECT_EQ(none.err, "alambic: flow people has no release in warehouse\n");
  Promote(2);
  auto missing = Cli(ws_, {"rollback", "people", "--to", "7"});
  EXPECT_EQ(missing.code, 1);
  EXPECT_EQ(missing.err, "alambic: flow people has no release 7 in warehouse\n");
  auto active = Cli(ws_, {"rollback", "people", "--to", "2"});
  EXPECT_EQ(active.code, 1);
  EXPECT_EQ(active.err, "alambic: release people/2 is already active in warehouse\n");
  auto datalab = Cli(ws_, {"--env", "datalab", "rollback", "people"});
  EXPECT_EQ(datalab.code, 1);
  EXPECT_EQ(datalab.err, "alambic: flow people has no release in datalab\n");
  EXPECT_EQ(Cli(ws_, {"rollback", "people", "--to", "0"}).code, 2);
  EXPECT_EQ(Cli(ws_, {"rollback"}).code, 2);

  EXPECT_EQ(Statuses(), (std::map<int, std::string>{{1, "superseded"}, {2, "active"}}));
  auto audit = Rollbacks();
  ASSERT_EQ(audit.size(), 4u);
  for (const auto& e : audit) EXPECT_EQ(e.outcome, "refused") << e.seq;
  EXPECT_EQ(audit[0].detail["reason"], "flow people has no release in warehouse");
  EXPECT_EQ(audit[1].target, "people/7");
  EXPECT_EQ(audit[1].detail["reason"], "flow people has no release 7 in warehouse");
  EXPECT_EQ(audit[2].target, "people/2");
  EXPECT_EQ(audit[3].environment, "datalab");
  EXPECT_TRUE(Cat()->VerifyAudit().ok());
}

TEST_F(ReleaseCommandsTest, AuditPrintsFiltersAndFormats) {
  Promote(2);
  Promote(1, "other");
  ASSERT_EQ(Cli(ws_, {"rollback", "people"}).code, 0);
  auto all = Cli(ws_, {"audit"});
  ASSERT_EQ(all.code, 0) << all.err;
  EXPECT_THAT(all.out,
              ContainsRegex("^seq +at +who +action +env +flow +target +outcome +detail\n"));
  EXPECT_THAT(all.out, ContainsRegex("\n +1 +20[0-9-]+T[0-9:.]+Z +alice@lab +promote +warehouse "
                                     "+people +people/1 +ok +\\{\"commit\":\"b+\"\\}\n"));
  EXPECT_THAT(all.out, ContainsRegex("\n +4 .* carol@[^ ]* +rollback +warehouse +people +people/1 "
                                     "+ok +\\{\"from\":\"people/2\",\"to\":\"people/1\"\\}\n"));
  auto rollbacks = Cli(ws_, {"audit", "--action", "rollback"});
  EXPECT_EQ(std::count(rollbacks.out.begin(), rollbacks.out.end(), '\n'), 2);
  auto other = Cli(ws_, {"audit", "--flow", "other", "--format", "json"});
  ASSERT_EQ(other.code, 0);
  json j = json::parse(other.out);
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["seq"], 3);
  EXPECT_EQ(j[0]["target"], "other/1");
  EXPECT_EQ(j[0]["hash"].get<std::string>().size(), 64u);
  auto last = Cli(ws_, {"audit", "-n", "1", "--format", "json"});
  EXPECT_EQ(json::parse(last.out)[0]["seq"], 4);
  EXPECT_EQ(json::parse(Cli(ws_, {"audit", "-n", "0", "--format", "json"}).out).size(), 4u);
  EXPECT_EQ(Cli(ws_, {"--env", "datalab", "audit"}).out, "no audit entries\n");
  EXPECT_EQ(Cli(ws_, {"audit", "-n", "-1"}).code, 2);
}

TEST_F(ReleaseCommandsTest, AuditVerifyFindsAnEditMadeAroundTheTriggers) {
  Promote(3);
  auto ok = Cli(ws_, {"audit", "--verify"});
  ASSERT_EQ(ok.code, 0) << ok.err;
  const std::string head = Cat()->ReadAudit({})->back().hash;
  EXPECT_EQ(ok.out, "audit log verified: 3 entries, hash chain intact, last hash " + head + "\n");
  {
    SQLite::Database db((ws_ / ".alambic" / "catalog.db").string(), SQLite::OPEN_READWRITE);
    EXPECT_THROW(db.exec("UPDATE audit SET user = 'mallory' WHERE seq = 2"), SQLite::Exception);
    db.exec("DROP TRIGGER audit_no_update");
    db.exec("UPDATE audit SET user = 'mallory' WHERE seq = 2");
  }
  auto bad = Cli(ws_, {"audit", "--verify"});
  EXPECT_EQ(bad.code, 1);
  EXPECT_EQ(bad.out, "");
  EXPECT_EQ(bad.err, "alambic: audit entry 2 was altered or removed\n");
}

TEST_F(ReleaseCommandsTest, RunsLogAndStatusShowTheReleaseARunRan) {
  {
    auto cat = Cat();
    RunRecord r;
    r.id = "11111111-0000-4000-8000-000000000000";
    r.flows = "people";
    r.environment = "warehouse";
    r.trigger = "promotion";
    r.status = "succeeded";
    r.started_at = "2026-01-01T00:00:00.000Z";
    r.release = "people/3";
    ASSERT_TRUE(cat->BeginRun(r).ok());
    r.id = "22222222-0000-4000-8000-000000000000";
    r.started_at = "2026-01-02T00:00:00.000Z";
    r.release = "";
    r.environment = "datalab";
    r.trigger = "manual";
    ASSERT_TRUE(cat->BeginRun(r).ok());
    // A version made by a run of release 3, current in an environment that
    // runs the working tree (the warehouse's status is judged from releases).
    CatalogBatch b;
    b.environment = "preprod";
    DatasetVersionRecord v;
    v.id = std::string(64, 'e');
    v.dataset = "people_raw";
    v.environment = "preprod";
    v.file = "people_raw/" + v.id + ".arrow";
    v.schema = "[]";
    v.rows = 2;
    v.run_id = "11111111-0000-4000-8000-000000000000";
    v.flow = "people";
    v.recipe = "collect_people";
    v.created_at = "2026-01-01T00:00:01.000Z";
    b.versions.push_back(v);
    ASSERT_TRUE(cat->Commit(b).ok());
  }
  auto runs = Cli(ws_, {"runs"});
  ASSERT_EQ(runs.code, 0) << runs.err;
  EXPECT_THAT(runs.out, ContainsRegex("flows +release\n"));
  EXPECT_THAT(runs.out, ContainsRegex("\n11111111 +succeeded +warehouse .* +people +people/3\n"));
  EXPECT_THAT(runs.out, ContainsRegex("\n22222222 +succeeded +datalab .* +people +-\n"));
  auto log = Cli(ws_, {"log", "1111"});
  EXPECT_THAT(log.out, HasSubstr("release   people/3\n"));
  EXPECT_THAT(Cli(ws_, {"log", "2222"}).out, Not(HasSubstr("release")));
  auto status = Cli(ws_, {"--env", "preprod", "status"});
  ASSERT_EQ(status.code, 0) << status.err;
  EXPECT_THAT(status.out, HasSubstr("11111111 (people/3)"));
  // Without any release, `runs` keeps its columns.
  auto one = Cli(ws_, {"runs", "-n", "1"});
  EXPECT_THAT(one.out, Not(HasSubstr("release")));
}

}  // namespace
}  // namespace alambic::release_commands_test
