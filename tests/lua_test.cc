// kind: lua — the script API, the sandbox (every escape attempt we know of),
// the limits, and Lua recipes inside a real run.
#include <chrono>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/exec/run.h"
#include "core/flow/loader.h"
#include "core/recipe/recipe.h"
#include "tests/test_util.h"

namespace alambic::lua_test {
namespace {

using ::testing::AllOf;
using testing::CapturingLogger;
using ::testing::HasSubstr;
using testing::TempDir;
using testing::WriteFile;

// id:int64, name:utf8 (one null), score:float64, ok:bool, day:date32
std::shared_ptr<const Table> People() {
  ColumnBuilder id(TypeId::kInt64), name(TypeId::kUtf8), score(TypeId::kFloat64), ok(TypeId::kBool),
      day(TypeId::kDate32);
  const char* names[] = {"Ana", nullptr, "Céline", "Dov", "Eve"};
  for (int i = 0; i < 5; ++i) {
    id.AppendInt64(i + 1);
    names[i] ? name.AppendString(names[i]) : name.AppendNull();
    score.AppendDouble(0.5 * (i + 1));
    ok.AppendBool(i % 2 == 0);
    day.AppendDate32(DaysFromCivil(2024, 1, static_cast<unsigned>(i + 1)));
  }
  Schema s{{{"id", TypeId::kInt64},
            {"name", TypeId::kUtf8},
            {"score", TypeId::kFloat64},
            {"ok", TypeId::kBool},
            {"day", TypeId::kDate32}}};
  return std::make_shared<const Table>(
      *Table::Make(s, {id.Finish(), name.Finish(), score.Finish(), ok.Finish(), day.Finish()}));
}

class LuaTest : public ::testing::Test {
 protected:
  Result<RecipeOutput> RunScript(const std::string& code,
                                 nlohmann::json params = nlohmann::json::object(),
                                 std::vector<std::string> outputs = {"out"}) {
    WriteFile(dir_.path() / "recipes" / "t.lua", code);
    params_ = std::move(params);
    RecipeContext ctx;
    ctx.recipe = "t";
    ctx.params = &params_;
    ctx.inputs = {{"people", People()}};
    ctx.outputs = std::move(outputs);
    ctx.workspace = dir_.path();
    ctx.script = "recipes/t.lua";
    ctx.log = &log_;
    ctx.cancel = &cancel_;
    ctx.progress = [this](int64_t rows) { progress_.push_back(rows); };
    return alambic::testing::BuiltinKinds().Find("lua")->Run(ctx);
  }
  // Runs a script expected to fail; returns its error message.
  std::string Fails(const std::string& code, nlohmann::json params = nlohmann::json::object()) {
    auto r = RunScript(code, std::move(params));
    EXPECT_FALSE(r.ok()) << "the script succeeded:\n" << code;
    return r.ok() ? "" : r.status().message();
  }
  TempDir dir_;
  nlohmann::json params_;
  CapturingLogger log_;
  CancelToken cancel_;
  std::vector<int64_t> progress_;
};

TEST_F(LuaTest, ReadsRowsInBatchesAndColumnsAndBuildsOutputs) {
  auto r = RunScript(R"(
local out = output({"id:int64", "label:utf8", "double:float64", "odd:bool", "day:date32"})
local n = 0
for row in input:rows(2) do
  n = n + 1
  out:append{id = row.id, label = (row.name or "?") .. "/" .. row.day,
             double = row.score * 2, odd = row.ok, day = row.day}
end
assert(n == 5 and input.num_rows == 5 and #input == 5 and input.name == "people")
assert(inputs.people == input and inputs[1] == input)
local scores = input:column("score")
local names = input:column("name")
assert(#scores == 5 and scores[5] == 2.5 and names[2] == nil and names[3] == "Céline")
local cols = table.concat(input:columns(), ",")
assert(cols == "id,name,score,ok,day", cols)
assert(input:schema()[5].type == "date32")
out:append_rows{{id = 10, label = "x", double = 1, odd = false, day = 19000}}
out:append{id = 11}
)");
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->tables.size(), 1u);
  const Table& t = r->tables[0];
  EXPECT_EQ(t.schema().ToString(), "id:int64, label:utf8, double:float64, odd:bool, day:date32");
  ASSERT_EQ(t.num_rows(), 7);
  EXPECT_EQ(t.column(1)->String(0), "Ana/2024-01-01");
  EXPECT_EQ(t.column(1)->String(1), "?/2024-01-02");
  EXPECT_DOUBLE_EQ(t.column(2)->Double(4), 5.0);
  EXPECT_TRUE(t.column(3)->Bool(0));
  EXPECT_FALSE(t.column(3)->Bool(1));
  EXPECT_EQ(t.column(4)->Date32(2), DaysFromCivil(2024, 1, 3));
  EXPECT_EQ(t.column(4)->Date32(5), 19000);
  EXPECT_EQ(t.column(0)->Int64(6), 11);
  EXPECT_TRUE(t.column(1)->IsNull(6));
  EXPECT_TRUE(t.column(4)->IsNull(6));
  EXPECT_EQ(r->metrics["rows"]["out"], 7);
  // Rows crossed in batches of two: progress after each batch.
  EXPECT_EQ(progress_, (std::vector<int64_t>{2, 4, 5}));
}

TEST_F(LuaTest, BuildsWholeColumnsAndSeveralOutputs) {
  auto r = RunScript(R"(
local a = output("a", {"x:int64", "y:utf8"})
a:append_column("x", {1, 2, 3})
a:append_column("y", {"p", nil, "r"}, 3)
local b = output("b", {"ts:timestamp"})
b:append{ts = "2024-03-01T10:20:30.5Z"}
b:append{ts = 0}
assert(a:num_rows() == 3)
)",
                     nlohmann::json::object(), {"a", "b"});
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->tables.size(), 2u);
  EXPECT_EQ(r->tables[0].num_rows(), 3);
  EXPECT_TRUE(r->tables[0].column(1)->IsNull(1));
  EXPECT_EQ(r->tables[0].column(1)->String(2), "r");
  EXPECT_EQ(FormatCell(*r->tables[1].column(0), 0), "2024-03-01T10:20:30.500000Z");
  EXPECT_EQ(r->tables[1].column(0)->Int64(1), 0);
}

TEST_F(LuaTest, ReadsArgsLogsAndReportsProgress) {
  auto r = RunScript(R"(
log("threshold", args.threshold, args.names[2])
print("printed")
warn("careful")
progress(42)
output{"n:int64"}:append{n = args.threshold * 2}
)",
                     {{"args", {{"threshold", 21}, {"names", {"a", "b"}}}}});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->tables[0].column(0)->Int64(0), 42);
  EXPECT_EQ(log_.tagged(),
            (std::vector<std::string>{"threshold\t21\tb", "printed", "warn: careful"}));
  EXPECT_EQ(progress_.back(), 42);
}

