// kind: train — fits an XGBoost model (binary, multiclass or regression) on
// one input and writes it as a model (core/model/model.h): a one-row dataset
// version holding the booster, how features are encoded, and the validation
// metrics, which are also the recipe run's metrics in the catalog.
//
// Validation: a seeded random hold-out, a time-ordered hold-out (the latest
// rows), or K-fold cross-validation (out-of-fold predictions; the final model
// is then fitted on every row). A small grid of hyper-parameters may be
// searched on the same validation; the best by the task's main metric wins.
// Training is deterministic: the same data, params, seed and threads give the
// same booster bytes.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <set>

#include <fmt/format.h>

#include "core/model/model.h"
#include "core/model/xgboost.h"
#include "recipes/builtin_kinds.h"
#include "recipes/relational.h"

namespace alambic {
namespace {

constexpr int kDefaultRounds = 100;
constexpr int kDefaultThreads = 4;
constexpr int kDefaultFolds = 5;
constexpr int kDefaultMaxCategories = 100;
constexpr int kMaxGridCombinations = 64;
constexpr int kMaxClasses = 1000;
constexpr uint64_t kDefaultSplitSeed = 42;
constexpr double kDefaultValidation = 0.2;
constexpr int kImportanceShown = 20;

enum class SplitMethod { kRandom, kTime, kKFold };

struct TrainParams {
  ModelTask task = ModelTask::kBinary;
  std::string target;
  std::vector<std::string> features, exclude, categorical;
  FeatureEncoding categorical_encoding = FeatureEncoding::kOneHot;
  int max_categories = kDefaultMaxCategories;
  std::string missing = "native";  // native | mean | zero
  std::optional<std::string> positive;
  double threshold = 0.5;
  SplitMethod split = SplitMethod::kRandom;
  double validation = kDefaultValidation;
  uint64_t split_seed = kDefaultSplitSeed;
  std::string time_column;
  int folds = kDefaultFolds;
  std::string booster = "gbtree";
  int rounds = kDefaultRounds;
  int early_stopping = 0;
  std::string eval_metric;
  nlohmann::json hyperparams = nlohmann::json::object();
  nlohmann::json grid = nlohmann::json::object();
  nlohmann::json class_weights;  // null, "balanced" or {label: weight}
  int64_t seed = 0;
  int threads = kDefaultThreads;
};

// Parameters the recipe sets itself, refused in hyperparams and grid.
const std::set<std::string> kReserved = {"objective", "num_class",   "nthread", "n_jobs",
                                         "booster",   "eval_metric", "seed",    "random_state"};

bool IsScalar(const nlohmann::json& v) { return v.is_number() || v.is_string() || v.is_boolean(); }

std::string ParamText(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "1" : "0";
  return v.dump();
}

Result<TrainParams> ParseTrainParams(const nlohmann::json& p) {
  if (!p.is_object()) return Status::Invalid("params must be a mapping");
  TrainParams t;
  auto str = [&](const char* key, std::string* out, bool required) -> Status {
    auto it = p.find(key);
    if (it == p.end())
      return required ? Status::Invalid(fmt::format("param '{}': required", key)) : Status::Ok();
    if (!it->is_string() || it->get<std::string>().empty())
      return Status::Invalid(fmt::format("param '{}': must be a non-empty string", key));
    *out = it->get<std::string>();
    return Status::Ok();
  };
  auto integer = [&](const nlohmann::json& obj, const char* key, const std::string& where,
                     int64_t lo, int64_t hi, auto* out) -> Status {
    auto it = obj.find(key);
    if (it == obj.end()) return Status::Ok();
    if (!it->is_number_integer() || it->template get<int64_t>() < lo ||
        it->template get<int64_t>() > hi)
      return Status::Invalid(fmt::format("{}: must be an integer from {} to {}", where, lo, hi));
    *out = static_cast<std::remove_reference_t<decltype(*out)>>(it->template get<int64_t>());
    return Status::Ok();
  };
  std::string task;
  ALAMBIC_RETURN_IF_ERROR(str("task", &task, true));
  auto parsed_task = ParseModelTask(task);
  if (!parsed_task.ok()) return parsed_task.status().WithContext("param 'task'");
  t.task = *parsed_task;
  ALAMBIC_RETURN_IF_ERROR(str("target", &t.target, true));
  ALAMBIC_ASSIGN_OR_RETURN(t.features, ColumnListParam(p, "features", false));
  ALAMBIC_ASSIGN_OR_RETURN(t.exclude, ColumnListParam(p, "exclude", false));
  if (!t.features.empty() && !t.exclude.empty())
    return Status::Invalid("param 'exclude': give either 'features' or 'exclude', not both");
  ALAMBIC_ASSIGN_OR_RETURN(t.categorical, ColumnListParam(p, "categorical", false));
  if (auto it = p.find("categorical_encoding"); it != p.end()) {
    if (*it == "onehot")
      t.categorical_encoding = FeatureEncoding::kOneHot;
    else if (*it == "native")
      t.categorical_encoding = FeatureEncoding::kNative;
    else
      return Status::Invalid("param 'categorical_encoding': must be 'onehot' or 'native'");
  }
  ALAMBIC_RETURN_IF_ERROR(
      integer(p, "max_categories", "param 'max_categories'", 1, 100000, &t.max_categories));
  if (auto it = p.find("missing"); it != p.end()) {
    if (!it->is_string() || (*it != "native" && *it != "mean" && *it != "zero"))
      return Status::Invalid("param 'missing': must be 'native', 'mean' or 'zero'");
    t.missing = it->get<std::string>();
  }
  if (auto it = p.find("positive"); it != p.end()) {
    if (t.task != ModelTask::kBinary)
      return Status::Invalid("param 'positive': only for task binary");
    if (!IsScalar(*it)) return Status::Invalid("param 'positive': must be a value of the target");
    t.positive = it->is_string() ? it->get<std::string>() : it->dump();
  }
  if (auto it = p.find("threshold"); it != p.end()) {
    if (t.task != ModelTask::kBinary)
      return Status::Invalid("param 'threshold': only for task binary");
    if (!it->is_number() || it->get<double>() <= 0 || it->get<double>() >= 1)
      return Status::Invalid("param 'threshold': must be a number between 0 and 1 (exclusive)");
    t.threshold = it->get<double>();
  }
  if (auto it = p.find("split"); it != p.end()) {
    const nlohmann::json& s = *it;
    if (!s.is_object())
      return Status::Invalid("param 'split': must be a mapping {method: random|time|kfold, ...}");
    for (const auto& [k, v] : s.items())
      if (k != "method" && k != "validation" && k != "seed" && k != "column" && k != "folds")
        return Status::Invalid(fmt::format(
            "param 'split': unknown key '{}' (expected method, validation, seed, column, folds)",
            k));
    const std::string method = s.value("method", std::string("random"));
    if (method == "random")
      t.split = SplitMethod::kRandom;
    else if (method == "time")
      t.split = SplitMethod::kTime;
    else if (method == "kfold")
      t.split = SplitMethod::kKFold;
    else
      return Status::Invalid(fmt::format(
          "param 'split': unknown method '{}' (expected random, time or kfold)", method));
    if (auto v = s.find("validation"); v != s.end()) {
      if (!v->is_number() || v->get<double>() <= 0 || v->get<double>() >= 1)
        return Status::Invalid(
            "param 'split': validation must be a fraction between 0 and 1 (exclusive)");
      t.validation = v->get<double>();
    }
    ALAMBIC_RETURN_IF_ERROR(integer(s, "seed", "param 'split': seed", 0,
                                    std::numeric_limits<int64_t>::max(), &t.split_seed));
    ALAMBIC_RETURN_IF_ERROR(integer(s, "folds", "param 'split': folds", 2, 100, &t.folds));
    if (auto c = s.find("column"); c != s.end()) {
      if (!c->is_string()) return Status::Invalid("param 'split': column must be a column name");
      t.time_column = c->get<std::string>();
    }
    if (t.split == SplitMethod::kTime && t.time_column.empty())
      return Status::Invalid("param 'split': method time needs a column (the time order)");
    if (t.split != SplitMethod::kTime && !t.time_column.empty())
      return Status::Invalid("param 'split': column is for method time only");
    if (t.split == SplitMethod::kKFold && s.contains("validation"))
      return Status::Invalid(
          "param 'split': validation is for methods random and time; kfold "
          "uses folds");
  }
  if (auto it = p.find("booster"); it != p.end()) {
    if (*it != "gbtree" && *it != "gblinear")
      return Status::Invalid("param 'booster': must be 'gbtree' or 'gblinear'");
    t.booster = it->get<std::string>();
  }
  ALAMBIC_RETURN_IF_ERROR(integer(p, "rounds", "param 'rounds'", 1, 100000, &t.rounds));
  ALAMBIC_RETURN_IF_ERROR(
      integer(p, "early_stopping", "param 'early_stopping'", 1, 100000, &t.early_stopping));
  if (p.contains("eval_metric")) ALAMBIC_RETURN_IF_ERROR(str("eval_metric", &t.eval_metric, false));
  ALAMBIC_RETURN_IF_ERROR(
      integer(p, "seed", "param 'seed'", 0, std::numeric_limits<int32_t>::max(), &t.seed));
  ALAMBIC_RETURN_IF_ERROR(integer(p, "threads", "param 'threads'", 1, 1024, &t.threads));
  if (auto it = p.find("hyperparams"); it != p.end()) {
    if (!it->is_object()) return Status::Invalid("param 'hyperparams': must be a mapping");
    for (const auto& [k, v] : it->items()) {
      if (kReserved.count(k))
        return Status::Invalid(fmt::format(
            "param 'hyperparams': '{}' is set by the recipe (use task, booster, eval_metric, "
            "seed, threads)",
            k));
      if (!IsScalar(v))
        return Status::Invalid(
            fmt::format("param 'hyperparams': '{}' must be a number, a "
                        "string or a boolean",
                        k));
    }
    t.hyperparams = *it;
  }
  if (auto it = p.find("grid"); it != p.end()) {
    if (!it->is_object() || it->empty())
      return Status::Invalid("param 'grid': must be a mapping {parameter: [values]}");
    int64_t combinations = 1;
    for (const auto& [k, v] : it->items()) {
      if (kReserved.count(k) && k != "booster")
        return Status::Invalid(fmt::format("param 'grid': '{}' is set by the recipe", k));
      if (!v.is_array() || v.empty())
        return Status::Invalid(fmt::format("param 'grid': '{}' must be a non-empty list", k));
      for (const auto& x : v)
        if (!IsScalar(x))
          return Status::Invalid(fmt::format("param 'grid': '{}': values must be scalars", k));
      combinations *= static_cast<int64_t>(v.size());
    }
    if (combinations > kMaxGridCombinations)
      return Status::Invalid(
          fmt::format("param 'grid': {} combinations; a grid search is limited to {}", combinations,
                      kMaxGridCombinations));
    t.grid = *it;
  }
  if (auto it = p.find("class_weights"); it != p.end()) {
    if (t.task == ModelTask::kRegression)
      return Status::Invalid("param 'class_weights': only for classification tasks");
    if (!(it->is_string() && *it == "balanced") && !it->is_object())
      return Status::Invalid(
          "param 'class_weights': must be 'balanced' or a mapping {class: weight}");
    if (it->is_object())
      for (const auto& [k, v] : it->items())
        if (!v.is_number() || v.get<double>() <= 0)
          return Status::Invalid(
              fmt::format("param 'class_weights': weight of '{}' must be a positive number", k));
    t.class_weights = *it;
  }
  for (const auto& [k, v] : p.items()) {
    static const std::set<std::string> kKnown = {
        "task",           "target",         "features",
        "exclude",        "categorical",    "categorical_encoding",
        "max_categories", "missing",        "positive",
        "threshold",      "split",          "booster",
        "rounds",         "early_stopping", "eval_metric",
        "seed",           "threads",        "hyperparams",
        "grid",           "class_weights"};
    if (!kKnown.count(k)) return Status::Invalid(fmt::format("param '{}': unknown", k));
  }
  return t;
}

// splitmix64: the split's hash of (seed, row), reproducible in any language.
uint64_t SplitMix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}
// Uniform in [0, 1) from the row's hash.
double RowUniform(uint64_t seed, uint64_t row) {
  constexpr double kTwoPow53 = 9007199254740992.0;
  return static_cast<double>(SplitMix64(SplitMix64(seed) ^ row) >> 11) / kTwoPow53;
}

void Log(const RecipeContext& ctx, const std::string& m) {
  if (ctx.log) ctx.log->Info(m);
}

// Sorted distinct text values of a column over `rows`; numbers sort as numbers.
std::vector<std::string> DistinctValues(const Column& c, const std::vector<int64_t>& rows) {
  const bool numeric = c.type == TypeId::kInt64 || c.type == TypeId::kFloat64;
  std::map<double, std::string> by_number;
  std::set<std::string> by_text;
  for (int64_t r : rows) {
    if (c.IsNull(r)) continue;
    if (numeric)
      by_number.emplace(c.type == TypeId::kInt64 ? static_cast<double>(c.Int64(r)) : c.Double(r),
                        FormatCell(c, r));
    else
      by_text.insert(c.type == TypeId::kUtf8 ? std::string(c.String(r)) : FormatCell(c, r));
  }
  std::vector<std::string> out;
  if (numeric)
    for (auto& [n, s] : by_number) out.push_back(s);
  else
    out.assign(by_text.begin(), by_text.end());
  return out;
}

std::string JoinList(const std::vector<std::string>& v, size_t limit = 10) {
  std::string s;
  for (size_t i = 0; i < v.size() && i < limit; ++i) s += (i ? ", " : "") + v[i];
  if (v.size() > limit) s += fmt::format(", … ({} in all)", v.size());
  return s;
}

// One set of booster parameters: name -> value, as text.
using BoosterParams = std::map<std::string, std::string>;

struct Dataset {
  xgb::DMatrix matrix;
  std::vector<double> truth;  // per row: class index or value
};

struct Fitted {
  xgb::Booster booster;
  int rounds = 0;
};

class Trainer {
 public:
  Trainer(const RecipeContext& ctx, const TrainParams& p) : ctx_(ctx), p_(p) {}

