// The fuzzy_join kind: matching, blocking, scores, ties, alternative columns,
// unmatched output, lineage, metrics, cancellation and the errors that name
// the recipe, the param and the field.
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/recipe/recipe.h"
#include "tests/kind_test_util.h"
#include "tests/test_util.h"

namespace alambic::fuzzy_join_test {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using V = std::vector<std::string>;

ColumnPtr Strings(const std::vector<std::optional<std::string>>& v) {
  ColumnBuilder b(TypeId::kUtf8);
  for (const auto& x : v) x ? b.AppendString(*x) : b.AppendNull();
  return b.Finish();
}
ColumnPtr Ints(const std::vector<int64_t>& v) {
  ColumnBuilder b(TypeId::kInt64);
  for (auto x : v) b.AppendInt64(x);
  return b.Finish();
}
ColumnPtr Dates(const std::vector<std::optional<std::string>>& v) {
  ColumnBuilder b(TypeId::kDate32);
  for (const auto& x : v) {
    if (!x) {
      b.AppendNull();
      continue;
    }
    int y = std::stoi(x->substr(0, 4));
    unsigned m = static_cast<unsigned>(std::stoi(x->substr(5, 2)));
    unsigned d = static_cast<unsigned>(std::stoi(x->substr(8, 2)));
    b.AppendDate32(DaysFromCivil(y, m, d));
  }
  return b.Finish();
}

NamedTable MakeTable(const std::string& name, Schema s, std::vector<ColumnPtr> cols) {
  auto t = Table::Make(std::move(s), std::move(cols));
  EXPECT_TRUE(t.ok()) << t.status().message();
  return {name, std::make_shared<const Table>(std::move(*t))};
}

// People as a ministry file knows them: birth name, married name, given names
// in any order, a complete birth date.
NamedTable People() {
  Schema s{{{"id", TypeId::kInt64},
            {"nom", TypeId::kUtf8},
            {"nom_usage", TypeId::kUtf8},
            {"prenoms", TypeId::kUtf8},
            {"naissance", TypeId::kDate32}}};
  return MakeTable(
      "people", s,
      {Ints({1, 2, 3, 4, 5}), Strings({"Dupont", "Martin", "Lefèvre", "Bernard", std::nullopt}),
       Strings({std::nullopt, "Moreau", std::nullopt, std::nullopt, "Petit"}),
       Strings({"Jean Pierre", "Marie-Claire", "Hélène", "Luc", "Anne"}),
       Dates({"1950-03-17", "1948-11-02", "1960-07-04", "1970-01-20", "1955-05-05"})});
}

// Death records: birth name only, INSEE-style YYYYMMDD dates with 00 for an
// unknown day, given names in another order, typos.
NamedTable Deaths() {
  Schema s{{{"id", TypeId::kInt64},
            {"nom", TypeId::kUtf8},
            {"prenoms", TypeId::kUtf8},
            {"date_naissance", TypeId::kUtf8}}};
  return MakeTable(
      "deaths", s,
      {Ints({10, 11, 12, 13, 14}), Strings({"DUPONT", "MARTIN", "LEFEVRE", "DURAND", "PETIT"}),
       Strings({"PIERRE JEAN", "MARIE CLAIRE", "HELENE", "PAUL", "ANNE"}),
       Strings({"19500317", "19481100", "19600407", "19700120", "19550505"})});
}

json Params() {
  return json::parse(R"json({
    "fields": [
      {"name": "nom", "left": ["nom", "nom_usage"], "right": "nom",
       "comparator": "jaro_winkler", "weight": 3},
      {"name": "prenoms", "left": "prenoms", "right": "prenoms",
       "comparator": "jaro_winkler", "any_order": true, "weight": 2},
      {"name": "naissance", "left": "naissance", "right": "date_naissance",
       "comparator": "date", "weight": 3}
    ],
    "blocking": [["year(naissance)", "phonetic(nom)"], ["naissance"]],
    "threshold": 0.85,
    "threads": 2
  })json");
}

