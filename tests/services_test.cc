// The services called as a library, as the scheduling daemon and the server
// will: runs of the working tree and of the active release (with their
// refusals and audit entries), and promotion, on a real git workspace. Nothing
// is printed: what a run reports goes to a RunListener.
#include <gtest/gtest.h>

#include "catalog/catalog.h"
#include "services/promotion.h"
#include "services/runs.h"
#include "services/schedules.h"
#include "services/workspace.h"
#include "tests/git_test_util.h"
#include "tests/people_workspace.h"
#include "tests/test_util.h"

namespace alambic::services_test {
namespace {

namespace fs = std::filesystem;
using testing::CommitAll;
using testing::Git;
using testing::TempDir;
using testing::WriteFile;

// Records what the service reports, and counts the runs its observer saw.
class RecordingListener final : public RunListener {
 public:
  class Observer final : public RunObserver {
   public:
    void RunStarted(const RunRecord& run, const Plan&) override { started.push_back(run.id); }
    std::vector<std::string> started;
  };
  void ReleaseStarting(const std::string& flow, const ReleaseRecord& rel) override {
    releases.push_back(flow + "/" + std::to_string(rel.number));
  }
  void FlowSkipped(const std::string& flow, const std::string& env) override {
    skipped.push_back(flow + " in " + env);
  }
  void Warning(const std::string& m) override { warnings.push_back(m); }
  RunObserver* ObserverForRun() override { return &observer; }
  std::vector<std::string> releases, skipped, warnings;
  Observer observer;
};

class ServicesTest : public testing::PeopleWorkspaceTest {
 protected:
  RunRequest WarehouseRequest() {
    RunRequest r;
    r.env = "warehouse";
    r.selection.flows = {"people"};
    r.requested_by = "scheduler";
    r.trigger = "schedule";
    r.jobs = 1;
    return r;
  }
};

class RunServiceTest : public ServicesTest {};
class PromotionServiceTest : public ServicesTest {};
class ScheduleServiceTest : public ServicesTest {};

TEST_F(RunServiceTest, FindsTheWorkspaceFromASubdirectoryOrSaysWhyNot) {
  auto root = FindWorkspace(ws_ / "flows");
  ASSERT_TRUE(root.ok()) << root.status().message();
  EXPECT_EQ(fs::canonical(*root), fs::canonical(ws_));
  auto none = FindWorkspace(dir_.path());
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("no alambic.yaml"), std::string::npos);
}

TEST_F(RunServiceTest, RefusesAWarehouseRunWithoutAReleaseAndAuditsIt) {
  RecordingListener listener;
  ::testing::internal::CaptureStdout();
  auto outcome = RunWorkspace(ws_, WarehouseRequest(), &listener);
  const std::string printed = ::testing::internal::GetCapturedStdout();
  ASSERT_TRUE(outcome.ok()) << outcome.status().message();
  EXPECT_EQ(printed, "");
  EXPECT_EQ(outcome->verdict, RunVerdict::kRefused);
  EXPECT_TRUE(outcome->runs.empty());
  EXPECT_EQ(outcome->refusal.code(), StatusCode::kNotFound);
  EXPECT_NE(outcome->refusal.message().find("alambic promote"), std::string::npos)
      << outcome->refusal.message();
  ASSERT_TRUE(outcome->refusal_audit.has_value());
  EXPECT_GT(outcome->refusal_audit->seq, 0);

  // The catalog holds the refusal: who asked, what, where, why; and no run.
  auto cat = Cat();
  auto audit = cat->ReadAudit({.action = "run"});
  ASSERT_TRUE(audit.ok());
  ASSERT_EQ(audit->size(), 1u);
  const AuditEntry& e = audit->front();
  EXPECT_EQ(e.seq, outcome->refusal_audit->seq);
  EXPECT_EQ(e.user, "scheduler");
  EXPECT_EQ(e.environment, "warehouse");
  EXPECT_EQ(e.flow, "people");
  EXPECT_EQ(e.outcome, "refused");
  EXPECT_EQ(e.detail["error"].get<std::string>(), outcome->refusal.message());
  EXPECT_TRUE(cat->ListRuns(10)->empty());
  EXPECT_TRUE(cat->VerifyAudit().ok());
  EXPECT_TRUE(listener.releases.empty());
  EXPECT_TRUE(listener.observer.started.empty());
}

TEST_F(RunServiceTest, WithNoFlowNamedSkipsUnreleasedFlowsThenRefuses) {
  RecordingListener listener;
  RunRequest request = WarehouseRequest();
  request.selection.flows.clear();
  auto outcome = RunWorkspace(ws_, request, &listener);
  ASSERT_TRUE(outcome.ok()) << outcome.status().message();
  EXPECT_EQ(outcome->verdict, RunVerdict::kRefused);
  EXPECT_EQ(listener.skipped, std::vector<std::string>{"people in warehouse"});
  EXPECT_NE(outcome->refusal.message().find("no flow has a release in the warehouse"),
            std::string::npos);
  auto audit = Cat()->ReadAudit({.action = "run"});
  ASSERT_EQ(audit->size(), 1u);
  EXPECT_EQ(audit->front().flow, "");
  EXPECT_EQ(audit->front().outcome, "refused");
}

TEST_F(RunServiceTest, RunsTheActiveReleaseAndRecordsWhoAskedWithoutPrinting) {
  RunAndPromote();
  // The working tree moves on: the warehouse still runs the release's code.
  WriteFile(ws_ / "flows/people.yaml", "flow: people\nrecipes: [broken\n");
  RecordingListener listener;
  ::testing::internal::CaptureStdout();
  auto outcome = RunWorkspace(ws_, WarehouseRequest(), &listener);
  const std::string printed = ::testing::internal::GetCapturedStdout();
  ASSERT_TRUE(outcome.ok()) << outcome.status().message();
  EXPECT_EQ(printed, "");
  EXPECT_EQ(outcome->verdict, RunVerdict::kSucceeded) << outcome->refusal.message();
  ASSERT_EQ(outcome->runs.size(), 1u);
  const RunRecord& run = outcome->runs[0].run;
  EXPECT_EQ(run.status, "succeeded");
  EXPECT_EQ(run.environment, "warehouse");
  EXPECT_EQ(run.release, "people/1");
  EXPECT_EQ(run.user, "scheduler");
  EXPECT_EQ(run.trigger, "schedule");
  EXPECT_EQ(outcome->runs[0].succeeded, 1);
  EXPECT_EQ(listener.releases, std::vector<std::string>{"people/1"});
  EXPECT_EQ(listener.observer.started, std::vector<std::string>{run.id});
  EXPECT_TRUE(listener.warnings.empty());

  // As the catalog records it, with the warehouse's copy of the data.
  auto cat = Cat();
  auto found = cat->FindRun(run.id);
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->user, "scheduler");
  EXPECT_EQ(found->release, "people/1");
  auto current = cat->CurrentVersions("warehouse");
  ASSERT_TRUE(current.ok());
  ASSERT_EQ(current->size(), 1u);
  EXPECT_EQ(current->front().dataset, "people_raw");
  EXPECT_EQ(current->front().rows, 3);
  auto refusals = cat->ReadAudit({.action = "run", .environment = "warehouse"});
  for (const auto& e : *refusals) EXPECT_NE(e.outcome, "refused");
}

