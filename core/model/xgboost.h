// A thin, owning wrapper over libxgboost's C API (Debian's libxgboost 1.7):
// move-only handles for a data matrix and a booster, every call's failure
// turned into a Status carrying XGBoost's own message.
//
// Thread-safety: distinct objects may be used from different threads at once;
// one object must not be (XGBoost's handles are not internally locked).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/base/status.h"

namespace alambic::xgb {

// XGBoost's own version, "1.7.4".
std::string LibraryVersion();

// A dense float matrix in XGBoost's format (XGDMatrixCreateFromMat); NaN
// marks a missing value.
class DMatrix {
 public:
  // `data` is row-major, rows × cols; copied.
  static Result<DMatrix> FromDense(const float* data, uint64_t rows, uint64_t cols, int threads);
  DMatrix() = default;
  ~DMatrix();
  DMatrix(DMatrix&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  DMatrix& operator=(DMatrix&& o) noexcept;
  DMatrix(const DMatrix&) = delete;
  DMatrix& operator=(const DMatrix&) = delete;

  Status SetLabels(const std::vector<float>& labels);
  Status SetWeights(const std::vector<float>& weights);
  // One of "q" (quantitative) or "c" (categorical) per column.
  Status SetFeatureTypes(const std::vector<std::string>& types);
  void* handle() const { return h_; }

 private:
  void* h_ = nullptr;
};

// One feature's importance from XGBoosterFeatureScore: index into the matrix's
// columns, score.
struct FeatureScore {
  int feature = 0;
  double score = 0;
};

class Booster {
 public:
  // A booster to train, caching predictions for `cache` (training and
  // validation matrices, which must outlive it).
  static Result<Booster> Create(const std::vector<const DMatrix*>& cache);
  // A booster from bytes SaveModel() wrote.
  static Result<Booster> Load(std::string_view model);
  Booster() = default;
  ~Booster();
  Booster(Booster&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  Booster& operator=(Booster&& o) noexcept;
  Booster(const Booster&) = delete;
  Booster& operator=(const Booster&) = delete;

  Status SetParam(const std::string& name, const std::string& value);
  // Applies the parameters set so far (XGBoost reads them lazily), so that a
  // bad value fails here rather than at the first round.
  Status Configure();
  // One boosting round on `train`.
  Status UpdateOneIter(int iteration, const DMatrix& train);
  // The value of the booster's first eval_metric on `data` after `iteration`.
  Result<double> Evaluate(int iteration, const DMatrix& data);
  // Predictions (probabilities for classification: one per row for binary,
  // rows × classes for softprob) with the first `rounds` rounds (0: all).
  Result<std::vector<float>> Predict(const DMatrix& data, int rounds = 0) const;
  // Rounds [0, rounds) of a tree booster, as a new booster.
  Result<Booster> Slice(int rounds) const;
  Result<int> BoostedRounds() const;
  // The model in XGBoost's JSON format (deterministic bytes for a given model).
  Result<std::string> SaveModel() const;
  // Importance of the features used by a tree booster ("gain", "weight", ...);
  // for gblinear, "weight" (the coefficients, summed over classes).
  Result<std::vector<FeatureScore>> FeatureScores(const std::string& type) const;

 private:
  void* h_ = nullptr;
};

}  // namespace alambic::xgb
