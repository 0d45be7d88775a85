// Column lineage of sql recipes: what each output column is computed from, and
// how (identity, transformation, aggregation, join key, filter), as SQLite
// resolves the query.
#include "recipes/sql_lineage.h"

#include <optional>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/test_util.h"

namespace alambic::sql_lineage_test {
namespace {

using ::testing::UnorderedElementsAre;
using S = ColumnSource;

ColumnPtr Strings(const std::vector<std::string>& values) {
  ColumnBuilder b(TypeId::kUtf8);
  for (const auto& v : values) b.AppendString(v);
  return b.Finish();
}

ColumnPtr Ints(const std::vector<int64_t>& values) {
  ColumnBuilder b(TypeId::kInt64);
  for (auto v : values) b.AppendInt64(v);
  return b.Finish();
}

NamedTable Input(const std::string& name, const std::vector<std::string>& columns,
                 const std::vector<ColumnPtr>& data) {
  Schema schema;
  for (size_t i = 0; i < columns.size(); ++i) schema.fields.push_back({columns[i], data[i]->type});
  auto t = Table::Make(schema, data);
  EXPECT_TRUE(t.ok()) << t.status().message();
  return {name, std::make_shared<const Table>(std::move(*t))};
}

class SqlLineageTest : public ::testing::Test {
 protected:
  // Runs the sql kind on exams and centres; returns the lineage of its output.
  std::map<std::string, std::vector<ColumnSource>> Lineage(const std::string& query) {
    params_ = {{"query", query}};
    RecipeContext ctx;
    ctx.recipe = "r";
    ctx.params = &params_;
    ctx.inputs = {Input("exams", {"centre_id", "result", "score"},
                        {Strings({"C1", "C1", "C2"}), Strings({"reussite", "echec", "reussite"}),
                         Ints({12, 8, 15})}),
                  Input("centres", {"centre_id", "name"},
                        {Strings({"C1", "C2"}), Strings({"Lyon", "Nice"})})};
    ctx.outputs = {"out"};
    ctx.workspace = dir_.path();
    auto out = alambic::testing::BuiltinKinds().Find("sql")->Run(ctx);
    EXPECT_TRUE(out.ok()) << out.status().message();
    if (!out.ok() || out->column_lineage.size() != 1) return {};
    return out->column_lineage[0];
  }
  testing::TempDir dir_;
  nlohmann::json params_;
};

TEST_F(SqlLineageTest, JoinGroupFilterAndExpressions) {
  auto l = Lineage(R"(
    select c.centre_id, c.name, count(*) as exams,
           round(avg(e.result = 'reussite'), 4) as rate,
           upper(c.name) || '!' as shout
    from exams e join centres c on c.centre_id = e.centre_id
    where e.score > 5
    group by c.centre_id, c.name)");
  ASSERT_EQ(l.size(), 5u);
  EXPECT_THAT(l["centre_id"], UnorderedElementsAre(S{"centres", "centre_id", "identity"},
                                                   S{"exams", "centre_id", "join_key"},
                                                   S{"exams", "score", "filter"}));
  EXPECT_THAT(
      l["name"],
      UnorderedElementsAre(S{"centres", "name", "identity"}, S{"centres", "centre_id", "join_key"},
                           S{"exams", "centre_id", "join_key"}, S{"exams", "score", "filter"}));
  // count(*) reads no column itself: it aggregates over the groups.
  EXPECT_THAT(l["exams"], UnorderedElementsAre(S{"centres", "centre_id", "join_key"},
                                               S{"centres", "name", "aggregation"},
                                               S{"exams", "centre_id", "join_key"},
                                               S{"exams", "score", "filter"}));
  EXPECT_THAT(l["rate"], UnorderedElementsAre(S{"exams", "result", "aggregation"},
                                              S{"centres", "centre_id", "join_key"},
                                              S{"centres", "name", "aggregation"},
                                              S{"exams", "centre_id", "join_key"},
                                              S{"exams", "score", "filter"}));
  EXPECT_THAT(l["shout"], UnorderedElementsAre(S{"centres", "name", "transformation"},
                                               S{"centres", "centre_id", "join_key"},
                                               S{"exams", "centre_id", "join_key"},
                                               S{"exams", "score", "filter"}));
}

TEST_F(SqlLineageTest, ConstantsAliasesAndCase) {
  auto l = Lineage(
      "SELECT 1 AS One, Score * 2 AS s2, \"centre_id\" FROM Exams WHERE s2 > 10 ORDER BY s2");
  ASSERT_EQ(l.size(), 3u);
  EXPECT_TRUE(l.at("One").empty());  // a constant comes from no column
  EXPECT_THAT(l.at("s2"), UnorderedElementsAre(S{"exams", "score", "transformation"}));
  EXPECT_THAT(l.at("centre_id"), UnorderedElementsAre(S{"exams", "centre_id", "identity"}));
}

TEST_F(SqlLineageTest, ScalarSubqueriesCountButCtesLeaveOnlyOrigins) {
  auto l = Lineage(
      "select e.score, (select name from centres c where c.centre_id = e.centre_id) as name "
      "from exams e");
  // SQLite gives a scalar subquery's column its origin: the value is centres.name.
  EXPECT_THAT(l.at("name"), UnorderedElementsAre(S{"centres", "name", "identity"},
                                                 S{"centres", "centre_id", "transformation"},
                                                 S{"exams", "centre_id", "transformation"}));
  // SQLite reports no per-column reads through a CTE: origins only, the rest opaque.
  l = Lineage(R"(
    with best as (select centre_id, max(score) as top from exams group by centre_id)
    select b.centre_id, b.top + 1 as next from best b)");
  EXPECT_THAT(l.at("centre_id"), UnorderedElementsAre(S{"exams", "centre_id", "identity"}));
  EXPECT_EQ(l.count("next"), 0u);
}

TEST_F(SqlLineageTest, StarKeepsOriginsOnly) {
  auto l = Lineage("select *, score + 1 as next from exams");
  EXPECT_THAT(l.at("score"), UnorderedElementsAre(S{"exams", "score", "identity"}));
  EXPECT_THAT(l.at("result"), UnorderedElementsAre(S{"exams", "result", "identity"}));
  EXPECT_EQ(l.count("next"), 0u);  // the splitter does not handle `*`: opaque
}

TEST_F(SqlLineageTest, CompoundQueriesAreOpaqueBeyondOrigins) {
  auto l = Lineage(
      "select centre_id, score * 2 as s from exams union all select centre_id, 0 from centres");
  EXPECT_EQ(l.count("s"), 0u);
}

}  // namespace
}  // namespace alambic::sql_lineage_test