TEST_F(RunServiceTest, StartsNothingOnceCancelled) {
  RunAndPromote();
  CancelToken cancel;
  cancel.Cancel();
  RunRequest request = WarehouseRequest();
  request.cancel = &cancel;
  auto outcome = RunWorkspace(ws_, request);
  ASSERT_TRUE(outcome.ok()) << outcome.status().message();
  EXPECT_EQ(outcome->verdict, RunVerdict::kCancelled);
  EXPECT_TRUE(outcome->runs.empty());
  auto runs = Cat()->ListRuns(10);
  ASSERT_TRUE(runs.ok());
  for (const auto& r : *runs) EXPECT_NE(r.environment, "warehouse");
}

TEST_F(PromotionServiceTest, ReleasesAGreenFlowWithItsAuditEntry) {
  RunAndPromote();
  auto cat = Cat();
  auto active = cat->ActiveRelease("people", "warehouse");
  ASSERT_TRUE(active.ok());
  ASSERT_TRUE(active->has_value());
  EXPECT_EQ((*active)->number, 1);
  EXPECT_EQ((*active)->user, "alice");
  EXPECT_EQ((*active)->note, "first release");
  EXPECT_EQ((*active)->git_commit, Git(ws_, "rev-parse HEAD"));
  auto audit = cat->ReadAudit({.action = "promote"});
  ASSERT_EQ(audit->size(), 1u);
  EXPECT_EQ(audit->front().user, "alice");
  EXPECT_EQ(audit->front().outcome, "ok");
}

TEST_F(PromotionServiceTest, RefusesWithoutADatalabRunAndReleasesNothing) {
  PromotionRequest p;
  p.options.flow = "people";
  p.who = {"alice", "lab"};
  auto promoted = PromoteFlow(ws_, p);
  ASSERT_TRUE(promoted.ok()) << promoted.status().message();
  EXPECT_FALSE(promoted->Admitted());
  bool a_gate_failed = false;
  for (const auto& g : promoted->gates) a_gate_failed = a_gate_failed || (!g.passed && g.judged);
  EXPECT_TRUE(a_gate_failed);
  auto active = Cat()->ActiveRelease("people", "warehouse");
  ASSERT_TRUE(active.ok());
  EXPECT_FALSE(active->has_value());
}

TEST_F(PromotionServiceTest, RefusesAnUnknownOrTheSameEnvironmentBeforeAnyGate) {
  PromotionRequest p;
  p.options.flow = "people";
  p.options.to = "nowhere";
  auto unknown = PromoteFlow(ws_, p);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().message(), "unknown environment 'nowhere'");
  p.options.to = "datalab";
  auto same = PromoteFlow(ws_, p);
  ASSERT_FALSE(same.ok());
  EXPECT_EQ(same.status().message(),
            "cannot promote from datalab to itself: name the target with --to");
}

