// kind: clean — an ordered list of preparation steps over one table (Dataiku's
// "Prepare" recipe). One input, one output.
//
// `steps` is a list; each item is a mapping with exactly one step key plus that
// step's options, either beside the key or inside it:
//
//   - {trim: [name, city]}
//   - {parse_date: exam_date, format: "%d/%m/%Y"}
//   - {replace: {column: city, find: "St ", with: "Saint "}}
//
// Steps run in order over whole columns; each reports how many cells it changed
// (and, for row filters, how many rows it removed) in the metrics and the log.
// Params are parsed by one function for CheckParams and Run, so `alambic
// validate` sees every shape error (naming the step's 1-based index); column
// names and types can only be checked at run time.
//
// Secrets: `pseudonymise` reads its key through ResolveEnvironmentKey() (the
// recipe's environment; outside the default environment, a key of its own);
// the value never reaches the params, the logs or the metrics (only KeyId()).
// Its output columns' lineage is `masking`, and so is that of columns renamed,
// rewritten in place or derived from them by later steps.
//
// Adding a step: write a Check (option types) and a Run function and add a
// StepDef to kSteps. The `formula` step (an expression over columns, from
// core/table/expr.h) is meant to plug in there: {formula: "expr", into: col}.
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "core/base/secrets.h"
#include "core/flow/flow.h"
#include "core/recipe/recipe.h"
#include "core/table/regex.h"
#include "core/table/text.h"
#include "core/vcs/git_paths.h"
#include "recipes/builtin_kinds.h"

namespace alambic {
namespace {

using nlohmann::json;

constexpr int64_t kMicrosPerSecond = 1000000;
constexpr int64_t kSecondsPerDay = 86400;
constexpr int kSha256HexDigits = 64;
constexpr int kMinPseudonymDigits = 8;
constexpr int kMaxRoundDigits = 15;
// Two-digit years (%y): 69-99 are 1969-1999, 00-68 are 2000-2068 (POSIX).
constexpr int kTwoDigitYearPivot = 69;

enum class OnError { kFail, kNull, kDropRow };
enum class Shape {
  kColumns,    // {step: col} or {step: [cols]} or {step: {column(s): .., options}}
  kColumnMap,  // {step: {col: value, ...}}
};

struct Step {
  int index = 0;     // 1-based position in `steps`
  std::string name;  // step kind: "trim", "cast", ...
  std::vector<std::string> columns;
  std::vector<std::pair<std::string, json>> mapping;  // kColumnMap steps
  json options = json::object();
  OnError on_error = OnError::kFail;

  std::string Label() const { return fmt::format("step {} ({})", index, name); }
  std::string Str(const char* key, const std::string& def = "") const {
    auto it = options.find(key);
    return it == options.end() ? def : it->get<std::string>();
  }
  int64_t Int(const char* key, int64_t def) const {
    auto it = options.find(key);
    return it == options.end() ? def : it->get<int64_t>();
  }
};

// ---------------------------------------------------------------------------
// The table being prepared.

struct WorkColumn {
  std::string name;
  ColumnPtr col;
  std::vector<std::string> sources;  // input columns it was computed from
  // Its values are pseudonyms, or computed from pseudonyms only: set by
  // `pseudonymise`, kept by renames, in-place steps and columns derived from it.
  bool masked = false;
};

struct Work {
  std::vector<WorkColumn> cols;
  int64_t rows = 0;

