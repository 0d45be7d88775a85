// The daemon's launcher runs a flow through the run service, on a real git
// workspace: the warehouse run of the active release (as `alambic --env
// warehouse run`), with the id the scheduler chose, fenced by its lease, its
// OpenLineage events POSTed to a loopback receiver. And the schedules the
// daemon acts on in the warehouse are the released ones.
#include "services/scheduler/engine_launcher.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <future>
#include <mutex>
#include <thread>

#include <httplib.h>

#include "catalog/catalog.h"
#include "core/base/clock.h"
#include "core/flow/loader.h"
#include "services/promotion.h"
#include "services/runs.h"
#include "services/scheduler/alerts.h"
#include "services/scheduler/scheduled_flows.h"
#include "tests/git_test_util.h"
#include "tests/people_workspace.h"
#include "tests/test_util.h"

namespace alambic::engine_launcher_test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::CommitAll;
using testing::Git;
using testing::TempDir;
using testing::WriteFile;

// A loopback receiver of JSON POSTs at `path` (OpenLineage, a webhook).
class LineageReceiver {
 public:
  explicit LineageReceiver(const std::string& path = "/api/v1/lineage") {
    server_.Post(path, [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu_);
      events_.push_back(nlohmann::json::parse(req.body));
      res.status = 200;
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(1ms);
  }
  ~LineageReceiver() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<nlohmann::json> events() {
    std::lock_guard lock(mu_);
    return events_;
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<nlohmann::json> events_;
};

class EngineLauncherTest : public testing::PeopleWorkspaceTest {
 protected:
  std::string ExtraConfig() const override {
    return "openlineage: {url: \"" + lineage_.url() + "\", retries: 0}\n";
  }
  std::string Cron() const override { return "0 3 * * 1"; }
  ScheduledRunRequest Request(const std::string& run_id, int64_t token) {
    ScheduledRunRequest r;
    r.flow = "people";
    r.environment = "warehouse";
    r.nominal = "2026-01-12T03:00";
    r.timezone = "UTC";
    r.trigger = "schedule";
    r.requested_by = "scheduler:test";
    r.run_id = run_id;
    r.workspace = "ws";
    r.lease_token = token;
    return r;
  }
  LineageReceiver lineage_;
};

TEST_F(EngineLauncherTest, RunsTheActiveReleaseWithTheSlotsRunIdAndPostsOpenLineageEvents) {
  RunAndPromote();
  // The working tree moves on (a broken recipe): the warehouse runs the release.
  WriteFile(ws_ / "flows/people.yaml",
            "flow: people\nrecipes:\n  - {name: collect_people, kind: collect, outputs: "
            "[people_raw], params: {path: data/missing.csv}}\n");
  auto lease = Cat()->AcquireLease("ws", "warehouse", "test:1", "2026-01-12T03:00:00Z",
                                   "2026-01-12T03:10:00Z");
  ASSERT_TRUE(lease.ok()) << lease.status().message();
  const size_t before = lineage_.events().size();  // the datalab run's
  std::vector<std::string> warnings, started;
  EngineLauncher launcher(ws_, [&](const std::string& m) { warnings.push_back(m); });
  CancelToken cancel;
  const std::string id = "0b5e7a52-0000-4000-8000-000000000001";
  auto r = launcher.Launch(Request(id, lease->token), cancel,
                           [&](const std::string& run) { started.push_back(run); });
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->status, "succeeded") << r->error;
  EXPECT_EQ(r->run_id, id);
  EXPECT_EQ(started, std::vector<std::string>{id});
  EXPECT_TRUE(warnings.empty()) << warnings.front();
  auto run = Cat()->FindRun(id);
  ASSERT_TRUE(run.ok()) << run.status().message();
  EXPECT_EQ(run->environment, "warehouse");
  EXPECT_EQ(run->trigger, "schedule");
  EXPECT_EQ(run->user, "scheduler:test");
  EXPECT_EQ(run->release, "people/1");
  // START and COMPLETE of the run's recipe, as `alambic --env warehouse run` posts them.
  auto events = lineage_.events();
  ASSERT_GT(events.size(), before);
  std::vector<std::string> types;
  for (size_t i = before; i < events.size(); ++i) {
    const auto& e = events[i];
    EXPECT_EQ(e["run"]["facets"]["parent"]["run"]["runId"], id) << e.dump();
    EXPECT_EQ(e["job"]["name"], "people.collect_people") << e.dump();
    types.push_back(e["eventType"]);
  }
  EXPECT_EQ(types, (std::vector<std::string>{"START", "COMPLETE"}));
}

TEST_F(EngineLauncherTest, ARunOfAnExpiredLeaseHolderIsRefusedAndPublishesNothing) {
  RunAndPromote();
  auto cat = Cat();
  auto old =
      cat->AcquireLease("ws", "warehouse", "a:1", "2026-01-12T03:00:00Z", "2026-01-12T03:00:30Z");
  ASSERT_TRUE(old.ok());
  auto taken =
      cat->AcquireLease("ws", "warehouse", "b:2", "2026-01-12T03:01:00Z", "2026-01-12T03:01:30Z");
  ASSERT_TRUE(taken.ok());
  ASSERT_EQ(taken->holder, "b:2");
  EngineLauncher launcher(ws_);
  CancelToken cancel;
  auto r =
      launcher.Launch(Request("0b5e7a52-0000-4000-8000-000000000002", old->token), cancel, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("lease lost"), std::string::npos) << r.status().message();
  EXPECT_TRUE(cat->CurrentVersions("warehouse")->empty());
}

TEST_F(EngineLauncherTest, ACancelledRunStopsAndIsRecordedCancelled) {
  RunAndPromote();
  EngineLauncher launcher(ws_);
  CancelToken cancel;
  cancel.Cancel();
  auto r = launcher.Launch(Request("0b5e7a52-0000-4000-8000-000000000003", 0), cancel, nullptr);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->status, "cancelled");
  EXPECT_TRUE(Cat()->CurrentVersions("warehouse")->empty());
}

