#include "core/model/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace alambic {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
}  // namespace

double RocAuc(const std::vector<bool>& positive, const std::vector<double>& score) {
  const size_t n = score.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return score[a] < score[b]; });
  // Mann-Whitney U: sum of the positives' ranks, tied scores sharing their mean rank.
  double rank_sum = 0;
  int64_t positives = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && score[order[j]] == score[order[i]]) ++j;
    const double mean_rank = (static_cast<double>(i) + static_cast<double>(j) + 1) / 2;
    for (size_t k = i; k < j; ++k)
      if (positive[order[k]]) {
        rank_sum += mean_rank;
        ++positives;
      }
    i = j;
  }
  const int64_t negatives = static_cast<int64_t>(n) - positives;
  if (positives == 0 || negatives == 0) return kNaN;
  const double p = static_cast<double>(positives);
  return (rank_sum - p * (p + 1) / 2) / (p * static_cast<double>(negatives));
}

double LogLoss(const std::vector<int>& label, const std::vector<double>& prob, int classes) {
  const double eps = std::numeric_limits<double>::epsilon();
  const size_t k = static_cast<size_t>(classes);
  double total = 0;
  for (size_t i = 0; i < label.size(); ++i) {
    double sum = 0, mine = 0;
    for (size_t c = 0; c < k; ++c) {
      const double p = std::clamp(prob[i * k + c], eps, 1 - eps);
      sum += p;
      if (c == static_cast<size_t>(label[i])) mine = p;
    }
    total -= std::log(mine / sum);
  }
  return label.empty() ? kNaN : total / static_cast<double>(label.size());
}

std::vector<std::vector<int64_t>> ConfusionMatrix(const std::vector<int>& label,
                                                  const std::vector<int>& predicted, int classes) {
  std::vector<std::vector<int64_t>> m(static_cast<size_t>(classes),
                                      std::vector<int64_t>(static_cast<size_t>(classes), 0));
  for (size_t i = 0; i < label.size(); ++i)
    ++m[static_cast<size_t>(label[i])][static_cast<size_t>(predicted[i])];
  return m;
}

ClassScores ScoresFromConfusion(const std::vector<std::vector<int64_t>>& m) {
  const size_t k = m.size();
  ClassScores s;
  int64_t total = 0, right = 0;
  for (size_t t = 0; t < k; ++t)
    for (size_t p = 0; p < k; ++p) {
      total += m[t][p];
      if (t == p) right += m[t][p];
    }
  s.accuracy = total ? static_cast<double>(right) / static_cast<double>(total) : kNaN;
  auto per_class = [&](size_t c, double* precision, double* recall, double* f1) {
    int64_t predicted = 0, actual = 0;
    for (size_t x = 0; x < k; ++x) {
      predicted += m[x][c];
      actual += m[c][x];
    }
    const double tp = static_cast<double>(m[c][c]);
    *precision = predicted ? tp / static_cast<double>(predicted) : 0;
    *recall = actual ? tp / static_cast<double>(actual) : 0;
    // As scikit-learn: 2·tp / (predicted + actual), 0 when both are 0.
    *f1 = predicted + actual ? 2 * tp / static_cast<double>(predicted + actual) : 0;
  };
  if (k == 2) {
    per_class(1, &s.precision, &s.recall, &s.f1);
    return s;
  }
  for (size_t c = 0; c < k; ++c) {
    double p, r, f;
    per_class(c, &p, &r, &f);
    s.precision += p / static_cast<double>(k);
    s.recall += r / static_cast<double>(k);
    s.f1 += f / static_cast<double>(k);
  }
  return s;
}

