#include "core/table/expr.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "core/table/parallel.h"
#include "core/table/regex.h"
#include "core/table/similarity.h"

namespace alambic {
namespace {

// The type of an untyped `null` literal, before it takes the type of its context.
constexpr TypeId kNullType = static_cast<TypeId>(200);
// Nesting deeper than this is refused (parsing and evaluation recurse).
constexpr int kMaxDepth = 256;
// Columns listed in an "unknown column" message.
constexpr size_t kMaxListedColumns = 10;
constexpr int64_t kMicrosPerDay = 86400LL * 1000000LL;

const char* TyName(TypeId t) { return t == kNullType ? "null" : TypeName(t); }
bool IsNumeric(TypeId t) { return t == TypeId::kInt64 || t == TypeId::kFloat64; }
bool IsTemporal(TypeId t) { return t == TypeId::kDate32 || t == TypeId::kTimestamp; }

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

template <class A, class B>
int Cmp3(A a, B b) {
  if constexpr (std::is_same_v<A, double> && std::is_same_v<B, double>) {
    if (std::isnan(a) || std::isnan(b)) return std::isnan(a) ? (std::isnan(b) ? 0 : 1) : -1;
    return a < b ? -1 : (b < a ? 1 : 0);
  } else if constexpr (std::is_same_v<A, int64_t> && std::is_same_v<B, double>) {
    return CompareIntDouble(a, b);
  } else if constexpr (std::is_same_v<A, double> && std::is_same_v<B, int64_t>) {
    return -CompareIntDouble(b, a);
  } else {
    return a < b ? -1 : (b < a ? 1 : 0);
  }
}

bool DoubleToInt(double d, int64_t* out) {
  if (std::isnan(d) || d >= 9223372036854775808.0 || d < -9223372036854775808.0) return false;
  *out = static_cast<int64_t>(d);
  return true;
}

}  // namespace

// ---------------------------------------------------------------------------
// Syntax tree.

enum class NodeKind { kLiteral, kColumn, kUnary, kBinary, kCall, kCase, kIn, kIsNull, kCast };

struct ExprNode {
  NodeKind kind = NodeKind::kLiteral;
  size_t pos = 0;    // byte offset of the token that names the node
  std::string name;  // column, function or operator
  // Literals: `type` is the literal's type (kNullType for null).
  int64_t i = 0;
  double f = 0;
  bool b = false;
  std::string s;
  bool negated = false;   // not in, is not null
  bool has_else = false;  // case
  std::vector<std::shared_ptr<const ExprNode>> args;
  TypeId type = kNullType;  // after Compile; literal type before
  int depth = 1;
  std::shared_ptr<const Regex> regex;  // matches()
};

using NodePtr = std::shared_ptr<const ExprNode>;

namespace {

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

// ---------------------------------------------------------------------------
// Lexer.

enum class Tok { kIdent, kQuotedIdent, kInt, kFloat, kString, kOp, kEnd };

struct Token {
  Tok kind = Tok::kEnd;
  size_t pos = 0;
  std::string text;  // identifier, operator or string value; number spelling
  std::string word;  // lower-cased identifier (keywords), empty otherwise
};

Result<std::vector<Token>> Lex(std::string_view text) {
  std::vector<Token> out;
  size_t i = 0;
  auto is_ident_start = [](unsigned char c) { return std::isalpha(c) || c == '_' || c >= 0x80; };
  auto is_ident = [&](unsigned char c) { return is_ident_start(c) || std::isdigit(c); };
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (IsSpace(static_cast<char>(c))) {
      ++i;
      continue;
    }
    Token t;
    t.pos = i;
    if (is_ident_start(c)) {
      size_t j = i;
      while (j < text.size() && is_ident(static_cast<unsigned char>(text[j]))) ++j;
      t.kind = Tok::kIdent;
      t.text = std::string(text.substr(i, j - i));
      t.word = Lower(t.text);
      i = j;
    } else if (std::isdigit(c) || (c == '.' && i + 1 < text.size() &&
                                   std::isdigit(static_cast<unsigned char>(text[i + 1])))) {
      size_t j = i;
      bool is_float = false;
      while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j]))) ++j;
      if (j < text.size() && text[j] == '.') {
        is_float = true;
        ++j;
        while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j]))) ++j;
      }
      if (j < text.size() && (text[j] == 'e' || text[j] == 'E')) {
        size_t k = j + 1;
        if (k < text.size() && (text[k] == '+' || text[k] == '-')) ++k;
        if (k < text.size() && std::isdigit(static_cast<unsigned char>(text[k]))) {
          is_float = true;
          j = k;
          while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j]))) ++j;
        }
      }
      if (j < text.size() && is_ident(static_cast<unsigned char>(text[j])))
        return ErrorAt(text, j, fmt::format("unexpected character '{}' in a number", text[j]));
      t.kind = is_float ? Tok::kFloat : Tok::kInt;
      t.text = std::string(text.substr(i, j - i));
      i = j;
    } else if (c == '\'' || c == '"' || c == '`' || c == '[') {
      const char close = c == '[' ? ']' : static_cast<char>(c);
      size_t j = i + 1;
      std::string value;
      bool closed = false;
      while (j < text.size()) {
        if (text[j] == close) {
          if (close != ']' && j + 1 < text.size() && text[j + 1] == close) {
            value += close;
            j += 2;
            continue;
          }
          closed = true;
          ++j;
          break;
        }
        value += text[j++];
      }
      if (!closed)
        return ErrorAt(text, i,
                       c == '\'' || c == '"' ? "unterminated string" : "unterminated column name");
      t.kind = (c == '\'' || c == '"') ? Tok::kString : Tok::kQuotedIdent;
      if (t.kind == Tok::kQuotedIdent && value.empty())
        return ErrorAt(text, i, "empty column name");
      t.text = std::move(value);
      i = j;
    } else {
      static constexpr std::string_view kTwo[] = {"<=", ">=", "<>", "!=", "==", "||", "//"};
      std::string_view two = text.substr(i, 2);
      bool matched = false;
      for (auto op : kTwo)
        if (two == op) {
          t.text = std::string(op);
          matched = true;
        }
      if (!matched) {
        if (std::string_view("+-*/%=<>(),").find(static_cast<char>(c)) == std::string_view::npos) {
          size_t j = i + 1;
          while (j < text.size() && IsContinuation(static_cast<unsigned char>(text[j]))) ++j;
          return ErrorAt(text, i, fmt::format("unexpected character '{}'", text.substr(i, j - i)));
        }
        t.text = std::string(1, static_cast<char>(c));
      }
      t.kind = Tok::kOp;
      i += t.text.size();
    }
    out.push_back(std::move(t));
  }
  Token end;
  end.pos = text.size();
  out.push_back(end);
  return out;
}

// ---------------------------------------------------------------------------
// Parser: recursive descent, one function per precedence level.

class Parser {
 public:
  Parser(std::string_view text, std::vector<Token> toks) : text_(text), toks_(std::move(toks)) {}

  Result<NodePtr> ParseAll() {
    ALAMBIC_ASSIGN_OR_RETURN(NodePtr n, Or());
    if (Peek().kind != Tok::kEnd) return Unexpected("an operator or the end");
    return n;
  }
  std::vector<std::string> columns;

 private:
  const Token& Peek(size_t ahead = 0) const {
    return toks_[std::min(pos_ + ahead, toks_.size() - 1)];
  }
  bool IsWord(const Token& t, std::string_view w) const {
    return t.kind == Tok::kIdent && t.word == w;
  }
  bool IsOp(const Token& t, std::string_view op) const {
    return t.kind == Tok::kOp && t.text == op;
  }
  static std::string Describe(const Token& t) {
    switch (t.kind) {
      case Tok::kEnd:
        return "the end";
      case Tok::kString:
        return fmt::format("the string '{}'", t.text);
      case Tok::kQuotedIdent:
        return fmt::format("the column `{}`", t.text);
      default:
        return fmt::format("'{}'", t.text);
    }
  }
  Status Unexpected(std::string_view expected) const {
    return ErrorAt(text_, Peek().pos,
                   fmt::format("expected {}, found {}", expected, Describe(Peek())));
  }
  Status Expect(std::string_view op) {
    if (!IsOp(Peek(), op)) return Unexpected(fmt::format("'{}'", op));
    ++pos_;
    return Status::Ok();
  }
  Status ExpectWord(std::string_view w) {
    if (!IsWord(Peek(), w)) return Unexpected(fmt::format("'{}'", w));
    ++pos_;
    return Status::Ok();
  }

  Result<NodePtr> Make(ExprNode n) {
    for (const auto& a : n.args) n.depth = std::max(n.depth, a->depth + 1);
    if (n.depth > kMaxDepth) return ErrorAt(text_, n.pos, "expression nested too deeply");
    return NodePtr(std::make_shared<ExprNode>(std::move(n)));
  }
  Result<NodePtr> MakeOp(NodeKind kind, std::string name, size_t at, std::vector<NodePtr> args,
                         bool negated = false) {
    ExprNode n;
    n.negated = negated;
    n.kind = kind;
    n.name = std::move(name);
    n.pos = at;
    n.args = std::move(args);
    return Make(std::move(n));
  }

