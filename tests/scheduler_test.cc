// services/scheduler: slots claimed once, catch-up, overlap, retries,
// timeouts, leases with fencing; a ManualClock, a launcher that records.
#include "services/scheduler/scheduler.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "test_util.h"

namespace alambic::scheduler_test {
namespace {

using namespace std::chrono_literals;
using testing::TempDir;

sched::Instant At(const char* iso) { return *sched::ParseUtc(iso); }

// Runs nothing: records each request, and what the catalog said about its
// slot at launch; ends each run with the next scripted status of its flow
// (succeeded by default), or, when `block`, once released or cancelled. With
// `record`, it writes the run in the catalog like the engine does, through a
// connection fenced with the request's lease token.
class FakeLauncher final : public RunLauncher {
 public:
  explicit FakeLauncher(std::filesystem::path catalog = {}, std::string prefix = "run-")
      : catalog_path_(std::move(catalog)), prefix_(std::move(prefix)) {}

  Result<LaunchedRun> Launch(const ScheduledRunRequest& req, const CancelToken& cancel,
                             const std::function<void(const std::string&)>& started) override {
    std::string id;
    std::unique_ptr<Catalog> cat;
    {
      std::lock_guard lock(mu_);
      id = fmt::format("{}{}", prefix_, requests_.size() + 1);
      requests_.push_back(req);
    }
    if (!catalog_path_.empty()) {
      auto c = Catalog::Open(catalog_path_);
      if (!c.ok()) return c.status();
      cat = std::move(*c);
      auto slots = cat->ListSlots(req.flow, req.environment);
      std::string status = "unclaimed";
      if (slots.ok())
        for (const auto& s : *slots)
          if (s.nominal == req.nominal) status = s.status;
      std::lock_guard lock(mu_);
      slot_status_at_launch_.push_back(status);
    }
    if (record_) {
      cat->SetFence(req.workspace, req.environment, req.lease_token);
      RunRecord r;
      r.id = id;
      r.flows = req.flow;
      r.environment = req.environment;
      r.trigger = req.trigger;
      r.status = "running";
      r.started_at = NowIso();
      ALAMBIC_RETURN_IF_ERROR(cat->BeginRun(r));
    }
    started(id);
    {
      std::lock_guard lock(mu_);
      ++started_;
    }
    std::string status = "succeeded";
    {
      std::unique_lock lock(mu_);
      while (block_ && !released_ && !cancel.cancelled()) cv_.wait_for(lock, 2ms);
      auto& q = outcomes_[req.flow];
      if (!q.empty()) {
        status = q.front();
        q.pop_front();
      }
    }
    if (cancel.cancelled()) status = "cancelled";
    if (record_) ALAMBIC_RETURN_IF_ERROR(cat->FinishRun(id, status, NowIso(), ""));
    return LaunchedRun{id, status, status == "failed" ? "recipe x failed" : "", {}};
  }

  void Script(const std::string& flow, std::deque<std::string> statuses) {
    std::lock_guard lock(mu_);
    outcomes_[flow] = std::move(statuses);
  }
  void Block() {
    std::lock_guard lock(mu_);
    block_ = true;
    released_ = false;
  }
  void Release() {
    std::lock_guard lock(mu_);
    released_ = true;
    cv_.notify_all();
  }
  void Record() { record_ = true; }
  std::vector<ScheduledRunRequest> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }
  std::vector<std::string> slot_status_at_launch() {
    std::lock_guard lock(mu_);
    return slot_status_at_launch_;
  }
  // Waits until `n` runs were started (created).
  void AwaitStarted(int n) {
    for (int i = 0; i < 5000; ++i) {
      {
        std::lock_guard lock(mu_);
        if (started_ >= n) return;
      }
      std::this_thread::sleep_for(1ms);
    }
  }