V Cells(const Table& t, const std::string& column) {
  ColumnPtr c = t.ColumnByName(column);
  EXPECT_NE(c, nullptr) << column;
  V out;
  if (!c) return out;
  for (int64_t i = 0; i < c->length; ++i) out.push_back(c->IsNull(i) ? "null" : FormatCell(*c, i));
  return out;
}

class FuzzyJoinTest : public ::testing::Test {
 protected:
  Result<RecipeOutput> Run(const json& params, NamedTable left = People(),
                           NamedTable right = Deaths(), V outputs = {"matches"}) {
    params_ = params;
    RecipeContext ctx;
    ctx.recipe = "match";
    ctx.params = &params_;
    ctx.inputs = {std::move(left), std::move(right)};
    ctx.outputs = std::move(outputs);
    ctx.cancel = &cancel_;
    ctx.progress = [this](int64_t rows) {
      std::lock_guard l(mu_);
      progress_.push_back(rows);
    };
    return kind()->Run(ctx);
  }
  const RecipeKind* kind() const {
    const RecipeKind* k = alambic::testing::BuiltinKinds().Find("fuzzy_join");
    EXPECT_NE(k, nullptr);
    return k;
  }
  std::string CheckError(const json& params) const { return kind()->CheckParams(params).message(); }

  json params_;
  CancelToken cancel_;
  std::mutex mu_;
  std::vector<int64_t> progress_;
};

TEST_F(FuzzyJoinTest, MatchesNoisyRecordsAndSuffixesClashingColumns) {
  auto out = Run(Params(), People(), Deaths(), {"matches", "unmatched"});
  ASSERT_TRUE(out.ok()) << out.status().message();
  const Table& m = out->tables[0];
  // Dupont: names swapped; Martin: married name Moreau, birth day unknown (00);
  // Lefèvre: accent, day and month swapped; Petit: known by the married name only.
  EXPECT_EQ(Cells(m, "id"), (V{"1", "2", "3", "5"}));
  EXPECT_EQ(Cells(m, "id_right"), (V{"10", "11", "12", "14"}));
  EXPECT_EQ(Cells(m, "nom"), (V{"Dupont", "Martin", "Lefèvre", "null"}));
  EXPECT_EQ(Cells(m, "nom_usage"), (V{"null", "Moreau", "null", "Petit"}));
  EXPECT_EQ(Cells(m, "date_naissance"), (V{"19500317", "19481100", "19600407", "19550505"}));
  EXPECT_EQ(Cells(m, "sim_nom"), (V{"1", "1", "1", "1"}));
  EXPECT_EQ(Cells(m, "sim_prenoms"), (V{"1", "1", "1", "1"}));
  EXPECT_EQ(Cells(m, "sim_naissance"), (V{"1", "0.85", "0.9", "1"}));
  // (3 * 1 + 2 * 1 + 3 * 0.85) / 8
  EXPECT_NEAR(m.ColumnByName("score")->Double(1), 7.55 / 8, 1e-12);
  EXPECT_EQ(m.schema().fields.back().name, "sim_naissance");
  const Table& u = out->tables[1];
  EXPECT_EQ(u.schema(), People().table->schema());
  EXPECT_EQ(Cells(u, "id"), (V{"4"}));
  EXPECT_EQ(out->metrics["matched"], 4);
  EXPECT_EQ(out->metrics["unmatched"], 1);
  // Rule 1 finds (1,10) (2,11) (3,12) (5,14), rule 2 (1,10) (4,13) (5,14) again:
  // 5 distinct pairs.
  EXPECT_EQ(out->metrics["pairs_compared"], 5);
  ASSERT_FALSE(progress_.empty());
  EXPECT_EQ(progress_.back(), 5);
}

