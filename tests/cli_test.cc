// The `alambic` binary end to end on small workspaces: every command, its
// output and its exit status, with the real catalog, store, git and kinds.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/table/arrow_ipc.h"
#include "core/vcs/git.h"
#include "tests/test_util.h"

namespace alambic::cli_test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;

using testing::Cli;
using testing::CliResult;

// A workspace made by `alambic init`, with a two-recipe flow: collect a CSV, then SQL.
class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ws_ = dir_.path() / "ws";
    auto r = Cli(dir_.path(), {"init", "ws"});
    ASSERT_EQ(r.code, 0) << r.err;
    WriteFile(
        ws_ / "data" / "people.csv",
        "id;name;dept;score\n1;Zoé;01;12.5\n2;Marc;2A;8\n3;Inès;01;\n4;\"Paul; Jr\";974;15\n");
    WriteFlow("avg(score)");
  }
  void WriteFlow(const std::string& aggregate, const std::string& extra = "") {
    WriteFile(ws_ / "flows" / "people.yaml",
              R"(flow: people
usecase: demo
datasets:
  people_raw:
    columns: {name: {tags: [personal]}}
recipes:
  - name: collect_people
    kind: collect
    outputs: [people_raw]
    params: {path: data/people.csv, delimiter: ";"}
  - name: by_dept
    kind: sql
    inputs: [people_raw]
    outputs: [by_dept]
    params:
      query: "select dept, count(*) as n, )" +
                  aggregate + R"( as score from people_raw group by dept order by dept"
)" + extra);
  }
  TempDir dir_;
  std::filesystem::path ws_;
};

TEST_F(CliTest, LogShowsTheResultsOfAFailedCheck) {
  WriteFlow("avg(score)", R"(  - name: quality
    kind: check
    inputs: [people_raw]
    outputs: [people_checked]
    params: {checks: [{row_count: {min: 1}}, {not_null: [score]}]}
)");
  auto run = Cli(ws_, {"run"});
  EXPECT_EQ(run.code, 1) << run.out;
  auto runs = Cli(ws_, {"runs"});
  std::string id = runs.out.substr(runs.out.find('\n') + 1, 8);
  auto log = Cli(ws_, {"log", id, "quality"});
  ASSERT_EQ(log.code, 0) << log.err;
  EXPECT_THAT(log.out, HasSubstr("status    failed"));
  EXPECT_THAT(log.out, HasSubstr("error     recipe quality: check 'not_null(score)' failed: "
                                 "column 'score': 1 of 4 rows fail (row 3: null)"));
  const size_t at = log.out.find("metrics   ");
  ASSERT_NE(at, std::string::npos) << log.out;
  auto metrics = nlohmann::json::parse(log.out.substr(at + 10, log.out.find('\n', at) - at - 10));
  ASSERT_EQ(metrics["checks"].size(), 2u);
  EXPECT_EQ(metrics["checks"][0]["passed"], true);
  EXPECT_EQ(metrics["checks"][1]["name"], "not_null(score)");
  EXPECT_EQ(metrics["checks"][1]["passed"], false);
  EXPECT_EQ(metrics["checks"][1]["failing_rows"], 1);
}

TEST_F(CliTest, InitMakesACommittedGitWorkspace) {
  for (const char* p : {"alambic.yaml", ".gitignore", "flows", "recipes", "usecases", "data"})
    EXPECT_TRUE(std::filesystem::exists(dir_.path() / "ws" / p)) << p;
  EXPECT_THAT(ReadFile(dir_.path() / "ws" / ".gitignore"), HasSubstr(".alambic/"));
  TempDir fresh;
  ASSERT_EQ(Cli(fresh.path(), {"init", "w2"}).code, 0);
  auto head = GitReadHead(fresh.path() / "w2");
  ASSERT_TRUE(head.ok()) << head.status().message();
  EXPECT_TRUE(head->is_repository);
  EXPECT_EQ(head->commit.size(), 40u);
  EXPECT_FALSE(head->dirty);

  auto again = Cli(fresh.path(), {"init", "w2"});
  EXPECT_EQ(again.code, 1);
  EXPECT_THAT(again.err, HasSubstr("is already an Alambic workspace"));
}