TEST_F(PromotionServiceTest, RollbackWithNoEarlierReleaseIsRefusedAndAudited) {
  RunAndPromote();
  auto cat = Cat();
  auto rolled = RollbackFlow(*cat, "warehouse", "people", 0, "try", {"bob", "ops"});
  ASSERT_FALSE(rolled.ok());
  EXPECT_EQ(rolled.status().code(), StatusCode::kInvalid);
  EXPECT_NE(rolled.status().message().find("no earlier release"), std::string::npos);
  auto audit = cat->ReadAudit({.action = "rollback"});
  ASSERT_EQ(audit->size(), 1u);
  EXPECT_EQ(audit->front().user, "bob");
  EXPECT_EQ(audit->front().outcome, "refused");
  auto active = cat->ActiveRelease("people", "warehouse");
  ASSERT_TRUE(active.ok() && active->has_value());
  EXPECT_EQ((*active)->number, 1);
}

TEST_F(ScheduleServiceTest, PausingAScheduleTwiceIsAuditedAsRefusedTheSecondTime) {
  auto cat = Cat();
  const sched::Instant now = *sched::ParseUtc("2026-03-02T08:00:00Z");
  auto first = PauseSchedule(*cat, "people", "warehouse", "0 3 * * 1", true, {"bob", "ops"}, now);
  ASSERT_TRUE(first.ok()) << first.status().message();
  EXPECT_TRUE(*first);
  auto again = PauseSchedule(*cat, "people", "warehouse", "0 3 * * 1", true, {"bob", "ops"}, now);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again);
  auto audit = cat->ReadAudit({.action = "schedule.pause"});
  ASSERT_EQ(audit->size(), 2u);
  EXPECT_EQ((*audit)[0].outcome, "ok");
  EXPECT_EQ((*audit)[0].target, "0 3 * * 1");
  EXPECT_EQ((*audit)[1].outcome, "refused");
  EXPECT_EQ((*audit)[1].detail["reason"], "already paused");
  auto state = cat->GetScheduleState("people", "warehouse");
  ASSERT_TRUE(state.ok() && state->has_value());
  EXPECT_TRUE((*state)->paused);
  EXPECT_EQ((*state)->paused_by, "bob@ops");
}

TEST_F(ScheduleServiceTest, CatchupReplaysTheSlotsMissedSinceTheLastFiredOneOnlyOnceSeen) {
  sched::ScheduleSpec spec;
  spec.cron = "30 2 * * *";
  spec.timezone = "Europe/Paris";
  spec.catchup.mode = sched::CatchupMode::kAll;
  auto schedule = sched::Schedule::Compile(spec);
  ASSERT_TRUE(schedule.ok()) << schedule.status().message();
  auto cat = Cat();
  const sched::Instant now = *sched::ParseUtc("2026-03-05T12:00:00Z");
  // Never seen by the scheduler: nothing to replay.
  auto unseen = PlanCatchup(*cat, "people", "warehouse", *schedule, now);
  ASSERT_TRUE(unseen.ok()) << unseen.status().message();
  EXPECT_FALSE(unseen->known);
  EXPECT_TRUE(unseen->slots.empty());
  // Seen on March 2nd, last fired for March 3rd: March 4th and 5th are missed
  // (02:30 in Paris is 01:30 UTC in winter).
  ASSERT_TRUE(
      cat->ObserveSchedule("people", "warehouse", spec.Definition(), "2026-03-02T00:00:00Z").ok());
  SlotClaim claim;
  claim.flow = "people";
  claim.environment = "warehouse";
  claim.nominal = "2026-03-03T02:30";
  claim.timezone = "Europe/Paris";
  claim.fire_at = "2026-03-03T01:30:00Z";
  ASSERT_TRUE(*cat->TryClaimSlot(claim));
  auto plan = PlanCatchup(*cat, "people", "warehouse", *schedule, now);
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  EXPECT_TRUE(plan->known);
  EXPECT_FALSE(plan->paused);
  ASSERT_TRUE(plan->last.has_value());
  EXPECT_EQ(plan->last->nominal, "2026-03-03T02:30");
  EXPECT_EQ(sched::FormatUtc(plan->not_before), "2026-03-02T00:00:00Z");
  ASSERT_EQ(plan->slots.size(), 2u);
  EXPECT_EQ(sched::FormatUtc(plan->slots[0].at), "2026-03-04T01:30:00Z");
  EXPECT_EQ(sched::FormatUtc(plan->slots[1].at), "2026-03-05T01:30:00Z");
  // Paused: nothing is replayed.
  ASSERT_TRUE(*PauseSchedule(*cat, "people", "warehouse", spec.cron, true, {"bob", "ops"}, now));
  auto paused = PlanCatchup(*cat, "people", "warehouse", *schedule, now);
  ASSERT_TRUE(paused.ok());
  EXPECT_TRUE(paused->paused);
  EXPECT_TRUE(paused->slots.empty());
}

}  // namespace
}  // namespace alambic::services_test
