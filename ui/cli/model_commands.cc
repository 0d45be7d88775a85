#include "ui/cli/model_commands.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "ui/common/progress.h"
#include "ui/common/text_table.h"

namespace alambic {

namespace {

constexpr size_t kShortId = 12;
constexpr size_t kShortRun = 8;

std::string ShortId(const std::string& id, size_t n) { return id.substr(0, n); }

std::string Number(const nlohmann::json& v) {
  if (v.is_number_integer()) return FormatCount(v.get<int64_t>());
  if (v.is_number()) return fmt::format("{:.4f}", v.get<double>());
  if (v.is_null()) return "undefined";
  return v.is_string() ? v.get<std::string>() : v.dump();
}

std::string MetricLabel(const std::string& metric) {
  if (metric == "auc") return "AUC";
  if (metric == "rmse") return "RMSE";
  if (metric == "mae") return "MAE";
  if (metric == "r2") return "R²";
  return metric;
}

// "AUC 0.9312" for the record's main metric.
std::string MainMetric(const nlohmann::json& metrics) {
  if (!metrics.is_object() || !metrics.contains("main_metric")) return "";
  const std::string name = metrics["main_metric"].get<std::string>();
  return MetricLabel(name) + " " + Number(metrics.value(name, nlohmann::json()));
}

// Prints `s`, escaping control characters in the text between its newlines.
void Print(const std::string& s) {
  size_t start = 0;
  while (start < s.size()) {
    const size_t nl = s.find('\n', start);
    std::fputs(Printable(s.substr(start, nl == std::string::npos ? nl : nl - start)).c_str(),
               stdout);
    if (nl == std::string::npos) break;
    std::fputc('\n', stdout);
    start = nl + 1;
  }
}

}  // namespace

Status PrintModelList(Catalog& catalog, const std::string& env, bool json) {
  ALAMBIC_ASSIGN_OR_RETURN(auto versions, catalog.ModelVersions(env));
  if (versions.empty() && !json) {
    std::printf("no model in %s (a model is the output of a train recipe)\n", env.c_str());
    return Status::Ok();
  }
  // Newest first: the first record of a model is its latest; a current one wins.
  std::vector<std::string> order;
  std::map<std::string, const ModelVersionRecord*> latest;
  std::map<std::string, int> count;
  for (const auto& v : versions) {
    ++count[v.model];
    auto it = latest.find(v.model);
    if (it == latest.end()) {
      order.push_back(v.model);
      latest[v.model] = &v;
    } else if (v.current && !it->second->current) {
      it->second = &v;
    }
  }
  std::sort(order.begin(), order.end());
  if (json) {
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (const auto& name : order) {
      const ModelVersionRecord& v = *latest[name];
      const std::string main = v.metrics.value("main_metric", std::string());
      out.push_back(
          {{"model", name},
           {"version", v.version_id},
           {"current", v.current},
           {"task", v.metrics.value("task", std::string())},
           {"main_metric", main},
           {"metric", main.empty() ? nlohmann::json() : v.metrics.value(main, nlohmann::json())},
           {"versions", count[name]},
           {"created_at", v.created_at},
           {"flow", v.flow},
           {"recipe", v.recipe}});
    }
    PrintJson(out);
    return Status::Ok();
  }
  TextTable t({"model", "version", "task", "metric", "versions", "built", "by"});
  t.AlignRight(4);
  for (const auto& name : order) {
    const ModelVersionRecord& v = *latest[name];
    t.AddRow({name, ShortId(v.version_id, kShortId), v.metrics.value("task", std::string()),
              MainMetric(v.metrics), std::to_string(count[name]), v.created_at,
              v.flow + "/" + v.recipe});
  }
  std::fputs(t.Render().c_str(), stdout);
  return Status::Ok();
}

Status PrintModelShow(Catalog& catalog, const std::string& env, const std::string& model,
                      const std::string& version, bool json) {
  ALAMBIC_ASSIGN_OR_RETURN(auto versions, catalog.ModelVersions(env, model));
  if (versions.empty())
    return Status::NotFound(fmt::format(
        "no model {} in {} (unknown, not a train recipe's output, or never built)", model, env));
  const ModelVersionRecord* chosen = nullptr;
  if (version.empty()) {
    for (const auto& v : versions)
      if (v.current) chosen = &v;
    if (!chosen) chosen = &versions.front();
  } else {
    for (const auto& v : versions) {
      if (v.version_id.compare(0, version.size(), version) != 0) continue;
      if (chosen)
        return Status::Invalid(
            fmt::format("version '{}' of model {} is ambiguous", version, model));
      chosen = &v;
    }
    if (!chosen)
      return Status::NotFound(
          fmt::format("model {} has no version '{}' in {}", model, version, env));
  }
  const nlohmann::json& m = chosen->metrics;
  if (json) {
    ALAMBIC_ASSIGN_OR_RETURN(auto evals,
                             catalog.ModelEvaluations(env, m.value("model_id", std::string())));
    nlohmann::ordered_json ev = nlohmann::ordered_json::array(), vs = ev;
    for (const auto& e : evals)
      ev.push_back({{"finished_at", e.finished_at},
                    {"flow", e.flow},
                    {"recipe", e.recipe},
                    {"metrics", e.metrics}});
    for (const auto& v : versions)
      vs.push_back(
          {{"version", v.version_id}, {"created_at", v.created_at}, {"current", v.current}});
    PrintJson({{"model", model},
               {"version", chosen->version_id},
               {"current", chosen->current},
               {"flow", chosen->flow},
               {"recipe", chosen->recipe},
               {"run", chosen->run_id},
               {"created_at", chosen->created_at},
               {"metrics", m},
               {"evaluations", ev},
               {"versions", vs}});
    return Status::Ok();
  }
  Print(fmt::format("model {}, version {}{}\n", model, ShortId(chosen->version_id, kShortId),
                    chosen->current ? " (current)" : ""));
  Print(fmt::format("  model id    {}\n", m.value("model_id", std::string())));
  Print(fmt::format("  built by    {}/{}, run {}, {}\n", chosen->flow, chosen->recipe,
                    ShortId(chosen->run_id, kShortRun), chosen->created_at));
  Print(fmt::format("  task        {}, target {}, {} features, {} booster, {} rounds\n",
                    m.value("task", std::string()), m.value("target", std::string()),
                    Number(m.value("features", nlohmann::json())),
                    m.value("booster", std::string()),
                    Number(m.value("rounds", nlohmann::json()))));
  Print(fmt::format("  validation  {}: {} training rows, {} validation rows\n",
                    m.value("validation", std::string()),
                    Number(m.value("rows_train", nlohmann::json())),
                    Number(m.value("rows_validation", nlohmann::json()))));

  std::printf("metrics (validation)\n");
  for (const char* k : {"auc", "logloss", "accuracy", "precision", "recall", "f1", "threshold",
                        "rmse", "mae", "r2"})
    if (m.contains(k)) Print(fmt::format("  {:<10}  {}\n", MetricLabel(k), Number(m[k])));

  if (m.contains("confusion_matrix") && m["confusion_matrix"].is_array()) {
    std::printf("confusion matrix (rows: true class, columns: predicted)\n");
    std::vector<std::string> classes;
    if (m.contains("classes")) classes = m["classes"].get<std::vector<std::string>>();
    std::vector<std::string> header = {""};
    for (size_t c = 0; c < m["confusion_matrix"].size(); ++c)
      header.push_back(c < classes.size() ? classes[c] : std::to_string(c));
    TextTable t(header);
    for (size_t c = 1; c < header.size(); ++c) t.AlignRight(c);
    for (size_t r = 0; r < m["confusion_matrix"].size(); ++r) {
      std::vector<std::string> row = {"  " + header[r + 1]};
      for (const auto& n : m["confusion_matrix"][r]) row.push_back(Number(n));
      t.AddRow(std::move(row));
    }
    std::fputs(t.Render().c_str(), stdout);
  }
  if (m.contains("importance") && m["importance"].is_array() && !m["importance"].empty()) {
    Print(fmt::format("feature importance ({})\n", m.value("importance_type", std::string())));
    for (const auto& f : m["importance"])
      Print(fmt::format("  {:<30}  {}\n", f.value("feature", std::string()),
                        Number(f.value("score", nlohmann::json()))));
  }
  if (m.contains("cv")) {
    const auto& cv = m["cv"];
    Print(fmt::format("cross-validation: {} folds, {} mean {} (std {})\n", Number(cv["folds"]),
                      MetricLabel(m.value("main_metric", std::string())), Number(cv["mean"]),
                      Number(cv["std"])));
  }
  if (m.contains("grid")) {
    std::printf("grid search (%s)\n", MetricLabel(m.value("main_metric", std::string())).c_str());
    for (const auto& g : m["grid"])
      Print(fmt::format("  {}  {}\n", g["params"].dump(),
                        Number(g.value(m.value("main_metric", std::string()), nlohmann::json()))));
  }

  ALAMBIC_ASSIGN_OR_RETURN(auto evals,
                           catalog.ModelEvaluations(env, m.value("model_id", std::string())));
  if (evals.empty()) {
    std::printf("evaluations: none (an evaluate recipe records them)\n");
  } else {
    std::printf("evaluations (oldest first)\n");
    TextTable t({"  finished", "recipe", "dataset", "rows", "metric"});
    t.AlignRight(3);
    for (const auto& e : evals)
      t.AddRow({"  " + e.finished_at, e.flow + "/" + e.recipe,
                e.metrics.value("dataset", std::string()),
                Number(e.metrics.value("rows", nlohmann::json())), MainMetric(e.metrics)});
    std::fputs(t.Render().c_str(), stdout);
  }
  std::printf("versions (newest first)\n");
  TextTable t({"  version", "built", "metric", ""});
  for (const auto& v : versions)
    t.AddRow({"  " + ShortId(v.version_id, kShortId), v.created_at, MainMetric(v.metrics),
              v.current ? "current" : ""});
  std::fputs(t.Render().c_str(), stdout);
  return Status::Ok();
}

void ModelCommands::Add(CLI::App& app) {
  model_ = app.add_subcommand("model", "Trained models and their metrics");
  model_->require_subcommand(1);
  list_ = model_->add_subcommand("list", "Each model: latest version, main metric");
  auto* show = model_->add_subcommand("show", "A model version's metrics and evaluations");
  show->add_option("name", name_, "The model (a train recipe's output)")->required();
  show->add_option("--version", version_, "A version id or unique prefix");
  AddFormat(list_, &format_);
  AddFormat(show, &format_);
}

bool ModelCommands::parsed() const { return model_->parsed(); }

int ModelCommands::Run(const Globals& g) const {
  auto h = OpenHistory(g);
  if (!h.ok()) return Fail(h.status());
  const bool json = format_ == "json";
  Status st = list_->parsed() ? PrintModelList(*h->catalog, h->env, json)
                              : PrintModelShow(*h->catalog, h->env, name_, version_, json);
  return st.ok() ? kExitOk : Fail(st);
}

}  // namespace alambic
