// The type checker of the expression language: syntax tree -> typed tree
// (ExprCompiler, a friend of Expr and TypedExpr), and ClosestName.
#include <algorithm>
#include <cctype>
#include <unordered_map>

#include <fmt/format.h>

#include "core/table/expr.h"
#include "core/table/expr/internal.h"
#include "core/table/similarity.h"

namespace alambic {

using namespace expr_internal;  // this file is part of the expression language

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
    Expr e;
    ALAMBIC_ASSIGN_OR_RETURN(e.root_, expr_internal::ParseTree(text, &e.columns_));
    e.text_ = std::string(text);
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

}  // namespace alambic
