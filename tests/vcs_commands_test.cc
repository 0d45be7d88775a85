// `alambic history` and `alambic diff` through the real binary, on a
// workspace made by `alambic init` whose commits are made with git.
#include <sys/wait.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/git_test_util.h"
#include "tests/test_util.h"

namespace alambic::vcs_commands_test {
namespace {

namespace fs = std::filesystem;
using testing::CommitAll;
using testing::Git;
using ::testing::HasSubstr;
using testing::ReadFile;
using testing::ShellQuote;
using testing::TempDir;
using testing::WriteFile;

using testing::Cli;
using testing::CliResult;

constexpr const char* kFlow = R"(flow: people
usecase: demo
recipes:
  - name: collect_people
    kind: collect
    outputs: [people_raw]
    params: {path: data/people.csv, delimiter: ";"}
  - name: by_dept
    kind: sql
    inputs: [people_raw]
    outputs: [by_dept]
    params: {file: recipes/by_dept.sql}
)";

// A workspace from `alambic init`, then "Add people" (the flow and its SQL
// file) and "Count more" (the SQL file changed), at fixed dates.
class VcsCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ws_ = dir_.path() / "ws";
    auto r = Cli(dir_.path(), {"init", "ws"});
    ASSERT_EQ(r.code, 0) << r.err;
    WriteFile(ws_ / "flows" / "people.yaml", kFlow);
    WriteFile(ws_ / "recipes" / "by_dept.sql", "select dept, count(*) as n\nfrom people_raw\n");
    WriteFile(ws_ / "data" / "people.csv", "name;dept\nZoé;01\n");
    add_ = CommitAll(ws_, "Add people", "2024-05-02T10:00:00Z");
    WriteFile(ws_ / "recipes" / "by_dept.sql",
              "select dept, count(*) as n, count(name) as named\nfrom people_raw\n");
    more_ = CommitAll(ws_, "Count more", "2024-05-03T11:30:00Z");
  }
  TempDir dir_;
  fs::path ws_;
  std::string add_, more_;
};