 private:
  std::filesystem::path catalog_path_;
  std::string prefix_;
  int started_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<ScheduledRunRequest> requests_;
  std::vector<std::string> slot_status_at_launch_;
  std::map<std::string, std::deque<std::string>> outcomes_;
  bool block_ = false, released_ = false, record_ = false;
};

Flow MakeFlow(const std::string& name, const std::string& cron, const std::string& tz = "UTC") {
  Flow f;
  f.name = name;
  Schedule s;
  s.cron = cron;
  s.timezone = tz;
  f.schedule = s;
  return f;
}

FlowSchedule Compile(const Flow& f) {
  auto c = CompileFlowSchedule(f);
  EXPECT_TRUE(c.ok()) << c.status().message();
  return std::move(*c);
}

SchedulerOptions Options(const std::string& holder = "a") {
  SchedulerOptions o;
  o.workspace = "ws";
  o.environment = "warehouse";
  o.holder = holder;
  o.lease_ttl = 30s;
  return o;
}

std::vector<std::string> Nominals(const std::vector<ScheduledRunRequest>& rs) {
  std::vector<std::string> out;
  for (const auto& r : rs) out.push_back(r.flow + "@" + r.nominal);
  return out;
}

struct Fixture {
  TempDir dir;
  std::filesystem::path path = dir.path() / "catalog.db";
  std::unique_ptr<Catalog> catalog = std::move(*Catalog::Open(path));
  ManualClock clock;
};

TEST(SchedulerTest, EachSlotIsClaimedBeforeItsRunAndFiresOnce) {
  Fixture fx;
  FakeLauncher launcher(fx.path);
  fx.clock.Set(At("2026-06-01T09:58:00Z"));
  Scheduler s(*fx.catalog, fx.clock, launcher, {Compile(MakeFlow("permis", "0 * * * *"))},
              Options());
  ASSERT_TRUE(s.Tick().ok());
  EXPECT_TRUE(s.has_lease());
  EXPECT_EQ(s.lease_token(), 1);
  EXPECT_TRUE(launcher.requests().empty());
  fx.clock.Set(At("2026-06-01T10:00:00Z"));
  ASSERT_TRUE(s.Tick().ok());
  ASSERT_TRUE(s.WaitRuns().ok());
  for (int i = 0; i < 3; ++i) {
    fx.clock.Advance(10s);
    ASSERT_TRUE(s.Tick().ok());
    ASSERT_TRUE(s.WaitRuns().ok());
  }
  ASSERT_EQ(Nominals(launcher.requests()), std::vector<std::string>{"permis@2026-06-01T10:00"});
  EXPECT_EQ(launcher.requests()[0].trigger, "schedule");
  EXPECT_EQ(launcher.requests()[0].lease_token, 1);
  // The catalog had the slot, claimed and marked running, when the run was launched.
  EXPECT_EQ(launcher.slot_status_at_launch(), std::vector<std::string>{"running"});
  auto slots = fx.catalog->ListSlots("permis", "warehouse");
  ASSERT_TRUE(slots.ok());
  ASSERT_EQ(slots->size(), 1u);
  EXPECT_EQ((*slots)[0].status, "succeeded");
  EXPECT_EQ((*slots)[0].run_id, "run-1");
  EXPECT_EQ((*slots)[0].attempts, 1);
  EXPECT_EQ((*slots)[0].fire_at, "2026-06-01T10:00:00Z");
  // Audited: the lease, the fired slot, the finished run.
  auto fire = fx.catalog->ReadAudit({.action = kAuditFire});
  ASSERT_EQ(fire->size(), 1u);
  EXPECT_EQ((*fire)[0].target, "2026-06-01T10:00");
  EXPECT_EQ((*fire)[0].detail["holder"], "a");
  EXPECT_EQ(fx.catalog->ReadAudit({.action = kAuditFinish})->at(0).outcome, "succeeded");
  EXPECT_EQ(fx.catalog->ReadAudit({.action = kAuditLease})->size(), 1u);
}

TEST(SchedulerTest, CatchupAfterDowntimeFollowsEachPolicyFreshSlotsFirst) {
  Fixture fx;
  FakeLauncher launcher;
  auto none = MakeFlow("f_none", "0 * * * *");
  none.schedule->catchup = "none";
  auto latest = MakeFlow("f_latest", "0 * * * *");
  auto all = MakeFlow("f_all", "0 * * * *");
  all.schedule->catchup = "all";
  all.schedule->catchup_max = 3;
  std::vector<FlowSchedule> flows = {Compile(none), Compile(latest), Compile(all)};
  fx.clock.Set(At("2026-06-01T08:30:00Z"));
  {
    Scheduler first(*fx.catalog, fx.clock, launcher, flows, Options("a"));
    ASSERT_TRUE(first.Tick().ok());  // sees the schedules at 08:30
    ASSERT_TRUE(first.ReleaseLease().ok());
  }
  // Down from 08:30 to 14:00: slots 09:00 ... 13:00 missed, 14:00 fresh.
  fx.clock.Set(At("2026-06-01T14:00:00Z"));
  auto o = Options("b");
  o.max_active_runs = 1;  // one at a time: the launch order shows
  Scheduler s(*fx.catalog, fx.clock, launcher, flows, o);
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(s.Tick().ok());
    ASSERT_TRUE(s.WaitRuns().ok());
  }
  EXPECT_EQ(Nominals(launcher.requests()),
            (std::vector<std::string>{"f_none@2026-06-01T14:00", "f_latest@2026-06-01T14:00",
                                      "f_all@2026-06-01T14:00", "f_latest@2026-06-01T13:00",
                                      "f_all@2026-06-01T11:00", "f_all@2026-06-01T12:00",
                                      "f_all@2026-06-01T13:00"}));
  EXPECT_EQ(launcher.requests()[3].trigger, "catchup");
  EXPECT_EQ(launcher.requests()[0].trigger, "schedule");
}

