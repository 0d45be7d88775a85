// The formula and filter recipe kinds: params, evaluation order, errors with
// their place, kept rows, lineage and metrics.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/recipe/recipe.h"
#include "tests/test_util.h"

namespace alambic::formula_test {
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

NamedTable Exams() {
  Schema s{{{"id", TypeId::kInt64}, {"centre", TypeId::kUtf8}, {"score", TypeId::kInt64}}};
  auto t = Table::Make(
      s, {Ints({1, 2, 3, 4, 5}), DictionaryEncode(*Strings({"C1", "C2", "C1", std::nullopt, "C3"})),
          Ints({12, 8, std::nullopt, 17, 9})});
  EXPECT_TRUE(t.ok());
  return {"exams", std::make_shared<const Table>(std::move(*t))};
}

V Cells(const Table& t, const std::string& column) {
  ColumnPtr c = t.ColumnByName(column);
  EXPECT_NE(c, nullptr) << column;
  V out;
  if (!c) return out;
  for (int64_t i = 0; i < c->length; ++i) out.push_back(c->IsNull(i) ? "null" : FormatCell(*c, i));
  return out;
}

class KindTest : public ::testing::Test {
 protected:
  Result<RecipeOutput> Run(const std::string& kind, const json& params,
                           NamedTable input = Exams()) {
    params_ = params;
    RecipeContext ctx;
    ctx.recipe = "r";
    ctx.params = &params_;
    ctx.inputs = {std::move(input)};
    ctx.outputs = {"out"};
    ctx.log = &log_;
    ctx.cancel = &cancel_;
    const RecipeKind* k = alambic::testing::BuiltinKinds().Find(kind);
    EXPECT_NE(k, nullptr) << kind;
    return k->Run(ctx);
  }
  std::string CheckParams(const std::string& kind, const json& params) {
    return alambic::testing::BuiltinKinds().Find(kind)->CheckParams(params).message();
  }
  json params_;
  CapturingLogger log_;
  CancelToken cancel_;
};

using FormulaTest = KindTest;
using FilterTest = KindTest;

TEST_F(FormulaTest, AddsAndReplacesColumnsKeepingTheInput) {
  auto out = Run("formula", {{"columns",
                              {{"passed", "score >= 10"},
                               {"score", "coalesce(score, 0) * 2"},
                               {"label", "centre || '-' || id"}}}});
  ASSERT_TRUE(out.ok()) << out.status().message();
  const Table& t = out->tables.at(0);
  EXPECT_EQ(t.schema().ToString(), "id:int64, centre:utf8, score:int64, label:utf8, passed:bool");
  EXPECT_EQ(Cells(t, "score"), (V{"24", "16", "0", "34", "18"}));
  EXPECT_EQ(Cells(t, "label"), (V{"C1-1", "C2-2", "C1-3", "null", "C3-5"}));
  // A mapping runs in dependency order: passed uses the computed score.
  EXPECT_EQ(Cells(t, "passed"), (V{"true", "true", "false", "true", "true"}));
  EXPECT_EQ(Cells(t, "id"), (V{"1", "2", "3", "4", "5"}));
  EXPECT_EQ(out->metrics["rows"], 5);
  EXPECT_EQ(out->metrics["computed"].dump(),
            R"([{"column":"label","type":"utf8"},{"column":"score","type":"int64"},)"
            R"({"column":"passed","type":"bool"}])");
}

TEST_F(FormulaTest, AListRunsInItsOrderAndSeesEarlierColumns) {
  auto out = Run("formula", {{"columns", json::array({{{"score", "score + 1"}},
                                                      {{"double", "score * 2"}},
                                                      {{"score", "score * 10"}}})}});
  ASSERT_TRUE(out.ok()) << out.status().message();
  const Table& t = out->tables.at(0);
  EXPECT_EQ(Cells(t, "double"), (V{"26", "18", "null", "36", "20"}));
  EXPECT_EQ(Cells(t, "score"), (V{"130", "90", "null", "180", "100"}));
}

TEST_F(FormulaTest, ReportsColumnLineage) {
  auto out =
      Run("formula",
          {{"columns",
            {{"a", "score + id"}, {"b", "a * 2"}, {"c", "42"}, {"centre", "lower(centre)"}}}});
  ASSERT_TRUE(out.ok()) << out.status().message();
  ASSERT_EQ(out->column_lineage.size(), 1u);
  const auto& l = out->column_lineage[0];
  using S = std::vector<ColumnSource>;
  EXPECT_EQ(l.at("a"), (S{{"exams", "score", kTransformTransformation},
                          {"exams", "id", kTransformTransformation}}));
  EXPECT_EQ(l.at("b"), (S{{"exams", "score", kTransformTransformation},
                          {"exams", "id", kTransformTransformation}}));  // through a
  EXPECT_EQ(l.at("c"), S{});
  EXPECT_EQ(l.at("centre"), (S{{"exams", "centre", kTransformTransformation}}));
  EXPECT_EQ(l.at("id"), (S{{"exams", "id", "identity"}}));
}

TEST_F(FormulaTest, ErrorsNameTheRecipeParamColumnAndPlace) {
  auto out = Run("formula", {{"columns", {{"x", "centre + 1"}}}});
  EXPECT_EQ(out.status().message(),
            "recipe r: param 'columns': column 'x': 1:8: cannot add utf8 and int64 (use || or "
            "concat() to join strings)");
  out = Run("formula", {{"columns", {{"x", "scor * 2"}}}});
  EXPECT_EQ(out.status().message(),
            "recipe r: param 'columns': column 'x': 1:1: unknown column 'scor' (did you mean "
            "'score'? columns: id, "
            "centre, score)");
}

TEST_F(FormulaTest, CheckParamsParsesWithoutASchema) {
  EXPECT_EQ(CheckParams("formula", {{"columns", {{"x", "a +"}}}}),
            "param 'columns': column 'x': 1:4: expected a value, found the end");
  EXPECT_EQ(CheckParams("formula", {{"columns", {{"x", "unknown_column + 1"}}}}), "");
  EXPECT_EQ(CheckParams("formula", {{"columns", {{"x", 3}}}}),
            "param 'columns': column 'x': the expression must be a string");
  EXPECT_EQ(CheckParams("formula", {{"columns", json::object()}}),
            "param 'columns': must name at least one column");
  EXPECT_EQ(CheckParams("formula", {{"columns", "x"}}),
            "param 'columns': must be a mapping column -> expression, or a list of such mappings");
  EXPECT_EQ(CheckParams("formula", {{"columns", {{"a", "b + 1"}, {"b", "a + 1"}}}}),
            "param 'columns': computed columns depend on each other in a cycle (a, b); use a "
            "list to give an order");
  EXPECT_EQ(CheckParams("formula", {{"columns", json::array({{{"a", "1"}, {"b", "2"}}})}}),
            "param 'columns': each list entry must be a mapping with one column -> expression");
}

TEST_F(FormulaTest, ValidateReportsAParseErrorWithItsKind) {
  const RecipeKind* k = alambic::testing::BuiltinKinds().Find("formula");
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->params().at(0).name, "columns");
  EXPECT_EQ(k->max_inputs(), 1);
}

