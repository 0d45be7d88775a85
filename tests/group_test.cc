// The group kind: aggregates, SQL null semantics, filters, key order, lineage
// and errors. Randomised comparisons with SQLite are in relational_diff_test.cc.
#include <gtest/gtest.h>

#include "tests/kind_test_util.h"

namespace alambic::group_test {
namespace {

using nlohmann::json;
using testing::Bools;
using testing::Cells;
using testing::Doubles;
using testing::Ints;
using testing::MakeInput;
using testing::Strings;
using V = std::vector<std::string>;

NamedTable Exams() {
  return MakeInput(
      "exams",
      {{"centre", DictionaryEncode(*Strings({"C2", "C1", "C2", std::nullopt, "C1", "C2"}))},
       {"result", Strings({"reussite", "echec", "reussite", "echec", "reussite", "echec"})},
       {"score", Ints({12, 8, std::nullopt, 17, 15, 9})},
       {"weight", Doubles({1.5, 2.0, 0.5, std::nullopt, 1.0, 3.0})},
       {"late", Bools({false, true, false, true, std::nullopt, false})}});
}

Result<RecipeOutput> Group(const json& params, NamedTable in = Exams()) {
  return testing::RunKind("group", params, {std::move(in)});
}

TEST(GroupTest, EveryAggregateWithSqlNullSemanticsSortedByKey) {
  auto out =
      Group({{"keys", {"centre"}},
             {"aggregates",
              json::array({{{"name", "exams"}, {"fn", "count"}},
                           {{"name", "scored"}, {"fn", "count"}, {"column", "score"}},
                           {{"name", "results"}, {"fn", "count_distinct"}, {"column", "result"}},
                           {{"name", "total"}, {"fn", "sum"}, {"column", "score"}},
                           {{"name", "mean_score"}, {"fn", "mean"}, {"column", "score"}},
                           {{"name", "low"}, {"fn", "min"}, {"column", "score"}},
                           {{"name", "high"}, {"fn", "max"}, {"column", "result"}},
                           {{"name", "sd"}, {"fn", "stddev"}, {"column", "weight"}},
                           {{"name", "med"}, {"fn", "median"}, {"column", "score"}},
                           {{"name", "first_w"}, {"fn", "first"}, {"column", "weight"}},
                           {{"name", "last_late"}, {"fn", "last"}, {"column", "late"}},
                           {{"name", "w"}, {"fn", "sum"}, {"column", "weight"}}})}});
  ASSERT_TRUE(out.ok()) << out.status().message();
  const Table& t = out->tables.at(0);
  EXPECT_EQ(t.schema().ToString(),
            "centre:utf8, exams:int64, scored:int64, results:int64, total:int64, "
            "mean_score:float64, low:int64, high:utf8, sd:float64, med:float64, first_w:float64, "
            "last_late:bool, w:float64");
  // The null key is a group of its own and sorts first.
  EXPECT_EQ(Cells(t, "centre"), (V{"null", "C1", "C2"}));
  EXPECT_EQ(Cells(t, "exams"), (V{"1", "2", "3"}));
  EXPECT_EQ(Cells(t, "scored"), (V{"1", "2", "2"}));
  EXPECT_EQ(Cells(t, "results"), (V{"1", "2", "2"}));
  EXPECT_EQ(Cells(t, "total"), (V{"17", "23", "21"}));
  EXPECT_EQ(Cells(t, "mean_score"), (V{"17", "11.5", "10.5"}));
  EXPECT_EQ(Cells(t, "low"), (V{"17", "8", "9"}));
  EXPECT_EQ(Cells(t, "high"), (V{"echec", "reussite", "reussite"}));
  // Sample standard deviation; null below two values.
  EXPECT_EQ(Cells(t, "sd")[0], "null");
  EXPECT_NEAR(std::stod(Cells(t, "sd")[1]), std::sqrt(0.5), 1e-12);
  EXPECT_NEAR(std::stod(Cells(t, "sd")[2]), std::sqrt(114.0 / 72), 1e-12);
  EXPECT_EQ(Cells(t, "med"), (V{"17", "11.5", "10.5"}));
  EXPECT_EQ(Cells(t, "first_w"), (V{"null", "2", "1.5"}));         // first non-null
  EXPECT_EQ(Cells(t, "last_late"), (V{"true", "true", "false"}));  // last non-null
  EXPECT_EQ(Cells(t, "w"), (V{"null", "3", "5"}));                 // sum of no value is null
  EXPECT_TRUE(t.ColumnByName("centre")->is_dictionary());
  EXPECT_EQ(out->metrics["rows"], 3);
  EXPECT_EQ(out->metrics["rows_in"], 6);
}

TEST(GroupTest, FiltersAndExpressionsPerAggregate) {
  auto out = Group(
      {{"keys", "centre"},
       {"aggregates",
        json::array(
            {{{"name", "success_rate"}, {"fn", "mean"}, {"expr", "result = 'reussite'"}},
             {{"name", "passed"}, {"fn", "count"}, {"where", "result = 'reussite'"}},
             {{"name", "best_failed"},
              {"fn", "max"},
              {"column", "score"},
              {"where", "result = 'echec'"}},
             {{"name", "none"}, {"fn", "sum"}, {"column", "score"}, {"where", "score > 100"}}})}});
  ASSERT_TRUE(out.ok()) << out.status().message();
  const Table& t = out->tables.at(0);
  EXPECT_EQ(Cells(t, "success_rate")[1], "0.5");
  EXPECT_NEAR(std::stod(Cells(t, "success_rate")[2]), 2.0 / 3, 1e-12);
  EXPECT_EQ(Cells(t, "passed"), (V{"0", "1", "2"}));
  EXPECT_EQ(Cells(t, "best_failed"), (V{"17", "8", "9"}));
  EXPECT_EQ(Cells(t, "none"), (V{"null", "null", "null"}));
  using S = std::vector<ColumnSource>;
  const auto& l = out->column_lineage.at(0);
  EXPECT_EQ(l.at("centre"), (S{{"exams", "centre", kTransformIdentity}}));
  EXPECT_EQ(l.at("success_rate"), (S{{"exams", "result", kTransformAggregation}}));
  EXPECT_EQ(l.at("passed"), (S{{"exams", "result", kTransformFilter}}));
  EXPECT_EQ(l.at("best_failed"),
            (S{{"exams", "score", kTransformAggregation}, {"exams", "result", kTransformFilter}}));
}

TEST(GroupTest, NoKeysGivesOneRowEvenWithoutInputRows) {
  auto empty = MakeInput("e", {{"x", Ints({})}});
  auto out = Group({{"aggregates", json::array({{{"name", "n"}, {"fn", "count"}},
                                                {{"name", "s"}, {"fn", "sum"}, {"column", "x"}},
                                                {{"name", "m"}, {"fn", "min"}, {"column", "x"}}})}},
                   empty);
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(Cells(out->tables[0], "n"), V{"0"});
  EXPECT_EQ(Cells(out->tables[0], "s"), V{"null"});
  EXPECT_EQ(Cells(out->tables[0], "m"), V{"null"});
  // With keys, no rows gives no groups.
  out = Group({{"keys", "x"}, {"aggregates", json::array({{{"name", "n"}, {"fn", "count"}}})}},
              empty);
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(out->tables[0].num_rows(), 0);
  EXPECT_EQ(out->tables[0].schema().ToString(), "x:int64, n:int64");
}

TEST(GroupTest, MultipleKeysOnlyKeysAndIntegerOverflow) {
  auto in = MakeInput("t", {{"a", Ints({2, 1, 2, 1, 2})},
                            {"b", Bools({true, false, true, std::nullopt, false})},
                            {"v", Ints({INT64_MAX, 1, 1, -5, 3})}});
  auto out =
      Group({{"keys", {"a", "b"}},
             {"aggregates", json::array({{{"name", "s"}, {"fn", "sum"}, {"column", "v"}},
                                         {{"name", "sb"}, {"fn", "sum"}, {"column", "b"}},
                                         {{"name", "mean_b"}, {"fn", "mean"}, {"column", "b"}}})}},
            in);
  ASSERT_TRUE(out.ok()) << out.status().message();
  const Table& t = out->tables[0];
  EXPECT_EQ(Cells(t, "a"), (V{"1", "1", "2", "2"}));
  EXPECT_EQ(Cells(t, "b"), (V{"null", "false", "false", "true"}));
  // INT64_MAX + 1 overflows: null, as an overflowing expression.
  EXPECT_EQ(Cells(t, "s"), (V{"-5", "1", "3", "null"}));
  EXPECT_EQ(Cells(t, "sb"), (V{"null", "0", "0", "2"}));
  EXPECT_EQ(Cells(t, "mean_b"), (V{"null", "0", "0", "1"}));
  // Keys alone: the distinct key combinations.
  out = Group({{"keys", {"b"}}}, in);
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(Cells(out->tables[0], "b"), (V{"null", "false", "true"}));
}

TEST(GroupTest, ErrorsNameTheRecipeParamAndColumn) {
  EXPECT_EQ(Group({{"keys", {"centr"}}}).status().message(),
            "recipe r: param 'keys': column 'centr' not in input 'exams' (columns: centre, "
            "result, score, weight, late)");
  EXPECT_EQ(
      Group({{"aggregates", json::array({{{"name", "m"}, {"fn", "mean"}, {"column", "result"}}})}})
          .status()
          .message(),
      "recipe r: param 'aggregates': 'm': mean needs numbers, but 'result' is utf8");
  EXPECT_EQ(
      Group({{"aggregates", json::array({{{"name", "m"}, {"fn", "max"}, {"column", "scor"}}})}})
          .status()
          .message(),
      "recipe r: param 'aggregates': 'm': column 'scor' not in input 'exams' (columns: "
      "centre, result, score, weight, late)");
  EXPECT_EQ(Group({{"aggregates",
                    json::array({{{"name", "m"}, {"fn", "count"}, {"where", "score + 1"}}})}})
                .status()
                .message(),
            "recipe r: param 'aggregates': 'm': where: the condition must be bool, got int64");
  EXPECT_EQ(testing::CheckKindParams("group", json::object()),
            "param 'aggregates': is required when there are no keys");
  EXPECT_EQ(testing::CheckKindParams(
                "group", {{"aggregates", json::array({{{"name", "m"}, {"fn", "average"}}})}}),
            "param 'aggregates': 'm': unknown fn 'average' (expected count, count_distinct, sum, "
            "mean, min, max, stddev, median, first, last)");
  EXPECT_EQ(testing::CheckKindParams(
                "group",
                {{"keys", "k"}, {"aggregates", json::array({{{"name", "k"}, {"fn", "count"}}})}}),
            "param 'aggregates': 'k': the name is already used by a key or another aggregate");
  EXPECT_EQ(testing::CheckKindParams(
                "group", {{"aggregates", json::array({{{"name", "m"}, {"fn", "sum"}}})}}),
            "param 'aggregates': 'm': sum needs a 'column' or an 'expr'");
  EXPECT_EQ(testing::CheckKindParams(
                "group", {{"aggregates",
                           json::array({{{"name", "m"}, {"fn", "count"}, {"where", "a >"}}})}}),
            "param 'aggregates': 'm': where: 1:4: expected a value, found the end");
  EXPECT_EQ(testing::CheckKindParams(
                "group",
                {{"aggregates", json::array({{{"name", "m"}, {"fn", "count"}, {"colum", "a"}}})}}),
            "param 'aggregates': entry 1: unknown key 'colum' (expected name, fn, column, expr, "
            "where)");
  EXPECT_EQ(testing::CheckKindParams("group", {{"keys", {"a", "a"}}}),
            "param 'keys': column 'a' is listed twice");
}

}  // namespace
}  // namespace alambic::group_test