TEST(SchedulerTest, PausedOrChangedSchedulesNeverFirePastSlots) {
  Fixture fx;
  FakeLauncher launcher;
  fx.clock.Set(At("2026-06-01T08:30:00Z"));
  auto flow = MakeFlow("permis", "0 * * * *");
  flow.schedule->catchup = "all";
  {
    Scheduler s(*fx.catalog, fx.clock, launcher, {Compile(flow)}, Options());
    ASSERT_TRUE(s.Tick().ok());
    ASSERT_TRUE(
        fx.catalog->SetSchedulePaused("permis", "warehouse", true, {"carol", "h"}, "x").ok());
    fx.clock.Set(At("2026-06-01T09:00:00Z"));
    ASSERT_TRUE(s.Tick().ok());
    EXPECT_TRUE(launcher.requests().empty());  // paused: not fired, not claimed
    EXPECT_TRUE(fx.catalog->ListSlots("permis", "warehouse")->empty());
    ASSERT_TRUE(fx.catalog
                    ->SetSchedulePaused("permis", "warehouse", false, {"carol", "h"},
                                        "2026-06-01T09:30:00Z")
                    .ok());
    fx.clock.Set(At("2026-06-01T10:00:00Z"));
    ASSERT_TRUE(s.Tick().ok());
    ASSERT_TRUE(s.WaitRuns().ok());
    EXPECT_EQ(Nominals(launcher.requests()), std::vector<std::string>{"permis@2026-06-01T10:00"});
    ASSERT_TRUE(s.ReleaseLease().ok());
  }
  // The schedule changes (every 30 minutes) while the daemon is down from
  // 10:00 to 13:10: catch-up "all" replays nothing from before the change.
  flow.schedule->cron = "*/30 * * * *";
  fx.clock.Set(At("2026-06-01T13:10:00Z"));
  Scheduler s(*fx.catalog, fx.clock, launcher, {Compile(flow)}, Options("b"));
  ASSERT_TRUE(s.Tick().ok());
  ASSERT_TRUE(s.WaitRuns().ok());
  EXPECT_EQ(launcher.requests().size(), 1u);
  fx.clock.Set(At("2026-06-01T13:30:00Z"));
  ASSERT_TRUE(s.Tick().ok());
  ASSERT_TRUE(s.WaitRuns().ok());
  EXPECT_EQ(Nominals(launcher.requests()),
            (std::vector<std::string>{"permis@2026-06-01T10:00", "permis@2026-06-01T13:30"}));
}

// A promotion while the scheduler runs: the new schedule replaces the old
// without a restart, fires from now on (catch-up "all" replays nothing of its
// past), a run going carries on and is recorded; a rollback restores the old.
TEST(SchedulerTest, SetFlowsSwitchesSchedulesWithoutFiringPastSlots) {
  Fixture fx;
  FakeLauncher launcher;
  fx.clock.Set(At("2026-06-01T08:30:00Z"));
  auto hourly = MakeFlow("permis", "0 * * * *");
  hourly.schedule->catchup = "all";
  auto quarter = MakeFlow("permis", "*/15 * * * *");
  quarter.schedule->catchup = "all";
  Scheduler s(*fx.catalog, fx.clock, launcher, {Compile(hourly)}, Options());
  ASSERT_TRUE(s.Tick().ok());
  launcher.Block();
  fx.clock.Set(At("2026-06-01T09:00:00Z"));
  ASSERT_TRUE(s.Tick().ok());
  launcher.AwaitStarted(1);
  ASSERT_EQ(s.active_runs(), 1);
  // Promoted at 09:40 (while the 09:00 run goes): every 15 minutes. The slots
  // 09:15 and 09:30 of the new schedule are past: never fired.
  fx.clock.Set(At("2026-06-01T09:40:00Z"));
  std::vector<FlowSchedule> promoted;
  promoted.push_back(Compile(quarter));
  promoted.push_back(Compile(MakeFlow("other", "50 9 * * *")));
  ASSERT_TRUE(s.SetFlows(std::move(promoted)).ok());
  ASSERT_TRUE(s.Tick().ok());
  EXPECT_EQ(launcher.requests().size(), 1u);
  ASSERT_TRUE(s.NextWake().has_value());
  EXPECT_EQ(sched::FormatUtc(*s.NextWake()), "2026-06-01T09:45:00Z");
  launcher.Release();
  ASSERT_TRUE(s.WaitRuns().ok());
  fx.clock.Set(At("2026-06-01T09:45:00Z"));
  ASSERT_TRUE(s.Tick().ok());
  fx.clock.Set(At("2026-06-01T09:50:00Z"));
  ASSERT_TRUE(s.Tick().ok());
  ASSERT_TRUE(s.WaitRuns().ok());
  // Rolled back at 09:55: hourly again; 10:00 fires, 10:15 does not.
  fx.clock.Set(At("2026-06-01T09:55:00Z"));
  ASSERT_TRUE(s.SetFlows({Compile(hourly)}).ok());
  fx.clock.Set(At("2026-06-01T10:00:00Z"));
  ASSERT_TRUE(s.Tick().ok());
  fx.clock.Set(At("2026-06-01T10:15:00Z"));
  ASSERT_TRUE(s.Tick().ok());
  ASSERT_TRUE(s.WaitRuns().ok());
  EXPECT_EQ(Nominals(launcher.requests()),
            (std::vector<std::string>{"permis@2026-06-01T09:00", "permis@2026-06-01T09:45",
                                      "other@2026-06-01T09:50", "permis@2026-06-01T10:00"}));
  // The 09:00 run, still going at the promotion, was recorded as it ended.
  auto slots = fx.catalog->ListSlots("permis", "warehouse");
  ASSERT_TRUE(slots.ok());
  ASSERT_EQ(slots->size(), 3u);
  for (const auto& slot : *slots) EXPECT_EQ(slot.status, kSlotSucceeded) << slot.nominal;
}

