// Models end to end through the `alambic` binary: train, evaluate and score
// in a flow, `model list` / `model show` from the catalog, a pinned model
// version, and the same version id and model bytes in another workspace.
#include <sys/wait.h>

#include <random>
#include <regex>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "catalog/catalog.h"
#include "tests/test_util.h"

namespace alambic::model_cli_test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;

using testing::Cli;
using testing::CliResult;

std::string Csv(int rows, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> n(0, 1);
  const char* weather[] = {"pluie", "soleil", "neige"};
  std::string s = "x;weather;y\n";
  for (int i = 0; i < rows; ++i) {
    const double x = n(rng);
    const int w = static_cast<int>(rng() % 3);
    s += std::to_string(x) + ";" + weather[w] + ";" +
         (x + (w == 2 ? 1 : 0) + 0.5 * n(rng) > 0.3 ? "1" : "0") + "\n";
  }
  return s;
}

constexpr const char* kFlow = R"(flow: risk
usecase: demo
recipes:
  - {name: collect_history, kind: collect, outputs: [history], params: {path: data/history.csv, delimiter: ";"}}
  - {name: collect_fresh, kind: collect, outputs: [fresh], params: {path: data/fresh.csv, delimiter: ";"}}
  - name: train_risk
    kind: train
    inputs: [history]
    outputs: [risk_model]
    params: {task: binary, target: y, rounds: 20, threads: 2, split: {method: random, validation: 0.25, seed: 5}}
  - {name: check_fresh, kind: evaluate, inputs: [risk_model, fresh], outputs: [fresh_metrics]}
  - {name: score_fresh, kind: score, inputs: [risk_model, fresh], outputs: [fresh_scored]}
)";

std::filesystem::path MakeWorkspace(const TempDir& dir, const std::string& name) {
  auto r = Cli(dir.path(), {"init", name});
  EXPECT_EQ(r.code, 0) << r.err;
  const auto ws = dir.path() / name;
  WriteFile(ws / "data" / "history.csv", Csv(500, 1));
  WriteFile(ws / "data" / "fresh.csv", Csv(200, 2));
  WriteFile(ws / "flows" / "risk.yaml", kFlow);
  return ws;
}

std::string VersionOf(const std::string& list_output) {
  std::smatch m;
  std::regex re("risk_model +([0-9a-f]{12}) ");
  return std::regex_search(list_output, m, re) ? m[1].str() : "";
}

