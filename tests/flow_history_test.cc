// core/vcs/flow_history.h on real git repositories: the files of a flow, the
// flow at a commit, its history (files taken at each commit, renames,
// deletions) and the reviewer's diff between two revisions.
#include "core/vcs/flow_history.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/flow/loader.h"
#include "tests/git_test_util.h"
#include "tests/test_util.h"

namespace alambic::flow_history_test {
namespace {

namespace fs = std::filesystem;
using testing::CommitAll;
using ::testing::ElementsAre;
using testing::Git;
using ::testing::IsEmpty;
using testing::TempDir;
using testing::WriteFile;

constexpr const char* kFlow = R"(flow: people
usecase: demo
description: People by department
datasets:
  people_raw:
    columns: {name: {tags: [personal]}, dept: {description: Département}}
recipes:
  - name: collect_people
    kind: collect
    outputs: [people_raw]
    params: {path: data/people.csv, delimiter: ";"}
  - name: score
    kind: lua
    inputs: [people_raw]
    outputs: [scored]
    script: recipes/score.lua
    params: {args: {threshold: 0.1}}
  - name: by_dept
    kind: sql
    inputs: [scored]
    outputs: [by_dept]
    params: {file: recipes/by_dept.sql}
)";

constexpr const char* kScore = R"(local t = input("people_raw")
local out = {}
for i = 1, #t do
  out[i] = t[i]
end
)";

