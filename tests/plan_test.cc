// The planner, against an in-memory catalog state: every staleness reason,
// selection options, and version ids that depend on exactly what they should.
#include "core/plan/plan.h"

#include <chrono>
#include <random>
#include <thread>

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include "core/base/hash.h"
#include "core/exec/run.h"
#include "core/flow/loader.h"
#include "core/flow/validate.h"
#include "tests/test_util.h"

namespace alambic::plan_test {
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
    EXPECT_TRUE(reg->Register(std::make_unique<SourceKind>()).ok());
    EXPECT_TRUE(reg->Register(std::make_unique<OpKind>()).ok());
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
      RecipeState s{rp.params_hash, rp.code_hash, rp.source_fingerprint, rp.salt, {}, {}, "run"};
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

// Version ids are SHA-256 of length-prefixed fields (a little-endian 64-bit
// length, then the bytes), as DESIGN.md says; computed here without Hasher.
std::string Fields(const std::vector<std::string>& fields) {
  std::string bytes;
  for (const auto& f : fields) {
    for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<char>(uint64_t{f.size()} >> (8 * i)));
    bytes += f;
  }
  return Sha256Hex(bytes);
}

TEST_F(PlanTest, VersionIdsAreTheDocumentedHashes) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Plan p = MakeP();
  const RecipePlan& collect = Of(p, "collect");
  EXPECT_EQ(collect.params_hash, Fields({R"({"path":"data.csv"})"}));
  EXPECT_EQ(collect.output_versions[0],
            Fields({kEngineFormatVersion, "src", collect.params_hash, "", "h-data-1", "raw"}));
  const RecipePlan& a = Of(p, "a");
  EXPECT_EQ(a.code_hash, Fields({"a.sql", "h-code-1"}));
  EXPECT_EQ(a.output_versions[0], Fields({kEngineFormatVersion, "op", a.params_hash, a.code_hash,
                                          "", "raw", collect.output_versions[0], "xa"}));
  // Long fields go around Hasher's buffer.
  Hasher h;
  const std::string big(5000, 'x');
  h.Field("a").Field(big).Raw("b", 1).Field("");
  std::string bytes = std::string("\x01\0\0\0\0\0\0\0a", 9) +
                      std::string("\x88\x13\0\0\0\0\0\0", 8) + big + "b" + std::string(8, '\0');
  EXPECT_EQ(h.HexDigest(), Sha256Hex(bytes));
}

// ---- The graph against a plain depth-first search ----------------------------------

struct ReferenceGraph {
  std::vector<std::vector<int>> up, down;  // as FlowGraph documents them
  std::vector<int> finish;                 // vertices in finishing order
  std::vector<int> cycle;
  std::vector<int> parent, color;
  void Visit(int u) {
    color[static_cast<size_t>(u)] = 1;
    for (int v : down[static_cast<size_t>(u)]) {
      if (color[static_cast<size_t>(v)] == 0) {
        parent[static_cast<size_t>(v)] = u;
        Visit(v);
      } else if (color[static_cast<size_t>(v)] == 1 && cycle.empty()) {
        std::vector<int> path{u};
        for (int w = u; w != v; w = parent[static_cast<size_t>(w)])
          path.push_back(parent[static_cast<size_t>(w)]);
        std::reverse(path.begin(), path.end());
        path.push_back(v);
        cycle = path;
      }
    }
    color[static_cast<size_t>(u)] = 2;
    finish.push_back(u);
  }
};