  Result<NodePtr> Or() {
    ALAMBIC_ASSIGN_OR_RETURN(NodePtr l, And());
    while (IsWord(Peek(), "or")) {
      const size_t at = Peek().pos;
      ++pos_;
      ALAMBIC_ASSIGN_OR_RETURN(NodePtr r, And());
      ALAMBIC_ASSIGN_OR_RETURN(l, MakeOp(NodeKind::kBinary, "or", at, {l, r}));
    }
    return l;
  }
  Result<NodePtr> And() {
    ALAMBIC_ASSIGN_OR_RETURN(NodePtr l, Not());
    while (IsWord(Peek(), "and")) {
      const size_t at = Peek().pos;
      ++pos_;
      ALAMBIC_ASSIGN_OR_RETURN(NodePtr r, Not());
      ALAMBIC_ASSIGN_OR_RETURN(l, MakeOp(NodeKind::kBinary, "and", at, {l, r}));
    }
    return l;
  }
  Result<NodePtr> Not() {
    if (IsWord(Peek(), "not")) {
      const size_t at = Peek().pos;
      ++pos_;
      if (++depth_ > kMaxDepth) return ErrorAt(text_, at, "expression nested too deeply");
      ALAMBIC_ASSIGN_OR_RETURN(NodePtr a, Not());
      --depth_;
      return MakeOp(NodeKind::kUnary, "not", at, {a});
    }
    return Comparison();
  }
  Result<NodePtr> Comparison() {
    ALAMBIC_ASSIGN_OR_RETURN(NodePtr l, Additive());
    while (true) {
      const Token& t = Peek();
      const size_t at = t.pos;
      if (t.kind == Tok::kOp &&
          (t.text == "=" || t.text == "==" || t.text == "!=" || t.text == "<>" || t.text == "<" ||
           t.text == "<=" || t.text == ">" || t.text == ">=")) {
        std::string op = t.text == "==" ? "=" : (t.text == "<>" ? "!=" : t.text);
        ++pos_;
        ALAMBIC_ASSIGN_OR_RETURN(NodePtr r, Additive());
        ALAMBIC_ASSIGN_OR_RETURN(l, MakeOp(NodeKind::kBinary, op, at, {l, r}));
        continue;
      }
      if (IsWord(t, "is")) {
        ++pos_;
        bool negated = false;
        if (IsWord(Peek(), "not")) negated = true, ++pos_;
        ALAMBIC_RETURN_IF_ERROR(ExpectWord("null"));
        ALAMBIC_ASSIGN_OR_RETURN(l, MakeOp(NodeKind::kIsNull, "is null", at, {l}, negated));
        continue;
      }
      bool negated = false;
      if (IsWord(t, "not") && (IsWord(Peek(1), "in") || IsWord(Peek(1), "between"))) {
        negated = true;
        ++pos_;
      }
      if (IsWord(Peek(), "in")) {
        ++pos_;
        ALAMBIC_RETURN_IF_ERROR(Expect("("));
        std::vector<NodePtr> args{l};
        while (true) {
          ALAMBIC_ASSIGN_OR_RETURN(NodePtr item, Or());
          args.push_back(item);
          if (IsOp(Peek(), ",")) {
            ++pos_;
            continue;
          }
          ALAMBIC_RETURN_IF_ERROR(Expect(")"));
          break;
        }
        ALAMBIC_ASSIGN_OR_RETURN(l, MakeOp(NodeKind::kIn, "in", at, std::move(args), negated));
        continue;
      }
      if (IsWord(Peek(), "between")) {
        ++pos_;
        ALAMBIC_ASSIGN_OR_RETURN(NodePtr lo, Additive());
        ALAMBIC_RETURN_IF_ERROR(ExpectWord("and"));
        ALAMBIC_ASSIGN_OR_RETURN(NodePtr hi, Additive());
        ALAMBIC_ASSIGN_OR_RETURN(NodePtr ge, MakeOp(NodeKind::kBinary, ">=", at, {l, lo}));
        ALAMBIC_ASSIGN_OR_RETURN(NodePtr le, MakeOp(NodeKind::kBinary, "<=", at, {l, hi}));
        ALAMBIC_ASSIGN_OR_RETURN(l, MakeOp(NodeKind::kBinary, "and", at, {ge, le}));
        if (negated) {
          ALAMBIC_ASSIGN_OR_RETURN(l, MakeOp(NodeKind::kUnary, "not", at, {l}));
        }
        continue;
      }
      return l;
    }
  }
  Result<NodePtr> Additive() {
    ALAMBIC_ASSIGN_OR_RETURN(NodePtr l, Multiplicative());
    while (IsOp(Peek(), "+") || IsOp(Peek(), "-")) {
      const Token& t = Peek();
      const size_t at = t.pos;
      std::string op = t.text;
      ++pos_;
      ALAMBIC_ASSIGN_OR_RETURN(NodePtr r, Multiplicative());
      ALAMBIC_ASSIGN_OR_RETURN(l, MakeOp(NodeKind::kBinary, op, at, {l, r}));
    }
    return l;
  }
  Result<NodePtr> Multiplicative() {
    ALAMBIC_ASSIGN_OR_RETURN(NodePtr l, Concat());
    while (IsOp(Peek(), "*") || IsOp(Peek(), "/") || IsOp(Peek(), "//") || IsOp(Peek(), "%")) {
      const Token& t = Peek();
      const size_t at = t.pos;
      std::string op = t.text;
      ++pos_;
      ALAMBIC_ASSIGN_OR_RETURN(NodePtr r, Concat());
      ALAMBIC_ASSIGN_OR_RETURN(l, MakeOp(NodeKind::kBinary, op, at, {l, r}));
    }
    return l;
  }
  Result<NodePtr> Concat() {
    ALAMBIC_ASSIGN_OR_RETURN(NodePtr l, Unary());
    while (IsOp(Peek(), "||")) {
      const size_t at = Peek().pos;
      ++pos_;
      ALAMBIC_ASSIGN_OR_RETURN(NodePtr r, Unary());
      ALAMBIC_ASSIGN_OR_RETURN(l, MakeOp(NodeKind::kBinary, "||", at, {l, r}));
    }
    return l;
  }
  Result<NodePtr> Unary() {
    if (IsOp(Peek(), "-") || IsOp(Peek(), "+")) {
      const Token& t = Peek();
      const size_t at = t.pos;
      const bool minus = t.text == "-";
      ++pos_;
      // -9223372036854775808 is a literal, not the negation of an out-of-range one.
      if (minus && Peek().kind == Tok::kInt && Peek().text == "9223372036854775808") {
        ++pos_;
        ExprNode n;
        n.pos = at;
        n.type = TypeId::kInt64;
        n.i = std::numeric_limits<int64_t>::min();
        return Make(std::move(n));
      }
      if (++depth_ > kMaxDepth) return ErrorAt(text_, at, "expression nested too deeply");
      ALAMBIC_ASSIGN_OR_RETURN(NodePtr a, Unary());
      --depth_;
      if (!minus) return a;
      return MakeOp(NodeKind::kUnary, "-", at, {a});
    }
    return Primary();
  }

  Result<std::vector<NodePtr>> Arguments() {
    std::vector<NodePtr> args;
    ALAMBIC_RETURN_IF_ERROR(Expect("("));
    if (IsOp(Peek(), ")")) {
      ++pos_;
      return args;
    }
    while (true) {
      ALAMBIC_ASSIGN_OR_RETURN(NodePtr a, Or());
      args.push_back(a);
      if (IsOp(Peek(), ",")) {
        ++pos_;
        continue;
      }
      ALAMBIC_RETURN_IF_ERROR(Expect(")"));
      return args;
    }
  }

  Result<NodePtr> Primary() {
    const Token t = Peek();
    if (++depth_ > kMaxDepth) return ErrorAt(text_, t.pos, "expression nested too deeply");
    auto r = PrimaryInner(t);
    --depth_;
    return r;
  }

  Result<NodePtr> PrimaryInner(const Token& t) {
    ExprNode n;
    n.pos = t.pos;
    switch (t.kind) {
      case Tok::kEnd:
        return Unexpected("a value");
      case Tok::kInt: {
        ++pos_;
        auto r = std::from_chars(t.text.data(), t.text.data() + t.text.size(), n.i);
        if (r.ec != std::errc())
          return ErrorAt(text_, t.pos, fmt::format("integer {} is out of the int64 range", t.text));
        n.type = TypeId::kInt64;
        return Make(std::move(n));
      }
      case Tok::kFloat:
        ++pos_;
        n.f = std::strtod(t.text.c_str(), nullptr);
        if (!std::isfinite(n.f))
          return ErrorAt(text_, t.pos, fmt::format("number {} is out of range", t.text));
        n.type = TypeId::kFloat64;
        return Make(std::move(n));
      case Tok::kString:
        ++pos_;
        n.type = TypeId::kUtf8;
        n.s = t.text;
        return Make(std::move(n));
      case Tok::kQuotedIdent:
        ++pos_;
        return Column(std::move(n), t.text);
      case Tok::kOp:
        if (t.text == "(") {
          ++pos_;
          ALAMBIC_ASSIGN_OR_RETURN(NodePtr inner, Or());
          ALAMBIC_RETURN_IF_ERROR(Expect(")"));
          return inner;
        }
        return Unexpected("a value");
      case Tok::kIdent:
        break;
    }
    const std::string& w = t.word;
    if (w == "true" || w == "false") {
      ++pos_;
      n.type = TypeId::kBool;
      n.b = w == "true";
      return Make(std::move(n));
    }
    if (w == "null") {
      ++pos_;
      n.type = kNullType;
      return Make(std::move(n));
    }
    if (w == "case") return Case();
    static const char* kReserved[] = {"and",  "or",   "not",  "is",  "in", "between",
                                      "when", "then", "else", "end", "as"};
    for (const char* k : kReserved)
      if (w == k) return Unexpected("a value");
    ++pos_;
    if (!IsOp(Peek(), "(")) return Column(std::move(n), t.text);
    n.kind = NodeKind::kCall;
    n.name = w;
    if (w == "cast") {
      ++pos_;
      ALAMBIC_ASSIGN_OR_RETURN(NodePtr a, Or());
      ALAMBIC_RETURN_IF_ERROR(ExpectWord("as"));
      const Token ty = Peek();
      if (ty.kind != Tok::kIdent) return Unexpected("a type name");
      auto id = ParseTypeName(ty.word);
      if (!id.ok())
        return ErrorAt(text_, ty.pos,
                       fmt::format("unknown type '{}' (expected int64, float64, bool, utf8, "
                                   "date32 or timestamp)",
                                   ty.text));
      ++pos_;
      ALAMBIC_RETURN_IF_ERROR(Expect(")"));
      n.kind = NodeKind::kCast;
      n.type = *id;
      n.args = {a};
      return Make(std::move(n));
    }
    ALAMBIC_ASSIGN_OR_RETURN(n.args, Arguments());
    return Make(std::move(n));
  }

  Result<NodePtr> Column(ExprNode n, const std::string& name) {
    n.kind = NodeKind::kColumn;
    n.name = name;
    if (std::find(columns.begin(), columns.end(), name) == columns.end()) columns.push_back(name);
    return Make(std::move(n));
  }