TEST_F(CliTest, OutsideAWorkspaceIsAClearError) {
  TempDir empty;
  auto r = Cli(empty.path(), {"status"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("not an Alambic workspace: no alambic.yaml in"));
  EXPECT_EQ(Cli(empty.path(), {"frobnicate"}).code, 2);
}

TEST_F(CliTest, ValidateReportsEveryProblemWithItsPlace) {
  ASSERT_EQ(Cli(ws_, {"validate"}).code, 0);
  WriteFile(ws_ / "flows" / "bad.yaml", R"(flow: bad
recipes:
  - {name: a, kind: colect, outputs: [x], params: {path: data/people.csv}}
  - {name: b, kind: sql, inputs: [nowhere], outputs: [y], params: {query: "select 1"}}
  - {name: c, kind: sql, inputs: [y], outputs: [z], params: {query: 3}}
)");
  auto r = Cli(ws_, {"validate"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err,
            "flows/bad.yaml:3:21: recipe a: unknown recipe kind 'colect' (known kinds: "
            "address_fr, anomaly, check, clean, collect, distinct, evaluate, export, filter, "
            "formula, fuzzy_join, group, join, lua, score, sort, split, sql, stack, sync, top, "
            "train, window)\n"
            "flows/bad.yaml:4:35: recipe b: unknown input dataset 'nowhere' (no recipe produces "
            "it)\n"
            "flows/bad.yaml:5:69: recipe c: parameter 'query' must be a string, got the number 3\n"
            "3 problems found\n");
  // A run refuses an invalid workspace with the same problems, and builds nothing.
  auto run = Cli(ws_, {"run"});
  EXPECT_EQ(run.code, 1);
  EXPECT_THAT(run.err, HasSubstr("flows/bad.yaml:3:21: recipe a: unknown recipe kind 'colect'"));
  EXPECT_FALSE(std::filesystem::exists(ws_ / ".alambic" / "store" / "datalab" / "by_dept"));
}

TEST_F(CliTest, RunBuildsThenNothingAndEveryCommandReportsIt) {
  auto first = Cli(ws_, {"run", "-j", "2"});
  ASSERT_EQ(first.code, 0) << first.out << first.err;
  EXPECT_THAT(first.out, HasSubstr("2 succeeded, 0 failed, 0 cancelled, 0 skipped, 0 up to date"));
  // Not a terminal: plain timestamped lines, then the summary table.
  EXPECT_THAT(first.out, ::testing::ContainsRegex("[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3} start    "
                                                  "people/collect_people"));
  EXPECT_THAT(first.out, ::testing::ContainsRegex("people/by_dept +succeeded +3 "));

  auto second = Cli(ws_, {"run"});
  ASSERT_EQ(second.code, 0);
  EXPECT_THAT(second.out, HasSubstr("0 succeeded, 0 failed, 0 cancelled, 0 skipped, 2 up to date"));
  auto plan = Cli(ws_, {"plan", "--explain"});
  EXPECT_EQ(plan.out,
            "recipe                 decision    reason\n"
            "people/collect_people  up to date  up to date\n"
            "people/by_dept         up to date  up to date\n"
            "0 of 2 recipes to run\n");

  auto json = Cli(ws_, {"show", "by_dept", "--format", "json"});
  ASSERT_EQ(json.code, 0) << json.err;
  auto rows = nlohmann::json::parse(json.out);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0]["dept"], "01");  // codes stay strings
  EXPECT_EQ(rows[0]["n"], 2);
  EXPECT_DOUBLE_EQ(rows[0]["score"].get<double>(), 12.5);  // avg ignores the null
  EXPECT_EQ(rows[1]["dept"], "2A");
  EXPECT_EQ(rows[2]["dept"], "974");

  auto table = Cli(ws_, {"show", "people_raw", "--head", "2"});
  EXPECT_THAT(table.out, HasSubstr("Zoé"));
  EXPECT_THAT(table.out, Not(HasSubstr("Inès")));
  EXPECT_THAT(table.out, HasSubstr("(2 of 4 rows; people_raw version"));

  ASSERT_EQ(Cli(ws_, {"export", "people_raw", "--csv", "out/people.csv"}).code, 0)
      << "a missing folder is created, as the export recipe does";
  EXPECT_TRUE(std::filesystem::is_regular_file(ws_ / "out" / "people.csv"));
  ASSERT_EQ(Cli(ws_, {"export", "people_raw", "--csv", "people.csv"}).code, 0);
  EXPECT_EQ(ReadFile(ws_ / "people.csv"),
            "id,name,dept,score\n1,Zoé,01,12.5\n2,Marc,2A,8\n3,Inès,01,\n4,Paul; Jr,974,15\n");

  auto status = Cli(ws_, {"status"});
  EXPECT_THAT(status.out, ::testing::ContainsRegex("by_dept +people +[0-9a-f]{12} +fresh +3 "));

  auto runs = Cli(ws_, {"runs"});
  EXPECT_EQ(std::count(runs.out.begin(), runs.out.end(), '\n'), 3);  // header + two runs
  std::string first_id = runs.out.substr(runs.out.rfind('\n', runs.out.size() - 2) + 1, 8);
  auto log = Cli(ws_, {"log", first_id, "collect_people"});
  ASSERT_EQ(log.code, 0) << log.err;
  EXPECT_THAT(log.out, HasSubstr("status    succeeded"));
  EXPECT_THAT(log.out, HasSubstr("reason    never built"));
  EXPECT_THAT(log.out, HasSubstr("rows out  4"));
  auto runlog = Cli(ws_, {"log", first_id});
  EXPECT_THAT(runlog.out, ::testing::ContainsRegex("people/by_dept +succeeded +1 +4 +3 "));

  // A param change: the SQL recipe is stale, the collect is not.
  WriteFlow("max(score)");
  auto status2 = Cli(ws_, {"status"});
  EXPECT_THAT(status2.out, ::testing::ContainsRegex("by_dept +people +[0-9a-f]{12} +stale: params "
                                                    "changed"));
  EXPECT_THAT(status2.out, ::testing::ContainsRegex("people_raw +people +[0-9a-f]{12} +fresh"));
  auto plan2 = Cli(ws_, {"plan"});
  EXPECT_EQ(plan2.out, "people/by_dept  params changed\n1 of 2 recipes to run\n");
}

