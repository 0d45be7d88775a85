#include "core/sched/cron.h"

#include <cctype>
#include <charconv>
#include <cstdio>
#include <vector>

#include <cctz/civil_time.h>
#include <fmt/format.h>

namespace alambic::sched {

namespace {

constexpr int kSearchYears = 28;  // the Gregorian weekday/leap cycle

struct Field {
  const char* name;
  int lo, hi;
  const char* const* names;  // nullptr, or hi - lo + 1 names from lo
};

constexpr const char* kMonthNames[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                       "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr const char* kDayNames[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun"};

constexpr Field kFields[5] = {
    {"minute", 0, 59, nullptr},       {"hour", 0, 23, nullptr},
    {"day-of-month", 1, 31, nullptr}, {"month", 1, 12, kMonthNames},
    {"day-of-week", 0, 7, kDayNames},
};

struct Shortcut {
  const char* name;
  const char* expr;
};
constexpr Shortcut kShortcuts[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

class FieldParser {
 public:
  FieldParser(std::string_view expr, const Field& f, size_t offset)
      : expr_(expr), f_(f), offset_(offset) {}

  // Sets the bits of `text` (one field) into `bits` (indexed by value).
  Status Parse(std::string_view text, std::vector<bool>* bits) {
    bits->assign(f_.hi + 1, false);
    size_t start = 0;
    while (true) {
      size_t comma = text.find(',', start);
      std::string_view item =
          text.substr(start, comma == std::string_view::npos ? comma : comma - start);
      ALAMBIC_RETURN_IF_ERROR(Item(item, offset_ + start, bits));
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
    return Status::Ok();
  }

 private:
  Status Error(size_t pos, std::string_view what, std::string_view detail) {
    return Status::Invalid(
        fmt::format("cron '{}': {} '{}' at position {} {}", expr_, f_.name, what, pos + 1, detail));
  }

  // A number or (for months and days) a name.
  Status Value(std::string_view s, size_t pos, int* out) {
    if (s.empty()) return Error(pos, s, "is empty (a number or a range is expected)");
    if (std::isalpha(static_cast<unsigned char>(s[0]))) {
      if (f_.names) {
        const std::string l = Lower(s);
        for (int i = 0; i <= f_.hi - f_.lo; ++i)
          if (l == f_.names[i]) {
            *out = f_.lo + i;
            return Status::Ok();
          }
        return Error(
            pos, s,
            f_.lo == 1 ? "is not a month name (jan ... dec)" : "is not a day name (sun ... sat)");
      }
      return Error(pos, s, "is not a number");
    }
    int v = 0;
    auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size())
      return Error(pos, s, "is not a number");
    if (v < f_.lo || v > f_.hi)
      return Error(pos, s, fmt::format("is out of range {}-{}", f_.lo, f_.hi));
    *out = v;
    return Status::Ok();
  }

  Status Item(std::string_view item, size_t pos, std::vector<bool>* bits) {
    if (item.empty()) return Error(pos, item, "is empty (a stray comma?)");
    std::string_view range = item;
    int step = 1;
    size_t slash = item.find('/');
    if (slash != std::string_view::npos) {
      range = item.substr(0, slash);
      std::string_view st = item.substr(slash + 1);
      auto r = std::from_chars(st.data(), st.data() + st.size(), step);
      if (st.empty() || r.ec != std::errc() || r.ptr != st.data() + st.size() || step < 1 ||
          step > f_.hi)
        return Error(pos + slash + 1, st, fmt::format("is not a step between 1 and {}", f_.hi));
    }
    int lo = f_.lo, hi = f_.hi;
    if (range == "*") {
      if (f_.lo == 0 && f_.hi == 7) hi = 6;  // day-of-week: 7 is Sunday again
    } else {
      size_t dash = range.find('-');
      if (dash == std::string_view::npos) {
        ALAMBIC_RETURN_IF_ERROR(Value(range, pos, &lo));
        hi = slash == std::string_view::npos ? lo : (f_.hi == 7 ? 6 : f_.hi);
      } else {
        ALAMBIC_RETURN_IF_ERROR(Value(range.substr(0, dash), pos, &lo));
        ALAMBIC_RETURN_IF_ERROR(Value(range.substr(dash + 1), pos + dash + 1, &hi));
        if (hi < lo)
          return Error(pos, range, fmt::format("is a range that runs backwards ({} > {})", lo, hi));
      }
    }
    for (int v = lo; v <= hi; v += step) (*bits)[v] = true;
    return Status::Ok();
  }

  std::string_view expr_;
  const Field& f_;
  size_t offset_;
};

cctz::civil_minute ToCivil(const LocalTime& t) {
  return cctz::civil_minute(t.year, t.month, t.day, t.hour, t.minute);
}

LocalTime FromCivil(const cctz::civil_minute& c) {
  return LocalTime{static_cast<int>(c.year()), c.month(), c.day(), c.hour(), c.minute()};
}

}  // namespace

std::string LocalTime::ToString() const {
  return fmt::format("{:04d}-{:02d}-{:02d}T{:02d}:{:02d}", year, month, day, hour, minute);
}

int LocalTime::Weekday() const {
  switch (cctz::get_weekday(cctz::civil_day(year, month, day))) {
    case cctz::weekday::sunday:
      return 0;
    case cctz::weekday::monday:
      return 1;
    case cctz::weekday::tuesday:
      return 2;
    case cctz::weekday::wednesday:
      return 3;
    case cctz::weekday::thursday:
      return 4;
    case cctz::weekday::friday:
      return 5;
    case cctz::weekday::saturday:
      return 6;
  }
  return 0;
}

Result<LocalTime> ParseLocalTime(std::string_view text, bool date_only_end) {
  const std::string s(text);
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, n = 0;
  bool ok = false;
  if (s.size() == 10 && std::sscanf(s.c_str(), "%4d-%2d-%2d%n", &y, &mo, &d, &n) == 3 && n == 10) {
    ok = true;
    if (date_only_end) h = 23, mi = 59;
  } else if (s.size() == 16 && (s[10] == 'T' || s[10] == ' ') &&
             std::sscanf(s.c_str(), "%4d-%2d-%2d%*c%2d:%2d%n", &y, &mo, &d, &h, &mi, &n) == 5 &&
             n == 16) {
    ok = true;
  }
  if (ok && s[4] == '-' && s[7] == '-') {
    const cctz::civil_minute c(y, mo, d, h, mi);
    if (c.year() == y && c.month() == mo && c.day() == d && c.hour() == h && c.minute() == mi &&
        y >= 1900 && y <= 9999)
      return LocalTime{y, mo, d, h, mi};
  }
  return Status::Invalid(fmt::format(
      "'{}' is not a local date or time (expected YYYY-MM-DD or YYYY-MM-DDTHH:MM)", text));
}

Result<CronExpr> CronExpr::Parse(std::string_view text) {
  std::string expanded(text);
  if (!text.empty() && text[0] == '@') {
    const std::string l = Lower(text);
    bool found = false;
    for (const auto& s : kShortcuts)
      if (l == s.name) {
        expanded = s.expr;
        found = true;
      }
    if (!found)
      return Status::Invalid(fmt::format(
          "cron '{}' is not a known shortcut (@yearly, @annually, @monthly, @weekly, @daily, "
          "@midnight, @hourly)",
          text));
  }
  // Split into fields, remembering where each starts (for the error).
  std::vector<std::pair<std::string_view, size_t>> fields;
  std::string_view e = expanded;
  for (size_t i = 0; i < e.size();) {
    if (e[i] == ' ' || e[i] == '\t') {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < e.size() && e[j] != ' ' && e[j] != '\t') ++j;
    fields.emplace_back(e.substr(i, j - i), i);
    i = j;
  }
  if (fields.size() != 5)
    return Status::Invalid(fmt::format(
        "cron '{}' must have 5 fields (minute hour day-of-month month day-of-week)", text));
  CronExpr c;
  c.text_ = std::string(text);
  std::vector<bool> bits[5];
  for (int f = 0; f < 5; ++f) {
    // Positions refer to what the user wrote; a shortcut's fields cannot be wrong.
    FieldParser p(text[0] == '@' ? expanded : std::string_view(text), kFields[f], fields[f].second);
    ALAMBIC_RETURN_IF_ERROR(p.Parse(fields[f].first, &bits[f]));
  }
  for (int v = 0; v < 60; ++v) c.minutes_[v] = bits[0][v];
  for (int v = 0; v < 24; ++v) c.hours_[v] = bits[1][v];
  for (int v = 1; v <= 31; ++v) c.days_[v] = bits[2][v];
  for (int v = 1; v <= 12; ++v) c.months_[v] = bits[3][v];
  for (int v = 0; v <= 6; ++v) c.weekdays_[v] = bits[4][v];
  if (bits[4][7]) c.weekdays_[0] = true;
  c.dom_star_ = fields[2].first[0] == '*';
  c.dow_star_ = fields[4].first[0] == '*';
  return c;
}

bool CronExpr::DayMatches(int year, int month, int day) const {
  if (!months_[month]) return false;
  const bool dom = days_[day];
  const bool dow = weekdays_[LocalTime{year, month, day, 0, 0}.Weekday()];
  return (dom_star_ || dow_star_) ? (dom && dow) : (dom || dow);
}

bool CronExpr::Matches(const LocalTime& t) const {
  return minutes_[t.minute] && hours_[t.hour] && DayMatches(t.year, t.month, t.day);
}

std::optional<LocalTime> CronExpr::Next(const LocalTime& from) const {
  cctz::civil_minute t = ToCivil(from) + 1;
  const auto limit = cctz::civil_year(t) + kSearchYears;
  while (t < cctz::civil_minute(limit)) {
    if (!months_[t.month()]) {
      t = cctz::civil_minute(cctz::civil_month(t) + 1);
    } else if (!DayMatches(static_cast<int>(t.year()), t.month(), t.day())) {
      t = cctz::civil_minute(cctz::civil_day(t) + 1);
    } else if (!hours_[t.hour()]) {
      t = cctz::civil_minute(cctz::civil_hour(t) + 1);
    } else if (!minutes_[t.minute()]) {
      t += 1;
    } else {
      return FromCivil(t);
    }
  }
  return std::nullopt;
}

std::optional<LocalTime> CronExpr::Prev(const LocalTime& from) const {
  cctz::civil_minute t = ToCivil(from) - 1;
  const auto limit = cctz::civil_year(t) - kSearchYears;
  while (t >= cctz::civil_minute(limit)) {
    if (!months_[t.month()]) {
      t = cctz::civil_minute(cctz::civil_month(t)) - 1;
    } else if (!DayMatches(static_cast<int>(t.year()), t.month(), t.day())) {
      t = cctz::civil_minute(cctz::civil_day(t)) - 1;
    } else if (!hours_[t.hour()]) {
      t = cctz::civil_minute(cctz::civil_hour(t)) - 1;
    } else if (!minutes_[t.minute()]) {
      t -= 1;
    } else {
      return FromCivil(t);
    }
  }
  return std::nullopt;
}

}  // namespace alambic::sched