TEST(SchedulerTest, OverlapSkipQueueAndCancel) {
  for (const std::string policy : {"skip", "queue", "cancel"}) {
    SCOPED_TRACE(policy);
    Fixture fx;
    FakeLauncher launcher;
    launcher.Block();
    auto flow = MakeFlow("permis", "* * * * *");
    flow.schedule->overlap = policy;
    fx.clock.Set(At("2026-06-01T09:59:30Z"));
    Scheduler s(*fx.catalog, fx.clock, launcher, {Compile(flow)}, Options());
    ASSERT_TRUE(s.Tick().ok());
    fx.clock.Set(At("2026-06-01T10:00:00Z"));
    ASSERT_TRUE(s.Tick().ok());
    launcher.AwaitStarted(1);
    fx.clock.Set(At("2026-06-01T10:01:00Z"));
    ASSERT_TRUE(s.Tick().ok());  // slot 10:01 while 10:00 runs
    EXPECT_EQ(s.active_runs(), 1);
    if (policy != "cancel") launcher.Release();
    ASSERT_TRUE(s.WaitRuns().ok());
    fx.clock.Advance(1s);
    ASSERT_TRUE(s.Tick().ok());  // the queued slot starts now
    launcher.Release();
    ASSERT_TRUE(s.WaitRuns().ok());
    auto slots = *fx.catalog->ListSlots("permis", "warehouse");
    ASSERT_EQ(slots.size(), 2u);
    if (policy == "skip") {
      EXPECT_EQ(slots[0].status, "succeeded");
      EXPECT_EQ(slots[1].status, "skipped");
      EXPECT_EQ(slots[1].error,
                "1 run(s) of permis still running (max_active_runs 1, overlap skip)");
      EXPECT_EQ(launcher.requests().size(), 1u);
    } else if (policy == "queue") {
      EXPECT_EQ(slots[0].status, "succeeded");
      EXPECT_EQ(slots[1].status, "succeeded");
      EXPECT_EQ(Nominals(launcher.requests()),
                (std::vector<std::string>{"permis@2026-06-01T10:00", "permis@2026-06-01T10:01"}));
    } else {
      EXPECT_EQ(slots[0].status, "cancelled");
      EXPECT_EQ(slots[1].status, "succeeded");
      EXPECT_EQ(launcher.requests().size(), 2u);
      EXPECT_EQ(fx.catalog->ReadAudit({.action = kAuditCancel})->size(), 1u);
    }
  }
}

TEST(SchedulerTest, GlobalLimitQueuesSlotsOfOtherFlows) {
  Fixture fx;
  FakeLauncher launcher;
  launcher.Block();
  fx.clock.Set(At("2026-06-01T09:59:30Z"));
  auto o = Options();
  o.max_active_runs = 2;
  Scheduler s(*fx.catalog, fx.clock, launcher,
              {Compile(MakeFlow("a", "0 * * * *")), Compile(MakeFlow("b", "0 * * * *")),
               Compile(MakeFlow("c", "0 * * * *"))},
              o);
  ASSERT_TRUE(s.Tick().ok());
  fx.clock.Set(At("2026-06-01T10:00:00Z"));
  ASSERT_TRUE(s.Tick().ok());
  EXPECT_EQ(s.active_runs(), 2);
  EXPECT_EQ((*fx.catalog->ListSlots("c", "warehouse"))[0].status, "queued");
  launcher.Release();
  ASSERT_TRUE(s.WaitRuns().ok());
  ASSERT_TRUE(s.Tick().ok());
  ASSERT_TRUE(s.WaitRuns().ok());
  EXPECT_EQ(launcher.requests().size(), 3u);
  EXPECT_EQ((*fx.catalog->ListSlots("c", "warehouse"))[0].status, "succeeded");
}

