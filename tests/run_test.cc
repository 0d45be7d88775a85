// Running flows end to end through a Session: real store, real catalog, the
// local executor, with test kinds that count, fail, hang or flake.
#include "core/exec/run.h"

#include <csignal>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include <SQLiteCpp/SQLiteCpp.h>

#include "core/exec/run_record.h"
#include "core/flow/loader.h"
#include "recipes/builtin_kinds.h"
#include "tests/test_util.h"

namespace alambic::run_test {
namespace {

using testing::TempDir;
using testing::WriteFile;

Table IntTable(const std::string& col, const std::vector<int64_t>& values) {
  ColumnBuilder b(TypeId::kInt64);
  for (auto v : values) b.AppendInt64(v);
  return *Table::Make(Schema{{{col, TypeId::kInt64}}}, {b.Finish()});
}

// Source: rows 1..n; fingerprint from its param so the test controls staleness.
class GenKind final : public RecipeKind {
 public:
  std::string name() const override { return "gen"; }
  const std::vector<ParamSpec>& params() const override {
    static const std::vector<ParamSpec> k = {{"n", ParamType::kInt, true, ""}};
    return k;
  }
  bool is_source() const override { return true; }
  Result<std::string> SourceFingerprint(const RecipeContext& ctx) const override {
    return "n=" + std::to_string((*ctx.params)["n"].get<int64_t>());
  }
  Result<RecipeOutput> Run(RecipeContext& ctx) const override {
    std::vector<int64_t> v;
    for (int64_t i = 1; i <= (*ctx.params)["n"].get<int64_t>(); ++i) v.push_back(i);
    RecipeOutput out;
    out.tables.push_back(IntTable("x", v));
    return out;
  }
};

// x -> x * factor. Param "fail_first": fail while a counter file in the
// workspace holds fewer attempts. Param "fail": always fail. Param "sleep_ms".
class MulKind final : public RecipeKind {
 public:
  std::string name() const override { return "mul"; }
  const std::vector<ParamSpec>& params() const override {
    static const std::vector<ParamSpec> k = {{"factor", ParamType::kInt, true, ""},
                                             {"fail_first", ParamType::kInt, false, ""},
                                             {"fail", ParamType::kBool, false, ""},
                                             {"sleep_ms", ParamType::kInt, false, ""},
                                             {"stubborn_first_ms", ParamType::kInt, false, ""},
                                             {"log_mb", ParamType::kInt, false, ""}};
    return k;
  }
  Result<RecipeOutput> Run(RecipeContext& ctx) const override {
    const auto& p = *ctx.params;
    for (int i = 0; i < p.value("log_mb", 0); ++i) ctx.log->Info(std::string(1 << 20, 'z'));
    if (p.value("fail", false))
      return Status::Invalid("recipe " + ctx.recipe + ": column 'x' is broken at row 2");
    if (int n = p.value("fail_first", 0); n > 0) {
      auto counter = ctx.workspace / ("attempts-" + ctx.recipe);
      int seen = 0;
      std::ifstream(counter) >> seen;
      std::ofstream(counter) << seen + 1;
      if (seen < n) return Status::Failed("transient failure " + std::to_string(seen + 1));
    }
    // First attempt only: sleep without looking at cancellation, then return a
    // wrong answer (x * factor * 100) that must never be published.
    int64_t factor = p["factor"].get<int64_t>();
    if (int ms = p.value("stubborn_first_ms", 0); ms > 0) {
      auto counter = ctx.workspace / ("stubborn-" + ctx.recipe);
      if (!std::filesystem::exists(counter)) {
        std::ofstream(counter) << 1;
        std::this_thread::sleep_for(std::chrono::milliseconds(ms));
        factor *= 100;
      }
    }
    // A file tells a test that this recipe is running (and so the run's signal handling is on).
    if (p.value("sleep_ms", 0) > 0) std::ofstream(ctx.workspace / ("sleeping-" + ctx.recipe)) << 1;
    for (int i = 0; i < p.value("sleep_ms", 0); ++i) {
      if (ctx.cancel->cancelled()) return ctx.cancel->AsStatus();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    const Column& x = *ctx.inputs.at(0).table->column(0);
    std::vector<int64_t> v;
    for (int64_t i = 0; i < x.length; ++i) v.push_back(x.Int64(i) * factor);
    ctx.log->Info("multiplied " + std::to_string(v.size()) + " rows");
    RecipeOutput out;
    out.tables.push_back(IntTable("x", v));
    return out;
  }
};

const RecipeRegistry& Kinds() {
  static RecipeRegistry* r = [] {
    auto* reg = new RecipeRegistry();
    EXPECT_TRUE(reg->Register(std::make_unique<GenKind>()).ok());
    EXPECT_TRUE(reg->Register(std::make_unique<MulKind>()).ok());
    EXPECT_TRUE(RegisterCheckKind(*reg).ok());
    return reg;
  }();
  return *r;
}

class RunTest : public ::testing::Test {
 protected:
  void SetUp() override { WriteFile(dir_.path() / "alambic.yaml", "name: t\n"); }
  void Flow(const std::string& yaml) { WriteFile(dir_.path() / "flows/f.yaml", yaml); }
  std::unique_ptr<Session> Open() {
    auto s = Session::Open(dir_.path(), "", Kinds());
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() ? std::move(*s) : nullptr;
  }
  RunSummary Run(RunOptions opt = {}) {
    auto s = Open();
    if (opt.exec.jobs == 0) opt.exec.jobs = 2;
    auto r = RunFlows(*s, opt);
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? *r : RunSummary{};
  }
  std::vector<int64_t> Read(const std::string& dataset) {
    auto s = Open();
    auto cur = *s->catalog().CurrentVersions(s->environment());
    for (const auto& c : cur)
      if (c.dataset == dataset) {
        auto t = s->store().Read(dataset, c.version_id);
        EXPECT_TRUE(t.ok()) << t.status().message();
        std::vector<int64_t> v;
        for (int64_t i = 0; i < t->num_rows(); ++i) v.push_back(t->column(0)->Int64(i));
        return v;
      }
    return {};
  }
  const RecipeRunRecord& Rec(const RunSummary& s, const std::string& recipe) {
    for (const auto& r : s.recipes)
      if (r.recipe == recipe) return r;
    throw std::runtime_error("no recipe run " + recipe);
  }
  TempDir dir_;
};

constexpr const char* kChain = R"(flow: f
recipes:
  - {name: g, kind: gen, outputs: [a], params: {n: 3}}
  - {name: m2, kind: mul, inputs: [a], outputs: [b], params: {factor: 2}}
  - {name: m10, kind: mul, inputs: [b], outputs: [c], params: {factor: 10}}
  - {name: side, kind: mul, inputs: [a], outputs: [d], params: {factor: -1}}
)";

TEST_F(RunTest, BuildsPublishesAndRecordsThenNothingOnSecondRun) {
  Flow(kChain);
  RunSummary s = Run();
  EXPECT_EQ(s.run.status, "succeeded");
  EXPECT_EQ(s.succeeded, 4);
  EXPECT_EQ(Read("c"), (std::vector<int64_t>{20, 40, 60}));
  EXPECT_EQ(Read("d"), (std::vector<int64_t>{-1, -2, -3}));
  EXPECT_EQ(Rec(s, "m10").rows_in, 3);
  EXPECT_EQ(Rec(s, "m10").rows_out, 3);
  EXPECT_GT(Rec(s, "m10").bytes_out, 0);
  EXPECT_NE(Rec(s, "m2").log.find("multiplied 3 rows"), std::string::npos);
  EXPECT_EQ(Rec(s, "g").reason, "never built");

  RunSummary again = Run();
  EXPECT_EQ(again.run.status, "succeeded");
  EXPECT_EQ(again.succeeded, 0);
  EXPECT_EQ(again.up_to_date, 4);
  EXPECT_TRUE(again.recipes.empty());

  auto session = Open();
  auto runs = *session->catalog().ListRuns(10);
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[1].id, s.run.id);
  EXPECT_EQ(*session->catalog().IntegrityCheck(), "ok");
  // Every version file is an ordinary file at its documented path.
  auto current = *session->catalog().CurrentVersions("datalab");
  for (const auto& c : current)
    EXPECT_TRUE(
        std::filesystem::exists(session->store().root() / c.dataset / (c.version_id + ".arrow")));
}

// Recipe runs record their output versions: those published, or those found up to date.
TEST_F(RunTest, RecipeRunsRecordPublishedAndUpToDateOutputs) {
  Flow(kChain);
  RunSummary s = Run();
  auto session = Open();
  Catalog& cat = session->catalog();
  std::map<std::string, std::string> current;
  const auto current_list = cat.CurrentVersions("datalab");
  for (const auto& c : *current_list) current[c.dataset] = c.version_id;
  ASSERT_EQ(current.size(), 4u);
  const std::map<std::string, std::string> output_of = {
      {"g", "a"}, {"m2", "b"}, {"m10", "c"}, {"side", "d"}};
  auto first = *cat.RecipeRuns(s.run.id);
  ASSERT_EQ(first.size(), 4u);
  for (const auto& r : first) {
    EXPECT_EQ(r.status, "succeeded") << r.recipe;
    const std::string& ds = output_of.at(r.recipe);
    EXPECT_EQ(r.outputs, (std::map<std::string, std::string>{{ds, current.at(ds)}})) << r.recipe;
  }
  EXPECT_EQ(Rec(s, "m2").outputs, (std::map<std::string, std::string>{{"b", current.at("b")}}));

  RunSummary again = Run();
  EXPECT_TRUE(again.recipes.empty());  // the summary lists what ran or was due to
  auto second = *cat.RecipeRuns(again.run.id);
  ASSERT_EQ(second.size(), 4u);
  for (const auto& r : second) {
    EXPECT_EQ(r.status, "up_to_date") << r.recipe;
    EXPECT_EQ(r.attempts, 0);
    EXPECT_EQ(r.reason, "up to date");
    const std::string& ds = output_of.at(r.recipe);
    EXPECT_EQ(r.outputs, (std::map<std::string, std::string>{{ds, current.at(ds)}})) << r.recipe;
    if (r.recipe == "m10") {
      EXPECT_EQ(r.inputs, (std::map<std::string, std::string>{{"b", current.at("b")}}));
    }
  }

  // One recipe changed: it publishes a new version, the others are up to date.
  std::string changed = kChain;
  changed.replace(changed.find("factor: 10"), 10, "factor: 100");
  Flow(changed);
  RunSummary third = Run();
  std::map<std::string, RecipeRunRecord> by_recipe;
  const auto third_runs = cat.RecipeRuns(third.run.id);
  for (const auto& r : *third_runs) by_recipe[r.recipe] = r;
  ASSERT_EQ(by_recipe.size(), 4u);
  EXPECT_EQ(by_recipe["m10"].status, "succeeded");
  const std::string new_c = by_recipe["m10"].outputs.at("c");
  EXPECT_NE(new_c, current.at("c"));
  EXPECT_EQ(cat.CurrentVersionIds("datalab")->at("c"), new_c);
  EXPECT_EQ(by_recipe["m2"].status, "up_to_date");
  EXPECT_EQ(by_recipe["m2"].outputs.at("b"), current.at("b"));
  // What `log` and OpenLineage read: up-to-date recipes never started.
  EXPECT_EQ(by_recipe["m2"].started_at, "");
}

// An up-to-date recipe run carries the metrics of the recipe run that built its
// versions: a check's results stay readable from the latest run.
TEST_F(RunTest, AnUpToDateRecipeRunCarriesTheMetricsOfItsBuild) {
  Flow(R"(flow: f
recipes:
  - {name: g, kind: gen, outputs: [a], params: {n: 3}}
  - name: quality
    kind: check
    inputs: [a]
    outputs: [a_checked]
    params: {checks: [{row_count: {min: 1}}]}
)");
  RunSummary s = Run();
  ASSERT_EQ(s.run.status, "succeeded");
  const nlohmann::json built = Rec(s, "quality").metrics;
  ASSERT_TRUE(built.contains("checks")) << built.dump();
  RunSummary again = Run();
  auto recs = *Open()->catalog().RecipeRuns(again.run.id);
  ASSERT_EQ(recs.size(), 2u);
  for (const auto& r : recs) {
    EXPECT_EQ(r.status, "up_to_date");
    if (r.recipe == "quality") {
      EXPECT_EQ(r.metrics, built);
    }
  }
}

TEST_F(RunTest, EachRunIsAuditedWithItsReleaseTriggerAndCounts) {
  Flow(kChain);
  RunOptions opt;
  opt.release = "f/2";
  opt.trigger = "promotion";
  RunSummary s = Run(opt);
  RunSummary again = Run();
  std::string broken = kChain;
  broken.replace(broken.find("factor: 10"), 10, "factor: 10, fail: true");
  Flow(broken);
  RunSummary failed = Run();
  ASSERT_EQ(failed.run.status, "failed");

  auto session = Open();
  Catalog& cat = session->catalog();
  auto runs = *cat.ListRuns(10);
  ASSERT_EQ(runs.size(), 3u);
  EXPECT_EQ(runs[2].release, "f/2");
  EXPECT_EQ(runs[1].release, "");
  auto audit = *cat.ReadAudit({.action = "run"});
  ASSERT_EQ(audit.size(), 3u);
  const AuditEntry& e = audit[0];
  EXPECT_EQ(e.target, s.run.id);
  EXPECT_EQ(e.outcome, "succeeded");
  EXPECT_EQ(e.environment, "datalab");
  EXPECT_EQ(e.flow, "f");
  EXPECT_EQ(e.user, s.run.user);
  EXPECT_EQ(e.host, s.run.host);
  EXPECT_FALSE(e.user.empty());
  EXPECT_EQ(e.detail["release"], "f/2");
  EXPECT_EQ(e.detail["trigger"], "promotion");
  EXPECT_EQ(e.detail["commit"], "");  // not a git repository
  EXPECT_EQ(e.detail["dirty"], false);
  EXPECT_EQ(
      e.detail["recipes"],
      (nlohmann::json{
          {"succeeded", 4}, {"failed", 0}, {"cancelled", 0}, {"skipped", 0}, {"up_to_date", 0}}));
  EXPECT_EQ(audit[1].target, again.run.id);
  EXPECT_EQ(audit[1].detail["recipes"]["up_to_date"], 4);
  EXPECT_EQ(audit[1].detail["release"], "");
  EXPECT_EQ(audit[2].target, failed.run.id);
  EXPECT_EQ(audit[2].outcome, "failed");
  EXPECT_EQ(audit[2].detail["error"], "1 recipe(s) failed");
  EXPECT_EQ(audit[2].detail["recipes"]["failed"], 1);
  // No secret is named by these flows.
  EXPECT_TRUE(cat.ReadAudit({.action = "secret.use"})->empty());
  EXPECT_TRUE(cat.VerifyAudit().ok());
}

TEST_F(RunTest, ParamChangeRebuildsOnlyDownstream) {
  Flow(kChain);
  Run();
  std::string changed = kChain;
  changed.replace(changed.find("factor: 10"), 10, "factor: 100");
  Flow(changed);
  RunSummary s = Run();
  ASSERT_EQ(s.recipes.size(), 1u);
  EXPECT_EQ(s.recipes[0].recipe, "m10");
  EXPECT_EQ(s.recipes[0].reason, "params changed");
  EXPECT_EQ(Read("c"), (std::vector<int64_t>{200, 400, 600}));
}

TEST_F(RunTest, RevertedParamsMakeTheEarlierVersionCurrentWithoutRunning) {
  Flow(kChain);
  Run();
  std::string changed = kChain;
  changed.replace(changed.find("factor: 10"), 10, "factor: 100");
  Flow(changed);
  Run();
  EXPECT_EQ(Read("c"), (std::vector<int64_t>{200, 400, 600}));
  Flow(kChain);
  RunSummary back = Run();
  EXPECT_EQ(back.succeeded, 0);
  EXPECT_EQ(back.up_to_date, 4);
  EXPECT_EQ(Read("c"), (std::vector<int64_t>{20, 40, 60}));
  // The recipe's last build is the restored one, so the plan says plainly "up to date".
  auto plan = Open()->MakePlan({});
  ASSERT_TRUE(plan.ok());
  for (const auto& rp : plan->recipes) EXPECT_EQ(rp.explanation, "up to date");
}

TEST_F(RunTest, RetriesWithBackoffThenSucceeds) {
  Flow(R"(flow: f
retry_backoff: 0.01
recipes:
  - {name: g, kind: gen, outputs: [a], params: {n: 2}}
  - {name: flaky, kind: mul, inputs: [a], outputs: [b], retries: 2, params: {factor: 3, fail_first: 2}}
)");
  RunSummary s = Run();
  EXPECT_EQ(s.run.status, "succeeded");
  EXPECT_EQ(Rec(s, "flaky").attempts, 3);
  EXPECT_NE(Rec(s, "flaky").log.find("attempt 1 failed: transient failure 1; retrying in 0.01s"),
            std::string::npos)
      << Rec(s, "flaky").log;
  EXPECT_EQ(Read("b"), (std::vector<int64_t>{3, 6}));
}

TEST_F(RunTest, FailureSkipsDownstreamAndKeepsPublishedVersions) {
  Flow(kChain);
  Run();
  std::string broken = kChain;
  broken.replace(broken.find("factor: 2}"), 10, "factor: 5, fail: true}");
  Flow(broken);
  RunSummary s = Run();
  EXPECT_EQ(s.run.status, "failed");
  EXPECT_EQ(Rec(s, "m2").status, "failed");
  EXPECT_EQ(Rec(s, "m2").error, "recipe m2: column 'x' is broken at row 2");
  EXPECT_EQ(Rec(s, "m10").status, "skipped");
  EXPECT_EQ(Read("c"),
            (std::vector<int64_t>{20, 40, 60}));  // the previous version is still current
}

TEST_F(RunTest, FailedCheckResultsAreRecordedInTheCatalog) {
  Flow(R"(flow: f
recipes:
  - {name: g, kind: gen, outputs: [a], params: {n: 3}}
  - name: quality
    kind: check
    inputs: [a]
    outputs: [a_checked]
    params:
      checks:
        - {row_count: {min: 1}}
        - {range: {column: x, max: 2}}
)");
  RunSummary s = Run();
  EXPECT_EQ(s.run.status, "failed");
  EXPECT_EQ(Rec(s, "quality").status, "failed");
  EXPECT_EQ(Rec(s, "quality").error,
            "recipe quality: check 'range(x)' failed: column 'x': 1 of 3 rows fail (row 3: 3)");

  // Read back from the catalog, as `alambic log RUN quality` does.
  auto session = Open();
  auto recs = session->catalog().RecipeRuns(s.run.id);
  ASSERT_TRUE(recs.ok()) << recs.status().message();
  const RecipeRunRecord* quality = nullptr;
  for (const auto& r : *recs)
    if (r.recipe == "quality") quality = &r;
  ASSERT_NE(quality, nullptr);
  EXPECT_EQ(quality->status, "failed");
  EXPECT_EQ(quality->rows_in, 3);
  const nlohmann::json& m = quality->metrics;
  ASSERT_TRUE(m.contains("checks")) << m.dump();
  EXPECT_EQ(m["rows"], 3);
  ASSERT_EQ(m["checks"].size(), 2u);
  EXPECT_EQ(m["checks"][0]["name"], "row_count");
  EXPECT_EQ(m["checks"][0]["passed"], true);
  EXPECT_EQ(m["checks"][1]["name"], "range(x)");
  EXPECT_EQ(m["checks"][1]["passed"], false);
  EXPECT_EQ(m["checks"][1]["failing_rows"], 1);
  EXPECT_EQ(m["checks"][1]["examples"][0]["row"], 3);
  // Nothing was published for the failed check.
  EXPECT_TRUE(Read("a_checked").empty());
}

TEST_F(RunTest, FailFastVersusKeepGoing) {
  Flow(R"(flow: f
recipes:
  - {name: g, kind: gen, outputs: [a], params: {n: 1}}
  - {name: bad, kind: mul, inputs: [a], outputs: [b], params: {factor: 1, fail: true}}
  - {name: slow, kind: mul, inputs: [a], outputs: [c], params: {factor: 1, sleep_ms: 200}}
  - {name: after_slow, kind: mul, inputs: [c], outputs: [d], params: {factor: 1}}
)");
  RunSummary fast = Run();
  EXPECT_EQ(fast.run.status, "failed");
  EXPECT_EQ(Rec(fast, "slow").status, "succeeded");  // was running: allowed to finish and published
  EXPECT_EQ(Rec(fast, "after_slow").status, "skipped");

  RunOptions keep;
  keep.exec.keep_going = true;
  RunSummary kg = Run(keep);
  EXPECT_EQ(kg.run.status, "failed");
  EXPECT_EQ(Rec(kg, "after_slow").status, "succeeded");
  EXPECT_EQ(Read("d"), (std::vector<int64_t>{1}));
}

TEST_F(RunTest, TimeoutIsRecorded) {
  Flow(R"(flow: f
recipes:
  - {name: g, kind: gen, outputs: [a], params: {n: 1}}
  - {name: hang, kind: mul, inputs: [a], outputs: [b], timeout: 0.1, params: {factor: 1, sleep_ms: 20000}}
)");
  auto start = std::chrono::steady_clock::now();
  RunSummary s = Run();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_EQ(s.run.status, "failed");
  EXPECT_EQ(Rec(s, "hang").status, "timed_out");
  EXPECT_EQ(Rec(s, "hang").error, "timed out after 0.1s");
  EXPECT_TRUE(Read("b").empty());
}

TEST_F(RunTest, AnAttemptThatOutlivesItsTimeoutNeverPublishes) {
  // Attempt 1 ignores cancellation and finishes after attempt 2 has succeeded;
  // only attempt 2's output may be published, and nothing stays staged.
  Flow(R"(flow: f
retry_backoff: 0.01
recipes:
  - {name: g, kind: gen, outputs: [a], params: {n: 2}}
  - {name: slow, kind: mul, inputs: [a], outputs: [b], timeout: 0.2, retries: 1, params: {factor: 3, stubborn_first_ms: 900}}
)");
  RunSummary s = Run();
  EXPECT_EQ(s.run.status, "succeeded");
  EXPECT_EQ(Rec(s, "slow").attempts, 2);
  EXPECT_EQ(Read("b"), (std::vector<int64_t>{3, 6}));
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir_.path() / ".alambic"))
    EXPECT_FALSE(e.is_regular_file() && e.path().extension() == ".tmp") << e.path();
}