TEST_F(FilterTest, KeepsExactlyTheRowsWhereTheConditionIsTrue) {
  auto out = Run("filter", {{"where", "score >= 10 or centre = 'C3'"}});
  ASSERT_TRUE(out.ok()) << out.status().message();
  const Table& t = out->tables.at(0);
  // Row 3 (null score, C1) is null or false = null: dropped.
  EXPECT_EQ(Cells(t, "id"), (V{"1", "4", "5"}));
  EXPECT_EQ(Cells(t, "centre"), (V{"C1", "null", "C3"}));
  EXPECT_TRUE(t.ColumnByName("centre")->is_dictionary());
  EXPECT_EQ(out->metrics["rows_in"], 5);
  EXPECT_EQ(out->metrics["rows"], 3);
  EXPECT_EQ(out->metrics["rows_dropped"], 2);
  EXPECT_EQ(log_.tagged(), (V{"kept 3 of 5 rows"}));
}

TEST_F(FilterTest, KeepSelectsColumnsInItsOrder) {
  auto out = Run("filter", {{"where", "id in (2, 3)"}, {"keep", {"score", "id"}}});
  ASSERT_TRUE(out.ok()) << out.status().message();
  const Table& t = out->tables.at(0);
  EXPECT_EQ(t.schema().ToString(), "score:int64, id:int64");
  EXPECT_EQ(Cells(t, "score"), (V{"8", "null"}));
  using S = std::vector<ColumnSource>;
  EXPECT_EQ(out->column_lineage.at(0).at("score"), (S{{"exams", "score", "identity"}}));
  EXPECT_EQ(out->column_lineage.at(0).size(), 2u);
}

TEST_F(FilterTest, AllAndNoRows) {
  auto all = Run("filter", {{"where", "true"}});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->tables[0].num_rows(), 5);
  auto none = Run("filter", {{"where", "null"}});
  EXPECT_EQ(none.status().message(),
            "recipe r: param 'where': the condition must be bool, got utf8");
  none = Run("filter", {{"where", "id > 100"}});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->tables[0].num_rows(), 0);
  EXPECT_EQ(none->tables[0].num_columns(), 3);
}

TEST_F(FilterTest, Errors) {
  EXPECT_EQ(Run("filter", {{"where", "score + 1"}}).status().message(),
            "recipe r: param 'where': the condition must be bool, got int64");
  EXPECT_EQ(
      Run("filter", {{"where", "score > 'a'"}}).status().message(),
      "recipe r: param 'where': 1:7: cannot compare int64 and utf8 (convert one side: to_int(), "
      "to_float() or cast(x as utf8))");
  EXPECT_EQ(Run("filter", {{"where", "id > 1"}, {"keep", {"nope"}}}).status().message(),
            "recipe r: param 'keep': unknown column 'nope' (columns: id:int64, centre:utf8, "
            "score:int64)");
  EXPECT_EQ(CheckParams("filter", {{"where", "id >"}}),
            "param 'where': 1:5: expected a value, found the end");
  EXPECT_EQ(CheckParams("filter", {{"where", "id > 1"}, {"keep", json::array()}}),
            "param 'keep': must name at least one column");
  EXPECT_EQ(CheckParams("filter", {{"where", "id > 1"}, {"keep", {"a", "a"}}}),
            "param 'keep': column 'a' is listed twice");
  EXPECT_EQ(CheckParams("filter", {{"where", "nothing_known > 1"}}), "");
}

}  // namespace
}  // namespace alambic::formula_test