TEST_F(LuaTest, ErrorsNameTheScriptLineAndCarryTheTraceback) {
  std::string msg = Fails(
      "output{'x:int64'}\nlocal function check(v)\n  error('bad centre ' .. v)\n"
      "end\ncheck(7)\n");
  EXPECT_THAT(msg, HasSubstr("recipe t: script recipes/t.lua: recipes/t.lua:3: bad centre 7"));
  EXPECT_THAT(msg, HasSubstr("stack traceback:"));
  EXPECT_THAT(msg, HasSubstr("recipes/t.lua:5: in main chunk"));

  EXPECT_THAT(Fails("local x = = 1"), HasSubstr("recipes/t.lua:1: unexpected symbol near '='"));
  EXPECT_THAT(Fails("input:column('nope')"), HasSubstr("no column 'nope' in this input"));
  EXPECT_THAT(Fails("output{'n:int64'}:append{n = 'ten'}"),
              HasSubstr("output out: row 1: column 'n' must be an integer, got string"));
  EXPECT_THAT(Fails("output{'n:decimal'}"),
              HasSubstr("column 1 must be \"name:type\" (types: int64, float64, bool, utf8, "
                        "date32, timestamp), got 'n:decimal'"));
  EXPECT_THAT(Fails("local x = 1"),
              HasSubstr("recipe t: script recipes/t.lua never declared output 'out'"));
  EXPECT_THAT(Fails("local o = output{'a:int64', 'b:int64'}\no:append_column('a', {1, 2})"),
              HasSubstr("output 'out': column 'b' has 0 rows but 'a' has 2"));
  EXPECT_THAT(Fails("output('elsewhere', {'a:int64'})"),
              HasSubstr("'elsewhere' is not an output of this recipe"));
}

// Each escape attempt, and what stops it.
struct Escape {
  const char* name;
  const char* code;
  const char* message;
};