TEST_F(RunTest, CtrlCCancelsRunningRecipesAndRecordsThem) {
  Flow(R"(flow: f
recipes:
  - {name: g, kind: gen, outputs: [a], params: {n: 1}}
  - {name: long1, kind: mul, inputs: [a], outputs: [b], params: {factor: 1, sleep_ms: 20000}}
  - {name: long2, kind: mul, inputs: [a], outputs: [c], params: {factor: 2, sleep_ms: 20000}}
  - {name: later, kind: mul, inputs: [b], outputs: [d], params: {factor: 1}}
)");
  // SIGINT once both long recipes run: a fixed delay could end the process before the run
  // handles signals, on a loaded machine or under a sanitizer.
  std::thread interrupter([ws = dir_.path()] {
    for (int i = 0; i < 60000 && !(std::filesystem::exists(ws / "sleeping-long1") &&
                                   std::filesystem::exists(ws / "sleeping-long2"));
         ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    ::kill(::getpid(), SIGINT);
  });
  RunOptions opt;
  opt.exec.handle_signals = true;
  RunSummary s = Run(opt);
  interrupter.join();
  EXPECT_EQ(s.run.status, "cancelled");
  EXPECT_EQ(Rec(s, "g").status, "succeeded");
  EXPECT_EQ(Rec(s, "long1").status, "cancelled");
  EXPECT_EQ(Rec(s, "long2").status, "cancelled");
  EXPECT_EQ(Rec(s, "later").status, "skipped");
  auto session = Open();
  auto recs = *session->catalog().RecipeRuns(s.run.id);
  EXPECT_EQ(recs.size(), 4u);
  EXPECT_EQ(session->catalog().FindRun(s.run.id)->status, "cancelled");
  // Nothing half-written is left behind.
  EXPECT_EQ(session->store().CleanTemporaries(), 0);
}

TEST_F(RunTest, SecondConcurrentRunIsRefused) {
  Flow(R"(flow: f
recipes:
  - {name: g, kind: gen, outputs: [a], params: {n: 1}}
  - {name: slow, kind: mul, inputs: [a], outputs: [b], params: {factor: 1, sleep_ms: 500}}
)");
  std::thread first([&] { Run(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  auto s = Open();
  auto r = RunFlows(*s, {});
  first.join();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "another alambic run or gc is in progress in this workspace (it holds the lock on "
            ".alambic)");
}

// A run told to wait for the lock (the scheduler's) waits while another holds it, says so
// once, and runs when it is released.
TEST_F(RunTest, ARunThatMayWaitForTheLockRunsOnceItIsReleased) {
  Flow(kChain);
  auto held = WorkspaceLock::Acquire(dir_.path() / ".alambic");
  ASSERT_TRUE(held.ok()) << held.status().message();
  std::mutex mu;
  std::vector<std::string> told;
  RunOptions opt;
  opt.wait_for_lock = true;
  opt.lock_waiting = [&](const std::string& m) {
    std::lock_guard lock(mu);
    told.push_back(m);
  };
  auto s = Open();
  auto waiting = std::async(std::launch::async, [&] { return RunFlows(*s, opt); });
  EXPECT_EQ(waiting.wait_for(std::chrono::milliseconds(400)), std::future_status::timeout);
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(told, std::vector<std::string>{
                        "another alambic run or gc is in progress in this workspace (it holds the "
                        "lock on .alambic): waiting for it"});
  }
  held->reset();
  auto r = waiting.get();
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->run.status, "succeeded");
  EXPECT_EQ(told.size(), 1u);
}

// Cancelled while it waits: no run is recorded, and the status says what it waited for.
TEST_F(RunTest, ARunCancelledWhileWaitingForTheLockRecordsNothing) {
  Flow(kChain);
  auto held = WorkspaceLock::Acquire(dir_.path() / ".alambic");
  ASSERT_TRUE(held.ok()) << held.status().message();
  CancelToken stop;
  RunOptions opt;
  opt.wait_for_lock = true;
  opt.exec.stop = &stop;
  auto s = Open();
  auto waiting = std::async(std::launch::async, [&] { return RunFlows(*s, opt); });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  stop.Cancel(StatusCode::kTimedOut);
  auto r = waiting.get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTimedOut);
  EXPECT_EQ(r.status().message(),
            "timed out while waiting for the workspace's lock (another alambic run or gc held "
            "it)");
  EXPECT_TRUE(s->catalog().ListRuns(10)->empty());
}

