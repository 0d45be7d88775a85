#include "core/table/csv.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>
#include <unordered_set>

#include <fmt/format.h>

#include "core/table/decode.h"
#include "core/table/expr.h"

namespace alambic {
namespace {

constexpr size_t kNoPos = std::numeric_limits<size_t>::max();
// Inputs at least this large are parsed by several threads.
constexpr size_t kParallelThreshold = size_t{4} << 20;
constexpr size_t kMinChunkBytes = size_t{1} << 20;
// Bounds a chunk so that per-chunk cell offsets fit in 32 bits with room to spare.
constexpr size_t kMaxChunkBytes = size_t{64} << 20;
// A chunk ends after the first record past its target size; with records of at most this
// size, even converted to UTF-8 (three bytes a character at worst), it fits in 32 bits.
constexpr size_t kMaxRecordBytes = size_t{1} << 30;
constexpr size_t kChunksPerThread = 4;
// Records of a chunk parsed before its buffers are sized for the whole chunk.
constexpr int64_t kSampleRecords = 1024;
// Records parsed between two looks at the cancel token and sibling errors.
constexpr int kCheckEveryRecords = 1 << 14;
// Longest value quoted in an error message.
constexpr size_t kMaxQuotedValue = 80;
constexpr size_t kWriteBufferBytes = size_t{1} << 20;
// Dates inferred besides ISO when no date_format is given (French files).
const std::string kDayFirstDate = "%d/%m/%Y";
// Delimiters detected, and the number of lines looked at.
constexpr char kCandidates[] = {',', ';', '\t', '|', ' '};
constexpr size_t kNumCandidates = sizeof kCandidates;
constexpr size_t kSniffLines = 20;

enum class Encoding { kUtf8, kLatin1, kWindows1252 };

// Appends single-byte text converted to UTF-8.
void AppendConverted(std::string& out, const char* p, size_t n, Encoding enc) {
  AppendSingleByteAsUtf8(out, p, n, enc == Encoding::kWindows1252);
}

// Offset of the first byte of `s` that is not part of valid UTF-8, or kNoPos.
size_t FindInvalidUtf8(const char* s, size_t n) {
  const size_t at = InvalidUtf8Offset(std::string_view(s, n));
  return at == std::string_view::npos ? kNoPos : at;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

constexpr uint64_t kOnes = 0x0101010101010101ULL;
constexpr uint64_t kHighBits = 0x8080808080808080ULL;

// Offset of the first delimiter or line feed in [p, end), or end. Eight bytes at a time: in
// (v - ones) & ~v & high, the lowest set bit marks the first zero byte of v exactly.
inline size_t FindFieldEnd(const char* s, size_t p, size_t end, char delim) {
  if constexpr (std::endian::native == std::endian::little) {
    const uint64_t d = kOnes * static_cast<unsigned char>(delim);
    const uint64_t nl = kOnes * static_cast<unsigned char>('\n');
    while (p + 8 <= end) {
      uint64_t w;
      std::memcpy(&w, s + p, 8);
      const uint64_t a = w ^ d;
      const uint64_t b = w ^ nl;
      const uint64_t m = ((a - kOnes) & ~a & kHighBits) | ((b - kOnes) & ~b & kHighBits);
      if (m) return p + (static_cast<size_t>(std::countr_zero(m)) >> 3);
      p += 8;
    }
  }
  while (p < end && s[p] != delim && s[p] != '\n') ++p;
  return p;
}

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (Lower(a[i]) != b[i]) return false;
  return true;
}

// ---- Cell values --------------------------------------------------------------------------

// Decimal digits that always fit in an int64.
constexpr std::ptrdiff_t kSafeDigits = 18;
// Longer numbers are checked with from_chars during inference (range, underflow).
constexpr size_t kShortNumber = 40;

// Integers. Strict (inference): no '+', no leading zero. Lenient (schema): both allowed.
bool ParseInt64(std::string_view v, bool strict, int64_t* out) {
  if (v.empty()) return false;
  const char* b = v.data();
  const char* e = b + v.size();
  if (*b == '+') {
    if (strict) return false;
    ++b;
    if (b < e && *b == '-') return false;
  }
  const bool negative = b < e && *b == '-';
  const char* digits = negative ? b + 1 : b;
  if (digits == e || !IsDigit(*digits)) return false;
  if (strict && *digits == '0' && digits + 1 < e) return false;
  if (e - digits <= kSafeDigits) {
    uint64_t acc = 0;
    for (const char* q = digits; q < e; ++q) {
      const auto d = static_cast<unsigned>(*q - '0');
      if (d > 9) return false;
      acc = acc * 10 + d;
    }
    *out = negative ? -static_cast<int64_t>(acc) : static_cast<int64_t>(acc);
    return true;
  }
  auto r = std::from_chars(b, e, *out);
  return r.ec == std::errc() && r.ptr == e;
}

bool ParseFloat64(std::string_view v, bool strict, double* out) {
  if (v.empty()) return false;
  const char* b = v.data();
  const char* e = b + v.size();
  if (*b == '+') {
    if (strict) return false;
    ++b;
    if (b < e && *b == '-') return false;
  }
  const char* m = (b < e && *b == '-') ? b + 1 : b;
  if (m == e) return false;
  if (strict && *m == '0' && m + 1 < e && IsDigit(m[1])) return false;
  auto r = std::from_chars(b, e, *out);
  return r.ec == std::errc() && r.ptr == e;
}

bool ParseBool(std::string_view v, bool strict, bool* out) {
  if (EqualsIgnoreCase(v, "true") || (!strict && v == "1")) {
    *out = true;
    return true;
  }
  if (EqualsIgnoreCase(v, "false") || (!strict && v == "0")) {
    *out = false;
    return true;
  }
  return false;
}

bool TwoDigits(const char* p, int* out) {
  if (!IsDigit(p[0]) || !IsDigit(p[1])) return false;
  *out = (p[0] - '0') * 10 + (p[1] - '0');
  return true;
}

unsigned DaysInMonth(int year, int month) {
  static constexpr unsigned kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[month - 1];
}

// "YYYY-MM-DD" at the start of v (exactly 10 characters are read); days only when asked.
bool ParseDatePrefix(std::string_view v, int32_t* days) {
  if (v.size() < 10 || v[4] != '-' || v[7] != '-') return false;
  int hi, lo, month, day;
  if (!TwoDigits(v.data(), &hi) || !TwoDigits(v.data() + 2, &lo) ||
      !TwoDigits(v.data() + 5, &month) || !TwoDigits(v.data() + 8, &day))
    return false;
  const int year = hi * 100 + lo;
  if (month < 1 || month > 12 || day < 1 || static_cast<unsigned>(day) > DaysInMonth(year, month))
    return false;
  if (days) *days = DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  return true;
}

bool ParseDate32(std::string_view v, int32_t* days) {
  return v.size() == 10 && ParseDatePrefix(v, days);
}

constexpr int64_t kMicrosPerSecond = 1000000;
constexpr int64_t kSecondsPerDay = 86400;

// YYYY-MM-DD[T ]HH:MM:SS[.fraction][Z|±HH:MM]; with `date_ok`, a bare date is midnight.
bool ParseTimestamp(std::string_view v, bool date_ok, int64_t* micros) {
  int32_t days;
  if (!ParseDatePrefix(v, &days)) return false;
  if (v.size() == 10) {
    if (!date_ok) return false;
    *micros = days * kSecondsPerDay * kMicrosPerSecond;
    return true;
  }
  if (v.size() < 19 || (v[10] != 'T' && v[10] != 't' && v[10] != ' ') || v[13] != ':' ||
      v[16] != ':')
    return false;
  int hh, mm, ss;
  if (!TwoDigits(v.data() + 11, &hh) || !TwoDigits(v.data() + 14, &mm) ||
      !TwoDigits(v.data() + 17, &ss) || hh > 23 || mm > 59 || ss > 59)
    return false;
  size_t i = 19;
  int64_t frac = 0;
  if (i < v.size() && v[i] == '.') {
    ++i;
    int digits = 0;
    int64_t scale = 100000;
    while (i < v.size() && IsDigit(v[i])) {
      if (digits < 6) {
        frac += (v[i] - '0') * scale;
        scale /= 10;
      }
      ++digits;
      ++i;
    }
    if (digits == 0 || digits > 9) return false;
  }
  int64_t offset_seconds = 0;
  if (i < v.size()) {
    if (v[i] == 'Z' || v[i] == 'z') {
      ++i;
    } else if (v[i] == '+' || v[i] == '-') {
      int oh, om;
      if (v.size() - i != 6 || v[i + 3] != ':' || !TwoDigits(v.data() + i + 1, &oh) ||
          !TwoDigits(v.data() + i + 4, &om) || oh > 23 || om > 59)
        return false;
      offset_seconds = (v[i] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
      i += 6;
    }
  }
  if (i != v.size()) return false;
  const int64_t secs = days * kSecondsPerDay + hh * 3600 + mm * 60 + ss - offset_seconds;
  *micros = secs * kMicrosPerSecond + frac;
  return true;
}

// Types a value can be read as, during inference.
enum : uint8_t {
  kCanInt = 1,
  kCanFloat = 2,  // with a decimal point
  kCanBool = 4,
  kCanDate = 8,  // YYYY-MM-DD
  kCanTimestamp = 16,
  kCanCommaFloat = 32,  // with a decimal comma
  kCanFormatDate = 64,  // in the reader's date format (dd/mm/yyyy unless told)
  kCanAny = 127,
};

// Whether a value is a float64 in strict form: [-](digits[.digits]|.digits)[(e|E)[+-]digits],
// without a leading zero, or nan / inf. Plain short decimals are recognised by their syntax;
// anything else is confirmed with from_chars.
bool IsStrictFloat(std::string_view v) {
  const char* p = v.data();
  const char* e = p + v.size();
  if (p < e && *p == '-') ++p;
  const char* int_begin = p;
  while (p < e && IsDigit(*p)) ++p;
  const auto int_digits = p - int_begin;
  if (int_digits > 1 && *int_begin == '0') return false;
  std::ptrdiff_t frac_digits = 0;
  if (p < e && *p == '.') {
    const char* f = ++p;
    while (p < e && IsDigit(*p)) ++p;
    frac_digits = p - f;
  }
  if (p == e && int_digits + frac_digits > 0 && v.size() <= kShortNumber) return true;
  double d;
  return ParseFloat64(v, true, &d);
}

// A decimal-comma number, "12,5" or "-0,25": strict form [-]digits,digits without a leading
// zero (no exponent, no thousands separator); lenient form also "+", a leading zero, ",5".
bool ParseCommaFloat(std::string_view v, bool strict, double* out) {
  if (v.empty() || v.size() > kShortNumber) return false;
  const size_t comma = v.find(',');
  if (comma == std::string_view::npos || v.find(',', comma + 1) != std::string_view::npos ||
      v.find('.') != std::string_view::npos)
    return false;
  if (strict) {
    size_t i = v[0] == '-' ? 1 : 0;
    const size_t int_digits = comma - i;
    if (int_digits == 0 || comma + 1 == v.size()) return false;
    if (int_digits > 1 && v[i] == '0') return false;
    for (; i < v.size(); ++i)
      if (i != comma && !IsDigit(v[i])) return false;
  }
  char buf[kShortNumber + 1];
  std::memcpy(buf, v.data(), v.size());
  buf[comma] = '.';
  return ParseFloat64(std::string_view(buf, v.size()), strict, out);
}

// A date (and time) in a strftime-like format: %d %m (1 or 2 digits), %Y (4 digits), %H %M %S
// (1 or 2 digits), %% a percent sign; any other character stands for itself. A field next
// to another field with no separator between them ("%Y%m%d") has its full width: 2 digits.
class DateFormat {
 public:
  explicit DateFormat(std::string spec) : spec_(std::move(spec)) {
    has_time_ = spec_.find("%H") != std::string::npos;
  }
  const std::string& spec() const { return spec_; }
  bool has_time() const { return has_time_; }
  // Microseconds since the epoch (midnight for a format without time).
  bool Parse(std::string_view v, int64_t* micros) const {
    int year = -1, month = -1, day = -1, hh = 0, mm = 0, ss = 0;
    size_t i = 0;
    for (size_t f = 0; f < spec_.size(); ++f) {
      if (spec_[f] != '%' || f + 1 == spec_.size()) {
        if (i >= v.size() || v[i] != spec_[f]) return false;
        ++i;
        continue;
      }
      const char c = spec_[++f];
      if (c == '%') {
        if (i >= v.size() || v[i] != '%') return false;
        ++i;
        continue;
      }
      const size_t max_digits = c == 'Y' ? 4 : 2;
      const bool after_field = f >= 3 && spec_[f - 3] == '%' && spec_[f - 2] != '%';
      const bool before_field = f + 2 < spec_.size() && spec_[f + 1] == '%' && spec_[f + 2] != '%';
      const size_t min_digits = c == 'Y' || after_field || before_field ? max_digits : 1;
      size_t n = 0;
      int value = 0;
      while (n < max_digits && i < v.size() && IsDigit(v[i])) {
        value = value * 10 + (v[i] - '0');
        ++i;
        ++n;
      }
      if (n < min_digits) return false;
      switch (c) {
        case 'd':
          day = value;
          break;
        case 'm':
          month = value;
          break;
        case 'Y':
          year = value;
          break;
        case 'H':
          hh = value;
          break;
        case 'M':
          mm = value;
          break;
        case 'S':
          ss = value;
          break;
        default:
          return false;
      }
    }
    if (i != v.size() || year < 0 || month < 1 || month > 12 || day < 1 ||
        static_cast<unsigned>(day) > DaysInMonth(year, month) || hh > 23 || mm > 59 || ss > 59)
      return false;
    const int64_t days =
        DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
    *micros = (days * kSecondsPerDay + hh * 3600 + mm * 60 + ss) * kMicrosPerSecond;
    return true;
  }

 private:
  std::string spec_;
  bool has_time_ = false;
};

// Whether a date format is one DateFormat understands: "" or the reason it is not.
std::string DateFormatProblem(std::string_view spec) {
  bool y = false, m = false, d = false;
  for (size_t f = 0; f < spec.size(); ++f) {
    if (spec[f] != '%') continue;
    if (f + 1 == spec.size()) return "ends with a lone '%'";
    const char c = spec[++f];
    if (c == 'Y')
      y = true;
    else if (c == 'm')
      m = true;
    else if (c == 'd')
      d = true;
    else if (c != 'H' && c != 'M' && c != 'S' && c != '%')
      return fmt::format("unsupported directive '%{}' (expected %d %m %Y %H %M %S %%)", c);
  }
  if (!y || !m || !d) return "must hold %d, %m and %Y";
  return "";
}

// How values may be read during inference, from the reader's options.
struct InferRules {
  uint8_t allowed = kCanAny;           // bits a value may have
  const DateFormat* format = nullptr;  // for kCanFormatDate
};

uint8_t Classify(std::string_view v, uint8_t want, const InferRules& rules) {
  if (v.empty()) return 0;
  const char c = v[0];
  if (IsDigit(c) || c == '-' || c == '.' || c == 'n' || c == 'N' || c == 'i' || c == 'I') {
    int64_t i;
    double d;
    if ((want & kCanInt) && ParseInt64(v, true, &i))
      return (kCanInt | kCanFloat | kCanCommaFloat) & rules.allowed;
    uint8_t m = 0;
    if ((want & (kCanFloat | kCanCommaFloat)) && IsStrictFloat(v)) {
      m |= kCanFloat;
      // nan, inf, 1e5: numbers in either convention.
      if (v.find('.') == std::string_view::npos) m |= kCanCommaFloat;
    } else if ((want & kCanCommaFloat) && ParseCommaFloat(v, true, &d)) {
      m |= kCanCommaFloat;
    }
    m &= rules.allowed;
    if (m) return m;
    if ((want & (kCanDate | kCanTimestamp)) && IsDigit(c) && v.size() >= 10) {
      int64_t us;
      if (v.size() == 10 && ParseDatePrefix(v, nullptr)) return kCanDate | kCanTimestamp;
      if ((want & kCanTimestamp) && ParseTimestamp(v, false, &us)) return kCanTimestamp;
    }
    if ((want & kCanFormatDate) && rules.format && IsDigit(c)) {
      int64_t us;
      if (rules.format->Parse(v, &us)) return kCanFormatDate;
    }
    return 0;
  }
  bool b;
  if ((want & kCanBool) && ParseBool(v, true, &b)) return kCanBool;
  return 0;
}

TypeId InferredType(uint8_t mask, bool any_value, const InferRules& rules) {
  if (!any_value) return TypeId::kUtf8;
  if (mask & kCanInt) return TypeId::kInt64;
  if (mask & (kCanFloat | kCanCommaFloat)) return TypeId::kFloat64;
  if (mask & kCanBool) return TypeId::kBool;
  if (mask & kCanDate) return TypeId::kDate32;
  if (mask & kCanTimestamp) return TypeId::kTimestamp;
  if ((mask & kCanFormatDate) && rules.format)
    return rules.format->has_time() ? TypeId::kTimestamp : TypeId::kDate32;
  return TypeId::kUtf8;
}

// ---- Parallel helpers ---------------------------------------------------------------------

// Runs task(0..n-1) on up to `threads` threads, the calling one included.
template <typename Task>
void RunTasks(int threads, size_t n, const Task& task) {
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t t = next.fetch_add(1); t < n; t = next.fetch_add(1)) task(t);
  };
  const size_t extra = std::min(static_cast<size_t>(std::max(threads, 1)), n);
  std::vector<std::thread> pool;
  for (size_t i = 1; i < extra; ++i) {
    try {
      pool.emplace_back(work);
    } catch (const std::system_error&) {
      break;  // fewer threads than asked: the others share the work
    }
  }
  work();
  for (auto& t : pool) t.join();
}

// The earliest error (by byte offset in the input) reported by any task.
class FirstError {
 public:
  void Report(size_t pos, std::string what) {
    std::lock_guard l(mu_);
    if (pos < pos_) {
      pos_ = pos;
      what_ = std::move(what);
      earliest_.store(pos, std::memory_order_relaxed);
    }
  }
  // True once an error was found before `pos`: work past it cannot change the result.
  bool Before(size_t pos) const { return earliest_.load(std::memory_order_relaxed) < pos; }
  bool any() const { return earliest_.load(std::memory_order_relaxed) != kNoPos; }
  size_t pos() const { return pos_; }
  const std::string& what() const { return what_; }