class LuaSandboxTest : public LuaTest, public ::testing::WithParamInterface<Escape> {};

TEST_P(LuaSandboxTest, IsRefused) {
  EXPECT_THAT(Fails(GetParam().code), HasSubstr(GetParam().message));
}

INSTANTIATE_TEST_SUITE_P(
    Escapes, LuaSandboxTest,
    ::testing::Values(
        Escape{"BinaryChunk",
               "local f, err = load('\\27Lua\\x54\\0\\x19\\x93\\r\\n\\x1a\\n')\nerror(err)",
               "attempt to load a binary chunk (mode is 't')"},
        Escape{"BinaryChunkEvenWhenAskedFor",
               "local f, err = load('\\27Lua', 'x', 'b')\nerror(err)",
               "attempt to load a binary chunk (mode is 't')"},
        Escape{"StringDump", "string.dump(function() end)", "field 'dump'"},
        Escape{"StringDumpThroughMetatable", "('').dump(print)", "field 'dump'"},
        Escape{"IoOpen", "io.open('/etc/passwd')", "global 'io'"},
        Escape{"OsExecute", "os.execute('touch /tmp/alambic-escape')", "field 'execute'"},
        Escape{"OsGetenv", "os.getenv('HOME')", "field 'getenv'"},
        Escape{"Require", "require('os')", "global 'require'"},
        Escape{"PackageLoadlib", "package.loadlib('libc.so.6', 'system')", "global 'package'"},
        Escape{"Debug", "debug.sethook()", "global 'debug'"},
        Escape{"Dofile", "dofile('/etc/passwd')", "global 'dofile'"},
        Escape{"Loadfile", "loadfile('/etc/passwd')", "global 'loadfile'"},
        Escape{"CollectGarbage", "collectgarbage('stop')", "global 'collectgarbage'"},
        Escape{"Coroutine", "coroutine.create(print)", "global 'coroutine'"},
        // Finalizers run with hooks off: no limit would stop a looping one.
        Escape{"GcFinalizer", "setmetatable({}, {__gc = function() while true do end end})",
               "setmetatable: a metatable may not have a __gc field in a recipe"},
        Escape{"GcPlaceholderReplacedLater",
               "local mt = {__gc = false}\nsetmetatable({}, mt)\n"
               "mt.__gc = function() while true do end end",
               "setmetatable: a metatable may not have a __gc field in a recipe"},
        Escape{"CloseMetamethod", "local x <close> = setmetatable({}, {__close = function() end})",
               "setmetatable: a metatable may not have a __close field in a recipe"}),
    [](const ::testing::TestParamInfo<Escape>& i) { return std::string(i.param.name); });

TEST_F(LuaTest, SetmetatableStillWorksWithoutFinalizers) {
  auto r = RunScript(
      "local v = setmetatable({}, {__index = function(_, k) return #k end})\n"
      "output{'n:int64'}:append{n = v.abcd}");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->tables[0].column(0)->Int64(0), 4);
}

// Declaring 200,000 columns used to take a minute (a quadratic duplicate check).
TEST_F(LuaTest, DeclaringManyColumnsIsFastAndDuplicatesAreFound) {
  const auto start = std::chrono::steady_clock::now();
  auto r = RunScript(
      "local spec = {}\nfor i = 1, 200000 do spec[i] = 'c' .. i .. ':int64' end\n"
      "output(spec)",
      {{"instructions", 0}, {"timeout_s", 60}});
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->tables[0].num_columns(), 200000);
  // A pairwise duplicate check would compare 2e10 pairs (many minutes); a hashed one
  // takes well under a second. The bound is loose so a loaded sanitizer run passes.
  EXPECT_LT(took, 30);
  EXPECT_THAT(Fails("local spec = {}\nfor i = 1, 100000 do spec[i] = 'c' .. i .. ':int64' end\n"
                    "spec[100001] = 'c77:utf8'\noutput(spec)"),
              HasSubstr("column 100001 repeats the name of 'c77:utf8'"));
}

