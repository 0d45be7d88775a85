// `alambic schedule ...` on a small workspace, through the real binary.
#include <gtest/gtest.h>

#include "catalog/catalog.h"
#include "core/flow/loader.h"
#include "core/flow/schedule_spec.h"
#include "services/promotion.h"
#include "services/runs.h"
#include "tests/git_test_util.h"
#include "tests/test_util.h"

namespace alambic::schedule_cli_test {
namespace {

using testing::Cli;
using testing::TempDir;
using testing::WriteFile;

void Workspace(const TempDir& dir, const std::string& schedule) {
  WriteFile(dir.path() / "alambic.yaml", "name: t\n");
  WriteFile(dir.path() / "flows/permis.yaml",
            "flow: permis\nschedule: " + schedule + "\nrecipes: []\n");
  WriteFile(dir.path() / "flows/other.yaml", "flow: other\nrecipes: []\n");
}

TEST(ScheduleCliTest, NextPrintsLocalAndUtcAcrossTheTransition) {
  TempDir dir;
  Workspace(dir, "{cron: \"30 2 * * *\", timezone: Europe/Paris, dst_gap: skip}");
  auto r = Cli(dir.path(), {"--env", "datalab", "schedule", "next", "permis", "--count", "3",
                            "--at", "2026-03-27T12:00:00Z"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("next DST transition: 2026-03-29T01:00:00Z, local clocks go from "
                       "2026-03-29T02:00 to 2026-03-29T03:00"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("2026-03-28T02:30  2026-03-28T02:30:00+01:00 CET   2026-03-28T01:30:00Z"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("2026-03-29T02:30"), std::string::npos) << r.out;  // skipped
  EXPECT_NE(r.out.find("2026-03-30T02:30  2026-03-30T02:30:00+02:00 CEST  2026-03-30T00:30:00Z"),
            std::string::npos)
      << r.out;
  auto fall = Cli(dir.path(), {"--env", "datalab", "schedule", "next", "permis", "--count", "1",
                               "--at", "2026-10-24T12:00:00Z"});
  EXPECT_NE(fall.out.find("2026-10-25T02:30:00+02:00 CEST  2026-10-25T00:30:00Z  02:30 happens "
                          "twice that day: runs once, first occurrence"),
            std::string::npos)
      << fall.out;
}

TEST(ScheduleCliTest, ListPauseResumeAreRecordedAndAudited) {
  TempDir dir;
  Workspace(dir, "{cron: \"0 3 * * 1\", catchup: {policy: all, max: 3, window: 2w}}");
  auto list =
      Cli(dir.path(), {"--env", "datalab", "schedule", "list", "--at", "2026-03-24T00:00:00Z"});
  ASSERT_EQ(list.code, 0) << list.err;
  EXPECT_NE(list.out.find("permis  0 3 * * 1  Europe/Paris  dst_gap run_at_next, dst_overlap "
                          "first, catchup all (max 3) within 2w  active  "
                          "2026-03-30T03:00:00+02:00  2026-03-30T01:00:00Z"),
            std::string::npos)
      << list.out;
  EXPECT_EQ(list.out.find("other"), std::string::npos);
  auto pause = Cli(dir.path(), {"--env", "datalab", "schedule", "pause", "permis"}, "USER=carol");
  ASSERT_EQ(pause.code, 0) << pause.err;
  EXPECT_EQ(pause.out, "permis paused in datalab\n");
  list = Cli(dir.path(), {"--env", "datalab", "schedule", "list"});
  EXPECT_NE(list.out.find("  paused  "), std::string::npos) << list.out;
  auto resume = Cli(dir.path(), {"--env", "datalab", "schedule", "resume", "permis"}, "USER=dan");
  EXPECT_EQ(resume.out, "permis resumed in datalab (slots missed while paused are not replayed)\n");
  auto audit = Cli(dir.path(), {"audit", "--format", "json"});
  ASSERT_EQ(audit.code, 0) << audit.err;
  EXPECT_NE(audit.out.find("\"action\": \"schedule.pause\""), std::string::npos) << audit.out;
  EXPECT_NE(audit.out.find("\"action\": \"schedule.resume\""), std::string::npos) << audit.out;
  EXPECT_NE(audit.out.find("\"user\": \"carol\""), std::string::npos) << audit.out;
  auto bad = Cli(dir.path(), {"--env", "datalab", "schedule", "pause", "other"});
  EXPECT_EQ(bad.code, 1);
  EXPECT_EQ(bad.err, "alambic: flow other has no schedule (flows/other.yaml)\n");
}

TEST(ScheduleCliTest, CatchupDryRunNeverReplaysAScheduleNotSeenBefore) {
  TempDir dir;
  Workspace(dir, "{cron: \"0 3 * * 1\"}");
  auto r = Cli(dir.path(), {"--env", "datalab", "schedule", "catchup", "permis", "--dry-run"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("never seen by the scheduler in datalab: it replays no past slot"),
            std::string::npos)
      << r.out;
}

// In the warehouse (runs of active releases only) `schedule list|next|catchup`
// show the schedules of the active releases, what the daemon runs, not the
// working tree's; a flow without an active release is said to have none.
TEST(ScheduleCliTest, WarehouseShowsTheActiveReleasesSchedules) {
  TempDir dir;
  const auto ws = dir.path();
  auto flow = [](const std::string& name, const std::string& cron) {
    return "flow: " + name + "\nschedule: {cron: \"" + cron +
           "\", timezone: UTC, catchup: {policy: all, max: 5, window: 30d}}\nrecipes:\n"
           "  - {name: collect_" +
           name + ", kind: collect, outputs: [" + name +
           "_raw], params: {path: data/people.csv, delimiter: \";\"}}\n";
  };
  WriteFile(ws / "alambic.yaml", "name: t\n");
  WriteFile(ws / ".gitignore", ".alambic/\n");
  WriteFile(ws / "data/people.csv", "id;dept\n1;01\n2;2A\n");
  const std::string released = flow("permis", "0 3 * * 1");
  WriteFile(ws / "flows/permis.yaml", released);
  testing::Git(ws, "init -q");
  testing::CommitAll(ws, "permis", "2026-01-05T10:00:00Z");
  RunRequest lab;
  lab.jobs = 1;
  auto ran = RunWorkspace(ws, lab);
  ASSERT_TRUE(ran.ok()) << ran.status().message();
  PromotionRequest p;
  p.options.flow = "permis";
  p.who = {"alice", "lab"};
  auto promoted = PromoteFlow(ws, p);
  ASSERT_TRUE(promoted.ok()) << promoted.status().message();
  ASSERT_TRUE(promoted->Admitted());
  // Edited and committed, not promoted; and a new flow never promoted.
  WriteFile(ws / "flows/permis.yaml", flow("permis", "*/5 * * * *"));
  WriteFile(ws / "flows/other.yaml", flow("other", "0 4 * * *"));
  testing::CommitAll(ws, "every 5 minutes", "2026-01-06T10:00:00Z");

  auto list = Cli(ws, {"schedule", "list", "--at", "2026-03-24T00:00:00Z"});
  ASSERT_EQ(list.code, 0) << list.err;
  EXPECT_NE(list.out.find("schedules of the active releases in warehouse"), std::string::npos)
      << list.out;
  EXPECT_NE(list.out.find("permis  0 3 * * 1"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("2026-03-30T03:00:00Z"), std::string::npos) << list.out;
  EXPECT_EQ(list.out.find("*/5"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("(no active release)"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("not scheduled"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("note: permis: the working tree's schedule differs from release"),
            std::string::npos)
      << list.out;
  // The lab runs the working tree's.
  auto lab_list = Cli(ws, {"--env", "datalab", "schedule", "list"});
  EXPECT_NE(lab_list.out.find("permis  */5 * * * *"), std::string::npos) << lab_list.out;

  auto next =
      Cli(ws, {"schedule", "next", "permis", "--count", "2", "--at", "2026-03-24T00:00:00Z"});
  ASSERT_EQ(next.code, 0) << next.err;
  EXPECT_NE(next.out.find("permis: 0 3 * * 1 in UTC"), std::string::npos) << next.out;
  EXPECT_NE(next.out.find("2026-03-30T03:00"), std::string::npos) << next.out;
  EXPECT_NE(next.out.find("2026-04-06T03:00"), std::string::npos) << next.out;
  auto none = Cli(ws, {"schedule", "next", "other"});
  EXPECT_EQ(none.code, 1);
  EXPECT_NE(none.err.find("flow other has no active release in warehouse"), std::string::npos)
      << none.err;
  auto catchup = Cli(ws, {"schedule", "catchup", "other", "--dry-run"});
  EXPECT_EQ(catchup.code, 1);
  EXPECT_NE(catchup.err.find("no active release"), std::string::npos) << catchup.err;

  // The scheduler saw the released schedule on 2026-03-02: a catch-up on
  // 2026-03-17 would replay the released Mondays since (2, 9 and 16 March at
  // 03:00), not slots of the working tree's schedule (every 5 minutes).
  {
    std::vector<Diagnostic> diags;
    Flow f = ParseFlow(released, "flows/permis.yaml", &diags);
    ASSERT_TRUE(diags.empty());
    auto spec = ScheduleSpecOf(*f.schedule);
    ASSERT_TRUE(spec.ok());
    auto cat = Catalog::Open(ws / ".alambic" / "catalog.db");
    ASSERT_TRUE(cat.ok());
    ASSERT_TRUE(
        (*cat)
            ->ObserveSchedule("permis", "warehouse", spec->Definition(), "2026-03-02T00:00:00Z")
            .ok());
  }
  auto plan =
      Cli(ws, {"schedule", "catchup", "permis", "--dry-run", "--at", "2026-03-17T00:00:00Z"});
  ASSERT_EQ(plan.code, 0) << plan.err;
  EXPECT_NE(plan.out.find("permis: 0 3 * * 1 in UTC"), std::string::npos) << plan.out;
  EXPECT_NE(plan.out.find("would replay 3 slots"), std::string::npos) << plan.out;
  EXPECT_NE(plan.out.find("2026-03-02T03:00 UTC"), std::string::npos) << plan.out;
  EXPECT_NE(plan.out.find("2026-03-09T03:00 UTC"), std::string::npos) << plan.out;
  EXPECT_NE(plan.out.find("2026-03-16T03:00 UTC"), std::string::npos) << plan.out;
}

TEST(ScheduleCliTest, BadScheduleIsReportedAtItsLine) {
  TempDir dir;
  WriteFile(dir.path() / "alambic.yaml", "name: t\n");
  WriteFile(dir.path() / "flows/permis.yaml",
            "flow: permis\nschedule:\n  cron: \"0 25 * * 1\"\n  timezone: Europe/Pariss\n"
            "  dst_overlap: both\n  catchup: {policy: all, max: 0, window: soon}\n"
            "recipes: []\n");
  auto r = Cli(dir.path(), {"validate"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("flows/permis.yaml:3:9: schedule cron '0 25 * * 1': hour '25' at "
                       "position 3 is out of range 0-23"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("flows/permis.yaml:4:13: schedule unknown time zone 'Europe/Pariss'"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("flows/permis.yaml:5:16: schedule dst_overlap must be first or second, "
                       "not 'both'"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("schedule catchup max must be an integer between 1 and 1000"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("schedule catchup window 'soon' must be a positive duration"),
            std::string::npos)
      << r.err;
  auto next = Cli(dir.path(), {"--env", "datalab", "schedule", "next", "permis"});
  EXPECT_EQ(next.code, 1);
}

}  // namespace
}  // namespace alambic::schedule_cli_test
