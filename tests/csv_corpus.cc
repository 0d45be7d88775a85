#include "tests/csv_corpus.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>

#include "core/recipe/recipe.h"
#include "recipes/builtin_kinds.h"

namespace alambic::testing {

nlohmann::json TableToJson(const Table& t) {
  nlohmann::json columns = nlohmann::json::array();
  for (const auto& f : t.schema().fields) columns.push_back({f.name, TypeName(f.type)});
  nlohmann::json rows = nlohmann::json::array();
  for (int64_t r = 0; r < t.num_rows(); ++r) {
    nlohmann::json row = nlohmann::json::array();
    for (int c = 0; c < t.num_columns(); ++c) {
      const Column& col = *t.column(c);
      if (col.IsNull(r)) {
        row.push_back(nullptr);
      } else if (col.type == TypeId::kInt64) {
        row.push_back(col.Int64(r));
      } else if (col.type == TypeId::kFloat64 && std::isfinite(col.Double(r))) {
        row.push_back(col.Double(r));
      } else if (col.type == TypeId::kBool) {
        row.push_back(col.Bool(r));
      } else {
        row.push_back(FormatCell(col, r));
      }
    }
    rows.push_back(std::move(row));
  }
  return {{"columns", std::move(columns)}, {"rows", std::move(rows)}};
}

nlohmann::json ReadCorpusCase(const std::filesystem::path& dir, const std::string& name) {
  std::ifstream in(dir / (name + ".json"));
  nlohmann::json doc = nlohmann::json::parse(in, nullptr, false);
  if (doc.is_discarded()) return {{"error", name + ".json: not valid JSON"}};
  nlohmann::json params = doc.value("options", nlohmann::json::object());
  params["path"] = name + ".csv";
  // Its own registry: this file is also built into tests/interop/csv_tool.
  static const RecipeRegistry* kinds = [] {
    auto* r = new RecipeRegistry;
    if (!RegisterCollectKind(*r).ok()) std::abort();
    return r;
  }();
  const RecipeKind* kind = kinds->Find("collect");
  RecipeContext ctx;
  ctx.recipe = "corpus";
  ctx.params = &params;
  ctx.outputs = {"out"};
  ctx.workspace = std::filesystem::absolute(dir);
  if (Status st = kind->CheckParams(params); !st.ok()) return {{"error", st.message()}};
  auto out = kind->Run(ctx);
  if (!out.ok()) return {{"error", out.status().message()}};
  return TableToJson(out->tables.at(0));
}

std::vector<std::string> CorpusCases(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() != ".csv") continue;
    std::filesystem::path spec = e.path();
    spec.replace_extension(".json");
    if (std::filesystem::exists(spec)) names.push_back(e.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace alambic::testing