  // case [operand] when c then v ... [else e] end
  Result<NodePtr> Case() {
    ExprNode n;
    n.kind = NodeKind::kCase;
    n.name = "case";
    n.pos = Peek().pos;
    ++pos_;
    NodePtr operand;
    if (!IsWord(Peek(), "when")) {
      ALAMBIC_ASSIGN_OR_RETURN(operand, Or());
    }
    if (!IsWord(Peek(), "when")) return Unexpected("'when'");
    while (IsWord(Peek(), "when")) {
      const size_t at = Peek().pos;
      ++pos_;
      ALAMBIC_ASSIGN_OR_RETURN(NodePtr cond, Or());
      if (operand) {
        ALAMBIC_ASSIGN_OR_RETURN(cond, MakeOp(NodeKind::kBinary, "=", at, {operand, cond}));
      }
      ALAMBIC_RETURN_IF_ERROR(ExpectWord("then"));
      ALAMBIC_ASSIGN_OR_RETURN(NodePtr value, Or());
      n.args.push_back(cond);
      n.args.push_back(value);
    }
    if (IsWord(Peek(), "else")) {
      ++pos_;
      ALAMBIC_ASSIGN_OR_RETURN(NodePtr e, Or());
      n.args.push_back(e);
      n.has_else = true;
    }
    ALAMBIC_RETURN_IF_ERROR(ExpectWord("end"));
    return Make(std::move(n));
  }

  std::string_view text_;
  std::vector<Token> toks_;
  size_t pos_ = 0;
  int depth_ = 0;
};

// ---------------------------------------------------------------------------
// Evaluation: each node gives a Val, a whole column or a one-row scalar.

struct Val {
  ColumnPtr col;
  bool scalar = false;
  int64_t length() const { return scalar ? 1 : col->length; }
};

template <class T>
T Get(const Column& c, int64_t i);
template <>
int64_t Get<int64_t>(const Column& c, int64_t i) {
  return c.Int64Data()[i];
}
template <>
int32_t Get<int32_t>(const Column& c, int64_t i) {
  return c.Int32Data()[i];
}
template <>
double Get<double>(const Column& c, int64_t i) {
  return c.DoubleData()[i];
}
template <>
bool Get<bool>(const Column& c, int64_t i) {
  return c.Bool(i);
}
template <>
std::string_view Get<std::string_view>(const Column& c, int64_t i) {
  return c.String(i);
}

// Reads a Val row by row; a scalar repeats its one row.
template <class T>
struct In {
  explicit In(const Val& v) : c(v.col.get()), stride(v.scalar ? 0 : 1) {}
  bool Valid(int64_t i) const { return c->IsValid(i * stride); }
  T operator[](int64_t i) const { return Get<T>(*c, i * stride); }
  const Column* c;
  int64_t stride;
};

void FinishValidity(Column* c, int64_t nulls) {
  c->null_count = nulls;
  if (nulls == 0) {
    c->validity.clear();
  } else if (c->length & 7) {
    c->validity.back() &= static_cast<uint8_t>((1u << (c->length & 7)) - 1);
  }
}

template <class T>
class FixedOut {
 public:
  FixedOut(TypeId type, int64_t n) : col_(std::make_shared<Column>()) {
    col_->type = type;
    col_->length = n;
    col_->data.resize(static_cast<size_t>(n) * sizeof(T));
    col_->validity.assign(static_cast<size_t>((n + 7) / 8), 0xFF);
    p_ = reinterpret_cast<T*>(col_->data.data());
  }
  void Set(int64_t i, T v) { p_[i] = v; }
  void Null(int64_t i) {
    col_->validity[static_cast<size_t>(i >> 3)] &= static_cast<uint8_t>(~(1u << (i & 7)));
    ++nulls_;
  }
  ColumnPtr Finish() {
    FinishValidity(col_.get(), nulls_);
    return col_;
  }

 private:
  std::shared_ptr<Column> col_;
  T* p_;
  int64_t nulls_ = 0;
};

class BoolOut {
 public:
  BoolOut(TypeId, int64_t n) : col_(std::make_shared<Column>()) {
    col_->type = TypeId::kBool;
    col_->length = n;
    col_->data.assign(static_cast<size_t>((n + 7) / 8), 0);
    col_->validity.assign(static_cast<size_t>((n + 7) / 8), 0xFF);
  }
  void Set(int64_t i, bool v) {
    if (v) col_->data[static_cast<size_t>(i >> 3)] |= static_cast<uint8_t>(1u << (i & 7));
  }
  void Null(int64_t i) {
    col_->validity[static_cast<size_t>(i >> 3)] &= static_cast<uint8_t>(~(1u << (i & 7)));
    ++nulls_;
  }
  ColumnPtr Finish() {
    FinishValidity(col_.get(), nulls_);
    return col_;
  }

 private:
  std::shared_ptr<Column> col_;
  int64_t nulls_ = 0;
};

// Strings are appended in row order: Set/Null must be called for i = 0, 1, ...
class StrOut {
 public:
  StrOut(TypeId, int64_t n) : b_(TypeId::kUtf8) { b_.Reserve(n); }
  void Set(int64_t, std::string_view v) { b_.AppendString(v); }
  void Null(int64_t) { b_.AppendNull(); }
  ColumnPtr Finish() { return b_.Finish(); }

 private:
  ColumnBuilder b_;
};

template <class T>
struct OutFor {
  using type = FixedOut<T>;
};
template <>
struct OutFor<bool> {
  using type = BoolOut;
};
template <>
struct OutFor<std::string_view> {
  using type = StrOut;
};
template <>
struct OutFor<std::string> {
  using type = StrOut;
};
template <class T>
using Out = typename OutFor<T>::type;

template <class T>
struct Tag {
  using type = T;
};

// Calls f(Tag<C++ type>) for a column type.
template <class F>
decltype(auto) Visit(TypeId t, F&& f) {
  switch (t) {
    case TypeId::kInt64:
    case TypeId::kTimestamp:
      return f(Tag<int64_t>{});
    case TypeId::kFloat64:
      return f(Tag<double>{});
    case TypeId::kBool:
      return f(Tag<bool>{});
    case TypeId::kDate32:
      return f(Tag<int32_t>{});
    default:
      return f(Tag<std::string_view>{});
  }
}

Val Scalar(ColumnPtr c) { return Val{std::move(c), true}; }
Val Full(ColumnPtr c) { return Val{std::move(c), false}; }

int64_t LengthOf(const std::vector<Val>& args, bool* scalar) {
  for (const auto& a : args)
    if (!a.scalar) {
      *scalar = false;
      return a.col->length;
    }
  *scalar = true;
  return 1;
}

// Row-wise map of one argument: f(a, &r) returns false for null.
template <class R, class A, class F>
Val Map1(TypeId rt, const Val& a, F&& f) {
  const int64_t n = a.length();
  In<A> ia(a);
  Out<R> out(rt, n);
  R r{};
  for (int64_t i = 0; i < n; ++i) {
    if (ia.Valid(i) && f(ia[i], r)) {
      out.Set(i, r);
    } else {
      out.Null(i);
    }
  }
  return Val{out.Finish(), a.scalar};
}

template <class R, class A, class B, class F>
Val Map2(TypeId rt, const Val& a, const Val& b, F&& f) {
  bool scalar;
  const int64_t n = LengthOf({a, b}, &scalar);
  In<A> ia(a);
  In<B> ib(b);
  Out<R> out(rt, n);
  R r{};
  for (int64_t i = 0; i < n; ++i) {
    if (ia.Valid(i) && ib.Valid(i) && f(ia[i], ib[i], r)) {
      out.Set(i, r);
    } else {
      out.Null(i);
    }
  }
  return Val{out.Finish(), scalar};
}

template <class R, class A, class B, class C, class F>
Val Map3(TypeId rt, const Val& a, const Val& b, const Val& c, F&& f) {
  bool scalar;
  const int64_t n = LengthOf({a, b, c}, &scalar);
  In<A> ia(a);
  In<B> ib(b);
  In<C> ic(c);
  Out<R> out(rt, n);
  R r{};
  for (int64_t i = 0; i < n; ++i) {
    if (ia.Valid(i) && ib.Valid(i) && ic.Valid(i) && f(ia[i], ib[i], ic[i], r)) {
      out.Set(i, r);
    } else {
      out.Null(i);
    }
  }
  return Val{out.Finish(), scalar};
}

// A `len`-row column holding `v`'s rows (a scalar repeated).
ColumnPtr Broadcast(const Val& v, int64_t len) {
  if (!v.scalar) return v.col;
  return Visit(v.col->type, [&](auto tag) -> ColumnPtr {
    using T = typename decltype(tag)::type;
    In<T> in(v);
    Out<T> out(v.col->type, len);
    for (int64_t i = 0; i < len; ++i) {
      if (in.Valid(i)) {
        out.Set(i, in[i]);
      } else {
        out.Null(i);
      }
    }
    return out.Finish();
  });
}

// Rows of `src` picked by `index(i)` for i < n; `valid(i)` false gives null.
template <class Index, class Valid>
ColumnPtr Gather(const Column& src, int64_t n, Index&& index, Valid&& valid) {
  return Visit(src.type, [&](auto tag) -> ColumnPtr {
    using T = typename decltype(tag)::type;
    Out<T> out(src.type, n);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t j = valid(i) ? index(i) : -1;
      if (j >= 0 && src.IsValid(j)) {
        out.Set(i, Get<T>(src, j));
      } else {
        out.Null(i);
      }
    }
    return out.Finish();
  });
}

// Maps a result computed on a dictionary back to the rows of `coded`.
ColumnPtr ExpandDictionary(const ColumnPtr& on_dict, const Column& coded) {
  if (on_dict->type == TypeId::kUtf8 && on_dict->null_count == 0 && !on_dict->is_dictionary()) {
    auto out = std::make_shared<Column>();
    out->type = TypeId::kUtf8;
    out->length = coded.length;
    out->null_count = coded.null_count;
    out->validity = coded.validity;
    out->data = coded.data;
    out->dictionary = on_dict;
    return out;
  }
  const int32_t* idx = coded.Int32Data();
  return Gather(
      *on_dict, coded.length, [&](int64_t i) { return int64_t{idx[i]}; },
      [&](int64_t i) { return coded.IsValid(i); });
}

std::shared_ptr<Column> NullScalar(TypeId t) {
  ColumnBuilder b(t == kNullType ? TypeId::kUtf8 : t);
  b.AppendNull();
  return b.Finish();
}

}  // namespace