  bool maximize() const {
    static const std::set<std::string> kHigherIsBetter = {"auc", "aucpr", "map", "ndcg"};
    return kHigherIsBetter.count(EvalMetric()) > 0;
  }
  std::string EvalMetric() const {
    if (!p_.eval_metric.empty()) return p_.eval_metric;
    switch (p_.task) {
      case ModelTask::kBinary:
        return "logloss";
      case ModelTask::kMulticlass:
        return "mlogloss";
      case ModelTask::kRegression:
        return "rmse";
    }
    return "";
  }

  Status Configure(xgb::Booster& b, const BoosterParams& params) const {
    for (const auto& [k, v] : params) ALAMBIC_RETURN_IF_ERROR(b.SetParam(k, v));
    return Status::Ok();
  }

  // Fits on `train`; with early stopping, watches `valid` and keeps the best rounds.
  Result<Fitted> Fit(const BoosterParams& params, const xgb::DMatrix& train,
                     const xgb::DMatrix* valid, int rounds) const {
    std::vector<const xgb::DMatrix*> cache = {&train};
    if (valid) cache.push_back(valid);
    ALAMBIC_ASSIGN_OR_RETURN(xgb::Booster b, xgb::Booster::Create(cache));
    ALAMBIC_RETURN_IF_ERROR(Configure(b, params));
    if (Status st = b.Configure(); !st.ok()) return st.WithContext("param 'hyperparams'");
    const bool stop_early = valid && p_.early_stopping > 0;
    double best = 0;
    int best_round = -1;
    for (int i = 0; i < rounds; ++i) {
      if (ctx_.cancel && ctx_.cancel->cancelled()) return ctx_.cancel->AsStatus();
      ALAMBIC_RETURN_IF_ERROR(b.UpdateOneIter(i, train));
      if (!stop_early) continue;
      ALAMBIC_ASSIGN_OR_RETURN(double score, b.Evaluate(i, *valid));
      if (best_round < 0 || (maximize() ? score > best : score < best)) {
        best = score;
        best_round = i;
      } else if (i - best_round >= p_.early_stopping) {
        break;
      }
    }
    if (!stop_early) return Fitted{std::move(b), rounds};
    const int kept = best_round + 1;
    ALAMBIC_ASSIGN_OR_RETURN(int done, b.BoostedRounds());
    if (kept == done) return Fitted{std::move(b), kept};
    if (p_.booster == "gbtree") {
      ALAMBIC_ASSIGN_OR_RETURN(xgb::Booster sliced, b.Slice(kept));
      return Fitted{std::move(sliced), kept};
    }
    // gblinear cannot be sliced: refit for the best number of rounds (deterministic).
    return Fit(params, train, nullptr, kept);
  }