TEST(GraphTest, OrdersAndCyclesAreThoseOfADepthFirstSearchInVertexOrder) {
  std::mt19937 rng(7);
  for (int t = 0; t < 500; ++t) {
    Workspace ws;
    ws.flows.resize(1 + rng() % 3);
    const int n = 1 + static_cast<int>(rng() % 40);
    for (int i = 0; i < n; ++i) {
      RecipeSpec r;
      r.name = "r" + std::to_string(i);
      for (int k = static_cast<int>(rng() % 3); k > 0; --k)
        r.outputs.push_back("d" + std::to_string(rng() % static_cast<unsigned>(n + 5)));
      for (int k = static_cast<int>(rng() % 4); k > 0; --k)
        r.inputs.push_back("d" + std::to_string(rng() % static_cast<unsigned>(n + 5)));
      ws.flows[rng() % ws.flows.size()].recipes.push_back(r);
    }
    std::vector<const RecipeSpec*> nodes;
    for (const auto& f : ws.flows)
      for (const auto& r : f.recipes) nodes.push_back(&r);
    std::map<std::string, int> producer;
    for (size_t i = 0; i < nodes.size(); ++i)
      for (const auto& o : nodes[i]->outputs) producer.emplace(o, static_cast<int>(i));
    ReferenceGraph ref;
    ref.up.resize(nodes.size());
    ref.down.resize(nodes.size());
    for (size_t i = 0; i < nodes.size(); ++i)
      for (const auto& in : nodes[i]->inputs) {
        auto it = producer.find(in);
        if (it == producer.end()) continue;
        auto& up = ref.up[i];
        if (std::find(up.begin(), up.end(), it->second) != up.end()) continue;
        up.push_back(it->second);
        ref.down[static_cast<size_t>(it->second)].push_back(static_cast<int>(i));
      }
    ref.parent.assign(nodes.size(), -1);
    ref.color.assign(nodes.size(), 0);
    for (int v = 0; v < static_cast<int>(nodes.size()); ++v)
      if (ref.color[static_cast<size_t>(v)] == 0) ref.Visit(v);

    FlowGraph g(ws);
    ASSERT_EQ(g.size(), static_cast<int>(nodes.size()));
    for (int i = 0; i < g.size(); ++i) {
      EXPECT_EQ(std::vector<int>(g.Upstream(i).begin(), g.Upstream(i).end()),
                ref.up[static_cast<size_t>(i)]);
      EXPECT_EQ(std::vector<int>(g.Downstream(i).begin(), g.Downstream(i).end()),
                ref.down[static_cast<size_t>(i)]);
    }
    for (int d = 0; d < n + 5; ++d) {
      auto it = producer.find("d" + std::to_string(d));
      EXPECT_EQ(g.ProducerOf("d" + std::to_string(d)), it == producer.end() ? -1 : it->second);
    }
    EXPECT_EQ(g.FindCycle(), ref.cycle) << "graph " << t;
    if (ref.cycle.empty()) {
      EXPECT_EQ(g.TopologicalOrder(), std::vector<int>(ref.finish.rbegin(), ref.finish.rend()))
          << "graph " << t;
    }
  }
}

// ---- Planning through a Session: catalog, store files, helper threads ----------------

Table OneInt(int64_t v) {
  ColumnBuilder b(TypeId::kInt64);
  b.AppendInt64(v);
  return *Table::Make(Schema{{{"x", TypeId::kInt64}}}, {b.Finish()});
}

class ConstKind final : public RecipeKind {
 public:
  std::string name() const override { return "const"; }
  const std::vector<ParamSpec>& params() const override {
    static const std::vector<ParamSpec> k = {{"v", ParamType::kInt, true, ""}};
    return k;
  }
  bool is_source() const override { return true; }
  Result<std::string> SourceFingerprint(const RecipeContext&) const override {
    return std::string("fixed");
  }
  Result<RecipeOutput> Run(RecipeContext& ctx) const override {
    RecipeOutput out;
    out.tables.push_back(OneInt((*ctx.params)["v"].get<int64_t>()));
    return out;
  }
};

class CopyKind final : public RecipeKind {
 public:
  std::string name() const override { return "copy"; }
  const std::vector<ParamSpec>& params() const override {
    static const std::vector<ParamSpec> k = {{"tag", ParamType::kString, false, ""}};
    return k;
  }
  Result<RecipeOutput> Run(RecipeContext& ctx) const override {
    RecipeOutput out;
    out.tables.push_back(*ctx.inputs.at(0).table);
    return out;
  }
};

const RecipeRegistry& SessionKinds() {
  static RecipeRegistry* r = [] {
    auto* reg = new RecipeRegistry();
    EXPECT_TRUE(reg->Register(std::make_unique<ConstKind>()).ok());
    EXPECT_TRUE(reg->Register(std::make_unique<CopyKind>()).ok());
    return reg;
  }();
  return *r;
}