// The lock cannot be lifted by deleting or replacing a file under .alambic.
TEST_F(RunTest, SecondRunIsRefusedEvenWhenTheLockFileIsDeleted) {
  Flow(R"(flow: f
recipes:
  - {name: g, kind: gen, outputs: [a], params: {n: 1}}
  - {name: slow, kind: mul, inputs: [a], outputs: [b], params: {factor: 1, sleep_ms: 600}}
)");
  std::thread first([&] { Run(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  std::error_code ec;
  std::filesystem::remove(dir_.path() / ".alambic" / "lock", ec);
  WriteFile(dir_.path() / ".alambic" / "lock", "");
  auto s = Open();
  auto r = RunFlows(*s, {});
  first.join();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "another alambic run or gc is in progress in this workspace (it holds the lock on "
            ".alambic)");
}

// A run whose process died stays `running` in the catalog until the next run takes
// the lock: it is then `abandoned`, with when and why.
TEST_F(RunTest, RunsLeftRunningAreMarkedAbandonedByTheNextRun) {
  Flow(kChain);
  {
    auto s = Open();
    RunRecord dead;
    dead.id = "00000000-dead-0000-0000-000000000001";
    dead.flows = "f";
    dead.status = "running";
    dead.started_at = "2026-01-01T00:00:00Z";
    ASSERT_TRUE(s->catalog().BeginRun(dead).ok());
  }
  RunSummary s = Run();
  EXPECT_EQ(s.run.status, "succeeded");
  auto session = Open();
  auto dead = session->catalog().FindRun("00000000-dead-0000-0000-000000000001");
  ASSERT_TRUE(dead.ok()) << dead.status().message();
  EXPECT_EQ(dead->status, "abandoned");
  EXPECT_FALSE(dead->finished_at.empty());
  EXPECT_GE(dead->finished_at, s.run.started_at.substr(0, 10));
  EXPECT_NE(dead->error.find("its process ended without finishing the run"), std::string::npos)
      << dead->error;
  EXPECT_EQ(session->catalog().FindRun(s.run.id)->status, "succeeded");
}

// A recipe whose outputs cannot be committed failed, in the summary, the run and the
// catalog, though the kind returned; none of its versions becomes current.
TEST_F(RunTest, AFailedCommitIsAFailedRun) {
  Flow(R"(flow: f
recipes:
  - {name: g, kind: gen, outputs: [a], params: {n: 2}}
)");
  {
    auto s = Open();
    ASSERT_NE(s, nullptr);
  }
  {
    SQLite::Database db((dir_.path() / ".alambic" / "catalog.db").string(), SQLite::OPEN_READWRITE);
    db.exec(
        "CREATE TRIGGER refuse BEFORE INSERT ON dataset_versions "
        "BEGIN SELECT RAISE(ABORT, 'string or blob too big'); END");
  }
  RunSummary s = Run();
  EXPECT_EQ(s.succeeded, 0);
  EXPECT_EQ(s.failed, 1);
  EXPECT_EQ(s.run.status, "failed");
  EXPECT_NE(s.run.error.find("string or blob too big"), std::string::npos) << s.run.error;
  EXPECT_EQ(Rec(s, "g").status, "failed");
  auto session = Open();
  EXPECT_EQ(session->catalog().FindRun(s.run.id)->status, "failed");
  auto recs = *session->catalog().RecipeRuns(s.run.id);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].status, "failed");
  EXPECT_TRUE(recs[0].outputs.empty());
  EXPECT_TRUE(session->catalog().CurrentVersions(session->environment())->empty());
}