 private:
  std::mutex mu_;
  size_t pos_ = kNoPos;
  std::string what_;
  std::atomic<size_t> earliest_{kNoPos};
};

// ---- Reader -------------------------------------------------------------------------------

// Cells of one column within one chunk: contents back to back (already UTF-8).
struct CellBlock {
  std::string bytes;
  std::vector<uint32_t> ends;  // end of each cell in `bytes`
  std::string_view Cell(size_t i) const {
    const uint32_t b = i == 0 ? 0 : ends[i - 1];
    return std::string_view(bytes.data() + b, ends[i] - b);
  }
  // Inference results.
  uint8_t mask = kCanAny;
  bool any_value = false;
  int64_t nulls = 0;
  size_t null_bytes = 0;    // total length of the null cells' contents
  int64_t typed_nulls = 0;  // cells in typed_null_values (nulls unless the column is utf8)
  // Rows (in the chunk) whose cell did not convert under a policy other than fail, and values.
  std::vector<uint32_t> failed;
  std::vector<std::string> failed_values;
  size_t text_base = 0;  // utf8: where these cells go in the column's data
};

// A record skipped for its number of fields: [begin, end) of the input.
struct BadRecord {
  size_t begin = 0, end = 0;
  std::string reason;
};

struct Chunk {
  std::vector<BadRecord> bad;
  size_t begin = 0;
  size_t end = 0;
  std::vector<CellBlock> cols;
  std::vector<uint32_t> records;  // start of each record, relative to `begin`
  int64_t rows = 0;
  int64_t first_row = 0;
};

// Sizes the chunk's buffers from its first records (parsed up to `p`), so that they rarely
// grow (and copy) afterwards.
void ReserveFromSample(Chunk& ch, size_t p) {
  const double scale = 1.1 * static_cast<double>(ch.end - ch.begin) /
                       static_cast<double>(std::max<size_t>(p - ch.begin, 1));
  const auto rows = static_cast<size_t>(static_cast<double>(ch.rows) * scale) + 16;
  ch.records.reserve(rows);
  for (auto& c : ch.cols) {
    c.ends.reserve(rows);
    c.bytes.reserve(static_cast<size_t>(static_cast<double>(c.bytes.size()) * scale) + 64);
  }
}

std::string QuoteValue(std::string_view v);

struct FieldEnd {
  size_t next;      // where the following field or record starts
  bool more;        // a delimiter ended the field: the record continues
  size_t open = 0;  // for an unterminated quoted field: where its quote is
};

class CsvReader {
 public:
  CsvReader(std::string_view data, const CsvOptions& opts, std::string source,
            const CancelToken* cancel)
      : data_(data), opts_(opts), source_(std::move(source)), cancel_(cancel) {}