// The planner's view as the Session used to build it: every current version
// with its details, then each output's record and file checked one by one.
class ReferenceState final : public PlanState {
 public:
  ReferenceState(Catalog& catalog, const DatasetStore& store, std::string env)
      : catalog_(catalog), store_(store), env_(std::move(env)) {
    const auto current = catalog_.CurrentVersions(env_);
    if (current.ok())
      for (const auto& c : *current) current_[c.dataset] = c.version_id;
    states_ = *catalog_.RecipeStates(env_);
  }
  bool Published(const std::string& dataset, const std::string& id) const override {
    auto it = current_.find(dataset);
    bool recorded =
        (it != current_.end() && it->second == id) || *catalog_.HasVersion(env_, dataset, id);
    return recorded && store_.Exists(dataset, id);
  }
  std::string Current(const std::string& dataset) const override {
    auto it = current_.find(dataset);
    return it == current_.end() ? "" : it->second;
  }
  const RecipeState* LastBuild(const std::string& key) const override {
    auto it = states_.find(key);
    return it == states_.end() ? nullptr : &it->second;
  }

 private:
  Catalog& catalog_;
  const DatasetStore& store_;
  std::string env_;
  std::map<std::string, std::string> current_;
  std::map<std::string, RecipeState> states_;
};

class SessionPlanTest : public ::testing::Test {
 protected:
  // s0 -> s1 -> ... -> s(n-1), plus a fan-in t reading every tenth dataset:
  // enough outputs for the session to check store files on a helper thread.
  static constexpr int kRecipes = 400;
  void SetUp() override {
    testing::WriteFile(root() / "alambic.yaml", "name: t\n");
    WriteFlow("");
  }
  std::filesystem::path root() const { return dir_.path(); }
  void WriteFlow(const std::string& last_tag) {
    std::string s =
        "flow: f\nrecipes:\n  - {name: s0, kind: const, outputs: [d0], params: {v: 1}}\n";
    std::string fan;
    for (int i = 1; i < kRecipes; ++i) {
      s += "  - {name: s" + std::to_string(i) + ", kind: copy, inputs: [d" + std::to_string(i - 1) +
           "], outputs: [d" + std::to_string(i) + "]" +
           (i == kRecipes - 1 && !last_tag.empty() ? ", params: {tag: " + last_tag + "}" : "") +
           "}\n";
      if (i % 10 == 0) fan += (fan.empty() ? "" : ", ") + ("d" + std::to_string(i));
    }
    s += "  - {name: t, kind: copy, inputs: [" + fan + "], outputs: [t]}\n";
    testing::WriteFile(root() / "flows/f.yaml", s);
  }
  std::unique_ptr<Session> Open() {
    auto s = Session::Open(root(), "", SessionKinds());
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() ? std::move(*s) : nullptr;
  }
  // The session's plan, checked against the reference view of the same state.
  Plan PlanAndCheck(const PlanOptions& options = {}) {
    auto s = Open();
    auto plan = s->MakePlan(options);
    EXPECT_TRUE(plan.ok()) << plan.status().message();
    ReferenceState ref(s->catalog(), s->store(), s->environment());
    auto fps = s->MakeFingerprinter();
    auto expected = MakePlan(s->workspace(), s->graph(), s->kinds(), ref, *fps, options);
    EXPECT_TRUE(expected.ok());
    if (!plan.ok() || !expected.ok()) return Plan{};
    EXPECT_EQ(plan->to_run, expected->to_run);
    EXPECT_EQ(plan->recipes.size(), expected->recipes.size());
    for (size_t i = 0; i < plan->recipes.size() && i < expected->recipes.size(); ++i) {
      const RecipePlan& a = plan->recipes[i];
      const RecipePlan& b = expected->recipes[i];
      EXPECT_EQ(a.node, b.node);
      EXPECT_EQ(a.decision, b.decision) << a.node;
      EXPECT_EQ(a.reason, b.reason) << a.node;
      EXPECT_EQ(a.explanation, b.explanation) << a.node;
      EXPECT_EQ(a.params_hash, b.params_hash);
      EXPECT_EQ(a.code_hash, b.code_hash);
      EXPECT_EQ(a.source_fingerprint, b.source_fingerprint);
      EXPECT_EQ(a.input_versions, b.input_versions);
      EXPECT_EQ(a.output_versions, b.output_versions);
    }
    return *plan;
  }
  std::vector<std::string> ToRun(const Plan& p) {
    auto s = Open();
    std::vector<std::string> out;
    for (const auto& rp : p.recipes)
      if (rp.decision == Decision::kRun)
        out.push_back(s->graph().node(rp.node).recipe->name + ": " + rp.explanation);
    return out;
  }
  void Run() {
    auto s = Open();
    RunOptions opt;
    opt.exec.jobs = 2;
    auto r = RunFlows(*s, opt);
    ASSERT_TRUE(r.ok()) << r.status().message();
    ASSERT_EQ(r->failed, 0);
  }
  std::filesystem::path StoreFile(const std::string& dataset) {
    auto s = Open();
    auto cur = *s->catalog().CurrentVersionIds(s->environment());
    return s->store().PathFor(dataset, cur.at(dataset));
  }
  testing::TempDir dir_;
};