// A recipe's log is bounded: what passes the bound is dropped, with a note.
TEST_F(RunTest, ARecipeLogIsBoundedWithANote) {
  Flow(R"(flow: f
recipes:
  - {name: g, kind: gen, outputs: [a], params: {n: 1}}
  - {name: loud, kind: mul, inputs: [a], outputs: [b], params: {factor: 1, log_mb: 12}}
)");
  RunSummary s = Run();
  EXPECT_EQ(s.run.status, "succeeded");
  const std::string& log = Rec(s, "loud").log;
  EXPECT_LT(log.size(), size_t{5} << 20);
  EXPECT_GT(log.size(), size_t{3} << 20);
  EXPECT_NE(log.find("log truncated: the recipe wrote more than 4 MB of log"), std::string::npos);
  auto session = Open();
  auto recs = session->catalog().RecipeRuns(s.run.id);
  ASSERT_TRUE(recs.ok());
  for (const auto& r : *recs) {
    if (r.recipe == "loud") {
      EXPECT_EQ(r.log, log);
    }
  }
}

// The real kinds: a pseudonymisation key's fingerprint is part of the version.
class SecretVersionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteFile(dir_.path() / "alambic.yaml",
              "name: t\nsecrets:\n  pseudo_key: {file: keys/pseudo_key}\n");
    WriteFile(dir_.path() / "data/people.csv", "id;name\nK001;Zoé\nK002;Marc\n");
    WriteFile(dir_.path() / "flows/f.yaml", R"(flow: f
recipes:
  - {name: collect, kind: collect, outputs: [raw], params: {path: data/people.csv}}
  - name: clean
    kind: clean
    inputs: [raw]
    outputs: [people]
    params: {steps: [{pseudonymise: [id], key: "secret:pseudo_key"}]}
  - {name: after, kind: sql, inputs: [people], outputs: [n], params: {query: "select count(*) as n from people"}}
)");
  }
  std::unique_ptr<Session> Open() {
    auto s = Session::Open(dir_.path(), "", alambic::testing::BuiltinKinds());
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() ? std::move(*s) : nullptr;
  }
  // Explanation per recipe of a fresh plan.
  std::map<std::string, std::string> Plan() {
    auto s = Open();
    auto plan = s->MakePlan({});
    EXPECT_TRUE(plan.ok()) << plan.status().message();
    std::map<std::string, std::string> out;
    if (plan.ok())
      for (const auto& rp : plan->recipes)
        out[s->graph().node(rp.node).recipe->name] = rp.explanation;
    return out;
  }
  RunSummary Run() {
    auto s = Open();
    RunOptions opt;
    opt.exec.jobs = 2;
    auto r = RunFlows(*s, opt);
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? *r : RunSummary{};
  }
  // The key file, private as secret files must be.
  void WriteKey(const std::string& content) {
    WriteFile(dir_.path() / "keys/pseudo_key", content);
    std::filesystem::permissions(
        dir_.path() / "keys/pseudo_key",
        std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  }
  // Whether `needle` occurs in any file under .alambic/ (catalog, WAL, store, logs).
  bool InState(const std::string& needle) {
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir_.path() / ".alambic"))
      if (e.is_regular_file() && testing::ReadFile(e.path()).find(needle) != std::string::npos)
        return true;
    return false;
  }
  TempDir dir_;
};

