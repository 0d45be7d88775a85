#include "core/table/similarity.h"

#include <algorithm>
#include <cstdlib>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/table/table.h"
#include "core/table/text.h"

namespace alambic {
namespace {

constexpr char32_t kReplacementChar = 0xFFFD;
constexpr double kWinklerBoostThreshold = 0.7;
constexpr double kWinklerPrefixScale = 0.1;
constexpr size_t kWinklerMaxPrefix = 4;
constexpr size_t kSoundexLength = 4;
// Strings up to this many code points use stack buffers in Jaro.
constexpr size_t kSmallString = 64;

bool IsNameSeparator(uint32_t cp) {
  switch (cp) {
    case '-':
    case '\'':
    case '.':
    case ',':
    case '_':
    case '`':
    case 0x2010:  // hyphen
    case 0x2011:  // non-breaking hyphen
    case 0x2013:  // en dash
    case 0x2014:  // em dash
    case 0x2018:  // left single quotation mark
    case 0x2019:  // right single quotation mark (the typographic apostrophe)
    case 0x02BC:  // modifier letter apostrophe
      return true;
    default:
      return false;
  }
}

// Replaces every non-overlapping occurrence of `from` (left to right) by `to`,
// from position `first` on (PHP str_replace / preg_replace semantics).
std::string ReplaceAll(const std::string& s, std::string_view from, std::string_view to,
                       size_t first = 0) {
  std::string out;
  size_t pos = 0;
  while (true) {
    size_t at = s.find(from, std::max(pos, first));
    if (at == std::string::npos) break;
    out.append(s, pos, at - pos);
    out.append(to);
    pos = at + from.size();
  }
  out.append(s, pos, std::string::npos);
  return out;
}

// Replaces, left to right without rescanning, every occurrence of any of `from`
// (the first that matches at a position wins), as a regex alternation does.
std::string ReplaceAny(const std::string& s, std::initializer_list<std::string_view> from,
                       std::string_view to, size_t first) {
  std::string out(s, 0, std::min(first, s.size()));
  for (size_t i = out.size(); i < s.size();) {
    bool hit = false;
    for (std::string_view f : from) {
      if (s.compare(i, f.size(), f) == 0) {
        out.append(to);
        i += f.size();
        hit = true;
        break;
      }
    }
    if (!hit) out.push_back(s[i++]);
  }
  return out;
}

std::string ReplacePrefix(const std::string& s, std::string_view from, std::string_view to) {
  if (s.compare(0, from.size(), from) != 0) return s;
  return std::string(to) + s.substr(from.size());
}

template <typename Buf>
double JaroImpl(std::u32string_view a, std::u32string_view b, Buf& a_matched, Buf& b_matched) {
  const size_t window = std::max(a.size(), b.size()) / 2;
  const size_t range = window > 0 ? window - 1 : 0;
  size_t common = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const size_t lo = i > range ? i - range : 0;
    const size_t hi = std::min(b.size(), i + range + 1);
    for (size_t j = lo; j < hi; ++j) {
      if (!b_matched[j] && a[i] == b[j]) {
        a_matched[i] = b_matched[j] = true;
        ++common;
        break;
      }
    }
  }
  if (common == 0) return 0.0;
  size_t half_transpositions = 0;
  for (size_t i = 0, j = 0; i < a.size(); ++i) {
    if (!a_matched[i]) continue;
    while (!b_matched[j]) ++j;
    if (a[i] != b[j]) ++half_transpositions;
    ++j;
  }
  const double m = static_cast<double>(common);
  const double t = static_cast<double>(half_transpositions / 2);
  return (m / static_cast<double>(a.size()) + m / static_cast<double>(b.size()) + (m - t) / m) /
         3.0;
}

int YearDigitsApart(int a, int b) {
  int differing = 0;
  for (; a > 0 || b > 0; a /= 10, b /= 10) differing += (a % 10) != (b % 10);
  return differing;
}

bool ValidDay(int year, int month, int day) {
  if (month == 0 || day == 0) return true;
  static constexpr int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (day > kDays[month - 1]) return false;
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return !(month == 2 && day == 29 && !leap);
}

bool Digits(std::string_view s, size_t pos, size_t n, int* out) {
  int v = 0;
  for (size_t k = pos; k < pos + n; ++k) {
    if (s[k] < '0' || s[k] > '9') return false;
    v = v * 10 + (s[k] - '0');
  }
  *out = v;
  return true;
}

}  // namespace

