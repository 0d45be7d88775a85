// kinds: score and evaluate — apply a trained model (see recipes/train.cc).
//
// The model is either the first input (the version its flow built) or pinned
// by params `model` (the model's dataset) and `version` (a version id or
// unique prefix), the data then being the only input.
//
// score adds prediction columns to its data: `prediction` (the class, typed
// like the training target, or the value for regression), `probability`
// (binary: P(positive class)) or `probability_<class>` (multiclass).
// evaluate scores labelled data and returns one row per metric (metric,
// value), the same metrics being the recipe run's metrics in the catalog,
// tagged with the model's id: re-running it on fresh data shows the metric's
// drift over time (`alambic model show`).
#include <cmath>

#include <fmt/format.h>

#include "core/model/model.h"
#include "core/model/xgboost.h"
#include "recipes/builtin_kinds.h"
#include "recipes/relational.h"

namespace alambic {
namespace {

constexpr int kScoreThreads = 4;

struct LoadedModel {
  Model model;
  std::string dataset;  // the model's dataset name
  std::string version;  // pinned version as given, "" for an input
  const NamedTable* data = nullptr;
};

Status CheckModelParams(const nlohmann::json& p) {
  if (!p.is_object()) return Status::Invalid("params must be a mapping");
  const bool has_model = p.contains("model"), has_version = p.contains("version");
  if (has_model != has_version)
    return Status::Invalid(
        "param 'version': a pinned model needs both 'model' (its dataset) and 'version'");
  for (const char* key : {"model", "version"})
    if (p.contains(key) && (!p[key].is_string() || p[key].get<std::string>().empty()))
      return Status::Invalid(fmt::format("param '{}': must be a non-empty string", key));
  return Status::Ok();
}

// The model and the data, from the inputs or the pinned version.
Result<LoadedModel> ScoreLoad(const RecipeContext& ctx) {
  const nlohmann::json& p = *ctx.params;
  LoadedModel m;
  Table pinned_table;
  const Table* model_table = nullptr;
  if (p.contains("model")) {
    if (ctx.inputs.size() != 1)
      return Status::Invalid(
          "with a pinned model (params 'model' and 'version') the data is the only input");
    m.dataset = p["model"].get<std::string>();
    m.version = p["version"].get<std::string>();
    if (!ctx.read_version)
      return Status::Invalid("param 'version': pinned models cannot be read here");
    auto t = ctx.read_version(m.dataset, m.version);
    if (!t.ok()) return t.status().WithContext("param 'version'");
    pinned_table = std::move(*t);
    model_table = &pinned_table;
    m.data = &ctx.inputs[0];
  } else {
    if (ctx.inputs.size() != 2)
      return Status::Invalid(
          "inputs: expected the model (a train recipe's output) then the data, or one input "
          "with params 'model' and 'version'");
    m.dataset = ctx.inputs[0].name;
    model_table = ctx.inputs[0].table.get();
    m.data = &ctx.inputs[1];
  }
  ALAMBIC_ASSIGN_OR_RETURN(m.model, ModelFromTable(*model_table, m.dataset));
  return m;
}

// Predictions of `model` for every row of `data`.
Result<std::vector<float>> Predict(const Model& model, const NamedTable& data) {
  ALAMBIC_ASSIGN_OR_RETURN(std::vector<float> x,
                           EncodeFeatures(model.spec, *data.table, data.name));
  const uint64_t width = model.spec.EncodedNames().size();
  ALAMBIC_ASSIGN_OR_RETURN(
      auto matrix, xgb::DMatrix::FromDense(x.data(), static_cast<uint64_t>(data.table->num_rows()),
                                           width, kScoreThreads));
  if (model.spec.HasNativeCategories())
    ALAMBIC_RETURN_IF_ERROR(matrix.SetFeatureTypes(model.spec.EncodedTypes()));
  ALAMBIC_ASSIGN_OR_RETURN(auto booster, xgb::Booster::Load(model.booster));
  ALAMBIC_RETURN_IF_ERROR(booster.SetParam("nthread", std::to_string(kScoreThreads)));
  return booster.Predict(matrix);
}

void AppendLabel(ColumnBuilder& b, TypeId type, const std::string& label) {
  switch (type) {
    case TypeId::kBool:
      b.AppendBool(label == "true");
      break;
    case TypeId::kInt64:
      b.AppendInt64(std::stoll(label));
      break;
    default:
      b.AppendString(label);
  }
}

std::string StringParam(const nlohmann::json& p, const char* key, const char* fallback) {
  auto it = p.find(key);
  return it != p.end() && it->is_string() ? it->get<std::string>() : fallback;
}

Status CheckNames(const nlohmann::json& p) {
  for (const char* key : {"prediction", "probability"})
    if (p.contains(key) && (!p[key].is_string() || p[key].get<std::string>().empty()))
      return Status::Invalid(fmt::format("param '{}': must be a column name", key));
  if (auto it = p.find("threshold"); it != p.end())
    if (!it->is_number() || it->get<double>() <= 0 || it->get<double>() >= 1)
      return Status::Invalid("param 'threshold': must be a number between 0 and 1 (exclusive)");
  return Status::Ok();
}

class ScoreKind final : public RecipeKind {
 public:
  std::string name() const override { return "score"; }
  const std::vector<ParamSpec>& params() const override {
    static const std::vector<ParamSpec> kParams = {
        {"model", ParamType::kString, false, "pinned model: its dataset"},
        {"version", ParamType::kString, false, "pinned model: version id or unique prefix"},
        {"prediction", ParamType::kString, false, "prediction column (default prediction)"},
        {"probability", ParamType::kString, false,
         "probability column, or prefix for multiclass (default probability)"},
        {"threshold", ParamType::kNumber, false, "binary: threshold (default: the model's)"},
        {"keep", ParamType::kStringList, false, "input columns kept (default: all)"}};
    return kParams;
  }
  int max_inputs() const override { return 2; }
  Status CheckParams(const nlohmann::json& params) const override {
    ALAMBIC_RETURN_IF_ERROR(CheckModelParams(params));
    ALAMBIC_RETURN_IF_ERROR(CheckNames(params));
    return ColumnListParam(params, "keep", false).status();
  }

