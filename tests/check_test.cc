// The check recipe kind: each check passing and failing with its exact
// message, warn severity, the metrics, parameter errors.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/recipe/recipe.h"
#include "tests/test_util.h"

namespace alambic::check_test {
namespace {

using nlohmann::json;
using testing::CapturingLogger;
using V = std::vector<std::string>;

ColumnPtr Ints(const std::vector<std::optional<int64_t>>& v) {
  ColumnBuilder b(TypeId::kInt64);
  for (const auto& x : v) x ? b.AppendInt64(*x) : b.AppendNull();
  return b.Finish();
}
ColumnPtr Strings(const std::vector<std::optional<std::string>>& v) {
  ColumnBuilder b(TypeId::kUtf8);
  for (const auto& x : v) x ? b.AppendString(*x) : b.AppendNull();
  return b.Finish();
}
ColumnPtr Dates(const std::vector<int32_t>& v) {
  ColumnBuilder b(TypeId::kDate32);
  for (auto x : v) b.AppendDate32(x);
  return b.Finish();
}

// 8 rows: candidate, centre (dictionary), score, result, exam date.
NamedTable Exams() {
  Schema s{{{"candidate", TypeId::kUtf8},
            {"centre", TypeId::kUtf8},
            {"score", TypeId::kInt64},
            {"result", TypeId::kUtf8},
            {"day", TypeId::kDate32}}};
  const int32_t jan1 = DaysFromCivil(2025, 1, 1);
  auto t = Table::Make(
      s, {Strings({"A1", "A2", "A3", "A2", std::nullopt, "A6", "A7", "A8"}),
          DictionaryEncode(*Strings(
              {"75001", "75001", "2A004", "13055", "13055", "x\"y\n", "69123", std::nullopt})),
          Ints({12, 8, 15, 21, -1, 10, std::nullopt, 30}),
          Strings({"reussite", "echec", "reussite", "reussite", "echec", "absent", "echec",
                   "reussite"}),
          Dates({jan1, jan1 + 1, jan1 + 2, jan1 + 3, jan1 + 4, jan1 + 5, jan1 + 40, jan1 + 6})});
  EXPECT_TRUE(t.ok());
  return {"exams", std::make_shared<const Table>(std::move(*t))};
}

class CheckTest : public ::testing::Test {
 protected:
  Result<RecipeOutput> Run(const json& checks) {
    params_ = {{"checks", checks}};
    RecipeContext ctx;
    ctx.recipe = "quality";
    ctx.params = &params_;
    ctx.inputs = {Exams()};
    ctx.outputs = {"checked"};
    ctx.log = &log_;
    ctx.cancel = &cancel_;
    return kind().Run(ctx);
  }
  // Runs one check expecting the recipe to fail; returns the message.
  std::string Failure(const json& check) {
    auto out = Run(json::array({check}));
    EXPECT_FALSE(out.ok()) << check.dump();
    return out.ok() ? "" : out.status().message();
  }
  // Runs one check expecting success; returns its metrics entry.
  json Passing(const json& check) {
    auto out = Run(json::array({check}));
    EXPECT_TRUE(out.ok()) << check.dump() << ": " << out.status().message();
    if (!out.ok()) return json();
    EXPECT_EQ(out->metrics["checks"].size(), 1u);
    EXPECT_TRUE(out->metrics["checks"][0]["passed"].get<bool>()) << check.dump();
    return out->metrics["checks"][0];
  }
  std::string ParamError(const json& checks) {
    return kind().CheckParams({{"checks", checks}}).message();
  }
  const RecipeKind& kind() const { return *alambic::testing::BuiltinKinds().Find("check"); }
  json params_;
  CapturingLogger log_;
  CancelToken cancel_;
};

TEST_F(CheckTest, PassesTheInputThroughUnchanged) {
  auto out = Run(json::array({{{"row_count", {{"min", 1}}}}}));
  ASSERT_TRUE(out.ok()) << out.status().message();
  ASSERT_EQ(out->tables.size(), 1u);
  const Table& t = out->tables[0];
  EXPECT_EQ(t.num_rows(), 8);
  EXPECT_EQ(t.schema(), Exams().table->schema());
  using S = std::vector<ColumnSource>;
  EXPECT_EQ(out->column_lineage.at(0).at("score"), (S{{"exams", "score", "identity"}}));
  EXPECT_EQ(out->metrics["rows"], 8);
}

TEST_F(CheckTest, RowCount) {
  Passing({{"row_count", {{"min", 8}, {"max", 8}}}});
  EXPECT_EQ(Failure({{"row_count", {{"min", 10}}}}),
            "recipe quality: check 'row_count' failed: 8 rows, expected at least 10");
  EXPECT_EQ(Failure({{"row_count", {{"max", 5}}}}),
            "recipe quality: check 'row_count' failed: 8 rows, expected at most 5");
}

TEST_F(CheckTest, NotNullReportsEachColumn) {
  Passing({{"not_null", {"result"}}});
  Passing({{"not_null", "day"}});
  EXPECT_EQ(Failure({{"not_null", {"candidate", "result", "score"}}}),
            "recipe quality: check 'not_null(candidate)' failed: column 'candidate': 1 of 8 "
            "rows fail (row 5: null); check 'not_null(score)' failed: column 'score': 1 of 8 "
            "rows fail (row 7: null)");
}

TEST_F(CheckTest, UniqueOnOneAndSeveralColumns) {
  Passing({{"unique", {"day"}}});
  Passing({{"unique", {"candidate", "score"}}});
  EXPECT_EQ(Failure({{"unique", {"candidate"}}}),
            "recipe quality: check 'unique(candidate)' failed: column 'candidate': 1 of 8 rows "
            "fail (row 4: \"A2\" (as row 2))");
  EXPECT_EQ(Failure({{"unique", {"result"}}}),
            "recipe quality: check 'unique(result)' failed: column 'result': 5 of 8 rows fail "
            "(row 3: \"reussite\" (as row 1), row 4: \"reussite\" (as row 1), row 5: \"echec\" "
            "(as row 2), row 7: \"echec\" (as row 2), row 8: \"reussite\" (as row 1))");
  // Nulls are distinct, as in SQL: row 8's null centre is not compared.
  EXPECT_EQ(Failure({{"unique", {"centre"}}}),
            "recipe quality: check 'unique(centre)' failed: column 'centre': 2 of 8 rows fail "
            "(row 2: \"75001\" (as row 1), row 5: \"13055\" (as row 4))");
  Passing({{"unique", {"result", "centre"}}});
}

// Runs the checks on a table; returns the error or "ok".
std::string RunOn(const json& checks, const Schema& schema, const std::vector<ColumnPtr>& cols) {
  const json params = {{"checks", checks}};
  auto t = Table::Make(schema, cols);
  EXPECT_TRUE(t.ok());
  RecipeContext ctx;
  ctx.recipe = "q";
  ctx.params = &params;
  ctx.inputs = {{"in", std::make_shared<const Table>(*t)}};
  ctx.outputs = {"out"};
  auto out = alambic::testing::BuiltinKinds().Find("check")->Run(ctx);
  return out.ok() ? "ok" : out.status().message();
}

// One int64, timestamp or date32 column takes a path that does not format the
// values: same verdicts and messages.
TEST(CheckUniqueTest, IntegerColumnsAscendingOrNot) {
  const json checks = json::array({{{"unique", "id"}}});
  const Schema ints{{{"id", TypeId::kInt64}}};
  EXPECT_EQ(RunOn(checks, ints, {Ints({1, 2, std::nullopt, 5, std::nullopt, 9})}), "ok");
  EXPECT_EQ(RunOn(checks, ints, {Ints({9, 2, std::nullopt, 5, std::nullopt, 1})}), "ok");
  EXPECT_EQ(RunOn(checks, ints, {Ints({1, 2, 2, 3})}),
            "recipe q: check 'unique(id)' failed: column 'id': 1 of 4 rows fail (row 3: 2 (as "
            "row 2))");
  EXPECT_EQ(RunOn(checks, ints, {Ints({3, 1, 3, std::nullopt, 1, -4, 3})}),
            "recipe q: check 'unique(id)' failed: column 'id': 3 of 7 rows fail (row 3: 3 (as "
            "row 1), row 5: 1 (as row 2), row 7: 3 (as row 1))");
  const int32_t jan1 = DaysFromCivil(2025, 1, 1);
  EXPECT_EQ(RunOn(checks, Schema{{{"id", TypeId::kDate32}}}, {Dates({jan1, jan1 + 1, jan1})}),
            "recipe q: check 'unique(id)' failed: column 'id': 1 of 3 rows fail (row 3: "
            "2025-01-01 (as row 1))");
  ColumnBuilder ts(TypeId::kTimestamp);
  for (int64_t v : {int64_t{5}, int64_t{5}}) ts.AppendTimestamp(v);
  EXPECT_EQ(RunOn(checks, Schema{{{"id", TypeId::kTimestamp}}}, {ts.Finish()}),
            "recipe q: check 'unique(id)' failed: column 'id': 1 of 2 rows fail (row 2: "
            "1970-01-01T00:00:00.000005Z (as row 1))");
}

TEST_F(CheckTest, ValuesIn) {
  Passing({{"values_in", {{"column", "result"}, {"values", {"reussite", "echec", "absent"}}}}});
  // Nulls pass: use not_null to forbid them.
  Passing({{"values_in", {{"column", "score"}, {"values", {12, 8, 15, 21, -1, 10, 30}}}}});
  EXPECT_EQ(Failure({{"values_in", {{"column", "result"}, {"values", {"reussite", "echec"}}}}}),
            "recipe quality: check 'values_in(result)' failed: column 'result': 1 of 8 rows fail "
            "(row 6: \"absent\")");
  EXPECT_EQ(Failure({{"values_in", {{"column", "score"}, {"values", {"12"}}}}}),
            "recipe quality: check 'values_in(score)': value \"12\" does not fit column 'score' "
            "(int64)");
}

TEST_F(CheckTest, Range) {
  Passing({{"range", {{"column", "day"}, {"min", "2025-01-01"}, {"max", "2025-12-31"}}}});
  EXPECT_EQ(Failure({{"range", {{"column", "score"}, {"min", 0}, {"max", 20}}}}),
            "recipe quality: check 'range(score)' failed: column 'score': 3 of 8 rows fail "
            "(row 4: 21, row 5: -1, row 8: 30)");
  EXPECT_EQ(Failure({{"range", {{"column", "day"}, {"max", "2025-01-31"}}}}),
            "recipe quality: check 'range(day)' failed: column 'day': 1 of 8 rows fail (row 7: "
            "2025-02-10)");
  EXPECT_EQ(Failure({{"range", {{"column", "day"}, {"max", "2025-02-30"}}}}),
            "recipe quality: check 'range(day)': invalid date '2025-02-30' (expected "
            "YYYY-MM-DD)");
}

TEST_F(CheckTest, RegexMatchesTheWholeValueAndEscapesExamples) {
  Passing({{"regex", {{"column", "candidate"}, {"pattern", "A[0-9]"}}}});
  EXPECT_EQ(Failure({{"regex", {{"column", "centre"}, {"pattern", "[0-9]{5}"}}}}),
            "recipe quality: check 'regex(centre)' failed: column 'centre': 2 of 8 rows fail "
            "(row 3: \"2A004\", row 6: \"x\\\"y\\n\")");
  EXPECT_EQ(Failure({{"regex", {{"column", "score"}, {"pattern", "1"}}}}),
            "recipe quality: check 'regex(score)': column 'score' is int64, not utf8");
}

TEST_F(CheckTest, LongExampleValuesAreCut) {
  params_ = {{"checks", json::array({{{"regex", {{"column", "s"}, {"pattern", "a*"}}}}})}};
  Schema s{{{"s", TypeId::kUtf8}}};
  auto t = Table::Make(s, {Strings({std::string(100, 'a') + "é" + std::string(100, 'b')})});
  ASSERT_TRUE(t.ok());
  RecipeContext ctx;
  ctx.recipe = "q";
  ctx.params = &params_;
  ctx.inputs = {{"in", std::make_shared<const Table>(*t)}};
  ctx.outputs = {"out"};
  auto out = kind().Run(ctx);
  EXPECT_EQ(out.status().message(),
            "recipe q: check 'regex(s)' failed: column 's': 1 of 1 rows fail (row 1: \"" +
                std::string(60, 'a') + "…\")");
}

// Runs the checks on a one-column utf8 table `s`; returns the error or "ok".
std::string RunOnStrings(const json& checks, const std::vector<std::optional<std::string>>& v) {
  const json params = {{"checks", checks}};
  auto t = Table::Make(Schema{{{"s", TypeId::kUtf8}}}, {Strings(v)});
  EXPECT_TRUE(t.ok());
  RecipeContext ctx;
  ctx.recipe = "q";
  ctx.params = &params;
  ctx.inputs = {{"in", std::make_shared<const Table>(*t)}};
  ctx.outputs = {"out"};
  auto out = alambic::testing::BuiltinKinds().Find("check")->Run(ctx);
  return out.ok() ? "ok" : out.status().message();
}

TEST(CheckRegexTest, UnicodeLettersAreWordCharacters) {
  const json checks = json::array({{{"regex", {{"column", "s"}, {"pattern", "\\w+( \\w+)*"}}}}});
  EXPECT_EQ(RunOnStrings(checks, {"École", "Île de France", std::nullopt}), "ok");
  EXPECT_EQ(RunOnStrings(checks, {"École", "Île-de-France"}),
            "recipe q: check 'regex(s)' failed: column 's': 1 of 2 rows fail (row 2: "
            "\"Île-de-France\")");
}

TEST(CheckRegexTest, CatastrophicBacktrackingFailsTheRecipeNamingColumnAndRow) {
  const json checks = json::array({{{"regex", {{"column", "s"}, {"pattern", "(a+)+"}}}}});
  EXPECT_EQ(RunOnStrings(checks, {"aaa", std::string(10000, 'a') + "b"}),
            "recipe q: check 'regex(s)': matches() on column 's', row 2: the regular expression "
            "'^(?:(a+)+)$': match limit exceeded (the pattern backtracks too much on this value: "
            "nested quantifiers such as (a+)+, or a repeated group over a very long value)");
}

TEST_F(CheckTest, SchemaContains) {
  Passing({{"schema_contains", {{"score", "int"}, {"day", "date"}}}});
  EXPECT_EQ(Failure({{"schema_contains", {{"score", "float64"}, {"age", "int64"}}}}),
            "recipe quality: check 'schema_contains' failed: column 'age' is missing, column "
            "'score' is int64, expected float64");
}

TEST_F(CheckTest, FormulaMustHoldForEveryRow) {
  Passing({{"formula", "score >= -1 or result = 'absent'"}});
  EXPECT_EQ(
      Failure({{"formula", "score >= 13 or result != 'reussite'"}, {"name", "passed means 13+"}}),
      "recipe quality: check 'passed means 13+' failed: 1 of 8 rows fail (row 1: score=12, "
      "result=\"reussite\")");
  EXPECT_EQ(Failure({{"formula", "score < 20 and day < '2025-02-01'"}}),
            "recipe quality: check 'score < 20 and day < '2025-02-01'' failed: 3 of 8 rows fail "
            "(row 4: score=21, day=2025-01-04, row 7: score=null, day=2025-02-10, row 8: "
            "score=30, day=2025-01-07)");
  EXPECT_EQ(Failure({{"formula", "score + 1"}}),
            "recipe quality: check 'score + 1': the expression must be bool, got int64");
}

TEST_F(CheckTest, WarnSeverityLogsAndSucceedsWithMetrics) {
  auto out = Run(json::array({{{"not_null", {"candidate"}}, {"severity", "warn"}},
                              {{"range", {{"column", "score"}, {"min", 0}}},
                               {"name", "no negative score"},
                               {"severity", "warn"}},
                              {{"unique", {"day"}}}}));
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(log_.tagged(),
            (V{"warn: check 'not_null(candidate)' failed: column 'candidate': 1 of 8 rows fail "
               "(row 5: null)",
               "warn: check 'no negative score' failed: column 'score': 1 of 8 rows fail (row 5: "
               "-1)",
               "checks: 1 passed, 2 failed with severity warn"}));
  EXPECT_EQ(out->metrics["checks"].dump(), json::parse(R"json([
  {"name": "not_null(candidate)", "check": "not_null", "column": "candidate",
   "severity": "warn", "passed": false, "failing_rows": 1,
   "examples": [{"row": 5, "value": "null"}],
   "message": "check 'not_null(candidate)' failed: column 'candidate': 1 of 8 rows fail (row 5: null)"
},
  {"name": "no negative score", "check": "range", "column": "score",
   "severity": "warn", "passed": false, "failing_rows": 1,
   "examples": [{"row": 5, "value": "-1"}],
   "message": "check 'no negative score' failed: column 'score': 1 of 8 rows fail (row 5: -1)"},
  {"name": "unique(day)", "check": "unique", "column": "day", "severity": "error",
   "passed": true, "failing_rows": 0, "examples": [], "message": ""}
])json")
                                               .dump());
}

TEST_F(CheckTest, AtMostFiveExamples) {
  auto out = Run(json::array({{{"formula", "score > 100"}, {"severity", "warn"}}}));
  ASSERT_TRUE(out.ok());
  const json& c = out->metrics["checks"][0];
  EXPECT_EQ(c["failing_rows"], 7);
  EXPECT_EQ(c["examples"].size(), 5u);
  EXPECT_EQ(c["message"],
            "check 'score > 100' failed: 7 of 8 rows fail (row 1: 12, row 2: 8, row 3: 15, row 4: "
            "21, row 5: -1, …)");
}

TEST_F(CheckTest, ErrorsAtRunTime) {
  EXPECT_EQ(Failure({{"not_null", {"nope"}}}),
            "recipe quality: check 'not_null(nope)': unknown column 'nope' (columns: "
            "candidate:utf8, centre:utf8, score:int64, result:utf8, day:date32)");
  EXPECT_EQ(Failure({{"formula", "scor > 1"}}),
            "recipe quality: check 'scor > 1': 1:1: unknown column 'scor' (did you mean 'score'? "
            "columns: candidate, "
            "centre, score, result, day)");
}

TEST_F(CheckTest, ParamErrors) {
  EXPECT_EQ(ParamError(json::array()), "param 'checks': must be a non-empty list of checks");
  EXPECT_EQ(ParamError(json::array({"x"})),
            "param 'checks': check 1 (?): must be a mapping such as {not_null: [column]}");
  EXPECT_EQ(ParamError(json::array({{{"not_nul", {"a"}}}})),
            "param 'checks': check 1 (?): unknown key 'not_nul' (expected one of: row_count, "
            "not_null, unique, values_in, range, regex, schema_contains, formula, name, "
            "severity)");
  EXPECT_EQ(ParamError(json::array({{{"name", "x"}}})),
            "param 'checks': check 1 (?): names no check (expected one of: row_count, not_null, "
            "unique, values_in, range, regex, schema_contains, formula)");
  EXPECT_EQ(ParamError(json::array({{{"not_null", {"a"}}, {"unique", {"a"}}}})),
            "param 'checks': check 1 (not_null): holds two checks (not_null and unique)");
  EXPECT_EQ(ParamError(json::array({{{"not_null", {"a"}}, {"severity", "fatal"}}})),
            "param 'checks': check 1 (not_null): 'severity' must be error or warn");
  EXPECT_EQ(ParamError(json::array({{{"row_count", {{"min", 5}, {"max", 1}}}}})),
            "param 'checks': check 1 (row_count): 'min' exceeds 'max'");
  EXPECT_EQ(ParamError(json::array({{{"row_count", json::object()}}})),
            "param 'checks': check 1 (row_count): needs 'min' or 'max'");
  EXPECT_EQ(ParamError(json::array({{{"values_in", {{"column", "a"}}}}})),
            "param 'checks': check 1 (values_in): needs 'values': a non-empty list");
  EXPECT_EQ(ParamError(json::array({{{"range", {{"column", "a"}, {"min", 1}, {"mx", 2}}}}})),
            "param 'checks': check 1 (range): unknown key 'mx'");
  EXPECT_EQ(ParamError(json::array({{{"regex", {{"column", "a"}, {"pattern", "(a"}}}}})),
            "param 'checks': check 1 (regex): invalid regular expression '(a' at offset 2: "
            "missing closing parenthesis");
  EXPECT_EQ(ParamError(json::array({{{"schema_contains", {{"a", "money"}}}}})),
            "param 'checks': check 1 (schema_contains): column 'a': unknown type 'money'"
            " (expected int64, float64, bool, utf8, date32 or timestamp)");
  EXPECT_EQ(ParamError(json::array({{{"formula", "a >"}}})),
            "param 'checks': check 1 (formula): 1:4: expected a value, found the end");
  EXPECT_EQ(ParamError(json::array({{{"not_null", {"a"}}}, {{"unique", 3}}})),
            "param 'checks': check 2 (unique): must be a column name or a list of them");
}

}  // namespace
}  // namespace alambic::check_test