 private:
  const RecipeContext& ctx_;
  const TrainParams& p_;
};

class TrainKind final : public RecipeKind {
 public:
  std::string name() const override { return "train"; }
  const std::vector<ParamSpec>& params() const override {
    static const std::vector<ParamSpec> kParams = {
        {"task", ParamType::kString, true, "binary, multiclass or regression"},
        {"target", ParamType::kString, true, "the column to predict"},
        {"features", ParamType::kStringList, false, "feature columns (default: all but target)"},
        {"exclude", ParamType::kStringList, false, "columns left out of the default features"},
        {"categorical", ParamType::kStringList, false, "non-utf8 columns to treat as categories"},
        {"categorical_encoding", ParamType::kString, false, "onehot (default) or native"},
        {"max_categories", ParamType::kInt, false, "one-hot limit per column (default 100)"},
        {"missing", ParamType::kString, false, "native (default), mean or zero"},
        {"positive", ParamType::kAny, false, "binary: the positive class"},
        {"threshold", ParamType::kNumber, false, "binary: decision threshold (default 0.5)"},
        {"split", ParamType::kMap, false, "{method: random|time|kfold, validation, seed, ...}"},
        {"booster", ParamType::kString, false, "gbtree (default) or gblinear"},
        {"rounds", ParamType::kInt, false, "boosting rounds (default 100)"},
        {"early_stopping", ParamType::kInt, false, "stop after N rounds without improvement"},
        {"eval_metric", ParamType::kString, false, "metric watched by early stopping"},
        {"hyperparams", ParamType::kMap, false, "XGBoost parameters (eta, max_depth, ...)"},
        {"grid", ParamType::kMap, false, "{parameter: [values]} to search"},
        {"class_weights", ParamType::kAny, false, "balanced, or {class: weight}"},
        {"seed", ParamType::kInt, false, "XGBoost's random seed (default 0)"},
        {"threads", ParamType::kInt, false, "XGBoost threads (default 4; part of the result)"}};
    return kParams;
  }
  int max_inputs() const override { return 1; }
  Status CheckParams(const nlohmann::json& params) const override {
    return ParseTrainParams(params).status();
  }

