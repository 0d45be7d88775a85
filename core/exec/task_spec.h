// A task spec: one recipe attempt described for another process
// (`alambic exec-task SPEC`, run by a JobLauncher's job), and the result file
// the job writes back. Both are JSON files in the attempt's staging directory
// on the shared filesystem.
//
// The coordinator writes the spec (the workspace and code roots, environment,
// flow and recipe, the params hash it planned with, each input's version and
// the exact file to read it from, each output's version and the file to write
// it to). The job opens the workspace with an in-memory catalog (it never
// touches the real one), refuses a spec whose recipe changed since it was
// planned, runs only that recipe, writes its outputs as Arrow IPC files and
// then result.json (rows, schema, lineage, metrics, log). The coordinator
// reads the outputs back, checks them against the result, and stages,
// publishes and records them as for a local attempt: the version ids are the
// planner's, the same as a local run's.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "catalog/catalog.h"
#include "core/base/status.h"
#include "core/recipe/recipe.h"

namespace alambic {

inline constexpr int kTaskSpecFormat = 1;

struct TaskSpec {
  struct File {
    std::string dataset, version;
    std::filesystem::path path;
  };
  std::filesystem::path home;       // the workspace (its .alambic/)
  std::filesystem::path code_root;  // where the flows are loaded from
  std::string environment, flow, recipe, kind, params_hash;
  std::vector<File> inputs, outputs;
  std::filesystem::path result;  // result.json
};

nlohmann::json TaskSpecJson(const TaskSpec& spec);
Result<TaskSpec> TaskSpecFromJson(const nlohmann::json& j);

struct TaskResultFile {
  bool ok = false;
  std::string error;
  int64_t rows_in = 0;
  struct Output {
    int64_t rows = 0;
    std::string schema;  // SchemaJson
    std::vector<ColumnLineageEdge> lineage;
  };
  std::vector<Output> outputs;
  nlohmann::json metrics = nlohmann::json::object();  // failure metrics when !ok
  std::vector<std::pair<LogLevel, std::string>> log;
};

nlohmann::json TaskResultJson(const TaskResultFile& r);
Result<TaskResultFile> TaskResultFromJson(const nlohmann::json& j);

// Reads a JSON file (at most 64 MB), naming the file in errors.
Result<nlohmann::json> ReadJsonFile(const std::filesystem::path& path);
// Writes a JSON file atomically (temporary name, then rename).
Status WriteJsonFile(const std::filesystem::path& path, const nlohmann::json& j);

// The job side: runs the recipe of the spec at `spec_path` with `kinds` and
// writes its outputs and result file. Returns an error only when the result
// file could not be written; a recipe that failed is a result with ok false.
Status ExecuteTaskSpec(const std::filesystem::path& spec_path, const RecipeRegistry& kinds);

}  // namespace alambic