  Result<Table> Read();

 private:
  Status Error(size_t pos, std::string_view what) const {
    return Status::Invalid(fmt::format("{}:{}: {}", source_, LineAt(pos), what));
  }
  size_t LineAt(size_t pos) const {
    size_t line = 1;
    const char* s = data_.data();
    const char* e = s + std::min(pos, data_.size());
    while (s < e) {
      const void* nl = std::memchr(s, '\n', static_cast<size_t>(e - s));
      if (!nl) break;
      ++line;
      s = static_cast<const char*>(nl) + 1;
    }
    return line;
  }
  bool Cancelled() const { return cancel_ && cancel_->cancelled(); }

  void Append(std::string& out, const char* p, size_t n) const {
    if (encoding_ == Encoding::kUtf8)
      out.append(p, n);
    else
      AppendConverted(out, p, n, encoding_);
  }
  bool IsNull(std::string_view v) const {
    if (v.empty()) return empty_is_null_;
    for (const auto& n : other_nulls_)
      if (v == n) return true;
    return false;
  }
  bool IsTypedNull(std::string_view v) const {
    for (const auto& n : typed_nulls_)
      if (v == n) return true;
    return false;
  }
  // A null of column `col`, once its type is known.
  bool IsNullIn(std::string_view v, size_t col) const {
    return IsNull(v) || (typed_null_col_[col] && IsTypedNull(v));
  }
  size_t SkipEmptyLines(size_t p, size_t end) const;
  // Parses the field starting at p (bounded by end) and appends its content to out.
  FieldEnd ParseField(size_t p, size_t end, std::string& out) const {
    const char* s = data_.data();
    if (quoting_ && p < end && s[p] == quote_) return ParseQuotedField(p, end, out);
    const size_t stop = FindFieldEnd(s, p, end, delim_);
    size_t last = stop;
    if (stop == end || s[stop] == '\n')
      while (last > p && s[last - 1] == '\r') --last;  // CRLF, or CR CR LF
    Append(out, s + p, last - p);
    if (stop == end) return {stop, false};
    return {stop + 1, s[stop] == delim_};
  }
  FieldEnd ParseQuotedField(size_t p, size_t end, std::string& out) const;
  size_t FieldStart(size_t record, size_t field) const;
  size_t RecordEnd(size_t record) const;
  char DetectDelimiter(size_t begin) const;
  std::vector<std::array<size_t, kNumCandidates>> CountCandidates(size_t begin,
                                                                  size_t max_lines) const;
  void WarnSingleColumn(size_t body, CsvReport* report) const;
  void ReportTypeDrift(const std::vector<Chunk>& chunks, const std::vector<TypeId>& types,
                       CsvReport* report) const;
  Status FindChunks(size_t begin, size_t target, std::vector<Chunk>* chunks) const;
  void ParseChunk(Chunk& ch, FirstError& err) const;
  void Infer(CellBlock& cells, bool forced, const InferRules& rules) const;
  InferRules Rules(size_t col) const { return InferRules{allowed_, date_formats_[col].get()}; }
  void Convert(Chunk& ch, size_t col, TypeId type, Column& out, std::vector<uint8_t>* valid,
               std::vector<uint8_t>* bools, FirstError& err) const;

