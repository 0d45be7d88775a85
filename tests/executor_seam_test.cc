// The runner's seams: flows run end to end on an in-memory catalog with a fake
// executor (tests/fake_executor.h) and a manual clock; the catalog records
// what the fake made happen.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "core/exec/run.h"
#include "tests/fake_executor.h"
#include "tests/test_util.h"

namespace alambic::executor_seam_test {
namespace {

namespace fs = std::filesystem;
using testing::FakeExecutor;
using testing::TempDir;
using testing::WriteFile;

// Two independent branches: a (collect, clean, group) and b (collect, clean).
constexpr const char* kFlow = R"(flow: f
recipes:
  - {name: collect_a, kind: collect, outputs: [raw_a], params: {path: data/exams.csv, delimiter: ";"}}
  - name: clean_a
    kind: clean
    inputs: [raw_a]
    outputs: [exams]
    params: {steps: [{trim: [city]}, {upper: city}]}
  - name: group_a
    kind: group
    inputs: [exams]
    outputs: [by_city]
    params:
      keys: [city]
      aggregates:
        - {name: n, fn: count}
        - {name: total, fn: sum, column: score}
  - {name: collect_b, kind: collect, outputs: [raw_b], params: {path: data/centres.csv, delimiter: ";"}}
  - name: clean_b
    kind: clean
    inputs: [raw_b]
    outputs: [centres]
    params: {steps: [{rename: {nom: name}}]}
)";

constexpr const char* kExams =
    "id;city;score\n1; paris ;12\n2;Lyon;8\n3;PARIS;15\n4;lyon ;11\n5;Nice;9\n";

// system_clock time of a UTC date and time.
std::chrono::system_clock::time_point Utc(int y, unsigned m, unsigned d, int hh, int mm, int ss) {
  using namespace std::chrono;
  return sys_days{year{y} / month{m} / day{d}} + hours{hh} + minutes{mm} + seconds{ss};
}

class ExecutorSeamTest : public ::testing::Test {
 protected:
  void SetUp() override { Workspace(dir_.path()); }
  static void Workspace(const fs::path& root) {
    WriteFile(root / "alambic.yaml", "name: t\n");
    WriteFile(root / "data/exams.csv", kExams);
    WriteFile(root / "data/centres.csv", "id;nom\nC1;Centre Nord\nC2;Centre Sud\n");
    WriteFile(root / "flows/f.yaml", kFlow);
  }
  std::unique_ptr<Session> OpenInMemory(const fs::path& root) {
    SessionOptions so;
    so.in_memory_catalog = true;
    auto s = Session::Open(root, "", testing::BuiltinKinds(), so);
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() ? std::move(*s) : nullptr;
  }
  RunSummary Run(Session& s, Executor& ex, Clock* clock = nullptr) {
    RunOptions opt;
    opt.executor = &ex;
    opt.clock = clock;
    auto r = RunFlows(s, opt);
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? *r : RunSummary{};
  }
  static const RecipeRunRecord& Rec(const std::vector<RecipeRunRecord>& recs,
                                    const std::string& recipe) {
    for (const auto& r : recs)
      if (r.recipe == recipe) return r;
    throw std::runtime_error("no recipe run " + recipe);
  }
  static std::map<std::string, std::string> Current(Session& s) {
    std::map<std::string, std::string> out;
    auto current = s.catalog().CurrentVersions(s.environment());
    EXPECT_TRUE(current.ok()) << current.status().message();
    if (current.ok())
      for (const auto& c : *current) out[c.dataset] = c.version_id;
    return out;
  }
  static std::vector<DatasetVersionRecord> Versions(Session& s, const std::string& run_id) {
    auto v = s.catalog().VersionsOfRun(run_id);
    EXPECT_TRUE(v.ok()) << v.status().message();
    return v.ok() ? *v : std::vector<DatasetVersionRecord>{};
  }
  TempDir dir_;
};

TEST_F(ExecutorSeamTest, RunsAFlowEndToEndOnAnInMemoryCatalogWithTheFakeExecutor) {
  auto s = OpenInMemory(dir_.path());
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->catalog().in_memory());
  FakeExecutor fake;
  RunSummary sum = Run(*s, fake);
  EXPECT_EQ(sum.run.status, "succeeded") << sum.run.error;
  EXPECT_EQ(fake.executions(), 1);
  EXPECT_EQ(sum.succeeded, 5);