TEST_F(SecretVersionTest, ANewKeyMakesThePseudonymisingRecipeStale) {
  const std::string key1 = "first-key-0123456789abcdef-SECRET";
  const std::string key2 = "second-key-0123456789abcdef-SECRET";
  WriteKey(key1 + "\n");
  RunSummary first = Run();
  ASSERT_EQ(first.run.status, "succeeded");
  EXPECT_EQ(first.succeeded, 3);
  auto up = Plan();
  EXPECT_EQ(up["clean"], "up to date");

  WriteKey(key2 + "\n");
  auto stale = Plan();
  EXPECT_EQ(stale["collect"], "up to date");
  EXPECT_EQ(stale["clean"], "secret pseudo_key changed");
  EXPECT_EQ(stale["after"], "upstream will change (clean rebuilds people)");
  RunSummary second = Run();
  EXPECT_EQ(second.succeeded, 2);  // clean, then after
  EXPECT_EQ(Plan()["clean"], "up to date");

  // Back to the first key: its versions are still in the store, nothing runs.
  WriteKey(key1 + "\n");
  auto back = Plan();
  EXPECT_EQ(back["clean"], "up to date (this version was built before)");

  // The key went nowhere: not in the catalog, its WAL, the store or the logs.
  EXPECT_FALSE(InState(key1));
  EXPECT_FALSE(InState(key2));
  for (const auto& r : first.recipes) EXPECT_EQ(r.log.find(key1), std::string::npos) << r.recipe;
}

