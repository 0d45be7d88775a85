// Validation: every problem reported with file:line:column and an exact message.
#include "core/flow/validate.h"

#include <gtest/gtest.h>

#include "core/flow/loader.h"
#include "tests/test_util.h"

namespace alambic::validate_test {
namespace {

using testing::TempDir;
using testing::WriteFile;

// A kind with typed params for the tests, independent of the built-in ones.
class FakeKind final : public RecipeKind {
 public:
  FakeKind(std::string name, bool source) : name_(std::move(name)), source_(source) {}
  std::string name() const override { return name_; }
  const std::vector<ParamSpec>& params() const override {
    static const std::vector<ParamSpec> kParams = {
        {"path", ParamType::kString, false, ""},  {"rows", ParamType::kInt, false, ""},
        {"ratio", ParamType::kNumber, false, ""}, {"columns", ParamType::kStringList, false, ""},
        {"query", ParamType::kString, true, ""},
    };
    return kParams;
  }
  bool is_source() const override { return source_; }
  Status CheckParams(const nlohmann::json& p) const override {
    if (p.value("rows", 0) < 0) return Status::Invalid("param 'rows' must not be negative");
    return Status::Ok();
  }
  Result<RecipeOutput> Run(RecipeContext&) const override {
    return Status::Internal("not run in these tests");
  }