// ---------------------------------------------------------------------------
// Type checking.

class ExprCompiler {
 public:
  ExprCompiler(std::string_view text, const Schema& schema) : text_(text), schema_(schema) {}

  static Result<TypedExpr> Run(const Expr& e, const Schema& schema) {
    ExprCompiler c(e.text_, schema);
    ALAMBIC_ASSIGN_OR_RETURN(NodePtr root, c.Check(*e.root_));
    if (root->type == kNullType) root = c.NullOf(TypeId::kUtf8, root->pos);
    TypedExpr out;
    out.text_ = e.text_;
    out.root_ = root;
    out.columns_ = e.columns_;
    out.type_ = root->type;
    return out;
  }

  static Result<Expr> Parse(std::string_view text) {
    ALAMBIC_ASSIGN_OR_RETURN(std::vector<Token> toks, Lex(text));
    Parser p(text, std::move(toks));
    ALAMBIC_ASSIGN_OR_RETURN(NodePtr root, p.ParseAll());
    Expr e;
    e.text_ = std::string(text);
    e.root_ = std::move(root);
    e.columns_ = std::move(p.columns);
    return e;
  }

 private:
  Status Error(size_t pos, std::string_view msg) const { return ErrorAt(text_, pos, msg); }
  // Length of the number spelled at `pos` in the text.
  size_t LiteralLength(size_t pos) const {
    size_t j = pos;
    while (j < text_.size()) {
      const char c = text_[j];
      const bool exp_sign =
          (c == '+' || c == '-') && j > pos && (text_[j - 1] == 'e' || text_[j - 1] == 'E');
      if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == 'e' || c == 'E' ||
            exp_sign))
        break;
      ++j;
    }
    return j - pos;
  }

  NodePtr NullOf(TypeId t, size_t pos) const {
    auto n = std::make_shared<ExprNode>();
    n->pos = pos;
    n->type = t;
    n->s = "null";  // marks a null literal of a known type
    n->b = true;
    n->kind = NodeKind::kLiteral;
    n->name = "null";
    return n;
  }
  static bool IsNullLiteral(const ExprNode& n) {
    return n.kind == NodeKind::kLiteral && (n.type == kNullType || n.name == "null");
  }

  // `n` converted to `to` (which the caller has checked is allowed).
  NodePtr Coerce(const NodePtr& n, TypeId to) const {
    if (n->type == to) return n;
    if (n->type == kNullType) return NullOf(to, n->pos);
    auto c = std::make_shared<ExprNode>();
    c->kind = NodeKind::kCast;
    c->pos = n->pos;
    c->type = to;
    c->args = {n};
    return c;
  }

  // The type two values unify to (if/case/coalesce/in/min/max), or false.
  static bool Unify(TypeId a, TypeId b, TypeId* out) {
    if (a == kNullType || a == b) return *out = b, true;
    if (b == kNullType) return *out = a, true;
    if (IsNumeric(a) && IsNumeric(b)) return *out = TypeId::kFloat64, true;
    if (IsTemporal(a) && IsTemporal(b)) return *out = TypeId::kTimestamp, true;
    return false;
  }

  Status UnifyAll(std::vector<NodePtr>* nodes, const std::string& what, TypeId* type) {
    TypeId t = kNullType;
    for (size_t k = 0; k < nodes->size(); ++k) {
      TypeId u;
      if (!Unify(t, (*nodes)[k]->type, &u))
        return Error((*nodes)[k]->pos, fmt::format("{}: cannot mix {} and {}", what, TyName(t),
                                                   TyName((*nodes)[k]->type)));
      t = u;
    }
    for (auto& node : *nodes) node = Coerce(node, t);
    *type = t;
    return Status::Ok();
  }

  Result<NodePtr> Check(const ExprNode& in) {
    auto n = std::make_shared<ExprNode>(in);
    for (auto& a : n->args) {
      ALAMBIC_ASSIGN_OR_RETURN(a, Check(*a));
    }
    switch (n->kind) {
      case NodeKind::kLiteral:
        return NodePtr(n);
      case NodeKind::kColumn: {
        const int idx = schema_.FieldIndex(n->name);
        if (idx < 0) {
          std::string names;
          for (size_t k = 0; k < schema_.fields.size() && k < kMaxListedColumns; ++k)
            names += (k ? ", " : "") + schema_.fields[k].name;
          if (schema_.fields.size() > kMaxListedColumns) names += ", …";
          std::vector<std::string> all;
          for (const auto& f : schema_.fields) all.push_back(f.name);
          const std::string close = ClosestName(n->name, all);
          return Error(n->pos, fmt::format("unknown column '{}' ({}columns: {})", n->name,
                                           close.empty() ? "" : "did you mean '" + close + "'? ",
                                           names.empty() ? "none" : names));
        }
        n->type = schema_.fields[static_cast<size_t>(idx)].type;
        return NodePtr(n);
      }
      case NodeKind::kUnary:
        return CheckUnary(n);
      case NodeKind::kBinary:
        return CheckBinary(n);
      case NodeKind::kIsNull:
        n->type = TypeId::kBool;
        if (n->args[0]->type == kNullType) n->args[0] = NullOf(TypeId::kBool, n->pos);
        return NodePtr(n);
      case NodeKind::kIn: {
        TypeId t;
        ALAMBIC_RETURN_IF_ERROR(UnifyAll(&n->args, "in", &t));
        if (t == kNullType) return NullOf(kNullType, n->pos);
        n->type = TypeId::kBool;
        return NodePtr(n);
      }
      case NodeKind::kCase:
        return CheckCase(n);
      case NodeKind::kCast:
        return CheckCast(n, n->type, "cast");
      case NodeKind::kCall:
        return CheckCall(n);
    }
    return Status::Internal("unknown expression node");
  }

  Result<NodePtr> CheckUnary(std::shared_ptr<ExprNode> n) {
    NodePtr& a = n->args[0];
    if (n->name == "not") {
      if (a->type != TypeId::kBool && a->type != kNullType)
        return Error(n->pos, fmt::format("'not' needs a bool, got {}", TyName(a->type)));
      a = Coerce(a, TypeId::kBool);
      n->type = TypeId::kBool;
      return NodePtr(n);
    }
    if (a->type == kNullType) return NullOf(kNullType, n->pos);
    if (!IsNumeric(a->type)) return Error(n->pos, fmt::format("cannot negate {}", TyName(a->type)));
    n->type = a->type;
    return NodePtr(n);
  }

  Result<NodePtr> CheckBinary(std::shared_ptr<ExprNode> n) {
    NodePtr& a = n->args[0];
    NodePtr& b = n->args[1];
    const std::string& op = n->name;
    const TypeId ta = a->type, tb = b->type;
    if (op == "and" || op == "or") {
      for (const NodePtr* x : {&a, &b})
        if ((*x)->type != TypeId::kBool && (*x)->type != kNullType)
          return Error(n->pos, fmt::format("'{}' needs bool operands, got {} and {}", op,
                                           TyName(ta), TyName(tb)));
      a = Coerce(a, TypeId::kBool);
      b = Coerce(b, TypeId::kBool);
      n->type = TypeId::kBool;
      return NodePtr(n);
    }
    if (op == "||") {
      if (ta == kNullType || tb == kNullType) return NullOf(TypeId::kUtf8, n->pos);
      a = Coerce(a, TypeId::kUtf8);
      b = Coerce(b, TypeId::kUtf8);
      n->type = TypeId::kUtf8;
      return NodePtr(n);
    }
    if (op == "=" || op == "!=" || op == "<" || op == "<=" || op == ">" || op == ">=") {
      n->type = TypeId::kBool;
      if (ta == kNullType || tb == kNullType) return NullOf(TypeId::kBool, n->pos);
      // A string literal compared with a date or timestamp is read as one.
      for (auto [x, other] : {std::pair{&a, tb}, std::pair{&b, ta}}) {
        if (IsTemporal(other) && (*x)->kind == NodeKind::kLiteral && (*x)->type == TypeId::kUtf8) {
          ALAMBIC_ASSIGN_OR_RETURN(*x, TemporalLiteral(**x, other));
        }
      }
      const TypeId ua = a->type, ub = b->type;
      if (IsNumeric(ua) && IsNumeric(ub)) return NodePtr(n);
      if (IsTemporal(ua) && IsTemporal(ub)) {
        if (ua != ub) {
          a = Coerce(a, TypeId::kTimestamp);
          b = Coerce(b, TypeId::kTimestamp);
        }
        return NodePtr(n);
      }
      if (ua == ub) return NodePtr(n);
      std::string hint;
      if ((ua == TypeId::kUtf8 && IsNumeric(ub)) || (IsNumeric(ua) && ub == TypeId::kUtf8)) {
        const ExprNode& num = IsNumeric(ua) ? *a : *b;
        if (num.kind == NodeKind::kLiteral)
          hint = fmt::format(" (quote the number to compare text: '{}')",
                             std::string_view(text_).substr(num.pos, LiteralLength(num.pos)));
        else
          hint = " (convert one side: to_int(), to_float() or cast(x as utf8))";
      }
      return Error(n->pos, fmt::format("cannot compare {} and {}{}", TyName(ua), TyName(ub), hint));
    }
    // Arithmetic.
    static const std::unordered_map<std::string, const char*> kVerb = {
        {"+", "add"},    {"-", "subtract"},      {"*", "multiply"},
        {"/", "divide"}, {"//", "floor-divide"}, {"%", "take %"}};
    const bool ok_a = IsNumeric(ta) || ta == kNullType;
    const bool ok_b = IsNumeric(tb) || tb == kNullType;
    if (!ok_a || !ok_b) {
      std::string hint;
      if (op == "+" && (ta == TypeId::kUtf8 || tb == TypeId::kUtf8))
        hint = " (use || or concat() to join strings)";
      if (IsTemporal(ta) || IsTemporal(tb)) hint = " (use add_days() or date_diff())";
      return Error(
          n->pos, fmt::format("cannot {} {} and {}{}", kVerb.at(op), TyName(ta), TyName(tb), hint));
    }
    // `/` is true division: its result is always float64, whatever the
    // operand types (as pandas and DuckDB); `//` floors.
    if (op == "/") {
      a = Coerce(a, TypeId::kFloat64);
      b = Coerce(b, TypeId::kFloat64);
      n->type = TypeId::kFloat64;
      return NodePtr(n);
    }
    if (ta == kNullType && tb == kNullType) return NullOf(kNullType, n->pos);
    TypeId t;
    Unify(ta, tb, &t);
    a = Coerce(a, t);
    b = Coerce(b, t);
    n->type = t;
    return NodePtr(n);
  }

  Result<NodePtr> TemporalLiteral(const ExprNode& lit, TypeId to) {
    if (to == TypeId::kDate32) {
      int32_t d;
      if (!ParseDate(lit.s, &d))
        return Error(lit.pos, fmt::format("invalid date '{}' (expected YYYY-MM-DD)", lit.s));
      auto n = std::make_shared<ExprNode>();
      n->pos = lit.pos;
      n->type = TypeId::kDate32;
      n->i = d;
      return NodePtr(n);
    }
    int64_t us;
    if (!ParseTimestamp(lit.s, &us))
      return Error(lit.pos, fmt::format("invalid timestamp '{}' (expected YYYY-MM-DD or "
                                        "YYYY-MM-DDTHH:MM:SS[.ffffff][Z])",
                                        lit.s));
    auto n = std::make_shared<ExprNode>();
    n->pos = lit.pos;
    n->type = TypeId::kTimestamp;
    n->i = us;
    return NodePtr(n);
  }

  Result<NodePtr> CheckCase(std::shared_ptr<ExprNode> n) {
    const size_t pairs = (n->args.size() - (n->has_else ? 1 : 0)) / 2;
    for (size_t k = 0; k < pairs; ++k) {
      NodePtr& c = n->args[2 * k];
      if (c->type != TypeId::kBool && c->type != kNullType)
        return Error(c->pos, fmt::format("{}: the condition must be bool, got {}", n->name,
                                         TyName(c->type)));
      c = Coerce(c, TypeId::kBool);
    }
    // Values: odd positions, plus the else at the end.
    std::vector<NodePtr> values;
    for (size_t k = 0; k < pairs; ++k) values.push_back(n->args[2 * k + 1]);
    if (n->has_else) values.push_back(n->args.back());
    TypeId t;
    ALAMBIC_RETURN_IF_ERROR(UnifyAll(&values, n->name, &t));
    if (t == kNullType) return NullOf(kNullType, n->pos);
    for (size_t k = 0; k < pairs; ++k) n->args[2 * k + 1] = values[k];
    if (n->has_else) n->args.back() = values.back();
    n->type = t;
    return NodePtr(n);
  }

  static bool CastAllowed(TypeId from, TypeId to) {
    if (from == to || from == kNullType || to == TypeId::kUtf8 || from == TypeId::kUtf8)
      return true;
    const bool scalar_from = IsNumeric(from) || from == TypeId::kBool;
    const bool scalar_to = IsNumeric(to) || to == TypeId::kBool;
    if (scalar_from && scalar_to) return true;
    return IsTemporal(from) && IsTemporal(to);
  }

  Result<NodePtr> CheckCast(std::shared_ptr<ExprNode> n, TypeId to, std::string_view fname) {
    if (n->args.size() != 1)
      return Error(n->pos, fmt::format("{}() takes 1 argument, got {}", fname, n->args.size()));
    const NodePtr& a = n->args[0];
    if (!CastAllowed(a->type, to))
      return Error(n->pos, fmt::format("cannot convert {} to {}", TyName(a->type), TypeName(to)));
    if (a->type == kNullType) return NullOf(to, n->pos);
    // Literal dates and timestamps are read now, so typos fail before the run.
    if (IsTemporal(to) && a->kind == NodeKind::kLiteral && a->type == TypeId::kUtf8)
      return TemporalLiteral(*a, to);
    if (a->type == to) return a;
    n->kind = NodeKind::kCast;
    n->type = to;
    return NodePtr(n);
  }

  Status Arity(const ExprNode& n, size_t lo, size_t hi) const {
    const size_t k = n.args.size();
    if (k >= lo && k <= hi) return Status::Ok();
    std::string want = lo == hi         ? fmt::format("{} argument{}", lo, lo == 1 ? "" : "s")
                       : hi == SIZE_MAX ? fmt::format("at least {} arguments", lo)
                                        : fmt::format("{} to {} arguments", lo, hi);
    return Error(n.pos, fmt::format("{}() takes {}, got {}", n.name, want, k));
  }

  // Coerces argument k to `want` (null and int→float allowed) or fails.
  Status Expect(std::shared_ptr<ExprNode>& n, size_t k, TypeId want) {
    NodePtr& a = n->args[k];
    if (a->type == want || a->type == kNullType ||
        (want == TypeId::kFloat64 && a->type == TypeId::kInt64)) {
      a = Coerce(a, want);
      return Status::Ok();
    }
    return Error(a->pos, fmt::format("{}() expects {} as argument {}, got {}", n->name,
                                     TypeName(want), k + 1, TyName(a->type)));
  }

  Status ExpectTemporal(std::shared_ptr<ExprNode>& n, size_t k) {
    NodePtr& a = n->args[k];
    if (IsTemporal(a->type)) return Status::Ok();
    if (a->type == kNullType) {
      a = Coerce(a, TypeId::kDate32);
      return Status::Ok();
    }
    if (a->kind == NodeKind::kLiteral && a->type == TypeId::kUtf8) {
      ALAMBIC_ASSIGN_OR_RETURN(a, TemporalLiteral(*a, TypeId::kDate32));
      return Status::Ok();
    }
    return Error(a->pos, fmt::format("{}() expects a date32 or timestamp as argument {}, got {}",
                                     n->name, k + 1, TyName(a->type)));
  }

  Result<NodePtr> CheckCall(std::shared_ptr<ExprNode> n) {
    const std::string& f = n->name;
    auto all_args_null = [&] {
      return std::all_of(n->args.begin(), n->args.end(),
                         [](const NodePtr& a) { return a->type == kNullType; });
    };
    if (f == "to_int") return CheckCast(n, TypeId::kInt64, f);
    if (f == "to_float") return CheckCast(n, TypeId::kFloat64, f);
    if (f == "to_string") return CheckCast(n, TypeId::kUtf8, f);
    if (f == "to_bool") return CheckCast(n, TypeId::kBool, f);
    if (f == "date" || f == "to_date") return CheckCast(n, TypeId::kDate32, f);
    if (f == "timestamp" || f == "to_timestamp") return CheckCast(n, TypeId::kTimestamp, f);
    if (f == "if") {
      ALAMBIC_RETURN_IF_ERROR(Arity(*n, 3, 3));
      n->kind = NodeKind::kCase;
      n->has_else = true;
      return CheckCase(n);
    }
    if (f == "coalesce" || f == "min" || f == "max") {
      ALAMBIC_RETURN_IF_ERROR(Arity(*n, f == "coalesce" ? 1 : 2, SIZE_MAX));
      TypeId t;
      ALAMBIC_RETURN_IF_ERROR(UnifyAll(&n->args, f, &t));
      if (t == kNullType) return NullOf(kNullType, n->pos);
      if (f != "coalesce" && t == TypeId::kBool)
        return Error(n->pos, fmt::format("{}() cannot order bool values", f));
      n->type = t;
      return NodePtr(n);
    }
    if (f == "nullif") {
      ALAMBIC_RETURN_IF_ERROR(Arity(*n, 2, 2));
      const TypeId ta = n->args[0]->type, tb = n->args[1]->type;
      if (ta == kNullType) return NullOf(kNullType, n->pos);
      TypeId t;
      if (!Unify(ta, tb, &t))
        return Error(n->pos,
                     fmt::format("nullif(): cannot compare {} and {}", TyName(ta), TyName(tb)));
      n->args[0] = Coerce(n->args[0], t);
      n->args[1] = Coerce(n->args[1], t);
      n->type = t;
      return NodePtr(n);
    }
    if (f == "concat") {
      ALAMBIC_RETURN_IF_ERROR(Arity(*n, 1, SIZE_MAX));
      for (auto& a : n->args) a = Coerce(a, TypeId::kUtf8);
      n->type = TypeId::kUtf8;
      return NodePtr(n);
    }
    if (f == "length" || f == "lower" || f == "upper" || f == "trim" || f == "ltrim" ||
        f == "rtrim") {
      ALAMBIC_RETURN_IF_ERROR(Arity(*n, 1, 1));
      ALAMBIC_RETURN_IF_ERROR(Expect(n, 0, TypeId::kUtf8));
      n->type = f == "length" ? TypeId::kInt64 : TypeId::kUtf8;
      return NodePtr(n);
    }
    if (f == "substr" || f == "substring") {
      ALAMBIC_RETURN_IF_ERROR(Arity(*n, 2, 3));
      ALAMBIC_RETURN_IF_ERROR(Expect(n, 0, TypeId::kUtf8));
      for (size_t k = 1; k < n->args.size(); ++k)
        ALAMBIC_RETURN_IF_ERROR(Expect(n, k, TypeId::kInt64));
      n->name = "substr";
      n->type = TypeId::kUtf8;
      return NodePtr(n);
    }
    if (f == "replace") {
      ALAMBIC_RETURN_IF_ERROR(Arity(*n, 3, 3));
      for (size_t k = 0; k < 3; ++k) ALAMBIC_RETURN_IF_ERROR(Expect(n, k, TypeId::kUtf8));
      n->type = TypeId::kUtf8;
      return NodePtr(n);
    }
    if (f == "starts_with" || f == "ends_with" || f == "contains") {
      ALAMBIC_RETURN_IF_ERROR(Arity(*n, 2, 2));
      for (size_t k = 0; k < 2; ++k) ALAMBIC_RETURN_IF_ERROR(Expect(n, k, TypeId::kUtf8));
      n->type = TypeId::kBool;
      return NodePtr(n);
    }
    if (f == "matches") {
      ALAMBIC_RETURN_IF_ERROR(Arity(*n, 2, 2));
      ALAMBIC_RETURN_IF_ERROR(Expect(n, 0, TypeId::kUtf8));
      const ExprNode& p = *n->args[1];
      if (p.kind != NodeKind::kLiteral || p.type != TypeId::kUtf8 || IsNullLiteral(p))
        return Error(p.pos, "matches() needs a string literal as its pattern");
      auto re = Regex::Compile(p.s);
      if (!re.ok()) return Error(p.pos, re.status().message());
      n->regex = *re;
      n->type = TypeId::kBool;
      return NodePtr(n);
    }
    if (f == "year" || f == "month" || f == "day") {
      ALAMBIC_RETURN_IF_ERROR(Arity(*n, 1, 1));
      ALAMBIC_RETURN_IF_ERROR(ExpectTemporal(n, 0));
      n->type = TypeId::kInt64;
      return NodePtr(n);
    }
    if (f == "date_diff") {
      ALAMBIC_RETURN_IF_ERROR(Arity(*n, 2, 2));
      for (size_t k = 0; k < 2; ++k) {
        ALAMBIC_RETURN_IF_ERROR(ExpectTemporal(n, k));
        n->args[k] = Coerce(n->args[k], TypeId::kDate32);
      }
      n->type = TypeId::kInt64;
      return NodePtr(n);
    }
    if (f == "add_days") {
      ALAMBIC_RETURN_IF_ERROR(Arity(*n, 2, 2));
      ALAMBIC_RETURN_IF_ERROR(ExpectTemporal(n, 0));
      ALAMBIC_RETURN_IF_ERROR(Expect(n, 1, TypeId::kInt64));
      n->type = n->args[0]->type;
      return NodePtr(n);
    }
    if (f == "abs" || f == "floor" || f == "ceil" || f == "round") {
      ALAMBIC_RETURN_IF_ERROR(Arity(*n, 1, f == "round" ? 2 : 1));
      NodePtr& a = n->args[0];
      if (a->type == kNullType) a = Coerce(a, TypeId::kFloat64);
      if (!IsNumeric(a->type))
        return Error(a->pos, fmt::format("{}() expects a number, got {}", f, TyName(a->type)));
      if (n->args.size() == 2) ALAMBIC_RETURN_IF_ERROR(Expect(n, 1, TypeId::kInt64));
      n->type = a->type;
      if (all_args_null()) return NullOf(n->type, n->pos);
      return NodePtr(n);
    }
    return Error(n->pos, fmt::format("unknown function '{}'", f));
  }

 private:
  std::string_view text_;
  const Schema& schema_;
};