  Result<RecipeOutput> Run(RecipeContext& ctx) const override {
    auto parsed = ParseTrainParams(*ctx.params);
    if (!parsed.ok()) return InRecipe(ctx, parsed.status());
    const TrainParams& p = *parsed;
    auto r = Train(ctx, p);
    if (!r.ok()) return InRecipe(ctx, r.status());
    return r;
  }

 private:
  Result<RecipeOutput> Train(RecipeContext& ctx, const TrainParams& p) const {
    const NamedTable& input = ctx.inputs.at(0);
    const Table& in = *input.table;
    ALAMBIC_ASSIGN_OR_RETURN(int target_index, FindColumn(input, "param 'target'", p.target));
    const Column& target = *in.column(target_index);

    // Rows with a target.
    std::vector<int64_t> rows;
    for (int64_t i = 0; i < in.num_rows(); ++i)
      if (target.IsValid(i) && !(target.type == TypeId::kFloat64 && std::isnan(target.Double(i))))
        rows.push_back(i);
    const int64_t dropped = in.num_rows() - static_cast<int64_t>(rows.size());
    if (dropped) Log(ctx, fmt::format("{} rows without a target left out", dropped));

    ModelSpec spec;
    spec.task = p.task;
    spec.target = p.target;
    spec.target_type = target.type;
    spec.threshold = p.threshold;
    ALAMBIC_RETURN_IF_ERROR(Classes(p, input, target, rows, &spec));
    ALAMBIC_RETURN_IF_ERROR(Features(p, input, rows, &spec));

    // Everything as the model sees it, then the labelled rows.
    ALAMBIC_ASSIGN_OR_RETURN(std::vector<float> all, EncodeFeatures(spec, in, input.name));
    ALAMBIC_ASSIGN_OR_RETURN(std::vector<double> truth_all, EncodeTarget(spec, in, input.name));
    const size_t width = spec.EncodedNames().size();

    // Fold of each labelled row: 0 train / 1 validation, or 0..k-1.
    ALAMBIC_ASSIGN_OR_RETURN(std::vector<int> fold, Folds(p, input, rows));
    const int folds = p.split == SplitMethod::kKFold ? p.folds : 1;

    const int classes = static_cast<int>(spec.classes.size());
    std::vector<float> weight_of_class;
    if (!p.class_weights.is_null()) {
      ALAMBIC_ASSIGN_OR_RETURN(weight_of_class, ClassWeights(p, spec, truth_all, rows));
    }

    auto make = [&](const std::vector<int64_t>& subset) -> Result<Dataset> {
      std::vector<float> m(subset.size() * width);
      std::vector<float> labels(subset.size());
      Dataset d;
      d.truth.resize(subset.size());
      for (size_t i = 0; i < subset.size(); ++i) {
        const size_t src = static_cast<size_t>(subset[i]);
        std::copy_n(all.begin() + static_cast<std::ptrdiff_t>(src * width), width,
                    m.begin() + static_cast<std::ptrdiff_t>(i * width));
        labels[i] = static_cast<float>(truth_all[src]);
        d.truth[i] = truth_all[src];
      }
      ALAMBIC_ASSIGN_OR_RETURN(d.matrix,
                               xgb::DMatrix::FromDense(m.data(), subset.size(), width, p.threads));
      ALAMBIC_RETURN_IF_ERROR(d.matrix.SetLabels(labels));
      if (spec.HasNativeCategories())
        ALAMBIC_RETURN_IF_ERROR(d.matrix.SetFeatureTypes(spec.EncodedTypes()));
      if (!weight_of_class.empty()) {
        std::vector<float> w(subset.size());
        for (size_t i = 0; i < subset.size(); ++i)
          w[i] = weight_of_class[static_cast<size_t>(labels[i])];
        ALAMBIC_RETURN_IF_ERROR(d.matrix.SetWeights(w));
      }
      return d;
    };

    // Training and validation sets: per fold (K-fold) or the one hold-out.
    std::vector<Dataset> train_sets, valid_sets;
    std::vector<std::vector<int64_t>> valid_rows;
    for (int f = 0; f < folds; ++f) {
      std::vector<int64_t> tr, va;
      for (size_t i = 0; i < rows.size(); ++i) {
        const bool is_valid = p.split == SplitMethod::kKFold ? fold[i] == f : fold[i] == 1;
        (is_valid ? va : tr).push_back(rows[i]);
      }
      if (tr.empty() || va.empty())
        return Status::Invalid(
            fmt::format("param 'split': {} of {} labelled rows leave an empty {} set", rows.size(),
                        in.num_rows(), tr.empty() ? "training" : "validation"));
      if (p.task != ModelTask::kRegression) {
        std::set<double> seen;
        for (int64_t r : tr) seen.insert(truth_all[static_cast<size_t>(r)]);
        if (seen.size() < 2)
          return Status::Invalid(fmt::format(
              "param 'target': column '{}' has a single class in the training rows of the "
              "split; classification needs at least two",
              p.target));
      }
      ALAMBIC_ASSIGN_OR_RETURN(Dataset dt, make(tr));
      ALAMBIC_ASSIGN_OR_RETURN(Dataset dv, make(va));
      train_sets.push_back(std::move(dt));
      valid_sets.push_back(std::move(dv));
      valid_rows.push_back(std::move(va));
    }
    Log(ctx, fmt::format("training a {} {} model on {} rows × {} features ({} matrix columns); "
                         "validation: {}",
                         ModelTaskName(p.task), p.booster, rows.size(), spec.features.size(), width,
                         p.split == SplitMethod::kKFold
                             ? fmt::format("{}-fold cross-validation", folds)
                             : fmt::format("{} rows ({})", valid_rows[0].size(),
                                           p.split == SplitMethod::kTime ? "latest" : "random")));

    Trainer trainer(ctx, p);
    const BoosterParams base = BaseParams(p, classes, trainer.EvalMetric());
    std::vector<BoosterParams> candidates = GridCandidates(p, base);

    // Each candidate: fitted per fold, scored on its validation rows.
    struct Outcome {
      nlohmann::json metrics;
      double main = 0;
      std::vector<int> rounds;
      std::optional<Fitted> holdout;  // the hold-out's model
      nlohmann::json fold_metrics = nlohmann::json::array();
    };
    const std::string main_metric = MainMetric(p.task);
    const bool higher_is_better = p.task != ModelTask::kRegression;
    std::optional<Outcome> best;
    size_t best_index = 0;
    nlohmann::json grid_report = nlohmann::json::array();
    const size_t per_row = p.task == ModelTask::kMulticlass ? static_cast<size_t>(classes) : 1;
    for (size_t c = 0; c < candidates.size(); ++c) {
      Outcome o;
      std::vector<double> truth;
      std::vector<float> pred;
      for (int f = 0; f < folds; ++f) {
        const size_t fi = static_cast<size_t>(f);
        ALAMBIC_ASSIGN_OR_RETURN(Fitted fit, trainer.Fit(candidates[c], train_sets[fi].matrix,
                                                         &valid_sets[fi].matrix, p.rounds));
        ALAMBIC_ASSIGN_OR_RETURN(std::vector<float> fp, fit.booster.Predict(valid_sets[fi].matrix));
        if (fp.size() != valid_sets[fi].truth.size() * per_row)
          return Status::Internal(fmt::format("xgboost returned {} predictions for {} rows",
                                              fp.size(), valid_sets[fi].truth.size()));
        if (folds > 1)
          o.fold_metrics.push_back(PredictionMetrics(spec, valid_sets[fi].truth, fp)[main_metric]);
        truth.insert(truth.end(), valid_sets[fi].truth.begin(), valid_sets[fi].truth.end());
        pred.insert(pred.end(), fp.begin(), fp.end());
        o.rounds.push_back(fit.rounds);
        if (folds == 1) o.holdout = std::move(fit);
      }
      o.metrics = PredictionMetrics(spec, truth, pred);
      o.main =
          o.metrics[main_metric].is_number() ? o.metrics[main_metric].get<double>() : std::nan("");
      if (candidates.size() > 1) {
        nlohmann::json entry;
        for (const auto& [k, v] : p.grid.items()) entry["params"][k] = candidates[c].at(k);
        entry[main_metric] = o.metrics[main_metric];
        entry["rounds"] = o.rounds;
        grid_report.push_back(std::move(entry));
        Log(ctx,
            fmt::format("grid {}/{}: {} = {:.6g}", c + 1, candidates.size(), main_metric, o.main));
      }
      const bool better =
          !best ||
          (!std::isnan(o.main) && (std::isnan(best->main) ||
                                   (higher_is_better ? o.main > best->main : o.main < best->main)));
      if (better) {
        best = std::move(o);
        best_index = c;
      }
    }

    // The final model: the hold-out's, or (K-fold) one fitted on every labelled row.
    const BoosterParams& chosen = candidates[best_index];
    xgb::Booster final_booster;
    int final_rounds = 0;
    if (folds == 1) {
      final_booster = std::move(best->holdout->booster);
      final_rounds = best->holdout->rounds;
    } else {
      train_sets.clear();
      valid_sets.clear();
      final_rounds = p.early_stopping > 0 ? MeanRounds(best->rounds) : p.rounds;
      ALAMBIC_ASSIGN_OR_RETURN(Dataset everything, make(rows));
      ALAMBIC_ASSIGN_OR_RETURN(Fitted fit,
                               trainer.Fit(chosen, everything.matrix, nullptr, final_rounds));
      final_booster = std::move(fit.booster);
    }

    Model model;
    spec.params = nlohmann::json::object();
    for (const auto& [k, v] : chosen) spec.params[k] = v;
    spec.params["rounds"] = final_rounds;
    model.spec = spec;
    ALAMBIC_ASSIGN_OR_RETURN(model.booster, final_booster.SaveModel());
    model.xgboost_version = xgb::LibraryVersion();

    nlohmann::json metrics = best->metrics;
    metrics["main_metric"] = main_metric;
    metrics["task"] = ModelTaskName(p.task);
    metrics["target"] = p.target;
    metrics["booster"] = p.booster;
    metrics["rounds"] = final_rounds;
    metrics["rows_train"] =
        static_cast<int64_t>(rows.size() - (folds == 1 ? valid_rows[0].size() : 0));
    metrics["rows_validation"] =
        static_cast<int64_t>(folds == 1 ? valid_rows[0].size() : rows.size());
    metrics["rows_without_target"] = dropped;
    metrics["features"] = static_cast<int64_t>(spec.features.size());
    metrics["validation"] = p.split == SplitMethod::kKFold  ? "kfold"
                            : p.split == SplitMethod::kTime ? "time"
                                                            : "random";
    if (!spec.classes.empty()) metrics["classes"] = spec.classes;
    if (folds > 1) {
      double sum = 0, sq = 0;
      for (const auto& v : best->fold_metrics) {
        const double x = v.is_number() ? v.get<double>() : std::nan("");
        sum += x;
        sq += x * x;
      }
      const double mean = sum / folds;
      metrics["cv"] = {{"folds", folds},
                       {"per_fold", best->fold_metrics},
                       {"mean", mean},
                       {"std", std::sqrt(std::max(0.0, sq / folds - mean * mean))},
                       {"rounds", best->rounds}};
    }
    if (candidates.size() > 1) {
      metrics["grid"] = std::move(grid_report);
      nlohmann::json bp;
      for (const auto& [k, v] : p.grid.items()) bp[k] = chosen.at(k);
      metrics["best_params"] = std::move(bp);
    }
    ALAMBIC_ASSIGN_OR_RETURN(metrics["importance"], Importance(final_booster, spec, p));
    metrics["importance_type"] = p.booster == "gblinear" ? "weight" : "gain";
    model.metrics = metrics;
    const std::string id = model.Id();
    metrics["model_id"] = id;
    metrics["model_bytes"] = static_cast<int64_t>(model.booster.size());
    metrics["rows"] = 1;

    const nlohmann::json& mm = best->metrics[main_metric];
    Log(ctx,
        fmt::format(
            "model {}: {} rounds, validation {} {}", id.substr(0, 12), final_rounds, main_metric,
            mm.is_number() ? fmt::format("{:.4f}", mm.get<double>()) : std::string("undefined")));

    RecipeOutput out;
    ALAMBIC_ASSIGN_OR_RETURN(Table t, ModelToTable(model));
    std::map<std::string, std::vector<ColumnSource>> lineage;
    std::vector<ColumnSource> sources;
    for (const auto& f : spec.features)
      sources.push_back({input.name, f.column, kTransformAggregation});
    sources.push_back({input.name, spec.target, kTransformAggregation});
    for (const auto& f : t.schema().fields) lineage[f.name] = sources;
    out.column_lineage.push_back(std::move(lineage));
    out.tables.push_back(std::move(t));
    out.metrics = std::move(metrics);
    return out;
  }