  // The catalog recorded the run, its five recipe runs and their versions.
  auto runs = *s->catalog().ListRuns(10);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].id, sum.run.id);
  EXPECT_EQ(runs[0].status, "succeeded");
  auto recs = *s->catalog().RecipeRuns(sum.run.id);
  ASSERT_EQ(recs.size(), 5u);
  for (const auto& r : recs) EXPECT_EQ(r.status, "succeeded") << r.recipe;
  EXPECT_EQ(Rec(recs, "group_a").rows_in, 5);
  EXPECT_EQ(Rec(recs, "group_a").rows_out, 3);
  const auto current = Current(*s);
  EXPECT_EQ(current.size(), 5u);
  auto versions = Versions(*s, sum.run.id);
  EXPECT_EQ(versions.size(), 5u);
  for (const auto& v : versions) EXPECT_EQ(current.at(v.dataset), v.id) << v.dataset;

  // What the group recipe built, against a count by hand of kExams.
  auto t = s->store().Read("by_city", current.at("by_city"));
  ASSERT_TRUE(t.ok()) << t.status().message();
  std::map<std::string, std::pair<int64_t, int64_t>> got;
  auto city = t->ColumnByName("city"), n = t->ColumnByName("n"), total = t->ColumnByName("total");
  ASSERT_TRUE(city && n && total);
  for (int64_t i = 0; i < t->num_rows(); ++i)
    got[std::string(city->String(i))] = {n->Int64(i), total->Int64(i)};
  const std::map<std::string, std::pair<int64_t, int64_t>> want = {
      {"PARIS", {2, 27}}, {"LYON", {2, 19}}, {"NICE", {1, 9}}};
  EXPECT_EQ(got, want);

  // Nothing was written where the file catalog would be.
  EXPECT_FALSE(fs::exists(dir_.path() / ".alambic" / "catalog.db"));

  // The same flow through the file catalog and the local executor builds the
  // same version ids (they are content hashes: the seams change nothing).
  TempDir other;
  Workspace(other.path());
  {
    auto fs_session = Session::Open(other.path(), "", testing::BuiltinKinds());
    ASSERT_TRUE(fs_session.ok()) << fs_session.status().message();
    RunOptions opt;
    opt.exec.jobs = 2;
    auto r = RunFlows(**fs_session, opt);
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r->run.status, "succeeded");
    EXPECT_EQ(Current(**fs_session), current);
  }

  // A second run on the same in-memory catalog finds everything up to date:
  // the executor is given nothing, and the run records five up-to-date recipes.
  RunSummary again = Run(*s, fake);
  EXPECT_EQ(again.run.status, "succeeded");
  EXPECT_EQ(fake.executions(), 2);
  EXPECT_TRUE(fake.tasks().empty());
  EXPECT_EQ(fake.started().size(), 5u);
  EXPECT_EQ(again.up_to_date, 5);
  auto recs2 = *s->catalog().RecipeRuns(again.run.id);
  ASSERT_EQ(recs2.size(), 5u);
  for (const auto& r : recs2) EXPECT_EQ(r.status, "up_to_date") << r.recipe;
  EXPECT_EQ(Rec(recs2, "group_a").outputs.at("by_city"), current.at("by_city"));
}

