// The expression language written as PostgreSQL SQL (ToPostgresSql in
// core/table/expr.h), for push-down to a PostgreSQL store.
//
// Each node becomes an SQL expression computing exactly what the local
// kernels (eval.cc) compute, row by row, whatever the session's settings:
//   - literals are bound parameters ($k::type), never pasted into the text;
//     columns are referenced through the caller (which quotes them);
//   - int64 + - * are computed in numeric and give null outside int64 (the
//     local engine's null on overflow; PostgreSQL would raise an error);
//     // and % give null on a zero divisor, // floors;
//   - float64 results that are NaN give null, a zero divisor gives null;
//     int64 and float64 compare exactly (PostgreSQL would round the int64 to
//     a double), NaN after every number as in PostgreSQL;
//   - text compares byte-wise (COLLATE "C");
//   - dates and timestamps are read in UTC, never in the session's time zone.
// A value PostgreSQL refuses where the local engine does not (a float64
// overflow, a date beyond PostgreSQL's range) fails the query: the recipe then
// runs in the local engine. What cannot be reproduced exactly is refused with
// "not expressible: <why>".
//
// An operand used more than once in a translation is computed once: the
// operands are bound in a one-row subquery, (SELECT <body> FROM (SELECT <a>
// AS x_1) AS l_1), unless they are columns, parameters or NULL.
#include <charconv>
#include <cmath>
#include <functional>

#include <fmt/format.h>

#include "core/net/postgres.h"
#include "core/table/expr.h"
#include "core/table/expr/internal.h"

namespace alambic {

using namespace expr_internal;  // this file is part of the expression language

namespace {

constexpr const char* kNotExpressible = "not expressible: ";
constexpr const char* kMinI64 = "'-9223372036854775808'::bigint";
constexpr const char* kNaN = "'NaN'::float8";

Status NotExpressible(const std::string& why) { return Status::Invalid(kNotExpressible + why); }

// One translated node: its SQL and whether it may be repeated as is (a column,
// a parameter, NULL).
struct Sql {
  std::string text;
  bool simple = false;
};

}  // namespace

class ExprSqlWriter {
 public:
  ExprSqlWriter(const SqlColumnRef& column, std::vector<std::string>* params)
      : column_(column), params_(params) {}

  static std::string Refused(const ExprNode& n) {
    if (n.kind == NodeKind::kCall) {
      static const char* const kKnown[] = {
          "to_int",       "to_float",  "to_string", "to_bool", "date",  "to_date", "timestamp",
          "to_timestamp", "if",        "coalesce",  "min",     "max",   "nullif",  "concat",
          "length",       "lower",     "upper",     "trim",    "ltrim", "rtrim",   "replace",
          "starts_with",  "ends_with", "contains",  "year",    "month", "day",     "date_diff",
          "add_days",     "abs",       "floor",     "ceil",    "round"};
      if (n.name == "matches") return "matches() uses PCRE2 regular expressions, not PostgreSQL's";
      if (n.name == "round")
        return "round() rounds halves away from zero (to digits through decimal text); "
               "PostgreSQL's round(double precision) rounds them to even";
      if (n.name == "substr" || n.name == "substring")
        return "substr() follows SQLite's rules for negative positions, not PostgreSQL's";
      bool known = false;
      for (const char* k : kKnown) known = known || n.name == k;
      if (!known) return fmt::format("function {}() has no SQL translation", n.name);
    }
    for (const auto& a : n.args)
      if (std::string why = Refused(*a); !why.empty()) return why;
    return "";
  }
  static std::string Refused(const Expr& e) { return e.root_ ? Refused(*e.root_) : ""; }

  static Result<std::string> Run(const TypedExpr& e, const SqlColumnRef& column,
                                 std::vector<std::string>* params) {
    ExprSqlWriter w(column, params);
    const size_t before = params->size();
    auto out = w.Write(*e.root_);
    if (!out.ok()) {
      params->resize(before);
      return out.status();
    }
    return out->text;
  }

 private:
  std::string Param(std::string value, TypeId t) {
    params_->push_back(std::move(value));
    return fmt::format("${}::{}", params_->size(), ColumnTypeToPg(t));
  }