// `text` with its only occurrence of `from` replaced by `to`.
std::string Replace(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

// A workspace (at the root of its repository, or in examples/ws) whose first
// commit holds the people flow, its Lua script and its SQL file.
class FlowHistoryTest : public ::testing::Test {
 protected:
  void SetUp() override { Init(tmp_.path() / "repo"); }
  void Init(const fs::path& ws) {
    ws_ = ws;
    fs::create_directories(repo());
    Git(repo(), "init -q");
    WriteFile(ws_ / "alambic.yaml", "name: w\n");
    WriteFile(ws_ / "flows" / "people.yaml", kFlow);
    WriteFile(ws_ / "recipes" / "score.lua", kScore);
    WriteFile(ws_ / "recipes" / "by_dept.sql", "select dept, count(*) as n from scored\n");
    WriteFile(ws_ / "data" / "people.csv", "name;dept\nZoé;01\n");
    c1_ = CommitAll(repo(), "Create people", "2024-05-01T10:00:00Z");
  }
  fs::path repo() const { return tmp_.path() / "repo"; }
  std::string Short(const std::string& id) const { return id.substr(0, 7); }
  void Write(const std::string& path, const std::string& text) { WriteFile(ws_ / path, text); }
  std::string Commit(const std::string& message) { return CommitAll(repo(), message); }
  std::vector<FlowChange> Diff(const std::string& rev2) {
    auto d = DiffFlow(ws_, "people", c1_, rev2);
    EXPECT_TRUE(d.ok()) << d.status().message();
    return d.ok() ? *d : std::vector<FlowChange>{};
  }
  std::vector<std::string> Ids(const std::vector<GitCommitInfo>& commits) {
    std::vector<std::string> ids;
    for (const auto& c : commits) ids.push_back(c.id);
    return ids;
  }

  TempDir tmp_;
  fs::path ws_;
  std::string c1_;
};

TEST(FlowFilesTest, ListsConfigFlowScriptsAndTheRecipesFilesParamsName) {
  std::vector<Diagnostic> diags;
  Flow flow = ParseFlow(R"(flow: f
recipes:
  - {name: a, kind: collect, outputs: [x], params: {path: data/x.csv}}
  - {name: b, kind: lua, inputs: [x], outputs: [y], script: recipes/b.lua}
  - {name: c, kind: lua, inputs: [y], outputs: [z], script: ./recipes/b.lua}
  - {name: d, kind: formula, inputs: [z], outputs: [w], params: {functions: [./recipes/f1.lua, recipes/lib//f2.lua], columns: {k: "1"}}}
  - {name: e, kind: sql, inputs: [w], outputs: [v], params: {file: recipes/e.sql}}
  - {name: f, kind: lua, inputs: [v], outputs: [u], script: ../outside.lua, params: {args: {p: ../recipes/no.lua, q: recipes/}}}
)",
                        "flows/f.yaml", &diags);
  ASSERT_THAT(diags, IsEmpty());
  EXPECT_THAT(FlowFiles(flow),
              ElementsAre("alambic.yaml", "flows/f.yaml", "recipes/b.lua", "recipes/e.sql",
                          "recipes/f1.lua", "recipes/lib/f2.lua"));
}

TEST_F(FlowHistoryTest, LoadFlowAtReadsTheFlowAsItWasInThatCommit) {
  Write("flows/people.yaml", Replace(kFlow, "threshold: 0.1", "threshold: 0.2"));
  const std::string c2 = Commit("Raise the threshold");
  // Another file name, the same flow name.
  fs::rename(ws_ / "flows" / "people.yaml", ws_ / "flows" / "main.yml");
  const std::string c3 = Commit("Rename");

  auto old = LoadFlowAt(ws_, c1_, "people");
  ASSERT_TRUE(old.ok()) << old.status().message();
  EXPECT_EQ(old->file, "flows/people.yaml");
  ASSERT_EQ(old->recipes.size(), 3u);
  EXPECT_EQ(old->recipes[1].params["args"]["threshold"], 0.1);
  auto now = LoadFlowAt(ws_, c3, "people");
  ASSERT_TRUE(now.ok()) << now.status().message();
  EXPECT_EQ(now->file, "flows/main.yml");
  EXPECT_EQ(now->recipes[1].params["args"]["threshold"], 0.2);
  auto by_prefix = LoadFlowAt(ws_, c2.substr(0, 10), "people");
  ASSERT_TRUE(by_prefix.ok()) << by_prefix.status().message();
  EXPECT_EQ(by_prefix->recipes[1].params["args"]["threshold"], 0.2);
}

TEST_F(FlowHistoryTest, LoadFlowAtReportsUnknownFlowsRevisionsAndBrokenFiles) {
  auto nope = LoadFlowAt(ws_, c1_, "nope");
  ASSERT_FALSE(nope.ok());
  EXPECT_EQ(nope.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(nope.status().message(), "flow nope does not exist in commit " + Short(c1_));
  EXPECT_EQ(LoadFlowAt(ws_, "v9", "people").status().message(), "unknown revision 'v9'");

  Write("flows/people.yaml", Replace(kFlow, "usecase: demo\n", "usecase: demo\nbogus: 1\n"));
  const std::string c2 = Commit("Break it");
  auto broken = LoadFlowAt(ws_, c2, "people");
  ASSERT_FALSE(broken.ok());
  EXPECT_EQ(broken.status().code(), StatusCode::kInvalid);
  EXPECT_EQ(broken.status().message(),
            "flow people in commit " + Short(c2) +
                " has problems:\nflows/people.yaml:3:1: unknown key 'bogus' in flow (expected one "
                "of: flow, usecase, description, schedule, partitions, datasets, recipes, "
                "timeout, retries, retry_backoff)");

  Write("flows/people.yaml", "flow: [\n");
  const std::string c3 = Commit("Break the YAML");
  auto unreadable = LoadFlowAt(ws_, c3, "people");
  ASSERT_FALSE(unreadable.ok());
  EXPECT_EQ(unreadable.status().message(),
            "flow people in commit " + Short(c3) +
                " has problems:\nflows/people.yaml:2:1: end of sequence flow not found");
}

TEST_F(FlowHistoryTest, HistoryTakesTheFlowFilesAtEachCommit) {
  Write("data/people.csv", "name;dept\nZoé;01\nMarc;2A\n");
  Commit("Data only");
  Write("recipes/score.lua", std::string(kScore) + "-- v2\n");
  const std::string script = Commit("Tune the score script");
  Write("flows/other.yaml", "flow: other\nrecipes: []\n");
  const std::string another = Commit("Another flow");
  Write("recipes/score2.lua", kScore);
  Write("flows/people.yaml", Replace(kFlow, "recipes/score.lua", "recipes/score2.lua"));
  const std::string switched = Commit("Use score2.lua");
  Write("recipes/score.lua", std::string(kScore) + "-- v3, no longer used\n");
  Commit("Change the old script");
  Git(repo(), "mv flows/people.yaml flows/persons.yaml");
  const std::string renamed = Commit("Rename the file");
  Write("alambic.yaml", "name: w2\n");
  const std::string config = Commit("Rename the workspace");
  Git(repo(), "rm -q flows/persons.yaml");
  const std::string deleted = Commit("Drop people");
  Write("recipes/score2.lua", "-- after the flow was deleted\n");
  Commit("Orphan script");

  auto history = FlowHistory(ws_, "people", 0);
  ASSERT_TRUE(history.ok()) << history.status().message();
  EXPECT_THAT(Ids(*history), ElementsAre(deleted, config, renamed, switched, script, c1_));
  const auto& h = *history;
  EXPECT_THAT(h[0].paths, ElementsAre("flows/persons.yaml"));
  EXPECT_THAT(h[1].paths, ElementsAre("alambic.yaml"));
  EXPECT_THAT(h[2].paths, ElementsAre("flows/people.yaml", "flows/persons.yaml"));
  EXPECT_THAT(h[3].paths, ElementsAre("flows/people.yaml", "recipes/score2.lua"));
  EXPECT_THAT(h[4].paths, ElementsAre("recipes/score.lua"));
  EXPECT_THAT(h[5].paths, ElementsAre("alambic.yaml", "flows/people.yaml", "recipes/by_dept.sql",
                                      "recipes/score.lua"));
  EXPECT_EQ(h[5].summary, "Create people");
  EXPECT_EQ(h[5].author, "Test User");
  EXPECT_EQ(h[5].time, 1714557600);

  auto two = FlowHistory(ws_, "people", 2);
  ASSERT_TRUE(two.ok());
  EXPECT_THAT(Ids(*two), ElementsAre(deleted, config));
  auto other = FlowHistory(ws_, "other", 0);
  ASSERT_TRUE(other.ok());
  EXPECT_THAT(Ids(*other), ElementsAre(config, another));
}

TEST_F(FlowHistoryTest, HistoryOfAFlowNoCommitHasIsNotFound) {
  Write("flows/draft.yaml", "flow: draft\nrecipes: []\n");  // not committed
  auto draft = FlowHistory(ws_, "draft", 0);
  ASSERT_FALSE(draft.ok());
  EXPECT_EQ(draft.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(draft.status().message(), "flow draft does not exist in the history of HEAD");
}

// The same workspace in examples/ws of a larger repository.
class SubdirectoryFlowHistoryTest : public FlowHistoryTest {
 protected:
  void SetUp() override { Init(tmp_.path() / "repo" / "examples" / "ws"); }
};

TEST_F(SubdirectoryFlowHistoryTest, HistoryIgnoresTheRestOfTheRepository) {
  WriteFile(repo() / "README.md", "top\n");
  WriteFile(repo() / "examples" / "other" / "flows" / "people.yaml", kFlow);
  Commit("Outside the workspace, a flow of the same name");
  Write("recipes/by_dept.sql", "select 1\n");
  const std::string c2 = Commit("Inside");
  auto history = FlowHistory(ws_, "people", 0);
  ASSERT_TRUE(history.ok()) << history.status().message();
  EXPECT_THAT(Ids(*history), ElementsAre(c2, c1_));
  EXPECT_THAT((*history)[0].paths, ElementsAre("recipes/by_dept.sql"));
  auto flow = LoadFlowAt(ws_, c2, "people");
  ASSERT_TRUE(flow.ok()) << flow.status().message();
  EXPECT_EQ(flow->file, "flows/people.yaml");
}

TEST_F(FlowHistoryTest, DiffListsAddedAndRemovedRecipes) {
  std::string flow = Replace(kFlow, R"(  - name: by_dept
    kind: sql
    inputs: [scored]
    outputs: [by_dept]
    params: {file: recipes/by_dept.sql}
)",
                             R"(  - name: flag
    kind: sql
    inputs: [scored]
    outputs: [flagged]
    params: {query: "select * from scored"}
)");
  Write("flows/people.yaml", flow);
  const std::string c2 = Commit("Replace by_dept");
  EXPECT_THAT(Diff(c2),
              ElementsAre(FlowChange{"recipe by_dept",
                                     "recipe by_dept removed (kind sql, inputs scored, outputs "
                                     "by_dept)",
                                     {}},
                          FlowChange{"recipe flag",
                                     "recipe flag added (kind sql, inputs scored, outputs flagged)",
                                     {"params: {\"query\":\"select * from scored\"}"}}));
}

TEST_F(FlowHistoryTest, DiffShowsParamChangesPerJsonPath) {
  Write("flows/people.yaml",
        Replace(Replace(kFlow, "threshold: 0.1", "threshold: 0.2, mode: strict"),
                "delimiter: \";\"", "delimiter: \",\""));
  const std::string c2 = Commit("Tune");
  EXPECT_THAT(Diff(c2), ElementsAre(FlowChange{"recipe collect_people",
                                               "recipe collect_people changed (params)",
                                               {"params.delimiter: \";\" → \",\""}},
                                    FlowChange{"recipe score",
                                               "recipe score changed (params)",
                                               {"params.args.mode: (none) → \"strict\"",
                                                "params.args.threshold: 0.1 → 0.2"}}));
}

TEST_F(FlowHistoryTest, DiffShowsAScriptChangedUnderTheSameNameWithItsLines) {
  Write("recipes/score.lua", Replace(kScore, "  out[i] = t[i]\n", "  out[i] = t[i] * 2\n"));
  const std::string c2 = Commit("Double");
  EXPECT_THAT(Diff(c2),
              ElementsAre(FlowChange{
                  "code recipes/score.lua",
                  "recipes/score.lua changed (+1 −1 lines), used by "
                  "recipe score",
                  {"--- a/recipes/score.lua", "+++ b/recipes/score.lua", "@@ -1,5 +1,5 @@",
                   " local t = input(\"people_raw\")", " local out = {}", " for i = 1, #t do",
                   "-  out[i] = t[i]", "+  out[i] = t[i] * 2", " end"}}));
}

TEST_F(FlowHistoryTest, DiffShowsARecipeMovedToAnotherScriptOrSqlFile) {
  Write("recipes/score2.lua", std::string(kScore) + "return out\n");
  Write("recipes/by_dept2.sql", "select dept, count(*) as n from scored\n");
  Write("flows/people.yaml", Replace(Replace(kFlow, "recipes/score.lua", "recipes/score2.lua"),
                                     "recipes/by_dept.sql", "recipes/by_dept2.sql"));
  const std::string c2 = Commit("Move the code");
  EXPECT_THAT(
      Diff(c2),
      ElementsAre(
          FlowChange{"recipe score",
                     "recipe score changed (script)",
                     {"script: recipes/score.lua → recipes/score2.lua"}},
          FlowChange{"code recipes/score2.lua",
                     "recipe score script recipes/score.lua → recipes/score2.lua (+1 −0 lines)",
                     {"--- a/recipes/score.lua", "+++ b/recipes/score2.lua", "@@ -3,3 +3,4 @@",
                      " for i = 1, #t do", "   out[i] = t[i]", " end", "+return out"}},
          FlowChange{"recipe by_dept",
                     "recipe by_dept changed (params)",
                     {"params.file: \"recipes/by_dept.sql\" → \"recipes/by_dept2.sql\""}},
          FlowChange{"code recipes/by_dept2.sql",
                     "recipe by_dept params.file recipes/by_dept.sql → recipes/by_dept2.sql (+0 "
                     "−0 lines)",
                     {}}));
}

TEST_F(FlowHistoryTest, DiffShowsDatasetAndColumnChanges) {
  Write("flows/people.yaml",
        Replace(kFlow, "columns: {name: {tags: [personal]}, dept: {description: Département}}",
                "columns: {name: {tags: []}, dept: {description: Code département}, id: {tags: "
                "[pseudonymised]}}\n  scored:\n    description: Scores"));
  const std::string c2 = Commit("Tags");
  EXPECT_THAT(
      Diff(c2),
      ElementsAre(
          FlowChange{
              "dataset people_raw", "dataset people_raw: column name tags [personal] → []", {}},
          FlowChange{"dataset people_raw",
                     "dataset people_raw: column dept description \"Département\" → "
                     "\"Code département\"",
                     {}},
          FlowChange{"dataset people_raw",
                     "dataset people_raw: column id added (tags [pseudonymised])",
                     {}},
          FlowChange{"dataset scored", "dataset scored added", {}}));
}

TEST_F(FlowHistoryTest, DiffOfARenamedFlowFileSaysOnlyThat) {
  Git(repo(), "mv flows/people.yaml flows/persons.yaml");
  const std::string c2 = Commit("Rename");
  EXPECT_THAT(Diff(c2),
              ElementsAre(FlowChange{
                  "flow", "flow file renamed flows/people.yaml → flows/persons.yaml", {}}));
}

TEST_F(FlowHistoryTest, DiffShowsFlowSettingsAndTheWorkspaceConfig) {
  Write("flows/people.yaml",
        Replace(kFlow, "description: People by department\n",
                "description: People per department\nschedule: {cron: \"0 3 * * 1\", timezone: "
                "Europe/Paris}\ntimeout: 60\n"));
  Write("alambic.yaml", "name: w\ngc:\n  keep_runs: 3\n");
  const std::string c2 = Commit("Schedule");
  EXPECT_THAT(
      Diff(c2),
      ElementsAre(
          FlowChange{
              "flow", "flow description: \"People by department\" → \"People per department\"", {}},
          FlowChange{"flow",
                     "flow schedule: (none) → cron \"0 3 * * 1\", timezone Europe/Paris, catchup "
                     "latest",
                     {}},
          FlowChange{"flow", "flow policy: (none) → timeout 60s", {}},
          FlowChange{"config alambic.yaml",
                     "alambic.yaml changed (+2 −0 lines)",
                     {"--- a/alambic.yaml", "+++ b/alambic.yaml", "@@ -1 +1,3 @@", " name: w",
                      "+gc:", "+  keep_runs: 3"}}));
}

TEST_F(FlowHistoryTest, ReformattingTheFlowFileChangesNothing) {
  Write("flows/people.yaml",
        "# People, by department.\n" + Replace(kFlow, "params: {args: {threshold: 0.1}}",
                                               "params:\n      args:\n        threshold: 0.1"));
  const std::string c2 = Commit("Reformat");
  EXPECT_THAT(Diff(c2), IsEmpty());
  EXPECT_THAT(Diff(c1_), IsEmpty());
}

TEST_F(FlowHistoryTest, DiffAgainstTheWorkingTreeSeesUncommittedChanges) {
  Write("flows/people.yaml", Replace(kFlow, "threshold: 0.1", "threshold: 0.3"));
  EXPECT_THAT(Diff(""), ElementsAre(FlowChange{"recipe score",
                                               "recipe score changed (params)",
                                               {"params.args.threshold: 0.1 → 0.3"}}));
  fs::remove(ws_ / "flows" / "people.yaml");
  auto gone = DiffFlow(ws_, "people", c1_, "");
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(gone.status().message(), "flow people does not exist in the working tree");
}

TEST_F(FlowHistoryTest, DiffReportsUnknownRevisionsAndAFlowMissingOnOneSide) {
  EXPECT_EQ(DiffFlow(ws_, "people", "nope", "").status().message(), "unknown revision 'nope'");
  EXPECT_EQ(DiffFlow(ws_, "people", c1_, "nope").status().message(), "unknown revision 'nope'");
  Write("flows/later.yaml", "flow: later\nrecipes: []\n");
  const std::string c2 = Commit("Later");
  auto missing = DiffFlow(ws_, "later", c1_, c2);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "flow later does not exist in commit " + Short(c1_));
}

}  // namespace
}  // namespace alambic::flow_history_test