TEST_F(ExecutorSeamTest, TasksCarryTheirRecipesAndTheDagSoTheOrderFollowsIt) {
  auto s = OpenInMemory(dir_.path());
  ASSERT_TRUE(s);
  FakeExecutor fake;
  RunSummary sum = Run(*s, fake);
  EXPECT_EQ(sum.run.status, "succeeded") << sum.run.error;
  // The tasks as the runner built them: names and dependencies by name.
  std::map<std::string, std::set<std::string>> deps;
  for (const auto& t : fake.tasks()) {
    std::set<std::string> d;
    for (int i : t.deps) d.insert(fake.tasks()[static_cast<size_t>(i)].name);
    deps[t.name] = d;
  }
  const std::map<std::string, std::set<std::string>> want = {{"f/collect_a", {}},
                                                             {"f/clean_a", {"f/collect_a"}},
                                                             {"f/group_a", {"f/clean_a"}},
                                                             {"f/collect_b", {}},
                                                             {"f/clean_b", {"f/collect_b"}}};
  EXPECT_EQ(deps, want);
  // The fake starts the last ready task first: one branch, then the other, each
  // in DAG order (tasks without their dependencies would start with the last
  // task given, whose input does not exist yet).
  EXPECT_EQ(fake.started(), (std::vector<std::string>{"f/collect_a", "f/clean_a", "f/group_a",
                                                      "f/collect_b", "f/clean_b"}));
  auto pos = [&](const std::string& name) {
    return std::find(fake.started().begin(), fake.started().end(), name) - fake.started().begin();
  };
  for (const auto& [task, ups] : want)
    for (const auto& up : ups) EXPECT_LT(pos(up), pos(task)) << up << " before " << task;
  EXPECT_EQ(fake.started().size(), 5u);
}

TEST_F(ExecutorSeamTest, AFailureSkipsItsDependentsButNotTheOtherBranchWithKeepGoing) {
  auto s = OpenInMemory(dir_.path());
  ASSERT_TRUE(s);
  FakeExecutor fake;
  fake.set_keep_going(true);
  fake.FailTask("f/clean_a", Status::Failed("disk on fire"));
  RunSummary sum = Run(*s, fake);
  EXPECT_EQ(sum.run.status, "failed");
  EXPECT_EQ(sum.run.error, "1 recipe(s) failed");
  EXPECT_EQ(sum.succeeded, 3);
  EXPECT_EQ(sum.failed, 1);
  EXPECT_EQ(sum.skipped, 1);
  // group_a was never asked to run; branch b ran to the end.
  const auto& started = fake.started();
  EXPECT_EQ(std::count(started.begin(), started.end(), "f/group_a"), 0);
  EXPECT_EQ(std::count(started.begin(), started.end(), "f/clean_b"), 1);

  auto recs = *s->catalog().RecipeRuns(sum.run.id);
  EXPECT_EQ(Rec(recs, "clean_a").status, "failed");
  EXPECT_EQ(Rec(recs, "clean_a").error, "disk on fire");
  EXPECT_TRUE(Rec(recs, "clean_a").outputs.empty());
  EXPECT_EQ(Rec(recs, "group_a").status, "skipped");
  EXPECT_EQ(Rec(recs, "group_a").error, "skipped: upstream task did not succeed");
  EXPECT_EQ(Rec(recs, "clean_b").status, "succeeded");
  // Only the successes published versions.
  std::set<std::string> published;
  for (const auto& v : Versions(*s, sum.run.id)) published.insert(v.dataset);
  EXPECT_EQ(published, (std::set<std::string>{"raw_a", "raw_b", "centres"}));
  const auto current = Current(*s);
  EXPECT_EQ(current.count("exams"), 0u);
  EXPECT_EQ(current.count("by_city"), 0u);
  EXPECT_FALSE(fs::exists(s->store().root() / "exams"));
  // A recipe state only for the successes: the next plan reruns clean_a and group_a.
  auto states = *s->catalog().RecipeStates(s->environment());
  EXPECT_EQ(states.count("f/clean_a"), 0u);
  EXPECT_EQ(states.count("f/collect_a"), 1u);
  FakeExecutor next;
  RunSummary again = Run(*s, next);
  EXPECT_EQ(again.run.status, "succeeded") << again.run.error;
  EXPECT_EQ(next.started(), (std::vector<std::string>{"f/clean_a", "f/group_a"}));
}