// A run audits the secrets its recipes to run name, by name: never the value.
TEST_F(SecretVersionTest, TheSecretsOfTheRecipesToRunAreAuditedByNameOnly) {
  const std::string key = "audited-key-0123456789abcdef-SECRET";
  WriteKey(key + "\n");
  RunSummary first = Run();
  ASSERT_EQ(first.run.status, "succeeded");
  RunSummary second = Run();  // nothing to run: no secret used
  EXPECT_EQ(second.up_to_date, 3);

  auto s = Open();
  auto used = *s->catalog().ReadAudit({.action = "secret.use"});
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(used[0].target, first.run.id);
  EXPECT_EQ(used[0].flow, "f");
  EXPECT_EQ(used[0].environment, "datalab");
  EXPECT_EQ(used[0].outcome, "ok");
  EXPECT_EQ(used[0].detail,
            (nlohmann::json{{"secret", "pseudo_key"}, {"recipes", nlohmann::json{"f/clean"}}}));
  // Written before the run's own entry.
  auto all = *s->catalog().ReadAudit({});
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].action, "secret.use");
  EXPECT_EQ(all[1].action, "run");
  EXPECT_TRUE(s->catalog().VerifyAudit().ok());
  s.reset();
  // The catalog file and its WAL hold the name, never the value.
  ASSERT_TRUE(std::filesystem::exists(dir_.path() / ".alambic" / "catalog.db"));
  std::string bytes;
  for (const char* f : {"catalog.db", "catalog.db-wal"})
    if (std::filesystem::exists(dir_.path() / ".alambic" / f))
      bytes += testing::ReadFile(dir_.path() / ".alambic" / f);
  EXPECT_NE(bytes.find("\"secret\":\"pseudo_key\""), std::string::npos);
  EXPECT_EQ(bytes.find(key), std::string::npos);
  EXPECT_FALSE(InState(key));
}

