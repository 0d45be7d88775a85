// Cron expressions: the five fields of Vixie cron (minute hour day-of-month
// month day-of-week) with lists (1,15), ranges (1-5), steps (*/10, 8-18/2,
// 5/15), month and day names (jan-dec, sun-sat, any case), 0 or 7 for Sunday,
// and the shortcuts @yearly (@annually), @monthly, @weekly, @daily
// (@midnight) and @hourly.
//
// Day-of-month and day-of-week combine as in Vixie cron: when both are
// restricted (neither starts with '*'), a day matches if EITHER matches
// ("0 0 1,15 * 1": the 1st, the 15th and every Monday); otherwise both must.
//
// A CronExpr only matches and steps through local wall-clock minutes; which
// instant a local time is belongs to the time zone (core/sched/schedule.h).
#pragma once

#include <bitset>
#include <optional>
#include <string>
#include <string_view>

#include "core/base/status.h"

namespace alambic::sched {

// A wall-clock minute in some time zone (no offset): what a cron expression
// names. Ordered as time goes on the wall clock.
struct LocalTime {
  int year = 1970, month = 1, day = 1, hour = 0, minute = 0;
  auto operator<=>(const LocalTime&) const = default;
  bool operator==(const LocalTime&) const = default;
  // "2026-10-25T02:30".
  std::string ToString() const;
  // 0 = Sunday ... 6 = Saturday.
  int Weekday() const;
};

// Parses "2026-10-25T02:30", "2026-10-25 02:30" or (with `date_only_end` false)
// "2026-10-25" as 00:00; with `date_only_end` true a bare date means its last
// minute, 23:59. Fails (Invalid) with a message naming what is wrong.
Result<LocalTime> ParseLocalTime(std::string_view text, bool date_only_end = false);

class CronExpr {
 public:
  // Parses an expression or a shortcut. The error names the field and the
  // 1-based character position in `text`, e.g.
  //   cron '61 3 * * *': minute '61' at position 1 is out of range 0-59
  static Result<CronExpr> Parse(std::string_view text);

  const std::string& text() const { return text_; }
  bool Matches(const LocalTime& t) const;
  // The first matching minute strictly after / before `t`; none when no day
  // in the next (previous) 28 years matches ("0 0 30 2 *").
  std::optional<LocalTime> Next(const LocalTime& t) const;
  std::optional<LocalTime> Prev(const LocalTime& t) const;
  // Whether the day (month, day-of-month, day-of-week) matches.
  bool DayMatches(int year, int month, int day) const;

 private:
  std::string text_;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;     // 1..31
  std::bitset<13> months_;   // 1..12
  std::bitset<7> weekdays_;  // 0 = Sunday
  bool dom_star_ = false, dow_star_ = false;
};

}  // namespace alambic::sched