TEST_F(ExecutorSeamTest, WithoutKeepGoingAFailureStartsNothingMore) {
  auto s = OpenInMemory(dir_.path());
  ASSERT_TRUE(s);
  FakeExecutor fake;
  // The fake starts collect_a first (the last ready task): its failure stops all.
  fake.FailTask("f/collect_a", Status::Failed("no such file"));
  RunSummary sum = Run(*s, fake);
  EXPECT_EQ(sum.run.status, "failed");
  EXPECT_EQ(fake.started(), std::vector<std::string>{"f/collect_a"});
  EXPECT_EQ(sum.failed, 1);
  EXPECT_EQ(sum.skipped, 4);
  auto recs = *s->catalog().RecipeRuns(sum.run.id);
  EXPECT_EQ(Rec(recs, "collect_a").status, "failed");
  EXPECT_EQ(Rec(recs, "collect_b").status, "skipped");
  EXPECT_EQ(Rec(recs, "collect_b").error, "not started: an earlier recipe failed");
  EXPECT_EQ(Rec(recs, "collect_b").attempts, 0);
  EXPECT_EQ(Rec(recs, "clean_a").error, "skipped: upstream task did not succeed");
  EXPECT_TRUE(Versions(*s, sum.run.id).empty());
  EXPECT_TRUE(Current(*s).empty());
}

TEST_F(ExecutorSeamTest, AStopDuringARecipeCancelsItPublishesNothingOfItAndStartsNothingMore) {
  auto s = OpenInMemory(dir_.path());
  ASSERT_TRUE(s);
  FakeExecutor fake;
  // Order: branch a (collect, clean, group), then collect_b, stopped while it runs.
  fake.StopDuring("f/collect_b");
  RunSummary sum = Run(*s, fake);
  EXPECT_EQ(sum.run.status, "cancelled");
  EXPECT_EQ(sum.run.error, "stopped by the user");
  EXPECT_EQ(fake.started(),
            (std::vector<std::string>{"f/collect_a", "f/clean_a", "f/group_a", "f/collect_b"}));
  EXPECT_EQ(sum.succeeded, 3);
  EXPECT_EQ(sum.cancelled, 1);
  EXPECT_EQ(sum.skipped, 1);
  auto recs = *s->catalog().RecipeRuns(sum.run.id);
  // The real collect ran with its token set: what it staged was discarded.
  EXPECT_EQ(Rec(recs, "collect_b").status, "cancelled");
  EXPECT_TRUE(Rec(recs, "collect_b").outputs.empty());
  EXPECT_EQ(Rec(recs, "clean_b").status, "skipped");
  EXPECT_EQ(Rec(recs, "clean_b").error, "skipped: upstream task did not succeed");
  std::set<std::string> published;
  for (const auto& v : Versions(*s, sum.run.id)) published.insert(v.dataset);
  EXPECT_EQ(published, (std::set<std::string>{"raw_a", "exams", "by_city"}));
  EXPECT_FALSE(fs::exists(s->store().root() / "raw_b"));
  auto runs = *s->catalog().ListRuns(1);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].status, "cancelled");
}

