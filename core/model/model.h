// A trained model as Alambic stores it: what it predicts, how its features
// are encoded from a table's columns, the XGBoost booster and its metrics.
//
// On disk a model is a dataset version like any other (so it is versioned,
// published atomically, garbage-collected and traced in the lineage), holding
// one row with these utf8 columns:
//   model_id         SHA-256 of spec + booster: the model's content hash
//   task             binary, multiclass or regression
//   target           the column it predicts
//   spec             JSON: ModelSpec::ToJson() (features, encodings, classes, params)
//   booster          the booster in XGBoost's JSON model format (loadable by
//                    any XGBoost >= 1.0: xgboost.Booster().load_model(bytearray(...)))
//   metrics          JSON: validation metrics and feature importance, as recorded
//   xgboost_version  the libxgboost that trained it
#pragma once

#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/base/status.h"
#include "core/table/table.h"

namespace alambic {

enum class ModelTask { kBinary, kMulticlass, kRegression };
// "binary", "multiclass", "regression".
const char* ModelTaskName(ModelTask task);
Result<ModelTask> ParseModelTask(const std::string& name);

// How one input column becomes matrix columns.
enum class FeatureEncoding {
  kNumeric,  // one float column: numbers, bool as 0/1, dates as days and
             // timestamps as seconds since 1970-01-01
  kOneHot,   // one 0/1 column per training category (an unseen value: all 0)
  kNative,   // one column of category codes, split natively by XGBoost
};

struct ModelFeature {
  std::string column;
  TypeId type = TypeId::kFloat64;  // at training
  FeatureEncoding encoding = FeatureEncoding::kNumeric;
  std::vector<std::string> categories;  // kOneHot, kNative: sorted text values
  // Value given to a missing numeric cell; NaN: left missing for XGBoost.
  double fill = std::numeric_limits<double>::quiet_NaN();
};

struct ModelSpec {
  ModelTask task = ModelTask::kBinary;
  std::string target;
  TypeId target_type = TypeId::kInt64;
  std::vector<std::string> classes;  // classification: label text by class index
  double threshold = 0.5;            // binary: P(class 1) >= threshold predicts class 1
  std::vector<ModelFeature> features;
  nlohmann::json params = nlohmann::json::object();  // booster parameters and rounds

  // Names of the matrix columns: "column", or "column=value" for one-hot.
  std::vector<std::string> EncodedNames() const;
  // XGBoost feature types of the matrix columns: "q", or "c" for native categories.
  std::vector<std::string> EncodedTypes() const;
  bool HasNativeCategories() const;
  nlohmann::json ToJson() const;
  static Result<ModelSpec> FromJson(const nlohmann::json& j);
};

// The rows of `table` as a row-major float matrix (rows × EncodedNames().size()),
// NaN for missing. Fails, naming `input` and every missing column, when the
// table lacks features, and names a column whose type cannot be encoded.
Result<std::vector<float>> EncodeFeatures(const ModelSpec& spec, const Table& table,
                                          const std::string& input);

// The target column as the model sees it: the class index (classification)
// or the value (regression) of each row, NaN for a null. Fails, naming
// `input` and the column, when the column is missing, of the wrong type, or
// holds a class the model does not know.
Result<std::vector<double>> EncodeTarget(const ModelSpec& spec, const Table& table,
                                         const std::string& input);

// Metrics (see core/model/metrics.h) of predictions `pred` (as Booster::Predict
// returns them) against `truth` (as EncodeTarget returns it, without nulls).
nlohmann::json PredictionMetrics(const ModelSpec& spec, const std::vector<double>& truth,
                                 const std::vector<float>& pred);
// The metric `model list` shows: auc (binary), accuracy (multiclass), rmse (regression).
const char* MainMetric(ModelTask task);

struct Model {
  ModelSpec spec;
  std::string booster;  // XGBoost JSON
  nlohmann::json metrics = nlohmann::json::object();
  std::string xgboost_version;
  // SHA-256 of the spec's JSON and the booster bytes.
  std::string Id() const;
};

// The one-row table described above.
Result<Table> ModelToTable(const Model& model);
// Reads a model table; `dataset` names it in messages.
Result<Model> ModelFromTable(const Table& table, const std::string& dataset);

}  // namespace alambic
