// The score and evaluate kinds: prediction columns for each task, a model
// from the inputs or pinned by version, missing features refused by name, and
// evaluate's metrics equal to the training validation's on the same rows.
#include <cmath>
#include <random>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/model/metrics.h"
#include "core/model/model.h"
#include "tests/kind_test_util.h"
#include "tests/test_util.h"

namespace alambic::score_test {
namespace {

using nlohmann::json;
using testing::Cells;
using testing::Doubles;
using ::testing::HasSubstr;
using testing::Ints;
using testing::MakeInput;
using testing::Strings;

// y = 1 when x + noise > 0; weather a category with an effect.
NamedTable Data(const std::string& name, int rows, int seed, bool regression = false) {
  std::mt19937 rng(static_cast<unsigned>(seed));
  std::normal_distribution<double> n(0, 1);
  std::vector<std::optional<double>> x, v;
  std::vector<std::optional<std::string>> weather, cls;
  std::vector<std::optional<int64_t>> y;
  const char* kinds[] = {"pluie", "soleil", "neige"};
  for (int i = 0; i < rows; ++i) {
    const double a = n(rng);
    const int w = static_cast<int>(rng() % 3);
    const double s = a + (w == 2 ? 1.0 : 0) + 0.4 * n(rng);
    x.push_back(a);
    weather.push_back(kinds[w]);
    y.push_back(s > 0.3 ? 1 : 0);
    v.push_back(s);
    cls.push_back(s < -0.5 ? "bas" : s < 0.8 ? "moyen" : "haut");
  }
  return MakeInput(name, {{"x", Doubles(x)},
                          {"weather", Strings(weather)},
                          {"y", regression ? Doubles(v) : Ints(y)},
                          {"level", Strings(cls)}});
}

NamedTable TrainModel(const json& params, const NamedTable& data) {
  auto out = testing::RunKind("train", params, {data}, {"risk_model"});
  EXPECT_TRUE(out.ok()) << out.status().message();
  return {"risk_model", std::make_shared<const Table>(out->tables.at(0))};
}

const json kBinary = {{"task", "binary"}, {"target", "y"}, {"exclude", {"level"}}, {"rounds", 20}};

TEST(ScoreTest, BinaryAddsPredictionAndProbabilityAgreeingWithTraining) {
  NamedTable train = Data("history", 800, 1);
  NamedTable model = TrainModel(kBinary, train);
  auto out = testing::RunKind("score", json::object(), {model, train}, {"scored"});
  ASSERT_TRUE(out.ok()) << out.status().message();
  const Table& t = out->tables.at(0);
  EXPECT_EQ(t.schema().ToString(),
            "x:float64, weather:utf8, y:int64, level:utf8, prediction:int64, probability:float64");
  // prediction is probability >= 0.5, as a class of the target's type.
  const Column& p = *t.ColumnByName("probability");
  const Column& pred = *t.ColumnByName("prediction");
  for (int64_t i = 0; i < t.num_rows(); ++i) EXPECT_EQ(pred.Int64(i), p.Double(i) >= 0.5 ? 1 : 0);
  // Scoring the training rows reproduces training's validation AUC on the
  // validation rows; over all rows it is at least as good.
  auto m = ModelFromTable(*model.table, "risk_model");
  ASSERT_TRUE(m.ok());
  std::vector<bool> positive;
  std::vector<double> score;
  const Column& y = *t.ColumnByName("y");
  for (int64_t i = 0; i < t.num_rows(); ++i) {
    positive.push_back(y.Int64(i) == 1);
    score.push_back(p.Double(i));
  }
  EXPECT_GE(RocAuc(positive, score), m->metrics["auc"].get<double>() - 0.01);
  EXPECT_EQ(out->metrics["model_id"], m->Id());
  EXPECT_EQ(out->metrics["rows"], 800);
  // Column lineage: kept columns are identities; predictions come from the features.
  ASSERT_EQ(out->column_lineage.size(), 1u);
  EXPECT_EQ(out->column_lineage[0].at("x"), (std::vector<ColumnSource>{{"history", "x"}}));
  EXPECT_EQ(out->column_lineage[0].at("prediction").size(), 2u);
}

TEST(ScoreTest, MulticlassAndRegressionColumns) {
  NamedTable d = Data("d", 600, 2);
  NamedTable mc =
      TrainModel({{"task", "multiclass"}, {"target", "level"}, {"features", {"x", "weather"}}}, d);
  auto out = testing::RunKind("score", {{"keep", {"level"}}, {"probability", "p"}}, {mc, d});
  ASSERT_TRUE(out.ok()) << out.status().message();
  const Table& t = out->tables.at(0);
  EXPECT_EQ(t.schema().ToString(),
            "level:utf8, prediction:utf8, p_bas:float64, p_haut:float64, p_moyen:float64");
  for (int64_t i = 0; i < t.num_rows(); ++i) {
    const double sum = t.column(2)->Double(i) + t.column(3)->Double(i) + t.column(4)->Double(i);
    EXPECT_NEAR(sum, 1.0, 1e-5);
  }
  int right = 0;
  auto level = Cells(t, "level"), pred = Cells(t, "prediction");
  for (size_t i = 0; i < level.size(); ++i) right += level[i] == pred[i];
  EXPECT_GT(right, 400);

  NamedTable r = Data("r", 600, 3, true);
  NamedTable reg =
      TrainModel({{"task", "regression"}, {"target", "y"}, {"features", {"x", "weather"}}}, r);
  auto scored = testing::RunKind("score", {{"prediction", "expected"}}, {reg, r});
  ASSERT_TRUE(scored.ok()) << scored.status().message();
  EXPECT_EQ(scored->tables[0].schema().fields.back().name, "expected");
  EXPECT_EQ(scored->tables[0].schema().fields.back().type, TypeId::kFloat64);
}

TEST(ScoreTest, RefusesMissingFeaturesNamingThem) {
  NamedTable d = Data("d", 200, 4);
  NamedTable model = TrainModel(kBinary, d);
  NamedTable next = MakeInput("next_week", {{"y", Ints({1, 0})}});
  auto out = testing::RunKind("score", json::object(), {model, next});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().message(),
            "recipe r: input 'next_week' lacks the model's features: x, weather");
  NamedTable wrong_type = MakeInput("w", {{"x", Strings({"a"})}, {"weather", Strings({"pluie"})}});
  auto typed = testing::RunKind("score", json::object(), {model, wrong_type});
  ASSERT_FALSE(typed.ok());
  EXPECT_EQ(typed.status().message(),
            "recipe r: input 'w': column 'x' is utf8, the model was trained on float64 values");
  auto clash = testing::RunKind("score", {{"probability", "x"}}, {model, d});
  ASSERT_FALSE(clash.ok());
  EXPECT_THAT(clash.status().message(), HasSubstr("output column 'x' is already a column"));
  auto not_a_model = testing::RunKind("score", json::object(), {d, d});
  ASSERT_FALSE(not_a_model.ok());
  EXPECT_EQ(not_a_model.status().message(),
            "recipe r: dataset d is not a model (a train recipe's output): no utf8 column 'spec' "
            "in one row");
  // An unseen category is scored (all one-hot indicators 0), not refused.
  NamedTable unseen = MakeInput("u", {{"x", Doubles({0.5})}, {"weather", Strings({"grêle"})}});
  EXPECT_TRUE(testing::RunKind("score", json::object(), {model, unseen}).ok());
}

TEST(ScoreTest, PinnedModelVersionIsReadThroughTheContext) {
  NamedTable d = Data("d", 300, 5);
  NamedTable model = TrainModel(kBinary, d);
  const json params = {{"model", "risk_model"}, {"version", "ab12"}};
  RecipeContext ctx;
  ctx.recipe = "score_pinned";
  ctx.params = &params;
  ctx.inputs = {d};
  ctx.outputs = {"out"};
  std::vector<std::string> asked;
  ctx.read_version = [&](const std::string& ds, const std::string& v) -> Result<Table> {
    asked.push_back(ds + "@" + v);
    return *model.table;
  };
  const RecipeKind* score = alambic::testing::BuiltinKinds().Find("score");
  auto out = score->Run(ctx);
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(asked, (std::vector<std::string>{"risk_model@ab12"}));
  EXPECT_EQ(out->metrics["model_version"], "ab12");
  ctx.read_version = [](const std::string&, const std::string&) -> Result<Table> {
    return Status::NotFound("dataset risk_model has no version 'ab12' in datalab");
  };
  auto missing = score->Run(ctx);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(),
            "recipe score_pinned: param 'version': dataset risk_model has no version 'ab12' in "
            "datalab");
  EXPECT_EQ(testing::CheckKindParams("score", {{"model", "m"}}),
            "param 'version': a pinned model needs both 'model' (its dataset) and 'version'");
}

