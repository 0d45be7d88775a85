// `alambic runs` (text and --format json) shows the Slurm job ids of each
// run's recipes, as the Slurm executor records them (recipe metrics
// "slurm_jobs", one id per attempt); runs without jobs show none.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "catalog/catalog.h"
#include "services/catalog_path.h"
#include "tests/test_util.h"

namespace alambic::runs_slurm_cli_test {
namespace {

using testing::Cli;
using testing::TempDir;
using testing::WriteFile;

void AddRun(Catalog& cat, const std::string& id, const std::string& started,
            const std::vector<std::pair<std::string, nlohmann::json>>& recipes) {
  RunRecord r;
  r.id = id;
  r.flows = "sales";
  r.environment = "datalab";
  r.trigger = "manual";
  r.status = "running";
  r.started_at = started;
  ASSERT_TRUE(cat.BeginRun(r).ok());
  CatalogBatch batch;
  batch.environment = "datalab";
  for (const auto& [recipe, jobs] : recipes) {
    RecipeRunRecord rr;
    rr.run_id = id;
    rr.flow = "sales";
    rr.recipe = recipe;
    rr.kind = "sql";
    rr.status = "succeeded";
    rr.attempts = jobs.is_array() ? static_cast<int>(jobs.size()) : 1;
    rr.uuid = NewUuid();
    if (!jobs.is_null()) rr.metrics["slurm_jobs"] = jobs;
    batch.recipe_runs.push_back(rr);
  }
  ASSERT_TRUE(cat.Commit(batch).ok());
  ASSERT_TRUE(cat.FinishRun(id, "succeeded", started, "").ok());
}

TEST(RunsSlurmCliTest, RunsShowEachRecipesSlurmJobIds) {
  TempDir dir;
  WriteFile(dir.path() / "alambic.yaml", "name: t\n");
  WriteFile(dir.path() / "flows/sales.yaml", "flow: sales\nrecipes: []\n");
  {
    auto cat = Catalog::Open(RunCatalogPath(dir.path()));
    ASSERT_TRUE(cat.ok()) << cat.status().message();
    AddRun(**cat, "11111111-aaaa-4000-8000-000000000001", "2026-06-01T10:00:00.000Z",
           {{"collect_sales", nullptr}});
    AddRun(**cat, "22222222-bbbb-4000-8000-000000000002", "2026-06-01T11:00:00.000Z",
           {{"collect_sales", {"4242"}}});
    AddRun(**cat, "33333333-cccc-4000-8000-000000000003", "2026-06-01T12:00:00.000Z",
           {{"collect_sales", {"5001", "5002"}}, {"totals", {"5003"}}});
  }
  auto text = Cli(dir.path(), {"runs"});
  ASSERT_EQ(text.code, 0) << text.err;
  EXPECT_NE(text.out.find("slurm jobs"), std::string::npos) << text.out;
  // One row per run: its jobs at the end of its line.
  auto line_of = [&](const std::string& prefix) {
    const size_t at = text.out.find("\n" + prefix);
    if (at == std::string::npos) return std::string();
    return text.out.substr(at + 1, text.out.find('\n', at + 1) - at - 1);
  };
  EXPECT_NE(line_of("22222222").find("  4242"), std::string::npos) << text.out;
  EXPECT_NE(line_of("33333333").find("collect_sales: 5001 5002, totals: 5003"), std::string::npos)
      << text.out;
  EXPECT_EQ(line_of("11111111").back(), '-') << text.out;

  auto json = Cli(dir.path(), {"runs", "--format", "json"});
  ASSERT_EQ(json.code, 0) << json.err;
  auto runs = nlohmann::json::parse(json.out);
  ASSERT_EQ(runs.size(), 3u);
  std::map<std::string, nlohmann::json> by_id;
  for (const auto& r : runs) by_id[r["id"].get<std::string>().substr(0, 8)] = r["slurm_jobs"];
  EXPECT_EQ(by_id["11111111"], nlohmann::json::object());
  EXPECT_EQ(by_id["22222222"], (nlohmann::json{{"sales/collect_sales", {"4242"}}}));
  EXPECT_EQ(by_id["33333333"], (nlohmann::json{{"sales/collect_sales", {"5001", "5002"}},
                                               {"sales/totals", {"5003"}}}));
}

}  // namespace
}  // namespace alambic::runs_slurm_cli_test
