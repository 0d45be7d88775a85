// Lua scalar functions in formula expressions (`functions:` on a formula recipe).
#include "recipes/lua/functions.h"

#include <chrono>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/exec/run.h"
#include "core/flow/loader.h"
#include "core/flow/validate.h"
#include "tests/test_util.h"

namespace alambic::lua_functions_test {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;
using testing::WriteFile;

class LuaFunctionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteFile(dir_.path() / "recipes" / "fr.lua", R"(
local abbreviations = {BD = "BOULEVARD", AV = "AVENUE", R = "RUE"}
function normalise_address(s)
  if s == nil then return nil end
  local words = {}
  for w in s:upper():gmatch("%S+") do words[#words + 1] = abbreviations[w] or w end
  return table.concat(words, " ")
end
function double(x) return x * 2 end
function fails(x) error("cannot handle " .. tostring(x)) end
function clock() return os.time() end
function spin(x) while true do end end
function leak(x) local t = {} for i = 1, 1e9 do t[i] = i end end
function escape(x) return io.open("/etc/passwd") end
function backtrack(x) return (("a"):rep(3000)):find(".-.-.-.-b") end
function backtrack_pcall(x)
  pcall(string.gsub, ("a"):rep(3000), ".-.-.-.-b", "")
  return 1
end
)");
    ColumnBuilder a(TypeId::kUtf8), n(TypeId::kInt64);
    a.AppendString("12 bd Voltaire");
    n.AppendInt64(1);
    a.AppendNull();
    n.AppendInt64(2);
    a.AppendString("3 av Foch");
    n.AppendInt64(3);
    input_ = std::make_shared<const Table>(*Table::Make(
        Schema{{{"adresse", TypeId::kUtf8}, {"n", TypeId::kInt64}}}, {a.Finish(), n.Finish()}));
  }
  Result<RecipeOutput> Formula(nlohmann::json columns) {
    params_ = {{"columns", std::move(columns)}, {"functions", "recipes/fr.lua"}};
    RecipeContext ctx;
    ctx.recipe = "f";
    ctx.params = &params_;
    ctx.inputs = {{"centres", input_}};
    ctx.outputs = {"out"};
    ctx.workspace = dir_.path();
    ctx.lua_limits = limits_;
    ctx.cancel = &cancel_;
    return alambic::testing::BuiltinKinds().Find("formula")->Run(ctx);
  }
  TempDir dir_;
  nlohmann::json params_;
  std::shared_ptr<const Table> input_;
  ResourceLimits limits_ = kDefaultLuaLimits;
  CancelToken cancel_;
};

TEST_F(LuaFunctionsTest, CallsLuaFunctionsInsideExpressions) {
  auto r =
      Formula(nlohmann::json::array({{{"norm", "normalise_address(adresse)"}},
                                     {{"twice", "double(n) + 1"}},
                                     {{"loud", "concat(normalise_address(adresse), '!')"}},
                                     {{"quoted", "'double(n)' || to_string(double(double(n)))"}}}));
  ASSERT_TRUE(r.ok()) << r.status().message();
  const Table& t = r->tables[0];
  EXPECT_EQ(t.schema().ToString(),
            "adresse:utf8, n:int64, norm:utf8, twice:int64, loud:utf8, quoted:utf8");
  EXPECT_EQ(t.column(2)->String(0), "12 BOULEVARD VOLTAIRE");
  EXPECT_TRUE(t.column(2)->IsNull(1));
  EXPECT_EQ(t.column(2)->String(2), "3 AVENUE FOCH");
  EXPECT_EQ(t.column(3)->Int64(2), 7);
  EXPECT_EQ(t.column(4)->String(0), "12 BOULEVARD VOLTAIRE!");
  EXPECT_EQ(t.column(5)->String(1), "double(n)8");
}

TEST_F(LuaFunctionsTest, ErrorsNameTheFunctionRowAndLine) {
  auto r = Formula({{"x", "fails(n)"}});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(),
              HasSubstr("recipe f: param 'columns': column 'x': function fails (row 1): "
                        "recipes/fr.lua:10: cannot handle 1"));
  // Functions are deterministic: no clock.
  r = Formula({{"x", "clock()"}});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("attempt to index a nil value (global 'os')"));
}

TEST_F(LuaFunctionsTest, FunctionsRunInTheSandboxUnderTheLuaLimits) {
  limits_ = {0, 1000000, 0};
  auto r = Formula({{"x", "spin(n)"}});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(),
              HasSubstr("column 'x': function spin (row 1): instruction limit of 1000000 exceeded "
                        "(lua: instructions)"));
  limits_ = {16, 0, 0};
  r = Formula({{"x", "leak(n)"}});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(),
              HasSubstr("function leak (row 1): memory limit of 16 MB exceeded (lua: memory_mb)"));
  r = Formula({{"x", "escape(n)"}});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("attempt to index a nil value (global 'io')"));
}