TEST(EvaluateTest, RecordsTheMetricsOfFreshLabelledData) {
  NamedTable history = Data("history", 800, 6);
  NamedTable model = TrainModel(kBinary, history);
  NamedTable fresh = Data("fresh", 300, 7);
  auto out = testing::RunKind("evaluate", json::object(), {model, fresh}, {"checks"});
  ASSERT_TRUE(out.ok()) << out.status().message();
  // Equal to the metrics of score's probabilities on the same rows.
  auto scored = testing::RunKind("score", json::object(), {model, fresh});
  ASSERT_TRUE(scored.ok());
  std::vector<int> label;
  std::vector<double> prob;
  const Table& s = scored->tables[0];
  for (int64_t i = 0; i < s.num_rows(); ++i) {
    label.push_back(static_cast<int>(s.ColumnByName("y")->Int64(i)));
    prob.push_back(s.ColumnByName("probability")->Double(i));
  }
  json expected = BinaryMetrics(label, prob, 0.5);
  for (const char* k : {"auc", "logloss", "accuracy", "precision", "recall", "f1"})
    EXPECT_NEAR(out->metrics[k].get<double>(), expected[k].get<double>(), 1e-12) << k;
  EXPECT_EQ(out->metrics["confusion_matrix"], expected["confusion_matrix"]);
  EXPECT_EQ(out->metrics["model"], "risk_model");
  EXPECT_EQ(out->metrics["dataset"], "fresh");
  EXPECT_EQ(out->metrics["model_id"], ModelFromTable(*model.table, "m")->Id());
  const Table& t = out->tables[0];
  EXPECT_EQ(t.schema().ToString(), "model:utf8, model_id:utf8, metric:utf8, value:float64");
  auto metric = Cells(t, "metric");
  auto at = std::find(metric.begin(), metric.end(), "auc");
  ASSERT_NE(at, metric.end());
  EXPECT_NEAR(t.ColumnByName("value")->Double(at - metric.begin()), expected["auc"].get<double>(),
              1e-12);
  // A class the model never saw is an error naming the row.
  NamedTable odd = MakeInput(
      "odd",
      {{"x", Doubles({0.1, 0.2})}, {"weather", Strings({"pluie", "pluie"})}, {"y", Ints({1, 7})}});
  auto bad = testing::RunKind("evaluate", json::object(), {model, odd});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "recipe r: input 'odd': target column 'y', row 2: class '7' is not one the model was "
            "trained on");
  NamedTable unlabelled = MakeInput("u", {{"x", Doubles({0.1})}, {"weather", Strings({"pluie"})}});
  auto none = testing::RunKind("evaluate", json::object(), {model, unlabelled});
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().message(), "recipe r: input 'u' lacks the model's target column 'y'");
}

}  // namespace
}  // namespace alambic::score_test
