// `alambic schedule ...` on a small workspace, through the real binary.
#include <gtest/gtest.h>

#include "catalog/catalog.h"
#include "test_util.h"

namespace alambic {
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
  auto r = Cli(dir.path(),
               {"schedule", "next", "permis", "--count", "3", "--at", "2026-03-27T12:00:00Z"});
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
  auto fall = Cli(dir.path(),
                  {"schedule", "next", "permis", "--count", "1", "--at", "2026-10-24T12:00:00Z"});
  EXPECT_NE(fall.out.find("2026-10-25T02:30:00+02:00 CEST  2026-10-25T00:30:00Z  02:30 happens "
                          "twice that day: runs once, first occurrence"),
            std::string::npos)
      << fall.out;
}

TEST(ScheduleCliTest, ListPauseResumeAreRecordedAndAudited) {
  TempDir dir;
  Workspace(dir, "{cron: \"0 3 * * 1\", catchup: {policy: all, max: 3, window: 2w}}");
  auto list = Cli(dir.path(), {"schedule", "list", "--at", "2026-03-24T00:00:00Z"});
  ASSERT_EQ(list.code, 0) << list.err;
  EXPECT_NE(list.out.find("permis  0 3 * * 1  Europe/Paris  dst_gap run_at_next, dst_overlap "
                          "first, catchup all (max 3) within 2w  active  "
                          "2026-03-30T03:00:00+02:00  2026-03-30T01:00:00Z"),
            std::string::npos)
      << list.out;
  EXPECT_EQ(list.out.find("other"), std::string::npos);
  auto pause = Cli(dir.path(), {"schedule", "pause", "permis"}, "USER=carol");
  ASSERT_EQ(pause.code, 0) << pause.err;
  EXPECT_EQ(pause.out, "permis paused in warehouse\n");
  list = Cli(dir.path(), {"schedule", "list"});
  EXPECT_NE(list.out.find("  paused  "), std::string::npos) << list.out;
  auto resume = Cli(dir.path(), {"schedule", "resume", "permis"}, "USER=dan");
  EXPECT_EQ(resume.out,
            "permis resumed in warehouse (slots missed while paused are not replayed)\n");
  auto audit = Cli(dir.path(), {"audit", "--format", "json"});
  ASSERT_EQ(audit.code, 0) << audit.err;
  EXPECT_NE(audit.out.find("\"action\": \"schedule.pause\""), std::string::npos) << audit.out;
  EXPECT_NE(audit.out.find("\"action\": \"schedule.resume\""), std::string::npos) << audit.out;
  EXPECT_NE(audit.out.find("\"user\": \"carol\""), std::string::npos) << audit.out;
  auto bad = Cli(dir.path(), {"schedule", "pause", "other"});
  EXPECT_EQ(bad.code, 1);
  EXPECT_EQ(bad.err, "alambic: flow other has no schedule (flows/other.yaml)\n");
}

TEST(ScheduleCliTest, CatchupDryRunNeverReplaysAScheduleNotSeenBefore) {
  TempDir dir;
  Workspace(dir, "{cron: \"0 3 * * 1\"}");
  auto r = Cli(dir.path(), {"schedule", "catchup", "permis", "--dry-run"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("never seen by the scheduler in warehouse: it replays no past slot"),
            std::string::npos)
      << r.out;
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
  auto next = Cli(dir.path(), {"schedule", "next", "permis"});
  EXPECT_EQ(next.code, 1);
}

}  // namespace
}  // namespace alambic
