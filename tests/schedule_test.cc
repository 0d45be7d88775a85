#include "core/sched/schedule.h"

#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "catalog/catalog.h"
#include "core/base/clock.h"
#include "test_util.h"

namespace alambic::sched::schedule_test {
namespace {

Instant Utc(const char* iso) { return *ParseUtc(iso); }

Schedule Make(const std::string& cron, const std::string& tz = "Europe/Paris",
              DstGap gap = DstGap::kRunAtNext, DstOverlap overlap = DstOverlap::kFirst) {
  ScheduleSpec spec;
  spec.cron = cron;
  spec.timezone = tz;
  spec.dst_gap = gap;
  spec.dst_overlap = overlap;
  auto s = Schedule::Compile(spec);
  EXPECT_TRUE(s.ok()) << s.status().message();
  return *s;
}

// "nominal -> UTC" for the slots of `s` after `from`.
std::vector<std::string> Fires(const Schedule& s, const char* from, int n) {
  std::vector<std::string> out;
  for (const auto& slot : s.Next(Utc(from), n))
    out.push_back(slot.nominal.ToString() + " " + FormatUtc(slot.at));
  return out;
}

TEST(ScheduleTest, SpringForwardGapRunsAtFirstValidInstantOrIsSkipped) {
  EXPECT_EQ(Fires(Make("30 2 * * *"), "2026-03-27T12:00:00Z", 3),
            (std::vector<std::string>{"2026-03-28T02:30 2026-03-28T01:30:00Z",
                                      "2026-03-29T02:30 2026-03-29T01:00:00Z",  // 03:00 CEST
                                      "2026-03-30T02:30 2026-03-30T00:30:00Z"}));
  EXPECT_EQ(Fires(Make("30 2 * * *", "Europe/Paris", DstGap::kSkip), "2026-03-27T12:00:00Z", 2),
            (std::vector<std::string>{"2026-03-28T02:30 2026-03-28T01:30:00Z",
                                      "2026-03-30T02:30 2026-03-30T00:30:00Z"}));
}

TEST(ScheduleTest, FallBackOverlapRunsOnceFirstOrSecond) {
  EXPECT_EQ(Fires(Make("30 2 * * *"), "2026-10-24T12:00:00Z", 2),
            (std::vector<std::string>{"2026-10-25T02:30 2026-10-25T00:30:00Z",  // CEST
                                      "2026-10-26T02:30 2026-10-26T01:30:00Z"}));
  EXPECT_EQ(Fires(Make("30 2 * * *", "Europe/Paris", DstGap::kRunAtNext, DstOverlap::kSecond),
                  "2026-10-24T12:00:00Z", 2),
            (std::vector<std::string>{"2026-10-25T02:30 2026-10-25T01:30:00Z",  // CET
                                      "2026-10-26T02:30 2026-10-26T01:30:00Z"}));
  // Asked from between the two occurrences: the slot that already fired
  // (first) is not offered again.
  EXPECT_EQ(Fires(Make("30 2 * * *"), "2026-10-25T01:00:00Z", 1),
            (std::vector<std::string>{"2026-10-26T02:30 2026-10-26T01:30:00Z"}));
}

TEST(ScheduleTest, PermisMondaysAtThreeAcrossBothTransitions) {
  EXPECT_EQ(Fires(Make("0 3 * * 1"), "2026-03-20T00:00:00Z", 2),
            (std::vector<std::string>{"2026-03-23T03:00 2026-03-23T02:00:00Z",
                                      "2026-03-30T03:00 2026-03-30T01:00:00Z"}));
  EXPECT_EQ(Fires(Make("0 3 * * 1"), "2026-10-20T00:00:00Z", 2),
            (std::vector<std::string>{"2026-10-26T03:00 2026-10-26T02:00:00Z",
                                      "2026-11-02T03:00 2026-11-02T02:00:00Z"}));
}

// Fire times per local day of an hourly schedule, for the slots firing in
// [from, to) (Next is strictly after its instant: start one second earlier so
// that a slot firing exactly at `from` counts).
std::map<std::string, int> PerDay(const Schedule& s, const char* from, const char* to) {
  std::map<std::string, int> days;
  for (const auto& slot : s.Next(Utc(from) - std::chrono::seconds(1), 200))
    if (slot.at < Utc(to)) ++days[slot.nominal.ToString().substr(0, 10)];
  return days;
}

TEST(ScheduleTest, HourlyAcrossTransitionsCountsFiresPerDay) {
  auto spring = PerDay(Make("0 * * * *"), "2026-03-27T23:00:00Z", "2026-03-30T22:00:00Z");
  EXPECT_EQ(spring["2026-03-28"], 24);
  EXPECT_EQ(spring["2026-03-29"], 24);  // a 23-hour day; 02:00 fires at 03:00 CEST
  EXPECT_EQ(spring["2026-03-30"], 24);
  auto skip = PerDay(Make("0 * * * *", "Europe/Paris", DstGap::kSkip), "2026-03-28T23:00:00Z",
                     "2026-03-29T22:00:00Z");
  EXPECT_EQ(skip["2026-03-29"], 23);
  // A 25-hour day: 24 nominal hours, each fired once (02:00 at its first occurrence).
  auto fall = PerDay(Make("0 * * * *"), "2026-10-24T22:00:00Z", "2026-10-25T23:00:00Z");
  EXPECT_EQ(fall["2026-10-25"], 24);
  // No slot fires twice, none is lost: nominal times are all distinct.
  auto slots = Make("*/30 * * * *").Next(Utc("2026-10-24T22:00:00Z"), 60);
  for (size_t i = 1; i < slots.size(); ++i) {
    EXPECT_LT(slots[i - 1].nominal, slots[i].nominal);
    EXPECT_LE(slots[i - 1].at, slots[i].at);
  }
}

TEST(ScheduleTest, ZonesWithoutDstNeverShift) {
  auto tokyo =
      PerDay(Make("0 * * * *", "Asia/Tokyo"), "2026-03-28T15:00:00Z", "2026-03-29T15:00:00Z");
  EXPECT_EQ(tokyo["2026-03-29"], 24);
  EXPECT_EQ(Fires(Make("30 2 * * *", "Asia/Tokyo"), "2026-10-24T00:00:00Z", 1),
            (std::vector<std::string>{"2026-10-25T02:30 2026-10-24T17:30:00Z"}));
  EXPECT_EQ(Fires(Make("@daily", "UTC"), "2026-03-29T00:30:00Z", 1),
            (std::vector<std::string>{"2026-03-30T00:00 2026-03-30T00:00:00Z"}));
}

TEST(ScheduleTest, FutureRulesBeyond2037AndStartEnd) {
  EXPECT_EQ(Fires(Make("0 12 1 7 *"), "2040-01-01T00:00:00Z", 1),
            (std::vector<std::string>{"2040-07-01T12:00 2040-07-01T10:00:00Z"}));  // CEST
  ScheduleSpec spec;
  spec.cron = "0 3 * * 1";
  spec.start = LocalTime{2026, 4, 1, 0, 0};
  spec.end = LocalTime{2026, 4, 13, 23, 59};
  auto s = Schedule::Compile(spec);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(Fires(*s, "2026-01-01T00:00:00Z", 5),
            (std::vector<std::string>{"2026-04-06T03:00 2026-04-06T01:00:00Z",
                                      "2026-04-13T03:00 2026-04-13T01:00:00Z"}));
  spec.end = LocalTime{2026, 3, 1, 0, 0};
  EXPECT_EQ(Schedule::Compile(spec).status().message(),
            "schedule end 2026-03-01T00:00 is before its start 2026-04-01T00:00");
}

TEST(ScheduleTest, ZoneNamesAreCheckedAndConfined) {
  EXPECT_EQ(TimeZone::Load("Mars/Olympus").status().message(),
            "unknown time zone 'Mars/Olympus' (not in the system's tzdata, /usr/share/zoneinfo)");
  EXPECT_EQ(TimeZone::Load("../../etc/passwd").status().message(),
            "'../../etc/passwd' is not a time zone name (e.g. Europe/Paris)");
  EXPECT_FALSE(TimeZone::Load("/etc/localtime").ok());
  EXPECT_FALSE(TimeZone::Load("").ok());
  auto paris = TimeZone::Load("Europe/Paris");
  ASSERT_TRUE(paris.ok());
  auto t = paris->NextTransition(Utc("2026-06-01T00:00:00Z"));
  ASSERT_TRUE(t);
  EXPECT_EQ(FormatUtc(t->at), "2026-10-25T01:00:00Z");
  EXPECT_EQ(t->from.ToString(), "2026-10-25T03:00");
  EXPECT_EQ(t->to.ToString(), "2026-10-25T02:00");
  // The spring one, and New York's (checked with Python's zoneinfo).
  t = paris->NextTransition(Utc("2026-01-01T00:00:00Z"));
  ASSERT_TRUE(t);
  EXPECT_EQ(FormatUtc(t->at), "2026-03-29T01:00:00Z");
  EXPECT_EQ(t->from.ToString(), "2026-03-29T02:00");
  EXPECT_EQ(t->to.ToString(), "2026-03-29T03:00");
  auto ny = TimeZone::Load("America/New_York");
  ASSERT_TRUE(ny.ok());
  t = ny->NextTransition(Utc("2026-06-01T00:00:00Z"));
  ASSERT_TRUE(t);
  EXPECT_EQ(FormatUtc(t->at), "2026-11-01T06:00:00Z");
  EXPECT_EQ(t->from.ToString(), "2026-11-01T02:00");
  EXPECT_EQ(t->to.ToString(), "2026-11-01T01:00");
}

TEST(ScheduleTest, PolicyWordsAndWindows) {
  EXPECT_EQ(ParseDstGap("later").status().message(),
            "dst_gap must be run_at_next or skip, not 'later'");
  EXPECT_EQ(*ParseWindow("7d"), std::chrono::hours(24 * 7));
  EXPECT_EQ(*ParseWindow("90m"), std::chrono::minutes(90));
  EXPECT_FALSE(ParseWindow("0d").ok());
  EXPECT_FALSE(ParseWindow("7").ok());
  EXPECT_FALSE(ParseWindow("99999999999d").ok());
  EXPECT_EQ(WindowToString(std::chrono::hours(48)), "2d");
}

Schedule WithCatchup(CatchupMode mode, int max, std::chrono::seconds window) {
  ScheduleSpec spec;
  spec.cron = "0 * * * *";
  spec.catchup = {mode, max, window};
  return *Schedule::Compile(spec);
}

std::vector<std::string> Nominals(const std::vector<Slot>& slots) {
  std::vector<std::string> out;
  for (const auto& s : slots) out.push_back(s.nominal.ToString());
  return out;
}

TEST(CatchupTest, PoliciesReplayOnlyMissingSlots) {
  // Last fired 2026-06-01T05:00 (Paris); the daemon comes back at 09:10 local.
  const LocalTime last{2026, 6, 1, 5, 0};
  const Instant seen = Utc("2026-05-01T00:00:00Z"), now = Utc("2026-06-01T07:10:00Z");
  EXPECT_TRUE(
      CatchupSlots(WithCatchup(CatchupMode::kNone, 10, std::chrono::hours(24)), last, seen, now)
          .empty());
  EXPECT_EQ(Nominals(CatchupSlots(WithCatchup(CatchupMode::kLatest, 10, std::chrono::hours(24)),
                                  last, seen, now)),
            (std::vector<std::string>{"2026-06-01T09:00"}));
  EXPECT_EQ(Nominals(CatchupSlots(WithCatchup(CatchupMode::kAll, 10, std::chrono::hours(24)), last,
                                  seen, now)),
            (std::vector<std::string>{"2026-06-01T06:00", "2026-06-01T07:00", "2026-06-01T08:00",
                                      "2026-06-01T09:00"}));
  // max keeps the most recent; window drops the old ones.
  EXPECT_EQ(Nominals(CatchupSlots(WithCatchup(CatchupMode::kAll, 2, std::chrono::hours(24)), last,
                                  seen, now)),
            (std::vector<std::string>{"2026-06-01T08:00", "2026-06-01T09:00"}));
  EXPECT_EQ(Nominals(CatchupSlots(WithCatchup(CatchupMode::kAll, 10, std::chrono::minutes(150)),
                                  last, seen, now)),
            (std::vector<std::string>{"2026-06-01T07:00", "2026-06-01T08:00", "2026-06-01T09:00"}));
  // Nothing before the schedule was first seen (a changed schedule never fires the past).
  EXPECT_EQ(Nominals(CatchupSlots(WithCatchup(CatchupMode::kAll, 10, std::chrono::hours(24)),
                                  std::nullopt, Utc("2026-06-01T05:30:00Z"), now)),
            (std::vector<std::string>{"2026-06-01T08:00", "2026-06-01T09:00"}));
  // Up to date: nothing.
  EXPECT_TRUE(CatchupSlots(WithCatchup(CatchupMode::kAll, 10, std::chrono::hours(24)),
                           LocalTime{2026, 6, 1, 9, 0}, seen, now)
                  .empty());
}

TEST(CatchupTest, AcrossFallBackEachNominalSlotOnce) {
  // Down from 23:00 to 05:00 local on 2026-10-25: 00:00 ... 05:00 missed, 02:00 once.
  auto slots = CatchupSlots(WithCatchup(CatchupMode::kAll, 100, std::chrono::hours(24)),
                            LocalTime{2026, 10, 24, 23, 0}, Utc("2026-10-01T00:00:00Z"),
                            Utc("2026-10-25T04:30:00Z"));
  EXPECT_EQ(Nominals(slots),
            (std::vector<std::string>{"2026-10-25T00:00", "2026-10-25T01:00", "2026-10-25T02:00",
                                      "2026-10-25T03:00", "2026-10-25T04:00", "2026-10-25T05:00"}));
}

// Independent oracle: Python's zoneinfo over the same tzdata, a year of daily
// (02:30) and hourly schedules in three zones, policy run_at_next / first.
// Debian's /usr/bin/python3 (zoneinfo, no shim), stepping only over the
// nominal times: well under a second even on a loaded machine.
TEST(ScheduleOracleTest, AYearOfFireTimesAgreesWithPythonZoneinfo) {
  const char* script = R"PY(
import datetime as dt, zoneinfo, sys
UTC = dt.timezone.utc
def instant(z, l):
    a = l.replace(tzinfo=z, fold=0)
    if a.astimezone(UTC).astimezone(z).replace(tzinfo=None) == l:
        return a.astimezone(UTC)          # exists (fold=0: the first of two)
    m = l                                 # in a gap: the first local time that exists
    while True:
        m += dt.timedelta(minutes=1)
        b = m.replace(tzinfo=z, fold=0)
        if b.astimezone(UTC).astimezone(z).replace(tzinfo=None) == m:
            return b.astimezone(UTC)
out = []
for name in ["Europe/Paris", "America/New_York", "Asia/Tokyo"]:
    z = zoneinfo.ZoneInfo(name)
    for cron, first, step in [("30 2 * * *", dt.datetime(2026, 1, 1, 2, 30), dt.timedelta(days=1)),
                              ("0 * * * *", dt.datetime(2026, 1, 1, 0, 0), dt.timedelta(hours=1))]:
        l = first
        while l.year == 2026:
            out.append(f"{name} {cron} {l:%Y-%m-%dT%H:%M} {instant(z, l):%Y-%m-%dT%H:%M:%SZ}")
            l += step
sys.stdout.write("\n".join(out) + "\n")
)PY";
  testing::TempDir dir;
  testing::WriteFile(dir.path() / "oracle.py", script);
  FILE* p = popen(
      ("/usr/bin/python3 " + testing::ShellQuote((dir.path() / "oracle.py").string())).c_str(),
      "r");
  ASSERT_NE(p, nullptr);
  std::map<std::string, std::vector<std::string>> expected;
  char buf[256];
  while (std::fgets(buf, sizeof buf, p)) {
    std::string line(buf);
    if (!line.empty() && line.back() == '\n') line.pop_back();
    const size_t a = line.find(' ');
    // "zone m h * * * nominal utc": the key is "zone|cron".
    const size_t nominal = line.rfind(' ', line.rfind(' ') - 1);
    expected[line.substr(0, a) + "|" + line.substr(a + 1, nominal - a - 1)].push_back(
        line.substr(nominal + 1));
  }
  ASSERT_EQ(pclose(p), 0);
  ASSERT_EQ(expected.size(), 6u);
  for (const auto& [key, want] : expected) {
    const std::string zone = key.substr(0, key.find('|')), cron = key.substr(key.find('|') + 1);
    Schedule s = Make(cron, zone);
    auto z = TimeZone::Load(zone);
    ASSERT_TRUE(z.ok());
    // Every slot whose nominal time is in 2026.
    std::vector<std::string> got;
    for (const auto& slot :
         s.Next(Utc("2025-12-30T00:00:00Z"), static_cast<int>(want.size()) + 100))
      if (slot.nominal.year == 2026)
        got.push_back(slot.nominal.ToString() + " " + FormatUtc(slot.at));
    EXPECT_EQ(got.size(), want.size()) << key;
    EXPECT_EQ(got, want) << key;
  }
}

TEST(ScheduleCatalogTest, ASlotIsClaimedOnceAcrossConnections) {
  testing::TempDir dir;
  auto a = Catalog::Open(dir.path() / "catalog.db");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ((*a)->schema_version(), kCatalogSchemaVersion);
  // A second daemon's connection: a writer like the first (a read-only one
  // cannot claim anything).
  auto b = Catalog::Open(dir.path() / "catalog.db");
  ASSERT_TRUE(b.ok()) << b.status().message();
  // Claims `slot` through `c`; an error fails the test rather than reading as a bool.
  auto claim = [](Catalog& c, const SlotClaim& slot) {
    auto r = c.TryClaimSlot(slot);
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() && *r;
  };
  SlotClaim s{"permis", "warehouse", "2026-10-25T02:30", "Europe/Paris", "2026-10-25T00:30:00Z"};
  EXPECT_TRUE(claim(**a, s));
  EXPECT_FALSE(claim(**b, s));
  EXPECT_FALSE(claim(**a, s));
  SlotClaim second = s;  // the second occurrence of 02:30 is the same slot
  second.fire_at = "2026-10-25T01:30:00Z";
  EXPECT_FALSE(claim(**b, second));
  SlotClaim other_env = s;
  other_env.environment = "datalab";
  EXPECT_TRUE(claim(**b, other_env));
  // A read-only connection cannot claim: an error, never a claim.
  auto reader = Catalog::OpenReader(dir.path() / "catalog.db");
  ASSERT_TRUE(reader.ok());
  SlotClaim third = s;
  third.flow = "other";
  EXPECT_FALSE((*reader)->TryClaimSlot(third).ok());
  EXPECT_TRUE(claim(**b, third));
  ASSERT_TRUE((*a)->SetSlotRun(s, "run-1").ok());
  auto last = (*b)->LastClaimedSlot("permis", "warehouse", "Europe/Paris");
  ASSERT_TRUE(last.ok() && last->has_value());
  EXPECT_EQ((*last)->nominal, "2026-10-25T02:30");
  EXPECT_EQ((*last)->fire_at, "2026-10-25T00:30:00Z");
  EXPECT_EQ((*last)->run_id, "run-1");
}

TEST(ScheduleCatalogTest, FirstSeenRestartsWhenTheScheduleChangesAndPauseIsKept) {
  testing::TempDir dir;
  auto c = Catalog::Open(dir.path() / "catalog.db");
  ASSERT_TRUE(c.ok());
  auto s1 = (*c)->ObserveSchedule("permis", "warehouse", "cron=0 3 * * 1", "2026-01-01T00:00:00Z");
  ASSERT_TRUE(s1.ok());
  EXPECT_EQ(s1->first_seen, "2026-01-01T00:00:00Z");
  auto again =
      (*c)->ObserveSchedule("permis", "warehouse", "cron=0 3 * * 1", "2026-02-01T00:00:00Z");
  EXPECT_EQ(again->first_seen, "2026-01-01T00:00:00Z");
  EXPECT_EQ(*(*c)->SetSchedulePaused("permis", "warehouse", true, Actor{"carol", "h"},
                                     "2026-02-02T00:00:00Z"),
            true);
  EXPECT_EQ(*(*c)->SetSchedulePaused("permis", "warehouse", true, Actor{"carol", "h"},
                                     "2026-02-02T00:00:00Z"),
            false);
  auto changed =
      (*c)->ObserveSchedule("permis", "warehouse", "cron=0 4 * * 1", "2026-03-01T00:00:00Z");
  EXPECT_EQ(changed->first_seen, "2026-03-01T00:00:00Z");
  EXPECT_TRUE(changed->paused);
  EXPECT_EQ(changed->paused_by, "carol@h");
  EXPECT_EQ(*(*c)->SetSchedulePaused("permis", "warehouse", false, Actor{"dan", ""},
                                     "2026-03-02T00:00:00Z"),
            true);
  auto st = (*c)->GetScheduleState("permis", "warehouse");
  ASSERT_TRUE(st.ok() && st->has_value());
  EXPECT_FALSE((*st)->paused);
  EXPECT_EQ((*st)->resumed_at, "2026-03-02T00:00:00Z");
}

TEST(ClockTest, ManualClockMovesOnlyWhenTold) {
  ManualClock clock(std::chrono::system_clock::time_point(Utc("2026-03-29T00:59:00Z")));
  EXPECT_EQ(clock.Now(), std::chrono::system_clock::time_point(Utc("2026-03-29T00:59:00Z")));
  clock.Advance(std::chrono::minutes(1));
  EXPECT_EQ(FormatUtc(std::chrono::floor<std::chrono::seconds>(clock.Now())),
            "2026-03-29T01:00:00Z");
  SystemClock real;
  EXPECT_GT(real.Now(), clock.Now());
}

}  // namespace
}  // namespace alambic::sched::schedule_test
