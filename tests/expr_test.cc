// The expression language (core/table/expr.h): parsing, type checking, every
// operator and function, null semantics, dictionary inputs, an oracle against
// SQLite, and a 1M-row evaluation.
#include "core/table/expr.h"

#include <sqlite3.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/test_util.h"

namespace alambic::expr_test {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using V = std::vector<std::string>;

constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

ColumnPtr Ints(const std::vector<std::optional<int64_t>>& v) {
  ColumnBuilder b(TypeId::kInt64);
  for (const auto& x : v) x ? b.AppendInt64(*x) : b.AppendNull();
  return b.Finish();
}
ColumnPtr Doubles(const std::vector<std::optional<double>>& v) {
  ColumnBuilder b(TypeId::kFloat64);
  for (const auto& x : v) x ? b.AppendDouble(*x) : b.AppendNull();
  return b.Finish();
}
ColumnPtr Bools(const std::vector<std::optional<bool>>& v) {
  ColumnBuilder b(TypeId::kBool);
  for (const auto& x : v) x ? b.AppendBool(*x) : b.AppendNull();
  return b.Finish();
}
ColumnPtr Strings(const std::vector<std::optional<std::string>>& v) {
  ColumnBuilder b(TypeId::kUtf8);
  for (const auto& x : v) x ? b.AppendString(*x) : b.AppendNull();
  return b.Finish();
}
ColumnPtr Dates(const std::vector<std::optional<std::string>>& v) {
  ColumnBuilder b(TypeId::kDate32);
  for (const auto& x : v) {
    if (!x) {
      b.AppendNull();
      continue;
    }
    const int y = std::stoi(x->substr(0, 4));
    const auto m = static_cast<unsigned>(std::stoi(x->substr(5, 2)));
    const auto d = static_cast<unsigned>(std::stoi(x->substr(8, 2)));
    b.AppendDate32(DaysFromCivil(y, m, d));
  }
  return b.Finish();
}

Table MakeTable(const std::vector<std::string>& names, const std::vector<ColumnPtr>& cols) {
  Schema s;
  for (size_t i = 0; i < names.size(); ++i) s.fields.push_back({names[i], cols[i]->type});
  auto t = Table::Make(s, cols);
  EXPECT_TRUE(t.ok()) << t.status().message();
  return t.ok() ? *t : Table();
}

// Four rows covering each type, with a null in row 3.
Table Sample() {
  return MakeTable(
      {"i", "f", "s", "b", "d", "name with space"},
      {Ints({1, -7, std::nullopt, 10}), Doubles({1.5, -0.5, 2.0, std::nullopt}),
       Strings({"Abc", "", std::nullopt, "Été  x"}), Bools({true, false, std::nullopt, true}),
       Dates({"2025-01-31", "2024-02-29", std::nullopt, "1970-01-01"}),
       Ints({100, 200, 300, 400})});
}

V Cells(const Column& c) {
  V out;
  for (int64_t i = 0; i < c.length; ++i) out.push_back(c.IsNull(i) ? "null" : FormatCell(c, i));
  return out;
}

V Eval(const std::string& text, const Table& t = Sample()) {
  auto e = Compile(text, t.schema());
  EXPECT_TRUE(e.ok()) << text << ": " << e.status().message();
  if (!e.ok()) return {};
  auto c = e->Evaluate(t);
  EXPECT_TRUE(c.ok()) << text << ": " << c.status().message();
  if (!c.ok()) return {};
  EXPECT_EQ((*c)->type, e->type()) << text;
  EXPECT_TRUE((*c)->Validate().ok()) << text;
  return Cells(**c);
}

// The value of an expression without columns (one-row table).
std::string One(const std::string& text) {
  Table t = MakeTable({"z"}, {Ints({0})});
  V v = Eval(text, t);
  return v.size() == 1 ? v[0] : "<error>";
}

std::string TypeOf(const std::string& text) {
  auto e = Compile(text, Sample().schema());
  return e.ok() ? TypeName(e->type()) : e.status().message();
}

std::string Error(const std::string& text, const Schema& schema = Sample().schema()) {
  auto e = Compile(text, schema);
  EXPECT_FALSE(e.ok()) << "compiled: " << text;
  return e.ok() ? "" : e.status().message();
}

TEST(ExprParseTest, ErrorsPointAtTheCharacter) {
  EXPECT_EQ(ParseExpr("1 +").status().message(), "1:4: expected a value, found the end");
  EXPECT_EQ(ParseExpr("(1 + 2").status().message(), "1:7: expected ')', found the end");
  EXPECT_EQ(ParseExpr("'abc").status().message(), "1:1: unterminated string");
  EXPECT_EQ(ParseExpr("`abc + 1").status().message(), "1:1: unterminated column name");
  EXPECT_EQ(ParseExpr("1 # 2").status().message(), "1:3: unexpected character '#'");
  EXPECT_EQ(ParseExpr("a +\n  b $").status().message(), "2:5: unexpected character '$'");
  EXPECT_EQ(ParseExpr("'été' + é @").status().message(), "1:11: unexpected character '@'");
  EXPECT_EQ(ParseExpr("1 2").status().message(), "1:3: expected an operator or the end, found '2'");
  EXPECT_EQ(ParseExpr("99999999999999999999").status().message(),
            "1:1: integer 99999999999999999999 is out of the int64 range");
  EXPECT_EQ(ParseExpr("12abc").status().message(), "1:3: unexpected character 'a' in a number");
  EXPECT_EQ(ParseExpr("case when a then 1").status().message(),
            "1:19: expected 'end', found the end");
  EXPECT_EQ(ParseExpr("case 1 end").status().message(), "1:8: expected 'when', found 'end'");
  EXPECT_EQ(ParseExpr("a is 3").status().message(), "1:6: expected 'null', found '3'");
  EXPECT_EQ(ParseExpr("a in 1").status().message(), "1:6: expected '(', found '1'");
  EXPECT_EQ(
      ParseExpr("cast(a as money)").status().message(),
      "1:11: unknown type 'money' (expected int64, float64, bool, utf8, date32 or timestamp)");
  EXPECT_EQ(ParseExpr("a and").status().message(), "1:6: expected a value, found the end");
  EXPECT_EQ(ParseExpr("f(1,)").status().message(), "1:5: expected a value, found ')'");
  EXPECT_EQ(ParseExpr("").status().message(), "1:1: expected a value, found the end");
  EXPECT_EQ(ParseExpr("``").status().message(), "1:1: empty column name");
  std::string deep = std::string(300, '(') + "1" + std::string(300, ')');
  EXPECT_THAT(ParseExpr(deep).status().message(), HasSubstr("expression nested too deeply"));
}

TEST(ExprParseTest, ListsReferencedColumnsOnce) {
  auto e = ParseExpr("a + `b c` * a + [d] - lower(e) || 'a'");
  ASSERT_TRUE(e.ok()) << e.status().message();
  EXPECT_THAT(e->columns(), ElementsAre("a", "b c", "d", "e"));
}

TEST(ExprCompileTest, UnknownColumnListsTheColumns) {
  Schema s{{{"id", TypeId::kInt64}, {"score", TypeId::kInt64}}};
  EXPECT_EQ(Error("score * 2 + scor", s),
            "1:13: unknown column 'scor' (did you mean 'score'? columns: id, score)");
  Schema many;
  for (int i = 0; i < 12; ++i) many.fields.push_back({"c" + std::to_string(i), TypeId::kInt64});
  EXPECT_EQ(Error("x", many),
            "1:1: unknown column 'x' (columns: c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, …)");
  EXPECT_EQ(Error("I + 1"),
            "1:1: unknown column 'I' (did you mean 'i'? columns: i, f, s, b, d, name with space)");
}

TEST(ExprCompileTest, TypeErrors) {
  EXPECT_EQ(Error("s + 1"), "1:3: cannot add utf8 and int64 (use || or concat() to join strings)");
  EXPECT_EQ(Error("i - b"), "1:3: cannot subtract int64 and bool");
  EXPECT_EQ(Error("d + 1"), "1:3: cannot add date32 and int64 (use add_days() or date_diff())");
  EXPECT_EQ(
      Error("i = s"),
      "1:3: cannot compare int64 and utf8 (convert one side: to_int(), to_float() or cast(x as "
      "utf8))");
  EXPECT_EQ(Error("i and b"), "1:3: 'and' needs bool operands, got int64 and bool");
  EXPECT_EQ(Error("not i"), "1:1: 'not' needs a bool, got int64");
  EXPECT_EQ(Error("-s"), "1:1: cannot negate utf8");
  EXPECT_EQ(Error("lower(i)"), "1:7: lower() expects utf8 as argument 1, got int64");
  EXPECT_EQ(Error("foo(1)"), "1:1: unknown function 'foo'");
  EXPECT_EQ(Error("substr('a')"), "1:1: substr() takes 2 to 3 arguments, got 1");
  EXPECT_EQ(Error("length()"), "1:1: length() takes 1 argument, got 0");
  EXPECT_EQ(Error("if(i, 1, 2)"), "1:4: if: the condition must be bool, got int64");
  EXPECT_EQ(Error("if(b, 1, 'x')"), "1:10: if: cannot mix int64 and utf8");
  EXPECT_EQ(Error("case when b then s else i end"), "1:25: case: cannot mix utf8 and int64");
  EXPECT_EQ(Error("coalesce(i, s)"), "1:13: coalesce: cannot mix int64 and utf8");
  EXPECT_EQ(Error("i in (1, 'a')"), "1:10: in: cannot mix int64 and utf8");
  EXPECT_EQ(Error("date('2025-02-30')"), "1:6: invalid date '2025-02-30' (expected YYYY-MM-DD)");
  EXPECT_EQ(Error("d > '2025-13-01'"), "1:5: invalid date '2025-13-01' (expected YYYY-MM-DD)");
  EXPECT_EQ(Error("year(i)"), "1:6: year() expects a date32 or timestamp as argument 1, got int64");
  EXPECT_EQ(Error("matches(s, s)"), "1:12: matches() needs a string literal as its pattern");
  EXPECT_EQ(Error("matches(s, '(')"),
            "1:12: invalid regular expression '(' at offset 1: missing closing parenthesis");
  EXPECT_EQ(Error("matches(s, 'a{2,1}')"),
            "1:12: invalid regular expression 'a{2,1}' at offset 5: numbers out of order in {} "
            "quantifier");
  EXPECT_EQ(Error("cast(d as int64)"), "1:1: cannot convert date32 to int64");
  EXPECT_EQ(Error("max(b, b)"), "1:1: max() cannot order bool values");
  EXPECT_EQ(Error("round(s)"), "1:7: round() expects a number, got utf8");
}

TEST(ExprCompileTest, ResultTypes) {
  EXPECT_EQ(TypeOf("i + 1"), "int64");
  EXPECT_EQ(TypeOf("i + 1.0"), "float64");
  EXPECT_EQ(TypeOf("i / 2"), "float64");  // true division, whatever the operand types
  EXPECT_EQ(TypeOf("i // 2"), "int64");
  EXPECT_EQ(TypeOf("i // 2.0"), "float64");
  EXPECT_EQ(TypeOf("null / null"), "float64");
  EXPECT_EQ(TypeOf("i > f"), "bool");
  EXPECT_EQ(TypeOf("s || i"), "utf8");
  EXPECT_EQ(TypeOf("null"), "utf8");
  EXPECT_EQ(TypeOf("i + null"), "int64");
  EXPECT_EQ(TypeOf("coalesce(null, f, i)"), "float64");
  EXPECT_EQ(TypeOf("add_days(d, 1)"), "date32");
  EXPECT_EQ(TypeOf("timestamp('2025-01-01T10:00:00Z')"), "timestamp");
  EXPECT_EQ(TypeOf("if(b, d, timestamp('2025-01-01'))"), "timestamp");
  EXPECT_EQ(TypeOf("cast(i as utf8)"), "utf8");
}

TEST(ExprEvalTest, ColumnsAndLiterals) {
  EXPECT_EQ(Eval("i"), (V{"1", "-7", "null", "10"}));
  EXPECT_EQ(Eval("`name with space` + [name with space]"), (V{"200", "400", "600", "800"}));
  EXPECT_EQ(Eval("42"), (V{"42", "42", "42", "42"}));
  EXPECT_EQ(One("-9223372036854775808"), "-9223372036854775808");
  EXPECT_EQ(One("1.5e3"), "1500");
  EXPECT_EQ(One("'it''s'"), "it's");
  EXPECT_EQ(One("\"say \"\"hi\"\"\""), "say \"hi\"");
  EXPECT_EQ(One("TRUE"), "true");
  EXPECT_EQ(One("null"), "null");
  EXPECT_EQ(One("date('2025-01-31')"), "2025-01-31");
  EXPECT_EQ(One("timestamp('2025-01-31 10:20:30.5')"), "2025-01-31T10:20:30.500000Z");
}

TEST(ExprEvalTest, IntegerArithmetic) {
  EXPECT_EQ(Eval("i + 1"), (V{"2", "-6", "null", "11"}));
  EXPECT_EQ(Eval("i - 1"), (V{"0", "-8", "null", "9"}));
  EXPECT_EQ(Eval("i * 3"), (V{"3", "-21", "null", "30"}));
  EXPECT_EQ(Eval("i / 2"), (V{"0.5", "-3.5", "null", "5"}));  // true division: float64
  EXPECT_EQ(Eval("i // 2"), (V{"0", "-4", "null", "5"}));     // floors, as Python
  EXPECT_EQ(Eval("i % 3"), (V{"1", "-1", "null", "1"}));      // sign of the dividend
  EXPECT_EQ(Eval("-i"), (V{"-1", "7", "null", "-10"}));
  EXPECT_EQ(One("7 / 0"), "null");
  EXPECT_EQ(One("7 % 0"), "null");
  EXPECT_EQ(One("7 // 0"), "null");
  EXPECT_EQ(One("7 / 2"), "3.5");
  EXPECT_EQ(One("-7 // 2"), "-4");
  EXPECT_EQ(One("7 // -2"), "-4");
  EXPECT_EQ(One("-7 // -2"), "3");
  EXPECT_EQ(One("6 // 3"), "2");
  EXPECT_EQ(One("7//2*2"), "6");  // same precedence as * and /, left to right
  EXPECT_EQ(One("1 + 2 * 3 - 4 / 2"), "5");
  EXPECT_EQ(One("(1 + 2) * 3"), "9");
  EXPECT_EQ(One("2 - 3 - 4"), "-5");
  EXPECT_EQ(One("+5"), "5");
  // Overflow gives null, never a wrapped value.
  EXPECT_EQ(One("9223372036854775807 + 1"), "null");
  EXPECT_EQ(One("-9223372036854775808 - 1"), "null");
  EXPECT_EQ(One("4611686018427387904 * 2"), "null");
  EXPECT_EQ(One("-(-9223372036854775808)"), "null");
  EXPECT_EQ(One("-9223372036854775808 // -1"), "null");
  EXPECT_EQ(One("-9223372036854775808 // 1"), "-9223372036854775808");
  EXPECT_EQ(One("-9223372036854775808 % -1"), "0");
  EXPECT_EQ(One("abs(-9223372036854775808)"), "null");
  EXPECT_EQ(One("9223372036854775806 + 1"), "9223372036854775807");
}

TEST(ExprEvalTest, FloatArithmetic) {
  EXPECT_EQ(Eval("f * 2"), (V{"3", "-1", "4", "null"}));
  EXPECT_EQ(Eval("i + f"), (V{"2.5", "-7.5", "null", "null"}));
  EXPECT_EQ(Eval("f / 0"), (V{"null", "null", "null", "null"}));
  EXPECT_EQ(One("7 / 2.0"), "3.5");
  EXPECT_EQ(One("to_float(7) / 2"), "3.5");
  EXPECT_EQ(One("7.5 % 2"), "1.5");
  EXPECT_EQ(One("0.0 / 0.0"), "null");
  EXPECT_EQ(One("1 // 0.1"), "9");  // as Python: the floor of the exact quotient
  EXPECT_EQ(One("-7.5 // 2"), "-4");
  EXPECT_EQ(One("7.5 // 0"), "null");
  EXPECT_EQ(One("1e308 * 10"), "inf");
}

TEST(ExprEvalTest, Comparisons) {
  EXPECT_EQ(Eval("i = 1"), (V{"true", "false", "null", "false"}));
  EXPECT_EQ(Eval("i == 1"), (V{"true", "false", "null", "false"}));
  EXPECT_EQ(Eval("i != 1"), (V{"false", "true", "null", "true"}));
  EXPECT_EQ(Eval("i <> 1"), (V{"false", "true", "null", "true"}));
  EXPECT_EQ(Eval("i < 1"), (V{"false", "true", "null", "false"}));
  EXPECT_EQ(Eval("i <= 1"), (V{"true", "true", "null", "false"}));
  EXPECT_EQ(Eval("i > 1"), (V{"false", "false", "null", "true"}));
  EXPECT_EQ(Eval("i >= 1"), (V{"true", "false", "null", "true"}));
  EXPECT_EQ(Eval("f > i"), (V{"true", "true", "null", "null"}));
  EXPECT_EQ(Eval("s < 'B'"), (V{"true", "true", "null", "false"}));  // byte order
  EXPECT_EQ(Eval("s = ''"), (V{"false", "true", "null", "false"}));
  EXPECT_EQ(Eval("b = true"), (V{"true", "false", "null", "true"}));
  EXPECT_EQ(Eval("d >= '2025-01-01'"), (V{"true", "false", "null", "false"}));
  EXPECT_EQ(Eval("d < timestamp('2024-02-29T00:00:01Z')"), (V{"false", "true", "null", "true"}));
  // int64 against float64 is exact, even beyond 2^53.
  EXPECT_EQ(One("9007199254740993 > 9007199254740992.0"), "true");
  EXPECT_EQ(One("9223372036854775807 < 9223372036854775808.0"), "true");
  EXPECT_EQ(One("1 = 1.0"), "true");
  EXPECT_EQ(One("null = null"), "null");
}

TEST(ExprEvalTest, ThreeValuedLogicTruthTables) {
  // Every pair of true, false, null.
  Table t = MakeTable(
      {"p", "q"},
      {Bools({true, true, true, false, false, false, std::nullopt, std::nullopt, std::nullopt}),
       Bools({true, false, std::nullopt, true, false, std::nullopt, true, false, std::nullopt})});
  EXPECT_EQ(Eval("p and q", t),
            (V{"true", "false", "null", "false", "false", "false", "null", "false", "null"}));
  EXPECT_EQ(Eval("p or q", t),
            (V{"true", "true", "true", "true", "false", "null", "true", "null", "null"}));
  EXPECT_EQ(Eval("not p", t),
            (V{"false", "false", "false", "true", "true", "true", "null", "null", "null"}));
  EXPECT_EQ(Eval("not p and q", t),  // not binds tighter than and
            (V{"false", "false", "false", "true", "false", "null", "null", "false", "null"}));
  EXPECT_EQ(Eval("p or q and false", t),  // and binds tighter than or
            (V{"true", "true", "true", "false", "false", "false", "null", "null", "null"}));
  EXPECT_EQ(One("null and false"), "false");
  EXPECT_EQ(One("null or true"), "true");
  EXPECT_EQ(One("not null"), "null");
}

TEST(ExprEvalTest, NullHandling) {
  EXPECT_EQ(Eval("i is null"), (V{"false", "false", "true", "false"}));
  EXPECT_EQ(Eval("s is not null"), (V{"true", "true", "false", "true"}));
  EXPECT_EQ(Eval("coalesce(i, 0)"), (V{"1", "-7", "0", "10"}));
  EXPECT_EQ(Eval("coalesce(f, i, -1)"), (V{"1.5", "-0.5", "2", "10"}));
  EXPECT_EQ(Eval("nullif(i, 1)"), (V{"null", "-7", "null", "10"}));
  EXPECT_EQ(Eval("nullif(s, '')"), (V{"Abc", "null", "null", "Été  x"}));
  EXPECT_EQ(Eval("i + null"), (V{"null", "null", "null", "null"}));
  EXPECT_EQ(Eval("length(s) + i"), (V{"4", "-7", "null", "16"}));
  EXPECT_EQ(One("coalesce(null, null)"), "null");
}

TEST(ExprEvalTest, InAndBetween) {
  EXPECT_EQ(Eval("i in (1, 10)"), (V{"true", "false", "null", "true"}));
  EXPECT_EQ(Eval("i not in (1, 10)"), (V{"false", "true", "null", "false"}));
  // SQL: no match with a null in the list is null; a match is true.
  EXPECT_EQ(Eval("i in (1, null)"), (V{"true", "null", "null", "null"}));
  EXPECT_EQ(Eval("i not in (1, null)"), (V{"false", "null", "null", "null"}));
  EXPECT_EQ(Eval("s in ('Abc', '')"), (V{"true", "true", "null", "false"}));
  EXPECT_EQ(Eval("f in (1.5, i)"), (V{"true", "false", "null", "null"}));
  EXPECT_EQ(Eval("i between -7 and 1"), (V{"true", "true", "null", "false"}));
  EXPECT_EQ(Eval("i not between -7 and 1"), (V{"false", "false", "null", "true"}));
  EXPECT_EQ(Eval("i between 0 and 5 and b"), (V{"true", "false", "null", "false"}));
}

TEST(ExprEvalTest, Conditionals) {
  EXPECT_EQ(Eval("if(i > 0, 'pos', 'neg')"), (V{"pos", "neg", "neg", "pos"}));
  EXPECT_EQ(Eval("if(b, i, f)"), (V{"1", "-0.5", "2", "10"}));
  EXPECT_EQ(Eval("case when i > 5 then 'big' when i > 0 then 'small' end"),
            (V{"small", "null", "null", "big"}));
  EXPECT_EQ(Eval("case when i > 5 then 'big' else s end"), (V{"Abc", "", "null", "big"}));
  EXPECT_EQ(Eval("case i when 1 then 'one' when 10 then 'ten' else 'other' end"),
            (V{"one", "other", "other", "ten"}));
  EXPECT_EQ(Eval("CASE WHEN b THEN 1 ELSE 0 END"), (V{"1", "0", "0", "1"}));
}

TEST(ExprEvalTest, StringFunctions) {
  EXPECT_EQ(Eval("length(s)"), (V{"3", "0", "null", "6"}));  // code points
  EXPECT_EQ(Eval("lower(s)"), (V{"abc", "", "null", "été  x"}));
  EXPECT_EQ(Eval("upper(s)"), (V{"ABC", "", "null", "ÉTÉ  X"}));
  EXPECT_EQ(One("upper('œuf ÿ straße')"), "ŒUF Ÿ STRAßE");
  EXPECT_EQ(One("lower('ŒUF Ÿ ÀÖØÞ')"), "œuf ÿ àöøþ");
  EXPECT_EQ(One("trim('  a b \t\n')"), "a b");
  EXPECT_EQ(One("ltrim('  a ') || '|'"), "a |");
  EXPECT_EQ(One("rtrim('  a ') || '|'"), "  a|");
  EXPECT_EQ(Eval("substr(s, 2)"), (V{"bc", "", "null", "té  x"}));
  EXPECT_EQ(Eval("substr(s, 1, 2)"), (V{"Ab", "", "null", "Ét"}));
  EXPECT_EQ(One("substr('hello', -3)"), "llo");
  EXPECT_EQ(One("substr('hello', -3, 2)"), "ll");
  EXPECT_EQ(One("substr('hello', 0, 2)"), "h");  // as SQLite
  EXPECT_EQ(One("substr('hello', 3, -2)"), "he");
  EXPECT_EQ(One("substr('hello', 10)"), "");
  EXPECT_EQ(One("substring('héllo', 2, 3)"), "éll");
  EXPECT_EQ(One("concat('a', null, 1, 2.5, true)"), "a12.5true");  // nulls skipped
  EXPECT_EQ(One("'a' || null"), "null");                           // || propagates null
  EXPECT_EQ(Eval("s || '-' || i"), (V{"Abc-1", "--7", "null", "Été  x-10"}));
  EXPECT_EQ(One("replace('a-b-c', '-', '+')"), "a+b+c");
  EXPECT_EQ(One("replace('abc', '', 'x')"), "abc");
  EXPECT_EQ(Eval("starts_with(s, 'A')"), (V{"true", "false", "null", "false"}));
  EXPECT_EQ(Eval("ends_with(s, 'x')"), (V{"false", "false", "null", "true"}));
  EXPECT_EQ(Eval("contains(s, 'b')"), (V{"true", "false", "null", "false"}));
  EXPECT_EQ(One("contains('abc', '')"), "true");
  EXPECT_EQ(Eval("matches(s, '^[A-Z][a-z]+$')"), (V{"true", "false", "null", "false"}));
  EXPECT_EQ(Eval("matches(s, 'x')"), (V{"false", "false", "null", "true"}));  // search
}

TEST(ExprEvalTest, RegexOnLongStringsDoesNotOverflowTheStack) {
  Table t = MakeTable({"s"}, {Strings({std::string(1000000, 'a') + "b"})});
  EXPECT_EQ(Eval("matches(s, '^(a|c)*b$')", t), (V{"true"}));
}

TEST(ExprEvalTest, MatchesSearchesWithAnchorsClassesAndAlternation) {
  Table t = MakeTable({"s"}, {Strings({"CE-0042", "ce-42", std::nullopt, "x CE-7 y", "CE-7\n"})});
  EXPECT_EQ(Eval("matches(s, 'CE-\\d+')", t), (V{"true", "false", "null", "true", "true"}));
  EXPECT_EQ(Eval("matches(s, '^CE-\\d+$')", t), (V{"true", "false", "null", "false", "false"}));
  EXPECT_EQ(Eval("matches(s, '^(?:CE|ce)-[0-9]{2,4}$')", t),
            (V{"true", "true", "null", "false", "false"}));
  EXPECT_EQ(Eval("matches(s, '(?i)^ce-')", t), (V{"true", "true", "null", "false", "true"}));
  EXPECT_EQ(Eval("not matches(s, 'CE')", t), (V{"false", "true", "null", "false", "false"}));
}

TEST(ExprEvalTest, MatchesKnowsUnicodeLetters) {
  Table t = MakeTable({"s"}, {Strings({"É", "Élodie", "e", "é1", "-", std::nullopt})});
  EXPECT_EQ(Eval("matches(s, '^\\w$')", t), (V{"true", "false", "true", "false", "false", "null"}));
  EXPECT_EQ(Eval("matches(s, '^[[:alpha:]]+$')", t),
            (V{"true", "true", "true", "false", "false", "null"}));
  EXPECT_EQ(Eval("matches(s, '(?i)^é')", t), (V{"true", "true", "false", "true", "false", "null"}));
  EXPECT_EQ(Eval("matches(s, '^.$')", t), (V{"true", "false", "true", "false", "true", "null"}));
}

// The limit error names the column and the first row that reached it.
TEST(ExprEvalTest, CatastrophicBacktrackingFailsTheEvaluationNamingTheRow) {
  const std::string bad = std::string(10000, 'a') + "b";
  Table t = MakeTable({"s"}, {Strings({"aaa", std::nullopt, bad, bad})});
  auto e = Compile("matches(s, '(a+)+$')", t.schema());
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->Evaluate(t).status().message(),
            "matches() on column 's', row 3: the regular expression '(a+)+$': match limit "
            "exceeded (the pattern backtracks too much on this value: nested quantifiers such "
            "as (a+)+, or a repeated group over a very long value)");
  // Under another function, the message names the function only.
  e = Compile("matches(lower(s), '(a+)+$')", t.schema());
  ASSERT_TRUE(e.ok());
  EXPECT_THAT(e->Evaluate(t).status().message(),
              ::testing::StartsWith("matches(), row 3: the regular expression '(a+)+$': match "
                                    "limit exceeded"));
}