TEST_F(SessionPlanTest, PlansExactlyAsCheckingEachOutputInTurn) {
  Plan never = PlanAndCheck();
  EXPECT_EQ(never.to_run, kRecipes + 1);
  Run();
  EXPECT_EQ(PlanAndCheck().to_run, 0);

  // Missing store files are found, wherever they are in the graph.
  for (const char* d : {"d0", "d137", "d398", "t"}) std::filesystem::remove(StoreFile(d));
  Plan missing = PlanAndCheck();
  // (t comes before s391: depth-first, s390's first reader is s391, then t.)
  EXPECT_EQ(ToRun(missing),
            (std::vector<std::string>{"s0: output version missing from the store",
                                      "s137: output version missing from the store",
                                      "t: output version missing from the store",
                                      "s398: output version missing from the store"}));
  EXPECT_EQ(PlanAndCheck({.only = {"s137"}}).to_run, 1);
  Run();
  EXPECT_EQ(PlanAndCheck().to_run, 0);

  // A current version whose record is gone is not current any more.
  {
    auto s = Open();
    const std::string id = s->catalog().CurrentVersionIds("datalab")->at("d200");
    SQLite::Database db((root() / ".alambic/catalog.db").string(), SQLite::OPEN_READWRITE);
    SQLite::Statement q(db, "DELETE FROM dataset_versions WHERE dataset = 'd200' AND id = ?");
    q.bind(1, id);
    ASSERT_EQ(q.exec(), 1);
  }
  EXPECT_EQ(ToRun(PlanAndCheck()),
            std::vector<std::string>{"s200: output version missing from the store"});

  // A changed leaf: one recipe to run, for the reason that changed.
  Run();
  WriteFlow("changed");
  EXPECT_EQ(ToRun(PlanAndCheck()), std::vector<std::string>{"s399: params changed"});
}

// A catalog batch that makes version `id` of dataset d7 current in datalab (as
// another run would).
CatalogBatch NewVersionOfD7(const std::string& id) {
  DatasetVersionRecord v;
  v.id = id;
  v.dataset = "d7";
  v.environment = "datalab";
  v.file = "d7/" + id + ".arrow";
  v.schema = "[]";
  v.run_id = "r";
  v.flow = "f";
  v.recipe = "s7";
  v.created_at = NowIso();
  CatalogBatch b;
  b.environment = "datalab";
  b.versions = {v};
  return b;
}

