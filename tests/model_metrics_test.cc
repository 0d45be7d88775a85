// Model metrics against scikit-learn's on fixed predictions (tests/oracles/
// model_metrics.py computes them), plus hand-checked edge cases.
#include <cmath>
#include <map>
#include <random>
#include <sstream>

#include <gtest/gtest.h>

#include "core/model/metrics.h"
#include "tests/test_util.h"

namespace alambic::model_metrics_test {
namespace {

// scikit-learn's answer for `input` (see the oracle's usage).
std::map<std::string, double> Sklearn(const std::string& input) {
  testing::TempDir dir;
  testing::WriteFile(dir.path() / "in.txt", input);
  const std::string cmd = std::string("/usr/bin/python3 -W ignore ") + ALAMBIC_SOURCE_DIR +
                          "/tests/oracles/model_metrics.py < " + (dir.path() / "in.txt").string() +
                          " > " + (dir.path() / "out.txt").string() + " 2> " +
                          (dir.path() / "err.txt").string();
  EXPECT_EQ(std::system(cmd.c_str()), 0) << testing::ReadFile(dir.path() / "err.txt");
  std::istringstream out(testing::ReadFile(dir.path() / "out.txt"));
  std::map<std::string, double> m;
  std::string name;
  double v;
  while (out >> name >> v) m[name] = v;
  return m;
}

std::string Num(double v) {
  std::ostringstream s;
  s.precision(17);
  s << v;
  return s.str();
}

TEST(ModelMetricsTest, BinaryMetricsEqualScikitLearnWithTies) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<int> label;
  std::vector<double> prob;
  std::string input = "binary\n";
  for (int i = 0; i < 400; ++i) {
    const int y = u(rng) < 0.35;
    // Coarse scores (many ties), informative but noisy.
    const double p = std::round((0.3 * y + 0.7 * u(rng)) * 20) / 20;
    label.push_back(y);
    prob.push_back(p);
    input += std::to_string(y) + " " + Num(p) + "\n";
  }
  auto sk = Sklearn(input);
  ASSERT_EQ(sk.size(), 10u);
  auto ours = BinaryMetrics(label, prob, 0.5);
  for (const char* k : {"auc", "logloss", "accuracy", "precision", "recall", "f1"})
    EXPECT_NEAR(ours[k].get<double>(), sk[k], 1e-12) << k;
  for (int t = 0; t < 2; ++t)
    for (int p = 0; p < 2; ++p)
      EXPECT_EQ(ours["confusion_matrix"][t][p].get<int64_t>(),
                static_cast<int64_t>(sk["cm_" + std::to_string(t) + "_" + std::to_string(p)]));
  EXPECT_EQ(ours["rows"], 400);
}

TEST(ModelMetricsTest, MulticlassMetricsEqualScikitLearn) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<double> u(0, 1);
  constexpr int k = 4;
  std::vector<int> label;
  std::vector<double> prob;
  std::string input = "multiclass\n";
  for (int i = 0; i < 300; ++i) {
    const int y = static_cast<int>(u(rng) * k);
    std::vector<double> p(k);
    double sum = 0;
    for (int c = 0; c < k; ++c) sum += p[c] = u(rng) + (c == y ? 0.8 : 0);
    input += std::to_string(y);
    label.push_back(y);
    for (int c = 0; c < k; ++c) {
      prob.push_back(p[c] / sum);
      input += " " + Num(p[c] / sum);
    }
    input += "\n";
  }
  auto sk = Sklearn(input);
  auto ours = MulticlassMetrics(label, prob, k);
  for (const char* m : {"auc", "logloss", "accuracy", "precision", "recall", "f1"})
    EXPECT_NEAR(ours[m].get<double>(), sk[m], 1e-12) << m;
  for (int t = 0; t < k; ++t)
    for (int p = 0; p < k; ++p)
      EXPECT_EQ(ours["confusion_matrix"][t][p].get<int64_t>(),
                static_cast<int64_t>(sk["cm_" + std::to_string(t) + "_" + std::to_string(p)]));
}

TEST(ModelMetricsTest, RegressionMetricsEqualScikitLearn) {
  std::mt19937 rng(3);
  std::normal_distribution<double> n(0, 1);
  std::vector<double> truth, pred;
  std::string input = "regression\n";
  for (int i = 0; i < 250; ++i) {
    const double y = 10 + 3 * n(rng);
    const double p = y + n(rng);
    truth.push_back(y);
    pred.push_back(p);
    input += Num(y) + " " + Num(p) + "\n";
  }
  auto sk = Sklearn(input);
  auto ours = RegressionMetricsJson(truth, pred);
  for (const char* m : {"rmse", "mae", "r2"}) EXPECT_NEAR(ours[m].get<double>(), sk[m], 1e-12) << m;
}

TEST(ModelMetricsTest, EdgeCases) {
  // Every positive above every negative; all tied; one class only.
  EXPECT_DOUBLE_EQ(RocAuc({false, true, false, true}, {0.1, 0.9, 0.2, 0.8}), 1.0);
  EXPECT_DOUBLE_EQ(RocAuc({false, true, false, true}, {0.5, 0.5, 0.5, 0.5}), 0.5);
  EXPECT_TRUE(std::isnan(RocAuc({true, true}, {0.1, 0.2})));
  // No predicted positive: precision and F1 are 0, as scikit-learn's zero_division=0.
  auto s = ScoresFromConfusion(ConfusionMatrix({0, 1, 1}, {0, 0, 0}, 2));
  EXPECT_DOUBLE_EQ(s.precision, 0);
  EXPECT_DOUBLE_EQ(s.recall, 0);
  EXPECT_DOUBLE_EQ(s.f1, 0);
  EXPECT_NEAR(s.accuracy, 1.0 / 3, 1e-15);
  // A constant target: R² is 1 for a perfect fit, 0 otherwise.
  EXPECT_DOUBLE_EQ(RegressionMetrics({2, 2}, {2, 2}).r2, 1.0);
  EXPECT_DOUBLE_EQ(RegressionMetrics({2, 2}, {1, 2}).r2, 0.0);
  // Probabilities of exactly 0 and 1 are clipped, so the loss stays finite.
  EXPECT_TRUE(std::isfinite(LogLoss({1, 0}, {1, 0, 1, 0}, 2)));
}

}  // namespace
}  // namespace alambic::model_metrics_test