TEST(ExprEvalTest, CatastrophicBacktrackingOnALargeColumnNamesTheFirstRow) {
  const std::string bad = std::string(3000, 'a') + "b";
  std::vector<std::optional<std::string>> cells(200000, std::string("aaaa"));
  cells[150000] = bad;  // matched on another thread than row 120001 most likely
  cells[120000] = bad;
  cells[190000] = bad;
  Table t = MakeTable({"s"}, {Strings(cells)});
  auto e = Compile("matches(s, '(a+)+$')", t.schema());
  ASSERT_TRUE(e.ok());
  EXPECT_THAT(e->Evaluate(t).status().message(),
              ::testing::StartsWith("matches() on column 's', row 120001: the regular "
                                    "expression '(a+)+$': match limit exceeded"));
}

TEST(ExprEvalTest, CatastrophicBacktrackingOnADictionaryColumnNamesTheRow) {
  const std::string bad = std::string(10000, 'a') + "b";
  auto plain = Strings({"aa", "aa", "aa", bad, "aa", bad});
  Table d = MakeTable({"s"}, {DictionaryEncode(*plain)});
  ASSERT_TRUE(d.column(0)->is_dictionary());
  auto e = Compile("matches(s, '(a+)+$')", d.schema());
  ASSERT_TRUE(e.ok());
  EXPECT_THAT(e->Evaluate(d).status().message(),
              ::testing::StartsWith("matches() on column 's', row 4: the regular expression"));
  EXPECT_EQ(Eval("matches(s, '^a+$')", d), (V{"true", "true", "true", "false", "true", "false"}));
}