  Result<RecipeOutput> Run(RecipeContext& ctx) const override {
    ALAMBIC_RETURN_IF_ERROR(InRecipe(ctx, CheckParams(*ctx.params)));
    auto r = Score(ctx);
    if (!r.ok()) return InRecipe(ctx, r.status());
    return r;
  }

 private:
  Result<RecipeOutput> Score(const RecipeContext& ctx) const {
    const nlohmann::json& p = *ctx.params;
    ALAMBIC_ASSIGN_OR_RETURN(LoadedModel m, ScoreLoad(ctx));
    const ModelSpec& spec = m.model.spec;
    const NamedTable& data = *m.data;
    const Table& in = *data.table;
    ALAMBIC_ASSIGN_OR_RETURN(std::vector<float> pred, Predict(m.model, data));
    const double threshold = p.value("threshold", spec.threshold);
    const std::string prediction = StringParam(p, "prediction", "prediction");
    const std::string probability = StringParam(p, "probability", "probability");

    Schema schema;
    std::vector<ColumnPtr> cols;
    RecipeOutput out;
    std::map<std::string, std::vector<ColumnSource>> lineage;
    ALAMBIC_ASSIGN_OR_RETURN(auto keep, ColumnListParam(p, "keep", false));
    if (keep.empty())
      for (const auto& f : in.schema().fields) keep.push_back(f.name);
    for (const auto& k : keep) {
      ALAMBIC_ASSIGN_OR_RETURN(int i, FindColumn(data, "param 'keep'", k));
      schema.fields.push_back(in.schema().fields[static_cast<size_t>(i)]);
      cols.push_back(in.column(i));
      lineage[k] = {{data.name, k}};
    }
    std::vector<ColumnSource> from_features;
    for (const auto& f : spec.features)
      from_features.push_back({data.name, f.column, kTransformTransformation});
    auto add = [&](const std::string& name, ColumnPtr c) -> Status {
      if (schema.FieldIndex(name) >= 0)
        return Status::Invalid(fmt::format(
            "output column '{}' is already a column of input '{}' (set param 'prediction' or "
            "'probability' to another name)",
            name, data.name));
      schema.fields.push_back({name, c->type});
      cols.push_back(std::move(c));
      lineage[name] = from_features;
      return Status::Ok();
    };
    const int64_t rows = in.num_rows();
    const size_t k = spec.classes.size();
    ColumnBuilder label(spec.task == ModelTask::kRegression ? TypeId::kFloat64 : spec.target_type);
    label.Reserve(rows);
    int64_t positives = 0;
    if (spec.task == ModelTask::kRegression) {
      for (int64_t i = 0; i < rows; ++i) label.AppendDouble(pred[static_cast<size_t>(i)]);
      ALAMBIC_RETURN_IF_ERROR(add(prediction, label.Finish()));
    } else if (spec.task == ModelTask::kBinary) {
      ColumnBuilder prob(TypeId::kFloat64);
      prob.Reserve(rows);
      for (int64_t i = 0; i < rows; ++i) {
        const double pr = pred[static_cast<size_t>(i)];
        const bool positive = pr >= threshold;
        positives += positive;
        AppendLabel(label, spec.target_type, spec.classes[positive ? 1 : 0]);
        prob.AppendDouble(pr);
      }
      ALAMBIC_RETURN_IF_ERROR(add(prediction, label.Finish()));
      ALAMBIC_RETURN_IF_ERROR(add(probability, prob.Finish()));
    } else {
      std::vector<ColumnBuilder> probs(k, ColumnBuilder(TypeId::kFloat64));
      for (int64_t i = 0; i < rows; ++i) {
        const float* row = &pred[static_cast<size_t>(i) * k];
        size_t best = 0;
        for (size_t c = 0; c < k; ++c) {
          probs[c].AppendDouble(row[c]);
          if (row[c] > row[best]) best = c;
        }
        AppendLabel(label, spec.target_type, spec.classes[best]);
      }
      ALAMBIC_RETURN_IF_ERROR(add(prediction, label.Finish()));
      for (size_t c = 0; c < k; ++c)
        ALAMBIC_RETURN_IF_ERROR(add(probability + "_" + spec.classes[c], probs[c].Finish()));
    }
    ALAMBIC_ASSIGN_OR_RETURN(Table t, Table::Make(std::move(schema), std::move(cols), rows));
    out.metrics["rows"] = rows;
    out.metrics["model"] = m.dataset;
    out.metrics["model_id"] = m.model.Id();
    if (!m.version.empty()) out.metrics["model_version"] = m.version;
    if (spec.task == ModelTask::kBinary) out.metrics["predicted_positive"] = positives;
    if (ctx.log)
      ctx.log->Info(fmt::format("scored {} rows of {} with model {} ({})", rows, data.name,
                                m.dataset, m.model.Id().substr(0, 12)));
    out.tables.push_back(std::move(t));
    out.column_lineage.push_back(std::move(lineage));
    return out;
  }
};

class EvaluateKind final : public RecipeKind {
 public:
  std::string name() const override { return "evaluate"; }
  const std::vector<ParamSpec>& params() const override {
    static const std::vector<ParamSpec> kParams = {
        {"model", ParamType::kString, false, "pinned model: its dataset"},
        {"version", ParamType::kString, false, "pinned model: version id or unique prefix"},
        {"threshold", ParamType::kNumber, false, "binary: threshold (default: the model's)"}};
    return kParams;
  }
  int max_inputs() const override { return 2; }
  Status CheckParams(const nlohmann::json& params) const override {
    ALAMBIC_RETURN_IF_ERROR(CheckModelParams(params));
    return CheckNames(params);
  }