  int Find(std::string_view name) const {
    for (size_t i = 0; i < cols.size(); ++i)
      if (cols[i].name == name) return static_cast<int>(i);
    return -1;
  }
  std::string Names() const {
    std::string out;
    for (const auto& c : cols) out += (out.empty() ? "" : ", ") + c.name;
    return out;
  }
  // Keeps the rows whose `keep` entry is non-zero.
  void Filter(const std::vector<uint8_t>& keep) {
    int64_t kept = 0;
    for (uint8_t k : keep) kept += k ? 1 : 0;
    if (kept == rows) return;
    for (auto& wc : cols) {
      ColumnBuilder b(wc.col->type);
      b.Reserve(kept);
      for (int64_t i = 0; i < rows; ++i)
        if (keep[static_cast<size_t>(i)]) b.AppendFrom(*wc.col, i);
      wc.col = b.Finish();
    }
    rows = kept;
  }
};

struct StepEnv {
  const RecipeContext& ctx;
  Status Error(const Step& s, const std::string& msg) const {
    return Status::Invalid(fmt::format("recipe {}: {}: {}", ctx.recipe, s.Label(), msg));
  }
  Result<int> Column(const Step& s, const Work& w, const std::string& name) const {
    int i = w.Find(name);
    if (i < 0) return Error(s, fmt::format("unknown column '{}' (columns: {})", name, w.Names()));
    return i;
  }
  Result<int> TextColumn(const Step& s, const Work& w, const std::string& name) const {
    ALAMBIC_ASSIGN_OR_RETURN(int i, Column(s, w, name));
    TypeId t = w.cols[static_cast<size_t>(i)].col->type;
    if (t != TypeId::kUtf8)
      return Error(s, fmt::format("column '{}' is {}; {} applies to text (utf8) columns", name,
                                  TypeName(t), s.name));
    return i;
  }
  // Checks that a new column `into` may be written (it may replace `source`).
  Status CanCreate(const Step& s, const Work& w, const std::string& into,
                   const std::string& source) const {
    if (into != source && w.Find(into) >= 0)
      return Error(s, fmt::format("column '{}' already exists", into));
    return Status::Ok();
  }
};

// Puts `col`, computed from the column at `from`, under `into`: replaces the
// column of that name, or inserts it after the column at `after`.
void Place(Work& w, const std::string& into, ColumnPtr col, int from, int after) {
  const WorkColumn& source = w.cols[static_cast<size_t>(from)];
  WorkColumn placed{into, std::move(col), source.sources, source.masked};
  int at = w.Find(into);
  if (at >= 0) {
    w.cols[static_cast<size_t>(at)] = std::move(placed);
  } else {
    w.cols.insert(w.cols.begin() + after + 1, std::move(placed));
  }
}

// ---------------------------------------------------------------------------
// Text helpers (UTF-8).

// Shared UTF-8 primitives (decode, case, accents) are in core/table/text.h.

void NormaliseWhitespace(std::string_view in, std::string* out) {
  bool pending_space = false;
  ForEachCodePoint(in, [&](uint32_t cp, std::string_view bytes) {
    if (cp != kInvalidCodePoint && IsSpace(cp)) {
      pending_space = !out->empty();
      return;
    }
    if (pending_space) out->push_back(' ');
    pending_space = false;
    out->append(bytes);
  });
}

void Trim(std::string_view in, std::string* out) {
  size_t begin = in.size(), end = 0;
  for (size_t pos = 0; pos < in.size();) {
    uint32_t cp = 0;
    size_t len = 1;
    bool valid = DecodeUtf8(in, pos, &cp, &len);
    if (!valid || !IsSpace(cp)) {
      begin = std::min(begin, pos);
      end = pos + len;
    }
    pos += len;
  }
  if (begin < end) out->append(in.substr(begin, end - begin));
}

template <uint32_t (*Map)(uint32_t)>
void MapCase(std::string_view in, std::string* out) {
  ForEachCodePoint(in, [&](uint32_t cp, std::string_view bytes) {
    if (cp == kInvalidCodePoint) {
      out->append(bytes);
    } else {
      AppendUtf8(Map(cp), out);
    }
  });
}

std::string Lowered(std::string_view s) {
  std::string out;
  MapCase<ToLower>(s, &out);
  return out;
}

// Applies fn(text, &out) -> bool (false: null) to every non-null cell of a utf8
// column; counts the cells whose value or null-ness changed.
template <typename Fn>
ColumnPtr MapText(const Column& c, Fn fn, int64_t* changed) {
  ColumnBuilder b(TypeId::kUtf8);
  b.Reserve(c.length);
  std::string buf;
  for (int64_t i = 0; i < c.length; ++i) {
    if (c.IsNull(i)) {
      b.AppendNull();
      continue;
    }
    std::string_view v = c.String(i);
    buf.clear();
    if (!fn(v, &buf)) {
      b.AppendNull();
      ++*changed;
      continue;
    }
    if (buf != v) ++*changed;
    b.AppendString(buf);
  }
  return b.Finish();
}

// ---------------------------------------------------------------------------
// Values: parsing text into typed cells (cast, fill_missing, parse_date).

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

// Text form of a cell for messages: quoted, cut when long.
std::string Quoted(const Column& c, int64_t i) {
  constexpr size_t kMaxShown = 40;
  std::string v = FormatCell(c, i);
  if (v.size() > kMaxShown) v = v.substr(0, kMaxShown) + "…";
  return "'" + v + "'";
}

const char* OnErrorName(OnError e) {
  switch (e) {
    case OnError::kFail:
      return "fail";
    case OnError::kNull:
      return "null";
    case OnError::kDropRow:
      return "drop_row";
  }
  return "?";
}

// ---------------------------------------------------------------------------
// Option checks (CheckParams): each returns Invalid with a message after the
// step label.

Status Need(const Step& s, const char* key, bool (json::*is)() const, const char* what) {
  auto it = s.options.find(key);
  if (it == s.options.end()) return Status::Invalid(fmt::format("option '{}' is required", key));
  if (!((*it).*is)()) return Status::Invalid(fmt::format("option '{}' must be {}", key, what));
  return Status::Ok();
}
Status Maybe(const Step& s, const char* key, bool (json::*is)() const, const char* what) {
  if (!s.options.contains(key)) return Status::Ok();
  return Need(s, key, is, what);
}

Result<std::shared_ptr<const Regex>> CompilePattern(const Step& s) {
  auto re = Regex::Compile(s.Str("pattern"));
  if (!re.ok()) return re.status().WithContext("option 'pattern'");
  return re;
}

Status CheckRegex(const Step& s, size_t group) {
  ALAMBIC_ASSIGN_OR_RETURN(auto re, CompilePattern(s));
  if (group > re->groups())
    return Status::Invalid(
        fmt::format("option 'group': the pattern has {} group(s), not {}", re->groups(), group));
  return Status::Ok();
}

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

Status CheckNone(const Step&) { return Status::Ok(); }

Status CheckReplace(const Step& s) {
  ALAMBIC_RETURN_IF_ERROR(Need(s, "find", &json::is_string, "a string"));
  ALAMBIC_RETURN_IF_ERROR(Maybe(s, "with", &json::is_string, "a string"));
  if (s.Str("find").empty()) return Status::Invalid("option 'find' must not be empty");
  return Status::Ok();
}

Status CheckRegexReplace(const Step& s) {
  ALAMBIC_RETURN_IF_ERROR(Need(s, "pattern", &json::is_string, "a string"));
  ALAMBIC_RETURN_IF_ERROR(Maybe(s, "with", &json::is_string, "a string"));
  ALAMBIC_ASSIGN_OR_RETURN(auto re, CompilePattern(s));
  return RegexReplacement::Parse(s.Str("with"), *re).status().WithContext("option 'with'");
}

Status CheckInto(const Step& s) {
  ALAMBIC_RETURN_IF_ERROR(Maybe(s, "into", &json::is_string, "a column name"));
  if (s.options.contains("into") && s.columns.size() != 1)
    return Status::Invalid("option 'into' needs a single column");
  if (s.options.contains("into") && s.Str("into").empty())
    return Status::Invalid("option 'into' must not be empty");
  return Status::Ok();
}

Status CheckRegexExtract(const Step& s) {
  ALAMBIC_RETURN_IF_ERROR(Need(s, "pattern", &json::is_string, "a string"));
  ALAMBIC_RETURN_IF_ERROR(Maybe(s, "group", &json::is_number_integer, "an integer"));
  ALAMBIC_RETURN_IF_ERROR(CheckInto(s));
  if (s.Int("group", 1) < 0) return Status::Invalid("option 'group' must be 0 or more");
  return CheckRegex(s, static_cast<size_t>(s.Int("group", 1)));
}

Status CheckSplit(const Step& s) {
  ALAMBIC_RETURN_IF_ERROR(Need(s, "by", &json::is_string, "a string"));
  ALAMBIC_RETURN_IF_ERROR(Need(s, "into", &json::is_array, "a list of column names"));
  if (s.Str("by").empty()) return Status::Invalid("option 'by' must not be empty");
  const json& into = s.options["into"];
  if (into.empty()) return Status::Invalid("option 'into' must name at least one column");
  std::unordered_set<std::string> seen;
  for (const auto& v : into) {
    if (!v.is_string() || v.get<std::string>().empty())
      return Status::Invalid("option 'into' must be a list of column names");
    if (!seen.insert(v.get<std::string>()).second)
      return Status::Invalid(fmt::format("option 'into' names '{}' twice", v.get<std::string>()));
  }
  return Status::Ok();
}

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

Status CheckRound(const Step& s) {
  ALAMBIC_RETURN_IF_ERROR(Maybe(s, "digits", &json::is_number_integer, "an integer"));
  int64_t d = s.Int("digits", 0);
  if (d < -kMaxRoundDigits || d > kMaxRoundDigits)
    return Status::Invalid(fmt::format("option 'digits' must be between -{} and {}",
                                       kMaxRoundDigits, kMaxRoundDigits));
  return Status::Ok();
}

Status CheckBin(const Step& s) {
  ALAMBIC_RETURN_IF_ERROR(Need(s, "edges", &json::is_array, "a list of numbers"));
  ALAMBIC_RETURN_IF_ERROR(Maybe(s, "labels", &json::is_array, "a list of strings"));
  ALAMBIC_RETURN_IF_ERROR(CheckInto(s));
  const json& edges = s.options["edges"];
  if (edges.size() < 2) return Status::Invalid("option 'edges' needs at least two numbers");
  for (size_t i = 0; i < edges.size(); ++i) {
    if (!edges[i].is_number()) return Status::Invalid("option 'edges' must be a list of numbers");
    if (i > 0 && !(edges[i - 1].get<double>() < edges[i].get<double>()))
      return Status::Invalid("option 'edges' must be strictly increasing");
  }
  if (s.options.contains("labels")) {
    const json& labels = s.options["labels"];
    for (const auto& l : labels)
      if (!l.is_string()) return Status::Invalid("option 'labels' must be a list of strings");
    if (labels.size() + 1 != edges.size())
      return Status::Invalid(fmt::format("option 'labels' needs {} labels for {} edges, not {}",
                                         edges.size() - 1, edges.size(), labels.size()));
  }
  return Status::Ok();
}

Status CheckPseudonymise(const Step& s) {
  ALAMBIC_RETURN_IF_ERROR(Need(s, "key", &json::is_string, "a secret reference \"secret:NAME\""));
  // Never echo the value: it may be a literal key pasted by mistake.
  if (!IsSecretRef(s.Str("key")))
    return Status::Invalid(
        "option 'key' must be a secret reference \"secret:NAME\" declared in alambic.yaml, "
        "never a literal key");
  ALAMBIC_RETURN_IF_ERROR(Maybe(s, "length", &json::is_number_integer, "an integer"));
  int64_t len = s.Int("length", kSha256HexDigits);
  if (len < kMinPseudonymDigits || len > kSha256HexDigits)
    return Status::Invalid(fmt::format("option 'length' must be between {} and {} hex digits",
                                       kMinPseudonymDigits, kSha256HexDigits));
  return Status::Ok();
}

// ---------------------------------------------------------------------------
// Step runs. Each fills `report` (beyond step/columns) with `changed` and any
// other counts.

using Report = json;

Status RunRename(const Step& s, const StepEnv& env, Work& w, Report& r) {
  for (const auto& [old_name, value] : s.mapping) {
    ALAMBIC_ASSIGN_OR_RETURN(int i, env.Column(s, w, old_name));
    std::string to = value.get<std::string>();
    if (to != old_name && w.Find(to) >= 0)
      return env.Error(s, fmt::format("cannot rename '{}' to '{}': column '{}' already exists",
                                      old_name, to, to));
    w.cols[static_cast<size_t>(i)].name = to;
  }
  r["changed"] = 0;
  return Status::Ok();
}

// {copy: {source: new_name, ...}}: a new column, after the others, with the
// source's values, type, lineage and masking.
Status RunCopy(const Step& s, const StepEnv& env, Work& w, Report& r) {
  for (const auto& [from, value] : s.mapping) {
    ALAMBIC_ASSIGN_OR_RETURN(int i, env.Column(s, w, from));
    std::string to = value.get<std::string>();
    if (w.Find(to) >= 0)
      return env.Error(
          s, fmt::format("cannot copy '{}' to '{}': column '{}' already exists", from, to, to));
    WorkColumn copy = w.cols[static_cast<size_t>(i)];
    copy.name = std::move(to);
    w.cols.push_back(std::move(copy));
  }
  r["changed"] = 0;
  return Status::Ok();
}

Status RunKeep(const Step& s, const StepEnv& env, Work& w, Report& r) {
  std::vector<WorkColumn> kept;
  for (const auto& c : s.columns) {
    ALAMBIC_ASSIGN_OR_RETURN(int i, env.Column(s, w, c));
    kept.push_back(w.cols[static_cast<size_t>(i)]);
  }
  r["columns_removed"] = w.cols.size() - kept.size();
  r["changed"] = 0;
  w.cols = std::move(kept);
  return Status::Ok();
}

Status RunDrop(const Step& s, const StepEnv& env, Work& w, Report& r) {
  for (const auto& c : s.columns) {
    ALAMBIC_ASSIGN_OR_RETURN(int i, env.Column(s, w, c));
    w.cols.erase(w.cols.begin() + i);
  }
  r["columns_removed"] = s.columns.size();
  r["changed"] = 0;
  return Status::Ok();
}

// Converts one column cell by cell under the step's on_error policy; failed
// rows are marked in `keep` (drop_row) and counted.
Status ConvertColumn(const Step& s, const StepEnv& env, const std::string& name, const Column& src,
                     TypeId to,
                     const std::function<bool(const Column&, int64_t, ColumnBuilder&)>& conv,
                     std::vector<uint8_t>& keep, ColumnPtr* out, int64_t* converted,
                     int64_t* failed, const char* verb, const std::string& target) {
  ColumnBuilder b(to);
  b.Reserve(src.length);
  for (int64_t i = 0; i < src.length; ++i) {
    if (src.IsNull(i)) {
      b.AppendNull();
      continue;
    }
    if (conv(src, i, b)) {
      ++*converted;
      continue;
    }
    ++*failed;
    if (s.on_error == OnError::kFail)
      return env.Error(s,
                       fmt::format("column '{}': cannot {} {} {} (row {}); set on_error: null or "
                                   "drop_row to go on",
                                   name, verb, Quoted(src, i), target, i + 1));
    if (s.on_error == OnError::kDropRow) keep[static_cast<size_t>(i)] = 0;
    b.AppendNull();
  }
  *out = b.Finish();
  return Status::Ok();
}

void ReportFailures(const Step& s, Work& w, const std::vector<uint8_t>& keep, int64_t failed,
                    Report& r) {
  r["failed"] = failed;
  r["on_error"] = OnErrorName(s.on_error);
  if (s.on_error == OnError::kNull) r["nulled"] = failed;
  if (s.on_error == OnError::kDropRow) {
    int64_t before = w.rows;
    w.Filter(keep);
    r["rows_removed"] = before - w.rows;
  }
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

template <void (*Fn)(std::string_view, std::string*)>
Status RunTextStep(const Step& s, const StepEnv& env, Work& w, Report& r) {
  int64_t changed = 0;
  for (const auto& c : s.columns) {
    ALAMBIC_ASSIGN_OR_RETURN(int i, env.TextColumn(s, w, c));
    auto& wc = w.cols[static_cast<size_t>(i)];
    wc.col = MapText(
        *wc.col,
        [](std::string_view v, std::string* out) {
          Fn(v, out);
          return true;
        },
        &changed);
  }
  r["changed"] = changed;
  return Status::Ok();
}

Status RunReplace(const Step& s, const StepEnv& env, Work& w, Report& r) {
  const std::string find = s.Str("find"), with = s.Str("with");
  int64_t changed = 0;
  for (const auto& c : s.columns) {
    ALAMBIC_ASSIGN_OR_RETURN(int i, env.TextColumn(s, w, c));
    auto& wc = w.cols[static_cast<size_t>(i)];
    wc.col = MapText(
        *wc.col,
        [&](std::string_view v, std::string* out) {
          size_t pos = 0;
          for (size_t hit; (hit = v.find(find, pos)) != std::string_view::npos;
               pos = hit + find.size()) {
            out->append(v.substr(pos, hit - pos));
            out->append(with);
          }
          out->append(v.substr(pos));
          return true;
        },
        &changed);
  }
  r["changed"] = changed;
  return Status::Ok();
}

Status RunRegexReplace(const Step& s, const StepEnv& env, Work& w, Report& r) {
  auto re = CompilePattern(s);
  if (!re.ok()) return env.Error(s, re.status().message());
  auto with = RegexReplacement::Parse(s.Str("with"), **re);
  if (!with.ok()) return env.Error(s, "option 'with': " + with.status().message());
  Regex::Matcher m(**re);
  int64_t changed = 0;
  for (const auto& c : s.columns) {
    ALAMBIC_ASSIGN_OR_RETURN(int i, env.TextColumn(s, w, c));
    auto& wc = w.cols[static_cast<size_t>(i)];
    const Column& src = *wc.col;
    ColumnBuilder b(TypeId::kUtf8);
    b.Reserve(src.length);
    std::string buf;
    for (int64_t row = 0; row < src.length; ++row) {
      if (src.IsNull(row)) {
        b.AppendNull();
        continue;
      }
      const std::string_view v = src.String(row);
      buf.clear();
      Status st = m.ReplaceAll(v, *with, &buf);
      if (!st.ok())
        return env.Error(s, fmt::format("column '{}', row {}: {}", c, row + 1, st.message()));
      if (buf != v) ++changed;
      b.AppendString(buf);
    }
    wc.col = b.Finish();
  }
  r["changed"] = changed;
  return Status::Ok();
}

// Cells of `col` that are non-null (for new columns) or differ from the column
// they replace.
int64_t CountChanged(const Work& w, const std::string& into, const Column& col) {
  int at = w.Find(into);
  const Column* old = at >= 0 ? w.cols[static_cast<size_t>(at)].col.get() : nullptr;
  int64_t changed = 0;
  for (int64_t i = 0; i < col.length; ++i) {
    bool was = old && old->IsValid(i), is = col.IsValid(i);
    if (was != is) {
      ++changed;
    } else if (is && (old->type != col.type || FormatCell(*old, i) != FormatCell(col, i))) {
      ++changed;
    }
  }
  return changed;
}

Status RunRegexExtract(const Step& s, const StepEnv& env, Work& w, Report& r) {
  auto re = CompilePattern(s);
  if (!re.ok()) return env.Error(s, re.status().message());
  Regex::Matcher m(**re);
  const size_t group = static_cast<size_t>(s.Int("group", 1));
  int64_t changed = 0, unmatched = 0;
  for (const auto& c : s.columns) {
    ALAMBIC_ASSIGN_OR_RETURN(int i, env.TextColumn(s, w, c));
    const std::string into = s.Str("into", c);
    ALAMBIC_RETURN_IF_ERROR(env.CanCreate(s, w, into, c));
    const Column& src = *w.cols[static_cast<size_t>(i)].col;
    ColumnBuilder b(TypeId::kUtf8);
    b.Reserve(src.length);
    for (int64_t row = 0; row < src.length; ++row) {
      if (src.IsNull(row)) {
        b.AppendNull();
        continue;
      }
      std::string_view v = src.String(row);
      auto found = m.Search(v);
      if (!found.ok())
        return env.Error(
            s, fmt::format("column '{}', row {}: {}", c, row + 1, found.status().message()));
      std::optional<std::string_view> g;
      if (*found) g = m.Group(v, group);
      if (g) {
        b.AppendString(*g);
      } else {
        ++unmatched;
        b.AppendNull();
      }
    }
    ColumnPtr col = b.Finish();
    changed += CountChanged(w, into, *col);
    Place(w, into, std::move(col), i, i);
  }
  r["changed"] = changed;
  r["unmatched"] = unmatched;
  return Status::Ok();
}

Status RunSplit(const Step& s, const StepEnv& env, Work& w, Report& r) {
  const std::string& column = s.columns[0];
  ALAMBIC_ASSIGN_OR_RETURN(int i, env.TextColumn(s, w, column));
  std::vector<std::string> into;
  for (const auto& v : s.options["into"]) into.push_back(v.get<std::string>());
  for (const auto& name : into) ALAMBIC_RETURN_IF_ERROR(env.CanCreate(s, w, name, column));
  const ColumnPtr src = w.cols[static_cast<size_t>(i)].col;
  const std::string by = s.Str("by");
  std::vector<ColumnBuilder> builders;
  for (size_t k = 0; k < into.size(); ++k) builders.emplace_back(TypeId::kUtf8);
  for (int64_t row = 0; row < src->length; ++row) {
    if (src->IsNull(row)) {
      for (auto& b : builders) b.AppendNull();
      continue;
    }
    std::string_view v = src->String(row);
    size_t k = 0;
    // The last column takes the remainder, delimiters included.
    for (; k + 1 < into.size(); ++k) {
      size_t hit = v.find(by);
      if (hit == std::string_view::npos) break;
      builders[k].AppendString(v.substr(0, hit));
      v.remove_prefix(hit + by.size());
    }
    builders[k++].AppendString(v);
    for (; k < into.size(); ++k) builders[k].AppendNull();
  }
  int64_t changed = 0;
  int after = i;
  for (size_t k = 0; k < into.size(); ++k) {
    ColumnPtr col = builders[k].Finish();
    changed += CountChanged(w, into[k], *col);
    bool exists = w.Find(into[k]) >= 0;
    Place(w, into[k], std::move(col), i, after);  // columns are only inserted after i
    if (!exists) ++after;
  }
  r["changed"] = changed;
  return Status::Ok();
}

bool HasTime(const std::string& format) {
  for (size_t i = 0; i + 1 < format.size(); ++i)
    if (format[i] == '%') {
      char d = format[++i];
      if (d == 'H' || d == 'M' || d == 'S') return true;
    }
  return false;
}

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

Status RunFillMissing(const Step& s, const StepEnv& env, Work& w, Report& r) {
  int64_t changed = 0;
  for (const auto& [name, value] : s.mapping) {
    ALAMBIC_ASSIGN_OR_RETURN(int i, env.Column(s, w, name));
    auto& wc = w.cols[static_cast<size_t>(i)];
    // The fill value goes through the cast rules: "2024-01-01" fills a date.
    ColumnBuilder text(TypeId::kUtf8);
    text.AppendString(value.is_string() ? value.get<std::string>() : value.dump());
    ColumnPtr one = text.Finish();
    ColumnBuilder fill(wc.col->type);
    if (!ConvertCell(*one, 0, wc.col->type, fill))
      return env.Error(s, fmt::format("fill value {} does not fit column '{}' ({})", value.dump(),
                                      name, TypeName(wc.col->type)));
    ColumnPtr fill_col = fill.Finish();
    ColumnBuilder b(wc.col->type);
    b.Reserve(w.rows);
    for (int64_t row = 0; row < w.rows; ++row) {
      if (wc.col->IsValid(row)) {
        b.AppendFrom(*wc.col, row);
      } else {
        b.AppendFrom(*fill_col, 0);
        ++changed;
      }
    }
    wc.col = b.Finish();
  }
  r["changed"] = changed;
  return Status::Ok();
}

// The step's columns, or every column when it names none.
Result<std::vector<int>> ColumnsOrAll(const Step& s, const StepEnv& env, const Work& w) {
  std::vector<int> out;
  for (const auto& c : s.columns) {
    ALAMBIC_ASSIGN_OR_RETURN(int i, env.Column(s, w, c));
    out.push_back(i);
  }
  if (s.columns.empty())
    for (size_t i = 0; i < w.cols.size(); ++i) out.push_back(static_cast<int>(i));
  return out;
}

Status RunDropMissing(const Step& s, const StepEnv& env, Work& w, Report& r) {
  ALAMBIC_ASSIGN_OR_RETURN(std::vector<int> cols, ColumnsOrAll(s, env, w));
  std::vector<uint8_t> keep(static_cast<size_t>(w.rows), 1);
  for (int i : cols) {
    const Column& c = *w.cols[static_cast<size_t>(i)].col;
    if (c.null_count == 0) continue;
    for (int64_t row = 0; row < w.rows; ++row)
      if (c.IsNull(row)) keep[static_cast<size_t>(row)] = 0;
  }
  int64_t before = w.rows;
  w.Filter(keep);
  r["changed"] = 0;
  r["rows_removed"] = before - w.rows;
  return Status::Ok();
}

// Appends a cell's bytes to a row key: a null marker, or the type's raw value
// (length-prefixed for text).
void AppendKey(const Column& c, int64_t i, std::string* key) {
  if (c.IsNull(i)) {
    key->push_back('\0');
    return;
  }
  key->push_back('\1');
  switch (c.type) {
    case TypeId::kInt64:
    case TypeId::kTimestamp: {
      int64_t v = c.Int64(i);
      key->append(reinterpret_cast<const char*>(&v), sizeof v);
      break;
    }
    case TypeId::kFloat64: {
      double v = c.Double(i);
      if (v == 0) v = 0;  // -0.0 and 0.0 are the same value
      key->append(reinterpret_cast<const char*>(&v), sizeof v);
      break;
    }
    case TypeId::kBool:
      key->push_back(c.Bool(i) ? '1' : '0');
      break;
    case TypeId::kDate32: {
      int32_t v = c.Date32(i);
      key->append(reinterpret_cast<const char*>(&v), sizeof v);
      break;
    }
    case TypeId::kUtf8: {
      std::string_view v = c.String(i);
      uint64_t n = v.size();
      key->append(reinterpret_cast<const char*>(&n), sizeof n);
      key->append(v);
      break;
    }
  }
}

Status RunDeduplicate(const Step& s, const StepEnv& env, Work& w, Report& r) {
  ALAMBIC_ASSIGN_OR_RETURN(std::vector<int> cols, ColumnsOrAll(s, env, w));
  std::vector<uint8_t> keep(static_cast<size_t>(w.rows), 1);
  std::unordered_set<std::string> seen;
  seen.reserve(static_cast<size_t>(w.rows));
  std::string key;
  for (int64_t row = 0; row < w.rows; ++row) {
    key.clear();
    for (int i : cols) AppendKey(*w.cols[static_cast<size_t>(i)].col, row, &key);
    if (!seen.insert(key).second) keep[static_cast<size_t>(row)] = 0;
  }
  int64_t before = w.rows;
  w.Filter(keep);
  r["changed"] = 0;
  r["rows_removed"] = before - w.rows;
  return Status::Ok();
}

Status RunRound(const Step& s, const StepEnv& env, Work& w, Report& r) {
  const int digits = static_cast<int>(s.Int("digits", 0));
  int64_t changed = 0;
  for (const auto& c : s.columns) {
    ALAMBIC_ASSIGN_OR_RETURN(int i, env.Column(s, w, c));
    auto& wc = w.cols[static_cast<size_t>(i)];
    const Column& src = *wc.col;
    if (src.type != TypeId::kFloat64 && src.type != TypeId::kInt64)
      return env.Error(s, fmt::format("column '{}' is {}; round applies to int64 and float64 "
                                      "columns",
                                      c, TypeName(src.type)));
    if (src.type == TypeId::kInt64 && digits >= 0) continue;
    ColumnBuilder b(src.type);
    b.Reserve(src.length);
    for (int64_t row = 0; row < src.length; ++row) {
      if (src.IsNull(row)) {
        b.AppendNull();
      } else if (src.type == TypeId::kFloat64) {
        // Half away from zero, on the binary value (1.005 is just below 1.005).
        double v = src.Double(row), p = std::pow(10.0, digits);
        double rounded = std::isfinite(v) ? std::round(v * p) / p : v;
        if (std::isfinite(rounded) && rounded != v) ++changed;
        b.AppendDouble(std::isfinite(rounded) ? rounded : v);
      } else {
        int64_t v = src.Int64(row), p = 1;
        for (int k = 0; k < -digits; ++k) p *= 10;
        int64_t rem = v % p, down = v - rem;
        int64_t rounded = (rem >= 0 ? rem : -rem) * 2 >= p ? down + (v < 0 ? -p : p) : down;
        if (rounded != v) ++changed;
        b.AppendInt64(rounded);
      }
    }
    wc.col = b.Finish();
  }
  r["changed"] = changed;
  return Status::Ok();
}

Status RunBin(const Step& s, const StepEnv& env, Work& w, Report& r) {
  const std::string& column = s.columns[0];
  ALAMBIC_ASSIGN_OR_RETURN(int i, env.Column(s, w, column));
  const Column& src = *w.cols[static_cast<size_t>(i)].col;
  if (src.type != TypeId::kFloat64 && src.type != TypeId::kInt64)
    return env.Error(s, fmt::format("column '{}' is {}; bin applies to int64 and float64 columns",
                                    column, TypeName(src.type)));
  const std::string into = s.Str("into", column);
  ALAMBIC_RETURN_IF_ERROR(env.CanCreate(s, w, into, column));
  std::vector<double> edges;
  for (const auto& e : s.options["edges"]) edges.push_back(e.get<double>());
  std::vector<std::string> labels;
  if (s.options.contains("labels")) {
    for (const auto& l : s.options["labels"]) labels.push_back(l.get<std::string>());
  } else {
    for (size_t k = 0; k + 1 < edges.size(); ++k)
      labels.push_back(
          fmt::format("[{}, {}{}", edges[k], edges[k + 1], k + 2 == edges.size() ? "]" : ")"));
  }
  int64_t outside = 0;
  ColumnBuilder b(TypeId::kUtf8);
  b.Reserve(src.length);
  for (int64_t row = 0; row < src.length; ++row) {
    if (src.IsNull(row)) {
      b.AppendNull();
      continue;
    }
    double v = src.type == TypeId::kFloat64 ? src.Double(row) : static_cast<double>(src.Int64(row));
    // Bins are [e_k, e_k+1); the last one also holds its upper edge.
    auto it = std::upper_bound(edges.begin(), edges.end(), v);
    size_t k = static_cast<size_t>(it - edges.begin());
    if (v == edges.back()) k = edges.size() - 1;
    if (k == 0 || k == edges.size() || std::isnan(v)) {
      ++outside;
      b.AppendNull();
    } else {
      b.AppendString(labels[k - 1]);
    }
  }
  ColumnPtr col = b.Finish();
  r["changed"] = CountChanged(w, into, *col);
  r["outside"] = outside;
  Place(w, into, std::move(col), i, i);
  return Status::Ok();
}

// HMAC-SHA256 with one key over many messages (the key is set once).
class Hmac {
 public:
  explicit Hmac(const std::string& key) {
    mac_ = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    ctx_ = mac_ ? EVP_MAC_CTX_new(mac_) : nullptr;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    ok_ = ctx_ && EVP_MAC_init(ctx_, reinterpret_cast<const unsigned char*>(key.data()), key.size(),
                               params) == 1;
  }
  ~Hmac() {
    EVP_MAC_CTX_free(ctx_);
    EVP_MAC_free(mac_);
  }
  Hmac(const Hmac&) = delete;
  Hmac& operator=(const Hmac&) = delete;
  bool ok() const { return ok_; }
  // Lower-case hex digest of `message`, cut to `digits`.
  bool Hex(std::string_view message, size_t digits, std::string* out) {
    unsigned char md[EVP_MAX_MD_SIZE];
    size_t len = 0;
    if (EVP_MAC_init(ctx_, nullptr, 0, nullptr) != 1 ||
        EVP_MAC_update(ctx_, reinterpret_cast<const unsigned char*>(message.data()),
                       message.size()) != 1 ||
        EVP_MAC_final(ctx_, md, &len, sizeof md) != 1)
      return false;
    static constexpr char kDigits[] = "0123456789abcdef";
    for (size_t k = 0; k < len && out->size() < digits; ++k) {
      out->push_back(kDigits[md[k] >> 4]);
      if (out->size() < digits) out->push_back(kDigits[md[k] & 15]);
    }
    return true;
  }

 private:
  EVP_MAC* mac_ = nullptr;
  EVP_MAC_CTX* ctx_ = nullptr;
  bool ok_ = false;
};

Status RunPseudonymise(const Step& s, const StepEnv& env, Work& w, Report& r) {
  const WorkspaceConfig& cfg = env.ctx.Config();
  auto key = ResolveEnvironmentKey(cfg.secrets, s.Str("key"), env.ctx.environment,
                                   cfg.default_environment, env.ctx.SecretsRoot(), GitTracksPath);
  if (!key.ok()) return env.Error(s, key.status().message());
  const std::string key_id = KeyId(*key);
  Hmac hmac(*key);
  OPENSSL_cleanse(key->data(), key->size());
  if (!hmac.ok()) return env.Error(s, "OpenSSL could not set up HMAC-SHA256");
  const size_t digits = static_cast<size_t>(s.Int("length", kSha256HexDigits));
  int64_t changed = 0;
  for (const auto& c : s.columns) {
    ALAMBIC_ASSIGN_OR_RETURN(int i, env.Column(s, w, c));
    auto& wc = w.cols[static_cast<size_t>(i)];
    const Column& src = *wc.col;
    ColumnBuilder b(TypeId::kUtf8);
    b.Reserve(src.length);
    std::string out, text;
    for (int64_t row = 0; row < src.length; ++row) {
      if (src.IsNull(row)) {
        b.AppendNull();
        continue;
      }
      if (src.type != TypeId::kUtf8) text = FormatCell(src, row);
      out.clear();
      if (!hmac.Hex(src.type == TypeId::kUtf8 ? src.String(row) : std::string_view(text), digits,
                    &out))
        return env.Error(s, "OpenSSL HMAC-SHA256 failed");
      b.AppendString(out);
      ++changed;
    }
    wc.col = b.Finish();
    wc.masked = true;
  }
  r["changed"] = changed;
  r["key_id"] = key_id;
  return Status::Ok();
}

// ---------------------------------------------------------------------------
// The step table.

struct StepDef {
  std::string_view name;
  Shape shape;
  std::vector<std::string_view> options;  // allowed besides the columns
  bool single_column = false;             // exactly one column
  bool empty_means_all = false;           // no column: every column
  Status (*check)(const Step&) = CheckNone;
  Status (*run)(const Step&, const StepEnv&, Work&, Report&) = nullptr;
};

const std::vector<StepDef>& Steps() {
  static const std::vector<StepDef> kSteps = {
      {"rename", Shape::kColumnMap, {}, false, false, CheckNone, RunRename},
      {"copy", Shape::kColumnMap, {}, false, false, CheckNone, RunCopy},
      {"keep", Shape::kColumns, {}, false, false, CheckNone, RunKeep},
      {"drop", Shape::kColumns, {}, false, false, CheckNone, RunDrop},
      {"cast", Shape::kColumnMap, {"on_error"}, false, false, CheckNone, RunCast},
      {"trim", Shape::kColumns, {}, false, false, CheckNone, RunTextStep<Trim>},
      {"upper", Shape::kColumns, {}, false, false, CheckNone, RunTextStep<MapCase<ToUpper>>},
      {"lower", Shape::kColumns, {}, false, false, CheckNone, RunTextStep<MapCase<ToLower>>},
      {"strip_accents", Shape::kColumns, {}, false, false, CheckNone, RunTextStep<StripAccents>},
      {"normalise_whitespace",
       Shape::kColumns,
       {},
       false,
       false,
       CheckNone,
       RunTextStep<NormaliseWhitespace>},
      {"replace", Shape::kColumns, {"find", "with"}, false, false, CheckReplace, RunReplace},
      {"regex_replace",
       Shape::kColumns,
       {"pattern", "with"},
       false,
       false,
       CheckRegexReplace,
       RunRegexReplace},
      {"regex_extract",
       Shape::kColumns,
       {"pattern", "group", "into"},
       false,
       false,
       CheckRegexExtract,
       RunRegexExtract},
      {"split", Shape::kColumns, {"by", "into"}, true, false, CheckSplit, RunSplit},
      {"parse_date",
       Shape::kColumns,
       {"format", "into", "on_error"},
       false,
       false,
       CheckParseDate,
       RunParseDate},
      {"format_date",
       Shape::kColumns,
       {"format", "into"},
       false,
       false,
       CheckFormatDate,
       RunFormatDate},
      {"fill_missing", Shape::kColumnMap, {}, false, false, CheckNone, RunFillMissing},
      {"drop_missing", Shape::kColumns, {}, false, true, CheckNone, RunDropMissing},
      {"deduplicate", Shape::kColumns, {}, false, true, CheckNone, RunDeduplicate},
      {"round", Shape::kColumns, {"digits"}, false, false, CheckRound, RunRound},
      {"bin", Shape::kColumns, {"edges", "labels", "into"}, true, false, CheckBin, RunBin},
      {"pseudonymise",
       Shape::kColumns,
       {"key", "length"},
       false,
       false,
       CheckPseudonymise,
       RunPseudonymise},
      // Extension point: {"formula", Shape::kColumns, {"expr", "into"}, ...} once
      // core/table/expr.h is available.
  };
  return kSteps;
}

const StepDef* FindStep(std::string_view name) {
  for (const auto& d : Steps())
    if (d.name == name) return &d;
  return nullptr;
}

std::string StepNames() {
  std::vector<std::string> names;
  for (const auto& d : Steps()) names.emplace_back(d.name);
  std::sort(names.begin(), names.end());
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// Column names from a string or a list of strings (null: none).
Status ReadColumns(const json& v, std::vector<std::string>* out) {
  if (v.is_null()) return Status::Ok();
  if (v.is_string()) {
    out->push_back(v.get<std::string>());
    return Status::Ok();
  }
  if (v.is_array()) {
    for (const auto& c : v) {
      if (!c.is_string()) return Status::Invalid("columns must be names (strings)");
      out->push_back(c.get<std::string>());
    }
    return Status::Ok();
  }
  return Status::Invalid("must be a column name or a list of column names");
}

// Reads one step item once its step key is known.
Status ParseStep(const json& item, const StepDef& def, Step* step) {
  const json& main = item[std::string(def.name)];
  for (const auto& [k, v] : item.items())
    if (k != def.name) step->options[k] = v;
  if (def.shape == Shape::kColumnMap) {
    if (!main.is_object() || main.empty())
      return Status::Invalid(fmt::format("must be a mapping column: {}",
                                         def.name == "rename" || def.name == "copy" ? "new_name"
                                         : def.name == "cast"                       ? "type"
                                                                                    : "value"));
    for (const auto& [col, v] : main.items()) {
      if ((def.name == "rename" || def.name == "copy") &&
          (!v.is_string() || v.get<std::string>().empty()))
        return Status::Invalid(fmt::format("the new name of '{}' must be a non-empty string", col));
      if (def.name == "cast") {
        if (!v.is_string())
          return Status::Invalid(fmt::format("the type of '{}' must be a string", col));
        auto t = ParseTypeName(v.get<std::string>());
        if (!t.ok())
          return Status::Invalid(fmt::format("column '{}': {}", col, t.status().message()));
      }
      if (def.name == "fill_missing" && !(v.is_string() || v.is_number() || v.is_boolean()))
        return Status::Invalid(
            fmt::format("the value for '{}' must be a string, a number or a boolean", col));
      step->mapping.emplace_back(col, v);
    }
  } else if (main.is_object()) {
    for (const auto& [k, v] : main.items()) {
      if (k == "column" || k == "columns") {
        Status st = ReadColumns(v, &step->columns);
        if (!st.ok()) return Status::Invalid(fmt::format("option '{}' {}", k, st.message()));
      } else if (step->options.contains(k)) {
        return Status::Invalid(fmt::format("option '{}' is given twice", k));
      } else {
        step->options[k] = v;
      }
    }
  } else {
    Status st = ReadColumns(main, &step->columns);
    if (!st.ok()) return st;
  }
  for (const auto& [k, v] : step->options.items())
    if (std::find(def.options.begin(), def.options.end(), k) == def.options.end()) {
      std::string allowed;
      for (auto o : def.options) allowed += (allowed.empty() ? "" : ", ") + std::string(o);
      return Status::Invalid(allowed.empty()
                                 ? fmt::format("unknown option '{}' ({} takes none)", k, def.name)
                                 : fmt::format("unknown option '{}' (options: {})", k, allowed));
    }
  if (def.shape == Shape::kColumns) {
    if (step->columns.empty() && !def.empty_means_all) return Status::Invalid("names no column");
    if (def.single_column && step->columns.size() != 1)
      return Status::Invalid("takes exactly one column");
  }
  if (def.name == "parse_date") step->on_error = OnError::kNull;
  if (auto it = step->options.find("on_error"); it != step->options.end()) {
    // An unquoted `on_error: null` is YAML's null: the policy of that name.
    std::string e = it->is_string() ? it->get<std::string>() : it->is_null() ? "null" : "";
    if (e == "fail") {
      step->on_error = OnError::kFail;
    } else if (e == "null") {
      step->on_error = OnError::kNull;
    } else if (e == "drop_row") {
      step->on_error = OnError::kDropRow;
    } else {
      return Status::Invalid("option 'on_error' must be fail, null or drop_row");
    }
  }
  return def.check(*step);
}

Result<std::vector<Step>> ParseSteps(const json& params) {
  auto fail = [](const std::string& m) { return Status::Invalid("param 'steps': " + m); };
  if (!params.is_object() || !params.contains("steps")) return fail("is required");
  const json& steps = params["steps"];
  if (!steps.is_array()) return fail("must be a list of steps");
  std::vector<Step> out;
  for (size_t i = 0; i < steps.size(); ++i) {
    const json& item = steps[i];
    Step step;
    step.index = static_cast<int>(i + 1);
    if (!item.is_object() || item.empty())
      return fail(fmt::format("step {}: must be a mapping such as {{trim: [name]}}", step.index));
    const StepDef* def = nullptr;
    for (const auto& [k, v] : item.items()) {
      const StepDef* d = FindStep(k);
      if (!d) continue;
      if (def)
        return fail(
            fmt::format("step {}: holds two steps, '{}' and '{}'; write one step per "
                        "list item",
                        step.index, def->name, d->name));
      def = d;
    }
    if (!def) {
      std::string first = item.begin().key();
      return fail(fmt::format("step {}: unknown step '{}' (known steps: {})", step.index, first,
                              StepNames()));
    }
    step.name = std::string(def->name);
    Status st = ParseStep(item, *def, &step);
    if (!st.ok()) return fail(fmt::format("{}: {}", step.Label(), st.message()));
    out.push_back(std::move(step));
  }
  return out;
}

json ColumnsOf(const Step& s) {
  json cols = json::array();
  for (const auto& c : s.columns) cols.push_back(c);
  for (const auto& [c, v] : s.mapping) cols.push_back(c);
  return cols;
}

class CleanKind final : public RecipeKind {
 public:
  std::string name() const override { return "clean"; }
  const std::vector<ParamSpec>& params() const override {
    static const std::vector<ParamSpec> kParams = {
        {"steps", ParamType::kList, true,
         "ordered preparation steps, each a mapping {step: columns, options...}"},
    };
    return kParams;
  }
  int max_inputs() const override { return 1; }
  Status CheckParams(const json& params) const override { return ParseSteps(params).status(); }

  // The KeyId of each pseudonymisation key, so that a new key makes the recipe
  // stale ("secret pseudo_key changed"); the key itself goes nowhere.
  Result<std::vector<VersionSalt>> VersionSalts(const RecipeContext& ctx) const override {
    std::vector<VersionSalt> out;
    if (!ctx.params) return out;
    auto steps = ParseSteps(*ctx.params);
    if (!steps.ok()) return out;  // reported by validation and by Run()
    for (const Step& s : *steps) {
      if (s.name != "pseudonymise") continue;
      const std::string ref = s.Str("key");
      const std::string what = "secret " + ref.substr(kSecretPrefix.size());
      if (std::any_of(out.begin(), out.end(), [&](const VersionSalt& v) { return v.what == what; }))
        continue;
      auto key =
          ResolveEnvironmentKey(ctx.Config().secrets, ref, ctx.environment,
                                ctx.Config().default_environment, ctx.SecretsRoot(), GitTracksPath);
      if (!key.ok())
        return key.status().WithContext(fmt::format("recipe {}: {}", ctx.recipe, s.Label()));
      out.push_back({what, KeyId(*key)});
      OPENSSL_cleanse(key->data(), key->size());
    }
    return out;
  }

  Result<RecipeOutput> Run(RecipeContext& ctx) const override {
    auto steps = ParseSteps(*ctx.params);
    if (!steps.ok()) return steps.status().WithContext("recipe " + ctx.recipe);
    const NamedTable& input = ctx.inputs.at(0);
    Work w;
    w.rows = input.table->num_rows();
    for (int i = 0; i < input.table->num_columns(); ++i) {
      const std::string& n = input.table->schema().fields[static_cast<size_t>(i)].name;
      w.cols.push_back({n, input.table->column(i), {n}});
    }
    StepEnv env{ctx};
    json reports = json::array();
    for (const Step& s : *steps) {
      if (ctx.cancel && ctx.cancel->cancelled()) return ctx.cancel->AsStatus();
      json report = {{"step", s.name}, {"columns", ColumnsOf(s)}};
      const StepDef& def = *FindStep(s.name);
      ALAMBIC_RETURN_IF_ERROR(def.run(s, env, w, report));
      if (ctx.log) {
        std::string extra;
        if (report.contains("rows_removed"))
          extra = fmt::format(", {} rows removed", report["rows_removed"].get<int64_t>());
        if (report.contains("failed"))
          extra += fmt::format(", {} failed", report["failed"].get<int64_t>());
        std::string cols;
        for (const auto& c : report["columns"])
          cols += (cols.empty() ? "" : ", ") + c.get<std::string>();
        ctx.log->Info(fmt::format("{}{}: {} cells changed{}", s.Label(),
                                  cols.empty() ? "" : " on " + cols,
                                  report["changed"].get<int64_t>(), extra));
      }
      reports.push_back(std::move(report));
      if (ctx.progress) ctx.progress(w.rows);
    }

    Schema schema;
    std::vector<ColumnPtr> columns;
    std::map<std::string, std::vector<ColumnSource>> lineage;
    for (auto& wc : w.cols) {
      schema.fields.push_back({wc.name, wc.col->type, true});
      columns.push_back(wc.col);
      auto& src = lineage[wc.name];
      for (const auto& s : wc.sources) {
        // A column no step rewrote (at most renamed) is the input's own buffer.
        const int at = input.table->schema().FieldIndex(s);
        const bool same = wc.sources.size() == 1 && at >= 0 && input.table->column(at) == wc.col;
        src.push_back({input.name, s,
                       wc.masked ? kTransformMasking
                       : same    ? kTransformIdentity
                                 : kTransformTransformation});
      }
    }
    ALAMBIC_ASSIGN_OR_RETURN(Table t, Table::Make(std::move(schema), std::move(columns), w.rows));
    RecipeOutput out;
    out.metrics["rows_in"] = input.table->num_rows();
    out.metrics["rows"] = w.rows;
    out.metrics["steps"] = std::move(reports);
    out.tables.push_back(std::move(t));
    out.column_lineage.push_back(std::move(lineage));
    return out;
  }
};

}  // namespace

Status RegisterCleanKind(RecipeRegistry& r) { return r.Register(std::make_unique<CleanKind>()); }

}  // namespace alambic
