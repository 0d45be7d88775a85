// The planner, against an in-memory catalog state: every staleness reason,
// selection options, and version ids that depend on exactly what they should.
#include "core/plan/plan.h"

#include <gtest/gtest.h>

#include "core/flow/loader.h"
#include "core/flow/validate.h"

namespace alambic {
namespace {

class SourceKind final : public RecipeKind {
 public:
  std::string name() const override { return "src"; }
  const std::vector<ParamSpec>& params() const override {
    static const std::vector<ParamSpec> k = {{"path", ParamType::kString, true, ""}};
    return k;
  }
  bool is_source() const override { return true; }
  Result<RecipeOutput> Run(RecipeContext&) const override { return Status::Internal("unused"); }
};

class OpKind final : public RecipeKind {
 public:
  std::string name() const override { return "op"; }
  const std::vector<ParamSpec>& params() const override {
    static const std::vector<ParamSpec> k = {{"n", ParamType::kInt, false, ""},
                                             {"file", ParamType::kString, false, ""}};
    return k;
  }
  std::vector<std::string> CodeFiles(const nlohmann::json& p) const override {
    if (p.contains("file")) return {p["file"].get<std::string>()};
    return {};
  }
  Result<RecipeOutput> Run(RecipeContext&) const override { return Status::Internal("unused"); }
};

const RecipeRegistry& Kinds() {
  static RecipeRegistry* r = [] {
    auto* reg = new RecipeRegistry();
    (void)reg->Register(std::make_unique<SourceKind>());
    (void)reg->Register(std::make_unique<OpKind>());
    return reg;
  }();
  return *r;
}

// In-memory catalog + store: what the planner sees.
class MemState final : public PlanState {
 public:
  std::set<std::pair<std::string, std::string>> published;
  std::map<std::string, std::string> current;
  std::map<std::string, RecipeState> last;
  bool Published(const std::string& d, const std::string& id) const override {
    return published.count({d, id}) > 0;
  }
  std::string Current(const std::string& d) const override {
    auto it = current.find(d);
    return it == current.end() ? "" : it->second;
  }
  const RecipeState* LastBuild(const std::string& k) const override {
    auto it = last.find(k);
    return it == last.end() ? nullptr : &it->second;
  }
};

class MemFingerprints final : public Fingerprinter {
 public:
  std::map<std::string, std::string> files;  // path -> content hash
  Result<std::string> FileHash(const std::string& p) override {
    auto it = files.find(p);
    if (it == files.end()) return Status::NotFound(p + ": no such file");
    return it->second;
  }
  Result<std::string> SourceFingerprint(const RecipeSpec& r, const RecipeKind&) override {
    return FileHash(r.params["path"].get<std::string>());
  }
};

class PlanTest : public ::testing::Test {
 protected:
  // raw -> a -> b -> c, raw -> d; a uses code file a.sql
  void SetUp() override { Load(kFlow); }
  static constexpr const char* kFlow = R"(flow: f
recipes:
  - {name: collect, kind: src, outputs: [raw], params: {path: data.csv}}
  - {name: a, kind: op, inputs: [raw], outputs: [xa], params: {n: 1, file: a.sql}}
  - {name: b, kind: op, inputs: [xa], outputs: [xb]}
  - {name: c, kind: op, inputs: [xb], outputs: [xc]}
  - {name: d, kind: op, inputs: [raw], outputs: [xd]}
)";
  void Load(const std::string& yaml) {
    std::vector<Diagnostic> diags;
    ws_ = Workspace();
    ws_.flows.push_back(ParseFlow(yaml, "flows/f.yaml", &diags));
    ASSERT_TRUE(diags.empty());
    ASSERT_TRUE(ValidateWorkspace(ws_, Kinds()).empty());
    graph_ = std::make_unique<FlowGraph>(ws_);
    fps_.files = {{"data.csv", "h-data-1"}, {"a.sql", "h-code-1"}};
  }
  Plan MakeP(PlanOptions opt = {}) {
    auto p = MakePlan(ws_, *graph_, Kinds(), state_, fps_, opt);
    EXPECT_TRUE(p.ok()) << p.status().message();
    return p.ok() ? *p : Plan{};
  }
  // Records the plan's outputs as built, as a successful run would.
  void Build(const Plan& p) {
    for (const auto& rp : p.recipes) {
      if (rp.decision != Decision::kRun) continue;
      const RecipeNode& n = graph_->node(rp.node);
      RecipeState s{rp.params_hash, rp.code_hash, rp.source_fingerprint, {}, {}, "run"};
      for (size_t k = 0; k < n.recipe->inputs.size(); ++k)
        s.inputs[n.recipe->inputs[k]] = rp.input_versions[k];
      for (size_t k = 0; k < n.recipe->outputs.size(); ++k) {
        s.outputs[n.recipe->outputs[k]] = rp.output_versions[k];
        state_.published.insert({n.recipe->outputs[k], rp.output_versions[k]});
        state_.current[n.recipe->outputs[k]] = rp.output_versions[k];
      }
      state_.last[n.Label()] = s;
    }
  }
  const RecipePlan& Of(const Plan& p, const std::string& name) {
    for (const auto& rp : p.recipes)
      if (graph_->node(rp.node).recipe->name == name) return rp;
    throw std::runtime_error("no recipe " + name);
  }
  Workspace ws_;
  std::unique_ptr<FlowGraph> graph_;
  MemState state_;
  MemFingerprints fps_;
};

TEST_F(PlanTest, NeverBuiltThenUpToDate) {
  Plan p = MakeP();
  EXPECT_EQ(p.to_run, 5);
  for (const auto& rp : p.recipes) {
    EXPECT_EQ(rp.decision, Decision::kRun);
    EXPECT_EQ(rp.reason, Reason::kNeverBuilt);
    EXPECT_EQ(rp.explanation, "never built");
  }
  Build(p);
  Plan again = MakeP();
  EXPECT_EQ(again.to_run, 0);
  for (const auto& rp : again.recipes) {
    EXPECT_EQ(rp.explanation, "up to date");
    EXPECT_EQ(rp.output_versions, Of(p, graph_->node(rp.node).recipe->name).output_versions);
  }
}

TEST_F(PlanTest, ParamsChangedRebuildsRecipeAndDownstreamOnly) {
  Build(MakeP());
  Load(std::string(kFlow).replace(std::string(kFlow).find("n: 1"), 4, "n: 2"));
  Plan p = MakeP();
  EXPECT_EQ(Of(p, "collect").decision, Decision::kUpToDate);
  EXPECT_EQ(Of(p, "d").decision, Decision::kUpToDate);
  EXPECT_EQ(Of(p, "a").reason, Reason::kParamsChanged);
  EXPECT_EQ(Of(p, "a").explanation, "params changed");
  EXPECT_EQ(Of(p, "b").reason, Reason::kUpstreamWillChange);
  EXPECT_EQ(Of(p, "b").explanation, "upstream will change (a rebuilds xa)");
  EXPECT_EQ(Of(p, "c").explanation, "upstream will change (b rebuilds xb)");
  EXPECT_EQ(p.to_run, 3);
}

TEST_F(PlanTest, CodeChanged) {
  Build(MakeP());
  fps_.files["a.sql"] = "h-code-2";
  Plan p = MakeP();
  EXPECT_EQ(Of(p, "a").reason, Reason::kCodeChanged);
  EXPECT_EQ(Of(p, "a").explanation, "code changed (a.sql)");
  EXPECT_EQ(Of(p, "d").decision, Decision::kUpToDate);
}

TEST_F(PlanTest, SourceChangedPropagates) {
  Build(MakeP());
  fps_.files["data.csv"] = "h-data-2";
  Plan p = MakeP();
  EXPECT_EQ(Of(p, "collect").reason, Reason::kSourceChanged);
  EXPECT_EQ(Of(p, "collect").explanation, "source data changed (data.csv)");
  EXPECT_EQ(Of(p, "a").reason, Reason::kUpstreamWillChange);
  EXPECT_EQ(Of(p, "d").reason, Reason::kUpstreamWillChange);
  EXPECT_EQ(p.to_run, 5);
}

TEST_F(PlanTest, RevertingToABuiltVersionNeedsNoRun) {
  Plan first = MakeP();
  Build(first);
  fps_.files["data.csv"] = "h-data-2";
  Build(MakeP());
  fps_.files["data.csv"] = "h-data-1";  // back to the first content: every version exists
  Plan p = MakeP();
  EXPECT_EQ(p.to_run, 0);
  EXPECT_EQ(Of(p, "collect").explanation, "up to date (this version was built before)");
  EXPECT_EQ(Of(p, "c").output_versions, Of(first, "c").output_versions);
}

TEST_F(PlanTest, InputNewVersionWhenProducerRanOutsideThisPlan) {
  Build(MakeP());
  fps_.files["data.csv"] = "h-data-2";
  Build(MakeP({.only = {"collect"}}));  // only the source was rebuilt
  Plan p = MakeP();
  EXPECT_EQ(Of(p, "collect").decision, Decision::kUpToDate);
  EXPECT_EQ(Of(p, "a").reason, Reason::kInputNewVersion);
  EXPECT_EQ(Of(p, "a").explanation, "input raw has a new version");
  EXPECT_EQ(Of(p, "b").reason, Reason::kUpstreamWillChange);
}

TEST_F(PlanTest, OutputMissingFromStore) {
  Plan first = MakeP();
  Build(first);
  state_.published.erase({"xd", Of(first, "d").output_versions[0]});
  Plan p = MakeP();
  EXPECT_EQ(p.to_run, 1);
  EXPECT_EQ(Of(p, "d").reason, Reason::kOutputMissing);
  EXPECT_EQ(Of(p, "d").explanation, "output version missing from the store");
}

TEST_F(PlanTest, ForceAndSelection) {
  Build(MakeP());
  Plan forced = MakeP({.force = true});
  EXPECT_EQ(forced.to_run, 5);
  EXPECT_EQ(Of(forced, "b").explanation, "forced");

  Plan to = MakeP({.to = {"b"}, .force = true});
  EXPECT_EQ(to.to_run, 3);  // collect, a, b
  EXPECT_EQ(Of(to, "c").decision, Decision::kNotSelected);
  EXPECT_EQ(Of(to, "d").decision, Decision::kNotSelected);

  Plan from = MakeP({.from = {"a"}, .force = true});
  EXPECT_EQ(from.to_run, 3);  // a, b, c
  EXPECT_EQ(Of(from, "collect").decision, Decision::kNotSelected);

  Plan both = MakeP({.from = {"a"}, .to = {"b"}, .force = true});
  EXPECT_EQ(both.to_run, 2);

  Plan only = MakeP({.only = {"c"}, .force = true});
  EXPECT_EQ(only.to_run, 1);
  EXPECT_EQ(Of(only, "c").decision, Decision::kRun);
}

TEST_F(PlanTest, OnlyWithUnbuiltInputIsAnError) {
  auto p = MakePlan(ws_, *graph_, Kinds(), state_, fps_, {.only = {"b"}});
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(
      p.status().message(),
      "recipe b: input 'xa' has never been built and its producer f/a is not selected; run without "
      "--only/--from or include it");
}

TEST_F(PlanTest, UnknownNamesAreErrors) {
  auto p = MakePlan(ws_, *graph_, Kinds(), state_, fps_, {.only = {"zz"}});
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().message(), "--only: no recipe named 'zz'");
  auto q = MakePlan(ws_, *graph_, Kinds(), state_, fps_, {.flows = {"nope"}});
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.status().message(), "no flow named 'nope'");
}

TEST_F(PlanTest, MissingSourceFileNamesTheRecipe) {
  fps_.files.erase("data.csv");
  auto p = MakePlan(ws_, *graph_, Kinds(), state_, fps_, {});
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().message(), "recipe collect: data.csv: no such file");
}

TEST_F(PlanTest, VersionIdsDependOnInputsParamsAndName) {
  Plan p = MakeP();
  std::set<std::string> ids;
  for (const auto& rp : p.recipes) ids.insert(rp.output_versions[0]);
  EXPECT_EQ(ids.size(), 5u);  // b and c have the same kind and params but different inputs
  for (const auto& id : ids) EXPECT_EQ(id.size(), 64u);
}

}  // namespace
}  // namespace alambic