// `^a[b1]*-?$` written out by hand: the oracle for the large-column test.
bool MatchesABOneDash(const std::string& v) {
  if (v.empty() || v[0] != 'a') return false;
  size_t i = 1;
  while (i < v.size() && (v[i] == 'b' || v[i] == '1')) ++i;
  if (i < v.size() && v[i] == '-') ++i;
  return i == v.size();
}

// A column large enough to be matched on several threads gives, row for row,
// what a serial hand-written matcher gives, nulls included.
TEST(ExprEvalTest, MatchesOnALargeColumnKeepsEveryRowInPlace) {
  std::mt19937 rng(7);
  std::vector<std::optional<std::string>> cells;
  for (int i = 0; i < 100000; ++i) {
    if (rng() % 17 == 0) {
      cells.push_back(std::nullopt);
      continue;
    }
    std::string v;
    for (unsigned k = rng() % 8; k > 0; --k) v.push_back("ab1-"[rng() % 4]);
    cells.push_back(v);
  }
  Table t = MakeTable({"s"}, {Strings(cells)});
  V got = Eval("matches(s, '^a[b1]*-?$')", t);
  ASSERT_EQ(got.size(), cells.size());
  int trues = 0, nulls = 0;
  for (size_t i = 0; i < cells.size(); ++i) {
    const std::string want = !cells[i] ? "null" : (MatchesABOneDash(*cells[i]) ? "true" : "false");
    trues += want == "true";
    nulls += want == "null";
    ASSERT_EQ(got[i], want) << "row " << i;
  }
  EXPECT_GT(trues, 1000);
  EXPECT_GT(nulls, 1000);
}