  static int MeanRounds(const std::vector<int>& rounds) {
    double sum = 0;
    for (int r : rounds) sum += r;
    return std::max(1, static_cast<int>(std::lround(sum / static_cast<double>(rounds.size()))));
  }

  // Classes of a classification target, in class-index order.
  Status Classes(const TrainParams& p, const NamedTable& input, const Column& target,
                 const std::vector<int64_t>& rows, ModelSpec* spec) const {
    if (p.task == ModelTask::kRegression) {
      if (target.type != TypeId::kInt64 && target.type != TypeId::kFloat64)
        return Status::Invalid(fmt::format(
            "param 'target': column '{}' of input '{}' is {}; regression needs a numeric target "
            "(int64 or float64)",
            p.target, input.name, TypeName(target.type)));
      if (rows.empty())
        return Status::Invalid(fmt::format("param 'target': column '{}' has no value", p.target));
      return Status::Ok();
    }
    if (target.type == TypeId::kFloat64)
      return Status::Invalid(fmt::format(
          "param 'target': column '{}' of input '{}' is float64; classification needs classes "
          "(bool, int64 or utf8; use task regression for a quantity)",
          p.target, input.name));
    std::vector<std::string> values = DistinctValues(target, rows);
    if (values.size() < 2)
      return Status::Invalid(fmt::format(
          "param 'target': column '{}' of input '{}' has {} ({}); {} classification needs at "
          "least two classes",
          p.target, input.name, values.empty() ? "no value" : "a single class", JoinList(values),
          ModelTaskName(p.task)));
    if (p.task == ModelTask::kBinary) {
      if (values.size() > 2)
        return Status::Invalid(
            fmt::format("param 'target': column '{}' of input '{}' has {} classes ({}); binary "
                        "classification needs exactly two (use task multiclass)",
                        p.target, input.name, values.size(), JoinList(values)));
      if (p.positive) {
        auto it = std::find(values.begin(), values.end(), *p.positive);
        if (it == values.end())
          return Status::Invalid(
              fmt::format("param 'positive': '{}' is not a class of column '{}' ({})", *p.positive,
                          p.target, JoinList(values)));
        if (it == values.begin()) std::swap(values[0], values[1]);
      }
    } else if (values.size() > static_cast<size_t>(kMaxClasses)) {
      return Status::Invalid(
          fmt::format("param 'target': column '{}' has {} classes; multiclass is limited to {}",
                      p.target, values.size(), kMaxClasses));
    }
    spec->classes = std::move(values);
    return Status::Ok();
  }

