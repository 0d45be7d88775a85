// The window kind: ranks, lag/lead, running and framed aggregates, input
// order kept, lineage and errors. Randomised comparisons with SQLite are in
// relational_diff_test.cc.
#include <gtest/gtest.h>

#include "tests/kind_test_util.h"

namespace alambic::window_test {
namespace {

using nlohmann::json;
using testing::Cells;
using testing::Ints;
using testing::MakeInput;
using testing::Strings;
using V = std::vector<std::string>;

NamedTable Sales() {
  return MakeInput("sales", {{"shop", Strings({"b", "a", "b", "a", "b", "a"})},
                             {"day", Ints({3, 1, 1, 2, 2, 2})},
                             {"amount", Ints({30, 10, 5, std::nullopt, 20, 7})}});
}

TEST(WindowTest, RanksLagLeadAndRunningAggregatesPerPartition) {
  json columns = json::array({
      {{"name", "rn"}, {"fn", "row_number"}},
      {{"name", "rk"}, {"fn", "rank"}},
      {{"name", "drk"}, {"fn", "dense_rank"}},
      {{"name", "prev"}, {"fn", "lag"}, {"column", "amount"}},
      {{"name", "next2"}, {"fn", "lead"}, {"column", "day"}, {"offset", 2}},
      {{"name", "running"}, {"fn", "sum"}, {"column", "amount"}},
      {{"name", "n"}, {"fn", "count"}, {"column", "amount"}},
      {{"name", "avg2"}, {"fn", "mean"}, {"column", "amount"}, {"frame", {{"preceding", 1}}}},
      {{"name", "best"},
       {"fn", "max"},
       {"column", "amount"},
       {"frame", {{"preceding", "unbounded"}, {"following", "unbounded"}}}},
  });
  auto out = testing::RunKind(
      "window", {{"partition_by", "shop"}, {"order_by", "day"}, {"columns", columns}}, {Sales()});
  ASSERT_TRUE(out.ok()) << out.status().message();
  const Table& t = out->tables[0];
  // Rows stay in input order. Shop a in order: rows 1 (day 1), 3 (day 2), 5 (day 2).
  // Shop b in order: rows 2 (day 1), 4 (day 2), 0 (day 3).
  EXPECT_EQ(Cells(t, "rn"), (V{"3", "1", "1", "2", "2", "3"}));
  EXPECT_EQ(Cells(t, "rk"), (V{"3", "1", "1", "2", "2", "2"}));
  EXPECT_EQ(Cells(t, "drk"), (V{"3", "1", "1", "2", "2", "2"}));
  EXPECT_EQ(Cells(t, "prev"), (V{"20", "null", "null", "10", "5", "null"}));
  EXPECT_EQ(Cells(t, "next2"), (V{"null", "2", "3", "null", "null", "null"}));
  EXPECT_EQ(Cells(t, "running"), (V{"55", "10", "5", "10", "25", "17"}));
  EXPECT_EQ(Cells(t, "n"), (V{"3", "1", "1", "1", "2", "2"}));
  EXPECT_EQ(Cells(t, "avg2"), (V{"25", "10", "5", "10", "12.5", "7"}));
  EXPECT_EQ(Cells(t, "best"), (V{"30", "10", "30", "10", "30", "10"}));
  EXPECT_EQ(t.schema().fields[0].name, "shop");
  using S = std::vector<ColumnSource>;
  EXPECT_EQ(out->column_lineage[0].at("running"), (S{{"sales", "amount", kTransformAggregation},
                                                     {"sales", "day", kTransformAggregation},
                                                     {"sales", "shop", kTransformJoinKey}}));
}

TEST(WindowTest, Errors) {
  auto run = [](const json& p) {
    return testing::RunKind("window", p, {Sales()}).status().message();
  };
  EXPECT_EQ(run({{"order_by", "dy"}, {"columns", json::array({{{"name", "r"}, {"fn", "rank"}}})}}),
            "recipe r: param 'order_by': column 'dy' not in input 'sales' (columns: shop, day, "
            "amount)");
  EXPECT_EQ(run({{"columns", json::array({{{"name", "day"}, {"fn", "rank"}}})}}),
            "recipe r: param 'columns': 'day': input 'sales' already has a column 'day'");
  EXPECT_EQ(run({{"columns", json::array({{{"name", "s"}, {"fn", "sum"}, {"column", "shop"}}})}}),
            "recipe r: param 'columns': 's': sum needs numbers, but 'shop' is utf8");
  EXPECT_EQ(testing::CheckKindParams("window",
                                     {{"columns", json::array({{{"name", "x"}, {"fn", "lag"}}})}}),
            "param 'columns': 'x': lag needs a 'column'");
  EXPECT_EQ(testing::CheckKindParams(
                "window",
                {{"columns",
                  json::array({{{"name", "x"}, {"fn", "rank"}, {"frame", {{"preceding", 1}}}}})}}),
            "param 'columns': 'x': 'frame' is for sum, mean, count, min and max");
  EXPECT_EQ(testing::CheckKindParams(
                "window", {{"columns", json::array({{{"name", "x"},
                                                     {"fn", "sum"},
                                                     {"column", "a"},
                                                     {"frame", {{"preceding", -1}}}}})}}),
            "param 'columns': 'x': frame: preceding must be a non-negative integer or "
            "\"unbounded\"");
  EXPECT_EQ(testing::CheckKindParams("window", json::object()),
            "param 'columns': must be a non-empty list of {name, fn, column, offset, frame}");
}

TEST(SplitTest, FirstMatchingCaseElseAndAllMode) {
  json params = {{"cases", json::array({{{"output", "big"}, {"where", "amount >= 20"}},
                                        {{"output", "a"}, {"where", "shop = 'a'"}}})},
                 {"else", "rest"}};
  auto out = testing::RunKind("split", params, {Sales()}, {"big", "a", "rest"});
  ASSERT_TRUE(out.ok()) << out.status().message();
  ASSERT_EQ(out->tables.size(), 3u);
  EXPECT_EQ(Cells(out->tables[0], "amount"), (V{"30", "20"}));
  EXPECT_EQ(Cells(out->tables[1], "amount"), (V{"10", "null", "7"}));
  EXPECT_EQ(Cells(out->tables[2], "amount"), (V{"5"}));
  EXPECT_EQ(out->metrics["rows"], 6);
  params["mode"] = "all";
  params["cases"][1]["where"] = "amount < 40";
  out = testing::RunKind("split", params, {Sales()}, {"big", "a", "rest"});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(Cells(out->tables[1], "amount"), (V{"30", "10", "5", "20", "7"}));
  EXPECT_EQ(Cells(out->tables[2], "amount"), (V{"null"}));  // null < 40 is null: no case
  EXPECT_EQ(testing::RunKind("split", params, {Sales()}, {"big", "a"}).status().message(),
            "recipe r: param 'else': 'rest' is not an output of the recipe (outputs: big, a)");
  EXPECT_EQ(testing::CheckKindParams("split", {{"cases", json::array({{{"output", "a"}}})}}),
            "param 'cases': entry 1: must be a mapping {output: name, where: condition}");
  EXPECT_EQ(
      testing::RunKind("split", {{"cases", json::array({{{"output", "a"}, {"where", "amount"}}})}},
                       {Sales()}, {"a"})
          .status()
          .message(),
      "recipe r: param 'cases': entry 1: where: the condition must be bool, got int64");
}

}  // namespace
}  // namespace alambic::window_test