  // body(names) with `args` bound once each.
  Sql Let(const std::vector<Sql>& args,
          const std::function<std::string(const std::vector<std::string>&)>& body) {
    bool simple = true;
    for (const auto& a : args) simple = simple && a.simple;
    std::vector<std::string> names;
    if (simple) {
      for (const auto& a : args) names.push_back(a.text);
      return {body(names), false};
    }
    const int id = ++lets_;
    std::string select;
    for (size_t k = 0; k < args.size(); ++k) {
      const std::string name = fmt::format("x_{}", k + 1);
      select += fmt::format("{}{} AS {}", k ? ", " : "", args[k].text, name);
      names.push_back(fmt::format("l_{}.{}", id, name));
    }
    return {fmt::format("(SELECT {} FROM (SELECT {}) AS l_{})", body(names), select, id), false};
  }

  // Null outside int64, else the numeric `v` as a bigint (`v` appears once).
  static std::string ToI64(const std::string& v) {
    return fmt::format(
        "NULLIF(NULLIF(LEAST(GREATEST({}, -9223372036854775809::numeric), "
        "9223372036854775808::numeric), 9223372036854775808::numeric), "
        "-9223372036854775809::numeric)::bigint",
        v);
  }

  Result<Sql> Literal(const ExprNode& n) {
    if (n.name == "null" || n.type == kNullType)
      return Sql{fmt::format("NULL::{}", ColumnTypeToPg(n.type)), true};
    switch (n.type) {
      case TypeId::kInt64:
        return Sql{Param(std::to_string(n.i), n.type), true};
      case TypeId::kFloat64: {
        if (std::isnan(n.f)) return Sql{Param("NaN", n.type), true};
        if (std::isinf(n.f)) return Sql{Param(n.f > 0 ? "Infinity" : "-Infinity", n.type), true};
        char buf[64];
        auto r = std::to_chars(buf, buf + sizeof buf, n.f);  // shortest, round-trips
        return Sql{Param(std::string(buf, r.ptr), n.type), true};
      }
      case TypeId::kBool:
        return Sql{Param(n.b ? "true" : "false", n.type), true};
      case TypeId::kDate32:
        params_->push_back(std::to_string(n.i));
        return Sql{fmt::format("(DATE '1970-01-01' + ${}::integer)", params_->size()), false};
      case TypeId::kTimestamp: {
        // Whole seconds (rounded down) and microseconds, both exact and without
        // overflow near the ends of int64.
        int64_t secs = n.i / 1000000, us = n.i % 1000000;
        if (us < 0) {
          us += 1000000;
          --secs;
        }
        params_->push_back(std::to_string(secs));
        params_->push_back(std::to_string(us));
        return Sql{fmt::format("((TIMESTAMP '1970-01-01' + ${}::bigint * INTERVAL '1 second' + "
                               "${}::bigint * INTERVAL '1 microsecond') AT TIME ZONE 'UTC')",
                               params_->size() - 1, params_->size()),
                   false};
      }
      default:
        if (n.s.find('\0') != std::string::npos)
          return NotExpressible("a string literal holds a NUL character");
        return Sql{Param(n.s, TypeId::kUtf8), true};
    }
  }

  // A three-way comparison (-1, 0, 1) of an int64 and a float64 as the local
  // engine makes it: exact (PostgreSQL would round the int64 to a double), NaN
  // after every number; null when either is null.
  Sql Compare3(const Sql& a, TypeId ta, const Sql& b, TypeId tb) {
    if (ta == TypeId::kFloat64 && tb == TypeId::kInt64) {
      Sql swapped = Compare3(b, tb, a, ta);
      return {"(-" + swapped.text + ")", false};
    }
    return Let({a, b}, [&](const std::vector<std::string>& v) {
      return fmt::format(
          "CASE WHEN {0} IS NULL OR {1} IS NULL THEN NULL WHEN {1} = {2} THEN -1 WHEN {0}::float8 "
          "< {1} THEN -1 WHEN {0}::float8 > {1} THEN 1 WHEN {1} >= 9223372036854775808::float8 "
          "THEN -1 WHEN {1} < -9223372036854775808::float8 THEN 1 WHEN {0} < {1}::bigint THEN -1 "
          "WHEN {0} > {1}::bigint THEN 1 ELSE 0 END",
          v[0], v[1], kNaN);
    });
  }