TEST_F(SecretVersionTest, AMissingKeyFailsThePlanNamingTheSecretAndTheFile) {
  auto s = Open();
  auto plan = s->MakePlan({});
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("recipe clean: step 1 (pseudonymise)"), std::string::npos)
      << plan.status().message();
  EXPECT_NE(plan.status().message().find("pseudo_key"), std::string::npos);
  EXPECT_NE(plan.status().message().find("keys/pseudo_key"), std::string::npos)
      << plan.status().message();
}

// A job is given the variables of the secrets its recipe uses, and no other:
// a cluster keeps a job's environment (Slurm in its controller's state files).
TEST(RecipeSecretEnvTest, AJobGetsOnlyTheSecretsItsRecipeUses) {
  TempDir dir;
  WriteFile(
      dir.path() / "alambic.yaml",
      "name: t\n"
      "secrets:\n"
      "  pseudo_key: {env: PSEUDO_KEY}\n"
      "  api_token: {env: API_TOKEN}\n"
      "  wh_password: {env: WH_PASSWORD}\n"
      "  unused: {env: UNUSED_SECRET}\n"
      "  from_file: {file: secrets/k}\n"
      "connections:\n"
      "  wh: {type: postgres, host: db, dbname: wh, user: u, password: \"secret:wh_password\"}\n"
      "  refdb: {type: sqlite, path: data/ref.sqlite}\n"
      "environments:\n"
      "  datalab: {}\n"
      "  warehouse:\n"
      "    secrets:\n"
      "      pseudo_key: {env: PSEUDO_KEY_WAREHOUSE}\n");
  LoadedWorkspace lw = LoadWorkspaceConfig(dir.path());
  ASSERT_TRUE(lw.ok()) << (lw.diagnostics.empty() ? "" : lw.diagnostics[0].message);
  const WorkspaceConfig& config = lw.workspace.config;
  auto recipe = [](nlohmann::json params) {
    RecipeSpec r;
    r.name = "r";
    r.kind = "collect";
    r.params = std::move(params);
    return r;
  };
  using V = std::vector<std::string>;
  // A key in the params, at any depth; in the warehouse its own entry too.
  const RecipeSpec pseudo = recipe(
      {{"steps", nlohmann::json::array({{{"pseudonymise", "id"}, {"key", "secret:pseudo_key"}}})}});
  EXPECT_EQ(RecipeSecretEnv(config, "datalab", pseudo), (V{"PSEUDO_KEY"}));
  EXPECT_EQ(RecipeSecretEnv(config, "warehouse", pseudo),
            (V{"PSEUDO_KEY", "PSEUDO_KEY_WAREHOUSE"}));
  // The password of the connection it names.
  const RecipeSpec pg = recipe({{"connection", "wh"}, {"query", "select 1"}});
  EXPECT_EQ(RecipeSecretEnv(config, "datalab", pg), (V{"WH_PASSWORD"}));
  EXPECT_EQ(RecipeSecretNames(config, "datalab", pg), (std::set<std::string>{"wh_password"}));
  // Both, and a header given as a secret.
  const RecipeSpec both = recipe({{"connection", "wh"},
                                  {"headers", {{"Authorization", "secret:api_token"}}},
                                  {"key", "secret:pseudo_key"}});
  EXPECT_EQ(RecipeSecretEnv(config, "datalab", both),
            (V{"API_TOKEN", "PSEUDO_KEY", "WH_PASSWORD"}));
  // None: a recipe on a connection without a password, or on a file.
  EXPECT_TRUE(RecipeSecretEnv(config, "datalab", recipe({{"connection", "refdb"}})).empty());
  EXPECT_TRUE(RecipeSecretEnv(config, "datalab", recipe({{"path", "data/x.csv"}})).empty());
  // A secret read from a file has no variable to pass; an undeclared one neither.
  EXPECT_TRUE(RecipeSecretEnv(config, "datalab", recipe({{"key", "secret:from_file"}})).empty());
  EXPECT_TRUE(RecipeSecretEnv(config, "datalab", recipe({{"key", "secret:nope"}})).empty());
  EXPECT_TRUE(RecipeSecretEnv(config, "datalab", recipe({{"connection", "nope"}})).empty());
  // "secret:" alone names nothing.
  EXPECT_TRUE(RecipeSecretNames(config, "datalab", recipe({{"note", "secret:"}})).empty());
}

}  // namespace
}  // namespace alambic::run_test
