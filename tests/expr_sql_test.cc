// The expression language written as PostgreSQL SQL (core/table/expr.h
// ToPostgresSql): literals are bound as parameters and never appear in the
// text, columns go through the caller's quoting, and what cannot be written
// exactly is refused with the reason. The results themselves are compared
// with the local engine on a real PostgreSQL by tests/pg/pg_conformance_test.cc.
#include <gtest/gtest.h>

#include "core/table/expr.h"

namespace alambic::expr_sql_test {
namespace {

Schema TestSchema() {
  return Schema{{{"i", TypeId::kInt64},
                 {"f", TypeId::kFloat64},
                 {"s", TypeId::kUtf8},
                 {"d", TypeId::kDate32},
                 {"we\"ird; col", TypeId::kUtf8}}};
}

std::string Quote(const std::string& name) {
  std::string out = "t.\"";
  for (char c : name) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

Result<std::string> Sql(const std::string& text, std::vector<std::string>* params) {
  auto e = Compile(text, TestSchema());
  if (!e.ok()) return e.status();
  return ToPostgresSql(*e, Quote, params);
}

TEST(ExprSqlTest, LiteralsAreBoundNeverPasted) {
  std::vector<std::string> params;
  auto sql = Sql("s = 'x''; DROP TABLE t; --' or i > 42 or f < 2.5", &params);
  ASSERT_TRUE(sql.ok()) << sql.status().message();
  EXPECT_EQ(params, (std::vector<std::string>{"x'; DROP TABLE t; --", "42", "2.5"}));
  EXPECT_EQ(sql->find("DROP"), std::string::npos) << *sql;
  EXPECT_EQ(sql->find("42"), std::string::npos) << *sql;
  EXPECT_NE(sql->find("$1::text"), std::string::npos) << *sql;
  EXPECT_NE(sql->find("$2::bigint"), std::string::npos) << *sql;
  EXPECT_NE(sql->find("$3::double precision"), std::string::npos) << *sql;
  // Text compares byte-wise.
  EXPECT_NE(sql->find("COLLATE \"C\""), std::string::npos) << *sql;
}

TEST(ExprSqlTest, ColumnsGoThroughTheCallersQuoting) {
  std::vector<std::string> params;
  auto sql = Sql("[we\"ird; col] || s", &params);
  ASSERT_TRUE(sql.ok()) << sql.status().message();
  EXPECT_EQ(*sql, "(t.\"we\"\"ird; col\" || t.\"s\")");
  EXPECT_TRUE(params.empty());
}

TEST(ExprSqlTest, NumberingContinuesAfterExistingParams) {
  std::vector<std::string> params = {"earlier"};
  auto sql = Sql("i + 7", &params);
  ASSERT_TRUE(sql.ok());
  EXPECT_NE(sql->find("$2::bigint"), std::string::npos) << *sql;
  EXPECT_EQ(params.size(), 2u);
}

TEST(ExprSqlTest, OverflowAndDivisionByZeroGiveNullNotErrors) {
  std::vector<std::string> params;
  auto add = Sql("i + 1", &params);
  ASSERT_TRUE(add.ok());
  // Computed in numeric, null outside int64 (PostgreSQL's bigint + would raise).
  EXPECT_NE(add->find("::numeric"), std::string::npos) << *add;
  EXPECT_NE(add->find("9223372036854775808"), std::string::npos) << *add;
  auto div = Sql("f / 0", &params);
  ASSERT_TRUE(div.ok());
  EXPECT_NE(div->find("NULLIF("), std::string::npos) << *div;
}

TEST(ExprSqlTest, OperandsUsedTwiceAreComputedOnce) {
  std::vector<std::string> params;
  auto sql = Sql("(i + 1) // (i - 10)", &params);
  ASSERT_TRUE(sql.ok());
  // Each operand once, bound in a one-row subquery.
  EXPECT_NE(sql->find("AS l_1"), std::string::npos) << *sql;
  size_t count = 0;
  for (size_t p = sql->find("t.\"i\""); p != std::string::npos; p = sql->find("t.\"i\"", p + 1))
    ++count;
  EXPECT_EQ(count, 2u) << *sql;
}

TEST(ExprSqlTest, NotExpressibleSaysWhyAndLeavesParams) {
  std::vector<std::string> params = {"kept"};
  for (const char* text : {"matches(s, '^a')", "substr(s, 2)", "f % 2", "f // 2", "round(f)",
                           "to_int(s)", "to_string(f)", "min(f, 1.5)", "to_string(d)"}) {
    auto sql = Sql(text, &params);
    ASSERT_FALSE(sql.ok()) << text;
    EXPECT_TRUE(IsNotExpressible(sql.status())) << text << ": " << sql.status().message();
    EXPECT_EQ(params, std::vector<std::string>{"kept"}) << text;
  }
  EXPECT_FALSE(IsNotExpressible(Status::Invalid("other")));
}

TEST(ExprSqlTest, RefusedCallsAreFoundWithoutTypes) {
  auto e = ParseExpr("x > 1 and matches(y, 'a')");
  ASSERT_TRUE(e.ok());
  EXPECT_NE(SqlRefusedCall(*e).find("matches()"), std::string::npos);
  auto ok = ParseExpr("upper(trim(y)) = 'A' or year(d) > 2000");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(SqlRefusedCall(*ok), "");
  auto round = ParseExpr("round(x, 2)");
  ASSERT_TRUE(round.ok());
  EXPECT_NE(SqlRefusedCall(*round).find("round()"), std::string::npos);
  auto unknown = ParseExpr("frobnicate(x)");
  ASSERT_TRUE(unknown.ok());
  EXPECT_NE(SqlRefusedCall(*unknown).find("frobnicate"), std::string::npos);
}

// Found by the PostgreSQL conformance suite: year() of a date before year 0
// came out as 2^32 - |year| (an int mixed with unsigned month and day).
TEST(ExprSqlTest, YearOfADateBeforeYearZeroIsNegative) {
  ColumnBuilder b(TypeId::kDate32);
  b.AppendDate32(-719529);  // 31 December of year -1 (2 BC)
  b.AppendDate32(-719528);  // 1 January of year 0 (1 BC)
  auto t = Table::Make(Schema{{{"d", TypeId::kDate32}}}, {b.Finish()}, 2);
  ASSERT_TRUE(t.ok());
  auto e = Compile("year(d)", t->schema());
  ASSERT_TRUE(e.ok());
  auto col = e->Evaluate(*t);
  ASSERT_TRUE(col.ok());
  EXPECT_EQ((*col)->Int64(0), -1);
  EXPECT_EQ((*col)->Int64(1), 0);
}

}  // namespace
}  // namespace alambic::expr_sql_test