Result<Expr> ParseExpr(std::string_view text) { return ExprCompiler::Parse(text); }

Result<TypedExpr> Compile(const Expr& expr, const Schema& schema) {
  return ExprCompiler::Run(expr, schema);
}

Result<TypedExpr> Compile(std::string_view text, const Schema& schema) {
  ALAMBIC_ASSIGN_OR_RETURN(Expr e, ParseExpr(text));
  return Compile(e, schema);
}

// ---------------------------------------------------------------------------
// Kernels.

namespace {

Val LiteralVal(const ExprNode& n) {
  if (n.name == "null" || n.type == kNullType) return Scalar(NullScalar(n.type));
  ColumnBuilder b(n.type);
  switch (n.type) {
    case TypeId::kInt64:
      b.AppendInt64(n.i);
      break;
    case TypeId::kTimestamp:
      b.AppendTimestamp(n.i);
      break;
    case TypeId::kDate32:
      b.AppendDate32(static_cast<int32_t>(n.i));
      break;
    case TypeId::kFloat64:
      b.AppendDouble(n.f);
      break;
    case TypeId::kBool:
      b.AppendBool(n.b);
      break;
    default:
      b.AppendString(n.s);
  }
  return Scalar(b.Finish());
}

bool StrToInt(std::string_view s, int64_t& r) {
  s = Trim(s, true, true);
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  auto res = std::from_chars(s.data(), s.data() + s.size(), r);
  return !s.empty() && res.ec == std::errc() && res.ptr == s.data() + s.size();
}

bool StrToDouble(std::string_view s, double& r) {
  s = Trim(s, true, true);
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  auto res = std::from_chars(s.data(), s.data() + s.size(), r);
  return !s.empty() && res.ec == std::errc() && res.ptr == s.data() + s.size() && !std::isnan(r);
}

bool StrToBool(std::string_view s, bool& r) {
  const std::string l = Lower(Trim(s, true, true));
  if (l == "true" || l == "1") return r = true, true;
  if (l == "false" || l == "0") return r = false, true;
  return false;
}

Val CastVal(const Val& a, TypeId to) {
  const TypeId from = a.col->type;
  if (from == to) return a;
  if (to == TypeId::kUtf8) {
    const int64_t n = a.length();
    StrOut out(to, n);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t j = a.scalar ? 0 : i;
      if (a.col->IsValid(j)) {
        out.Set(i, FormatCell(*a.col, j));
      } else {
        out.Null(i);
      }
    }
    return Val{out.Finish(), a.scalar};
  }
  if (from == TypeId::kUtf8) {
    switch (to) {
      case TypeId::kInt64:
        return Map1<int64_t, std::string_view>(to, a, StrToInt);
      case TypeId::kFloat64:
        return Map1<double, std::string_view>(to, a, StrToDouble);
      case TypeId::kBool:
        return Map1<bool, std::string_view>(to, a, StrToBool);
      case TypeId::kDate32:
        return Map1<int32_t, std::string_view>(to, a, [](std::string_view s, int32_t& r) {
          return ParseDate(Trim(s, true, true), &r);
        });
      default:
        return Map1<int64_t, std::string_view>(to, a, [](std::string_view s, int64_t& r) {
          return ParseTimestamp(Trim(s, true, true), &r);
        });
    }
  }
  if (to == TypeId::kTimestamp)  // from date32
    return Map1<int64_t, int32_t>(to, a, [](int32_t d, int64_t& r) {
      r = d * kMicrosPerDay;
      return true;
    });
  if (to == TypeId::kDate32)  // from timestamp
    return Map1<int32_t, int64_t>(to, a, [](int64_t us, int32_t& r) {
      r = static_cast<int32_t>(FloorDiv(us, kMicrosPerDay));
      return true;
    });
  return Visit(from, [&](auto tag) -> Val {
    using A = typename decltype(tag)::type;
    if constexpr (std::is_same_v<A, std::string_view>) {
      return a;  // unreachable: handled above
    } else {
      switch (to) {
        case TypeId::kInt64:
          return Map1<int64_t, A>(to, a, [](A v, int64_t& r) {
            if constexpr (std::is_same_v<A, double>) {
              return DoubleToInt(v, &r);
            } else {
              r = static_cast<int64_t>(v);
              return true;
            }
          });
        case TypeId::kFloat64:
          return Map1<double, A>(to, a, [](A v, double& r) {
            r = static_cast<double>(v);
            return true;
          });
        default:
          return Map1<bool, A>(to, a, [](A v, bool& r) {
            r = v != A{};
            return true;
          });
      }
    }
  });
}