TEST_F(SessionPlanTest, WhatTheSessionReadWhileOpeningIsNotUsedOnceStale) {
  Run();
  // The session reads the catalog while it opens (let it finish); then the
  // store and the catalog change, the latter through another connection.
  auto s = Open();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto cur = *s->catalog().CurrentVersionIds("datalab");
  std::filesystem::remove(s->store().PathFor("d5", cur.at("d5")));
  {
    SQLite::Database db((root() / ".alambic/catalog.db").string(), SQLite::OPEN_READWRITE);
    SQLite::Statement q(db, "DELETE FROM dataset_versions WHERE dataset = 'd300'");
    ASSERT_EQ(q.exec(), 1);
  }
  auto plan = s->MakePlan({});
  ASSERT_TRUE(plan.ok());
  std::vector<std::string> to_run;
  for (const auto& rp : plan->recipes)
    if (rp.decision == Decision::kRun)
      to_run.push_back(s->graph().node(rp.node).recipe->name + ": " + rp.explanation);
  EXPECT_EQ(to_run, (std::vector<std::string>{"s5: output version missing from the store",
                                              "s300: output version missing from the store"}));

  // A change through the session's own connection counts too.
  auto s2 = Open();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ASSERT_NE(s2->catalog().CurrentVersionIds("datalab")->at("d7"), "elsewhere");
  CatalogBatch b = NewVersionOfD7("elsewhere");
  ASSERT_TRUE(s2->catalog().Commit(b).ok());
  EXPECT_EQ(s2->LoadPlanState()->Current("d7"), "elsewhere");
  // A later plan state reads the catalog afresh.
  b.versions[0].id = "again";
  ASSERT_TRUE(s2->catalog().Commit(b).ok());
  EXPECT_EQ(s2->LoadPlanState()->Current("d7"), "again");
}

// Recording a run reuses the current versions its plan read (not reading them
// again) only while nothing was committed to the catalog since: a commit
// through another connection or the session's own is seen.
TEST_F(SessionPlanTest, CurrentVersionsAfterAPlanSeeEveryCommitSince) {
  Run();
  auto s = Open();
  auto plan = s->MakePlan({});
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  auto expected = *s->catalog().CurrentVersionIds("datalab");
  {
    auto cur = s->CurrentVersions();
    ASSERT_TRUE(cur.ok()) << cur.status().message();
    for (const auto& [dataset, id] : expected) {
      const std::string* found = cur->Find(dataset);
      ASSERT_NE(found, nullptr) << dataset;
      EXPECT_EQ(*found, id) << dataset;
    }
    EXPECT_EQ(cur->Find("no_such_dataset"), nullptr);
  }
  CatalogBatch b = NewVersionOfD7("elsewhere");
  // Another connection (another process's run) makes a new version of d7 current.
  {
    auto other = Catalog::Open(root() / ".alambic/catalog.db");
    ASSERT_TRUE(other.ok()) << other.status().message();
    ASSERT_TRUE((*other)->Commit(b).ok());
  }
  {
    auto cur = s->CurrentVersions();
    ASSERT_TRUE(cur.ok());
    ASSERT_NE(cur->Find("d7"), nullptr);
    EXPECT_EQ(*cur->Find("d7"), "elsewhere");
  }
  // Another plan, then a commit through the session's own connection.
  ASSERT_TRUE(s->MakePlan({}).ok());
  b.versions[0].id = "again";
  ASSERT_TRUE(s->catalog().Commit(b).ok());
  {
    auto cur = s->CurrentVersions();
    ASSERT_TRUE(cur.ok());
    ASSERT_NE(cur->Find("d7"), nullptr);
    EXPECT_EQ(*cur->Find("d7"), "again");
  }
  // Another connection removes d300's current version.
  ASSERT_TRUE(s->MakePlan({}).ok());
  {
    SQLite::Database db((root() / ".alambic/catalog.db").string(), SQLite::OPEN_READWRITE);
    SQLite::Statement q(db, "DELETE FROM dataset_versions WHERE dataset = 'd300'");
    ASSERT_EQ(q.exec(), 1);
  }
  auto cur = s->CurrentVersions();
  ASSERT_TRUE(cur.ok());
  EXPECT_EQ(cur->Find("d300"), nullptr);
}

// A session left to the process's end (the CLI's run) still closes its
// catalog: the last connection gone, SQLite checkpoints and removes the WAL,
// and the next run opens the catalog as usual.
TEST_F(SessionPlanTest, ASessionLeftToTheProcessEndClosesItsCatalog) {
  Run();
  auto s = Open();
  ASSERT_TRUE(s->MakePlan({}).ok());
  ASSERT_TRUE(std::filesystem::exists(root() / ".alambic/catalog.db-wal"));
  Session::CloseAndLeaveToExit(std::move(s));
  EXPECT_FALSE(std::filesystem::exists(root() / ".alambic/catalog.db-wal"));
  EXPECT_EQ(PlanAndCheck().to_run, 0);
}

}  // namespace
}  // namespace alambic::plan_test
