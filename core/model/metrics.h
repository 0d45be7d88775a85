// Evaluation metrics for trained models, defined as scikit-learn defines them
// (tests/model_metrics_test.cc checks them against scikit-learn on fixed
// predictions): ROC AUC (ties share their rank), log loss (probabilities
// clipped to [eps, 1 - eps], eps the float64 machine epsilon), accuracy,
// precision, recall and F1 of the positive class (0 when undefined), macro
// averages over classes for multiclass, confusion matrix with true classes as
// rows; RMSE, MAE and R² (1 for a perfect fit of a constant target, 0 for an
// imperfect one). Pure functions; inputs are not weighted.
#pragma once

#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

namespace alambic {

// Area under the ROC curve of `score` for `positive` labels; NaN when one of
// the two classes is absent.
double RocAuc(const std::vector<bool>& positive, const std::vector<double>& score);
// Mean negative log-likelihood of the true class; `prob` is row-major with
// `classes` columns (classes >= 2); each row is normalised to sum to 1 after clipping.
double LogLoss(const std::vector<int>& label, const std::vector<double>& prob, int classes);

// Counts[t][p]: rows of true class t predicted as p.
std::vector<std::vector<int64_t>> ConfusionMatrix(const std::vector<int>& label,
                                                  const std::vector<int>& predicted, int classes);

struct ClassScores {
  double accuracy = 0, precision = 0, recall = 0, f1 = 0;
};
// Binary (classes == 2): precision, recall and F1 of class 1. Multiclass:
// their unweighted mean over classes.
ClassScores ScoresFromConfusion(const std::vector<std::vector<int64_t>>& confusion);

struct RegressionScores {
  double rmse = 0, mae = 0, r2 = 0;
};
RegressionScores RegressionMetrics(const std::vector<double>& truth,
                                   const std::vector<double>& predicted);

// The metrics a model records, as JSON:
// binary: auc, logloss, accuracy, precision, recall, f1, threshold,
//   confusion_matrix [[tn, fp], [fn, tp]], rows, positives;
// multiclass: auc (one-vs-rest, macro), logloss, accuracy, precision, recall,
//   f1 (macro), confusion_matrix, rows;
// regression: rmse, mae, r2, rows.
// `prob` holds P(class 1) for binary, row-major class probabilities for multiclass.
nlohmann::json BinaryMetrics(const std::vector<int>& label, const std::vector<double>& prob,
                             double threshold);
nlohmann::json MulticlassMetrics(const std::vector<int>& label, const std::vector<double>& prob,
                                 int classes);
nlohmann::json RegressionMetricsJson(const std::vector<double>& truth,
                                     const std::vector<double>& predicted);

}  // namespace alambic