TEST(ModelCliTest, ListShowEvaluationsAndPinnedVersion) {
  TempDir dir;
  const auto ws = MakeWorkspace(dir, "ws");
  auto run = Cli(ws, {"run", "-j", "2"});
  ASSERT_EQ(run.code, 0) << run.out << run.err;
  EXPECT_THAT(run.out, HasSubstr("5 succeeded, 0 failed"));

  auto list = Cli(ws, {"model", "list"});
  ASSERT_EQ(list.code, 0) << list.err;
  EXPECT_THAT(list.out, HasSubstr("model       version       task    metric"));
  EXPECT_THAT(list.out, HasSubstr("binary  AUC 0."));
  EXPECT_THAT(list.out, HasSubstr("risk/train_risk"));
  const std::string version = VersionOf(list.out);
  ASSERT_EQ(version.size(), 12u) << list.out;

  auto show = Cli(ws, {"model", "show", "risk_model"});
  ASSERT_EQ(show.code, 0) << show.err;
  for (const char* s : {"model risk_model, version ", " (current)", "built by    risk/train_risk",
                        "task        "
                        "binary, target y, 2 features, gbtree booster, 20 rounds",
                        "validation  random: ", "AUC         0.", "f1          0.",
                        "confusion matrix (rows: true class, columns: predicted)",
                        "feature importance (gain)", "weather=neige", "evaluations (oldest first)",
                        "risk/check_fresh  fresh", "200  AUC 0.", "versions (newest first)"})
    EXPECT_THAT(show.out, HasSubstr(s)) << show.out;

  // The model id recorded by train and by evaluate is the same content hash.
  auto cat = Catalog::Open(ws / ".alambic" / "catalog.db");
  ASSERT_TRUE(cat.ok());
  auto versions = (*cat)->ModelVersions("datalab", "risk_model");
  ASSERT_TRUE(versions.ok());
  ASSERT_EQ(versions->size(), 1u);
  EXPECT_EQ(versions->at(0).version_id.substr(0, 12), version);
  const std::string model_id = versions->at(0).metrics["model_id"];
  auto evals = (*cat)->ModelEvaluations("datalab", model_id);
  ASSERT_TRUE(evals.ok());
  ASSERT_EQ(evals->size(), 1u);
  EXPECT_EQ(evals->at(0).recipe, "check_fresh");
  EXPECT_EQ(evals->at(0).metrics["rows"], 200);
  cat->reset();

  // New history: a second version; the first can still be pinned.
  WriteFile(ws / "data" / "history.csv", Csv(500, 3));
  WriteFile(ws / "flows" / "risk.yaml",
            std::string(kFlow) +
                "  - {name: score_pinned, kind: score, inputs: [fresh], "
                "outputs: [fresh_pinned], params: {model: risk_model, version: " +
                version + "}}\n");
  auto run2 = Cli(ws, {"run", "-j", "2"});
  ASSERT_EQ(run2.code, 0) << run2.out << run2.err;
  auto show2 = Cli(ws, {"model", "show", "risk_model", "--version", version});
  ASSERT_EQ(show2.code, 0) << show2.err;
  EXPECT_THAT(show2.out, HasSubstr("model risk_model, version " + version + "\n"));
  EXPECT_THAT(show2.out, Not(HasSubstr("(current)")));
  auto pinned = Cli(ws, {"show", "fresh_pinned", "--format", "csv", "--head", "3"});
  auto original = Cli(ws, {"show", "fresh_scored", "--format", "csv", "--head", "3"});
  ASSERT_EQ(pinned.code, 0) << pinned.err;
  EXPECT_THAT(pinned.out, HasSubstr("probability"));
  auto list2 = Cli(ws, {"model", "list"});
  EXPECT_THAT(list2.out, HasSubstr("       2  "));  // two versions

  auto unknown = Cli(ws, {"model", "show", "nope"});
  EXPECT_EQ(unknown.code, 1);
  EXPECT_EQ(unknown.err,
            "alambic: no model nope in datalab (unknown, not a train recipe's output, or never "
            "built)\n");
  auto bad_version = Cli(ws, {"model", "show", "risk_model", "--version", "zz"});
  EXPECT_EQ(bad_version.code, 1);
  EXPECT_EQ(bad_version.err, "alambic: model risk_model has no version 'zz' in datalab\n");
}

TEST(ModelCliTest, SameDataAndSeedGiveTheSameVersionAndModelInAnotherWorkspace) {
  TempDir dir;
  std::vector<std::string> versions, ids;
  for (const char* name : {"a", "b"}) {
    const auto ws = MakeWorkspace(dir, name);
    auto run = Cli(ws, {"run", "-j", "2"});
    ASSERT_EQ(run.code, 0) << run.out << run.err;
    auto cat = Catalog::Open(ws / ".alambic" / "catalog.db");
    ASSERT_TRUE(cat.ok());
    auto v = (*cat)->ModelVersions("datalab");
    ASSERT_TRUE(v.ok());
    ASSERT_EQ(v->size(), 1u);
    versions.push_back(v->at(0).version_id);
    ids.push_back(v->at(0).metrics["model_id"]);
  }
  EXPECT_EQ(versions[0], versions[1]);
  EXPECT_EQ(ids[0], ids[1]);
  EXPECT_EQ(ReadFile(dir.path() / "a" / ".alambic" / "store" / "datalab" / "risk_model" /
                     (versions[0] + ".arrow")),
            ReadFile(dir.path() / "b" / ".alambic" / "store" / "datalab" / "risk_model" /
                     (versions[1] + ".arrow")));
}

}  // namespace
}  // namespace alambic::model_cli_test