TEST(SchedulerTest, FailedRunsAreRetriedWithExponentialBackoff) {
  Fixture fx;
  FakeLauncher launcher;
  launcher.Script("permis", {"failed", "failed", "succeeded"});
  auto flow = MakeFlow("permis", "0 3 * * *");
  flow.schedule->retries = 2;
  flow.schedule->retry_delay = "1m";
  fx.clock.Set(At("2026-06-01T02:59:00Z"));
  Scheduler s(*fx.catalog, fx.clock, launcher, {Compile(flow)}, Options());
  auto tick = [&] {
    ASSERT_TRUE(s.Tick().ok());
    ASSERT_TRUE(s.WaitRuns().ok());
    ASSERT_TRUE(s.Tick().ok());  // records the outcome
  };
  fx.clock.Set(At("2026-06-01T03:00:00Z"));
  tick();
  EXPECT_EQ(launcher.requests().size(), 1u);
  auto slot = (*fx.catalog->ListSlots("permis", "warehouse"))[0];
  EXPECT_EQ(slot.status, "retry_wait");
  EXPECT_EQ(slot.next_attempt_at, "2026-06-01T03:01:00Z");
  fx.clock.Set(At("2026-06-01T03:00:59Z"));
  tick();
  EXPECT_EQ(launcher.requests().size(), 1u);  // not before its delay
  fx.clock.Set(At("2026-06-01T03:01:00Z"));
  tick();
  ASSERT_EQ(launcher.requests().size(), 2u);
  EXPECT_EQ(launcher.requests()[1].trigger, "retry");
  EXPECT_EQ(launcher.requests()[1].attempt, 2);
  slot = (*fx.catalog->ListSlots("permis", "warehouse"))[0];
  EXPECT_EQ(slot.next_attempt_at, "2026-06-01T03:03:00Z");  // doubled: 2 minutes
  fx.clock.Set(At("2026-06-01T03:02:59Z"));
  tick();
  EXPECT_EQ(launcher.requests().size(), 2u);
  fx.clock.Set(At("2026-06-01T03:03:00Z"));
  tick();
  EXPECT_EQ(launcher.requests().size(), 3u);
  slot = (*fx.catalog->ListSlots("permis", "warehouse"))[0];
  EXPECT_EQ(slot.status, "succeeded");
  EXPECT_EQ(slot.attempts, 3);
  EXPECT_EQ(fx.catalog->ReadAudit({.action = kAuditRetry})->size(), 2u);
}

TEST(SchedulerTest, RunOverItsTimeoutIsCancelledAndFails) {
  Fixture fx;
  FakeLauncher launcher;
  launcher.Block();
  auto flow = MakeFlow("permis", "0 3 * * *");
  flow.schedule->timeout = "5m";
  fx.clock.Set(At("2026-06-01T02:59:00Z"));
  Scheduler s(*fx.catalog, fx.clock, launcher, {Compile(flow)}, Options());
  ASSERT_TRUE(s.Tick().ok());
  fx.clock.Set(At("2026-06-01T03:00:00Z"));
  ASSERT_TRUE(s.Tick().ok());
  fx.clock.Set(At("2026-06-01T03:04:59Z"));
  ASSERT_TRUE(s.Tick().ok());
  EXPECT_EQ(s.active_runs(), 1);
  fx.clock.Set(At("2026-06-01T03:05:00Z"));
  ASSERT_TRUE(s.Tick().ok());
  ASSERT_TRUE(s.WaitRuns().ok());
  auto slot = (*fx.catalog->ListSlots("permis", "warehouse"))[0];
  EXPECT_EQ(slot.status, "failed");
  EXPECT_EQ(slot.error, "timed out after 5m");
  EXPECT_EQ(fx.catalog->ReadAudit({.action = kAuditTimeout})->size(), 1u);
}