TEST(ExprEvalTest, DateFunctions) {
  EXPECT_EQ(Eval("year(d)"), (V{"2025", "2024", "null", "1970"}));
  EXPECT_EQ(Eval("month(d)"), (V{"1", "2", "null", "1"}));
  EXPECT_EQ(Eval("day(d)"), (V{"31", "29", "null", "1"}));
  EXPECT_EQ(Eval("date_diff(d, '2024-12-31')"), (V{"31", "-306", "null", "-20088"}));
  EXPECT_EQ(Eval("add_days(d, 1)"), (V{"2025-02-01", "2024-03-01", "null", "1970-01-02"}));
  EXPECT_EQ(Eval("add_days(d, -1)"), (V{"2025-01-30", "2024-02-28", "null", "1969-12-31"}));
  EXPECT_EQ(One("add_days(date('2025-01-01'), 9223372036854775807)"), "null");
  EXPECT_EQ(One("add_days(timestamp('2025-01-01T12:00:00Z'), 1)"), "2025-01-02T12:00:00Z");
  EXPECT_EQ(One("year(timestamp('1969-12-31T23:59:59Z'))"), "1969");
  EXPECT_EQ(One("date(timestamp('1969-12-31T23:59:59Z'))"), "1969-12-31");
  EXPECT_EQ(One("date_diff(timestamp('2025-01-02T01:00:00Z'), date('2025-01-01'))"), "1");
  EXPECT_EQ(One("date('not a date' || '')"), "null");  // a computed string: null, not an error
  EXPECT_EQ(Error("today()"), "1:1: unknown function 'today'");
}