// The pattern matcher checks the limits too (recipes/lua/pattern.h): a pathological
// pattern stops at the deadline, even under pcall, and on cancel.
TEST_F(LuaFunctionsTest, APathologicalPatternStopsAtTheTimeLimitAndOnCancel) {
  limits_ = {0, 0, 1};
  for (const char* fn : {"backtrack", "backtrack_pcall"}) {
    const auto start = std::chrono::steady_clock::now();
    auto r = Formula({{"x", std::string(fn) + "(n)"}});
    ASSERT_FALSE(r.ok()) << fn;
    EXPECT_EQ(r.status().code(), StatusCode::kTimedOut) << fn;
    EXPECT_THAT(r.status().message(),
                HasSubstr(std::string("function ") + fn +
                          " (row 1): time limit of 1s exceeded (lua: timeout_s)"));
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5)) << fn;
  }
  limits_ = {0, 0, 20};  // a backstop should cancelling not work
  std::thread canceller([this] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    cancel_.Cancel();
  });
  const auto start = std::chrono::steady_clock::now();
  auto r = Formula({{"x", "backtrack_pcall(n)"}});
  canceller.join();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCancelled) << r.status().message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

// In a flow: validate accepts the calls, a run computes them, and editing the
// functions file makes the formula stale with "code changed".
TEST_F(LuaFunctionsTest, InAFlowTheFunctionsFileVersionsTheRecipe) {
  WriteFile(dir_.path() / "alambic.yaml", "name: t\n");
  WriteFile(dir_.path() / "data" / "centres.csv",
            "centre,adresse\nC1,12 bd Voltaire\nC2,3 av Foch\n");
  WriteFile(dir_.path() / "flows" / "f.yaml", R"yaml(flow: f
recipes:
  - {name: collect, kind: collect, outputs: [centres], params: {path: data/centres.csv}}
  - name: normalise
    kind: formula
    inputs: [centres]
    outputs: [normalised]
    params:
      functions: recipes/fr.lua
      columns: {street: "normalise_address(adresse)"}
)yaml");
  LoadedWorkspace lw = LoadWorkspace(dir_.path());
  ASSERT_TRUE(lw.ok());
  EXPECT_TRUE(ValidateWorkspace(lw.workspace, alambic::testing::BuiltinKinds()).empty());
  {
    auto session = Session::Open(dir_.path(), "", alambic::testing::BuiltinKinds());
    ASSERT_TRUE(session.ok()) << session.status().message();
    auto run = RunFlows(**session, {});
    ASSERT_TRUE(run.ok()) << run.status().message();
    ASSERT_EQ(run->succeeded, 2) << run->recipes.back().error;
    std::string version;
    auto current = (*session)->catalog().CurrentVersions("datalab");
    ASSERT_TRUE(current.ok());
    for (const auto& c : *current)
      if (c.dataset == "normalised") version = c.version_id;
    auto t = (*session)->store().Read("normalised", version);
    ASSERT_TRUE(t.ok()) << t.status().message();
    EXPECT_EQ(t->schema().ToString(), "centre:utf8, adresse:utf8, street:utf8");
    EXPECT_EQ(t->column(2)->String(0), "12 BOULEVARD VOLTAIRE");
    EXPECT_EQ(t->column(2)->String(1), "3 AVENUE FOCH");
  }
  WriteFile(dir_.path() / "recipes" / "fr.lua",
            "function normalise_address(s) return s and s:lower() end\n");
  auto session = Session::Open(dir_.path(), "", alambic::testing::BuiltinKinds());
  ASSERT_TRUE(session.ok()) << session.status().message();
  auto plan = (*session)->MakePlan({});
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  ASSERT_EQ(plan->recipes.size(), 2u);
  EXPECT_EQ(plan->recipes[1].decision, Decision::kRun);
  EXPECT_EQ(plan->recipes[1].explanation, "code changed (recipes/fr.lua)");
}

TEST_F(LuaFunctionsTest, TheFunctionsFileIsPartOfTheCode) {
  const RecipeKind* formula = alambic::testing::BuiltinKinds().Find("formula");
  EXPECT_EQ(formula->CodeFiles({{"columns", {{"x", "1"}}}, {"functions", "recipes/fr.lua"}}),
            (std::vector<std::string>{"recipes/fr.lua"}));
  EXPECT_THAT(formula->CheckParams({{"columns", {{"x", "1"}}}, {"functions", 3}}).message(),
              HasSubstr("param 'functions' must be a file or a list of files"));
}

}  // namespace
}  // namespace alambic::lua_functions_test