  std::string_view data_;
  const CsvOptions& opts_;
  std::string source_;
  const CancelToken* cancel_;
  Encoding encoding_ = Encoding::kUtf8;
  char delim_ = ',';
  char quote_ = '"';
  bool quoting_ = true;
  bool empty_is_null_ = false;
  std::vector<std::string> other_nulls_;
  std::vector<std::string> typed_nulls_;  // nulls only in columns that are not utf8
  std::vector<bool> typed_null_col_;      // per column: its type is not utf8
  std::string comment_;
  std::vector<CsvOnError> on_error_;  // per column
  std::vector<std::string> names_;
  std::vector<bool> forced_;
  uint8_t allowed_ = kCanAny;   // what values may be inferred as (InferRules::allowed)
  bool comma_decimal_ = false;  // float64 cells may use a decimal comma
  // Per column: the format dates and timestamps are read in besides ISO.
  std::vector<std::shared_ptr<const DateFormat>> date_formats_;
};

size_t CsvReader::SkipEmptyLines(size_t p, size_t end) const {
  const char* s = data_.data();
  for (;;) {
    if (p < end && s[p] == '\n') {
      ++p;
      continue;
    }
    if (p < end && s[p] == '\r') {
      size_t q = p;
      while (q < end && s[q] == '\r') ++q;
      if (q == end || s[q] == '\n') {
        p = std::min(q + 1, end);
        continue;
      }
    }
    if (!comment_.empty() && p < end && data_.substr(p, comment_.size()) == comment_) {
      const void* nl = std::memchr(s + p, '\n', end - p);
      p = nl ? static_cast<size_t>(static_cast<const char*>(nl) - s) + 1 : end;
      continue;
    }
    return p;
  }
}

// A field that starts with a quote; text after the closing quote is kept, up to the end of
// the field.
FieldEnd CsvReader::ParseQuotedField(size_t p, size_t end, std::string& out) const {
  const char* s = data_.data();
  const size_t open = p++;
  for (;;) {
    const void* q = std::memchr(s + p, quote_, end - p);
    if (!q) return {end, false, open + 1};
    const size_t qi = static_cast<size_t>(static_cast<const char*>(q) - s);
    Append(out, s + p, qi - p);
    if (qi + 1 < end && s[qi + 1] == quote_) {
      out.push_back(quote_);
      p = qi + 2;
      continue;
    }
    p = qi + 1;
    break;
  }
  if (p >= end) return {p, false};
  if (s[p] == delim_) return {p + 1, true};
  if (s[p] == '\n') return {p + 1, false};
  if (s[p] == '\r') {
    size_t q = p;
    while (q < end && s[q] == '\r') ++q;
    if (q == end || s[q] == '\n') return {std::min(q + 1, end), false};
  }
  const size_t stop = FindFieldEnd(s, p, end, delim_);
  size_t last = stop;
  if (stop == end || s[stop] == '\n')
    while (last > p && s[last - 1] == '\r') --last;
  Append(out, s + p, last - p);
  if (stop == end) return {stop, false};
  return {stop + 1, s[stop] == delim_};
}

// Offset just past the record starting at `record` (for rejects).
size_t CsvReader::RecordEnd(size_t record) const {
  std::string scratch;
  size_t p = record;
  for (;;) {
    scratch.clear();
    FieldEnd fe = ParseField(p, data_.size(), scratch);
    p = fe.next;
    if (!fe.more || fe.open) return p;
  }
}

// Offset where field `field` of the record starting at `record` starts (for messages).
size_t CsvReader::FieldStart(size_t record, size_t field) const {
  std::string scratch;
  size_t p = record;
  for (size_t f = 0; f < field; ++f) {
    scratch.clear();
    FieldEnd fe = ParseField(p, data_.size(), scratch);
    if (!fe.more) break;
    p = fe.next;
  }
  return p;
}

// Counts of each delimiter candidate on each of the first `max_lines` lines from `begin`
// (outside quotes; empty and comment lines left out).
std::vector<std::array<size_t, kNumCandidates>> CsvReader::CountCandidates(size_t begin,
                                                                           size_t max_lines) const {
  std::vector<std::array<size_t, kNumCandidates>> lines;
  std::array<size_t, kNumCandidates> cur{};
  bool quoted = false, started = false;
  const size_t n = data_.size();
  for (size_t p = SkipEmptyLines(begin, n); p < n; ++p) {
    const char c = data_[p];
    started = true;
    if (quoting_ && c == quote_) {
      quoted = !quoted;
    } else if (!quoted) {
      if (c == '\n') {
        lines.push_back(cur);
        cur = {};
        started = false;
        if (lines.size() == max_lines) return lines;
        p = SkipEmptyLines(p + 1, n) - 1;
        continue;
      }
      for (size_t k = 0; k < kNumCandidates; ++k)
        if (c == kCandidates[k]) ++cur[k];
    }
  }
  if (started) lines.push_back(cur);
  return lines;
}

// The candidate found the same number of times (at least once) on each of the first lines,
// the most frequent one (space only when no other is); else the most frequent on the header
// line; else ','.
char CsvReader::DetectDelimiter(size_t begin) const {
  const auto lines = CountCandidates(begin, kSniffLines);
  if (lines.empty()) return ',';
  const auto& head = lines[0];
  int best = -1;
  for (size_t k = 0; k < kNumCandidates; ++k) {
    if (head[k] == 0) continue;
    bool same = true;
    for (const auto& l : lines) same = same && l[k] == head[k];
    if (!same) continue;
    if (kCandidates[k] == ' ' && best >= 0) continue;
    if (best < 0 || head[k] > head[static_cast<size_t>(best)]) best = static_cast<int>(k);
  }
  if (best >= 0) return kCandidates[best];
  best = 0;
  for (size_t k = 1; k < kNumCandidates; ++k)
    if (kCandidates[k] != ' ' && head[k] > head[static_cast<size_t>(best)])
      best = static_cast<int>(k);
  return kCandidates[best];
}

// Columns inferred with another type than opts_.previous_types gives: a warning naming the
// first line whose value is not of the previous type.
void CsvReader::ReportTypeDrift(const std::vector<Chunk>& chunks, const std::vector<TypeId>& types,
                                CsvReport* report) const {
  for (size_t c = 0; c < names_.size(); ++c) {
    auto it = opts_.previous_types.find(names_[c]);
    if (it == opts_.previous_types.end() || it->second == types[c] || forced_[c]) continue;
    const TypeId before = it->second;
    uint8_t bits = 0;
    switch (before) {
      case TypeId::kInt64:
        bits = kCanInt;
        break;
      case TypeId::kFloat64:
        bits = kCanFloat | kCanCommaFloat;
        break;
      case TypeId::kBool:
        bits = kCanBool;
        break;
      case TypeId::kDate32:
        bits = kCanDate | kCanFormatDate;
        break;
      case TypeId::kTimestamp:
        bits = kCanDate | kCanTimestamp | kCanFormatDate;
        break;
      default:
        break;
    }
    std::string where;
    for (const auto& ch : chunks) {
      const CellBlock& cells = ch.cols[c];
      for (size_t i = 0; bits && where.empty() && i < cells.ends.size(); ++i) {
        const std::string_view v = cells.Cell(i);
        if (IsNullIn(v, c) || IsTypedNull(v)) continue;
        if (Classify(v, kCanAny, Rules(c)) & bits) continue;
        where = fmt::format(": line {} holds {}", LineAt(FieldStart(ch.begin + ch.records[i], c)),
                            QuoteValue(v));
      }
      if (!where.empty()) break;
    }
    report->warnings.push_back(
        fmt::format("{}: column '{}' is {} now but was {} in the previous version{} (give its "
                    "type in schema to keep it)",
                    source_, names_[c], TypeName(types[c]), TypeName(before), where));
  }
}

// A file read as one column whose lines all hold another delimiter candidate: a warning.
void CsvReader::WarnSingleColumn(size_t body, CsvReport* report) const {
  const auto lines = CountCandidates(body, kSniffLines);
  if (lines.empty()) return;
  for (size_t k = 0; k < kNumCandidates; ++k) {
    const char c = kCandidates[k];
    if (c == ' ' || c == delim_) continue;
    bool all = true;
    for (const auto& l : lines) all = all && l[k] > 0;
    if (!all) continue;
    const std::string shown = c == '\t' ? "\\t" : std::string(1, c);
    report->warnings.push_back(
        fmt::format("{}: read as a single column, but each of its first {} lines holds '{}': if it "
                    "separates the columns, give delimiter: \"{}\"",
                    source_, lines.size(), shown, shown));
  }
}

// Cuts [begin, size) into chunks of about `target` bytes at record boundaries, tracking quote
// state with memchr from quote to quote. Also finds an unterminated quoted field.
Status CsvReader::FindChunks(size_t begin, size_t target, std::vector<Chunk>* chunks) const {
  const char* s = data_.data();
  const size_t n = data_.size();
  std::vector<size_t> starts = {begin};
  size_t next_cut = begin + target;
  // Places cuts after line feeds in [from, to), a stretch known to be outside quotes.
  auto cut_within = [&](size_t from, size_t to) {
    while (next_cut < to) {
      const size_t at = std::max(next_cut, from);
      const void* nl = std::memchr(s + at, '\n', to - at);
      if (!nl) return;
      const size_t cut = static_cast<size_t>(static_cast<const char*>(nl) - s) + 1;
      if (cut >= n) return;
      starts.push_back(cut);
      next_cut = cut + target;
    }
  };
  size_t p = begin;
  int64_t steps = 0;
  while (p < n) {
    if (++steps % kCheckEveryRecords == 0 && Cancelled()) return cancel_->AsStatus();
    const void* qv = quoting_ ? std::memchr(s + p, quote_, n - p) : nullptr;
    const size_t q = qv ? static_cast<size_t>(static_cast<const char*>(qv) - s) : n;
    cut_within(p, q);
    if (q == n) break;
    const bool field_start = q == begin || s[q - 1] == delim_ || s[q - 1] == '\n';
    p = q + 1;
    if (!field_start) continue;  // a quote inside an unquoted field is text
    for (;;) {
      const void* cv = std::memchr(s + p, quote_, n - p);
      if (!cv) return Error(q, "unterminated quoted field");
      const size_t c = static_cast<size_t>(static_cast<const char*>(cv) - s);
      if (c + 1 < n && s[c + 1] == quote_) {
        p = c + 2;
        continue;
      }
      p = c + 1;
      break;
    }
  }
  starts.push_back(n);
  chunks->resize(starts.size() - 1);
  for (size_t i = 0; i + 1 < starts.size(); ++i) {
    (*chunks)[i].begin = starts[i];
    (*chunks)[i].end = starts[i + 1];
  }
  return Status::Ok();
}

void CsvReader::ParseChunk(Chunk& ch, FirstError& err) const {
  const char* s = data_.data();
  const size_t ncols = names_.size();
  // Invalid UTF-8 anywhere in the chunk: parse only up to it, so that an earlier error
  // (a ragged record, say) wins.
  size_t invalid = kNoPos;
  if (encoding_ == Encoding::kUtf8) {
    invalid = FindInvalidUtf8(s + ch.begin, ch.end - ch.begin);
    if (invalid != kNoPos) invalid += ch.begin;
  }
  ch.cols.resize(ncols);
  std::string extra;  // fields past the last column, counted then dropped
  size_t p = ch.begin;
  int until_check = kCheckEveryRecords;
  for (;;) {
    p = SkipEmptyLines(p, ch.end);
    if (p >= ch.end || p > invalid) break;
    if (--until_check == 0) {
      until_check = kCheckEveryRecords;
      if (Cancelled() || err.Before(p)) return;
    }
    const size_t record = p;
    size_t field = 0;
    for (;;) {
      CellBlock* cells = field < ncols ? &ch.cols[field] : nullptr;
      std::string& out = cells ? cells->bytes : extra;
      FieldEnd fe = ParseField(p, ch.end, out);
      if (fe.open) {
        err.Report(fe.open - 1, "unterminated quoted field");
        return;
      }
      if (cells) {
        cells->ends.push_back(static_cast<uint32_t>(out.size()));
      } else {
        extra.clear();
      }
      ++field;
      p = fe.next;
      if (!fe.more) break;
    }
    if (field < ncols && opts_.fill) {
      for (size_t c = field; c < ncols; ++c)
        ch.cols[c].ends.push_back(static_cast<uint32_t>(ch.cols[c].bytes.size()));
      field = ncols;
    }
    if (field != ncols) {
      std::string why = fmt::format("expected {} fields, found {}", ncols, field);
      if (static_cast<int64_t>(ch.bad.size()) >= opts_.max_bad_rows) {
        if (opts_.max_bad_rows > 0)
          why += fmt::format(" (more than max_bad_rows: {})", opts_.max_bad_rows);
        err.Report(record, std::move(why));
        return;
      }
      // Skipped: take back the cells it added.
      for (size_t c = 0; c < std::min(field, ncols); ++c) {
        CellBlock& cells = ch.cols[c];
        cells.ends.pop_back();
        cells.bytes.resize(cells.ends.empty() ? 0 : cells.ends.back());
      }
      ch.bad.push_back(BadRecord{record, p, std::move(why)});
      continue;
    }
    ch.records.push_back(static_cast<uint32_t>(record - ch.begin));
    if (++ch.rows == kSampleRecords) ReserveFromSample(ch, p);
  }
  if (invalid != kNoPos) {
    err.Report(invalid, fmt::format("invalid UTF-8 (byte 0x{:02X}); if the file is Latin-1 or "
                                    "Windows-1252, give its encoding",
                                    static_cast<unsigned char>(s[invalid])));
    return;
  }
  for (size_t c = 0; c < ncols; ++c) Infer(ch.cols[c], forced_[c], Rules(c));
}

void CsvReader::Infer(CellBlock& cells, bool forced, const InferRules& rules) const {
  const size_t n = cells.ends.size();
  uint8_t mask = forced ? 0 : kCanAny;
  for (size_t i = 0; i < n; ++i) {
    std::string_view v = cells.Cell(i);
    if (IsNull(v)) {
      ++cells.nulls;
      cells.null_bytes += v.size();
      continue;
    }
    if (!typed_nulls_.empty() && IsTypedNull(v)) {
      ++cells.typed_nulls;
      continue;
    }
    cells.any_value = true;
    if (mask) mask &= Classify(v, mask, rules);
  }
  cells.mask = mask;
}

std::string QuoteValue(std::string_view v) {
  if (v.size() <= kMaxQuotedValue) return fmt::format("\"{}\"", v);
  size_t cut = kMaxQuotedValue;
  while (cut > 0 && (static_cast<unsigned char>(v[cut]) & 0xC0) == 0x80) --cut;  // whole chars
  return fmt::format("\"{}...\"", v.substr(0, cut));
}

// Writes rows of column `col` of chunk `ch` into `out` (sized for every row) at the chunk's
// first row. Validity and bool values go to one byte per row, packed later.
void CsvReader::Convert(Chunk& ch, size_t col, TypeId type, Column& out,
                        std::vector<uint8_t>* valid, std::vector<uint8_t>* bools,
                        FirstError& err) const {
  CellBlock& cells = ch.cols[col];
  const size_t n = cells.ends.size();
  const auto base = static_cast<size_t>(ch.first_row);
  const DateFormat* date_format = date_formats_[col].get();
  auto fail = [&](size_t i, std::string_view v) {
    const size_t pos = FieldStart(ch.begin + ch.records[i], col);
    const bool dated = type == TypeId::kDate32 || type == TypeId::kTimestamp;
    err.Report(pos, fmt::format("column '{}': cannot read {} as {}{}", names_[col], QuoteValue(v),
                                TypeName(type),
                                dated && date_format && date_format->spec() != kDayFirstDate
                                    ? fmt::format(" (expected ISO or {})", date_format->spec())
                                    : std::string()));
  };
  if (type == TypeId::kUtf8) {
    auto* offsets = out.offsets.data() + base;
    char* dst = reinterpret_cast<char*>(out.data.data());
    auto at = static_cast<int32_t>(cells.text_base);
    if (cells.null_bytes == 0) {
      if (!cells.bytes.empty()) std::memcpy(dst + at, cells.bytes.data(), cells.bytes.size());
      for (size_t i = 0; i < n; ++i) offsets[i + 1] = at + static_cast<int32_t>(cells.ends[i]);
    }
    for (size_t i = 0; i < n && cells.null_bytes != 0; ++i) {
      std::string_view v = cells.Cell(i);
      if (!IsNullIn(v, col)) {
        std::memcpy(dst + at, v.data(), v.size());
        at += static_cast<int32_t>(v.size());
      }
      offsets[i + 1] = at;
    }
    if (valid)
      for (size_t i = 0; i < n; ++i) (*valid)[base + i] = !IsNullIn(cells.Cell(i), col);
  } else {
    for (size_t i = 0; i < n; ++i) {
      if ((i & 0xFFFF) == 0xFFFF && (Cancelled() || err.Before(ch.begin + ch.records[i]))) return;
      std::string_view v = cells.Cell(i);
      if ((cells.nulls || cells.typed_nulls) && IsNullIn(v, col))
        continue;  // zero value, validity byte already 0
      if (valid) (*valid)[base + i] = 1;
      const size_t row = base + i;
      bool ok = true;
      switch (type) {
        case TypeId::kInt64:
          ok = ParseInt64(v, false, reinterpret_cast<int64_t*>(out.data.data()) + row);
          break;
        case TypeId::kFloat64: {
          double* d = reinterpret_cast<double*>(out.data.data()) + row;
          ok = ParseFloat64(v, false, d) || (comma_decimal_ && ParseCommaFloat(v, false, d));
          break;
        }
        case TypeId::kBool: {
          bool b = false;
          ok = ParseBool(v, false, &b);
          (*bools)[row] = b;
          break;
        }
        case TypeId::kDate32: {
          int32_t* d = reinterpret_cast<int32_t*>(out.data.data()) + row;
          ok = ParseDate32(v, d);
          int64_t us;
          if (!ok && date_format && date_format->Parse(v, &us)) {
            *d = static_cast<int32_t>(us / (kSecondsPerDay * kMicrosPerSecond));
            ok = us % (kSecondsPerDay * kMicrosPerSecond) == 0;
          }
          break;
        }
        case TypeId::kTimestamp: {
          int64_t* ts = reinterpret_cast<int64_t*>(out.data.data()) + row;
          ok = ParseTimestamp(v, true, ts) || (date_format && date_format->Parse(v, ts));
          break;
        }
        case TypeId::kUtf8:
          break;
      }
      if (!ok) {
        if (on_error_[col] == CsvOnError::kFail) {
          fail(i, v);
          return;
        }
        (*valid)[row] = 0;
        if (type != TypeId::kBool) {
          const auto w = static_cast<size_t>(FixedWidth(type));
          std::memset(out.data.data() + row * w, 0, w);
        }
        cells.failed.push_back(static_cast<uint32_t>(i));
        cells.failed_values.emplace_back(v);
      }
    }
  }
  // The cells are no longer needed.
  cells.bytes = std::string();
  cells.ends = std::vector<uint32_t>();
}

void PackBits(const std::vector<uint8_t>& bytes, std::vector<uint8_t>* bits) {
  bits->assign((bytes.size() + 7) / 8, 0);
  for (size_t i = 0; i < bytes.size(); ++i)
    (*bits)[i >> 3] |= static_cast<uint8_t>((bytes[i] & 1u) << (i & 7));
}

Result<Table> CsvReader::Read() {
  std::string enc = NormaliseEncoding(opts_.encoding);
  if (enc.empty())
    return Status::Invalid(fmt::format("{}: unknown encoding '{}'", source_, opts_.encoding));
  if (enc != "utf-8" && enc != "latin-1" && enc != "windows-1252")
    return Status::Invalid(
        fmt::format("{}: encoding '{}' must be decoded first (ReadCsvFile does)", source_, enc));
  encoding_ = enc == "utf-8"     ? Encoding::kUtf8
              : enc == "latin-1" ? Encoding::kLatin1
                                 : Encoding::kWindows1252;
  quote_ = opts_.quote;
  quoting_ = quote_ != 0;
  for (const auto& nv : opts_.null_values) {
    if (nv.empty())
      empty_is_null_ = true;
    else
      other_nulls_.push_back(nv);
  }
  for (const auto& nv : opts_.typed_null_values)
    if (!nv.empty() && !IsNull(nv)) typed_nulls_.push_back(nv);
  comment_ = opts_.comment;
  if (opts_.skip_rows < 0 || opts_.max_bad_rows < 0)
    return Status::Invalid(
        fmt::format("{}: skip_rows and max_bad_rows must not be negative", source_));

  size_t begin = 0;
  if (encoding_ == Encoding::kUtf8 && data_.substr(0, 3) == "\xEF\xBB\xBF") begin = 3;
  for (int64_t k = 0; k < opts_.skip_rows && begin < data_.size(); ++k) {
    const void* nl = std::memchr(data_.data() + begin, '\n', data_.size() - begin);
    begin =
        nl ? static_cast<size_t>(static_cast<const char*>(nl) - data_.data()) + 1 : data_.size();
  }
  delim_ = opts_.delimiter ? opts_.delimiter : DetectDelimiter(begin);
  if (delim_ == '\n' || delim_ == '\r' || (quoting_ && delim_ == quote_))
    return Status::Invalid(
        fmt::format("{}: the delimiter cannot be the quote character or a line break", source_));
  if (opts_.decimal != 0 && opts_.decimal != '.' && opts_.decimal != ',')
    return Status::Invalid(fmt::format("{}: the decimal mark must be '.' or ','", source_));
  if (opts_.decimal == ',' && delim_ == ',')
    return Status::Invalid(
        fmt::format("{}: a decimal comma needs another delimiter than ','", source_));
  comma_decimal_ =
      opts_.decimal == ',' || (opts_.decimal == 0 && (delim_ == ';' || delim_ == '\t'));
  if (!comma_decimal_) allowed_ &= static_cast<uint8_t>(~kCanCommaFloat);
  // An explicit decimal comma: "12.5" is text, not a number.
  if (opts_.decimal == ',') allowed_ &= static_cast<uint8_t>(~kCanFloat);
  const std::string& infer_spec = opts_.date_format.empty() ? kDayFirstDate : opts_.date_format;
  if (std::string why = DateFormatProblem(infer_spec); !why.empty())
    return Status::Invalid(fmt::format("{}: date format \"{}\" {}", source_, infer_spec, why));
  for (const auto& [column, spec] : opts_.date_formats)
    if (std::string why = DateFormatProblem(spec); !why.empty())
      return Status::Invalid(
          fmt::format("{}: column '{}': date format \"{}\" {}", source_, column, spec, why));

  // The first record: column names, or the column count.
  const size_t first = SkipEmptyLines(begin, data_.size());
  if (first >= data_.size()) return Status::Invalid(fmt::format("{}: the file is empty", source_));
  std::vector<std::string> first_fields;
  size_t p = first;
  for (;;) {
    std::string f;
    FieldEnd fe = ParseField(p, data_.size(), f);
    if (fe.open) return Error(fe.open - 1, "unterminated quoted field");
    first_fields.push_back(std::move(f));
    p = fe.next;
    if (!fe.more) break;
  }
  size_t body = first;
  if (opts_.header) {
    body = p;
    if (encoding_ == Encoding::kUtf8) {
      size_t bad = FindInvalidUtf8(data_.data() + first, p - first);
      if (bad != kNoPos) return Error(first + bad, "invalid UTF-8 in the header");
    }
    std::unordered_set<std::string> used;
    for (size_t i = 0; i < first_fields.size(); ++i) {
      std::string name = first_fields[i];
      if (name.empty()) name = fmt::format("c{}", i + 1);
      // Made unique once every original name is known, below.
      names_.push_back(std::move(name));
    }
    std::unordered_set<std::string> originals(names_.begin(), names_.end());
    for (auto& name : names_) {
      if (used.insert(name).second) continue;
      for (int k = 2;; ++k) {
        std::string alt = fmt::format("{}_{}", name, k);
        if (!originals.count(alt) && used.insert(alt).second) {
          name = std::move(alt);
          break;
        }
      }
    }
  } else {
    for (size_t i = 0; i < first_fields.size(); ++i) names_.push_back(fmt::format("c{}", i + 1));
  }
  const size_t ncols = names_.size();

  std::vector<TypeId> types(ncols, TypeId::kUtf8);
  forced_.assign(ncols, false);
  typed_null_col_.assign(ncols, false);
  on_error_.assign(ncols, CsvOnError::kFail);
  for (const auto& [column, policy] : opts_.on_error) {
    auto it = std::find(names_.begin(), names_.end(), column);
    if (it == names_.end())
      return Error(first, fmt::format("on_error column '{}' is not in the file", column));
    on_error_[static_cast<size_t>(it - names_.begin())] = policy;
  }
  {
    auto shared = std::make_shared<const DateFormat>(infer_spec);
    date_formats_.assign(ncols, shared);
    for (const auto& [column, spec] : opts_.date_formats) {
      auto it = std::find(names_.begin(), names_.end(), column);
      if (it == names_.end())
        return Error(first, fmt::format("date format column '{}' is not in the file", column));
      date_formats_[static_cast<size_t>(it - names_.begin())] =
          std::make_shared<const DateFormat>(spec);
    }
  }
  for (const auto& f : opts_.schema) {
    auto it = std::find(names_.begin(), names_.end(), f.name);
    if (it == names_.end()) {
      std::string cols;
      for (const auto& n : names_) cols += (cols.empty() ? "" : ", ") + n;
      return Error(
          first, fmt::format("schema column '{}' is not in the file (columns: {})", f.name, cols));
    }
    const auto c = static_cast<size_t>(it - names_.begin());
    types[c] = f.type;
    forced_[c] = true;
  }

  // Chunks, parsed in parallel.
  int threads =
      opts_.threads > 0 ? opts_.threads : static_cast<int>(std::thread::hardware_concurrency());
  threads = std::max(threads, 1);
  const size_t body_bytes = data_.size() - body;
  size_t target = kMaxChunkBytes;
  if (threads > 1 && body_bytes >= kParallelThreshold)
    target = std::clamp(body_bytes / (static_cast<size_t>(threads) * kChunksPerThread),
                        kMinChunkBytes, kMaxChunkBytes);
  else
    threads = 1;
  std::vector<Chunk> chunks;
  ALAMBIC_RETURN_IF_ERROR(FindChunks(body, target, &chunks));
  for (const auto& ch : chunks)
    if (ch.end - ch.begin > kMaxChunkBytes + kMaxRecordBytes)
      return Error(ch.begin, "record larger than 1 GiB");

  FirstError err;
  std::atomic<int64_t> rows_done{0};
  const auto caller = std::this_thread::get_id();
  RunTasks(threads, chunks.size(), [&](size_t i) {
    if (Cancelled() || err.Before(chunks[i].begin)) return;
    ParseChunk(chunks[i], err);
    const int64_t done = rows_done.fetch_add(chunks[i].rows) + chunks[i].rows;
    if (opts_.progress && std::this_thread::get_id() == caller) opts_.progress(done);
  });
  if (Cancelled()) return cancel_->AsStatus();
  std::vector<const BadRecord*> bad;
  for (const auto& ch : chunks)
    for (const auto& b : ch.bad) bad.push_back(&b);
  if (static_cast<int64_t>(bad.size()) > opts_.max_bad_rows) {
    const BadRecord& b = *bad[static_cast<size_t>(opts_.max_bad_rows)];
    if (!err.any() || b.begin < err.pos())
      return Error(b.begin,
                   fmt::format("{} (more than max_bad_rows: {})", b.reason, opts_.max_bad_rows));
  }
  if (err.any()) return Error(err.pos(), err.what());

  // Types, sizes, and the place of each chunk in the result.
  int64_t rows = 0;
  for (auto& ch : chunks) {
    ch.first_row = rows;
    rows += ch.rows;
  }
  std::vector<std::shared_ptr<Column>> columns(ncols);
  std::vector<std::vector<uint8_t>> valid(ncols), bools(ncols);
  std::vector<uint8_t> needs_valid(ncols, 0);
  std::vector<size_t> data_bytes(ncols, 0);
  for (size_t c = 0; c < ncols; ++c) {
    uint8_t mask = kCanAny;
    bool any_value = false;
    int64_t nulls = 0, typed_nulls = 0;
    size_t text_bytes = 0;
    for (const auto& ch : chunks) {
      const CellBlock& cells = ch.cols[c];
      mask &= cells.mask;
      any_value |= cells.any_value;
      nulls += cells.nulls;
      typed_nulls += cells.typed_nulls;
      text_bytes += cells.bytes.size() - cells.null_bytes;
    }
    if (!forced_[c]) types[c] = InferredType(mask, any_value, Rules(c));
    typed_null_col_[c] = types[c] != TypeId::kUtf8;
    if (typed_null_col_[c]) nulls += typed_nulls;
    auto col = std::make_shared<Column>();
    col->type = types[c];
    col->length = rows;
    col->null_count = nulls;
    if (nulls || on_error_[c] != CsvOnError::kFail) needs_valid[c] = 1;
    if (types[c] == TypeId::kUtf8) {
      if (text_bytes > static_cast<size_t>(std::numeric_limits<int32_t>::max()))
        return Status::Invalid(
            fmt::format("{}: column '{}' holds more than 2 GiB of text", source_, names_[c]));
      data_bytes[c] = text_bytes;
      size_t at = 0;
      for (auto& ch : chunks) {
        ch.cols[c].text_base = at;
        at += ch.cols[c].bytes.size() - ch.cols[c].null_bytes;
      }
    } else if (types[c] != TypeId::kBool) {
      data_bytes[c] = static_cast<size_t>(rows) * static_cast<size_t>(FixedWidth(types[c]));
    }
    columns[c] = std::move(col);
  }
  // The columns' buffers, zeroed (a null's value stays 0) by several threads: the first touch
  // of their pages costs as much as the conversion.
  RunTasks(threads, ncols, [&](size_t c) {
    const auto n = static_cast<size_t>(rows);
    if (needs_valid[c]) valid[c].assign(n, 0);
    if (types[c] == TypeId::kBool) bools[c].assign(n, 0);
    columns[c]->data.resize(data_bytes[c]);
    // utf8: offsets[0] = 0; each chunk writes its rows' ends
    if (types[c] == TypeId::kUtf8) columns[c]->offsets.resize(n + 1);
  });

  if (opts_.report) ReportTypeDrift(chunks, types, opts_.report);

  RunTasks(threads, chunks.size() * ncols, [&](size_t t) {
    Chunk& ch = chunks[t / ncols];
    const size_t c = t % ncols;
    if (Cancelled() || err.Before(ch.begin)) return;
    Convert(ch, c, types[c], *columns[c], valid[c].empty() ? nullptr : &valid[c], &bools[c], err);
  });
  if (Cancelled()) return cancel_->AsStatus();
  if (err.any()) return Error(err.pos(), err.what());

  // The on_error policies: counts, records to drop, rejects (with the skipped bad records).
  CsvReport* report = opts_.report;
  std::vector<uint8_t> drop;  // per row, once a record is dropped
  std::vector<BadRecord> rejected;
  for (const BadRecord* b : bad) rejected.push_back(*b);
  for (size_t c = 0; c < ncols; ++c) {
    int64_t failed = 0;
    const CsvOnError policy = on_error_[c];
    for (const auto& ch : chunks) {
      const CellBlock& cells = ch.cols[c];
      failed += static_cast<int64_t>(cells.failed.size());
      if (policy != CsvOnError::kDrop && policy != CsvOnError::kReject) continue;
      if (!cells.failed.empty() && drop.empty()) drop.assign(static_cast<size_t>(rows), 0);
      for (size_t k = 0; k < cells.failed.size(); ++k) {
        const size_t i = cells.failed[k];
        const auto row = static_cast<size_t>(ch.first_row) + i;
        if (drop[row]) continue;  // already dropped for another column
        drop[row] = 1;
        if (policy != CsvOnError::kReject) continue;
        const size_t b = ch.begin + ch.records[i];
        const size_t e = RecordEnd(b);
        rejected.push_back(
            BadRecord{b, e,
                      fmt::format("column '{}': cannot read {} as {}", names_[c],
                                  QuoteValue(cells.failed_values[k]), TypeName(types[c]))});
      }
    }
    columns[c]->null_count += failed;
    if (columns[c]->null_count == 0) valid[c] = std::vector<uint8_t>();
    if (report && failed) {
      auto& counts = policy == CsvOnError::kNull   ? report->nulled
                     : policy == CsvOnError::kDrop ? report->dropped
                                                   : report->rejected;
      counts[names_[c]] += failed;
    }
  }
  if (report) {
    report->bad_rows += static_cast<int64_t>(bad.size());
    std::sort(rejected.begin(), rejected.end(),
              [](const BadRecord& a, const BadRecord& b) { return a.begin < b.begin; });
    size_t at = 0;
    int64_t line = 1;
    for (const auto& r : rejected) {
      for (const char* q = data_.data() + at;;) {
        const void* nl = std::memchr(q, '\n', r.begin - at);
        if (!nl) break;
        ++line;
        at = static_cast<size_t>(static_cast<const char*>(nl) - data_.data()) + 1;
        q = data_.data() + at;
      }
      at = r.begin;
      size_t e = r.end;
      while (e > r.begin && (data_[e - 1] == '\n' || data_[e - 1] == '\r')) --e;
      std::string text;
      Append(text, data_.data() + r.begin, e - r.begin);
      report->rejects.push_back(CsvRejectedRow{line, r.reason, std::move(text)});
    }
  }

  RunTasks(threads, ncols, [&](size_t c) {
    if (!valid[c].empty()) PackBits(valid[c], &columns[c]->validity);
    if (types[c] == TypeId::kBool) PackBits(bools[c], &columns[c]->data);
    valid[c] = std::vector<uint8_t>();
    bools[c] = std::vector<uint8_t>();
  });
  if (opts_.progress) opts_.progress(rows);

  Schema schema;
  std::vector<ColumnPtr> cols;
  std::vector<int64_t> keep;
  if (!drop.empty())
    for (size_t r = 0; r < drop.size(); ++r)
      if (!drop[r]) keep.push_back(static_cast<int64_t>(r));
  for (size_t c = 0; c < ncols; ++c) {
    schema.fields.push_back(Field{names_[c], types[c], true});
    if (drop.empty())
      cols.push_back(std::move(columns[c]));
    else
      cols.push_back(TakeRows(*columns[c], keep));
  }
  if (ncols == 1 && report) WarnSingleColumn(body, report);
  return Table::Make(std::move(schema), std::move(cols),
                     drop.empty() ? rows : static_cast<int64_t>(keep.size()));
}

bool NeedsQuotes(std::string_view v, char delim) {
  for (char c : v)
    if (c == delim || c == '"' || c == '\n' || c == '\r') return true;
  return false;
}

void PutCell(std::string& buf, std::string_view v, char delim) {
  if (!NeedsQuotes(v, delim)) {
    buf.append(v);
    return;
  }
  buf.push_back('"');
  for (char c : v) {
    if (c == '"') buf.push_back('"');
    buf.push_back(c);
  }
  buf.push_back('"');
}

}  // namespace

