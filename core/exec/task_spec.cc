#include "core/exec/task_spec.h"

#include <fstream>
#include <mutex>
#include <sstream>

#include <fmt/format.h>

#include "core/exec/run_record.h"
#include "core/exec/session.h"
#include "core/plan/plan.h"
#include "core/table/arrow_ipc.h"

namespace alambic {

namespace fs = std::filesystem;

namespace {

constexpr size_t kMaxJsonFile = size_t{64} << 20;
constexpr size_t kMaxJobLog = size_t{4} << 20;
constexpr const char* kLevels[] = {"debug", "info", "warn", "error"};

nlohmann::json FilesJson(const std::vector<TaskSpec::File>& files) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& f : files)
    a.push_back({{"dataset", f.dataset}, {"version", f.version}, {"path", f.path.string()}});
  return a;
}

Result<std::vector<TaskSpec::File>> FilesFrom(const nlohmann::json& a) {
  std::vector<TaskSpec::File> out;
  if (!a.is_array()) return Status::Invalid("task spec: inputs/outputs must be lists");
  for (const auto& f : a)
    out.push_back({f.at("dataset").get<std::string>(), f.at("version").get<std::string>(),
                   fs::path(f.at("path").get<std::string>())});
  return out;
}

// Collects the recipe's log lines for the result file.
class CollectingLogger final : public RecipeLogger {
 public:
  void Log(LogLevel level, const std::string& message) override {
    std::lock_guard l(mu_);
    if (bytes_ > kMaxJobLog) return;
    bytes_ += message.size();
    lines_.emplace_back(level, message);
  }
  std::vector<std::pair<LogLevel, std::string>> Take() {
    std::lock_guard l(mu_);
    return std::move(lines_);
  }

 private:
  std::mutex mu_;
  size_t bytes_ = 0;
  std::vector<std::pair<LogLevel, std::string>> lines_;
};

}  // namespace

nlohmann::json TaskSpecJson(const TaskSpec& s) {
  return {{"format", kTaskSpecFormat},
          {"home", s.home.string()},
          {"code_root", s.code_root.string()},
          {"environment", s.environment},
          {"flow", s.flow},
          {"recipe", s.recipe},
          {"kind", s.kind},
          {"params_hash", s.params_hash},
          {"inputs", FilesJson(s.inputs)},
          {"outputs", FilesJson(s.outputs)},
          {"result", s.result.string()}};
}

Result<TaskSpec> TaskSpecFromJson(const nlohmann::json& j) {
  try {
    if (!j.is_object() || j.value("format", 0) != kTaskSpecFormat)
      return Status::Invalid(
          fmt::format("task spec: not a format {} spec (written by another version of alambic?)",
                      kTaskSpecFormat));
    TaskSpec s;
    s.home = j.at("home").get<std::string>();
    s.code_root = j.at("code_root").get<std::string>();
    s.environment = j.at("environment").get<std::string>();
    s.flow = j.at("flow").get<std::string>();
    s.recipe = j.at("recipe").get<std::string>();
    s.kind = j.at("kind").get<std::string>();
    s.params_hash = j.at("params_hash").get<std::string>();
    ALAMBIC_ASSIGN_OR_RETURN(s.inputs, FilesFrom(j.at("inputs")));
    ALAMBIC_ASSIGN_OR_RETURN(s.outputs, FilesFrom(j.at("outputs")));
    s.result = j.at("result").get<std::string>();
    return s;
  } catch (const nlohmann::json::exception& e) {
    return Status::Invalid(fmt::format("task spec: {}", e.what()));
  }
}

nlohmann::json TaskResultJson(const TaskResultFile& r) {
  nlohmann::json outs = nlohmann::json::array();
  for (const auto& o : r.outputs) {
    nlohmann::json edges = nlohmann::json::array();
    for (const auto& e : o.lineage)
      edges.push_back({e.column, e.input_dataset, e.input_column, e.transform});
    outs.push_back({{"rows", o.rows}, {"schema", o.schema}, {"lineage", std::move(edges)}});
  }
  nlohmann::json log = nlohmann::json::array();
  for (const auto& [level, line] : r.log) log.push_back({kLevels[static_cast<int>(level)], line});
  return {{"ok", r.ok},      {"error", r.error},     {"rows_in", r.rows_in},
          {"outputs", outs}, {"metrics", r.metrics}, {"log", std::move(log)}};
}

Result<TaskResultFile> TaskResultFromJson(const nlohmann::json& j) {
  try {
    TaskResultFile r;
    r.ok = j.at("ok").get<bool>();
    r.error = j.at("error").get<std::string>();
    r.rows_in = j.at("rows_in").get<int64_t>();
    for (const auto& o : j.at("outputs")) {
      TaskResultFile::Output out;
      out.rows = o.at("rows").get<int64_t>();
      out.schema = o.at("schema").get<std::string>();
      for (const auto& e : o.at("lineage"))
        out.lineage.push_back({e.at(0).get<std::string>(), e.at(1).get<std::string>(),
                               e.at(2).get<std::string>(), e.at(3).get<std::string>()});
      r.outputs.push_back(std::move(out));
    }
    r.metrics = j.at("metrics");
    if (!r.metrics.is_object()) r.metrics = nlohmann::json::object();
    for (const auto& l : j.at("log")) {
      const std::string level = l.at(0).get<std::string>();
      LogLevel lv = LogLevel::kInfo;
      for (int i = 0; i < 4; ++i)
        if (level == kLevels[i]) lv = static_cast<LogLevel>(i);
      r.log.emplace_back(lv, l.at(1).get<std::string>());
    }
    return r;
  } catch (const nlohmann::json::exception& e) {
    return Status::Invalid(fmt::format("task result: {}", e.what()));
  }
}