TEST(SchedulerTest, TwoSchedulersOnOneCatalogNeverClaimTheSameSlot) {
  Fixture fx;
  auto other = std::move(*Catalog::Open(fx.path));
  FakeLauncher la, lb;
  fx.clock.Set(At("2026-06-01T09:59:30Z"));
  auto flows = std::vector<FlowSchedule>{Compile(MakeFlow("permis", "* * * * *"))};
  Scheduler a(*fx.catalog, fx.clock, la, flows, Options("a"));
  Scheduler b(*other, fx.clock, lb, flows, Options("b"));
  for (int i = 0; i < 30; ++i) {
    fx.clock.Advance(20s);
    // b, first to hold the lease, misses its heartbeats for a while: a takes over.
    const bool b_ticks = i < 12 || i >= 15;
    if (i % 2) {
      ASSERT_TRUE(a.Tick().ok());
      if (b_ticks) {
        ASSERT_TRUE(b.Tick().ok());
      }
    } else {
      if (b_ticks) {
        ASSERT_TRUE(b.Tick().ok());
      }
      ASSERT_TRUE(a.Tick().ok());
    }
    ASSERT_TRUE(a.WaitRuns().ok());
    ASSERT_TRUE(b.WaitRuns().ok());
  }
  EXPECT_TRUE(a.has_lease());
  EXPECT_FALSE(b.has_lease());
  EXPECT_EQ(a.lease_token(), 2);
  EXPECT_GT(la.requests().size(), 0u);
  EXPECT_GT(lb.requests().size(), 0u);
  const size_t runs = la.requests().size() + lb.requests().size();
  auto slots = *fx.catalog->ListSlots("permis", "warehouse");
  EXPECT_EQ(runs, slots.size());
  EXPECT_EQ(slots.size(), 10u);  // 10:00 ... 10:09
  std::set<std::string> seen;
  for (const auto& r : la.requests()) EXPECT_TRUE(seen.insert(r.nominal).second) << r.nominal;
  for (const auto& r : lb.requests()) EXPECT_TRUE(seen.insert(r.nominal).second) << r.nominal;
}

TEST(SchedulerTest, ExpiredLeaseIsTakenOverWithAHigherTokenAndTheLateRecordIsRefused) {
  Fixture fx;
  auto other = std::move(*Catalog::Open(fx.path));
  FakeLauncher la(fx.path), lb(fx.path, "b-run-");
  la.Record();
  lb.Record();
  la.Block();
  auto flow = MakeFlow("permis", "0 3 * * *");
  flow.schedule->retries = 1;
  auto flows = std::vector<FlowSchedule>{Compile(flow)};
  fx.clock.Set(At("2026-06-01T02:59:00Z"));
  Scheduler a(*fx.catalog, fx.clock, la, flows, Options("a"));
  Scheduler b(*other, fx.clock, lb, flows, Options("b"));
  ASSERT_TRUE(a.Tick().ok());
  ASSERT_TRUE(b.Tick().ok());
  EXPECT_EQ(a.lease_token(), 1);
  EXPECT_FALSE(b.has_lease());
  fx.clock.Set(At("2026-06-01T03:00:00Z"));
  ASSERT_TRUE(a.Tick().ok());
  la.AwaitStarted(1);
  // a stops heartbeating (hung) while its run goes on; b takes over once the
  // lease expired, finds the run left `running` and retries the slot.
  fx.clock.Set(At("2026-06-01T03:00:29Z"));
  ASSERT_TRUE(b.Tick().ok());
  EXPECT_FALSE(b.has_lease());
  fx.clock.Set(At("2026-06-01T03:00:31Z"));
  ASSERT_TRUE(b.Tick().ok());
  ASSERT_TRUE(b.has_lease());
  EXPECT_EQ(b.lease_token(), 2);
  ASSERT_TRUE(b.WaitRuns().ok());
  ASSERT_TRUE(b.Tick().ok());
  auto run1 = other->FindRun("run-1");
  ASSERT_TRUE(run1.ok());
  EXPECT_EQ(run1->status, "failed");
  EXPECT_NE(run1->error.find("abandoned"), std::string::npos) << run1->error;
  ASSERT_EQ(lb.requests().size(), 1u);
  EXPECT_EQ(lb.requests()[0].nominal, "2026-06-01T03:00");
  EXPECT_EQ(lb.requests()[0].attempt, 2);
  auto slot = (*other->ListSlots("permis", "warehouse"))[0];
  EXPECT_EQ(slot.status, "succeeded");
  EXPECT_EQ(slot.lease_token, 2);
  // a's run ends late: its record is refused (fenced), nothing it writes lands.
  la.Release();
  ASSERT_TRUE(a.WaitRuns().ok());
  ASSERT_TRUE(a.Tick().ok());
  EXPECT_FALSE(a.has_lease());
  EXPECT_EQ(other->FindRun("run-1")->status, "failed");  // not overwritten
  EXPECT_EQ((*other->ListSlots("permis", "warehouse"))[0].status, "succeeded");
  Status late = fx.catalog->FinishRun("run-1", "succeeded", NowIso(), "");
  EXPECT_EQ(late.message(),
            "lease lost: the scheduler lease of warehouse is now held by b (token 2, ours 1); "
            "nothing recorded");
  CatalogBatch batch;
  EXPECT_FALSE(fx.catalog->Commit(batch).ok());
  EXPECT_EQ(fx.catalog->ReadAudit({.action = kAuditRecover})->size(), 1u);
}