  Result<Sql> Comparison(const ExprNode& n, const Sql& a, const Sql& b) {
    const TypeId ta = n.args[0]->type, tb = n.args[1]->type;
    const std::string op = n.name == "!=" ? "<>" : n.name;
    // float64 against float64 compares as in PostgreSQL (NaN equal to NaN and
    // after every number, -0 equal to 0); int64 against float64 exactly.
    if (ta != tb) {
      Sql c = Compare3(a, ta, b, tb);
      return Sql{fmt::format("(({}) {} 0)", c.text, op), false};
    }
    if (ta == TypeId::kUtf8)
      return Sql{fmt::format("({} COLLATE \"C\" {} {})", a.text, op, b.text), false};
    return Sql{fmt::format("({} {} {})", a.text, op, b.text), false};
  }

  Result<Sql> Arithmetic(const ExprNode& n, const Sql& a, const Sql& b) {
    const std::string& op = n.name;
    if (n.type == TypeId::kInt64) {
      if (op == "+" || op == "-" || op == "*")
        return Sql{ToI64(fmt::format("({}::numeric {} {})", a.text, op, b.text)), false};
      if (op == "%") return Sql{fmt::format("({} % NULLIF({}, 0))", a.text, b.text), false};
      // `//`: floored, null on a zero divisor and on int64 min // -1.
      return Let({a, b}, [&](const std::vector<std::string>& v) {
        return fmt::format(
            "CASE WHEN {1} = 0 OR ({1} = -1 AND {0} = {2}) THEN NULL ELSE {0} / {1} - CASE WHEN "
            "{0} % {1} <> 0 AND (({0} % {1} < 0) <> ({1} < 0)) THEN 1 ELSE 0 END END",
            v[0], v[1], kMinI64);
      });
    }
    if (op == "+" || op == "-" || op == "*")
      return Sql{fmt::format("NULLIF(({} {} {}), {})", a.text, op, b.text, kNaN), false};
    if (op == "/")
      return Sql{fmt::format("NULLIF(({} / NULLIF({}, 0::float8)), {})", a.text, b.text, kNaN),
                 false};
    return NotExpressible(fmt::format(
        "'{}' on float64 values (the local engine follows Python's fmod and floor rules, which "
        "PostgreSQL has no operator for)",
        op));
  }

  Result<Sql> Cast(const ExprNode& n, const Sql& a) {
    const TypeId from = n.args[0]->type, to = n.type;
    if (from == to) return a;
    switch (to) {
      case TypeId::kFloat64:
        if (from == TypeId::kInt64) return Sql{fmt::format("({})::float8", a.text), false};
        if (from == TypeId::kBool) return Sql{fmt::format("({})::integer::float8", a.text), false};
        break;
      case TypeId::kInt64:
        if (from == TypeId::kBool) return Sql{fmt::format("({})::integer::bigint", a.text), false};
        if (from == TypeId::kFloat64)  // truncated; null when NaN or outside int64
          return Let({a}, [](const std::vector<std::string>& v) {
            return fmt::format(
                "CASE WHEN {0} = {1} OR {0} >= 9223372036854775808::float8 OR {0} < "
                "-9223372036854775808::float8 THEN NULL ELSE trunc({0})::bigint END",
                v[0], kNaN);
          });
        break;
      case TypeId::kBool:
        if (from == TypeId::kInt64) return Sql{fmt::format("({} <> 0)", a.text), false};
        if (from == TypeId::kFloat64) return Sql{fmt::format("({} <> 0::float8)", a.text), false};
        break;
      case TypeId::kTimestamp:
        if (from == TypeId::kDate32)
          return Sql{fmt::format("(({})::timestamp AT TIME ZONE 'UTC')", a.text), false};
        break;
      case TypeId::kDate32:
        if (from == TypeId::kTimestamp)
          return Sql{fmt::format("(({}) AT TIME ZONE 'UTC')::date", a.text), false};
        break;
      case TypeId::kUtf8:
        if (from == TypeId::kInt64 || from == TypeId::kBool)
          return Sql{fmt::format("({})::text", a.text), false};
        break;
      default:
        break;
    }
    if (from == TypeId::kUtf8)
      return NotExpressible(
          fmt::format("converting utf8 to {} (the local engine gives null on text it cannot read; "
                      "PostgreSQL's cast fails the query and reads some spellings differently)",
                      TypeName(to)));
    return NotExpressible(
        fmt::format("converting {} to {} (PostgreSQL writes these values differently)",
                    TypeName(from), TypeName(to)));
  }

  static std::string Join(const std::vector<Sql>& args, size_t from = 0) {
    std::string out;
    for (size_t k = from; k < args.size(); ++k) out += (k > from ? ", " : "") + args[k].text;
    return out;
  }

