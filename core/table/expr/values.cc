// The date, text and number helpers of the expression language (internal.h).
#include <algorithm>
#include <charconv>
#include <cmath>

#include <fmt/format.h>

#include "core/table/expr/internal.h"

namespace alambic::expr_internal {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// ---------------------------------------------------------------------------
// Date and text helpers shared by the parser (literals) and the kernels.

bool ParseDate(std::string_view s, int32_t* days) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  auto num = [&](size_t pos, size_t len, int* v) {
    auto r = std::from_chars(s.data() + pos, s.data() + pos + len, *v);
    return r.ec == std::errc() && r.ptr == s.data() + pos + len;
  };
  int y, m, d;
  if (!num(0, 4, &y) || !num(5, 2, &m) || !num(8, 2, &d)) return false;
  if (m < 1 || m > 12 || d < 1) return false;
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  const int max_day = kDays[m - 1] + (m == 2 && leap ? 1 : 0);
  if (d > max_day) return false;
  *days = DaysFromCivil(y, static_cast<unsigned>(m), static_cast<unsigned>(d));
  return true;
}

// YYYY-MM-DD[( |T)HH:MM:SS[.ffffff]][Z], in UTC.
bool ParseTimestamp(std::string_view s, int64_t* micros) {
  int32_t days;
  if (s.size() < 10 || !ParseDate(s.substr(0, 10), &days)) return false;
  int64_t us = 0;
  size_t p = 10;
  if (p < s.size() && (s[p] == 'T' || s[p] == ' ')) {
    if (s.size() < p + 9 || s[p + 3] != ':' || s[p + 6] != ':') return false;
    int hh, mm, ss;
    auto two = [&](size_t pos, int* v) {
      auto r = std::from_chars(s.data() + pos, s.data() + pos + 2, *v);
      return r.ec == std::errc() && r.ptr == s.data() + pos + 2;
    };
    if (!two(p + 1, &hh) || !two(p + 4, &mm) || !two(p + 7, &ss)) return false;
    if (hh > 23 || mm > 59 || ss > 59) return false;
    us = ((hh * 60LL + mm) * 60LL + ss) * 1000000LL;
    p += 9;
    if (p < s.size() && s[p] == '.') {
      ++p;
      int64_t frac = 0;
      int digits = 0;
      while (p < s.size() && s[p] >= '0' && s[p] <= '9') {
        if (digits < 6) frac = frac * 10 + (s[p] - '0'), ++digits;
        ++p;
      }
      if (digits == 0) return false;
      while (digits++ < 6) frac *= 10;
      us += frac;
    }
  }
  if (p < s.size() && s[p] == 'Z') ++p;
  if (p != s.size()) return false;
  *micros = days * kMicrosPerDay + us;
  return true;
}

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

bool IsContinuation(unsigned char c) { return (c & 0xC0) == 0x80; }

int64_t CodePoints(std::string_view s) {
  int64_t n = 0;
  for (char c : s) n += IsContinuation(static_cast<unsigned char>(c)) ? 0 : 1;
  return n;
}

// Byte offset of code point `cp` (clamped to the end).
size_t ByteOffset(std::string_view s, int64_t cp) {
  size_t i = 0;
  while (i < s.size() && cp > 0) {
    ++i;
    while (i < s.size() && IsContinuation(static_cast<unsigned char>(s[i]))) ++i;
    --cp;
  }
  return i;
}