TEST(ExprEvalTest, NumericFunctions) {
  EXPECT_EQ(Eval("abs(i)"), (V{"1", "7", "null", "10"}));
  EXPECT_EQ(Eval("abs(f)"), (V{"1.5", "0.5", "2", "null"}));
  EXPECT_EQ(One("round(2.5)"), "3");
  EXPECT_EQ(One("round(-2.5)"), "-3");  // half away from zero
  EXPECT_EQ(One("round(3.14159, 2)"), "3.14");
  EXPECT_EQ(One("round(7, 2)"), "7");
  EXPECT_EQ(One("floor(-1.5)"), "-2");
  EXPECT_EQ(One("ceil(-1.5)"), "-1");
  EXPECT_EQ(One("floor(3)"), "3");
  EXPECT_EQ(Eval("min(i, 0)"), (V{"0", "-7", "null", "0"}));
  EXPECT_EQ(Eval("max(i, f, 0)"), (V{"1.5", "0", "null", "null"}));
  EXPECT_EQ(One("max('a', 'b', 'ab')"), "b");
}

TEST(ExprEvalTest, Casts) {
  EXPECT_EQ(Eval("to_string(i)"), (V{"1", "-7", "null", "10"}));
  EXPECT_EQ(Eval("cast(f as int64)"), (V{"1", "0", "2", "null"}));  // truncates
  EXPECT_EQ(Eval("to_int(b)"), (V{"1", "0", "null", "1"}));
  EXPECT_EQ(Eval("to_bool(i)"), (V{"true", "true", "null", "true"}));
  EXPECT_EQ(Eval("to_string(d)"), (V{"2025-01-31", "2024-02-29", "null", "1970-01-01"}));
  EXPECT_EQ(One("to_int(' 42 ')"), "42");
  EXPECT_EQ(One("to_int('4x')"), "null");
  EXPECT_EQ(One("to_int('99999999999999999999')"), "null");
  EXPECT_EQ(One("to_int(1e19)"), "null");
  EXPECT_EQ(One("to_float('1.5e2')"), "150");
  EXPECT_EQ(One("to_bool('TRUE')"), "true");
  EXPECT_EQ(One("to_bool('yes')"), "null");
  EXPECT_EQ(One("cast('2025-01-31' as date)"), "2025-01-31");
  EXPECT_EQ(One("to_string(0.1)"), "0.1");
}