  // The characters lower() (upper() when `upper`) changes, and what they become.
  static std::pair<std::string, std::string> CaseMap(bool upper) {
    std::string from, to;
    auto add = [](std::string* s, unsigned cp) {
      if (cp < 0x80) {
        *s += static_cast<char>(cp);
      } else {
        *s += static_cast<char>(0xC0 | (cp >> 6));
        *s += static_cast<char>(0x80 | (cp & 0x3F));
      }
    };
    for (unsigned c = 'A'; c <= 'Z'; ++c)
      add(&from, upper ? c + 32 : c), add(&to, upper ? c : c + 32);
    for (unsigned c = 0xC0; c <= 0xDE; ++c) {
      if (c == 0xD7) continue;
      add(&from, upper ? c + 0x20 : c);
      add(&to, upper ? c : c + 0x20);
    }
    add(&from, upper ? 0x153 : 0x152);
    add(&to, upper ? 0x152 : 0x153);
    add(&from, upper ? 0xFF : 0x178);
    add(&to, upper ? 0x178 : 0xFF);
    return {from, to};
  }

  Result<Sql> Call(const ExprNode& n, const std::vector<Sql>& args) {
    const std::string& f = n.name;
    const TypeId t = n.type;
    if (f == "coalesce") return Sql{"COALESCE(" + Join(args) + ")", false};
    if (f == "nullif") return Sql{fmt::format("NULLIF({}, {})", args[0].text, args[1].text), false};
    if (f == "concat") return Sql{"concat(" + Join(args) + ")", false};
    if (f == "min" || f == "max") {
      if (t == TypeId::kFloat64)
        return NotExpressible(
            fmt::format("{}() of float64 values (NaN orders differently in PostgreSQL)", f));
      // Null when any argument is null (PostgreSQL's LEAST/GREATEST skip nulls).
      return Let(args, [&](const std::vector<std::string>& v) {
        std::string any_null, list;
        for (size_t k = 0; k < v.size(); ++k) {
          any_null += (k ? " OR " : "") + v[k] + " IS NULL";
          list += (k ? ", " : "") + v[k] + (t == TypeId::kUtf8 ? " COLLATE \"C\"" : "");
        }
        return fmt::format("CASE WHEN {} THEN NULL ELSE {}({}) END", any_null,
                           f == "min" ? "LEAST" : "GREATEST", list);
      });
    }
    if (f == "length") return Sql{fmt::format("char_length({})::bigint", args[0].text), false};
    if (f == "lower" || f == "upper") {
      auto [from, to] = CaseMap(f == "upper");
      const std::string pf = Param(from, TypeId::kUtf8);
      const std::string pt = Param(to, TypeId::kUtf8);
      return Sql{fmt::format("translate({}, {}, {})", args[0].text, pf, pt), false};
    }
    if (f == "trim" || f == "ltrim" || f == "rtrim") {
      const std::string chars = Param(" \t\n\r", TypeId::kUtf8);
      return Sql{fmt::format("{}({}, {})", f == "trim" ? "btrim" : f, args[0].text, chars), false};
    }
    if (f == "replace")
      return Sql{fmt::format("replace({}, {}, {})", args[0].text, args[1].text, args[2].text),
                 false};
    if (f == "starts_with")
      return Sql{fmt::format("starts_with({} COLLATE \"C\", {})", args[0].text, args[1].text),
                 false};
    if (f == "ends_with")
      return Sql{fmt::format("starts_with(reverse({}) COLLATE \"C\", reverse({}))", args[0].text,
                             args[1].text),
                 false};
    if (f == "contains")
      return Sql{fmt::format("(strpos({}, {}) > 0)", args[0].text, args[1].text), false};
    if (f == "matches")
      return NotExpressible(
          "matches() uses PCRE2 regular expressions; PostgreSQL's are POSIX ones, which "
          "read some patterns differently");
    if (f == "substr")
      return NotExpressible(
          "substr() follows SQLite's rules for negative positions and lengths, which "
          "PostgreSQL's substr() does not");
    if (f == "year" || f == "month" || f == "day") {
      Sql d = args[0];
      if (n.args[0]->type == TypeId::kTimestamp)
        d = {fmt::format("(({}) AT TIME ZONE 'UTC')::date", d.text), false};
      if (f != "year") return Sql{fmt::format("extract({} FROM {})::bigint", f, d.text), false};
      // PostgreSQL has no year 0 (1 BC is -1); the local calendar does (1 BC is 0).
      return Let({d}, [](const std::vector<std::string>& v) {
        return fmt::format(
            "extract(year FROM {0})::bigint + CASE WHEN {0} < DATE '0001-01-01' THEN 1 ELSE 0 END",
            v[0]);
      });
    }
    if (f == "date_diff")
      return Sql{fmt::format("({} - {})::bigint", args[0].text, args[1].text), false};
    if (f == "add_days") {
      if (t == TypeId::kDate32)
        return Sql{fmt::format("({} + ({})::integer)", args[0].text, args[1].text), false};
      return Sql{fmt::format("((({}) AT TIME ZONE 'UTC') + make_interval(days => ({})::integer)) "
                             "AT TIME ZONE 'UTC'",
                             args[0].text, args[1].text),
                 false};
    }
    if (f == "abs")
      return Sql{t == TypeId::kInt64 ? fmt::format("abs(NULLIF({}, {}))", args[0].text, kMinI64)
                                     : fmt::format("abs({})", args[0].text),
                 false};
    if (f == "floor" || f == "ceil" || f == "round") {
      if (t == TypeId::kInt64) {
        if (args.size() == 1) return args[0];
        return Sql{
            fmt::format("CASE WHEN {} IS NULL THEN NULL ELSE {} END", args[1].text, args[0].text),
            false};
      }
      if (f == "round")
        return NotExpressible(
            "round() of a float64 rounds halves away from zero (and to digits through decimal "
            "text); PostgreSQL's round(double precision) rounds halves to even");
      return Sql{fmt::format("{}({})", f, args[0].text), false};
    }
    return NotExpressible(fmt::format("function {}() has no SQL translation", f));
  }