// ASCII letters, Latin-1 letters, Œ/œ and Ÿ/ÿ: enough for French text.
void ChangeCase(std::string_view s, bool upper, std::string* out) {
  out->assign(s);
  for (size_t i = 0; i < out->size(); ++i) {
    auto c = static_cast<unsigned char>((*out)[i]);
    if (c < 0x80) {
      if (upper && c >= 'a' && c <= 'z') (*out)[i] = static_cast<char>(c - 32);
      if (!upper && c >= 'A' && c <= 'Z') (*out)[i] = static_cast<char>(c + 32);
      continue;
    }
    if (i + 1 >= out->size()) break;
    auto d = static_cast<unsigned char>((*out)[i + 1]);
    if (c == 0xC3) {
      if (!upper && d >= 0x80 && d <= 0x9E && d != 0x97)
        (*out)[i + 1] = static_cast<char>(d + 0x20);
      if (upper && d >= 0xA0 && d <= 0xBE && d != 0xB7) (*out)[i + 1] = static_cast<char>(d - 0x20);
      if (upper && d == 0xBF)
        (*out)[i] = static_cast<char>(0xC5), (*out)[i + 1] = static_cast<char>(0xB8);
    } else if (c == 0xC5) {
      if (!upper && d == 0x92) (*out)[i + 1] = static_cast<char>(0x93);
      if (upper && d == 0x93) (*out)[i + 1] = static_cast<char>(0x92);
      if (!upper && d == 0xB8)
        (*out)[i] = static_cast<char>(0xC3), (*out)[i + 1] = static_cast<char>(0xBF);
    }
    ++i;
  }
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view Trim(std::string_view s, bool left, bool right) {
  size_t b = 0, e = s.size();
  if (left)
    while (b < e && IsSpace(s[b])) ++b;
  if (right)
    while (e > b && IsSpace(s[e - 1])) --e;
  return s.substr(b, e - b);
}

// SQLite's substr(): 1-based start, negative start counts from the end,
// negative length takes characters before start.
std::string_view Substr(std::string_view s, int64_t p1, int64_t p2, bool has_len) {
  constexpr int64_t kClamp = int64_t{1} << 40;
  p1 = std::clamp(p1, -kClamp, kClamp);
  bool neg = false;
  if (!has_len) {
    p2 = kClamp;
  } else {
    p2 = std::clamp(p2, -kClamp, kClamp);
    if (p2 < 0) p2 = -p2, neg = true;
  }
  const int64_t len = CodePoints(s);
  if (p1 < 0) {
    p1 += len;
    if (p1 < 0) {
      p2 += p1;
      if (p2 < 0) p2 = 0;
      p1 = 0;
    }
  } else if (p1 > 0) {
    --p1;
  } else if (p2 > 0) {
    --p2;
  }
  if (neg) {
    p1 -= p2;
    if (p1 < 0) p2 += p1, p1 = 0;
  }
  const size_t b = ByteOffset(s, p1);
  const size_t e = b + ByteOffset(s.substr(b), p2);
  return s.substr(b, e - b);
}

void Replace(std::string_view s, std::string_view from, std::string_view to, std::string* out) {
  out->clear();
  if (from.empty()) {
    out->assign(s);
    return;
  }
  size_t pos = 0;
  while (true) {
    size_t f = s.find(from, pos);
    if (f == std::string_view::npos) break;
    out->append(s.substr(pos, f - pos));
    out->append(to);
    pos = f + from.size();
  }
  out->append(s.substr(pos));
}

// Exact three-way comparison of an int64 with a double (NaN sorts first).
int CompareIntDouble(int64_t i, double d) {
  if (std::isnan(d)) return -1;  // NaN sorts after every number
  if (d >= 9223372036854775808.0) return -1;
  if (d < -9223372036854775808.0) return 1;
  const auto t = static_cast<int64_t>(d);
  if (i != t) return i < t ? -1 : 1;
  const double frac = d - static_cast<double>(t);
  return frac > 0 ? -1 : (frac < 0 ? 1 : 0);
}

bool DoubleToInt(double d, int64_t* out) {
  if (std::isnan(d) || d >= 9223372036854775808.0 || d < -9223372036854775808.0) return false;
  *out = static_cast<int64_t>(d);
  return true;
}

// "line:col" of a byte offset, columns counted in code points.
std::string Place(std::string_view text, size_t pos) {
  int line = 1, col = 1;
  for (size_t i = 0; i < pos && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line, col = 1;
    } else if (!IsContinuation(static_cast<unsigned char>(text[i]))) {
      ++col;
    }
  }
  return fmt::format("{}:{}", line, col);
}

Status ErrorAt(std::string_view text, size_t pos, std::string_view msg) {
  return Status::Invalid(fmt::format("{}: {}", Place(text, pos), msg));
}

}  // namespace alambic::expr_internal
