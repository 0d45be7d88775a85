// The clean recipe (recipes/clean/kind.cc). Values and dates: parsing text into typed cells (cast,
// fill_missing), parse_date, format_date.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/table/text.h"
#include "recipes/clean/step.h"

namespace alambic::clean {

namespace {

constexpr int64_t kMicrosPerSecond = 1000000;

constexpr int64_t kSecondsPerDay = 86400;

// Two-digit years (%y): 69-99 are 1969-1999, 00-68 are 2000-2068 (POSIX).
constexpr int kTwoDigitYearPivot = 69;

bool ParseInt64(std::string_view s, int64_t* out) {
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  if (s.empty() || s[0] == '+') return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

// Accepts a decimal comma ("3,5") when the text holds no point.
bool ParseDouble(std::string_view s, double* out) {
  std::string buf;
  if (s.find(',') != std::string_view::npos && s.find('.') == std::string_view::npos) {
    buf = std::string(s);
    std::replace(buf.begin(), buf.end(), ',', '.');
    s = buf;
  }
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  if (s.empty() || s[0] == '+') return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

bool ParseBool(std::string_view s, bool* out) {
  std::string l = Lowered(s);
  for (const char* t : {"true", "1", "yes", "oui", "vrai"})
    if (l == t) return *out = true, true;
  for (const char* f : {"false", "0", "no", "non", "faux"})
    if (l == f) return *out = false, true;
  return false;
}

bool IsLeap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int DaysInMonth(int y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

struct DateTime {
  int year = 1970, month = 1, day = 1, hour = 0, minute = 0, second = 0;
  int64_t micros = 0;  // fraction of the second
};

// Month names in English and French, accents stripped, lower case; 3-4 letter
// abbreviations included.
int MonthFromName(std::string_view token) {
  // clang-format off
  static const std::pair<const char*, int> kNames[] = {
      {"january", 1}, {"jan", 1}, {"janvier", 1}, {"janv", 1},
      {"february", 2}, {"feb", 2}, {"fevrier", 2}, {"fevr", 2}, {"fev", 2},
      {"march", 3}, {"mar", 3}, {"mars", 3},
      {"april", 4}, {"apr", 4}, {"avril", 4}, {"avr", 4},
      {"may", 5}, {"mai", 5},
      {"june", 6}, {"jun", 6}, {"juin", 6},
      {"july", 7}, {"jul", 7}, {"juillet", 7}, {"juil", 7},
      {"august", 8}, {"aug", 8}, {"aout", 8},
      {"september", 9}, {"sep", 9}, {"sept", 9}, {"septembre", 9},
      {"october", 10}, {"oct", 10}, {"octobre", 10},
      {"november", 11}, {"nov", 11}, {"novembre", 11},
      {"december", 12}, {"dec", 12}, {"decembre", 12},
  };
  // clang-format on
  std::string plain;
  StripAccents(token, &plain);
  plain = Lowered(plain);
  for (const auto& [n, m] : kNames)
    if (plain == n) return m;
  return 0;
}

// strptime-like: %d %m %Y %y %H %M %S %b %B %%; other characters match
// themselves. The whole text must match; fields are range-checked (31/02 fails).
bool ParseDateTime(std::string_view s, std::string_view format, DateTime* out) {
  DateTime dt;
  size_t pos = 0;
  auto digits = [&](size_t min, size_t max, int* v) {
    size_t n = 0;
    int value = 0;
    while (n < max && pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      value = value * 10 + (s[pos] - '0');
      ++pos;
      ++n;
    }
    *v = value;
    return n >= min;
  };
  for (size_t f = 0; f < format.size(); ++f) {
    if (format[f] != '%' || f + 1 == format.size()) {
      if (pos >= s.size() || s[pos] != format[f]) return false;
      ++pos;
      continue;
    }
    char d = format[++f];
    bool ok = true;
    switch (d) {
      case 'd':
        ok = digits(1, 2, &dt.day);
        break;
      case 'm':
        ok = digits(1, 2, &dt.month);
        break;
      case 'Y':
        ok = digits(4, 4, &dt.year);
        break;
      case 'y':
        ok = digits(2, 2, &dt.year);
        dt.year += dt.year >= kTwoDigitYearPivot ? 1900 : 2000;
        break;
      case 'H':
        ok = digits(1, 2, &dt.hour);
        break;
      case 'M':
        ok = digits(2, 2, &dt.minute);
        break;
      case 'S':
        ok = digits(2, 2, &dt.second);
        break;
      case 'b':
      case 'B': {
        size_t start = pos;
        while (pos < s.size() && (std::isalpha(static_cast<unsigned char>(s[pos])) ||
                                  static_cast<unsigned char>(s[pos]) >= 0x80))
          ++pos;
        dt.month = MonthFromName(s.substr(start, pos - start));
        ok = dt.month != 0;
        // "janv." : the abbreviation's point, unless the format spells it.
        if (ok && pos < s.size() && s[pos] == '.' &&
            (f + 1 >= format.size() || format[f + 1] != '.'))
          ++pos;
        break;
      }
      case '%':
        ok = pos < s.size() && s[pos++] == '%';
        break;
      default:
        return false;
    }
    if (!ok) return false;
  }
  if (pos != s.size()) return false;
  if (dt.month < 1 || dt.month > 12 || dt.day < 1 || dt.day > DaysInMonth(dt.year, dt.month) ||
      dt.hour > 23 || dt.minute > 59 || dt.second > 59)
    return false;
  *out = dt;
  return true;
}

int64_t ToMicros(const DateTime& dt) {
  int64_t days =
      DaysFromCivil(dt.year, static_cast<unsigned>(dt.month), static_cast<unsigned>(dt.day));
  return (days * kSecondsPerDay + dt.hour * 3600 + dt.minute * 60 + dt.second) * kMicrosPerSecond +
         dt.micros;
}

// YYYY-MM-DD, optionally followed by [T ]HH:MM:SS[.ffffff][Z].
bool ParseIsoTimestamp(std::string_view s, DateTime* out) {
  constexpr size_t kDateLen = 10;
  if (!ParseDateTime(s.substr(0, kDateLen), "%Y-%m-%d", out)) return false;
  if (s.size() == kDateLen) return true;
  if (s[kDateLen] != 'T' && s[kDateLen] != ' ') return false;
  std::string_view t = s.substr(kDateLen + 1);
  if (!t.empty() && t.back() == 'Z') t.remove_suffix(1);
  constexpr size_t kTimeLen = 8;
  DateTime tm;
  if (t.size() < kTimeLen || !ParseDateTime(t.substr(0, kTimeLen), "%H:%M:%S", &tm)) return false;
  out->hour = tm.hour;
  out->minute = tm.minute;
  out->second = tm.second;
  std::string_view frac = t.substr(kTimeLen);
  if (frac.empty()) return true;
  if (frac[0] != '.' || frac.size() < 2 || frac.size() > 7) return false;
  int64_t micros = 0;
  for (size_t k = 1; k < 7; ++k) {
    char c = k < frac.size() ? frac[k] : '0';
    if (c < '0' || c > '9') return false;
    micros = micros * 10 + (c - '0');
  }
  out->micros = micros;
  return true;
}

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

}  // namespace

// Appends row i of src converted to `to`; false (nothing appended) when the
// value does not convert.
bool ConvertCell(const Column& src, int64_t i, TypeId to, ColumnBuilder& b) {
  const TypeId from = src.type;
  if (from == to) {
    b.AppendFrom(src, i);
    return true;
  }
  if (to == TypeId::kUtf8) {
    b.AppendString(FormatCell(src, i));
    return true;
  }
  switch (from) {
    case TypeId::kUtf8: {
      std::string_view s = src.String(i);
      switch (to) {
        case TypeId::kInt64: {
          int64_t v;
          if (!ParseInt64(s, &v)) return false;
          b.AppendInt64(v);
          return true;
        }
        case TypeId::kFloat64: {
          double v;
          if (!ParseDouble(s, &v)) return false;
          b.AppendDouble(v);
          return true;
        }
        case TypeId::kBool: {
          bool v;
          if (!ParseBool(s, &v)) return false;
          b.AppendBool(v);
          return true;
        }
        case TypeId::kDate32: {
          DateTime dt;
          if (!ParseDateTime(s, "%Y-%m-%d", &dt)) return false;
          b.AppendDate32(DaysFromCivil(dt.year, static_cast<unsigned>(dt.month),
                                       static_cast<unsigned>(dt.day)));
          return true;
        }
        case TypeId::kTimestamp: {
          DateTime dt;
          if (!ParseIsoTimestamp(s, &dt)) return false;
          b.AppendTimestamp(ToMicros(dt));
          return true;
        }
        case TypeId::kUtf8:
          break;
      }
      return false;
    }
    case TypeId::kInt64:
      if (to == TypeId::kFloat64) {
        b.AppendDouble(static_cast<double>(src.Int64(i)));
        return true;
      }
      if (to == TypeId::kBool && (src.Int64(i) == 0 || src.Int64(i) == 1)) {
        b.AppendBool(src.Int64(i) == 1);
        return true;
      }
      return false;
    case TypeId::kFloat64: {
      double v = src.Double(i);
      // 2^63: the first double past int64's range.
      constexpr double kInt64Bound = 9223372036854775808.0;
      if (to == TypeId::kInt64 && std::isfinite(v) && v == std::trunc(v) && v >= -kInt64Bound &&
          v < kInt64Bound) {
        b.AppendInt64(static_cast<int64_t>(v));
        return true;
      }
      if (to == TypeId::kBool && (v == 0 || v == 1)) {
        b.AppendBool(v == 1);
        return true;
      }
      return false;
    }
    case TypeId::kBool:
      if (to == TypeId::kInt64) {
        b.AppendInt64(src.Bool(i) ? 1 : 0);
        return true;
      }
      if (to == TypeId::kFloat64) {
        b.AppendDouble(src.Bool(i) ? 1 : 0);
        return true;
      }
      return false;
    case TypeId::kDate32:
      if (to == TypeId::kTimestamp) {
        b.AppendTimestamp(int64_t{src.Date32(i)} * kSecondsPerDay * kMicrosPerSecond);
        return true;
      }
      return false;
    case TypeId::kTimestamp:
      if (to == TypeId::kDate32) {
        b.AppendDate32(
            static_cast<int32_t>(FloorDiv(src.Int64(i), kSecondsPerDay * kMicrosPerSecond)));
        return true;
      }
      return false;
  }
  return false;
}

namespace {

Status CheckFormat(const std::string& format, bool parsing) {
  bool year = false, month = false, day = false;
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%') continue;
    if (i + 1 == format.size()) return Status::Invalid("option 'format' ends with a lone %");
    char d = format[++i];
    std::string_view allowed = parsing ? "dmYyHMSbB%" : "dmYyHMS%";
    if (allowed.find(d) == std::string_view::npos)
      return Status::Invalid(
          fmt::format("option 'format': unsupported directive %{} (use {})", d,
                      parsing ? "%d %m %Y %y %H %M %S %b %B %%" : "%d %m %Y %y %H %M %S %%"));
    year |= d == 'Y' || d == 'y';
    month |= d == 'm' || d == 'b' || d == 'B';
    day |= d == 'd';
  }
  if (parsing && !(year && month && day))
    return Status::Invalid("option 'format' must hold a year, a month and a day (%Y, %m, %d)");
  return Status::Ok();
}

}  // namespace

Status CheckParseDate(const Step& s) {
  ALAMBIC_RETURN_IF_ERROR(Need(s, "format", &json::is_string, "a string"));
  ALAMBIC_RETURN_IF_ERROR(CheckInto(s));
  return CheckFormat(s.Str("format"), true);
}

Status CheckFormatDate(const Step& s) {
  ALAMBIC_RETURN_IF_ERROR(Need(s, "format", &json::is_string, "a string"));
  ALAMBIC_RETURN_IF_ERROR(CheckInto(s));
  return CheckFormat(s.Str("format"), false);
}

Status RunCast(const Step& s, const StepEnv& env, Work& w, Report& r) {
  std::vector<uint8_t> keep(static_cast<size_t>(w.rows), 1);
  int64_t converted = 0, failed = 0, changed = 0;
  for (const auto& [name, type] : s.mapping) {
    ALAMBIC_ASSIGN_OR_RETURN(int i, env.Column(s, w, name));
    auto& wc = w.cols[static_cast<size_t>(i)];
    TypeId to = *ParseTypeName(type.get<std::string>());
    if (wc.col->type == to) continue;
    ColumnPtr out;
    int64_t col_converted = 0;
    ALAMBIC_RETURN_IF_ERROR(ConvertColumn(
        s, env, name, *wc.col, to,
        [to](const Column& c, int64_t row, ColumnBuilder& b) { return ConvertCell(c, row, to, b); },
        keep, &out, &col_converted, &failed, "convert", fmt::format("to {}", TypeName(to))));
    converted += col_converted;
    changed += col_converted;
    wc.col = std::move(out);
  }
  r["changed"] = changed;
  r["converted"] = converted;
  ReportFailures(s, w, keep, failed, r);
  return Status::Ok();
}

namespace {

bool HasTime(const std::string& format) {
  for (size_t i = 0; i + 1 < format.size(); ++i)
    if (format[i] == '%') {
      char d = format[++i];
      if (d == 'H' || d == 'M' || d == 'S') return true;
    }
  return false;
}

}  // namespace

Status RunParseDate(const Step& s, const StepEnv& env, Work& w, Report& r) {
  const std::string format = s.Str("format");
  const TypeId to = HasTime(format) ? TypeId::kTimestamp : TypeId::kDate32;
  std::vector<uint8_t> keep(static_cast<size_t>(w.rows), 1);
  int64_t converted = 0, failed = 0;
  for (const auto& c : s.columns) {
    ALAMBIC_ASSIGN_OR_RETURN(int i, env.TextColumn(s, w, c));
    const std::string into = s.Str("into", c);
    ALAMBIC_RETURN_IF_ERROR(env.CanCreate(s, w, into, c));
    ColumnPtr out;
    ALAMBIC_RETURN_IF_ERROR(ConvertColumn(
        s, env, c, *w.cols[static_cast<size_t>(i)].col, to,
        [&](const Column& col, int64_t row, ColumnBuilder& b) {
          DateTime dt;
          if (!ParseDateTime(col.String(row), format, &dt)) return false;
          if (to == TypeId::kDate32) {
            b.AppendDate32(DaysFromCivil(dt.year, static_cast<unsigned>(dt.month),
                                         static_cast<unsigned>(dt.day)));
          } else {
            b.AppendTimestamp(ToMicros(dt));
          }
          return true;
        },
        keep, &out, &converted, &failed, "parse", fmt::format("as \"{}\"", format)));
    Place(w, into, std::move(out), i, i);
  }
  r["changed"] = converted;
  r["parsed"] = converted;
  ReportFailures(s, w, keep, failed, r);
  return Status::Ok();
}

namespace {

std::string FormatDateTime(const DateTime& dt, const std::string& format) {
  std::string out;
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%' || i + 1 == format.size()) {
      out.push_back(format[i]);
      continue;
    }
    switch (format[++i]) {
      case 'd':
        out += fmt::format("{:02}", dt.day);
        break;
      case 'm':
        out += fmt::format("{:02}", dt.month);
        break;
      case 'Y':
        out += fmt::format("{:04}", dt.year);
        break;
      case 'y':
        out += fmt::format("{:02}", ((dt.year % 100) + 100) % 100);
        break;
      case 'H':
        out += fmt::format("{:02}", dt.hour);
        break;
      case 'M':
        out += fmt::format("{:02}", dt.minute);
        break;
      case 'S':
        out += fmt::format("{:02}", dt.second);
        break;
      default:
        out.push_back(format[i]);
    }
  }
  return out;
}

}  // namespace

Status RunFormatDate(const Step& s, const StepEnv& env, Work& w, Report& r) {
  const std::string format = s.Str("format");
  int64_t changed = 0;
  for (const auto& c : s.columns) {
    ALAMBIC_ASSIGN_OR_RETURN(int i, env.Column(s, w, c));
    const Column& src = *w.cols[static_cast<size_t>(i)].col;
    if (src.type != TypeId::kDate32 && src.type != TypeId::kTimestamp)
      return env.Error(s, fmt::format("column '{}' is {}; format_date applies to date32 and "
                                      "timestamp columns",
                                      c, TypeName(src.type)));
    const std::string into = s.Str("into", c);
    ALAMBIC_RETURN_IF_ERROR(env.CanCreate(s, w, into, c));
    ColumnBuilder b(TypeId::kUtf8);
    b.Reserve(src.length);
    for (int64_t row = 0; row < src.length; ++row) {
      if (src.IsNull(row)) {
        b.AppendNull();
        continue;
      }
      DateTime dt;
      int64_t days = src.type == TypeId::kDate32
                         ? src.Date32(row)
                         : FloorDiv(src.Int64(row), kSecondsPerDay * kMicrosPerSecond);
      unsigned m = 0, d = 0;
      CivilFromDays(static_cast<int32_t>(days), &dt.year, &m, &d);
      dt.month = static_cast<int>(m);
      dt.day = static_cast<int>(d);
      if (src.type == TypeId::kTimestamp) {
        int64_t secs = FloorDiv(src.Int64(row), kMicrosPerSecond) - days * kSecondsPerDay;
        dt.hour = static_cast<int>(secs / 3600);
        dt.minute = static_cast<int>(secs / 60 % 60);
        dt.second = static_cast<int>(secs % 60);
      }
      b.AppendString(FormatDateTime(dt, format));
      ++changed;
    }
    Place(w, into, b.Finish(), i, i);
  }
  r["changed"] = changed;
  return Status::Ok();
}

}  // namespace alambic::clean