// print() output is bounded: 2,000 lines of 1 MB used to exhaust memory.
TEST_F(LuaTest, PrintFloodIsTruncatedWithANote) {
  auto r = RunScript(
      "local mb = string.rep('x', 1024 * 1024)\nfor i = 1, 2000 do print(mb) end\n"
      "for i = 1, 100000 do print('short line', i) end\noutput{'n:int64'}:append{n = 1}",
      {{"instructions", 0}, {"timeout_s", 20}, {"memory_mb", 64}});
  ASSERT_TRUE(r.ok()) << r.status().message();
  const auto lines = log_.tagged();
  size_t bytes = 0;
  for (const auto& l : lines) bytes += l.size();
  EXPECT_LT(bytes, size_t{1100} * 1024);
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines[0].size(), 16 * 1024 + std::string(" [line cut: 1048576 bytes in all]").size());
  EXPECT_THAT(lines[0], ::testing::EndsWith("[line cut: 1048576 bytes in all]"));
  EXPECT_EQ(lines.back(),
            "warn: log truncated: the script printed more than 1024 KB; the rest of its output "
            "is dropped");
}

TEST_F(LuaTest, TextChunksStillLoad) {
  auto r = RunScript("local f = assert(load('return 6 * 7'))\noutput{'n:int64'}:append{n = f()}");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->tables[0].column(0)->Int64(0), 42);
}

TEST_F(LuaTest, EveryRunGetsAFreshState) {
  auto first = RunScript(R"(
setmetatable(_G, {__index = function() return "leaked" end})
string.upper = function() return "hijacked" end
leftover = 1
output{'v:utf8'}:append{v = undefined_name}
)");
  ASSERT_TRUE(first.ok()) << first.status().message();
  EXPECT_EQ(first->tables[0].column(0)->String(0), "leaked");
  auto second = RunScript(R"(
output{'v:utf8'}:append{v = tostring(undefined_name) .. " " .. tostring(leftover) .. " " ..
                             string.upper("x") .. " " .. tostring(getmetatable(_G))}
)");
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_EQ(second->tables[0].column(0)->String(0), "nil nil X nil");
}