RegressionScores RegressionMetrics(const std::vector<double>& truth,
                                   const std::vector<double>& predicted) {
  RegressionScores s;
  const double n = static_cast<double>(truth.size());
  if (truth.empty()) return {kNaN, kNaN, kNaN};
  double mean = 0;
  for (double y : truth) mean += y;
  mean /= n;
  double se = 0, ae = 0, ss_tot = 0;
  for (size_t i = 0; i < truth.size(); ++i) {
    const double d = truth[i] - predicted[i];
    se += d * d;
    ae += std::fabs(d);
    ss_tot += (truth[i] - mean) * (truth[i] - mean);
  }
  s.rmse = std::sqrt(se / n);
  s.mae = ae / n;
  s.r2 = ss_tot == 0 ? (se == 0 ? 1.0 : 0.0) : 1 - se / ss_tot;
  return s;
}

namespace {
nlohmann::json ConfusionJson(const std::vector<std::vector<int64_t>>& m) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& row : m) j.push_back(row);
  return j;
}
}  // namespace

nlohmann::json BinaryMetrics(const std::vector<int>& label, const std::vector<double>& prob,
                             double threshold) {
  std::vector<bool> positive(label.size());
  std::vector<int> predicted(label.size());
  std::vector<double> two(label.size() * 2);
  int64_t positives = 0;
  for (size_t i = 0; i < label.size(); ++i) {
    positive[i] = label[i] == 1;
    positives += label[i] == 1;
    predicted[i] = prob[i] >= threshold ? 1 : 0;
    two[2 * i] = 1 - prob[i];
    two[2 * i + 1] = prob[i];
  }
  const auto confusion = ConfusionMatrix(label, predicted, 2);
  const ClassScores s = ScoresFromConfusion(confusion);
  nlohmann::json j;
  j["auc"] = RocAuc(positive, prob);
  j["logloss"] = LogLoss(label, two, 2);
  j["accuracy"] = s.accuracy;
  j["precision"] = s.precision;
  j["recall"] = s.recall;
  j["f1"] = s.f1;
  j["threshold"] = threshold;
  j["confusion_matrix"] = ConfusionJson(confusion);
  j["rows"] = static_cast<int64_t>(label.size());
  j["positives"] = positives;
  return j;
}

nlohmann::json MulticlassMetrics(const std::vector<int>& label, const std::vector<double>& prob,
                                 int classes) {
  const size_t k = static_cast<size_t>(classes);
  std::vector<int> predicted(label.size());
  for (size_t i = 0; i < label.size(); ++i) {
    size_t best = 0;
    for (size_t c = 1; c < k; ++c)
      if (prob[i * k + c] > prob[i * k + best]) best = c;
    predicted[i] = static_cast<int>(best);
  }
  // One-vs-rest AUC, averaged over the classes where it is defined.
  double auc_sum = 0;
  int defined = 0;
  std::vector<bool> positive(label.size());
  std::vector<double> score(label.size());
  for (size_t c = 0; c < k; ++c) {
    for (size_t i = 0; i < label.size(); ++i) {
      positive[i] = static_cast<size_t>(label[i]) == c;
      score[i] = prob[i * k + c];
    }
    const double auc = RocAuc(positive, score);
    if (!std::isnan(auc)) {
      auc_sum += auc;
      ++defined;
    }
  }
  const auto confusion = ConfusionMatrix(label, predicted, classes);
  const ClassScores s = ScoresFromConfusion(confusion);
  nlohmann::json j;
  j["auc"] = defined ? auc_sum / defined : kNaN;
  j["logloss"] = LogLoss(label, prob, classes);
  j["accuracy"] = s.accuracy;
  j["precision"] = s.precision;
  j["recall"] = s.recall;
  j["f1"] = s.f1;
  j["confusion_matrix"] = ConfusionJson(confusion);
  j["rows"] = static_cast<int64_t>(label.size());
  return j;
}

nlohmann::json RegressionMetricsJson(const std::vector<double>& truth,
                                     const std::vector<double>& predicted) {
  const RegressionScores s = RegressionMetrics(truth, predicted);
  nlohmann::json j;
  j["rmse"] = s.rmse;
  j["mae"] = s.mae;
  j["r2"] = s.r2;
  j["rows"] = static_cast<int64_t>(truth.size());
  return j;
}

}  // namespace alambic