template <class T, class F>
Val CompareTyped(const Val& a, const Val& b, TypeId tb, F&& pred) {
  if constexpr (std::is_same_v<T, int64_t> || std::is_same_v<T, double>) {
    if (tb == TypeId::kFloat64)
      return Map2<bool, T, double>(
          TypeId::kBool, a, b, [&](T x, double y, bool& r) { return r = pred(Cmp3(x, y)), true; });
    if (tb == TypeId::kInt64)
      return Map2<bool, T, int64_t>(
          TypeId::kBool, a, b, [&](T x, int64_t y, bool& r) { return r = pred(Cmp3(x, y)), true; });
  }
  return Map2<bool, T, T>(TypeId::kBool, a, b,
                          [&](T x, T y, bool& r) { return r = pred(Cmp3(x, y)), true; });
}

Val Compare(const std::string& op, const Val& a, const Val& b) {
  auto run = [&](auto pred) {
    return Visit(a.col->type, [&](auto tag) {
      using T = typename decltype(tag)::type;
      return CompareTyped<T>(a, b, b.col->type, pred);
    });
  };
  if (op == "=") return run([](int c) { return c == 0; });
  if (op == "!=") return run([](int c) { return c != 0; });
  if (op == "<") return run([](int c) { return c < 0; });
  if (op == "<=") return run([](int c) { return c <= 0; });
  if (op == ">") return run([](int c) { return c > 0; });
  return run([](int c) { return c >= 0; });
}

// Python's float floor division (Objects/floatobject.c, float_floor_div):
// floor of the exact quotient, not floor(x / y) (1 // 0.1 is 9.0, as in
// Python, where floor(1 / 0.1) would be 10).
double FloatFloorDiv(double x, double y) {
  double mod = std::fmod(x, y);
  double div = (x - mod) / y;
  if (mod != 0 && ((y < 0) != (mod < 0))) div -= 1.0;
  if (div == 0) return std::copysign(0.0, x / y);
  double floordiv = std::floor(div);
  if (div - floordiv > 0.5) floordiv += 1.0;
  return floordiv;
}

Val Arithmetic(const std::string& op, const Val& a, const Val& b) {
  const TypeId t = a.col->type;
  const char o = op == "//" ? 'f' : op[0];
  if (t == TypeId::kInt64) {
    return Map2<int64_t, int64_t, int64_t>(t, a, b, [o](int64_t x, int64_t y, int64_t& r) {
      switch (o) {
        case '+':
          return !__builtin_add_overflow(x, y, &r);
        case '-':
          return !__builtin_sub_overflow(x, y, &r);
        case '*':
          return !__builtin_mul_overflow(x, y, &r);
        case 'f':  // `//`; `/` is always float64 (see Compile)
          if (y == 0 || (y == -1 && x == std::numeric_limits<int64_t>::min())) return false;
          r = FloorDiv(x, y);
          return true;
        default:
          if (y == 0) return false;
          r = y == -1 ? 0 : x % y;
          return true;
      }
    });
  }
  return Map2<double, double, double>(t, a, b, [o](double x, double y, double& r) {
    switch (o) {
      case '+':
        r = x + y;
        break;
      case '-':
        r = x - y;
        break;
      case '*':
        r = x * y;
        break;
      case '/':
        if (y == 0) return false;
        r = x / y;
        break;
      case 'f':
        if (y == 0) return false;
        r = FloatFloorDiv(x, y);
        break;
      default:
        if (y == 0) return false;
        r = std::fmod(x, y);
    }
    return !std::isnan(r);
  });
}

