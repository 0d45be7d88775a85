#include "core/model/xgboost.h"

#include <cmath>
#include <cstdlib>
#include <limits>

#include <fmt/format.h>
#include <xgboost/c_api.h>

namespace alambic::xgb {

namespace {

Status Check(int rc, const char* what) {
  if (rc == 0) return Status::Ok();
  return Status::Failed(fmt::format("xgboost: {}: {}", what, XGBGetLastError()));
}

// "f12" -> 12; -1 for anything else.
int FeatureIndex(const char* name) {
  if (name[0] != 'f' || name[1] == '\0') return -1;
  char* end = nullptr;
  long v = std::strtol(name + 1, &end, 10);
  return *end == '\0' && v >= 0 ? static_cast<int>(v) : -1;
}

}  // namespace

std::string LibraryVersion() {
  int major = 0, minor = 0, patch = 0;
  XGBoostVersion(&major, &minor, &patch);
  return fmt::format("{}.{}.{}", major, minor, patch);
}

// ---- DMatrix ----------------------------------------------------------------

Result<DMatrix> DMatrix::FromDense(const float* data, uint64_t rows, uint64_t cols, int threads) {
  DMatrix m;
  ALAMBIC_RETURN_IF_ERROR(
      Check(XGDMatrixCreateFromMat_omp(data, rows, cols, std::numeric_limits<float>::quiet_NaN(),
                                       &m.h_, threads),
            "creating a matrix"));
  return m;
}

DMatrix::~DMatrix() {
  if (h_) XGDMatrixFree(h_);
}

DMatrix& DMatrix::operator=(DMatrix&& o) noexcept {
  if (this != &o) {
    if (h_) XGDMatrixFree(h_);
    h_ = std::exchange(o.h_, nullptr);
  }
  return *this;
}

Status DMatrix::SetLabels(const std::vector<float>& labels) {
  return Check(XGDMatrixSetFloatInfo(h_, "label", labels.data(), labels.size()), "setting labels");
}

Status DMatrix::SetWeights(const std::vector<float>& weights) {
  return Check(XGDMatrixSetFloatInfo(h_, "weight", weights.data(), weights.size()),
               "setting weights");
}

Status DMatrix::SetFeatureTypes(const std::vector<std::string>& types) {
  std::vector<const char*> ptrs;
  for (const auto& t : types) ptrs.push_back(t.c_str());
  return Check(XGDMatrixSetStrFeatureInfo(h_, "feature_type", ptrs.data(), ptrs.size()),
               "setting feature types");
}

// ---- Booster ----------------------------------------------------------------

Result<Booster> Booster::Create(const std::vector<const DMatrix*>& cache) {
  std::vector<DMatrixHandle> handles;
  for (const DMatrix* m : cache) handles.push_back(m->handle());
  Booster b;
  ALAMBIC_RETURN_IF_ERROR(
      Check(XGBoosterCreate(handles.data(), handles.size(), &b.h_), "creating a booster"));
  return b;
}

Result<Booster> Booster::Load(std::string_view model) {
  Booster b;
  ALAMBIC_RETURN_IF_ERROR(Check(XGBoosterCreate(nullptr, 0, &b.h_), "creating a booster"));
  ALAMBIC_RETURN_IF_ERROR(
      Check(XGBoosterLoadModelFromBuffer(b.h_, model.data(), model.size()), "loading a model"));
  return b;
}

Booster::~Booster() {
  if (h_) XGBoosterFree(h_);
}

Booster& Booster::operator=(Booster&& o) noexcept {
  if (this != &o) {
    if (h_) XGBoosterFree(h_);
    h_ = std::exchange(o.h_, nullptr);
  }
  return *this;
}

Status Booster::SetParam(const std::string& name, const std::string& value) {
  return Check(XGBoosterSetParam(h_, name.c_str(), value.c_str()),
               fmt::format("parameter {}={}", name, value).c_str());
}

Status Booster::Configure() {
  bst_ulong len = 0;
  const char* config = nullptr;
  return Check(XGBoosterSaveJsonConfig(h_, &len, &config), "configuring");
}

Status Booster::UpdateOneIter(int iteration, const DMatrix& train) {
  return Check(XGBoosterUpdateOneIter(h_, iteration, train.handle()), "boosting");
}

Result<double> Booster::Evaluate(int iteration, const DMatrix& data) {
  DMatrixHandle handles[] = {data.handle()};
  const char* names[] = {"valid"};
  const char* out = nullptr;
  ALAMBIC_RETURN_IF_ERROR(
      Check(XGBoosterEvalOneIter(h_, iteration, handles, names, 1, &out), "evaluating"));
  // "[3]\tvalid-auc:0.97[\tvalid-logloss:0.2]": the first metric.
  std::string_view s(out);
  size_t colon = s.find(':');
  if (colon == std::string_view::npos)
    return Status::Internal(fmt::format("xgboost: unexpected evaluation '{}'", s));
  return std::strtod(std::string(s.substr(colon + 1)).c_str(), nullptr);
}

Result<std::vector<float>> Booster::Predict(const DMatrix& data, int rounds) const {
  const std::string config =
      fmt::format(R"({{"type": 0, "training": false, "iteration_begin": 0, "iteration_end": {}, )"
                  R"("strict_shape": false}})",
                  rounds);
  const bst_ulong* shape = nullptr;
  bst_ulong dim = 0;
  const float* result = nullptr;
  ALAMBIC_RETURN_IF_ERROR(
      Check(XGBoosterPredictFromDMatrix(h_, data.handle(), config.c_str(), &shape, &dim, &result),
            "predicting"));
  bst_ulong n = 1;
  for (bst_ulong i = 0; i < dim; ++i) n *= shape[i];
  return std::vector<float>(result, result + n);
}

Result<Booster> Booster::Slice(int rounds) const {
  Booster b;
  ALAMBIC_RETURN_IF_ERROR(Check(XGBoosterSlice(h_, 0, rounds, 1, &b.h_), "slicing"));
  return b;
}

Result<int> Booster::BoostedRounds() const {
  int n = 0;
  ALAMBIC_RETURN_IF_ERROR(Check(XGBoosterBoostedRounds(h_, &n), "counting rounds"));
  return n;
}

Result<std::string> Booster::SaveModel() const {
  bst_ulong len = 0;
  const char* data = nullptr;
  ALAMBIC_RETURN_IF_ERROR(
      Check(XGBoosterSaveModelToBuffer(h_, R"({"format": "json"})", &len, &data), "saving"));
  return std::string(data, len);
}

Result<std::vector<FeatureScore>> Booster::FeatureScores(const std::string& type) const {
  const std::string config = fmt::format(R"({{"importance_type": "{}"}})", type);
  bst_ulong n_features = 0, dim = 0;
  const char** names = nullptr;
  const bst_ulong* shape = nullptr;
  const float* scores = nullptr;
  ALAMBIC_RETURN_IF_ERROR(
      Check(XGBoosterFeatureScore(h_, config.c_str(), &n_features, &names, &dim, &shape, &scores),
            "feature importance"));
  // Tree boosters: one score per feature; gblinear: features × classes.
  const bst_ulong per = dim == 2 ? shape[1] : 1;
  std::vector<FeatureScore> out;
  for (bst_ulong i = 0; i < n_features; ++i) {
    int index = FeatureIndex(names[i]);
    if (index < 0) continue;
    double total = 0;
    for (bst_ulong c = 0; c < per; ++c) total += std::fabs(scores[i * per + c]);
    out.push_back({index, total});
  }
  return out;
}

}  // namespace alambic::xgb