  Result<Sql> Write(const ExprNode& n) {
    if (n.kind == NodeKind::kLiteral) return Literal(n);
    if (n.kind == NodeKind::kColumn) return Sql{column_(n.name), true};
    std::vector<Sql> args;
    for (const auto& a : n.args) {
      ALAMBIC_ASSIGN_OR_RETURN(Sql s, Write(*a));
      args.push_back(std::move(s));
    }
    switch (n.kind) {
      case NodeKind::kUnary:
        if (n.name == "not") return Sql{fmt::format("(NOT {})", args[0].text), false};
        if (n.type == TypeId::kInt64)
          return Sql{fmt::format("(-NULLIF({}, {}))", args[0].text, kMinI64), false};
        return Sql{fmt::format("(-{})", args[0].text), false};
      case NodeKind::kBinary:
        if (n.name == "and" || n.name == "or")
          return Sql{
              fmt::format("({} {} {})", args[0].text, n.name == "and" ? "AND" : "OR", args[1].text),
              false};
        if (n.name == "||")
          return Sql{fmt::format("({} || {})", args[0].text, args[1].text), false};
        if (n.type == TypeId::kBool) return Comparison(n, args[0], args[1]);
        return Arithmetic(n, args[0], args[1]);
      case NodeKind::kIsNull:
        return Sql{fmt::format("({} IS {}NULL)", args[0].text, n.negated ? "NOT " : ""), false};
      case NodeKind::kIn:
        return Sql{
            fmt::format("({} {}IN ({}))", args[0].text, n.negated ? "NOT " : "", Join(args, 1)),
            false};
      case NodeKind::kCase: {
        const size_t pairs = (args.size() - (n.has_else ? 1 : 0)) / 2;
        std::string out = "CASE";
        for (size_t k = 0; k < pairs; ++k)
          out += fmt::format(" WHEN {} THEN {}", args[2 * k].text, args[2 * k + 1].text);
        if (n.has_else) out += " ELSE " + args.back().text;
        return Sql{fmt::format("({} END)::{}", out, ColumnTypeToPg(n.type)), false};
      }
      case NodeKind::kCast:
        return Cast(n, args[0]);
      case NodeKind::kCall:
        return Call(n, args);
      default:
        return Status::Internal("unknown expression node");
    }
  }

  const SqlColumnRef& column_;
  std::vector<std::string>* params_;
  int lets_ = 0;
};

Result<std::string> ToPostgresSql(const TypedExpr& e, const SqlColumnRef& column,
                                  std::vector<std::string>* params) {
  return ExprSqlWriter::Run(e, column, params);
}

std::string SqlRefusedCall(const Expr& e) { return ExprSqlWriter::Refused(e); }

bool IsNotExpressible(const Status& st) {
  return !st.ok() && st.message().rfind(kNotExpressible, 0) == 0;
}

}  // namespace alambic