TEST_F(ExecutorSeamTest, TimestampsComeFromTheRunsClock) {
  auto s = OpenInMemory(dir_.path());
  ASSERT_TRUE(s);
  ManualClock clock(Utc(2031, 5, 4, 10, 0, 0));
  FakeExecutor fake;
  fake.AdvanceClock(&clock, std::chrono::seconds(90));
  RunSummary sum = Run(*s, fake, &clock);
  ASSERT_EQ(sum.run.status, "succeeded") << sum.run.error;
  // Five recipes of 90 s each, one after the other (branch a first).
  EXPECT_EQ(sum.run.started_at, "2031-05-04T10:00:00.000Z");
  EXPECT_EQ(sum.run.finished_at, "2031-05-04T10:07:30.000Z");
  auto runs = *s->catalog().ListRuns(1);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].started_at, "2031-05-04T10:00:00.000Z");
  EXPECT_EQ(runs[0].finished_at, "2031-05-04T10:07:30.000Z");
  auto recs = *s->catalog().RecipeRuns(sum.run.id);
  EXPECT_EQ(Rec(recs, "collect_a").started_at, "2031-05-04T10:00:00.000Z");
  EXPECT_EQ(Rec(recs, "collect_a").finished_at, "2031-05-04T10:01:30.000Z");
  EXPECT_EQ(Rec(recs, "clean_a").started_at, "2031-05-04T10:01:30.000Z");
  EXPECT_EQ(Rec(recs, "group_a").finished_at, "2031-05-04T10:04:30.000Z");
  EXPECT_EQ(Rec(recs, "clean_b").started_at, "2031-05-04T10:06:00.000Z");
  EXPECT_EQ(Rec(recs, "clean_b").finished_at, "2031-05-04T10:07:30.000Z");
  EXPECT_DOUBLE_EQ(Rec(recs, "group_a").duration_ms, 90000);
  // The recipe's log lines carry the clock's time.
  EXPECT_EQ(Rec(recs, "clean_b").log.rfind("2031-05-04T10:06:00.000Z info ", 0), 0u)
      << Rec(recs, "clean_b").log;
  // A version's time is its recipe's end.
  int by_city = 0;
  for (const auto& v : Versions(*s, sum.run.id)) {
    if (v.dataset != "by_city") continue;
    ++by_city;
    EXPECT_EQ(v.created_at, "2031-05-04T10:04:30.000Z");
  }
  EXPECT_EQ(by_city, 1);
}

TEST(ExecutorSeamCatalogTest, InMemoryCatalogsAreMigratedSeparateAndHaveNoOtherConnection) {
  auto a = Catalog::OpenInMemory();
  auto b = Catalog::OpenInMemory();
  ASSERT_TRUE(a.ok()) << a.status().message();
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_EQ((*a)->schema_version(), kCatalogSchemaVersion);
  RunRecord run;
  run.id = "r1";
  run.flows = "f";
  run.environment = "datalab";
  run.status = "running";
  run.started_at = "2031-01-01T00:00:00.000Z";
  ASSERT_TRUE((*a)->BeginRun(run).ok());
  EXPECT_EQ((*a)->ListRuns(10)->size(), 1u);
  EXPECT_TRUE((*b)->ListRuns(10)->empty());
  auto reader = (*a)->OpenReader();
  EXPECT_FALSE(reader.ok());
}

TEST_F(ExecutorSeamTest, AnInMemorySessionIgnoresTheCatalogFileOnDisk) {
  // A file catalog with one run, made by a normal session.
  {
    auto fs_session = Session::Open(dir_.path(), "", testing::BuiltinKinds());
    ASSERT_TRUE(fs_session.ok()) << fs_session.status().message();
    RunOptions opt;
    opt.exec.jobs = 1;
    ASSERT_TRUE(RunFlows(**fs_session, opt).ok());
  }
  const auto file = dir_.path() / ".alambic" / "catalog.db";
  ASSERT_TRUE(fs::exists(file));
  const auto before = fs::last_write_time(file);
  auto s = OpenInMemory(dir_.path());
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->catalog().ListRuns(10)->empty());
  // Its plan starts from nothing: every recipe runs again.
  FakeExecutor fake;
  RunSummary sum = Run(*s, fake);
  EXPECT_EQ(sum.run.status, "succeeded") << sum.run.error;
  EXPECT_EQ(fake.started().size(), 5u);
  EXPECT_EQ(fs::last_write_time(file), before);
}

}  // namespace
}  // namespace alambic::executor_seam_test