Val Logic(bool is_and, const Val& a, const Val& b) {
  bool scalar;
  const int64_t n = LengthOf({a, b}, &scalar);
  In<bool> ia(a), ib(b);
  BoolOut out(TypeId::kBool, n);
  for (int64_t i = 0; i < n; ++i) {
    const bool va = ia.Valid(i), vb = ib.Valid(i);
    const bool xa = va && ia[i], xb = vb && ib[i];
    if (is_and) {
      if ((va && !xa) || (vb && !xb)) {
        out.Set(i, false);
      } else if (va && vb) {
        out.Set(i, true);
      } else {
        out.Null(i);
      }
    } else {
      if (xa || xb) {
        out.Set(i, true);
      } else if (va && vb) {
        out.Set(i, false);
      } else {
        out.Null(i);
      }
    }
  }
  return Val{out.Finish(), scalar};
}

// Picks, row by row, the value of the first branch whose condition holds.
Val CaseVal(const ExprNode& n, const std::vector<Val>& args) {
  bool scalar;
  const int64_t len = LengthOf(args, &scalar);
  const size_t pairs = (args.size() - (n.has_else ? 1 : 0)) / 2;
  return Visit(n.type, [&](auto tag) -> Val {
    using T = typename decltype(tag)::type;
    std::vector<In<bool>> conds;
    std::vector<In<T>> values;
    for (size_t k = 0; k < pairs; ++k) {
      conds.emplace_back(args[2 * k]);
      values.emplace_back(args[2 * k + 1]);
    }
    if (n.has_else) values.emplace_back(args.back());
    Out<T> out(n.type, len);
    for (int64_t i = 0; i < len; ++i) {
      size_t pick = n.has_else ? pairs : SIZE_MAX;
      for (size_t k = 0; k < pairs; ++k)
        if (conds[k].Valid(i) && conds[k][i]) {
          pick = k;
          break;
        }
      if (pick != SIZE_MAX && values[pick].Valid(i)) {
        out.Set(i, values[pick][i]);
      } else {
        out.Null(i);
      }
    }
    return Val{out.Finish(), scalar};
  });
}

Val CoalesceVal(TypeId type, const std::vector<Val>& args) {
  bool scalar;
  const int64_t len = LengthOf(args, &scalar);
  return Visit(type, [&](auto tag) -> Val {
    using T = typename decltype(tag)::type;
    std::vector<In<T>> ins;
    for (const auto& a : args) ins.emplace_back(a);
    Out<T> out(type, len);
    for (int64_t i = 0; i < len; ++i) {
      bool set = false;
      for (const auto& in : ins)
        if (in.Valid(i)) {
          out.Set(i, in[i]);
          set = true;
          break;
        }
      if (!set) out.Null(i);
    }
    return Val{out.Finish(), scalar};
  });
}

// min()/max() of several arguments: null when any argument is null (as SQLite).
Val MinMaxVal(bool is_max, TypeId type, const std::vector<Val>& args) {
  bool scalar;
  const int64_t len = LengthOf(args, &scalar);
  return Visit(type, [&](auto tag) -> Val {
    using T = typename decltype(tag)::type;
    std::vector<In<T>> ins;
    for (const auto& a : args) ins.emplace_back(a);
    Out<T> out(type, len);
    for (int64_t i = 0; i < len; ++i) {
      bool valid = true;
      T best{};
      for (size_t k = 0; k < ins.size() && valid; ++k) {
        if (!ins[k].Valid(i)) {
          valid = false;
          break;
        }
        const T v = ins[k][i];
        if (k == 0 || (is_max ? best < v : v < best)) best = v;
      }
      if (valid) {
        out.Set(i, best);
      } else {
        out.Null(i);
      }
    }
    return Val{out.Finish(), scalar};
  });
}

Val InVal(const ExprNode& n, const std::vector<Val>& args) {
  bool scalar;
  const int64_t len = LengthOf(args, &scalar);
  return Visit(args[0].col->type, [&](auto tag) -> Val {
    using T = typename decltype(tag)::type;
    In<T> x(args[0]);
    std::vector<In<T>> items;
    for (size_t k = 1; k < args.size(); ++k) items.emplace_back(args[k]);
    BoolOut out(TypeId::kBool, len);
    for (int64_t i = 0; i < len; ++i) {
      if (!x.Valid(i)) {
        out.Null(i);
        continue;
      }
      const T v = x[i];
      bool found = false, saw_null = false;
      for (const auto& it : items) {
        if (!it.Valid(i)) {
          saw_null = true;
        } else if (Cmp3(v, it[i]) == 0) {
          found = true;
          break;
        }
      }
      if (found) {
        out.Set(i, !n.negated);
      } else if (saw_null) {
        out.Null(i);
      } else {
        out.Set(i, n.negated);
      }
    }
    return Val{out.Finish(), scalar};
  });
}

Val ConcatVal(const std::vector<Val>& args, bool skip_nulls) {
  bool scalar;
  const int64_t len = LengthOf(args, &scalar);
  std::vector<In<std::string_view>> ins;
  for (const auto& a : args) ins.emplace_back(a);
  StrOut out(TypeId::kUtf8, len);
  std::string s;
  for (int64_t i = 0; i < len; ++i) {
    s.clear();
    bool null = false;
    for (const auto& in : ins) {
      if (!in.Valid(i)) {
        if (!skip_nulls) null = true;
        continue;
      }
      s += in[i];
    }
    if (null) {
      out.Null(i);
    } else {
      out.Set(i, s);
    }
  }
  return Val{out.Finish(), scalar};
}

template <class T>
Val RoundLike(const std::string& f, const Val& a, const Val* digits) {
  const TypeId t = a.col->type;
  if constexpr (std::is_same_v<T, int64_t>) {
    if (f == "abs")
      return Map1<int64_t, int64_t>(t, a, [](int64_t v, int64_t& r) {
        if (v == std::numeric_limits<int64_t>::min()) return false;
        r = v < 0 ? -v : v;
        return true;
      });
    if (digits)  // round(int, n): the int itself
      return Map2<int64_t, int64_t, int64_t>(t, a, *digits, [](int64_t v, int64_t, int64_t& r) {
        r = v;
        return true;
      });
    return a;  // floor, ceil, round of an int
  } else {
    if (f == "abs")
      return Map1<double, double>(t, a, [](double v, double& r) { return r = std::fabs(v), true; });
    if (f == "floor")
      return Map1<double, double>(t, a,
                                  [](double v, double& r) { return r = std::floor(v), true; });
    if (f == "ceil")
      return Map1<double, double>(t, a, [](double v, double& r) { return r = std::ceil(v), true; });
    auto round_to = [](double v, int64_t n, double& r) {
      constexpr int64_t kMaxDigits = 30;
      n = std::clamp<int64_t>(n, 0, kMaxDigits);
      if (n == 0) {
        r = std::round(v);
        return true;
      }
      char buf[400];
      std::snprintf(buf, sizeof buf, "%.*f", static_cast<int>(n), v);
      r = std::strtod(buf, nullptr);
      return true;
    };
    if (!digits)
      return Map1<double, double>(t, a, [&](double v, double& r) { return round_to(v, 0, r); });
    return Map2<double, double, int64_t>(
        t, a, *digits, [&](double v, int64_t n, double& r) { return round_to(v, n, r); });
  }
}

Val CallVal(const ExprNode& n, const std::vector<Val>& args) {
  const std::string& f = n.name;
  const TypeId t = n.type;
  using SV = std::string_view;
  if (f == "coalesce") return CoalesceVal(t, args);
  if (f == "min" || f == "max") return MinMaxVal(f == "max", t, args);
  if (f == "concat") return ConcatVal(args, true);
  if (f == "nullif") {
    return Visit(t, [&](auto tag) -> Val {
      using T = typename decltype(tag)::type;
      bool scalar;
      const int64_t len = LengthOf(args, &scalar);
      In<T> a(args[0]), b(args[1]);
      Out<T> out(t, len);
      for (int64_t i = 0; i < len; ++i) {
        if (!a.Valid(i) || (b.Valid(i) && Cmp3(a[i], b[i]) == 0)) {
          out.Null(i);
        } else {
          out.Set(i, a[i]);
        }
      }
      return Val{out.Finish(), scalar};
    });
  }
  if (f == "length")
    return Map1<int64_t, SV>(t, args[0], [](SV s, int64_t& r) { return r = CodePoints(s), true; });
  if (f == "lower" || f == "upper") {
    const bool up = f == "upper";
    return Map1<std::string, SV>(t, args[0], [up](SV s, std::string& r) {
      ChangeCase(s, up, &r);
      return true;
    });
  }
  if (f == "trim" || f == "ltrim" || f == "rtrim") {
    const bool l = f != "rtrim", r = f != "ltrim";
    return Map1<std::string, SV>(t, args[0], [l, r](SV s, std::string& out) {
      out.assign(Trim(s, l, r));
      return true;
    });
  }
  if (f == "substr") {
    if (args.size() == 2)
      return Map2<std::string, SV, int64_t>(t, args[0], args[1],
                                            [](SV s, int64_t p, std::string& r) {
                                              r.assign(Substr(s, p, 0, false));
                                              return true;
                                            });
    return Map3<std::string, SV, int64_t, int64_t>(t, args[0], args[1], args[2],
                                                   [](SV s, int64_t p, int64_t l, std::string& r) {
                                                     r.assign(Substr(s, p, l, true));
                                                     return true;
                                                   });
  }
  if (f == "replace")
    return Map3<std::string, SV, SV, SV>(t, args[0], args[1], args[2],
                                         [](SV s, SV a, SV b, std::string& r) {
                                           Replace(s, a, b, &r);
                                           return true;
                                         });
  if (f == "starts_with")
    return Map2<bool, SV, SV>(t, args[0], args[1],
                              [](SV s, SV p, bool& r) { return r = s.starts_with(p), true; });
  if (f == "ends_with")
    return Map2<bool, SV, SV>(t, args[0], args[1],
                              [](SV s, SV p, bool& r) { return r = s.ends_with(p), true; });
  if (f == "contains")
    return Map2<bool, SV, SV>(t, args[0], args[1],
                              [](SV s, SV p, bool& r) { return r = s.find(p) != SV::npos, true; });
  if (f == "year" || f == "month" || f == "day") {
    const int part = f == "year" ? 0 : (f == "month" ? 1 : 2);
    Val d = args[0].col->type == TypeId::kDate32 ? args[0] : CastVal(args[0], TypeId::kDate32);
    return Map1<int64_t, int32_t>(t, d, [part](int32_t days, int64_t& r) {
      int y;
      unsigned m, dd;
      CivilFromDays(days, &y, &m, &dd);
      r = part == 0 ? y : (part == 1 ? m : dd);
      return true;
    });
  }
  if (f == "date_diff")
    return Map2<int64_t, int32_t, int32_t>(
        t, args[0], args[1],
        [](int32_t a, int32_t b, int64_t& r) { return r = int64_t{a} - b, true; });
  if (f == "add_days") {
    if (t == TypeId::kDate32)
      return Map2<int32_t, int32_t, int64_t>(
          t, args[0], args[1], [](int32_t d, int64_t k, int32_t& r) {
            const int64_t v = int64_t{d} + std::clamp<int64_t>(k, INT32_MIN * 2LL, INT32_MAX * 2LL);
            if (v < INT32_MIN || v > INT32_MAX) return false;
            r = static_cast<int32_t>(v);
            return true;
          });
    return Map2<int64_t, int64_t, int64_t>(
        t, args[0], args[1], [](int64_t us, int64_t k, int64_t& r) {
          int64_t delta;
          return !__builtin_mul_overflow(k, kMicrosPerDay, &delta) &&
                 !__builtin_add_overflow(us, delta, &r);
        });
  }
  // abs, floor, ceil, round
  const Val* digits = args.size() > 1 ? &args[1] : nullptr;
  if (t == TypeId::kInt64) return RoundLike<int64_t>(f, args[0], digits);
  return RoundLike<double>(f, args[0], digits);
}