TEST(ExprEvalTest, DictionaryEncodedInputsGiveTheSameResults) {
  auto plain = Strings({"Paris", "Lyon", std::nullopt, "Paris", "lyon", "Paris"});
  Table p = MakeTable({"city"}, {plain});
  Table d = MakeTable({"city"}, {DictionaryEncode(*plain)});
  ASSERT_TRUE(d.column(0)->is_dictionary());
  for (const char* e : {"lower(city)", "city = 'Paris'", "length(city)", "city in ('Lyon', 'x')",
                        "coalesce(city, '?')", "city || '!'", "upper(city) = 'LYON'",
                        "city is null", "substr(city, 2, 2)", "if(city = 'Lyon', 1, 2)"})
    EXPECT_EQ(Eval(e, d), Eval(e, p)) << e;
  // A string function of a dictionary column stays dictionary-encoded.
  auto e = Compile("upper(city)", d.schema());
  ASSERT_TRUE(e.ok());
  auto c = e->Evaluate(d);
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE((*c)->is_dictionary());
  EXPECT_EQ((*c)->dictionary->length, 3);
}

TEST(ExprEvalTest, EvaluateChecksTheTableAgainstTheCompiledSchema) {
  auto e = Compile("i + 1", Sample().schema());
  ASSERT_TRUE(e.ok());
  Table other = MakeTable({"i"}, {Strings({"a"})});
  EXPECT_EQ(e->Evaluate(other).status().message(),
            "column 'i' is utf8, but the expression was compiled for int64");
}

TEST(ExprEvalTest, TakeRows) {
  auto plain = Strings({"a", std::nullopt, "c"});
  EXPECT_EQ(Cells(*TakeRows(*plain, {2, 0, 1})), (V{"c", "a", "null"}));
  auto dict = DictionaryEncode(*plain);
  auto taken = TakeRows(*dict, {1, 2});
  EXPECT_TRUE(taken->is_dictionary());
  EXPECT_TRUE(taken->Validate().ok());
  EXPECT_EQ(Cells(*taken), (V{"null", "c"}));
  EXPECT_EQ(Cells(*TakeRows(*Ints({1, 2, 3}), {})), V{});
}

// ---------------------------------------------------------------------------
// Oracle: our results equal SQLite's for equivalent SQL on random columns.

struct OracleCase {
  std::string ours, sql;
  // SQLite turns int64 overflow into a REAL; we give null (docs/expressions.md).
  bool overflow_to_null = false;
  // lower()/upper(): SQLite changes ASCII letters only; we also change Latin-1
  // letters, so rows with non-ASCII text are skipped for these.
  bool ascii_only = false;
};