TEST_F(FuzzyJoinTest, ThresholdDropsWeakMatches) {
  json p = Params();
  p["threshold"] = 0.95;
  auto out = Run(p);
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(Cells(out->tables[0], "id"), (V{"1", "3", "5"}));
}

TEST_F(FuzzyJoinTest, MissingValuesCountAsTheFieldsMissingSimilarity) {
  json p = Params();
  p["fields"][0]["left"] = "nom";  // person 5 has no birth name now
  p["blocking"] = json::array({json::array({"naissance"})});
  p["threshold"] = 0.0;
  p["fields"][0]["missing"] = 0.0;
  auto out = Run(p);
  ASSERT_TRUE(out.ok()) << out.status().message();
  const Table& m = out->tables[0];
  EXPECT_EQ(Cells(m, "id"), (V{"1", "4", "5"}));
  EXPECT_EQ(Cells(m, "sim_nom"), (V{"1", "0.6626984126984127", "null"}));  // BERNARD / DURAND
  EXPECT_NEAR(m.ColumnByName("score")->Double(2), 5.0 / 8, 1e-12);
}

TEST_F(FuzzyJoinTest, TiesGoToTheFirstRightRowWhateverTheThreads) {
  // 600 people against 1,200 records: every person twice, identical, plus
  // different-name noise in the same blocks.
  std::vector<std::optional<std::string>> ln, rn, lp, rp;
  std::vector<int64_t> lid, rid;
  std::vector<std::optional<std::string>> ld, rd;
  for (int i = 0; i < 600; ++i) {
    std::string name = "NOM" + std::to_string(i % 50) + "X" + std::to_string(i);
    std::string date = fmt::format("19{:02d}-0{}-1{}", i % 100, 1 + i % 9, i % 10);
    lid.push_back(i);
    ln.push_back(name);
    ld.push_back(date);
    for (int copy = 0; copy < 2; ++copy) {
      rid.push_back(2 * i + copy);
      rn.push_back(name);
      rd.push_back(date);
    }
  }
  Schema s{{{"id", TypeId::kInt64}, {"nom", TypeId::kUtf8}, {"naissance", TypeId::kDate32}}};
  NamedTable left = MakeTable("l", s, {Ints(lid), Strings(ln), Dates(ld)});
  NamedTable right = MakeTable("r", s, {Ints(rid), Strings(rn), Dates(rd)});
  json p = json::parse(R"json({
    "fields": [{"left": "nom", "right": "nom", "comparator": "levenshtein", "weight": 1},
               {"left": "naissance", "comparator": "date", "weight": 1}],
    "blocking": [["prefix(nom, 3)"]], "threshold": 0.5
})json");
  std::vector<V> results;
  for (int threads : {1, 2, 5}) {
    p["threads"] = threads;
    auto out = Run(p, left, right);
    ASSERT_TRUE(out.ok()) << out.status().message();
    EXPECT_EQ(out->tables[0].num_rows(), 600);
    EXPECT_EQ(out->metrics["threads"], threads);
    EXPECT_EQ(out->metrics["pairs_compared"], 600 * 1200);
    results.push_back(Cells(out->tables[0], "id_right"));
  }
  EXPECT_EQ(results[0], results[1]);
  EXPECT_EQ(results[0], results[2]);
  for (size_t i = 0; i < results[0].size(); ++i)
    ASSERT_EQ(results[0][i], std::to_string(2 * i)) << i;
}

TEST_F(FuzzyJoinTest, ColumnLineageNamesComparedColumns) {
  auto out = Run(Params(), People(), Deaths(), {"matches", "unmatched"});
  ASSERT_TRUE(out.ok()) << out.status().message();
  const auto& lin = out->column_lineage[0];
  EXPECT_EQ(lin.at("id"), (std::vector<ColumnSource>{{"people", "id"}}));
  EXPECT_EQ(lin.at("date_naissance"), (std::vector<ColumnSource>{{"deaths", "date_naissance"}}));
  EXPECT_EQ(lin.at("sim_nom"), (std::vector<ColumnSource>{
                                   {"people", "nom"}, {"people", "nom_usage"}, {"deaths", "nom"}}));
  EXPECT_EQ(lin.at("score").size(), 7u);
  EXPECT_EQ(out->column_lineage[1].at("prenoms"),
            (std::vector<ColumnSource>{{"people", "prenoms"}}));
}