TEST_F(LuaTest, InstructionLimitStopsAnEndlessLoop) {
  auto r = RunScript("while true do end", {{"instructions", 1000000}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailed);
  EXPECT_THAT(r.status().message(),
              HasSubstr("recipe t: script recipes/t.lua: instruction limit of 1000000 exceeded"));
}

TEST_F(LuaTest, PcallCannotSwallowTheLimit) {
  for (const char* code : {
           "while true do pcall(function() while true do end end) end",
           "while true do xpcall(function() while true do end end, function() while true do end "
           "end) end",
           "for i = 1, 10 do pcall(function() while true do end end) end\noutput{'x:int64'}",
       }) {
    auto r = RunScript(code, {{"instructions", 2000000}});
    ASSERT_FALSE(r.ok()) << code;
    EXPECT_THAT(r.status().message(), HasSubstr("instruction limit of 2000000 exceeded")) << code;
  }
}

TEST_F(LuaTest, WallClockLimitStopsALoop) {
  auto start = std::chrono::steady_clock::now();
  auto r = RunScript("while true do pcall(function() while true do end end) end",
                     {{"instructions", 0}, {"timeout_s", 0.3}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTimedOut);
  EXPECT_THAT(r.status().message(), HasSubstr("time limit of 0.3s exceeded"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST_F(LuaTest, MemoryLimitStopsHugeStringsAndTables) {
  // 10^10 bytes: more than Lua itself allows for a string, refused at once.
  auto start = std::chrono::steady_clock::now();
  EXPECT_THAT(Fails("local s = ('x'):rep(1e10)"), HasSubstr("resulting string too large"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  // 10^9 bytes: refused by the memory cap, even under pcall.
  EXPECT_THAT(Fails("local s = ('x'):rep(1e9)", {{"memory_mb", 16}}),
              HasSubstr("memory limit of 16 MB exceeded (lua: memory_mb)"));
  EXPECT_THAT(
      Fails("local ok = pcall(string.rep, 'x', 1e9)\noutput{'x:int64'}", {{"memory_mb", 16}}),
      HasSubstr("memory limit of 16 MB exceeded"));
  EXPECT_THAT(Fails("local ok = pcall(string.rep, 'x', 1e9)\nlocal t = {}\n"
                    "for i = 1, 100 do t[i] = i end\noutput{'x:int64'}",
                    {{"memory_mb", 16}}),
              HasSubstr("memory limit of 16 MB exceeded"));
  EXPECT_THAT(Fails("local t = {}\nfor i = 1, 1e9 do t[i] = i end", {{"memory_mb", 16}}),
              HasSubstr("memory limit of 16 MB exceeded"));
  EXPECT_THAT(Fails("local t = {}\nfor i = 1, 1e9 do pcall(function() t[#t + 1] = {i} end) end",
                    {{"memory_mb", 16}}),
              HasSubstr("memory limit of 16 MB exceeded"));
}

TEST_F(LuaTest, DeepRecursionFailsCleanly) {
  std::string msg = Fails("local function f(n) return 1 + f(n + 1) end\nf(1)");
  EXPECT_THAT(msg, ::testing::AnyOf(HasSubstr("stack overflow"), HasSubstr("memory limit")));
  msg = Fails("local function f(n) return 1 + f(n + 1) end\nf(1)", {{"memory_mb", 8}});
  EXPECT_THAT(msg, ::testing::AnyOf(HasSubstr("stack overflow"), HasSubstr("memory limit")));
}

TEST_F(LuaTest, CancelTokenStopsTheScript) {
  std::thread canceller([this] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    cancel_.Cancel();
  });
  auto r = RunScript("while true do pcall(function() while true do end end) end",
                     {{"instructions", 0}, {"timeout_s", 0}});
  canceller.join();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCancelled);
}

// Stock Lua's pattern matcher runs in C without allocating or executing VM
// instructions; ours (recipes/lua/pattern.h) checks the limits as it goes, so a
// pathological pattern stops at the deadline, even under pcall, as methods of
// strings and through every one of find, match, gmatch and gsub.
constexpr const char* kBacktracking[] = {
    "local i = ('a'):rep(3000):find('.-.-.-.-b')",
    "local ok, err = pcall(string.find, ('a'):rep(3000), '.-.-.-.-b')\noutput{'x:int64'}",
    "for i = 1, 3 do\n"
    "  pcall(function() return ('a'):rep(3000):match('.-.-.-.-b') end)\n"
    "end\noutput{'x:int64'}",
    "for w in ('a'):rep(3000):gmatch('.-.-.-.-b') do end",
    "local s = string.gsub(('a'):rep(3000), '.-.-.-.-b', '')",
};

TEST_F(LuaTest, WallClockLimitStopsAPathologicalPattern) {
  for (const char* code : kBacktracking) {
    auto start = std::chrono::steady_clock::now();
    auto r = RunScript(code, {{"instructions", 0}, {"timeout_s", 1}});
    ASSERT_FALSE(r.ok()) << code;
    EXPECT_EQ(r.status().code(), StatusCode::kTimedOut) << code;
    EXPECT_THAT(r.status().message(), HasSubstr("time limit of 1s exceeded (lua: timeout_s)"))
        << code;
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5)) << code;
  }
}

// Matcher steps count as VM instructions.
TEST_F(LuaTest, InstructionLimitStopsAPathologicalPattern) {
  auto r = RunScript("pcall(string.find, ('a'):rep(3000), '.-.-.-.-b')\noutput{'x:int64'}",
                     {{"instructions", 1000000}, {"timeout_s", 0}});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("instruction limit of 1000000 exceeded"));
}

TEST_F(LuaTest, CancelTokenStopsAPathologicalPattern) {
  std::thread canceller([this] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    cancel_.Cancel();
  });
  auto start = std::chrono::steady_clock::now();
  // The 20 s time limit is only a backstop should cancelling not work.
  auto r = RunScript(
      "while true do pcall(string.find, ('a'):rep(3000), '.-.-.-.-b') end\noutput{'x:int64'}",
      {{"instructions", 0}, {"timeout_s", 20}});
  canceller.join();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCancelled) << r.status().message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST_F(LuaTest, PatternsGiveStockResults) {
  auto r = RunScript(R"lua(
local out = output{'v:utf8'}
local function add(...) out:append{v = table.concat({...}, ",")} end
add(("hello world"):find("o w"))
add(("key = val"):match("(%w+)%s*=%s*(%w+)"))
local words = {}
for w in string.gmatch("one two  three", "%a+", 4) do words[#words + 1] = w end
add(table.concat(words, "/"))
add(("abc"):gsub("%w*", "-"))
add(string.gsub("hello world", "(%w+)", {hello = "HI"}))
add(string.gsub("abc", "%w", function(c) return c:upper() .. "." end, 2))
)lua");
  ASSERT_TRUE(r.ok()) << r.status().message();
  const Table& t = r->tables[0];
  ASSERT_EQ(t.num_rows(), 6);
  EXPECT_EQ(t.column(0)->String(0), "5,7");
  EXPECT_EQ(t.column(0)->String(1), "key,val");
  EXPECT_EQ(t.column(0)->String(2), "two/three");
  EXPECT_EQ(t.column(0)->String(3), "-,1");
  EXPECT_EQ(t.column(0)->String(4), "HI world,2");
  EXPECT_EQ(t.column(0)->String(5), "A.B.c,2");
}

// Lua recipes in a real run: one failing script fails only its recipe; the
// script is part of the version.
class LuaRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteFile(dir_.path() / "alambic.yaml", "name: t\nlua: {memory_mb: 64, timeout_s: 30}\n");
    WriteFile(dir_.path() / "data" / "centres.csv", "centre,rate\nA,0.5\nB,0.9\nC,0.2\n");
    WriteFile(dir_.path() / "recipes" / "flag.lua", R"(
local out = output{"centre:utf8", "flagged:bool"}
for row in input:rows() do
  out:append{centre = row.centre, flagged = row.rate > args.threshold}
end
)");
    WriteFile(dir_.path() / "recipes" / "broken.lua",
              "output{'x:int64'}\nlocal t = nil\nt.x = 1\n");
    WriteFile(dir_.path() / "recipes" / "spin.lua", "while true do end\n");
    WriteFile(dir_.path() / "flows" / "f.yaml", R"(flow: f
recipes:
  - {name: centres, kind: collect, outputs: [centres], params: {path: data/centres.csv}}
  - name: flag
    kind: lua
    inputs: [centres]
    outputs: [flagged]
    script: recipes/flag.lua
    params: {args: {threshold: 0.4}}
  - {name: broken, kind: lua, inputs: [centres], outputs: [b], script: recipes/broken.lua}
  - {name: spin, kind: lua, inputs: [centres], outputs: [s], script: recipes/spin.lua, timeout: 0.5}
)");
  }
  std::unique_ptr<Session> Open() {
    auto s = Session::Open(dir_.path(), "", alambic::testing::BuiltinKinds());
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() ? std::move(*s) : nullptr;
  }
  TempDir dir_;
};

