// The parser of the expression language: tokens -> syntax tree (internal.h).
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

#include "core/table/expr/internal.h"

namespace alambic::expr_internal {

namespace {

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

}  // namespace

Result<NodePtr> ParseTree(std::string_view text, std::vector<std::string>* columns) {
  ALAMBIC_ASSIGN_OR_RETURN(std::vector<Token> toks, Lex(text));
  Parser p(text, std::move(toks));
  ALAMBIC_ASSIGN_OR_RETURN(NodePtr root, p.ParseAll());
  *columns = std::move(p.columns);
  return root;
}

}  // namespace alambic::expr_internal
