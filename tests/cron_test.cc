#include "core/sched/cron.h"

#include <gtest/gtest.h>

namespace alambic::sched::cron_test {
namespace {

CronExpr P(const char* text) {
  auto c = CronExpr::Parse(text);
  EXPECT_TRUE(c.ok()) << text << ": " << c.status().message();
  return c.ok() ? *c : CronExpr();
}

std::string Err(const char* text) {
  auto c = CronExpr::Parse(text);
  return c.ok() ? "(parsed)" : c.status().message();
}

LocalTime L(int y, int mo, int d, int h, int mi) { return LocalTime{y, mo, d, h, mi}; }

TEST(CronTest, ListsRangesStepsAndNames) {
  CronExpr c = P("5,35 8-18/2 * JAN-mar,dec Mon-Fri");
  EXPECT_TRUE(c.Matches(L(2026, 1, 5, 8, 5)));     // a Monday
  EXPECT_TRUE(c.Matches(L(2026, 12, 4, 18, 35)));  // a Friday
  EXPECT_FALSE(c.Matches(L(2026, 1, 5, 9, 5)));    // odd hour
  EXPECT_FALSE(c.Matches(L(2026, 1, 3, 8, 5)));    // a Saturday
  EXPECT_FALSE(c.Matches(L(2026, 4, 6, 8, 5)));    // April
  CronExpr every = P("*/15 * * * *");
  EXPECT_TRUE(every.Matches(L(2026, 6, 1, 3, 45)));
  EXPECT_FALSE(every.Matches(L(2026, 6, 1, 3, 50)));
  CronExpr from = P("10/20 * * * *");  // 10, 30, 50
  EXPECT_TRUE(from.Matches(L(2026, 6, 1, 3, 50)));
  EXPECT_FALSE(from.Matches(L(2026, 6, 1, 3, 0)));
  EXPECT_TRUE(P("0 0 * * 7").Matches(L(2026, 3, 29, 0, 0)));  // 7 is Sunday
  EXPECT_TRUE(P("0 0 * * sun").Matches(L(2026, 3, 29, 0, 0)));
}

TEST(CronTest, DayOfMonthOrDayOfWeekAsVixieCron) {
  CronExpr both = P("0 0 1,15 * 1");                // the 1st, the 15th, and Mondays
  EXPECT_TRUE(both.Matches(L(2026, 3, 1, 0, 0)));   // Sunday the 1st
  EXPECT_TRUE(both.Matches(L(2026, 3, 2, 0, 0)));   // Monday the 2nd
  EXPECT_FALSE(both.Matches(L(2026, 3, 3, 0, 0)));  // Tuesday the 3rd
  CronExpr star_dom = P("0 0 * * 1");               // a starred field: both must match
  EXPECT_FALSE(star_dom.Matches(L(2026, 3, 1, 0, 0)));
  EXPECT_TRUE(star_dom.Matches(L(2026, 3, 2, 0, 0)));
  CronExpr step_dom = P("0 0 */2 * 1");                 // starts with '*': AND, as Vixie cron
  EXPECT_FALSE(step_dom.Matches(L(2026, 3, 2, 0, 0)));  // Monday the 2nd (even)
  EXPECT_TRUE(step_dom.Matches(L(2026, 3, 9, 0, 0)));   // Monday the 9th (odd)
}

TEST(CronTest, ShortcutsExpand) {
  EXPECT_TRUE(P("@yearly").Matches(L(2026, 1, 1, 0, 0)));
  EXPECT_FALSE(P("@annually").Matches(L(2026, 2, 1, 0, 0)));
  EXPECT_TRUE(P("@monthly").Matches(L(2026, 2, 1, 0, 0)));
  EXPECT_TRUE(P("@weekly").Matches(L(2026, 3, 29, 0, 0)));
  EXPECT_FALSE(P("@weekly").Matches(L(2026, 3, 30, 0, 0)));
  EXPECT_TRUE(P("@daily").Matches(L(2026, 3, 30, 0, 0)));
  EXPECT_TRUE(P("@midnight").Matches(L(2026, 3, 30, 0, 0)));
  EXPECT_TRUE(P("@hourly").Matches(L(2026, 3, 30, 7, 0)));
  EXPECT_FALSE(P("@hourly").Matches(L(2026, 3, 30, 7, 1)));
}

TEST(CronTest, NextAndPrevStepOverMonthsAndLeapDays) {
  CronExpr c = P("30 2 29 2 *");
  EXPECT_EQ(c.Next(L(2026, 1, 1, 0, 0)), L(2028, 2, 29, 2, 30));
  EXPECT_EQ(c.Prev(L(2026, 1, 1, 0, 0)), L(2024, 2, 29, 2, 30));
  EXPECT_EQ(P("0 3 * * 1").Next(L(2026, 3, 23, 3, 0)), L(2026, 3, 30, 3, 0));
  EXPECT_EQ(P("0 3 * * 1").Prev(L(2026, 3, 23, 3, 0)), L(2026, 3, 16, 3, 0));
  EXPECT_EQ(P("59 23 31 12 *").Next(L(2026, 12, 31, 23, 58)), L(2026, 12, 31, 23, 59));
  EXPECT_EQ(P("0 0 30 2 *").Next(L(2026, 1, 1, 0, 0)), std::nullopt);  // never
}

TEST(CronTest, ErrorsNameTheFieldAndPosition) {
  EXPECT_EQ(Err("0 3 * *"),
            "cron '0 3 * *' must have 5 fields (minute hour day-of-month month day-of-week)");
  EXPECT_EQ(Err("61 3 * * *"), "cron '61 3 * * *': minute '61' at position 1 is out of range 0-59");
  EXPECT_EQ(Err("0 24 * * *"), "cron '0 24 * * *': hour '24' at position 3 is out of range 0-23");
  EXPECT_EQ(Err("0 3 0 * *"),
            "cron '0 3 0 * *': day-of-month '0' at position 5 is out of range 1-31");
  EXPECT_EQ(Err("0 3 * foo *"),
            "cron '0 3 * foo *': month 'foo' at position 7 is not a month name (jan ... dec)");
  EXPECT_EQ(Err("0 3 * * mon-funday"),
            "cron '0 3 * * mon-funday': day-of-week 'funday' at "
            "position 13 is not a day name (sun ... sat)");
  EXPECT_EQ(Err("*/0 * * * *"),
            "cron '*/0 * * * *': minute '0' at position 3 is not a step between 1 and 59");
  EXPECT_EQ(Err("0 3,,4 * * *"),
            "cron '0 3,,4 * * *': hour '' at position 5 is empty (a stray comma?)");
  EXPECT_EQ(Err("0 18-8 * * *"),
            "cron '0 18-8 * * *': hour '18-8' at position 3 is a range that runs backwards (18 "
            "> 8)");
  EXPECT_EQ(Err("@fortnightly"),
            "cron '@fortnightly' is not a known shortcut (@yearly, @annually, @monthly, "
            "@weekly, @daily, @midnight, @hourly)");
  EXPECT_EQ(Err("x * * * *"), "cron 'x * * * *': minute 'x' at position 1 is not a number");
}

TEST(CronTest, LocalTimesParseStrictly) {
  EXPECT_EQ(*ParseLocalTime("2026-10-25T02:30"), L(2026, 10, 25, 2, 30));
  EXPECT_EQ(*ParseLocalTime("2026-10-25"), L(2026, 10, 25, 0, 0));
  EXPECT_EQ(*ParseLocalTime("2026-10-25", true), L(2026, 10, 25, 23, 59));
  EXPECT_FALSE(ParseLocalTime("2026-02-30").ok());
  EXPECT_FALSE(ParseLocalTime("2026-10-25T24:00").ok());
  EXPECT_FALSE(ParseLocalTime("tomorrow").ok());
  EXPECT_EQ(ParseLocalTime("2026-13-01").status().message(),
            "'2026-13-01' is not a local date or time (expected YYYY-MM-DD or YYYY-MM-DDTHH:MM)");
}

}  // namespace
}  // namespace alambic::sched::cron_test