 private:
  std::string name_;
  bool source_;
};

const RecipeRegistry& Kinds() {
  static RecipeRegistry* r = [] {
    auto* reg = new RecipeRegistry();
    EXPECT_TRUE(reg->Register(std::make_unique<FakeKind>("src", true)).ok());
    EXPECT_TRUE(reg->Register(std::make_unique<FakeKind>("op", false)).ok());
    return reg;
  }();
  return *r;
}

std::vector<std::string> LoadAndValidate(const std::filesystem::path& root, bool flow_cache) {
  LoadOptions options;
  options.flow_cache = flow_cache;
  LoadedWorkspace lw = LoadWorkspace(root, options);
  std::vector<std::string> out;
  for (const auto& d : lw.diagnostics) out.push_back(d.ToString());
  if (out.empty())
    for (const auto& d : ValidateWorkspace(lw.workspace, Kinds())) out.push_back(d.ToString());
  return out;
}

// The problems in a one-flow workspace; the same without the parsed-flow
// cache, with a cold one and with a warm one.
std::vector<std::string> Validate(const std::string& flow_yaml,
                                  const std::string& file = "flows/f.yaml") {
  TempDir dir;
  WriteFile(dir.path() / "alambic.yaml", "name: t\n");
  WriteFile(dir.path() / file, flow_yaml);
  std::vector<std::string> out = LoadAndValidate(dir.path(), false);
  EXPECT_EQ(LoadAndValidate(dir.path(), true), out) << "cold cache";
  EXPECT_EQ(LoadAndValidate(dir.path(), true), out) << "warm cache";
  return out;
}

TEST(ValidateTest, ValidFlowHasNoProblems) {
  EXPECT_TRUE(Validate(R"(flow: f
recipes:
  - {name: a, kind: src, outputs: [x], params: {query: q}}
  - {name: b, kind: op, inputs: [x], outputs: [y], params: {query: q, rows: 3, ratio: 0.5, columns: [c]}}
)")
                  .empty());
}

TEST(ValidateTest, UnknownKind) {
  EXPECT_EQ(
      Validate("flow: f\nrecipes:\n  - name: a\n    kind: colect\n    outputs: [x]\n"),
      std::vector<std::string>{
          "flows/f.yaml:4:11: recipe a: unknown recipe kind 'colect' (known kinds: op, src)"});
}

TEST(ValidateTest, UnknownMissingAndMistypedParams) {
  auto errs = Validate(R"(flow: f
recipes:
  - name: a
    kind: src
    outputs: [x]
    params:
      rows: many
      colour: red
)");
  EXPECT_EQ(
      errs,
      (std::vector<std::string>{
          "flows/f.yaml:7:7: recipe a: missing required parameter 'query' for kind src",
          "flows/f.yaml:7:13: recipe a: parameter 'rows' must be an integer, got the string "
          "\"many\"",
          "flows/f.yaml:8:15: recipe a: unknown parameter 'colour' for kind src (expected one of: "
          "path, rows, ratio, columns, query)",
      }));
}

TEST(ValidateTest, KindSpecificCheckPointsAtTheParam) {
  auto errs = Validate(
      "flow: f\nrecipes:\n  - {name: a, kind: src, outputs: [x], params: {query: q, rows: -2}}\n");
  EXPECT_EQ(errs, std::vector<std::string>{
                      "flows/f.yaml:3:65: recipe a: param 'rows' must not be negative"});
}

TEST(ValidateTest, QuotedNumberIsAString) {
  auto errs = Validate(
      "flow: f\nrecipes:\n  - {name: a, kind: src, outputs: [x], params: {query: q, rows: "
      "\"3\"}}\n");
  EXPECT_EQ(errs, std::vector<std::string>{"flows/f.yaml:3:65: recipe a: parameter 'rows' must be "
                                           "an integer, got the string \"3\""});
}

TEST(ValidateTest, UnknownInputDataset) {
  auto errs = Validate(R"(flow: f
recipes:
  - {name: a, kind: src, outputs: [x], params: {query: q}}
  - {name: b, kind: op, inputs: [x, z], outputs: [y], params: {query: q}}
)");
  EXPECT_EQ(errs,
            std::vector<std::string>{
                "flows/f.yaml:4:37: recipe b: unknown input dataset 'z' (no recipe produces it)"});
}

TEST(ValidateTest, DatasetProducedTwice) {
  auto errs = Validate(R"(flow: f
recipes:
  - {name: a, kind: src, outputs: [x], params: {query: q}}
  - {name: b, kind: src, outputs: [x], params: {query: q}}
)");
  EXPECT_EQ(
      errs,
      std::vector<std::string>{
          "flows/f.yaml:4:36: dataset 'x' is produced by two recipes: a (flows/f.yaml:3:5) and b"});
}

TEST(ValidateTest, CyclePrintsTheCycleWithDatasets) {
  auto errs = Validate(R"(flow: f
recipes:
  - {name: a, kind: op, inputs: [z], outputs: [x], params: {query: q}}
  - {name: b, kind: op, inputs: [x], outputs: [y], params: {query: q}}
  - {name: c, kind: op, inputs: [y], outputs: [z], params: {query: q}}
)");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0], "flows/f.yaml:3:5: cycle: a -[x]-> b -[y]-> c -[z]-> a");
}

TEST(ValidateTest, SelfLoopIsACycle) {
  auto errs = Validate(
      "flow: f\nrecipes:\n  - {name: a, kind: op, inputs: [x], outputs: [x], params: {query: "
      "q}}\n");
  EXPECT_EQ(errs, std::vector<std::string>{"flows/f.yaml:3:5: cycle: a -[x]-> a"});
}

TEST(ValidateTest, DuplicateNamesAndKeys) {
  auto errs = Validate(R"(flow: f
recipes:
  - {name: a, kind: src, outputs: [x], params: {query: q}}
  - {name: a, kind: src, outputs: [y], params: {query: q}}
)");
  EXPECT_EQ(
      errs,
      std::vector<std::string>{
          "flows/f.yaml:4:5: duplicate recipe name 'a' in flow f (first at flows/f.yaml:3:5)"});
  auto keys = Validate("flow: f\nflow: g\nrecipes: []\n");
  EXPECT_EQ(keys, std::vector<std::string>{"flows/f.yaml:2:1: duplicate key 'flow' in flow"});
}

TEST(ValidateTest, DuplicateFlowNamesAcrossFiles) {
  TempDir dir;
  WriteFile(dir.path() / "alambic.yaml", "name: t\n");
  WriteFile(dir.path() / "flows/a.yaml", "flow: same\nrecipes: []\n");
  WriteFile(dir.path() / "flows/b.yaml", "flow: same\nrecipes: []\n");
  LoadedWorkspace lw = LoadWorkspace(dir.path());
  ASSERT_EQ(lw.diagnostics.size(), 1u);
  EXPECT_EQ(lw.diagnostics[0].ToString(),
            "flows/b.yaml:1:1: duplicate flow name 'same' (also in flows/a.yaml:1:1)");
}

TEST(ValidateTest, YamlSyntaxErrorHasLocation) {
  auto errs = Validate("flow: f\nrecipes:\n  - {name: a, kind: src\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].rfind("flows/f.yaml:", 0), 0u) << errs[0];
}

TEST(ValidateTest, UnknownTopLevelAndRecipeKeys) {
  auto errs = Validate(
      "flow: f\nschedul: x\nrecipes:\n  - {name: a, kind: src, output: [x], params: {query: q}}\n");
  EXPECT_EQ(
      errs,
      (std::vector<std::string>{
          "flows/f.yaml:2:1: unknown key 'schedul' in flow (expected one of: flow, usecase, "
          "description, "
          "schedule, partitions, datasets, recipes, timeout, retries, retry_backoff)",
          "flows/f.yaml:4:26: unknown key 'output' in recipe (expected one of: name, kind, inputs, "
          "outputs, params, script, timeout, retries, retry_backoff, description, resources)",
      }));
}

TEST(ValidateTest, WrongInputCountForKind) {
  auto errs =
      Validate("flow: f\nrecipes:\n  - {name: a, kind: op, outputs: [x], params: {query: q}}\n");
  EXPECT_EQ(errs, std::vector<std::string>{
                      "flows/f.yaml:3:5: recipe a: kind op takes at least 1 inputs, got 0"});
}

TEST(ValidateTest, ScheduleAndPolicyShapes) {
  auto errs = Validate(R"(flow: f
schedule: {cron: "0 3 * *", catchup: sometimes}
retries: -1
recipes: []
)");
  EXPECT_EQ(
      errs,
      (std::vector<std::string>{
          "flows/f.yaml:2:18: schedule cron '0 3 * *' must have 5 fields (minute hour day-of-month "
          "month day-of-week)",
          "flows/f.yaml:2:38: schedule catchup must be latest, all or none, not 'sometimes'",
          "flows/f.yaml:3:10: flow retries must be an integer between 0 and 1000",
      }));
}

TEST(ValidateTest, AWarmCacheKeepsTheProblemsOfOtherFlows) {
  // Validation is never cached: a cached flow still clashes with a changed one.
  TempDir dir;
  WriteFile(dir.path() / "alambic.yaml", "name: t\n");
  WriteFile(dir.path() / "flows/a.yaml",
            "flow: a\nrecipes:\n  - {name: a, kind: src, outputs: [x], params: {query: q}}\n");
  WriteFile(dir.path() / "flows/b.yaml", "flow: b\nrecipes: []\n");
  EXPECT_TRUE(LoadAndValidate(dir.path(), true).empty());
  WriteFile(dir.path() / "flows/b.yaml",
            "flow: b\nrecipes:\n  - {name: b, kind: src, outputs: [x], params: {query: q}}\n");
  const std::vector<std::string> expected = {
      "flows/b.yaml:3:36: dataset 'x' is produced by two recipes: a (flows/a.yaml:3:5) and b"};
  EXPECT_EQ(LoadAndValidate(dir.path(), true), expected);
  EXPECT_EQ(LoadAndValidate(dir.path(), true), expected);
  EXPECT_EQ(LoadAndValidate(dir.path(), false), expected);
}

TEST(ValidateTest, DatasetColumnTagsAreRead) {
  TempDir dir;
  WriteFile(dir.path() / "alambic.yaml", "name: t\n");
  WriteFile(
      dir.path() / "flows/f.yaml",
      "flow: f\nusecase: fraude\ndatasets:\n  x:\n    columns: {candidate_id: {tags: [personal]}}\n"
      "recipes:\n  - {name: a, kind: src, outputs: [x], params: {query: q}}\n");
  LoadedWorkspace lw = LoadWorkspace(dir.path());
  ASSERT_TRUE(lw.ok());
  const Flow& f = lw.workspace.flows.at(0);
  EXPECT_EQ(f.usecase, "fraude");
  ASSERT_EQ(f.datasets.at("x").columns.size(), 1u);
  EXPECT_EQ(f.datasets.at("x").columns[0].tags, std::vector<std::string>{"personal"});
  EXPECT_TRUE(ValidateWorkspace(lw.workspace, Kinds()).empty());
}

}  // namespace
}  // namespace alambic::validate_test