class Sqlite {
 public:
  Sqlite() { sqlite3_open(":memory:", &db_); }
  ~Sqlite() { sqlite3_close(db_); }
  Sqlite(const Sqlite&) = delete;
  Sqlite& operator=(const Sqlite&) = delete;
  void Exec(const std::string& sql) {
    char* err = nullptr;
    ASSERT_EQ(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << err;
  }
  sqlite3* db() { return db_; }

 private:
  sqlite3* db_ = nullptr;
};

TEST(ExprOracleTest, MatchesSqliteOnRandomColumns) {
  constexpr int kRows = 3000;
  std::mt19937_64 rng(20250131);
  const std::vector<int64_t> special_ints = {0,
                                             1,
                                             -1,
                                             2,
                                             -2,
                                             3,
                                             7,
                                             -7,
                                             100,
                                             kMax,
                                             kMin,
                                             kMax - 1,
                                             kMin + 1,
                                             4611686018427387904LL,
                                             -4611686018427387904LL,
                                             3037000500LL};
  const std::vector<double> special_floats = {0.0,  -0.0,  0.5,    -0.5,   1.5, 2.5,
                                              -2.5, 1e300, -1e300, 1e-300, 3.0, -3.0};
  const std::vector<std::string> strings = {
      "",    " ",   "a",      "A",      "abc", "ABC", " padded ", "a b", "Paris", "paris",
      "été", "Éte", "日本語", "straße", "😀x",  "x😀",  "ab",       "ba",  "aaa",   "b"};
  auto pick_int = [&]() -> std::optional<int64_t> {
    const auto r = rng() % 10;
    if (r == 0) return std::nullopt;
    if (r < 4) return special_ints[rng() % special_ints.size()];
    if (r < 7) return static_cast<int64_t>(rng() % 41) - 20;
    return static_cast<int64_t>(rng());
  };
  auto pick_float = [&]() -> std::optional<double> {
    const auto r = rng() % 10;
    if (r == 0) return std::nullopt;
    if (r < 4) return special_floats[rng() % special_floats.size()];
    return std::uniform_real_distribution<double>(-1e6, 1e6)(rng);
  };
  auto pick_string = [&]() -> std::optional<std::string> {
    if (rng() % 8 == 0) return std::nullopt;
    return strings[rng() % strings.size()];
  };
  auto pick_date = [&]() -> std::optional<int32_t> {
    if (rng() % 8 == 0) return std::nullopt;
    return static_cast<int32_t>(rng() % 73000) - 25000;  // 1901 .. 2169
  };

  ColumnBuilder a(TypeId::kInt64), b(TypeId::kInt64), x(TypeId::kFloat64), y(TypeId::kFloat64),
      s(TypeId::kUtf8), t(TypeId::kUtf8), d(TypeId::kDate32);
  Sqlite db;
  db.Exec("create table t (a integer, b integer, x real, y real, s text, t text, d text)");
  sqlite3_stmt* ins = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db.db(), "insert into t values (?,?,?,?,?,?,?)", -1, &ins, nullptr),
            SQLITE_OK);
  db.Exec("begin");
  for (int row = 0; row < kRows; ++row) {
    sqlite3_reset(ins);
    int k = 1;
    for (ColumnBuilder* c : {&a, &b}) {
      auto v = pick_int();
      v ? c->AppendInt64(*v) : c->AppendNull();
      v ? sqlite3_bind_int64(ins, k, *v) : sqlite3_bind_null(ins, k);
      ++k;
    }
    for (ColumnBuilder* c : {&x, &y}) {
      auto v = pick_float();
      v ? c->AppendDouble(*v) : c->AppendNull();
      v ? sqlite3_bind_double(ins, k, *v) : sqlite3_bind_null(ins, k);
      ++k;
    }
    for (ColumnBuilder* c : {&s, &t}) {
      auto v = pick_string();
      v ? c->AppendString(*v) : c->AppendNull();
      v ? sqlite3_bind_text(ins, k, v->c_str(), static_cast<int>(v->size()), SQLITE_TRANSIENT)
        : sqlite3_bind_null(ins, k);
      ++k;
    }
    auto dv = pick_date();
    dv ? d.AppendDate32(*dv) : d.AppendNull();
    if (dv) {
      ColumnBuilder one(TypeId::kDate32);
      one.AppendDate32(*dv);
      const std::string text = FormatCell(*one.Finish(), 0);
      sqlite3_bind_text(ins, k, text.c_str(), -1, SQLITE_TRANSIENT);
    } else {
      sqlite3_bind_null(ins, k);
    }
    ASSERT_EQ(sqlite3_step(ins), SQLITE_DONE);
  }
  sqlite3_finalize(ins);
  db.Exec("commit");
  ColumnPtr s_col = s.Finish();
  Table table =
      MakeTable({"a", "b", "x", "y", "s", "t", "d"},
                {a.Finish(), b.Finish(), x.Finish(), y.Finish(), s_col, t.Finish(), d.Finish()});

  const std::vector<OracleCase> cases = {
      {"a + b", "a + b", true},
      {"a - b", "a - b", true},
      {"a * b", "a * b", true},
      {"a / b", "cast(a as real) / b"},  // `/` is true division
      {"a % b", "a % b"},
      {"-a", "-a", true},
      {"a + 1", "a + 1", true},
      {"x + y", "x + y"},
      {"x - y", "x - y"},
      {"x * y", "x * y"},
      {"x / y", "x / y"},
      {"a + x", "a + x"},
      {"x * 2 - a", "x * 2 - a"},
      {"a < b", "a < b"},
      {"a = x", "a = x"},
      {"a >= x", "a >= x"},
      {"x != y", "x != y"},
      {"x <= y", "x <= y"},
      {"s < t", "s < t"},
      {"s = t", "s = t"},
      {"s >= t", "s >= t"},
      {"a > 0 and x < 0", "a > 0 and x < 0"},
      {"a > 0 or s = ''", "a > 0 or s = ''"},
      {"not (a > b)", "not (a > b)"},
      {"not (a > 0) or (x > 0 and s < t)", "not (a > 0) or (x > 0 and s < t)"},
      {"a is null", "a is null"},
      {"s is not null", "s is not null"},
      {"coalesce(a, b, 0)", "coalesce(a, b, 0)"},
      {"coalesce(s, t)", "coalesce(s, t)"},
      {"nullif(a, b)", "nullif(a, b)"},
      {"nullif(s, '')", "nullif(s, '')"},
      {"a in (0, 1, b)", "a in (0, 1, b)"},
      {"s not in ('a', t)", "s not in ('a', t)"},
      {"a between -5 and b", "a between -5 and b"},
      {"length(s)", "length(s)"},
      {"lower(s)", "lower(s)", false, true},
      {"upper(s)", "upper(s)", false, true},
      {"trim(s)", "trim(s)"},  // the strings hold no tabs or newlines (SQLite trims spaces only)
      {"substr(s, a % 5)", "substr(s, a % 5)"},
      {"substr(s, a % 5, b % 4)", "substr(s, a % 5, b % 4)"},
      {"replace(s, 'a', t)", "replace(s, 'a', t)"},
      {"replace(s, t, 'X')", "replace(s, t, 'X')"},
      {"s || t", "s || t"},
      {"s || a", "s || a"},
      {"contains(s, t)", "instr(s, t) > 0"},
      {"starts_with(s, t)", "substr(s, 1, length(t)) = t"},
      {"ends_with(s, t)",
       "case when s is null or t is null then null when t = '' then 1 "
       "else substr(s, -length(t)) = t end"},
      {"abs(x)", "abs(x)"},
      // SQLite's abs() raises "integer overflow" on the minimum; we give null.
      {"abs(a)", "case when a = -9223372036854775808 then null else abs(a) end"},
      {"round(x)", "round(x)"},
      {"min(a, b)", "min(a, b)"},
      {"max(x, y, 0)", "max(x, y, 0)"},
      {"max(a, x)", "max(a, x)"},
      {"min(s, t)", "min(s, t)"},
      {"case when a > 0 then s else t end", "case when a > 0 then s else t end"},
      {"if(x > 0, a, b)", "case when x > 0 then a else b end"},
      {"case a when 1 then 'one' when 2 then 'two' else s end",
       "case a when 1 then 'one' when 2 then 'two' else s end"},
      {"to_float(a)", "cast(a as real)"},
      {"to_string(a)", "cast(a as text)"},
      {"to_int(x)",  // SQLite saturates out-of-range reals; we give null
       "case when x >= 9223372036854775808.0 or x < -9223372036854775808.0 then null "
       "else cast(x as integer) end"},
      {"year(d)", "cast(strftime('%Y', d) as integer)"},
      {"month(d) * 100 + day(d)",
       "cast(strftime('%m', d) as integer) * 100 + "
       "cast(strftime('%d', d) as integer)"},
      {"date_diff(d, date('2000-01-01'))",
       "cast(julianday(d) - julianday('2000-01-01') as integer)"},
      {"add_days(d, a % 400)", "date(d, (a % 400) || ' days')"},
      {"d < date('2000-01-01')", "d < '2000-01-01'"},
  };

  for (const auto& c : cases) {
    SCOPED_TRACE(c.ours);
    auto e = Compile(c.ours, table.schema());
    ASSERT_TRUE(e.ok()) << e.status().message();
    auto col = e->Evaluate(table);
    ASSERT_TRUE(col.ok()) << col.status().message();
    const Column& ours = **col;
    sqlite3_stmt* q = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db.db(), ("select " + c.sql + " from t order by rowid").c_str(),
                                 -1, &q, nullptr),
              SQLITE_OK)
        << sqlite3_errmsg(db.db());
    int mismatches = 0, overflows = 0;
    for (int64_t row = 0; row < kRows; ++row) {
      ASSERT_EQ(sqlite3_step(q), SQLITE_ROW) << sqlite3_errmsg(db.db());
      if (c.ascii_only && !s_col->IsNull(row)) {
        auto sv = s_col->String(row);
        if (std::any_of(sv.begin(), sv.end(), [](char ch) { return ch & 0x80; })) continue;
      }
      const int st = sqlite3_column_type(q, 0);
      std::string theirs = st == SQLITE_NULL ? "null"
                           : st == SQLITE_TEXT
                               ? reinterpret_cast<const char*>(sqlite3_column_text(q, 0))
                               : "";
      bool same;
      if (ours.IsNull(row)) {
        same = st == SQLITE_NULL;
        if (!same && c.overflow_to_null && st == SQLITE_FLOAT) {
          same = true;
          ++overflows;
        }
      } else if (st == SQLITE_NULL) {
        same = false;
      } else {
        switch (ours.type) {
          case TypeId::kInt64:
            same = st == SQLITE_INTEGER && sqlite3_column_int64(q, 0) == ours.Int64(row);
            theirs = std::to_string(sqlite3_column_int64(q, 0));
            break;
          case TypeId::kFloat64:
            same = sqlite3_column_double(q, 0) == ours.Double(row);
            theirs = std::to_string(sqlite3_column_double(q, 0));
            break;
          case TypeId::kBool:
            same = st == SQLITE_INTEGER && sqlite3_column_int64(q, 0) == (ours.Bool(row) ? 1 : 0);
            theirs = std::to_string(sqlite3_column_int64(q, 0));
            break;
          default:
            same = st == SQLITE_TEXT && theirs == FormatCell(ours, row);
        }
      }
      if (!same && ++mismatches <= 5) {
        ADD_FAILURE() << "row " << row << ": ours "
                      << (ours.IsNull(row) ? "null" : FormatCell(ours, row)) << ", sqlite "
                      << theirs << " (inputs a=" << FormatCell(*table.column(0), row)
                      << " b=" << FormatCell(*table.column(1), row)
                      << " x=" << FormatCell(*table.column(2), row)
                      << " y=" << FormatCell(*table.column(3), row) << " s='"
                      << FormatCell(*table.column(4), row) << "' t='"
                      << FormatCell(*table.column(5), row) << "')";
      }
    }
    sqlite3_finalize(q);
    EXPECT_EQ(mismatches, 0);
    if (c.overflow_to_null && c.ours != "a + 1") {
      EXPECT_GT(overflows, 0) << "no overflow exercised";
    }
  }
}