// A slot's run that finds a manual run (or gc) holding the workspace waits for it, says
// so in the log, and runs once it is released; cancelled while it waits (the daemon's
// stop), it is recorded cancelled and publishes nothing. A manual trigger is refused.
TEST_F(EngineLauncherTest, ASlotsRunWaitsForTheWorkspacesLockAManualTriggerDoesNot) {
  RunAndPromote();
  auto held = WorkspaceLock::Acquire(ws_ / ".alambic");
  ASSERT_TRUE(held.ok()) << held.status().message();
  std::mutex mu;
  std::vector<std::string> log;
  EngineLauncher launcher(ws_, [&](const std::string& m) {
    std::lock_guard lock(mu);
    log.push_back(m);
  });
  CancelToken cancel;
  ScheduledRunRequest manual = Request("0b5e7a52-0000-4000-8000-000000000004", 0);
  manual.trigger = "manual";
  manual.nominal.clear();
  manual.timezone.clear();
  auto refused = launcher.Launch(manual, cancel, nullptr);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("another alambic run or gc is in progress"),
            std::string::npos)
      << refused.status().message();

  ScheduledRunRequest slot = Request("0b5e7a52-0000-4000-8000-000000000005", 0);
  CancelToken stop;
  auto stopped =
      std::async(std::launch::async, [&] { return launcher.Launch(slot, stop, nullptr); });
  EXPECT_EQ(stopped.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout);
  stop.Cancel();
  auto s = stopped.get();
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->status, "cancelled");
  EXPECT_FALSE(Cat()->FindRun(slot.run_id).ok());
  EXPECT_TRUE(Cat()->CurrentVersions("warehouse")->empty());

  slot.run_id = "0b5e7a52-0000-4000-8000-000000000006";
  auto waiting =
      std::async(std::launch::async, [&] { return launcher.Launch(slot, cancel, nullptr); });
  EXPECT_EQ(waiting.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout);
  held->reset();
  auto r = waiting.get();
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->status, "succeeded") << r->error;
  EXPECT_EQ(r->run_id, slot.run_id);
  EXPECT_FALSE(Cat()->CurrentVersions("warehouse")->empty());
  std::lock_guard lock(mu);
  EXPECT_EQ(std::count(log.begin(), log.end(),
                       "people 2026-01-12T03:00: another alambic run or gc is in progress in "
                       "this workspace (it holds the lock on .alambic): waiting for it"),
            2)
      << ::testing::PrintToString(log);
}