  Result<RecipeOutput> Run(RecipeContext& ctx) const override {
    ALAMBIC_RETURN_IF_ERROR(InRecipe(ctx, CheckParams(*ctx.params)));
    auto r = Evaluate(ctx);
    if (!r.ok()) return InRecipe(ctx, r.status());
    return r;
  }

 private:
  Result<RecipeOutput> Evaluate(const RecipeContext& ctx) const {
    ALAMBIC_ASSIGN_OR_RETURN(LoadedModel m, ScoreLoad(ctx));
    ModelSpec& spec = m.model.spec;
    spec.threshold = ctx.params->value("threshold", spec.threshold);
    const NamedTable& data = *m.data;
    ALAMBIC_ASSIGN_OR_RETURN(std::vector<double> truth_all,
                             EncodeTarget(spec, *data.table, data.name));
    ALAMBIC_ASSIGN_OR_RETURN(std::vector<float> pred_all, Predict(m.model, data));
    const size_t per_row = spec.task == ModelTask::kMulticlass ? spec.classes.size() : 1;
    std::vector<double> truth;
    std::vector<float> pred;
    for (size_t i = 0; i < truth_all.size(); ++i) {
      if (std::isnan(truth_all[i])) continue;
      truth.push_back(truth_all[i]);
      pred.insert(pred.end(), pred_all.begin() + static_cast<std::ptrdiff_t>(i * per_row),
                  pred_all.begin() + static_cast<std::ptrdiff_t>((i + 1) * per_row));
    }
    if (truth.empty())
      return Status::Invalid(
          fmt::format("input '{}': target column '{}' has no value", data.name, spec.target));
    nlohmann::json metrics = PredictionMetrics(spec, truth, pred);
    const std::string id = m.model.Id();
    ColumnBuilder model_col(TypeId::kUtf8), id_col(TypeId::kUtf8), metric_col(TypeId::kUtf8),
        value_col(TypeId::kFloat64);
    int64_t n = 0;
    for (const auto& [name, v] : metrics.items()) {
      if (!v.is_number() || name == "threshold") continue;
      model_col.AppendString(m.dataset);
      id_col.AppendString(id);
      metric_col.AppendString(name);
      value_col.AppendDouble(v.get<double>());
      ++n;
    }
    Schema schema;
    schema.fields = {{"model", TypeId::kUtf8},
                     {"model_id", TypeId::kUtf8},
                     {"metric", TypeId::kUtf8},
                     {"value", TypeId::kFloat64}};
    ALAMBIC_ASSIGN_OR_RETURN(
        Table t, Table::Make(std::move(schema), {model_col.Finish(), id_col.Finish(),
                                                 metric_col.Finish(), value_col.Finish()}));
    const char* main = MainMetric(spec.task);
    if (ctx.log && metrics[main].is_number())
      ctx.log->Info(fmt::format("model {} on {} ({} labelled rows): {} {:.4f}", m.dataset,
                                data.name, truth.size(), main, metrics[main].get<double>()));
    metrics["main_metric"] = main;
    metrics["model"] = m.dataset;
    metrics["model_id"] = id;
    metrics["dataset"] = data.name;
    metrics["rows_without_target"] = static_cast<int64_t>(truth_all.size() - truth.size());
    if (!m.version.empty()) metrics["model_version"] = m.version;
    std::vector<ColumnSource> sources = {{data.name, spec.target, kTransformAggregation}};
    for (const auto& f : spec.features)
      sources.push_back({data.name, f.column, kTransformAggregation});
    RecipeOutput out;
    out.column_lineage.push_back(
        {{"model", {}}, {"model_id", {}}, {"metric", {}}, {"value", sources}});
    out.tables.push_back(std::move(t));
    metrics["metric_rows"] = n;
    out.metrics = std::move(metrics);
    return out;
  }
};

}  // namespace

Status RegisterScoreKinds(RecipeRegistry& r) {
  ALAMBIC_RETURN_IF_ERROR(r.Register(std::make_unique<ScoreKind>()));
  return r.Register(std::make_unique<EvaluateKind>());
}

}  // namespace alambic