TEST(ExprEvalTest, MillionRows) {
  constexpr int64_t kRows = 1000000;
  ColumnBuilder score(TypeId::kFloat64), n(TypeId::kInt64), city(TypeId::kUtf8);
  const char* cities[] = {"Paris", "Lyon", "Marseille", "Lille", "Nantes"};
  for (int64_t i = 0; i < kRows; ++i) {
    i % 17 == 0 ? score.AppendNull() : score.AppendDouble(static_cast<double>(i % 1000) / 10);
    n.AppendInt64(i);
    city.AppendString(cities[i % 5]);
  }
  Table t = MakeTable({"score", "n", "city"}, {score.Finish(), n.Finish(), city.Finish()});
  const std::string text =
      "if(score >= 50 and city in ('Paris', 'Lyon'), round(score * 1.5, 1), coalesce(score, 0)) "
      "+ length(upper(city)) + n % 7";
  auto e = Compile(text, t.schema());
  ASSERT_TRUE(e.ok()) << e.status().message();
  const auto start = std::chrono::steady_clock::now();
  auto c = e->Evaluate(t);
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ((*c)->length, kRows);
  EXPECT_EQ((*c)->null_count, 0);
  EXPECT_EQ(FormatCell(**c, 3), "8.3");  // 0.3 + length("LILLE") + 3 % 7
  std::cout << "[ perf ] " << kRows << " rows in " << secs
            << " s: " << static_cast<int64_t>(static_cast<double>(kRows) / secs) << " rows/s\n";
}

// `/` and `//` against Python's own operators: true division of ints is
// float64 (operands within 2^53, where converting to float64 is exact, so the
// result is Python's correctly rounded quotient), `//` floors like Python for
// ints (any int64) and floats; where Python raises (division by zero) or the
// result leaves int64 (MIN // -1), we give null.
TEST(ExprPythonOracleTest, DivisionMatchesPython) {
  std::mt19937_64 rng(20261206);
  const int64_t k53 = int64_t{1} << 53;
  std::vector<std::optional<int64_t>> a, b, c, d;  // a / b (small), c // d (any)
  std::vector<std::optional<double>> x, y;
  auto small = [&]() -> int64_t {
    switch (rng() % 4) {
      case 0:
        return static_cast<int64_t>(rng() % 21) - 10;
      case 1:
        return static_cast<int64_t>(rng() % 2001) - 1000;
      default:
        return static_cast<int64_t>(rng() % static_cast<uint64_t>(2 * k53 + 1)) - k53;
    }
  };
  auto any = [&]() -> int64_t {
    static const int64_t kEdges[] = {kMin, kMax, kMin + 1, -1, 0, 1, 2, -2, 3, -3};
    if (rng() % 4 == 0) return kEdges[rng() % 10];
    return rng() % 2 ? small() : static_cast<int64_t>(rng());
  };
  auto real = [&]() -> double {
    static const double kEdges[] = {0.0, -0.0, 0.1, -0.1, 1.0, -1.0, 2.5, -7.5, 1e-300, 1e300};
    if (rng() % 4 == 0) return kEdges[rng() % 10];
    std::uniform_real_distribution<double> u(-1e6, 1e6);
    return rng() % 3 ? u(rng) : u(rng) * 1e-6;
  };
  for (int i = 0; i < 4000; ++i) {
    a.push_back(small()), b.push_back(small()), c.push_back(any()), d.push_back(any());
    x.push_back(real()), y.push_back(real());
  }
  testing::TempDir dir;
  std::string in;
  for (size_t i = 0; i < a.size(); ++i)
    in += fmt::format("{} {} {} {} {:.17g} {:.17g}\n", *a[i], *b[i], *c[i], *d[i], *x[i], *y[i]);
  testing::WriteFile(dir.path() / "in.txt", in);
  testing::WriteFile(dir.path() / "oracle.py", R"(import sys
def op(f, u, v, is_int):
    try:
        r = f(u, v)
    except ZeroDivisionError:
        return "null"
    if is_int:
        return str(r) if -2**63 <= r < 2**63 else "null"
    return "null" if r != r else repr(r)
out = []
for line in open(sys.argv[1]):
    a, b, c, d, x, y = line.split()
    a, b, c, d, x, y = int(a), int(b), int(c), int(d), float(x), float(y)
    out.append(" ".join([op(lambda u, v: u / v, a, b, False), op(lambda u, v: u // v, c, d, True),
                         op(lambda u, v: u / v, x, y, False), op(lambda u, v: u // v, x, y, False)]))
open(sys.argv[2], "w").write("\n".join(out) + "\n")
)");
  const std::string cmd =
      fmt::format("/usr/bin/python3 {} {} {}", (dir.path() / "oracle.py").string(),
                  (dir.path() / "in.txt").string(), (dir.path() / "out.txt").string());
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::istringstream py(testing::ReadFile(dir.path() / "out.txt"));

  Table t = MakeTable({"a", "b", "c", "d", "x", "y"},
                      {Ints(a), Ints(b), Ints(c), Ints(d), Doubles(x), Doubles(y)});
  const char* exprs[] = {"a / b", "c // d", "x / y", "x // y"};
  std::vector<ColumnPtr> cols;
  for (const char* e : exprs) {
    auto te = Compile(e, t.schema());
    ASSERT_TRUE(te.ok()) << te.status().message();
    auto col = te->Evaluate(t);
    ASSERT_TRUE(col.ok()) << col.status().message();
    cols.push_back(*col);
  }
  EXPECT_EQ(cols[0]->type, TypeId::kFloat64);
  EXPECT_EQ(cols[1]->type, TypeId::kInt64);
  int nulls = 0, negative_floors = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    for (size_t k = 0; k < 4; ++k) {
      std::string want;
      py >> want;
      const Column& col = *cols[k];
      const std::string where =
          fmt::format("row {}: {} with a={} b={} c={} d={} x={:.17g} y={:.17g}", i, exprs[k], *a[i],
                      *b[i], *c[i], *d[i], *x[i], *y[i]);
      if (want == "null") {
        ++nulls;
        EXPECT_TRUE(col.IsNull(static_cast<int64_t>(i))) << where;
        continue;
      }
      ASSERT_FALSE(col.IsNull(static_cast<int64_t>(i))) << where << " (Python: " << want << ")";
      if (k == 1) {
        EXPECT_EQ(col.Int64(static_cast<int64_t>(i)), std::stoll(want)) << where;
        if (col.Int64(static_cast<int64_t>(i)) < 0) ++negative_floors;
      } else {
        EXPECT_EQ(col.Double(static_cast<int64_t>(i)), std::strtod(want.c_str(), nullptr))
            << where << " (Python: " << want << ")";
      }
    }
  }
  EXPECT_GT(nulls, 10);  // the zeros and MIN // -1 were exercised
  EXPECT_GT(negative_floors, 500);
}

}  // namespace
}  // namespace alambic::expr_test