TEST_F(FuzzyJoinTest, ComparatorsExactPhoneticLevenshteinDamerau) {
  Schema s{{{"k", TypeId::kUtf8}, {"n", TypeId::kUtf8}}};
  NamedTable left =
      MakeTable("l", s, {Strings({"a", "a", "a"}), Strings({"Gauthier", "Gautier", "ZZZ"})});
  NamedTable right = MakeTable("r", s, {Strings({"a"}), Strings({"GAUTIER"})});
  auto sims = [&](const std::string& comparator) {
    // A weight-0 field serves blocking only.
    json p = {{"fields", json::array({{{"left", "n"}, {"comparator", comparator}},
                                      {{"left", "k"}, {"comparator", "exact"}, {"weight", 0}}})},
              {"blocking", json::array({"k"})},
              {"threshold", 0}};
    auto out = Run(p, left, right);
    EXPECT_TRUE(out.ok()) << out.status().message();
    return out.ok() ? Cells(out->tables[0], "sim_n") : V{};
  };
  EXPECT_EQ(sims("exact"), (V{"0", "1", "0"}));
  EXPECT_EQ(sims("phonetic"), (V{"1", "1", "0"}));
  EXPECT_EQ(sims("levenshtein"), (V{"0.875", "1", "0"}));
  EXPECT_EQ(sims("damerau"), (V{"0.875", "1", "0"}));
}

TEST_F(FuzzyJoinTest, CancelledBeforeComparingReturnsCancelled) {
  cancel_.Cancel();
  auto out = Run(Params());
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kCancelled);
}

TEST_F(FuzzyJoinTest, CheckParamsNamesParamAndField) {
  json p = Params();
  p["fields"][1]["comparator"] = "jaro";
  EXPECT_EQ(CheckError(p),
            "param 'fields': field 'prenoms': unknown comparator 'jaro' (expected exact, "
            "jaro_winkler, levenshtein, damerau, date, phonetic)");
  p = Params();
  p["blocking"][0][1] = "phonetic(name)";
  EXPECT_EQ(CheckError(p),
            "param 'blocking': rule 1: key 'phonetic(name)': unknown field 'name' "
            "(fields: nom, prenoms, naissance)");
  p = Params();
  p["blocking"][1][0] = "year(prenoms)";
  EXPECT_EQ(CheckError(p),
            "param 'blocking': rule 2: key 'year(prenoms)': year(), month() and date() apply to "
            "fields with the date comparator; 'prenoms' is not one");
  p = Params();
  p["blocking"][0][1] = "prefix(nom)";
  EXPECT_THAT(CheckError(p), HasSubstr("prefix takes a field and a length >= 1"));
  p = Params();
  p["blocking"][0][1] = "soundex(nom)";
  EXPECT_THAT(CheckError(p), HasSubstr("unknown function 'soundex'"));
  p = Params();
  p.erase("threshold");
  EXPECT_EQ(CheckError(p), "param 'threshold': is required (a number between 0 and 1)");
  p["threshold"] = 1.5;
  EXPECT_EQ(CheckError(p), "param 'threshold': must be a number between 0 and 1");
  p = Params();
  p["fields"][0]["weight"] = -1;
  EXPECT_EQ(CheckError(p), "param 'fields': field 'nom': 'weight' must be a number >= 0");
  p = Params();
  p["fields"][1]["days"] = 3;
  EXPECT_EQ(CheckError(p),
            "param 'fields': field 'prenoms': 'days' applies to the date "
            "comparator only");
  p = Params();
  p["fields"][0]["colour"] = "red";
  EXPECT_THAT(CheckError(p), HasSubstr("field 'nom': unknown key 'colour'"));
  p = Params();
  p["fields"][2]["name"] = "nom";
  EXPECT_EQ(CheckError(p), "param 'fields': field 'nom' is declared twice");
  p = Params();
  p["right_prefix"] = "left_";
  EXPECT_THAT(CheckError(p), HasSubstr("param 'right_prefix'"));
  EXPECT_TRUE(kind()->CheckParams(Params()).ok());
}