TEST_F(LuaRunTest, AFailingScriptFailsOnlyItsRecipeAndEditingAScriptMakesItStale) {
  auto session = Open();
  ASSERT_TRUE(session);
  RunOptions opt;
  opt.exec.jobs = 2;
  opt.exec.keep_going = true;
  auto run = RunFlows(*session, opt);
  ASSERT_TRUE(run.ok()) << run.status().message();
  std::map<std::string, const RecipeRunRecord*> by_name;
  for (const auto& r : run->recipes) by_name[r.recipe] = &r;
  ASSERT_EQ(by_name.size(), 4u);
  EXPECT_EQ(by_name["centres"]->status, "succeeded");
  EXPECT_EQ(by_name["flag"]->status, "succeeded");
  EXPECT_EQ(by_name["flag"]->rows_out, 3);
  EXPECT_EQ(by_name["broken"]->status, "failed");
  EXPECT_THAT(by_name["broken"]->error,
              AllOf(HasSubstr("recipe broken: script recipes/broken.lua: recipes/broken.lua:3: "
                              "attempt to index a nil value (local 't')"),
                    HasSubstr("stack traceback:")));
  EXPECT_EQ(by_name["spin"]->status, "timed_out");
  EXPECT_EQ(*session->catalog().IntegrityCheck(), "ok");

  auto current = *session->catalog().CurrentVersions("datalab");
  std::string flagged_version;
  for (const auto& c : current)
    if (c.dataset == "flagged") flagged_version = c.version_id;
  auto t = session->store().Read("flagged", flagged_version);
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(t->column(1)->Bool(0), true);
  EXPECT_EQ(t->column(1)->Bool(2), false);

  WriteFile(dir_.path() / "recipes" / "flag.lua",
            "local out = output{'centre:utf8', 'flagged:bool'}\n");
  auto again = Open();
  auto plan = again->MakePlan({});
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  bool seen = false;
  for (const auto& rp : plan->recipes)
    if (again->graph().node(rp.node).recipe->name == "flag") {
      seen = true;
      EXPECT_EQ(rp.decision, Decision::kRun);
      EXPECT_EQ(rp.explanation, "code changed (recipes/flag.lua)");
    }
  EXPECT_TRUE(seen);
}