std::string NormaliseEncoding(std::string_view name) { return CanonicalEncoding(name); }

std::string CheckDateFormat(std::string_view spec) { return DateFormatProblem(spec); }

bool ParseIsoDate(std::string_view v, int32_t* days) { return ParseDate32(v, days); }
bool ParseIsoTimestamp(std::string_view v, bool date_ok, int64_t* micros) {
  return ParseTimestamp(v, date_ok, micros);
}

namespace {

bool ReadsItself(const std::string& encoding) {
  const std::string enc = NormaliseEncoding(encoding);
  return enc == "utf-8" || enc == "latin-1" || enc == "windows-1252";
}

DecodeOptions CsvDecodeOptions(const CsvOptions& opts, const std::string& source,
                               const CancelToken* cancel) {
  DecodeOptions o;
  o.encoding = opts.encoding;
  o.keep_single_byte = true;
  o.source_name = source;
  if (cancel) o.cancelled = [cancel] { return cancel->cancelled(); };
  return o;
}

Result<Table> ReadDecoded(Result<DecodedText> text, const CsvOptions& opts,
                          const std::string& source, const CancelToken* cancel) {
  if (!text.ok()) {
    if (cancel && cancel->cancelled()) return cancel->AsStatus();
    return text.status();
  }
  if (cancel && cancel->cancelled()) return cancel->AsStatus();
  CsvOptions o = opts;
  o.encoding = text->encoding();
  CsvReader reader(text->text(), o, source, cancel);
  return reader.Read();
}

}  // namespace