TEST_F(FuzzyJoinTest, RunErrorsNameRecipeParamFieldAndColumn) {
  json p = Params();
  p["fields"][1]["right"] = "prenom";
  auto out = Run(p);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().message(),
            "recipe match: param 'fields': field 'prenoms': right column 'prenom' not found in "
            "dataset 'deaths' (columns: id, nom, prenoms, date_naissance)");
  p = Params();
  p["fields"][2]["left"] = "id";
  out = Run(p);
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(),
              HasSubstr("recipe match: param 'fields': field 'naissance': left column 'id' of "
                        "dataset 'people' is int64; the date comparator needs"));
  p = Params();
  p["score_column"] = "nom_usage";
  out = Run(p);
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(),
              HasSubstr("recipe match: param 'score_column': 'nom_usage' is already a column"));
}

// Three right rows tie for left row 1; left row 2 has two candidates.
struct Register {
  NamedTable left, right;
};
Register TieRegister() {
  Schema ls{{{"lid", TypeId::kInt64}, {"nom", TypeId::kUtf8}, {"k", TypeId::kUtf8}}};
  Schema rs{{{"rid", TypeId::kInt64}, {"nom", TypeId::kUtf8}, {"k", TypeId::kUtf8}}};
  return {
      MakeTable("l", ls,
                {Ints({1, 2, 3}), Strings({"MARTIN", "DURAND", "ZZZ"}), Strings({"a", "b", "c"})}),
      MakeTable(
          "r", rs,
          {Ints({10, 11, 12, 13, 14}), Strings({"MARTIN", "MARTINE", "MARTIN", "DURANT", "MARTIN"}),
           Strings({"a", "a", "a", "b", "a"})})};
}
json TieParams() {
  return {{"fields", {{{"left", "nom"}, {"comparator", "exact"}}, {{"left", "k"}, {"weight", 0}}}},
          {"blocking", {"k"}},
          {"threshold", 0.5},
          {"threads", 2}};
}

TEST_F(FuzzyJoinTest, KeepAllRanksEveryMatchTiesInRightRowOrder) {
  auto [l, r] = TieRegister();
  json p = TieParams();
  p["threshold"] = 0;
  p["keep"] = "all";
  p["right_row"] = "right_row";
  auto out = Run(p, l, r, {"m", "unmatched"});
  ASSERT_TRUE(out.ok()) << out.status().message();
  const Table& m = out->tables[0];
  EXPECT_EQ(Cells(m, "lid"), (V{"1", "1", "1", "1", "2"}));
  EXPECT_EQ(Cells(m, "rid"), (V{"10", "12", "14", "11", "13"}));
  EXPECT_EQ(Cells(m, "right_row"), (V{"1", "3", "5", "2", "4"}));
  EXPECT_EQ(Cells(m, "rank"), (V{"1", "2", "3", "4", "1"}));
  EXPECT_EQ(Cells(m, "score"), (V{"1", "1", "1", "0", "0"}));
  EXPECT_EQ(Cells(out->tables[1], "lid"), (V{"3"}));
}