  Status Features(const TrainParams& p, const NamedTable& input, const std::vector<int64_t>& rows,
                  ModelSpec* spec) const {
    const Table& in = *input.table;
    std::vector<std::string> names = p.features;
    for (const auto& c : p.categorical)
      ALAMBIC_RETURN_IF_ERROR(FindColumn(input, "param 'categorical'", c).status());
    if (names.empty()) {
      for (const auto& e : p.exclude)
        ALAMBIC_RETURN_IF_ERROR(FindColumn(input, "param 'exclude'", e).status());
      for (const auto& f : in.schema().fields) {
        if (f.name == p.target || f.name == p.time_column) continue;
        if (std::find(p.exclude.begin(), p.exclude.end(), f.name) != p.exclude.end()) continue;
        names.push_back(f.name);
      }
      if (names.empty())
        return Status::Invalid(fmt::format(
            "param 'features': input '{}' has no column left besides the target", input.name));
    }
    for (const auto& name : names) {
      ALAMBIC_ASSIGN_OR_RETURN(int index, FindColumn(input, "param 'features'", name));
      if (name == p.target)
        return Status::Invalid(
            fmt::format("param 'features': '{}' is the target; it cannot be a feature", name));
      const Column& c = *in.column(index);
      ModelFeature f;
      f.column = name;
      f.type = c.type;
      const bool categorical =
          c.type == TypeId::kUtf8 ||
          std::find(p.categorical.begin(), p.categorical.end(), name) != p.categorical.end();
      if (categorical) {
        f.encoding = p.categorical_encoding;
        f.categories = DistinctValues(c, rows);
        if (f.encoding == FeatureEncoding::kOneHot &&
            f.categories.size() > static_cast<size_t>(p.max_categories))
          return Status::Invalid(fmt::format(
              "param 'features': column '{}' has {} distinct values, more than max_categories "
              "({}) for one-hot encoding (use categorical_encoding: native, raise "
              "max_categories, or exclude it)",
              name, f.categories.size(), p.max_categories));
      } else if (p.missing != "native") {
        double sum = 0;
        int64_t n = 0;
        for (int64_t r : rows) {
          if (c.IsNull(r)) continue;
          const double v = c.type == TypeId::kFloat64     ? c.Double(r)
                           : c.type == TypeId::kBool      ? (c.Bool(r) ? 1.0 : 0.0)
                           : c.type == TypeId::kDate32    ? static_cast<double>(c.Date32(r))
                           : c.type == TypeId::kTimestamp ? static_cast<double>(c.Int64(r)) / 1e6
                                                          : static_cast<double>(c.Int64(r));
          if (std::isnan(v)) continue;
          sum += v;
          ++n;
        }
        f.fill = p.missing == "zero" ? 0.0 : (n ? sum / static_cast<double>(n) : 0.0);
      }
      spec->features.push_back(std::move(f));
    }
    return Status::Ok();
  }