TEST(SchedulerTest, BadRunPolicyIsReportedAtTheSchedule) {
  auto f = MakeFlow("permis", "0 3 * * *");
  f.schedule->overlap = "later";
  auto c = CompileFlowSchedule(f);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(
      c.status().message().find("schedule overlap must be skip, queue or cancel, not 'later'"),
      std::string::npos);
}

TEST(SchedulerTest, TriggerIsAuditedWithWhoAskedAndWhy) {
  Fixture fx;
  FakeLauncher launcher;
  launcher.Script("permis", {"failed"});
  CancelToken cancel;
  auto r = TriggerRun(*fx.catalog, launcher, "permis", "warehouse", "late delivery",
                      Actor{"carol", "lab1"}, cancel);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, "failed");
  ASSERT_EQ(launcher.requests().size(), 1u);
  EXPECT_EQ(launcher.requests()[0].trigger, "manual");
  EXPECT_EQ(launcher.requests()[0].requested_by, "carol");
  // No slot: the launcher refuses it at once while the workspace is busy, as `alambic run`.
  EXPECT_TRUE(launcher.requests()[0].nominal.empty());
  auto audit = *fx.catalog->ReadAudit({.action = kAuditTrigger});
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0].user, "carol");
  EXPECT_EQ(audit[0].flow, "permis");
  EXPECT_EQ(audit[0].target, "run-1");
  EXPECT_EQ(audit[0].outcome, "failed");
  EXPECT_EQ(audit[0].detail["reason"], "late delivery");
  EXPECT_TRUE(fx.catalog->VerifyAudit().ok());
}

// A loopback webhook receiver: answers 500 to the first POST, then 200.
struct Receiver {
  httplib::Server server;
  std::thread thread;
  int port = 0;
  std::mutex mu;
  std::vector<nlohmann::json> alerts;
  int posts = 0;
  Receiver() {
    server.Post("/hooks/alambic", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu);
      if (++posts == 1) {
        res.status = 500;
        return;
      }
      EXPECT_EQ(req.get_header_value("Content-Type"), "application/json");
      alerts.push_back(nlohmann::json::parse(req.body));
    });
    port = server.bind_to_any_port("127.0.0.1");
    thread = std::thread([this] { server.listen_after_bind(); });
    while (!server.is_running()) std::this_thread::sleep_for(1ms);
  }
  ~Receiver() {
    server.stop();
    thread.join();
  }
  std::vector<std::string> Kinds() {
    std::lock_guard lock(mu);
    std::vector<std::string> out;
    for (const auto& a : alerts)
      out.push_back(a["kind"].get<std::string>() + "@" + a["nominal"].get<std::string>());
    return out;
  }
};

TEST(SchedulerTest, FailureRecoveryAndLatenessAlertsReachAWebhook) {
  Receiver receiver;
  ASSERT_GT(receiver.port, 0);
  WebhookAlertSink sink(
      {fmt::format("http://127.0.0.1:{}/hooks/alambic", receiver.port), 2, 0.01, 2});
  Fixture fx;
  FakeLauncher launcher;
  launcher.Script("permis", {"failed", "succeeded"});
  auto flow = MakeFlow("permis", "0 * * * *");
  flow.schedule->late_after = "10m";
  auto o = Options();
  o.alerts = &sink;
  fx.clock.Set(At("2026-06-01T09:59:00Z"));
  Scheduler s(*fx.catalog, fx.clock, launcher, {Compile(flow)}, o);
  ASSERT_TRUE(s.Tick().ok());
  fx.clock.Set(At("2026-06-01T10:00:00Z"));
  ASSERT_TRUE(s.Tick().ok());
  ASSERT_TRUE(s.WaitRuns().ok());  // 10:00 failed: a failure alert (after one 500)
  fx.clock.Set(At("2026-06-01T11:00:00Z"));
  launcher.Block();
  ASSERT_TRUE(s.Tick().ok());  // 11:00 runs, and runs...
  fx.clock.Set(At("2026-06-01T11:09:59Z"));
  ASSERT_TRUE(s.Tick().ok());
  EXPECT_EQ(receiver.Kinds().size(), 1u);
  fx.clock.Set(At("2026-06-01T11:10:00Z"));
  ASSERT_TRUE(s.Tick().ok());  // late, once
  ASSERT_TRUE(s.Tick().ok());
  launcher.Release();
  ASSERT_TRUE(s.WaitRuns().ok());  // succeeded: recovery
  EXPECT_EQ(receiver.Kinds(),
            (std::vector<std::string>{"failure@2026-06-01T10:00", "late@2026-06-01T11:00",
                                      "recovery@2026-06-01T11:00"}));
  std::lock_guard lock(receiver.mu);
  EXPECT_EQ(receiver.posts, 4);  // the first was refused and retried
  EXPECT_EQ(receiver.alerts[0]["flow"], "permis");
  EXPECT_EQ(receiver.alerts[0]["environment"], "warehouse");
  EXPECT_EQ(receiver.alerts[0]["message"], "recipe x failed");
  EXPECT_EQ(receiver.alerts[1]["message"], "not finished 10m after its time (running)");
}

