// Internals of the expression language (core/table/expr.h), shared by its
// parts and by nothing else: the syntax tree, the tokens, and the date, text
// and number helpers the parser, the type checker and the kernels all use.
//   lex.cc      text -> tokens
//   parse.cc    tokens -> syntax tree (recursive descent)
//   compile.cc  syntax tree -> typed tree (type checking, ExprCompiler)
//   eval.cc     typed tree -> column (vectorised kernels)
//   values.cc   the helpers declared below
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "core/base/status.h"
#include "core/table/regex.h"
#include "core/table/table.h"

namespace alambic {

namespace expr_internal {

// The type of an untyped `null` literal, before it takes the type of its context.
constexpr TypeId kNullType = static_cast<TypeId>(200);
// Nesting deeper than this is refused (parsing and evaluation recurse).
constexpr int kMaxDepth = 256;
// Columns listed in an "unknown column" message.
constexpr size_t kMaxListedColumns = 10;
constexpr int64_t kMicrosPerDay = 86400LL * 1000000LL;

inline const char* TyName(TypeId t) { return t == kNullType ? "null" : TypeName(t); }
inline bool IsNumeric(TypeId t) { return t == TypeId::kInt64 || t == TypeId::kFloat64; }
inline bool IsTemporal(TypeId t) { return t == TypeId::kDate32 || t == TypeId::kTimestamp; }

}  // namespace expr_internal

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
  TypeId type = expr_internal::kNullType;  // after Compile; literal type before
  int depth = 1;
  std::shared_ptr<const Regex> regex;  // matches()
};

using NodePtr = std::shared_ptr<const ExprNode>;

namespace expr_internal {

// ASCII lower case.
std::string Lower(std::string_view s);
// "YYYY-MM-DD" to days since 1970-01-01; false when malformed.
bool ParseDate(std::string_view s, int32_t* days);
// "YYYY-MM-DD[ T]HH:MM:SS[.ffffff]" to microseconds since the epoch; false when malformed.
bool ParseTimestamp(std::string_view s, int64_t* micros);
// Division rounded toward negative infinity (b != 0).
int64_t FloorDiv(int64_t a, int64_t b);
// Whether `c` is a UTF-8 continuation byte.
bool IsContinuation(unsigned char c);
int64_t CodePoints(std::string_view s);
// Byte offset of code point `cp` (clamped to the end).
size_t ByteOffset(std::string_view s, int64_t cp);
// ASCII letters, Latin-1 letters, Œ/œ and Ÿ/ÿ: enough for French text.
void ChangeCase(std::string_view s, bool upper, std::string* out);
bool IsSpace(char c);
std::string_view Trim(std::string_view s, bool left, bool right);
// SQL substr(): 1-based code points; p2 is a length when has_len.
std::string_view Substr(std::string_view s, int64_t p1, int64_t p2, bool has_len);
void Replace(std::string_view s, std::string_view from, std::string_view to, std::string* out);
// Exact three-way comparison of an int64 with a double (NaN sorts after every number).
int CompareIntDouble(int64_t i, double d);

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

// `d` truncated to an int64; false when NaN or out of range.
bool DoubleToInt(double d, int64_t* out);

// "line:col" of a byte offset, columns counted in code points.
std::string Place(std::string_view text, size_t pos);
// Invalid "line:col: MSG".
Status ErrorAt(std::string_view text, size_t pos, std::string_view msg);

// ---------------------------------------------------------------------------
// Lexer.

enum class Tok { kIdent, kQuotedIdent, kInt, kFloat, kString, kOp, kEnd };

struct Token {
  Tok kind = Tok::kEnd;
  size_t pos = 0;
  std::string text;  // identifier, operator or string value; number spelling
  std::string word;  // lower-cased identifier (keywords), empty otherwise
};

// The tokens of `text`, ending with a kEnd token; errors are "line:col: message".
Result<std::vector<Token>> Lex(std::string_view text);

// The syntax tree of `text` and the columns it names (in order of first
// appearance, without repeats); errors are "line:col: message".
Result<NodePtr> ParseTree(std::string_view text, std::vector<std::string>* columns);

}  // namespace expr_internal
}  // namespace alambic
