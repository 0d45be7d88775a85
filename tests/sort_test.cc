// The sort, distinct and top kinds: order, nulls placement, stability,
// kept rows, lineage and errors. Randomised comparisons with SQLite are in
// relational_diff_test.cc.
#include <gtest/gtest.h>

#include "tests/kind_test_util.h"

namespace alambic::sort_test {
namespace {

using nlohmann::json;
using testing::Cells;
using testing::Ints;
using testing::MakeInput;
using testing::Strings;
using V = std::vector<std::string>;

NamedTable Scores() {
  return MakeInput("scores",
                   {{"id", Ints({1, 2, 3, 4, 5, 6})},
                    {"centre", DictionaryEncode(*Strings({"b", "a", "b", std::nullopt, "a", "b"}))},
                    {"score", Ints({10, std::nullopt, 15, 12, 10, 15})}});
}

TEST(SortTest, MultiKeyWithDirectionsAndNullPlacement) {
  auto out = testing::RunKind("sort", {{"by", {"centre", "-score"}}}, {Scores()});
  ASSERT_TRUE(out.ok()) << out.status().message();
  // Ascending: nulls first; descending: nulls last; ties keep input order.
  EXPECT_EQ(Cells(out->tables[0], "id"), (V{"4", "5", "2", "3", "6", "1"}));
  out = testing::RunKind(
      "sort",
      {{"by", json::array({{{"column", "centre"}, {"nulls", "last"}},
                           {{"column", "score"}, {"desc", true}, {"nulls", "first"}}})}},
      {Scores()});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(Cells(out->tables[0], "id"), (V{"2", "5", "3", "6", "1", "4"}));
  EXPECT_TRUE(out->tables[0].ColumnByName("centre")->is_dictionary());
  EXPECT_EQ(out->column_lineage[0].at("score"), (std::vector<ColumnSource>{{"scores", "score"}}));
  // A single dictionary key takes the ranked-dictionary path.
  out = testing::RunKind("sort", {{"by", "-centre"}}, {Scores()});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(Cells(out->tables[0], "id"), (V{"1", "3", "6", "2", "5", "4"}));
}

TEST(SortTest, Errors) {
  EXPECT_EQ(testing::RunKind("sort", {{"by", "nope"}}, {Scores()}).status().message(),
            "recipe r: param 'by': column 'nope' not in input 'scores' (columns: id, centre, "
            "score)");
  EXPECT_EQ(testing::CheckKindParams("sort", json::object()), "param 'by': is required");
  EXPECT_EQ(testing::CheckKindParams("sort", {{"by", {"a", "-a"}}}),
            "param 'by': column 'a' is listed twice");
  EXPECT_EQ(testing::CheckKindParams(
                "sort", {{"by", json::array({{{"column", "a"}, {"nulls", "middle"}}})}}),
            "param 'by': each entry must be a column name ('-name' for descending) or a mapping "
            "{column: name, desc: bool, nulls: first|last}");
}

TEST(DistinctTest, KeepsTheFirstRowOfEachCombinationInInputOrder) {
  auto out = testing::RunKind("distinct", {{"columns", "centre"}}, {Scores()});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(Cells(out->tables[0], "id"), (V{"1", "2", "4"}));
  EXPECT_EQ(out->metrics["duplicates"], 3);
  out = testing::RunKind("distinct", {{"columns", {"centre", "score"}}}, {Scores()});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(Cells(out->tables[0], "id"), (V{"1", "2", "3", "4", "5"}));
  auto dup = MakeInput(
      "d", {{"a", Ints({1, 1, std::nullopt, std::nullopt})}, {"b", Strings({"x", "x", "", ""})}});
  out = testing::RunKind("distinct", json::object(), {dup});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(Cells(out->tables[0], "a"), (V{"1", "null"}));
  EXPECT_EQ(testing::RunKind("distinct", {{"columns", {"x"}}}, {Scores()}).status().message(),
            "recipe r: param 'columns': column 'x' not in input 'scores' (columns: id, centre, "
            "score)");
}

TEST(TopTest, FirstNRowsPerGroupInKeyThenOrder) {
  auto out = testing::RunKind("top", {{"n", 1}, {"by", "-score"}, {"keys", "centre"}}, {Scores()});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(Cells(out->tables[0], "id"), (V{"4", "5", "3"}));
  out = testing::RunKind("top", {{"n", 2}, {"by", "score"}}, {Scores()});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(Cells(out->tables[0], "id"), (V{"2", "1"}));
  EXPECT_EQ(testing::CheckKindParams("top", {{"n", 0}, {"by", "a"}}),
            "param 'n': must be an integer of at least 1");
  EXPECT_EQ(testing::CheckKindParams("top", {{"n", 3}}), "param 'by': is required");
  EXPECT_EQ(
      testing::RunKind("top", {{"n", 1}, {"by", "score"}, {"keys", "c"}}, {Scores()})
          .status()
          .message(),
      "recipe r: param 'keys': column 'c' not in input 'scores' (columns: id, centre, score)");
}

}  // namespace
}  // namespace alambic::sort_test