  Result<std::vector<int>> Folds(const TrainParams& p, const NamedTable& input,
                                 const std::vector<int64_t>& rows) const {
    std::vector<int> fold(rows.size(), 0);
    switch (p.split) {
      case SplitMethod::kRandom:
        for (size_t i = 0; i < rows.size(); ++i)
          fold[i] = RowUniform(p.split_seed, static_cast<uint64_t>(rows[i])) < p.validation;
        return fold;
      case SplitMethod::kKFold: {
        // Rows ordered by their hash, dealt to folds in turn: equal sizes.
        std::vector<std::pair<uint64_t, size_t>> order(rows.size());
        for (size_t i = 0; i < rows.size(); ++i)
          order[i] = {SplitMix64(SplitMix64(p.split_seed) ^ static_cast<uint64_t>(rows[i])), i};
        std::sort(order.begin(), order.end());
        for (size_t k = 0; k < order.size(); ++k)
          fold[order[k].second] = static_cast<int>(k % static_cast<size_t>(p.folds));
        return fold;
      }
      case SplitMethod::kTime: {
        ALAMBIC_ASSIGN_OR_RETURN(int ci, FindColumn(input, "param 'split': column", p.time_column));
        const Column& c = *input.table->column(ci);
        if (c.type == TypeId::kUtf8)
          return Status::Invalid(fmt::format(
              "param 'split': column '{}' is utf8; a time split needs a date, timestamp or "
              "number",
              p.time_column));
        std::vector<double> t(rows.size());
        for (size_t i = 0; i < rows.size(); ++i) {
          if (c.IsNull(rows[i]))
            return Status::Invalid(fmt::format("param 'split': column '{}' is null in row {}",
                                               p.time_column, rows[i] + 1));
          t[i] = c.type == TypeId::kFloat64  ? c.Double(rows[i])
                 : c.type == TypeId::kDate32 ? c.Date32(rows[i])
                 : c.type == TypeId::kBool   ? (c.Bool(rows[i]) ? 1 : 0)
                                             : static_cast<double>(c.Int64(rows[i]));
        }
        std::vector<double> sorted = t;
        std::sort(sorted.begin(), sorted.end());
        const size_t at = std::min(
            sorted.size() - 1, static_cast<size_t>(std::floor(static_cast<double>(sorted.size()) *
                                                              (1 - p.validation))));
        // Validation: every row at or after the cutoff, so a day is never split.
        const double cutoff = sorted[at];
        for (size_t i = 0; i < rows.size(); ++i) fold[i] = t[i] >= cutoff;
        return fold;
      }
    }
    return fold;
  }