std::u32string ToCodePoints(std::string_view utf8) {
  std::u32string out;
  out.reserve(utf8.size());
  ForEachCodePoint(utf8, [&](uint32_t cp, std::string_view) {
    out.push_back(cp == kInvalidCodePoint ? kReplacementChar : static_cast<char32_t>(cp));
  });
  return out;
}

std::string NormaliseName(std::string_view name) {
  std::string plain;
  StripAccents(name, &plain);
  std::string out;
  out.reserve(plain.size());
  bool pending_space = false;
  ForEachCodePoint(plain, [&](uint32_t cp, std::string_view bytes) {
    if (cp != kInvalidCodePoint && (IsSpace(cp) || IsNameSeparator(cp))) {
      pending_space = !out.empty();
      return;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    if (cp == kInvalidCodePoint) {
      out.append(bytes);
    } else {
      AppendUtf8(ToUpper(cp), &out);
    }
  });
  return out;
}

std::string NormaliseKey(std::string_view in, unsigned how) {
  if (how & kKeyName) return NormaliseName(in);
  std::string plain;
  if (how & kKeyStripAccents) {
    StripAccents(in, &plain);
    in = plain;
  }
  std::string out;
  out.reserve(in.size());
  size_t kept = 0;  // size of `out` up to its last non-space code point
  ForEachCodePoint(in, [&](uint32_t cp, std::string_view bytes) {
    const bool space = cp != kInvalidCodePoint && IsSpace(cp);
    if ((how & kKeyTrim) && space && out.empty()) return;
    if (cp == kInvalidCodePoint || !(how & kKeyLower))
      out.append(bytes);
    else
      AppendUtf8(ToLower(cp), &out);
    if (!space) kept = out.size();
  });
  if (how & kKeyTrim) out.resize(kept);
  return out;
}

std::string SortWords(std::string_view normalised) {
  std::vector<std::string_view> words;
  size_t start = 0;
  while (start < normalised.size()) {
    size_t end = normalised.find(' ', start);
    if (end == std::string_view::npos) end = normalised.size();
    if (end > start) words.push_back(normalised.substr(start, end - start));
    start = end + 1;
  }
  std::sort(words.begin(), words.end());
  std::string out;
  for (const auto& w : words) {
    if (!out.empty()) out.push_back(' ');
    out.append(w);
  }
  return out;
}

double Jaro(std::u32string_view a, std::u32string_view b) {
  if (a.empty() && b.empty()) return 1.0;
  if (a.empty() || b.empty()) return 0.0;
  if (a.size() <= kSmallString && b.size() <= kSmallString) {
    bool am[kSmallString] = {}, bm[kSmallString] = {};
    return JaroImpl(a, b, am, bm);
  }
  std::vector<char> am(a.size(), 0), bm(b.size(), 0);
  return JaroImpl(a, b, am, bm);
}

double JaroWinkler(std::u32string_view a, std::u32string_view b) {
  double j = Jaro(a, b);
  if (j <= kWinklerBoostThreshold) return j;
  size_t prefix = 0;
  const size_t limit = std::min({a.size(), b.size(), kWinklerMaxPrefix});
  while (prefix < limit && a[prefix] == b[prefix]) ++prefix;
  return j + static_cast<double>(prefix) * kWinklerPrefixScale * (1.0 - j);
}

int LevenshteinDistance(std::u32string_view a, std::u32string_view b) {
  if (a.size() < b.size()) std::swap(a, b);
  std::vector<int> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = static_cast<int>(j);
  for (size_t i = 1; i <= a.size(); ++i) {
    int diagonal = row[0];
    row[0] = static_cast<int>(i);
    for (size_t j = 1; j <= b.size(); ++j) {
      const int above = row[j];
      row[j] = std::min({above + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

int DamerauDistance(std::u32string_view a, std::u32string_view b) {
  const size_t w = b.size() + 1;
  // Three rows: i-2, i-1, i.
  std::vector<int> prev2(w), prev(w), cur(w);
  for (size_t j = 0; j < w; ++j) prev[j] = static_cast<int>(j);
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = static_cast<int>(i);
    for (size_t j = 1; j < w; ++j) {
      const int cost = a[i - 1] == b[j - 1] ? 0 : 1;
      int d = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d = std::min(d, prev2[j - 2] + 1);
      cur[j] = d;
    }
    std::swap(prev2, prev);
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

double LevenshteinSimilarity(std::u32string_view a, std::u32string_view b) {
  const size_t n = std::max(a.size(), b.size());
  if (n == 0) return 1.0;
  return 1.0 - static_cast<double>(LevenshteinDistance(a, b)) / static_cast<double>(n);
}

double DamerauSimilarity(std::u32string_view a, std::u32string_view b) {
  const size_t n = std::max(a.size(), b.size());
  if (n == 0) return 1.0;
  return 1.0 - static_cast<double>(DamerauDistance(a, b)) / static_cast<double>(n);
}

double JaroWinkler(std::string_view a, std::string_view b) {
  return JaroWinkler(ToCodePoints(a), ToCodePoints(b));
}
int LevenshteinDistance(std::string_view a, std::string_view b) {
  return LevenshteinDistance(ToCodePoints(a), ToCodePoints(b));
}
int DamerauDistance(std::string_view a, std::string_view b) {
  return DamerauDistance(ToCodePoints(a), ToCodePoints(b));
}

std::string SoundexFr(std::string_view name) {
  std::string plain;
  StripAccents(name, &plain);
  std::string s;
  for (char c : plain) {
    char u = static_cast<char>(ToUpper(static_cast<unsigned char>(c)));
    if (u >= 'A' && u <= 'Z') s.push_back(u);
  }
  if (s.size() <= 1) return s;
  // Primary sounds, each replacement over the whole string in turn.
  static constexpr std::string_view kPrimary[][2] = {
      {"GUI", "KI"}, {"GUE", "KE"}, {"GA", "KA"}, {"GO", "KO"}, {"GU", "K"}, {"CA", "KA"},
      {"CO", "KO"},  {"CU", "KU"},  {"Q", "K"},   {"CC", "K"},  {"CK", "K"}};
  for (const auto& [from, to] : kPrimary) s = ReplaceAll(s, from, to);
  // Vowels but Y, after the first letter, become A.
  for (size_t i = 1; i < s.size(); ++i)
    if (s[i] == 'E' || s[i] == 'I' || s[i] == 'O' || s[i] == 'U') s[i] = 'A';
  // Prefixes first, then the same groups elsewhere.
  // PH and PF are one alternation (PH|PF): "PPH" gives "PFF", not "FFF".
  static constexpr std::string_view kGroups[][2] = {{"KN", "NN"},   {"PH", "FF"},   {"PF", "FF"},
                                                    {"MAC", "MCC"}, {"SCH", "SSS"}, {"ASA", "AZA"}};
  for (const auto& [from, to] : kGroups) s = ReplacePrefix(s, from, to);
  s = ReplaceAll(s, "KN", "NN", 1);
  s = ReplaceAny(s, {"PH", "PF"}, "FF", 1);
  for (const auto& [from, to] : std::span(kGroups).subspan(3)) s = ReplaceAll(s, from, to, 1);
  // H kept only after C or S; Y only after A (looking at the string before the pass).
  auto drop = [](const std::string& in, char letter, auto keep_after) {
    std::string out;
    for (size_t i = 0; i < in.size(); ++i)
      if (in[i] != letter || (i > 0 && keep_after(in[i - 1]))) out.push_back(in[i]);
    return out;
  };
  s = drop(s, 'H', [](char p) { return p == 'C' || p == 'S'; });
  s = drop(s, 'Y', [](char p) { return p == 'A'; });
  if (!s.empty() && (s.back() == 'A' || s.back() == 'T' || s.back() == 'D' || s.back() == 'S'))
    s.pop_back();
  std::string no_a;
  for (size_t i = 0; i < s.size(); ++i)
    if (i == 0 || s[i] != 'A') no_a.push_back(s[i]);
  // Doubled letters: non-overlapping pairs left to right ("KKK" -> "KK").
  std::string out;
  for (size_t i = 0; i < no_a.size();) {
    out.push_back(no_a[i]);
    i += (i + 1 < no_a.size() && no_a[i + 1] == no_a[i]) ? 2 : 1;
  }
  if (out.size() > kSoundexLength) out.resize(kSoundexLength);
  return out;
}

bool ParsePartialDate(std::string_view t, PartialDate* out) {
  PartialDate d;
  bool ok = false;
  if (t.size() == 10 && t[4] == '-' && t[7] == '-') {
    ok = Digits(t, 0, 4, &d.year) && Digits(t, 5, 2, &d.month) && Digits(t, 8, 2, &d.day);
  } else if (t.size() == 8) {
    ok = Digits(t, 0, 4, &d.year) && Digits(t, 4, 2, &d.month) && Digits(t, 6, 2, &d.day);
  } else if (t.size() == 10 && t[2] == '/' && t[5] == '/') {
    ok = Digits(t, 0, 2, &d.day) && Digits(t, 3, 2, &d.month) && Digits(t, 6, 4, &d.year);
  }
  if (!ok || d.year == 0 || d.month > 12 || d.day > 31 || !ValidDay(d.year, d.month, d.day))
    return false;
  *out = d;
  return true;
}

PartialDate PartialDateFromDays(int32_t days) {
  int y = 0;
  unsigned m = 0, d = 0;
  CivilFromDays(days, &y, &m, &d);
  return {y, static_cast<int>(m), static_cast<int>(d)};
}

double DateSimilarity(const PartialDate& a, const PartialDate& b, int max_days) {
  constexpr double kSame = 1.0, kNear = 0.9, kSwapped = 0.9, kDayUnknown = 0.85,
                   kDayPlaceholder = 0.8, kMonthUnknown = 0.8, kYearPlaceholder = 0.7,
                   kYearTypo = 0.5;
  if (a.empty() || b.empty()) return 0.0;
  // Only two complete dates can be the same date: equal partial dates
  // (00/03/1957 twice) fall through to the partial cases below.
  if (a.complete() && b.complete() && a.month == b.month && a.day == b.day && a.year == b.year)
    return kSame;
  if (a.complete() && b.complete() && max_days > 0) {
    const int32_t da =
        DaysFromCivil(a.year, static_cast<unsigned>(a.month), static_cast<unsigned>(a.day));
    const int32_t db =
        DaysFromCivil(b.year, static_cast<unsigned>(b.month), static_cast<unsigned>(b.day));
    if (std::abs(da - db) <= max_days) return kNear;
  }
  if (a.year == b.year) {
    if (a.complete() && b.complete() && a.day == b.month && a.month == b.day) return kSwapped;
    if (a.month != 0 && a.month == b.month) {
      if (a.day == 0 || b.day == 0) return kDayUnknown;
      if (a.day == 1 || b.day == 1) return kDayPlaceholder;
    }
    // A day recorded without its month (13/00/1957) says too little to count.
    if (a.month == 0 || b.month == 0) return kMonthUnknown;
    if ((a.month == 1 && a.day == 1) || (b.month == 1 && b.day == 1)) return kYearPlaceholder;
    return 0.0;
  }
  if (a.month != 0 && a.month == b.month && a.day == b.day && YearDigitsApart(a.year, b.year) == 1)
    return kYearTypo;
  return 0.0;
}

}  // namespace alambic