TEST_F(EngineLauncherTest, WarehouseSchedulesAreTheActiveReleasesNotTheWorkingTrees) {
  auto load = [&](bool releases_only) {
    LoadedWorkspace lw = LoadWorkspace(ws_);
    EXPECT_TRUE(lw.ok());
    auto cat = Cat();
    auto s = LoadScheduledFlows(ws_, *cat, lw.workspace.flows, releases_only,
                                releases_only ? "warehouse" : "datalab");
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() ? *s : ScheduledFlows{};
  };
  // Not released yet: nothing is scheduled in the warehouse, and the log says why.
  auto none = load(true);
  EXPECT_TRUE(none.flows.empty());
  ASSERT_EQ(none.notes.size(), 1u);
  EXPECT_NE(none.notes[0].find("people: not scheduled in warehouse: no active release"),
            std::string::npos)
      << none.notes[0];
  RunAndPromote();
  // Edited in the working tree, committed, not promoted.
  WriteFile(ws_ / "flows/people.yaml", FlowText("*/5 * * * *"));
  CommitAll(ws_, "every five minutes", "2026-01-06T10:00:00Z");
  auto wh = load(true);
  ASSERT_EQ(wh.flows.size(), 1u);
  ASSERT_TRUE(wh.flows[0].schedule);
  EXPECT_EQ(wh.flows[0].schedule->cron, "0 3 * * 1");
  EXPECT_EQ(wh.flows[0].file, "flows/people.yaml");
  ASSERT_EQ(wh.notes.size(), 1u);
  EXPECT_NE(wh.notes[0].find("differs from release release/people/1's"), std::string::npos)
      << wh.notes[0];
  // The datalab schedules the working tree.
  auto lab = load(false);
  ASSERT_EQ(lab.flows.size(), 1u);
  EXPECT_EQ(lab.flows[0].schedule->cron, "*/5 * * * *");
}

TEST_F(EngineLauncherTest, ARunThatSucceedsWithCheckWarningsSendsAWarningAlert) {
  WriteFile(ws_ / "flows/people.yaml", R"(flow: people
schedule: {cron: "0 * * * *", timezone: UTC, catchup: none}
recipes:
  - {name: collect_people, kind: collect, outputs: [people_raw], params: {path: data/people.csv, delimiter: ";"}}
  - name: check_people
    kind: check
    inputs: [people_raw]
    outputs: [people_checked]
    params: {checks: [{row_count: {max: 2}, severity: warn}]}
)");
  LineageReceiver hook("/hooks/alambic");
  WebhookAlertSink sink({hook.url() + "/hooks/alambic", 0, 0.01, 5});
  LoadedWorkspace lw = LoadWorkspace(ws_);
  ASSERT_TRUE(lw.ok());
  std::vector<FlowSchedule> flows;
  for (const auto& f : lw.workspace.flows) {
    auto c = CompileFlowSchedule(f);
    ASSERT_TRUE(c.ok()) << c.status().message();
    flows.push_back(std::move(*c));
  }
  auto cat = Cat();
  ManualClock clock(*sched::ParseUtc("2026-06-01T09:59:30Z"));
  EngineLauncher launcher(ws_);
  SchedulerOptions o;
  o.workspace = "ws";
  o.environment = "datalab";
  o.holder = "test:1";
  o.alerts = &sink;
  Scheduler scheduler(*cat, clock, launcher, std::move(flows), o);
  ASSERT_TRUE(scheduler.Tick().ok());
  clock.Set(*sched::ParseUtc("2026-06-01T10:00:00Z"));
  ASSERT_TRUE(scheduler.Tick().ok());
  ASSERT_TRUE(scheduler.WaitRuns().ok());
  auto slots = *cat->ListSlots("people", "datalab");
  ASSERT_EQ(slots.size(), 1u);
  EXPECT_EQ(slots[0].status, "succeeded") << slots[0].error;
  std::vector<nlohmann::json> alerts;
  for (const auto& e : hook.events())
    if (e.contains("kind")) alerts.push_back(e);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0]["kind"], "warning");
  EXPECT_EQ(alerts[0]["flow"], "people");
  EXPECT_EQ(alerts[0]["nominal"], "2026-06-01T10:00");
  EXPECT_EQ(alerts[0]["run_id"], slots[0].run_id);
  const std::string message = alerts[0]["message"];
  EXPECT_NE(message.find("succeeded with 1 check warning(s):\nrecipe check_people: check "
                         "'row_count' failed"),
            std::string::npos)
      << message;
  // A run without warnings sends nothing more.
  WriteFile(ws_ / "data/people.csv", "id;dept\n1;01\n");
  clock.Set(*sched::ParseUtc("2026-06-01T11:00:00Z"));
  ASSERT_TRUE(scheduler.Tick().ok());
  ASSERT_TRUE(scheduler.WaitRuns().ok());
  EXPECT_EQ(cat->ListSlots("people", "datalab")->back().status, "succeeded");
  EXPECT_EQ(hook.events().size(), 1u);
}

}  // namespace
}  // namespace alambic::engine_launcher_test