Result<Table> ReadCsvBuffer(std::string_view data, const CsvOptions& opts,
                            const CancelToken* cancel) {
  const std::string source = opts.source_name.empty() ? "<csv>" : opts.source_name;
  if (ReadsItself(opts.encoding)) {
    CsvReader reader(data, opts, source, cancel);
    return reader.Read();
  }
  return ReadDecoded(DecodeBuffer(std::string(data), CsvDecodeOptions(opts, source, cancel)), opts,
                     source, cancel);
}

Result<Table> ReadCsvFile(const std::filesystem::path& path, const CsvOptions& opts,
                          const CancelToken* cancel) {
  const std::string source = opts.source_name.empty() ? path.string() : opts.source_name;
  return ReadDecoded(DecodeFile(path, CsvDecodeOptions(opts, source, cancel)), opts, source,
                     cancel);
}

Status WriteCsv(const Table& t, std::ostream& out, const CsvWriteOptions& opts) {
  const char d = opts.delimiter;
  if (d == '"' || d == '\n' || d == '\r' || d == 0)
    return Status::Invalid("csv: the delimiter cannot be a quote, a line break or NUL");
  std::string buf;
  buf.reserve(kWriteBufferBytes + 4096);
  auto flush = [&]() -> Status {
    out.write(buf.data(), static_cast<std::streamsize>(buf.size()));
    buf.clear();
    if (!out) return Status::IoError("csv: write failed");
    return Status::Ok();
  };
  const int ncols = t.num_columns();
  if (opts.header) {
    for (int c = 0; c < ncols; ++c) {
      if (c) buf.push_back(d);
      PutCell(buf, t.schema().fields[static_cast<size_t>(c)].name, d);
    }
    if (ncols == 1 && t.schema().fields[0].name.empty()) buf += "\"\"";
    buf.push_back('\n');
  }
  char num[32];
  for (int64_t r = 0; r < t.num_rows(); ++r) {
    for (int c = 0; c < ncols; ++c) {
      if (c) buf.push_back(d);
      const Column& col = *t.column(c);
      const size_t before = buf.size();
      if (col.IsNull(r)) {
        // nothing
      } else if (col.type == TypeId::kInt64) {
        auto res = std::to_chars(num, num + sizeof num, col.Int64(r));
        buf.append(num, res.ptr);
      } else if (col.type == TypeId::kUtf8) {
        PutCell(buf, col.String(r), d);
      } else {
        PutCell(buf, FormatCell(col, r), d);
      }
      if (ncols == 1 && buf.size() == before) buf += "\"\"";
    }
    buf.push_back('\n');
    if (buf.size() >= kWriteBufferBytes) ALAMBIC_RETURN_IF_ERROR(flush());
  }
  return flush();
}

}  // namespace alambic