TEST_F(LuaRunTest, LimitsDefaultToAlambicYamlAndRecipesOverrideThem) {
  WriteFile(dir_.path() / "alambic.yaml",
            "name: t\nlua: {memory_mb: 8, instructions: 300000, timeout_s: 30}\n");
  WriteFile(dir_.path() / "recipes" / "count.lua",
            "local n = 0\nfor i = 1, 1000000 do n = n + 1 end\noutput{'n:int64'}:append{n = n}\n");
  WriteFile(dir_.path() / "recipes" / "big.lua",
            "local s = ('x'):rep(16 * 1024 * 1024)\noutput{'n:int64'}:append{n = #s}\n");
  WriteFile(dir_.path() / "flows" / "f.yaml", R"(flow: f
recipes:
  - {name: capped, kind: lua, outputs: [a], script: recipes/count.lua}
  - {name: raised, kind: lua, outputs: [b], script: recipes/count.lua, params: {instructions: 0}}
  - {name: bigcapped, kind: lua, outputs: [c], script: recipes/big.lua}
  - {name: bigraised, kind: lua, outputs: [d], script: recipes/big.lua, params: {memory_mb: 64}}
)");
  auto session = Open();
  ASSERT_TRUE(session);
  RunOptions opt;
  opt.exec.keep_going = true;
  auto run = RunFlows(*session, opt);
  ASSERT_TRUE(run.ok()) << run.status().message();
  std::map<std::string, const RecipeRunRecord*> by_name;
  for (const auto& r : run->recipes) by_name[r.recipe] = &r;
  ASSERT_EQ(by_name.size(), 4u);
  EXPECT_EQ(by_name["capped"]->status, "failed");
  EXPECT_THAT(by_name["capped"]->error,
              HasSubstr("recipe capped: script recipes/count.lua: instruction limit of 300000 "
                        "exceeded (lua: instructions)"));
  EXPECT_EQ(by_name["raised"]->status, "succeeded") << by_name["raised"]->error;
  EXPECT_EQ(by_name["bigcapped"]->status, "failed");
  EXPECT_THAT(by_name["bigcapped"]->error,
              HasSubstr("recipe bigcapped: script recipes/big.lua: memory limit of 8 MB exceeded "
                        "(lua: memory_mb)"));
  EXPECT_EQ(by_name["bigraised"]->status, "succeeded") << by_name["bigraised"]->error;
}

TEST_F(LuaRunTest, BadLimitsInAlambicYamlAreReported) {
  WriteFile(dir_.path() / "alambic.yaml", "name: t\nlua: {memory: 8}\n");
  LoadedWorkspace lw = LoadWorkspaceConfig(dir_.path());
  ASSERT_EQ(lw.diagnostics.size(), 1u);
  EXPECT_THAT(lw.diagnostics[0].ToString(),
              AllOf(HasSubstr("alambic.yaml:2:"), HasSubstr("'memory'")));
  WriteFile(dir_.path() / "alambic.yaml",
            "name: t\nlua: {memory_mb: 8, instructions: 5, timeout_s: 1.5}\n");
  lw = LoadWorkspaceConfig(dir_.path());
  ASSERT_TRUE(lw.diagnostics.empty()) << lw.diagnostics[0].ToString();
  EXPECT_EQ(lw.workspace.config.lua_limits, (ResourceLimits{8, 5, 1.5}));
  EXPECT_EQ(lw.workspace.config.plugin_limits, kDefaultPluginLimits);
}

TEST_F(LuaRunTest, ValidateRequiresAScriptAndChecksLimits) {
  WriteFile(dir_.path() / "flows" / "f.yaml", R"(flow: f
recipes:
  - {name: centres, kind: collect, outputs: [centres], params: {path: data/centres.csv}}
  - {name: noscript, kind: lua, inputs: [centres], outputs: [x]}
  - {name: neg, kind: lua, inputs: [centres], outputs: [y], script: recipes/flag.lua, params: {memory_mb: -1}}
)");
  auto s = Session::Open(dir_.path(), "", alambic::testing::BuiltinKinds());
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(
      s.status().message(),
      AllOf(HasSubstr("recipe noscript: kind lua needs a script (script: recipes/noscript.lua)"),
            HasSubstr("recipe neg: param 'memory_mb' must not be negative")));
}

}  // namespace
}  // namespace alambic::lua_test