Result<nlohmann::json> ReadJsonFile(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return Status::NotFound(fmt::format("{}: cannot open", path.string()));
  std::ostringstream ss;
  ss << f.rdbuf();
  std::string text = ss.str();
  if (text.size() > kMaxJsonFile)
    return Status::Invalid(fmt::format("{}: larger than {} MB", path.string(), kMaxJsonFile >> 20));
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) return Status::Invalid(fmt::format("{}: not valid JSON", path.string()));
  return j;
}

Status WriteJsonFile(const fs::path& path, const nlohmann::json& j) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << j.dump(1);
    f.flush();
    if (!f) return Status::IoError(fmt::format("{}: cannot write", tmp.string()));
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return Status::IoError(fmt::format("{}: {}", path.string(), ec.message()));
  return Status::Ok();
}

Status ExecuteTaskSpec(const fs::path& spec_path, const RecipeRegistry& kinds) {
  ALAMBIC_ASSIGN_OR_RETURN(nlohmann::json sj, ReadJsonFile(spec_path));
  ALAMBIC_ASSIGN_OR_RETURN(TaskSpec spec, TaskSpecFromJson(sj));
  CollectingLogger logger;
  TaskResultFile result;
  auto finish = [&](const Status& st) {
    if (!st.ok()) {
      result.ok = false;
      result.error = st.message();
      result.outputs.clear();
    }
    result.log = logger.Take();
    return WriteJsonFile(spec.result, TaskResultJson(result));
  };
  SessionOptions so;
  so.code_root = spec.code_root;
  so.in_memory_catalog = true;  // the job never touches the catalog
  auto session = Session::Open(spec.home, spec.environment, kinds, so);
  if (!session.ok()) return finish(session.status());
  const FlowGraph& graph = (*session)->graph();
  const RecipeNode* node = nullptr;
  for (int i = 0; i < graph.size(); ++i)
    if (graph.node(i).flow->name == spec.flow && graph.node(i).recipe->name == spec.recipe)
      node = &graph.node(i);
  if (!node)
    return finish(Status::NotFound(
        fmt::format("recipe {}/{} is no longer in the workspace", spec.flow, spec.recipe)));
  const RecipeSpec& recipe = *node->recipe;
  if (recipe.kind != spec.kind || ParamsHash(recipe) != spec.params_hash ||
      recipe.inputs.size() != spec.inputs.size() || recipe.outputs.size() != spec.outputs.size())
    return finish(Status::Failed(fmt::format(
        "recipe {}/{} changed since the run was planned (kind, params, inputs or outputs); "
        "run again",
        spec.flow, spec.recipe)));
  const RecipeKind* kind = kinds.Find(recipe.kind);
  if (!kind) return finish(Status::NotFound(fmt::format("unknown recipe kind {}", recipe.kind)));
  CancelToken cancel;
  RecipeContext ctx = (*session)->MakeContext(recipe);
  ctx.log = &logger;
  ctx.cancel = &cancel;
  for (size_t k = 0; k < spec.inputs.size(); ++k) {
    if (spec.inputs[k].dataset != recipe.inputs[k])
      return finish(Status::Failed(fmt::format("recipe {}: input {} is not {}", spec.recipe, k + 1,
                                               spec.inputs[k].dataset)));
    auto table = ReadArrowFile(spec.inputs[k].path.string());
    if (!table.ok())
      return finish(table.status().WithContext(
          fmt::format("recipe {}: reading input {}", spec.recipe, spec.inputs[k].dataset)));
    result.rows_in += table->num_rows();
    ctx.inputs.push_back(
        {spec.inputs[k].dataset, std::make_shared<const Table>(std::move(*table))});
  }
  auto output = kind->Run(ctx);
  if (!output.ok()) {
    logger.Log(LogLevel::kError, output.status().message());
    result.metrics = std::move(ctx.failure_metrics);
    return finish(output.status());
  }
  if (output->tables.size() != spec.outputs.size())
    return finish(Status::Internal(
        fmt::format("recipe {}: kind {} returned {} tables for {} outputs", spec.recipe,
                    recipe.kind, output->tables.size(), spec.outputs.size())));
  for (size_t k = 0; k < spec.outputs.size(); ++k) {
    const Table& t = output->tables[k];
    if (Status st = WriteArrowFileToPath(t, spec.outputs[k].path.string()); !st.ok())
      return finish(st.WithContext(fmt::format("recipe {}", spec.recipe)));
    TaskResultFile::Output o;
    o.rows = t.num_rows();
    o.schema = SchemaJson(t.schema());
    o.lineage = LineageEdges(
        t.schema(), k < output->column_lineage.size() ? &output->column_lineage[k] : nullptr,
        recipe.inputs);
    result.outputs.push_back(std::move(o));
  }
  result.ok = true;
  result.metrics = std::move(output->metrics);
  int64_t rows_out = 0;
  for (const auto& o : result.outputs) rows_out += o.rows;
  logger.Info(fmt::format("{} rows in, {} rows out", result.rows_in, rows_out));
  return finish(Status::Ok());
}

}  // namespace alambic