TEST_F(CliTest, DashCFindsTheWorkspaceFromElsewhereAndFromASubdirectory) {
  auto r = Cli(dir_.path(), {"-C", "ws", "run"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto sub = Cli(dir_.path(), {"-C", "ws/flows", "plan"});
  EXPECT_EQ(sub.out, "0 of 2 recipes to run\n");
  auto after = Cli(dir_.path(), {"plan", "-C", "ws"});
  EXPECT_EQ(after.out, "0 of 2 recipes to run\n");
}

TEST_F(CliTest, FailedRecipeExitsOneAndKeepsThePublishedVersion) {
  ASSERT_EQ(Cli(ws_, {"run"}).code, 0);
  auto before = Cli(ws_, {"show", "by_dept", "--format", "csv"});
  WriteFlow("avg(no_such_column)");
  auto r = Cli(ws_, {"run"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.out, HasSubstr("0 succeeded, 1 failed"));
  EXPECT_THAT(r.out, HasSubstr("failed people/by_dept: recipe by_dept:"));
  EXPECT_THAT(r.out, HasSubstr("no_such_column"));
  EXPECT_EQ(Cli(ws_, {"show", "by_dept", "--format", "csv"}).out, before.out);
  auto runs = Cli(ws_, {"runs", "-n", "1"});
  EXPECT_THAT(runs.out, HasSubstr("failed"));
}

TEST_F(CliTest, SelectionOnlyFromToAndForce) {
  ASSERT_EQ(Cli(ws_, {"run"}).code, 0);
  auto forced = Cli(ws_, {"run", "--only", "by_dept", "--force"});
  ASSERT_EQ(forced.code, 0) << forced.out;
  EXPECT_THAT(forced.out, HasSubstr("1 succeeded, 0 failed"));
  auto to = Cli(ws_, {"plan", "--to", "by_dept", "--force"});
  EXPECT_EQ(to.out,
            "people/collect_people  forced\npeople/by_dept  forced\n2 of 2 recipes to run\n");
  auto from = Cli(ws_, {"plan", "--from", "collect_people", "--force", "--explain"});
  EXPECT_THAT(from.out, HasSubstr("2 of 2 recipes to run"));
  auto unknown = Cli(ws_, {"plan", "--only", "nope"});
  EXPECT_EQ(unknown.code, 1);
  EXPECT_THAT(unknown.err, HasSubstr("nope"));
}

TEST_F(CliTest, TimeoutFromTheFlowFileIsRecorded) {
  WriteFile(ws_ / "flows" / "slow.yaml", R"yaml(flow: slow
recipes:
  - name: spin
    kind: sql
    inputs: [people_raw]
    outputs: [spun]
    timeout: 0.3
    params:
      query: "with recursive c(i) as (select 1 union all select i + 1 from c) select max(i) as m from (select i from c limit 2000000000)"
)yaml");
  auto start = std::chrono::steady_clock::now();
  auto r = Cli(ws_, {"run"});
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(r.code, 1);
  EXPECT_LT(secs, 30);
  EXPECT_THAT(r.out, ::testing::ContainsRegex("slow/spin +timed_out"));
  EXPECT_THAT(r.out, HasSubstr("2 succeeded, 1 failed"));
}

TEST_F(CliTest, CtrlCCancelsTheRunningRecipeAndRecordsIt) {
  WriteFile(ws_ / "flows" / "slow.yaml", R"yaml(flow: slow
recipes:
  - name: spin
    kind: sql
    inputs: [people_raw]
    outputs: [spun]
    params:
      query: "with recursive c(i) as (select 1 union all select i + 1 from c) select max(i) as m from (select i from c limit 2000000000)"
)yaml");
  ASSERT_EQ(Cli(ws_, {"run", "people"}).code, 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (chdir(ws_.c_str()) != 0) _exit(99);
    FILE* devnull = std::freopen("/dev/null", "w", stdout);
    (void)devnull;
    execl(ALAMBIC_BINARY, ALAMBIC_BINARY, "run", "slow", static_cast<char*>(nullptr));
    _exit(98);
  }
  // Wait until the recipe is running (the run is recorded), then interrupt.
  for (int i = 0; i < 100; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (Cli(ws_, {"runs", "-n", "1"}).out.find("running") != std::string::npos) break;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 130);
  auto runs = Cli(ws_, {"runs", "-n", "1"});
  EXPECT_THAT(runs.out, HasSubstr("cancelled"));
  std::string id = runs.out.substr(runs.out.find('\n') + 1, 8);
  EXPECT_THAT(Cli(ws_, {"log", id}).out, ::testing::ContainsRegex("slow/spin +cancelled"));
}

TEST_F(CliTest, GcDeletesUnreferencedVersionsOnly) {
  ASSERT_EQ(Cli(ws_, {"run"}).code, 0);
  auto v1 = Cli(ws_, {"status"}).out;
  WriteFlow("max(score)");
  ASSERT_EQ(Cli(ws_, {"run"}).code, 0);
  auto store = ws_ / ".alambic" / "store" / "datalab" / "by_dept";
  auto count = [&] {
    int n = 0;
    for (auto& e : std::filesystem::directory_iterator(store))
      n += e.path().extension() == ".arrow";
    return n;
  };
  ASSERT_EQ(count(), 2);
  // An unrecorded file (as a crash between rename and catalog commit would leave).
  WriteFile(store / "0123456789abcdef.arrow", "junk");

  auto keep = Cli(ws_, {"gc", "--keep-runs", "2"});
  EXPECT_THAT(keep.out, HasSubstr("deleted 0 versions and 1 unrecorded file(s)"));
  EXPECT_EQ(count(), 2);

  auto dry = Cli(ws_, {"gc", "--keep-runs", "0", "--dry-run"});
  EXPECT_THAT(dry.out, HasSubstr("would delete 1 version"));
  EXPECT_EQ(count(), 2);

  auto gc = Cli(ws_, {"gc", "--keep-runs", "0"});
  ASSERT_EQ(gc.code, 0) << gc.err;
  EXPECT_THAT(gc.out, HasSubstr("delete by_dept "));
  EXPECT_EQ(count(), 1);
  // The current version is intact and the plan still sees everything up to date.
  EXPECT_EQ(Cli(ws_, {"show", "by_dept", "--format", "json"}).code, 0);
  EXPECT_EQ(Cli(ws_, {"plan"}).out, "0 of 2 recipes to run\n");
  // Going back to the first params rebuilds the deleted version.
  WriteFlow("avg(score)");
  EXPECT_EQ(Cli(ws_, {"plan"}).out, "people/by_dept  params changed\n1 of 2 recipes to run\n");
}

TEST_F(CliTest, DatasetFilesAreArrowIpcFiles) {
  ASSERT_EQ(Cli(ws_, {"run"}).code, 0);
  auto dir = ws_ / ".alambic" / "store" / "datalab" / "people_raw";
  std::filesystem::path file;
  for (auto& e : std::filesystem::directory_iterator(dir)) file = e.path();
  std::string bytes = ReadFile(file);
  ASSERT_GT(bytes.size(), 12u);
  EXPECT_EQ(bytes.substr(0, 6), "ARROW1");
  EXPECT_EQ(bytes.substr(bytes.size() - 6), "ARROW1");
  auto t = ReadArrowFile(file.string());
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(t->num_rows(), 4);
  EXPECT_EQ(t->schema().ToString(), "id:int64, name:utf8, dept:utf8, score:float64");
}

// Plugins in the workspace's plugins/ and those built beside the binary are
// listed with no configuration; a refused library is listed with the reason;
// `validate` checks plugin params; a crashing plugin fails only its recipe.
TEST_F(CliTest, PluginListValidateAndRunWithPlugins) {
  const std::filesystem::path plugins = ALAMBIC_TEST_PLUGIN_DIR;
  std::filesystem::create_directories(ws_ / "plugins");
  std::filesystem::copy_file(plugins / "good" / "testkit.so", ws_ / "plugins" / "testkit.so");
  std::filesystem::copy_file(plugins / "bad" / "bad_version.so",
                             ws_ / "plugins" / "bad_version.so");

  auto list = Cli(ws_, {"plugin", "list"});
  ASSERT_EQ(list.code, 0) << list.err;
  EXPECT_THAT(list.out, HasSubstr("testkit 1.0  " + (ws_ / "plugins" / "testkit.so").string()));
  EXPECT_THAT(list.out, HasSubstr("\n  kind tk_scale: inputs 1, outputs 1\n"
                                  "    factor (a number, required): multiplier\n"
                                  "    column (a string, default \"x\"): column to scale\n"));
  // Built with the binary, found beside it.
  EXPECT_THAT(list.out, HasSubstr("anomaly 1.0.0  "));
  EXPECT_THAT(list.out, HasSubstr("address_fr 1.0.0  "));
  EXPECT_THAT(list.out, HasSubstr("refused " + (ws_ / "plugins" / "bad_version.so").string() +
                                  ": plugin ABI version 2 is not supported"));

  WriteFlow(
      "avg(score)",
      R"(  - {name: scale, kind: tk_scale, inputs: [people_raw], outputs: [scaled], params: {factor: "two"}}
  - {name: crash, kind: tk_segv, inputs: [people_raw], outputs: [crashed]}
)");
  auto bad = Cli(ws_, {"validate"});
  EXPECT_EQ(bad.code, 1);
  EXPECT_THAT(bad.err, HasSubstr("alambic: plugin refused: " +
                                 (ws_ / "plugins" / "bad_version.so").string()));
  EXPECT_THAT(bad.err, HasSubstr("recipe scale: parameter 'factor' must be a number, got the "
                                 "string \"two\""));

  WriteFlow(
      "avg(score)",
      R"(  - {name: scale, kind: tk_scale, inputs: [people_raw], outputs: [scaled], params: {factor: 2, column: id}}
  - {name: crash, kind: tk_segv, inputs: [people_raw], outputs: [crashed]}
)");
  ASSERT_EQ(Cli(ws_, {"validate"}).code, 0);
  auto run = Cli(ws_, {"run", "--keep-going"});
  EXPECT_EQ(run.code, 1);
  EXPECT_THAT(run.out + run.err,
              HasSubstr("recipe crash: plugin testkit (kind tk_segv): the plugin crashed: signal "
                        "11 (Segmentation fault)"));
  auto show = Cli(ws_, {"show", "scaled", "--format", "csv"});
  ASSERT_EQ(show.code, 0) << show.err;
  EXPECT_THAT(show.out, HasSubstr("id,name,dept,score,scaled\n1,Zoé,01,12.5,2\n"));
}

}  // namespace
}  // namespace alambic::cli_test