TEST_F(FuzzyJoinTest, KeepTopKAndBestAndThresholdIsInclusive) {
  auto [l, r] = TieRegister();
  json p = TieParams();
  p["fields"][1]["weight"] = 1;  // k always equal: scores are 1 or exactly 0.5
  p["keep"] = {{"top", 2}};
  p["rank_column"] = "rang";
  auto out = Run(p, l, r);
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(Cells(out->tables[0], "rid"), (V{"10", "12", "13"}));
  EXPECT_EQ(Cells(out->tables[0], "rang"), (V{"1", "2", "1"}));
  EXPECT_EQ(Cells(out->tables[0], "score"), (V{"1", "1", "0.5"}));  // 0.5 >= threshold 0.5
  p.erase("keep");
  p["right_row"] = "no_deces";
  out = Run(p, l, r);
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(Cells(out->tables[0], "rid"), (V{"10", "13"}));
  EXPECT_EQ(Cells(out->tables[0], "no_deces"), (V{"1", "4"}));
  EXPECT_EQ(out->tables[0].ColumnByName("rank"), nullptr);
  p["threshold"] = 0.5000001;
  out = Run(p, l, r);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(Cells(out->tables[0], "rid"), (V{"10"}));
}

TEST_F(FuzzyJoinTest, FlatBlockingListIsOneRuleAndDateKeyIsTheFullDate) {
  Schema s{{{"id", TypeId::kInt64}, {"nom", TypeId::kUtf8}, {"d", TypeId::kUtf8}}};
  NamedTable l = MakeTable(
      "l", s, {Ints({1, 2}), Strings({"MARTIN", "MARTIN"}), Strings({"17/03/1957", "00/00/1957"})});
  NamedTable r = MakeTable("r", s,
                           {Ints({10, 11, 12}), Strings({"MARTIN", "DURAND", "MARTIN"}),
                            Strings({"1957-03-17", "1957-03-17", "1957-05-01"})});
  json p = {{"fields",
             {{{"left", "nom"}, {"comparator", "exact"}}, {{"left", "d"}, {"comparator", "date"}}}},
            {"blocking", {"nom", "year(d)"}},
            {"threshold", 0},
            {"keep", "all"}};
  auto out = Run(p, l, r);
  ASSERT_TRUE(out.ok()) << out.status().message();
  // One rule: same name AND same year (DURAND shares the year only).
  EXPECT_EQ(Cells(out->tables[0], "id_right"), (V{"10", "12", "10", "12"}));
  p["blocking"] = {{"nom"}, {"year(d)"}};  // two rules: name OR year
  out = Run(p, l, r);
  ASSERT_TRUE(out.ok());
  // By score: left 2 (year only) scores 0.9 with both MARTIN, 0.4 with DURAND.
  EXPECT_EQ(Cells(out->tables[0], "id_right"), (V{"10", "11", "12", "10", "12", "11"}));
  p["blocking"] = {"date(d)"};  // complete dates only
  out = Run(p, l, r);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(Cells(out->tables[0], "id_right"), (V{"10", "11"}));
  EXPECT_EQ(Cells(out->tables[0], "sim_d"), (V{"1", "1"}));
  EXPECT_EQ(
      CheckError(
          {{"fields", {{{"left", "nom"}}}}, {"blocking", {"nom", {"nom"}}}, {"threshold", 0}}),
      "param 'blocking': mixes keys and lists of keys; write one rule as a list of keys "
      "([year(d), phonetic(n)]) or several rules as a list of lists ([[year(d)], "
      "[phonetic(n)]])");
  EXPECT_EQ(
      CheckError({{"fields", {{{"left", "nom"}}}}, {"blocking", {"date(nom)"}}, {"threshold", 0}}),
      "param 'blocking': rule 1: key 'date(nom)': year(), month() and date() apply to "
      "fields with the date comparator; 'nom' is not one");
  EXPECT_EQ(CheckError({{"fields", {{{"left", "nom"}}}},
                        {"blocking", {"nom"}},
                        {"threshold", 0},
                        {"keep", {{"top", 0}}}}),
            "param 'keep': must be best, all or {top: K} with K an integer >= 1, got {\"top\":0}");
}

