#include "core/model/model.h"

#include <cmath>
#include <string_view>
#include <unordered_map>

#include <fmt/format.h>

#include "core/base/hash.h"
#include "core/model/metrics.h"

namespace alambic {

namespace {

constexpr double kMicrosPerSecond = 1e6;
constexpr const char* kColumns[] = {"model_id", "task",    "target",         "spec",
                                    "booster",  "metrics", "xgboost_version"};

const char* EncodingName(FeatureEncoding e) {
  switch (e) {
    case FeatureEncoding::kNumeric:
      return "numeric";
    case FeatureEncoding::kOneHot:
      return "onehot";
    case FeatureEncoding::kNative:
      return "native";
  }
  return "?";
}

// The value of a numeric feature's cell; NaN when null.
double NumericCell(const Column& c, int64_t i) {
  if (c.IsNull(i)) return std::nan("");
  switch (c.type) {
    case TypeId::kInt64:
      return static_cast<double>(c.Int64(i));
    case TypeId::kFloat64:
      return c.Double(i);
    case TypeId::kBool:
      return c.Bool(i) ? 1 : 0;
    case TypeId::kDate32:
      return c.Date32(i);
    case TypeId::kTimestamp:
      return static_cast<double>(c.Int64(i)) / kMicrosPerSecond;
    case TypeId::kUtf8:
      break;
  }
  return std::nan("");
}

// Category index of each row (-1: null or unseen).
std::vector<int> CategoryCodes(const Column& c, const std::vector<std::string>& categories) {
  std::unordered_map<std::string_view, int> index;
  for (size_t k = 0; k < categories.size(); ++k) index.emplace(categories[k], static_cast<int>(k));
  std::vector<int> codes(static_cast<size_t>(c.length), -1);
  if (c.type == TypeId::kUtf8 && c.is_dictionary()) {
    std::vector<int> dict(static_cast<size_t>(c.dictionary->length), -1);
    for (int64_t d = 0; d < c.dictionary->length; ++d) {
      auto it = index.find(c.dictionary->String(d));
      if (it != index.end()) dict[static_cast<size_t>(d)] = it->second;
    }
    for (int64_t i = 0; i < c.length; ++i)
      if (c.IsValid(i)) codes[static_cast<size_t>(i)] = dict[static_cast<size_t>(c.Int32Data()[i])];
    return codes;
  }
  for (int64_t i = 0; i < c.length; ++i) {
    if (c.IsNull(i)) continue;
    if (c.type == TypeId::kUtf8) {
      auto it = index.find(c.String(i));
      if (it != index.end()) codes[static_cast<size_t>(i)] = it->second;
    } else {
      auto it = index.find(FormatCell(c, i));
      if (it != index.end()) codes[static_cast<size_t>(i)] = it->second;
    }
  }
  return codes;
}

bool IsNumericType(TypeId t) { return t != TypeId::kUtf8; }

}  // namespace

const char* ModelTaskName(ModelTask task) {
  switch (task) {
    case ModelTask::kBinary:
      return "binary";
    case ModelTask::kMulticlass:
      return "multiclass";
    case ModelTask::kRegression:
      return "regression";
  }
  return "?";
}

Result<ModelTask> ParseModelTask(const std::string& name) {
  if (name == "binary") return ModelTask::kBinary;
  if (name == "multiclass") return ModelTask::kMulticlass;
  if (name == "regression") return ModelTask::kRegression;
  return Status::Invalid(
      fmt::format("unknown task '{}' (expected binary, multiclass or regression)", name));
}

std::vector<std::string> ModelSpec::EncodedNames() const {
  std::vector<std::string> out;
  for (const auto& f : features) {
    if (f.encoding == FeatureEncoding::kOneHot)
      for (const auto& c : f.categories) out.push_back(f.column + "=" + c);
    else
      out.push_back(f.column);
  }
  return out;
}

std::vector<std::string> ModelSpec::EncodedTypes() const {
  std::vector<std::string> out;
  for (const auto& f : features) {
    if (f.encoding == FeatureEncoding::kOneHot)
      out.insert(out.end(), f.categories.size(), "q");
    else
      out.push_back(f.encoding == FeatureEncoding::kNative ? "c" : "q");
  }
  return out;
}

bool ModelSpec::HasNativeCategories() const {
  for (const auto& f : features)
    if (f.encoding == FeatureEncoding::kNative) return true;
  return false;
}

nlohmann::json ModelSpec::ToJson() const {
  nlohmann::json j;
  j["task"] = ModelTaskName(task);
  j["target"] = target;
  j["target_type"] = TypeName(target_type);
  j["classes"] = classes;
  j["threshold"] = threshold;
  nlohmann::json fs = nlohmann::json::array();
  for (const auto& f : features) {
    nlohmann::json e;
    e["column"] = f.column;
    e["type"] = TypeName(f.type);
    e["encoding"] = EncodingName(f.encoding);
    if (f.encoding != FeatureEncoding::kNumeric) e["categories"] = f.categories;
    if (!std::isnan(f.fill)) e["fill"] = f.fill;
    fs.push_back(std::move(e));
  }
  j["features"] = std::move(fs);
  j["params"] = params;
  return j;
}

Result<ModelSpec> ModelSpec::FromJson(const nlohmann::json& j) {
  try {
    ModelSpec s;
    ALAMBIC_ASSIGN_OR_RETURN(s.task, ParseModelTask(j.at("task").get<std::string>()));
    s.target = j.at("target").get<std::string>();
    ALAMBIC_ASSIGN_OR_RETURN(s.target_type, ParseTypeName(j.at("target_type").get<std::string>()));
    s.classes = j.at("classes").get<std::vector<std::string>>();
    s.threshold = j.at("threshold").get<double>();
    for (const auto& e : j.at("features")) {
      ModelFeature f;
      f.column = e.at("column").get<std::string>();
      ALAMBIC_ASSIGN_OR_RETURN(f.type, ParseTypeName(e.at("type").get<std::string>()));
      const std::string enc = e.at("encoding").get<std::string>();
      if (enc == "numeric")
        f.encoding = FeatureEncoding::kNumeric;
      else if (enc == "onehot")
        f.encoding = FeatureEncoding::kOneHot;
      else if (enc == "native")
        f.encoding = FeatureEncoding::kNative;
      else
        return Status::Invalid(fmt::format("unknown encoding '{}'", enc));
      if (e.contains("categories")) f.categories = e["categories"].get<std::vector<std::string>>();
      if (e.contains("fill")) f.fill = e["fill"].get<double>();
      s.features.push_back(std::move(f));
    }
    s.params = j.at("params");
    return s;
  } catch (const std::exception& e) {
    return Status::Invalid(fmt::format("malformed model spec: {}", e.what()));
  }
}

Result<std::vector<float>> EncodeFeatures(const ModelSpec& spec, const Table& table,
                                          const std::string& input) {
  std::vector<std::string> missing;
  std::vector<ColumnPtr> cols;
  for (const auto& f : spec.features) {
    ColumnPtr c = table.ColumnByName(f.column);
    if (!c) missing.push_back(f.column);
    cols.push_back(c);
  }
  if (!missing.empty()) {
    std::string names;
    for (const auto& m : missing) names += (names.empty() ? "" : ", ") + m;
    return Status::Invalid(fmt::format("input '{}' lacks the model's feature{}: {}", input,
                                       missing.size() == 1 ? "" : "s", names));
  }
  const size_t width = spec.EncodedNames().size();
  const int64_t rows = table.num_rows();
  std::vector<float> m(static_cast<size_t>(rows) * width, std::nanf(""));
  size_t at = 0;  // first matrix column of the current feature
  for (size_t k = 0; k < spec.features.size(); ++k) {
    const ModelFeature& f = spec.features[k];
    const Column& c = *cols[k];
    if (f.encoding == FeatureEncoding::kNumeric) {
      if (!IsNumericType(c.type))
        return Status::Invalid(
            fmt::format("input '{}': column '{}' is {}, the model was trained on {} values", input,
                        f.column, TypeName(c.type), TypeName(f.type)));
      const bool fill = !std::isnan(f.fill);
      for (int64_t i = 0; i < rows; ++i) {
        double v = NumericCell(c, i);
        if (std::isnan(v) && fill) v = f.fill;
        m[static_cast<size_t>(i) * width + at] = static_cast<float>(v);
      }
      ++at;
      continue;
    }
    const std::vector<int> codes = CategoryCodes(c, f.categories);
    if (f.encoding == FeatureEncoding::kNative) {
      for (int64_t i = 0; i < rows; ++i) {
        const int code = codes[static_cast<size_t>(i)];
        if (code >= 0) m[static_cast<size_t>(i) * width + at] = static_cast<float>(code);
      }
      ++at;
      continue;
    }
    // One-hot: a null cell stays missing in every indicator, an unseen one is all zeros.
    for (int64_t i = 0; i < rows; ++i) {
      if (c.IsNull(i)) continue;
      float* row = &m[static_cast<size_t>(i) * width + at];
      for (size_t x = 0; x < f.categories.size(); ++x) row[x] = 0;
      const int code = codes[static_cast<size_t>(i)];
      if (code >= 0) row[code] = 1;
    }
    at += f.categories.size();
  }
  return m;
}

Result<std::vector<double>> EncodeTarget(const ModelSpec& spec, const Table& table,
                                         const std::string& input) {
  ColumnPtr c = table.ColumnByName(spec.target);
  if (!c)
    return Status::Invalid(
        fmt::format("input '{}' lacks the model's target column '{}'", input, spec.target));
  const int64_t rows = table.num_rows();
  std::vector<double> out(static_cast<size_t>(rows), std::nan(""));
  if (spec.task == ModelTask::kRegression) {
    if (c->type != TypeId::kInt64 && c->type != TypeId::kFloat64)
      return Status::Invalid(fmt::format("input '{}': target column '{}' is {}, not numeric", input,
                                         spec.target, TypeName(c->type)));
    for (int64_t i = 0; i < rows; ++i) out[static_cast<size_t>(i)] = NumericCell(*c, i);
    return out;
  }
  const std::vector<int> codes = CategoryCodes(*c, spec.classes);
  for (int64_t i = 0; i < rows; ++i) {
    if (c->IsNull(i)) continue;
    const int code = codes[static_cast<size_t>(i)];
    if (code < 0)
      return Status::Invalid(
          fmt::format("input '{}': target column '{}', row {}: class '{}' is not one the model "
                      "was trained on",
                      input, spec.target, i + 1, FormatCell(*c, i)));
    out[static_cast<size_t>(i)] = code;
  }
  return out;
}

nlohmann::json PredictionMetrics(const ModelSpec& spec, const std::vector<double>& truth,
                                 const std::vector<float>& pred) {
  if (spec.task == ModelTask::kRegression)
    return RegressionMetricsJson(truth, std::vector<double>(pred.begin(), pred.end()));
  std::vector<int> label(truth.size());
  for (size_t i = 0; i < truth.size(); ++i) label[i] = static_cast<int>(truth[i]);
  if (spec.task == ModelTask::kBinary)
    return BinaryMetrics(label, std::vector<double>(pred.begin(), pred.end()), spec.threshold);
  return MulticlassMetrics(label, std::vector<double>(pred.begin(), pred.end()),
                           static_cast<int>(spec.classes.size()));
}

const char* MainMetric(ModelTask task) {
  switch (task) {
    case ModelTask::kBinary:
      return "auc";
    case ModelTask::kMulticlass:
      return "accuracy";
    case ModelTask::kRegression:
      return "rmse";
  }
  return "?";
}

std::string Model::Id() const {
  Hasher h;
  h.Field("alambic-model/1").Field(spec.ToJson().dump()).Field(booster);
  return h.HexDigest();
}

Result<Table> ModelToTable(const Model& model) {
  const std::string values[] = {
      model.Id(),
      ModelTaskName(model.spec.task),
      model.spec.target,
      model.spec.ToJson().dump(),
      model.booster,
      model.metrics.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
      model.xgboost_version};
  Schema schema;
  std::vector<ColumnPtr> cols;
  for (size_t i = 0; i < std::size(kColumns); ++i) {
    schema.fields.push_back({kColumns[i], TypeId::kUtf8, false});
    ColumnBuilder b(TypeId::kUtf8);
    b.AppendString(values[i]);
    cols.push_back(b.Finish());
  }
  return Table::Make(std::move(schema), std::move(cols));
}

Result<Model> ModelFromTable(const Table& table, const std::string& dataset) {
  auto cell = [&](const char* name) -> Result<std::string> {
    ColumnPtr c = table.ColumnByName(name);
    if (!c || c->type != TypeId::kUtf8 || table.num_rows() != 1 || c->IsNull(0))
      return Status::Invalid(fmt::format(
          "dataset {} is not a model (a train recipe's output): no utf8 column '{}' in one row",
          dataset, name));
    return std::string(c->String(0));
  };
  Model m;
  ALAMBIC_ASSIGN_OR_RETURN(std::string spec, cell("spec"));
  auto spec_json = nlohmann::json::parse(spec, nullptr, false);
  auto parsed = ModelSpec::FromJson(spec_json);
  if (!parsed.ok()) return parsed.status().WithContext(fmt::format("model {}", dataset));
  m.spec = std::move(*parsed);
  ALAMBIC_ASSIGN_OR_RETURN(m.booster, cell("booster"));
  ALAMBIC_ASSIGN_OR_RETURN(std::string metrics, cell("metrics"));
  m.metrics = nlohmann::json::parse(metrics, nullptr, false);
  ALAMBIC_ASSIGN_OR_RETURN(m.xgboost_version, cell("xgboost_version"));
  ALAMBIC_ASSIGN_OR_RETURN(std::string id, cell("model_id"));
  if (id != m.Id())
    return Status::Invalid(
        fmt::format("model {}: its content does not match its id {} (corrupted?)", dataset, id));
  return m;
}

}  // namespace alambic