// Strict nodes give null whenever an argument is null, so they can be computed
// on a dictionary's distinct values instead of every row.
bool IsStrict(const ExprNode& n, size_t arg) {
  switch (n.kind) {
    case NodeKind::kUnary:
    case NodeKind::kCast:
      return true;
    case NodeKind::kBinary:
      return n.name != "and" && n.name != "or";
    case NodeKind::kIn:
      return arg == 0;  // `'a' in ('a', x)` is true even where x is null
    case NodeKind::kCall:
      return n.name != "coalesce" && n.name != "concat" && n.name != "nullif";
    default:
      return false;
  }
}

// matches(s, 'pattern'): PCRE2 costs up to microseconds a row, so a large column
// is matched in chunks on several threads, each with its own matcher, then the
// results are written in order. A match that reaches the regex limits fails
// the evaluation, naming the first such row.
Result<Val> MatchesVal(const ExprNode& n, const Val& a) {
  const Regex& re = *n.regex;
  const int64_t rows = a.length();
  In<std::string_view> ia(a);
  enum : uint8_t { kNo, kYes, kNull };
  std::vector<uint8_t> hit(static_cast<size_t>(rows));
  constexpr int64_t kChunk = 1 << 13;
  const int64_t chunks = (rows + kChunk - 1) / kChunk;
  const int threads =
      rows >= 2 * kChunk ? static_cast<int>(std::min<int64_t>(chunks, MaxThreads())) : 1;
  std::atomic<int64_t> next_chunk{0};
  // The first failing row of each thread; the earliest of all is reported.
  std::atomic<int64_t> first_failure{rows};
  std::vector<std::pair<int64_t, Status>> failures(static_cast<size_t>(threads),
                                                   {rows, Status::Ok()});
  ParallelFor(threads, threads > 1, [&](int64_t thread) {
    Regex::Matcher m(re);
    for (int64_t k = next_chunk.fetch_add(1); k < chunks; k = next_chunk.fetch_add(1)) {
      const int64_t end = std::min(rows, (k + 1) * kChunk);
      for (int64_t i = k * kChunk; i < end; ++i) {
        if (i >= first_failure.load(std::memory_order_relaxed)) return;
        if (!ia.Valid(i)) {
          hit[static_cast<size_t>(i)] = kNull;
          continue;
        }
        auto found = m.Search(ia[i]);
        if (!found.ok()) {
          failures[static_cast<size_t>(thread)] = std::make_pair(i, found.status());
          int64_t seen = first_failure.load();
          while (i < seen && !first_failure.compare_exchange_weak(seen, i)) {
          }
          return;
        }
        hit[static_cast<size_t>(i)] = *found ? kYes : kNo;
      }
    }
  });
  const auto first =
      std::min_element(failures.begin(), failures.end(),
                       [](const auto& x, const auto& y) { return x.first < y.first; });
  if (first->first < rows) {
    const ExprNode& arg = *n.args[0];
    return first->second.WithContext(
        arg.kind == NodeKind::kColumn
            ? fmt::format("matches() on column '{}', row {}", arg.name, first->first + 1)
            : fmt::format("matches(), row {}", first->first + 1));
  }
  Out<bool> out(TypeId::kBool, rows);
  for (int64_t i = 0; i < rows; ++i) {
    const uint8_t h = hit[static_cast<size_t>(i)];
    if (h == kNull)
      out.Null(i);
    else
      out.Set(i, h == kYes);
  }
  return Val{out.Finish(), a.scalar};
}

Result<Val> Apply(const ExprNode& n, const std::vector<Val>& args) {
  switch (n.kind) {
    case NodeKind::kUnary:
      if (n.name == "not")
        return Map1<bool, bool>(TypeId::kBool, args[0],
                                [](bool v, bool& r) { return r = !v, true; });
      if (n.type == TypeId::kInt64)
        return Map1<int64_t, int64_t>(n.type, args[0], [](int64_t v, int64_t& r) {
          return !__builtin_sub_overflow(int64_t{0}, v, &r);
        });
      return Map1<double, double>(n.type, args[0],
                                  [](double v, double& r) { return r = -v, true; });
    case NodeKind::kBinary:
      if (n.name == "and" || n.name == "or") return Logic(n.name == "and", args[0], args[1]);
      if (n.name == "||") return ConcatVal(args, false);
      if (n.type == TypeId::kBool) return Compare(n.name, args[0], args[1]);
      return Arithmetic(n.name, args[0], args[1]);
    case NodeKind::kIsNull: {
      const Val& a = args[0];
      const int64_t len = a.length();
      BoolOut out(TypeId::kBool, len);
      for (int64_t i = 0; i < len; ++i) out.Set(i, a.col->IsNull(a.scalar ? 0 : i) != n.negated);
      return Val{out.Finish(), a.scalar};
    }
    case NodeKind::kIn:
      return InVal(n, args);
    case NodeKind::kCase:
      return CaseVal(n, args);
    case NodeKind::kCast:
      return CastVal(args[0], n.type);
    case NodeKind::kCall:
      if (n.name == "matches") return MatchesVal(n, args[0]);
      return CallVal(n, args);
    default:
      return args[0];
  }
}

Result<Val> Eval(const ExprNode& n, const Table& table) {
  if (n.kind == NodeKind::kLiteral) return LiteralVal(n);
  if (n.kind == NodeKind::kColumn) {
    ColumnPtr c = table.ColumnByName(n.name);
    if (!c) return Status::Invalid(fmt::format("no column '{}' in the table", n.name));
    if (c->type != n.type)
      return Status::Invalid(
          fmt::format("column '{}' is {}, but the expression was compiled for {}", n.name,
                      TypeName(c->type), TypeName(n.type)));
    return Full(std::move(c));
  }
  std::vector<Val> args;
  args.reserve(n.args.size());
  for (const auto& a : n.args) {
    ALAMBIC_ASSIGN_OR_RETURN(Val v, Eval(*a, table));
    args.push_back(std::move(v));
  }
  // One dictionary-encoded column among scalars: compute on its distinct values.
  int full = -1, fulls = 0;
  for (size_t k = 0; k < args.size(); ++k)
    if (!args[k].scalar) full = static_cast<int>(k), ++fulls;
  if (fulls == 1 && IsStrict(n, static_cast<size_t>(full))) {
    const ColumnPtr& c = args[static_cast<size_t>(full)].col;
    if (c->is_dictionary() && c->dictionary->length < c->length) {
      std::vector<Val> on_dict = args;
      on_dict[static_cast<size_t>(full)] = Full(c->dictionary);
      auto r = Apply(n, on_dict);
      // An error names a row of the column, not an entry of its dictionary.
      if (!r.ok()) return Apply(n, args);
      return Full(ExpandDictionary(r->col, *c));
    }
  }
  return Apply(n, args);
}

}  // namespace

Result<ColumnPtr> TypedExpr::Evaluate(const Table& table) const {
  ALAMBIC_ASSIGN_OR_RETURN(Val v, Eval(*root_, table));
  if (!v.scalar && v.col->length != table.num_rows())
    return Status::Internal("expression result has the wrong number of rows");
  return Broadcast(v, table.num_rows());
}

std::string ClosestName(std::string_view name, const std::vector<std::string>& candidates) {
  const std::string lower = Lower(name);
  const int len = static_cast<int>(CodePoints(name));
  const int limit = std::max(1, len / 3);
  std::string best;
  int best_d = limit + 1;
  for (const auto& c : candidates) {
    if (c == name) continue;
    const int d = DamerauDistance(lower, Lower(c));
    if (d < best_d && d < len) best_d = d, best = c;
  }
  return best;
}

ColumnPtr TakeRows(const Column& col, const std::vector<int64_t>& rows) {
  const auto n = static_cast<int64_t>(rows.size());
  if (col.is_dictionary()) {
    auto out = std::make_shared<Column>();
    out->type = TypeId::kUtf8;
    out->length = n;
    out->dictionary = col.dictionary;
    out->data.resize(rows.size() * sizeof(int32_t));
    auto* idx = reinterpret_cast<int32_t*>(out->data.data());
    const int32_t* src = col.Int32Data();
    int64_t nulls = 0;
    if (col.null_count > 0) out->validity.assign(static_cast<size_t>((n + 7) / 8), 0xFF);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t j = rows[static_cast<size_t>(i)];
      idx[i] = src[j];
      if (col.null_count > 0 && col.IsNull(j)) {
        out->validity[static_cast<size_t>(i >> 3)] &= static_cast<uint8_t>(~(1u << (i & 7)));
        idx[i] = 0;
        ++nulls;
      }
    }
    FinishValidity(out.get(), nulls);
    return out;
  }
  return Gather(
      col, n, [&](int64_t i) { return rows[static_cast<size_t>(i)]; },
      [](int64_t) { return true; });
}

}  // namespace alambic
