// The catalog's view of models: versions written by train recipe runs (newest
// first, current flagged, failed runs and other environments left out), the
// evaluations of one model id, and the migration that indexes them.
#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include "catalog/catalog.h"
#include "tests/test_util.h"

namespace alambic::catalog_models_test {
namespace {

using testing::TempDir;

RecipeRunRecord RecipeRun(const std::string& run, const std::string& recipe,
                          const std::string& kind, const std::string& status,
                          nlohmann::json metrics, const std::string& finished) {
  RecipeRunRecord r;
  r.run_id = run;
  r.flow = "f";
  r.recipe = recipe;
  r.kind = kind;
  r.status = status;
  r.finished_at = finished;
  r.metrics = std::move(metrics);
  return r;
}

DatasetVersionRecord Version(const std::string& run, const std::string& recipe,
                             const std::string& dataset, const std::string& id,
                             const std::string& env, const std::string& created) {
  DatasetVersionRecord v;
  v.id = id;
  v.dataset = dataset;
  v.environment = env;
  v.file = dataset + "/" + id + ".arrow";
  v.schema = "[]";
  v.run_id = run;
  v.flow = "f";
  v.recipe = recipe;
  v.created_at = created;
  return v;
}

void BeginRun(Catalog& cat, const std::string& id, const std::string& env) {
  RunRecord r;
  r.id = id;
  r.flows = "f";
  r.environment = env;
  r.trigger = "manual";
  r.status = "succeeded";
  r.started_at = "2025-01-01T00:00:00.000Z";
  ASSERT_TRUE(cat.BeginRun(r).ok());
}

TEST(CatalogModelsTest, VersionsOfTrainRunsAndEvaluationsOfAModel) {
  TempDir dir;
  auto opened = Catalog::Open(dir.path() / "c.db");
  ASSERT_TRUE(opened.ok());
  Catalog& cat = **opened;
  BeginRun(cat, "r1", "datalab");
  BeginRun(cat, "r2", "datalab");
  BeginRun(cat, "r3", "warehouse");
  CatalogBatch b1;
  b1.environment = "datalab";
  b1.recipe_runs = {
      RecipeRun("r1", "train", "train", "succeeded", {{"model_id", "m1"}, {"auc", 0.9}}, "t1"),
      RecipeRun("r1", "eval", "evaluate", "succeeded", {{"model_id", "m1"}, {"auc", 0.88}}, "t2"),
      RecipeRun("r1", "prep", "sql", "succeeded", {}, "t1")};
  b1.versions = {Version("r1", "train", "churn", "v1", "datalab", "2025-01-01T00:00:01Z"),
                 Version("r1", "prep", "clients", "c1", "datalab", "2025-01-01T00:00:00Z")};
  ASSERT_TRUE(cat.Commit(b1).ok());
  CatalogBatch b2;
  b2.environment = "datalab";
  b2.recipe_runs = {
      RecipeRun("r2", "train", "train", "succeeded", {{"model_id", "m2"}, {"auc", 0.93}}, "t3"),
      RecipeRun("r2", "eval", "evaluate", "succeeded", {{"model_id", "m1"}, {"auc", 0.81}}, "t4"),
      RecipeRun("r2", "eval2", "evaluate", "failed", {{"model_id", "m1"}}, "t5")};
  b2.versions = {Version("r2", "train", "churn", "v2", "datalab", "2025-01-02T00:00:00Z")};
  ASSERT_TRUE(cat.Commit(b2).ok());
  CatalogBatch b3;
  b3.environment = "warehouse";
  b3.recipe_runs = {RecipeRun("r3", "train", "train", "succeeded", {{"model_id", "m3"}}, "t6"),
                    RecipeRun("r3", "eval", "evaluate", "succeeded", {{"model_id", "m1"}}, "t7")};
  b3.versions = {Version("r3", "train", "churn", "w1", "warehouse", "2025-01-03T00:00:00Z")};
  ASSERT_TRUE(cat.Commit(b3).ok());

  auto all = cat.ModelVersions("datalab");
  ASSERT_TRUE(all.ok()) << all.status().message();
  ASSERT_EQ(all->size(), 2u);  // the sql recipe's output is not a model
  EXPECT_EQ(all->at(0).version_id, "v2");
  EXPECT_TRUE(all->at(0).current);
  EXPECT_EQ(all->at(0).metrics["auc"], 0.93);
  EXPECT_EQ(all->at(1).version_id, "v1");
  EXPECT_FALSE(all->at(1).current);
  EXPECT_EQ(all->at(1).model, "churn");
  EXPECT_EQ(all->at(1).recipe, "train");
  EXPECT_EQ(all->at(1).run_id, "r1");
  EXPECT_TRUE(cat.ModelVersions("datalab", "clients")->empty());
  EXPECT_EQ(cat.ModelVersions("warehouse", "churn")->size(), 1u);

  auto evals = cat.ModelEvaluations("datalab", "m1");
  ASSERT_TRUE(evals.ok()) << evals.status().message();
  ASSERT_EQ(evals->size(), 2u);  // not the failed one, nor the warehouse's
  EXPECT_EQ(evals->at(0).metrics["auc"], 0.88);
  EXPECT_EQ(evals->at(1).metrics["auc"], 0.81);
  EXPECT_EQ(evals->at(1).run_id, "r2");
  EXPECT_TRUE(cat.ModelEvaluations("datalab", "m2")->empty());
}

TEST(CatalogModelsTest, ACatalogBeforeTheModelIndexIsMigratedWithItsData) {
  TempDir dir;
  {
    // A real schema-3 catalog (migration 4 adds the index).
    SQLite::Database db((dir.path() / "c.db").string(),
                        SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    for (int v = 1; v <= 3; ++v) db.exec(CatalogMigrationSql(v));
    db.exec(
        "INSERT INTO runs (id, flows, environment, trigger, status, started_at) VALUES ('r1', "
        "'f', 'datalab', 'manual', 'succeeded', '2026-01-01T00:00:00.000Z')");
    db.exec("PRAGMA user_version = 3");
  }
  auto cat = Catalog::Open(dir.path() / "c.db");
  ASSERT_TRUE(cat.ok()) << cat.status().message();
  EXPECT_EQ((*cat)->schema_version(), kCatalogSchemaVersion);
  EXPECT_EQ((*cat)->FindRun("r1")->environment, "datalab");
  cat->reset();
  SQLite::Database db((dir.path() / "c.db").string(), SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM sqlite_master WHERE name = 'recipe_runs_by_kind'")
                .getInt(),
            1);
}

}  // namespace
}  // namespace alambic::catalog_models_test
