// The join kind: types, order, null keys, multi-key, normalisation, name
// clashes, the unmatched output, lineage and errors. Randomised comparisons
// with SQLite are in relational_diff_test.cc.
#include <gtest/gtest.h>

#include "tests/kind_test_util.h"
#include "tests/test_util.h"

namespace alambic::join_test {
namespace {

using nlohmann::json;
using testing::Cells;
using testing::Ints;
using testing::MakeInput;
using testing::Strings;
using V = std::vector<std::string>;

NamedTable Exams() {
  return MakeInput("exams", {{"id", Ints({1, 2, 3, 4, 5})},
                             {"centre_id", Strings({"C1", "C2", "C9", std::nullopt, "C1"})},
                             {"name", Strings({"a", "b", "c", "d", "e"})}});
}
NamedTable Centres() {
  return MakeInput("centres",
                   {{"centre_id", DictionaryEncode(*Strings({"C2", "C1", std::nullopt, "C1"}))},
                    {"name", Strings({"Lyon", "Paris", "Nowhere", "Paris-2"})}});
}

Result<RecipeOutput> Join(const json& params, std::vector<std::string> outputs = {"out"}) {
  return testing::RunKind("join", params, {Exams(), Centres()}, std::move(outputs));
}

TEST(JoinTest, InnerKeepsLeftOrderThenRightOrderAndNullsNeverMatch) {
  auto out = Join({{"on", "centre_id"}});
  ASSERT_TRUE(out.ok()) << out.status().message();
  const Table& t = out->tables[0];
  EXPECT_EQ(t.schema().ToString(), "id:int64, centre_id:utf8, name:utf8, name_right:utf8");
  EXPECT_EQ(Cells(t, "id"), (V{"1", "1", "2", "5", "5"}));
  EXPECT_EQ(Cells(t, "name_right"), (V{"Paris", "Paris-2", "Lyon", "Paris", "Paris-2"}));
  EXPECT_EQ(out->metrics["left_unmatched"], 2);
}

// When every left row matches exactly one right row, the output keeps the left rows in
// order: its left columns are the input's own (shared, not copied), with the same values.
// One more right row for a key and they are gathered again.
TEST(JoinTest, LeftColumnsAreSharedWhenEveryLeftRowMatchesOnce) {
  NamedTable exams = MakeInput("exams", {{"id", Ints({1, 2, 3, 4})},
                                         {"centre_id", Strings({"C1", "C2", "C1", "C3"})},
                                         {"score", Strings({"a", std::nullopt, "c", "d"})}});
  NamedTable centres = MakeInput(
      "centres", {{"centre_id", Strings({"C3", "C1", "C2"})}, {"town", Strings({"Z", "X", "Y"})}});
  for (const char* type : {"inner", "left"}) {
    SCOPED_TRACE(type);
    auto out =
        testing::RunKind("join", {{"on", "centre_id"}, {"type", type}}, {exams, centres}, {"out"});
    ASSERT_TRUE(out.ok()) << out.status().message();
    const Table& t = out->tables[0];
    EXPECT_EQ(Cells(t, "id"), (V{"1", "2", "3", "4"}));
    EXPECT_EQ(Cells(t, "score"), (V{"a", "null", "c", "d"}));
    EXPECT_EQ(Cells(t, "town"), (V{"X", "Y", "X", "Z"}));
    for (const char* c : {"id", "centre_id", "score"})
      EXPECT_EQ(t.ColumnByName(c).get(), exams.table->ColumnByName(c).get()) << c;
  }
  NamedTable twice = MakeInput("centres", {{"centre_id", Strings({"C3", "C1", "C2", "C1"})},
                                           {"town", Strings({"Z", "X", "Y", "W"})}});
  auto out = testing::RunKind("join", {{"on", "centre_id"}}, {exams, twice}, {"out"});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(Cells(out->tables[0], "id"), (V{"1", "1", "2", "3", "3", "4"}));
  EXPECT_EQ(Cells(out->tables[0], "town"), (V{"X", "W", "Y", "X", "W", "Z"}));
  EXPECT_NE(out->tables[0].ColumnByName("id").get(), exams.table->ColumnByName("id").get());
}

TEST(JoinTest, LeftRightFullAntiSemi) {
  auto left = Join({{"on", "centre_id"}, {"type", "left"}});
  ASSERT_TRUE(left.ok()) << left.status().message();
  EXPECT_EQ(Cells(left->tables[0], "id"), (V{"1", "1", "2", "3", "4", "5", "5"}));
  EXPECT_EQ(Cells(left->tables[0], "name_right"),
            (V{"Paris", "Paris-2", "Lyon", "null", "null", "Paris", "Paris-2"}));

  auto right = Join({{"on", "centre_id"}, {"type", "right"}});
  ASSERT_TRUE(right.ok()) << right.status().message();
  EXPECT_EQ(Cells(right->tables[0], "name_right"),
            (V{"Lyon", "Paris", "Paris", "Nowhere", "Paris-2", "Paris-2"}));
  EXPECT_EQ(Cells(right->tables[0], "id"), (V{"2", "1", "5", "null", "1", "5"}));
  // The `on` key takes the right value where there is no left row (here: null).
  EXPECT_EQ(Cells(right->tables[0], "centre_id"), (V{"C2", "C1", "C1", "null", "C1", "C1"}));

  auto full = Join({{"on", "centre_id"}, {"type", "full"}});
  ASSERT_TRUE(full.ok()) << full.status().message();
  EXPECT_EQ(Cells(full->tables[0], "id"), (V{"1", "1", "2", "3", "4", "5", "5", "null"}));
  EXPECT_EQ(Cells(full->tables[0], "name_right").back(), "Nowhere");

  auto anti = Join({{"on", "centre_id"}, {"type", "anti"}});
  ASSERT_TRUE(anti.ok()) << anti.status().message();
  EXPECT_EQ(anti->tables[0].schema().ToString(), "id:int64, centre_id:utf8, name:utf8");
  EXPECT_EQ(Cells(anti->tables[0], "id"), (V{"3", "4"}));

  auto semi = Join({{"on", "centre_id"}, {"type", "semi"}});
  ASSERT_TRUE(semi.ok()) << semi.status().message();
  EXPECT_EQ(Cells(semi->tables[0], "id"), (V{"1", "2", "5"}));  // once each
}

TEST(JoinTest, UnmatchedLeftRowsGoToTheSecondOutput) {
  auto out = Join({{"on", "centre_id"}}, {"joined", "orphans"});
  ASSERT_TRUE(out.ok()) << out.status().message();
  ASSERT_EQ(out->tables.size(), 2u);
  EXPECT_EQ(Cells(out->tables[1], "id"), (V{"3", "4"}));
  EXPECT_EQ(out->tables[1].schema().ToString(), "id:int64, centre_id:utf8, name:utf8");
  EXPECT_EQ(out->column_lineage.size(), 2u);
}

TEST(JoinTest, LeftOnRightOnKeepsBothKeysAndSuffixesAndPrefixes) {
  auto centres = MakeInput("centres", {{"code", Strings({"C1", "C2"})},
                                       {"name", Strings({"Paris", "Lyon"})},
                                       {"id", Ints({10, 20})}});
  auto out = testing::RunKind(
      "join", {{"left_on", "centre_id"}, {"right_on", "code"}, {"suffixes", {"_exam", "_centre"}}},
      {Exams(), centres});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(out->tables[0].schema().ToString(),
            "id_exam:int64, centre_id:utf8, name_exam:utf8, code:utf8, name_centre:utf8, "
            "id_centre:int64");
  EXPECT_EQ(Cells(out->tables[0], "code"), (V{"C1", "C2", "C1"}));
  out = testing::RunKind(
      "join", {{"left_on", "centre_id"}, {"right_on", "code"}, {"right_prefix", "centre_"}},
      {Exams(), centres});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(out->tables[0].schema().ToString(),
            "id:int64, centre_id:utf8, name:utf8, centre_code:utf8, centre_name:utf8, "
            "centre_id_right:int64");
  using S = std::vector<ColumnSource>;
  const auto& l = out->column_lineage[0];
  EXPECT_EQ(l.at("centre_id"), (S{{"exams", "centre_id", kTransformJoinKey}}));
  EXPECT_EQ(l.at("centre_code"), (S{{"centres", "code", kTransformJoinKey}}));
  EXPECT_EQ(l.at("centre_name"), (S{{"centres", "name", kTransformIdentity}}));
}

TEST(JoinTest, MultiKeyAndNormalisedKeys) {
  auto people = MakeInput("people", {{"nom", Strings({"  Éloïse ", "MARC", "marc", "Zoé"})},
                                     {"dep", Ints({75, 69, 75, 13})}});
  auto ref = MakeInput("ref", {{"nom", DictionaryEncode(*Strings({"eloise", "marc", "zoe"}))},
                               {"dep", Ints({75, 75, 13})},
                               {"code", Ints({1, 2, 3})}});
  auto out = testing::RunKind(
      "join", {{"on", {"nom", "dep"}}, {"normalize", {"trim", "lower", "strip_accents"}}},
      {people, ref});
  ASSERT_TRUE(out.ok()) << out.status().message();
  // Original values are kept; MARC/69 has no partner (the department differs).
  EXPECT_EQ(Cells(out->tables[0], "nom"), (V{"  Éloïse ", "marc", "Zoé"}));
  EXPECT_EQ(Cells(out->tables[0], "code"), (V{"1", "2", "3"}));
  auto plain = testing::RunKind("join", {{"on", {"nom", "dep"}}}, {people, ref});
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(Cells(plain->tables[0], "code"), (V{"2"}));
}

TEST(JoinTest, NormalisedKeysFoldLatinExtendedLikeClean) {
  // Œ, Š, Ł are outside Latin-1: they fold as clean's lower/strip_accents do.
  auto left = MakeInput("l", {{"nom", Strings({"ŒUVRE", "ŠIMON", "ŁUKASZ", "Zoé"})}});
  auto right = MakeInput(
      "r", {{"nom", Strings({"oeuvre", "simon", "lukasz", "zoe"})}, {"code", Ints({1, 2, 3, 4})}});
  auto out = testing::RunKind("join", {{"on", "nom"}, {"normalize", {"lower", "strip_accents"}}},
                              {left, right});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(Cells(out->tables[0], "code"), (V{"1", "2", "3", "4"}));
}

TEST(JoinTest, NormalizeNameIsFuzzyJoinsNormalisation) {
  auto left = MakeInput("l", {{"nom", Strings({"BONNET EYMARD", "M RAD", "Le  Gall", "Dupont"})}});
  auto right = MakeInput("r", {{"nom", Strings({"BONNET-EYMARD", "M'RAD", "le gall", "Dupond"})},
                               {"code", Ints({1, 2, 3, 4})}});
  auto out = testing::RunKind("join", {{"on", "nom"}, {"normalize", "name"}}, {left, right});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(Cells(out->tables[0], "code"), (V{"1", "2", "3"}));
  // The same pairs score 1 on a fuzzy_join exact field.
  json fj = {{"fields", {{{"left", "nom"}, {"comparator", "exact"}}}},
             {"blocking", {"nom"}},
             {"threshold", 1}};
  auto fuzzy = testing::RunKind("fuzzy_join", fj, {left, right});
  ASSERT_TRUE(fuzzy.ok()) << fuzzy.status().message();
  EXPECT_EQ(Cells(fuzzy->tables[0], "code"), (V{"1", "2", "3"}));
}

TEST(JoinTest, BuildsOnEitherSideWithTheSameResult) {
  // A left side smaller than the right one builds the hash tables on the left.
  auto small = MakeInput("s", {{"k", Ints({3, 1})}});
  auto big =
      MakeInput("b", {{"k", Ints({1, 2, 3, 1, std::nullopt})}, {"v", Ints({10, 20, 30, 40, 50})}});
  auto out = testing::RunKind("join", {{"on", "k"}, {"type", "left"}}, {small, big});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(Cells(out->tables[0], "v"), (V{"30", "10", "40"}));
  out = testing::RunKind("join", {{"on", "k"}, {"type", "full"}}, {small, big});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(Cells(out->tables[0], "k"), (V{"3", "1", "1", "2", "null"}));
  EXPECT_EQ(Cells(out->tables[0], "v"), (V{"30", "10", "40", "20", "50"}));
}

TEST(JoinTest, ErrorsNameTheRecipeParamColumnAndInput) {
  EXPECT_EQ(Join({{"on", "centre"}}).status().message(),
            "recipe r: param 'on': column 'centre' not in input 'exams' (columns: id, centre_id, "
            "name)");
  EXPECT_EQ(Join({{"left_on", "id"}, {"right_on", "nom"}}).status().message(),
            "recipe r: param 'right_on': column 'nom' not in input 'centres' (columns: "
            "centre_id, name)");
  EXPECT_EQ(Join({{"left_on", "id"}, {"right_on", "name"}}).status().message(),
            "recipe r: param 'left_on': key 'id' is int64 in input 'exams' but key 'name' is utf8 "
            "in input 'centres'");
  EXPECT_EQ(Join({{"on", "centre_id"}, {"suffixes", {"", "_x"}}, {"right_prefix", "na"}})
                .status()
                .message(),
            "");  // "naname" does not clash
  EXPECT_EQ(testing::CheckKindParams("join", {{"on", "a"}, {"type", "cross"}}),
            "param 'type': unknown join type 'cross' (expected inner, left, right, full, anti, "
            "semi)");
  EXPECT_EQ(testing::CheckKindParams("join", json::object()),
            "param 'on': is required (or 'left_on' and 'right_on')");
  EXPECT_EQ(testing::CheckKindParams("join", {{"on", "a"}, {"left_on", "a"}}),
            "param 'on': give either 'on' or 'left_on' and 'right_on', not both");
  EXPECT_EQ(testing::CheckKindParams("join", {{"left_on", {"a", "b"}}, {"right_on", "a"}}),
            "param 'right_on': 1 columns, but 'left_on' has 2");
  EXPECT_EQ(testing::CheckKindParams("join", {{"on", "a"}, {"normalize", "upper"}}),
            "param 'normalize': unknown normalisation \"upper\" (expected trim, lower, "
            "strip_accents, name)");
  EXPECT_EQ(testing::CheckKindParams("join", {{"on", "a"}, {"suffixes", {"_a", "_a"}}}),
            "param 'suffixes': the left and right names must differ, or a column on both sides "
            "would get the same name");
  const RecipeKind* k = alambic::testing::BuiltinKinds().Find("join");
  EXPECT_EQ(k->min_inputs(), 2);
  EXPECT_EQ(k->max_inputs(), 2);
  EXPECT_EQ(k->max_outputs(), 2);
}

}  // namespace
}  // namespace alambic::join_test