  Result<std::vector<float>> ClassWeights(const TrainParams& p, const ModelSpec& spec,
                                          const std::vector<double>& truth,
                                          const std::vector<int64_t>& rows) const {
    const size_t k = spec.classes.size();
    std::vector<float> w(k, 1.0f);
    if (p.class_weights.is_string()) {  // balanced: n / (k · n_c), as scikit-learn
      std::vector<int64_t> count(k, 0);
      for (int64_t r : rows) ++count[static_cast<size_t>(truth[static_cast<size_t>(r)])];
      for (size_t c = 0; c < k; ++c)
        w[c] = count[c]
                   ? static_cast<float>(static_cast<double>(rows.size()) /
                                        (static_cast<double>(k) * static_cast<double>(count[c])))
                   : 1.0f;
      return w;
    }
    for (const auto& [label, weight] : p.class_weights.items()) {
      auto it = std::find(spec.classes.begin(), spec.classes.end(), label);
      if (it == spec.classes.end())
        return Status::Invalid(
            fmt::format("param 'class_weights': '{}' is not a class of '{}' ({})", label, p.target,
                        JoinList(spec.classes)));
      w[static_cast<size_t>(it - spec.classes.begin())] = weight.get<float>();
    }
    return w;
  }

  static BoosterParams BaseParams(const TrainParams& p, int classes, const std::string& metric) {
    BoosterParams b;
    b["booster"] = p.booster;
    b["nthread"] = std::to_string(p.threads);
    b["seed"] = std::to_string(p.seed);
    b["verbosity"] = "0";
    b["eval_metric"] = metric;
    switch (p.task) {
      case ModelTask::kBinary:
        b["objective"] = "binary:logistic";
        break;
      case ModelTask::kMulticlass:
        b["objective"] = "multi:softprob";
        b["num_class"] = std::to_string(classes);
        break;
      case ModelTask::kRegression:
        b["objective"] = "reg:squarederror";
        break;
    }
    if (p.booster == "gbtree") {
      // XGBoost's defaults, written out so the model records them, and hist trees.
      b["eta"] = "0.3";
      b["max_depth"] = "6";
      b["min_child_weight"] = "1";
      b["subsample"] = "1";
      b["colsample_bytree"] = "1";
      b["lambda"] = "1";
      b["alpha"] = "0";
      b["gamma"] = "0";
      b["tree_method"] = "hist";
      b["max_bin"] = "256";
    } else {
      // Coordinate descent: deterministic, unlike the default parallel "shotgun".
      b["updater"] = "coord_descent";
      b["eta"] = "0.5";
      b["lambda"] = "0";
      b["alpha"] = "0";
    }
    for (const auto& [k, v] : p.hyperparams.items()) b[k] = ParamText(v);
    return b;
  }

  static std::vector<BoosterParams> GridCandidates(const TrainParams& p,
                                                   const BoosterParams& base) {
    std::vector<BoosterParams> out = {base};
    for (const auto& [k, values] : p.grid.items()) {
      std::vector<BoosterParams> next;
      for (const auto& c : out)
        for (const auto& v : values) {
          BoosterParams x = c;
          x[k] = ParamText(v);
          next.push_back(std::move(x));
        }
      out = std::move(next);
    }
    return out;
  }

  // Importance per matrix column, largest first (at most kImportanceShown).
  static Result<nlohmann::json> Importance(const xgb::Booster& b, const ModelSpec& spec,
                                           const TrainParams& p) {
    ALAMBIC_ASSIGN_OR_RETURN(auto scores,
                             b.FeatureScores(p.booster == "gblinear" ? "weight" : "gain"));
    const std::vector<std::string> names = spec.EncodedNames();
    std::sort(scores.begin(), scores.end(), [](const auto& a, const auto& c) {
      return a.score != c.score ? a.score > c.score : a.feature < c.feature;
    });
    nlohmann::json out = nlohmann::json::array();
    for (const auto& s : scores) {
      if (out.size() >= static_cast<size_t>(kImportanceShown)) break;
      if (s.feature < 0 || static_cast<size_t>(s.feature) >= names.size()) continue;
      out.push_back({{"feature", names[static_cast<size_t>(s.feature)]}, {"score", s.score}});
    }
    return out;
  }
};

}  // namespace

Status RegisterTrainKind(RecipeRegistry& r) { return r.Register(std::make_unique<TrainKind>()); }

}  // namespace alambic