TEST_F(VcsCommandsTest, HistoryPrintsOneLinePerCommitThatChangedTheFlow) {
  auto r = Cli(ws_, {"history", "people"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, more_.substr(0, 7) +
                       "  2024-05-03T11:30:00Z  Test User  Count more  (recipes/by_dept.sql)\n" +
                       add_.substr(0, 7) +
                       "  2024-05-02T10:00:00Z  Test User  Add people  (flows/people.yaml, "
                       "recipes/by_dept.sql)\n");

  auto one = Cli(ws_ / "flows", {"history", "people", "-n", "1"});
  ASSERT_EQ(one.code, 0) << one.err;
  EXPECT_EQ(one.out, more_.substr(0, 7) +
                         "  2024-05-03T11:30:00Z  Test User  Count more  (recipes/by_dept.sql)\n");
}

TEST_F(VcsCommandsTest, HistoryAsJson) {
  auto r = Cli(dir_.path(), {"-C", "ws", "history", "people", "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["flow"], "people");
  ASSERT_EQ(j["commits"].size(), 2u);
  EXPECT_EQ(j["commits"][0]["id"], more_);
  EXPECT_EQ(j["commits"][0]["time"], "2024-05-03T11:30:00Z");
  EXPECT_EQ(j["commits"][0]["author"], "Test User");
  EXPECT_EQ(j["commits"][0]["email"], "test@example.org");
  EXPECT_EQ(j["commits"][1]["summary"], "Add people");
  EXPECT_EQ(j["commits"][1]["paths"],
            nlohmann::json::array({"flows/people.yaml", "recipes/by_dept.sql"}));
}

TEST_F(VcsCommandsTest, HistoryEscapesControlCharactersOfCommitMessages) {
  WriteFile(ws_ / "recipes" / "by_dept.sql", "select 1\n");
  CommitAll(ws_, "Evil \x1b[31mred", "2024-05-04T00:00:00Z");
  auto r = Cli(ws_, {"history", "people", "-n", "1"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("Evil \\x1b[31mred"));
  EXPECT_EQ(r.out.find('\x1b'), std::string::npos);
}

TEST_F(VcsCommandsTest, DiffBetweenTwoRevisionsShowsTheScriptLines) {
  Git(ws_, "tag v1 " + add_);
  auto r = Cli(ws_, {"diff", "people", "v1", "HEAD"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "flow people: v1 (" + add_.substr(0, 7) + ") → HEAD (" + more_.substr(0, 7) +
                       ")\n"
                       "recipes/by_dept.sql changed (+1 −1 lines), used by recipe by_dept\n"
                       "    --- a/recipes/by_dept.sql\n"
                       "    +++ b/recipes/by_dept.sql\n"
                       "    @@ -1,2 +1,2 @@\n"
                       "    -select dept, count(*) as n\n"
                       "    +select dept, count(*) as n, count(name) as named\n"
                       "     from people_raw\n");
}

TEST_F(VcsCommandsTest, DiffAgainstTheWorkingTreeAsJson) {
  WriteFile(ws_ / "flows" / "people.yaml",
            std::string(kFlow) +
                "  - {name: top, kind: sql, inputs: [by_dept], outputs: [top], "
                "params: {query: \"select * from by_dept\"}}\n");
  auto r = Cli(ws_, {"diff", "people", more_.substr(0, 9), "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["from"]["commit"], more_);
  EXPECT_EQ(j["from"]["rev"], more_.substr(0, 9));
  EXPECT_TRUE(j["to"]["commit"].is_null());
  ASSERT_EQ(j["changes"].size(), 1u);
  EXPECT_EQ(j["changes"][0]["subject"], "recipe top");
  EXPECT_EQ(j["changes"][0]["text"], "recipe top added (kind sql, inputs by_dept, outputs top)");
  EXPECT_EQ(j["changes"][0]["detail"],
            nlohmann::json::array({"params: {\"query\":\"select * from by_dept\"}"}));

  auto same = Cli(ws_, {"diff", "people", "HEAD", "HEAD"});
  ASSERT_EQ(same.code, 0) << same.err;
  EXPECT_EQ(same.out, "flow people: HEAD (" + more_.substr(0, 7) + ") → HEAD (" +
                          more_.substr(0, 7) + ")\nno changes\n");
}

TEST_F(VcsCommandsTest, BadRevisionsFlowsAndCommandLinesFailClearly) {
  auto bad = Cli(ws_, {"diff", "people", "nope"});
  EXPECT_EQ(bad.code, 1);
  EXPECT_EQ(bad.out, "");
  EXPECT_EQ(bad.err, "alambic: unknown revision 'nope'\n");

  auto bad2 = Cli(ws_, {"diff", "people", "HEAD", "v9"});
  EXPECT_EQ(bad2.code, 1);
  EXPECT_EQ(bad2.err, "alambic: unknown revision 'v9'\n");

  auto flow = Cli(ws_, {"diff", "nobody", "HEAD"});
  EXPECT_EQ(flow.code, 1);
  EXPECT_EQ(flow.err, "alambic: flow nobody does not exist in commit " + more_.substr(0, 7) + "\n");

  auto history = Cli(ws_, {"history", "nobody"});
  EXPECT_EQ(history.code, 1);
  EXPECT_EQ(history.err, "alambic: flow nobody does not exist in the history of HEAD\n");

  EXPECT_EQ(Cli(ws_, {"history"}).code, 2);
  EXPECT_EQ(Cli(ws_, {"diff", "people"}).code, 2);
  EXPECT_EQ(Cli(ws_, {"history", "people", "--format", "xml"}).code, 2);

  TempDir empty;
  auto outside = Cli(empty.path(), {"history", "people"});
  EXPECT_EQ(outside.code, 1);
  EXPECT_THAT(outside.err, HasSubstr("alambic: not an Alambic workspace"));
}

TEST_F(VcsCommandsTest, AWorkspaceOutsideGitIsAClearError) {
  TempDir plain;
  WriteFile(plain.path() / "alambic.yaml", "name: plain\n");
  auto r = Cli(plain.path(), {"history", "people"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "alambic: " + fs::weakly_canonical(plain.path()).string() +
                       " is not in a git repository\n");
}

}  // namespace
}  // namespace alambic::vcs_commands_test