TEST(SchedulerTest, AnUnreachableWebhookFailsNamingItAfterItsRetries) {
  WebhookAlertSink sink({"http://127.0.0.1:1/x", 1, 0.01, 1});
  Status st =
      sink.Send(Alert{"failure", "permis", "warehouse", "2026-06-01T10:00", "UTC", "r", "m"});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("alert webhook http://127.0.0.1:1/x: "), std::string::npos)
      << st.message();
  EXPECT_NE(st.message().find("after 2 attempt(s)"), std::string::npos) << st.message();
}

// A minimal SMTP sink on 127.0.0.1: speaks the server side of one
// conversation, records the commands and the message (refuses `refuse_rcpt`).
struct SmtpSink {
  int listen_fd = -1, port = 0;
  std::thread thread;
  std::vector<std::string> commands;
  std::string data;
  std::string refuse_rcpt;
  SmtpSink() {
    listen_fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(listen_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
    ::listen(listen_fd, 1);
  }
  void Serve() {
    thread = std::thread([this] {
      int fd = ::accept(listen_fd, nullptr, nullptr);
      if (fd < 0) return;
      auto say = [&](const std::string& l) { (void)::send(fd, l.data(), l.size(), MSG_NOSIGNAL); };
      std::string buf;
      auto line = [&]() -> std::optional<std::string> {
        for (;;) {
          size_t eol = buf.find("\r\n");
          if (eol != std::string::npos) {
            std::string l = buf.substr(0, eol);
            buf.erase(0, eol + 2);
            return l;
          }
          char c[256];
          ssize_t n = ::recv(fd, c, sizeof c, 0);
          if (n <= 0) return std::nullopt;
          buf.append(c, static_cast<size_t>(n));
        }
      };
      say("220 sink ESMTP\r\n");
      while (auto l = line()) {
        commands.push_back(*l);
        if (l->rfind("EHLO", 0) == 0) {
          say("250-sink\r\n250 8BITMIME\r\n");
        } else if (l->rfind("RCPT", 0) == 0 && !refuse_rcpt.empty() &&
                   l->find(refuse_rcpt) != std::string::npos) {
          say("550 5.1.1 no such user\r\n");
        } else if (*l == "DATA") {
          say("354 go ahead\r\n");
          while (auto d = line()) {
            if (*d == ".") break;
            data += *d + "\n";
          }
          say("250 2.0.0 queued\r\n");
        } else if (*l == "QUIT") {
          say("221 bye\r\n");
          break;
        } else {
          say("250 ok\r\n");
        }
      }
      ::close(fd);
    });
  }
  ~SmtpSink() {
    if (thread.joinable()) thread.join();
    ::close(listen_fd);
  }
};

TEST(SchedulerTest, SmtpAlertIsDeliveredToALoopbackSink) {
  SmtpSink sink;
  sink.Serve();
  SmtpAlertSink smtp({"127.0.0.1", sink.port, "alambic@lab.example", {"ops@lab.example"}, 5});
  Alert a{"failure",
          "permis",
          "warehouse",
          "2026-06-01T03:00",
          "Europe/Paris",
          "run-1",
          "recipe clean_exams failed\n.a line starting with a dot"};
  ASSERT_TRUE(smtp.Send(a).ok());
  sink.thread.join();
  EXPECT_EQ(sink.commands,
            (std::vector<std::string>{"EHLO alambic", "MAIL FROM:<alambic@lab.example>",
                                      "RCPT TO:<ops@lab.example>", "DATA", "QUIT"}));
  EXPECT_NE(sink.data.find("Subject: [alambic] failure permis 2026-06-01T03:00\n"),
            std::string::npos)
      << sink.data;
  EXPECT_NE(sink.data.find("To: ops@lab.example\n"), std::string::npos) << sink.data;
  EXPECT_NE(sink.data.find("slot: 2026-06-01T03:00 Europe/Paris\n"), std::string::npos);
  EXPECT_NE(sink.data.find("\n..a line starting with a dot\n"), std::string::npos) << sink.data;
}

TEST(SchedulerTest, SmtpRefusalIsReportedWithTheServersReply) {
  SmtpSink sink;
  sink.refuse_rcpt = "nobody@";
  sink.Serve();
  SmtpAlertSink smtp({"127.0.0.1", sink.port, "alambic@lab.example", {"nobody@lab.example"}, 5});
  Status st = smtp.Send(Alert{"late", "permis", "warehouse", "n", "UTC", "", "m"});
  EXPECT_EQ(st.message(), "smtp RCPT TO nobody@lab.example: refused: 550 5.1.1 no such user");
}

}  // namespace
}  // namespace alambic::scheduler_test