// join and fuzzy_join name a column present in both inputs the same way: by
// default the left name is kept and the right one gets "_right"; `suffixes`
// and `prefixes` change both kinds alike; the earlier left_prefix/right_prefix
// of fuzzy_join still gives its symmetric names.
TEST(TwoInputNamingTest, JoinAndFuzzyJoinShareOneConvention) {
  Schema s{{{"id", TypeId::kInt64}, {"nom", TypeId::kUtf8}, {"ville", TypeId::kUtf8}}};
  NamedTable left = MakeTable("l", s, {Ints({1, 2}), Strings({"A", "B"}), Strings({"x", "y"})});
  NamedTable right = MakeTable("r", s, {Ints({7, 8}), Strings({"A", "B"}), Strings({"z", "w"})});
  const json fuzzy = json::parse(R"json({
    "fields": [{"left": "nom", "right": "nom", "comparator": "exact", "weight": 1}],
    "blocking": [["nom"]], "threshold": 1})json");
  const json join = {{"left_on", "nom"}, {"right_on", "nom"}};
  auto names = [&](const std::string& kind, json p) {
    for (const auto& [k, v] : (kind == "join" ? join : fuzzy).items()) p[k] = v;
    auto out = testing::RunKind(kind, p, {left, right});
    EXPECT_TRUE(out.ok()) << out.status().message();
    std::vector<std::string> n;
    if (!out.ok()) return n;
    for (const auto& f : out->tables[0].schema().fields)
      if (f.name != "score" && f.name.rfind("sim_", 0) != 0) n.push_back(f.name);
    return n;
  };
  using N = std::vector<std::string>;
  const N by_default{"id", "nom", "ville", "id_right", "nom_right", "ville_right"};
  EXPECT_EQ(names("join", json::object()), by_default);
  EXPECT_EQ(names("fuzzy_join", json::object()), by_default);
  const json suffixes = {{"suffixes", {"_p", "_d"}}};
  const N suffixed{"id_p", "nom_p", "ville_p", "id_d", "nom_d", "ville_d"};
  EXPECT_EQ(names("join", suffixes), suffixed);
  EXPECT_EQ(names("fuzzy_join", suffixes), suffixed);
  const json prefixes = {{"prefixes", {"left_", "right_"}}};
  const N prefixed{"left_id", "left_nom", "left_ville", "right_id", "right_nom", "right_ville"};
  EXPECT_EQ(names("join", prefixes), prefixed);
  EXPECT_EQ(names("fuzzy_join", prefixes), prefixed);
  EXPECT_EQ(names("fuzzy_join", {{"left_prefix", "left_"}}), prefixed);
  // Only the clashing names change.
  Schema rs{{{"no", TypeId::kInt64}, {"nom", TypeId::kUtf8}}};
  right = MakeTable("r", rs, {Ints({7, 8}), Strings({"A", "B"})});
  EXPECT_EQ(names("fuzzy_join", json::object()), (N{"id", "nom", "ville", "no", "nom_right"}));
  EXPECT_EQ(names("join", json::object()), (N{"id", "nom", "ville", "no", "nom_right"}));
  // The same refusals.
  for (const char* kind : {"join", "fuzzy_join"}) {
    json p = kind == std::string("join") ? join : fuzzy;
    p["prefixes"] = {"a_", "a_"};
    EXPECT_THAT(testing::CheckKindParams(kind, p),
                HasSubstr("param 'prefixes': the left and right names must differ"))
        << kind;
    p.erase("prefixes");
    p["suffixes"] = "_x";
    EXPECT_EQ(testing::CheckKindParams(kind, p),
              "param 'suffixes': must be a list of two strings [left, right]")
        << kind;
  }
}

}  // namespace
}  // namespace alambic::fuzzy_join_test
