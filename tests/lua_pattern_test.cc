// Our Lua 5.4 pattern matching (recipes/lua/pattern.h), as installed in the
// sandbox, against stock Lua's as the oracle: same results, same errors.
#include "recipes/lua/pattern.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <lua.hpp>

#include "recipes/lua/sandbox.h"

namespace alambic::lua_pattern_test {
namespace {

// Defines run(), which calls find (pattern and plain), match, gmatch and gsub
// under pcall and returns all their results (or errors) as one string.
constexpr char kHarness[] = R"lua(
local function pack(ok, ...)
  local out = {ok and "ok" or "err"}
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    out[#out + 1] = type(v) .. ":" .. tostring(v)
  end
  return table.concat(out, "|")
end
local function gm(s, p, init, method)
  local it = method and s:gmatch(p, init) or string.gmatch(s, p, init)
  local out = {}
  for _ = 1, 60 do
    local r = table.pack(it())
    if r.n == 0 then break end
    out[#out + 1] = pack(true, table.unpack(r, 1, r.n))
  end
  return table.concat(out, ";")
end
local tbl = {a = "A", b = false, ab = "<ab>", [1] = "one", [2] = 22, [3] = true, c = {}}
local function fn(...)
  local first = ...
  if first == "b" then return nil end
  if first == "c" then return false end
  if first == "x" then return {} end
  if first == 2 then return 2.5 end
  return select("#", ...) .. "[" .. table.concat({...}, ",") .. "]"
end
function run(s, p, init, kind, repl, max)
  if kind == "t" then repl = tbl elseif kind == "f" then repl = fn
  elseif kind == "n" then repl = 7 elseif kind == "b" then repl = true end
  return table.concat({
    pack(pcall(string.find, s, p, init)),
    pack(pcall(string.find, s, p, init, true)),
    pack(pcall(string.match, s, p, init)),
    pack(pcall(gm, s, p, init)),
    pack(pcall(string.gsub, s, p, repl, max)),
  }, "\n")
end
function methods(s, p, init)
  return table.concat({
    pack(pcall(function() return s:find(p, init) end)),
    pack(pcall(function() return s:match(p, init) end)),
    pack(pcall(gm, s, p, init, true)),
    pack(pcall(function() return s:gsub(p, "<%0>") end)),
  }, "\n")
end
)lua";

struct Case {
  std::string s, p;
  bool has_init = false;
  int64_t init = 0;
  std::string kind = "s";  // s: string replacement; t, f, n, b: table, function, number, bad
  std::string repl;
  bool has_max = false;
  int64_t max = 0;
};

std::string Describe(const Case& c) {
  auto quote = [](const std::string& x) {
    std::string out = "\"";
    for (unsigned char ch : x) {
      if (ch < 32 || ch == '"' || ch == '\\') {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\%d", ch);
        out += buf;
      } else {
        out += static_cast<char>(ch);
      }
    }
    return out + "\"";
  };
  return "s=" + quote(c.s) + " p=" + quote(c.p) +
         " init=" + (c.has_init ? std::to_string(c.init) : "nil") + " repl=" + c.kind + ":" +
         quote(c.repl) + " max=" + (c.has_max ? std::to_string(c.max) : "nil");
}

void PushArgs(lua_State* L, const Case& c) {
  lua_pushlstring(L, c.s.data(), c.s.size());
  lua_pushlstring(L, c.p.data(), c.p.size());
  c.has_init ? lua_pushinteger(L, c.init) : lua_pushnil(L);
  lua_pushlstring(L, c.kind.data(), c.kind.size());
  lua_pushlstring(L, c.repl.data(), c.repl.size());
  c.has_max ? lua_pushinteger(L, c.max) : lua_pushnil(L);
}

std::string PopString(lua_State* L) {
  size_t n = 0;
  const char* s = lua_tolstring(L, -1, &n);
  std::string out = s ? std::string(s, n) : std::string("(not a string)");
  lua_pop(L, 1);
  return out;
}

// Stock Lua (no sandbox) and the sandbox, both with the harness loaded.
class LuaPatternTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stock_ = luaL_newstate();
    ASSERT_NE(stock_, nullptr);
    luaL_openlibs(stock_);
    // Named as RunChunk names it, for the same "harness.lua:12:" in messages.
    ASSERT_EQ(luaL_loadbuffer(stock_, kHarness, sizeof kHarness - 1, "@harness.lua"), LUA_OK);
    ASSERT_EQ(lua_pcall(stock_, 0, 0, 0), LUA_OK) << lua_tostring(stock_, -1);
    auto sb = LuaSandbox::Create({});
    ASSERT_TRUE(sb.ok()) << sb.status().message();
    sandbox_ = std::move(*sb);
    Status st = sandbox_->RunChunk(kHarness, "harness.lua");
    ASSERT_TRUE(st.ok()) << st.message();
  }
  void TearDown() override {
    if (stock_) lua_close(stock_);
  }
  std::string Stock(const char* fn, const Case& c) {
    lua_getglobal(stock_, fn);
    PushArgs(stock_, c);
    if (lua_pcall(stock_, 6, 1, 0) != LUA_OK) return "harness error: " + PopString(stock_);
    return PopString(stock_);
  }
  std::string Ours(const char* fn, const Case& c) {
    lua_State* L = sandbox_->state();
    lua_getglobal(L, fn);
    PushArgs(L, c);
    Status st = sandbox_->Call(6, 1);
    if (!st.ok()) return "harness error: " + st.message();
    return PopString(L);
  }
  // Compares one case; counts what the stock results were, for coverage.
  void Compare(const Case& c) {
    const std::string want = Stock("run", c), got = Ours("run", c);
    ASSERT_EQ(got, want) << Describe(c);
    ++cases_;
    if (want.rfind("ok|number", 0) == 0) ++found_;
    if (want.find("err|") != std::string::npos) ++errors_;
  }
  lua_State* stock_ = nullptr;
  std::unique_ptr<LuaSandbox> sandbox_;
  int cases_ = 0, found_ = 0, errors_ = 0;
};

TEST_F(LuaPatternTest, TheSandboxUsesOurMatcherAlsoForMethods) {
  lua_State* L = sandbox_->state();
  for (const char* f : {"find", "match", "gmatch", "gsub"}) {
    lua_getglobal(stock_, "string");
    lua_getfield(stock_, -1, f);
    lua_getglobal(L, "string");
    lua_getfield(L, -1, f);
    ASSERT_TRUE(lua_iscfunction(L, -1)) << f;
    EXPECT_NE(lua_tocfunction(L, -1), lua_tocfunction(stock_, -1)) << f;
    // Methods of strings go through the same table.
    lua_pushliteral(L, "");
    ASSERT_TRUE(lua_getmetatable(L, -1));
    lua_getfield(L, -1, "__index");
    lua_getfield(L, -1, f);
    EXPECT_TRUE(lua_rawequal(L, -1, -5)) << f;
    lua_settop(L, 0);
    lua_settop(stock_, 0);
  }
}

TEST_F(LuaPatternTest, EdgeCasesMatchStockLua) {
  const std::string deep_a(300, 'a');
  std::string deep_p;
  for (int i = 0; i < 300; ++i) deep_p += "a?";
  std::string many_captures;
  for (int i = 0; i < 33; ++i) many_captures += "()";
  std::string nested;
  for (int i = 0; i < 20; ++i) nested += "(";
  nested += "a";
  for (int i = 0; i < 20; ++i) nested += ")";
  const std::vector<Case> cases = {
      {"hello world", "o", true, 5},
      {"hello world", "o w", true, -7},
      {"hello", "l+"},
      {"hello", "(h)(e)"},
      {"hello", "()ll()"},
      {"", ""},
      {"abc", "", true, 10},
      {"abc", "", true, 4},
      {"abc", "", true, 3},
      {"abc", "", true, -10},
      {"abc", "b", true, INT64_MIN},
      {"abc", "b", true, INT64_MAX},
      {"abc", "", true, 0},
      {"THE (quick) fox", "%((%a+)%)"},
      {"f(a(b)c)d", "%b()"},
      {"f(a(b)c", "%b()"},
      {"THE (quick) fox", "%f[%a]%a+"},
      {"THE (quick) fox", "%f[%A]"},
      {"abc", "%f[%z]"},
      {std::string("a\0b", 3), "%Z+"},
      {"abc", "%f[^\1-\255]"},
      {"hello", "%"},
      {"hello", "[a"},
      {"hello", "[]"},
      {"hello", "[^]"},
      {"a]b", "[]]"},
      {"a]b", "[^]]+"},
      {"a-b", "[a-]+"},
      {"a-b", "[%a-]+"},
      {"hello", "(()"},
      {"hello", "(l"},
      {"hello", "l)"},
      {"hello", "%1"},
      {"hello", "%0"},
      {"hello", "(l)%2"},
      {"hello", "(l%1)"},
      {"hello", "(l)%1"},
      {"hello", "()%1"},
      {"hello", "%b"},
      {"hello", "%bh"},
      {"hello", "%f"},
      {"hello", "%fh"},
      {"hello", "%f[h"},
      {"a$b", "a$b"},
      {"a$", "a$"},
      {"^a", "^^a"},
      {"a.b", "a%.b"},
      {"a+b", "a+b", false, 0, "s", "x"},
      {"a+b", "+", false, 0, "s", "x"},
      {"x*y", "*"},
      {"abc", "a-", false, 0, "s", "<%0>"},
      {"aaa", "a-b"},
      {"aaab", "a-b"},
      {"aaab", "^a-$"},
      {deep_a, deep_p},
      {deep_a, deep_p.substr(0, 500)},
      {deep_a, deep_p.substr(0, 400)},
      {deep_a, deep_p.substr(0, 398)},
      {deep_a, deep_p.substr(0, 396)},
      {deep_a, many_captures},
      {"aaa", nested},
      {"abc", "%w", false, 0, "s", "%1"},
      {"abc", "%w", false, 0, "s", "%2"},
      {"abc", "(%w)", false, 0, "s", "%2"},
      {"abc", "%w", false, 0, "s", "%"},
      {"abc", "%w", false, 0, "s", "%x"},
      {"abc", "%w", false, 0, "s", "%%%0%%"},
      {"abc", "()%w", false, 0, "s", "[%1]"},
      {"abc", "", false, 0, "s", "-"},
      {"abc", "%w*", false, 0, "s", "-"},
      {"abc", "%w-", false, 0, "s", "-"},
      {"abc", "b*", false, 0, "s", "-"},
      {"abc", "^", false, 0, "s", "-"},
      {"abc", "^b*", false, 0, "s", "-"},
      {"abc", "$", false, 0, "s", "-"},
      {"a b c", "%s", false, 0, "s", "", true, 1},
      {"a b c", "%s", false, 0, "s", "", true, 0},
      {"a b c", "%s", false, 0, "s", "", true, -3},
      {"abcab", "ab", false, 0, "t"},
      {"abc", "(a)(b)", false, 0, "t"},
      {"abc", "()b", false, 0, "t"},
      {"abcb", "b", false, 0, "f"},
      {"abcb", "c", false, 0, "f"},
      {"abxb", "x", false, 0, "f"},
      {"abc", "()(b)()", false, 0, "f"},
      {"abc", "a", false, 0, "n"},
      {"abc", "a", false, 0, "b"},
      {"abc", "(a", false, 0, "f"},
      {"abc", "(a", false, 0, "s", "%1"},
      {"hello world from Lua", "%a+", true, 7},
      {"hello world from Lua", "%a+", true, -3},
      {"hello world from Lua", "%a+", true, 30},
      {"key = value, k2 = v2", "(%w+)%s*=%s*(%w+)"},
      {std::string("a\0b", 3), std::string("\0", 1)},
      {std::string("a\0b", 3), std::string("%z", 2)},
      {std::string("a\0b", 3), std::string("[\0]", 3)},
      {std::string("a\0b", 3), std::string("%b\0b", 4)},
      {"\xe9t\xe9", "[\x80-\xff]+"},
      {"\xe9t\xe9", "%a+"},
      {"  x  ", "^%s*(.-)%s*$"},
      {"0x1F, 0X2a", "%x+"},
      {"Tab\there", "%c"},
      {"A1 b2!", "[%u%d]+"},
      {"A1 b2!", "[^%w%s]"},
      {"A1 b2!", "%G"},
      {"A1 b2!", "%P+"},
      {"A1 b2!", "%L%U"},
  };
  for (const Case& c : cases) {
    Compare(c);
    if (HasFailure()) return;
    EXPECT_EQ(Ours("methods", c), Stock("methods", c)) << Describe(c);
  }
}

// Random subjects, patterns (with every feature, and malformed ones), inits,
// replacements and maxima over a small alphabet, with a fixed seed.
class RandomCases {
 public:
  explicit RandomCases(uint32_t seed) : rng_(seed) {}
  Case Next() {
    Case c;
    const int len = Int(0, 12);
    static const char kSubject[] = "aaabbbc  ()[]%.-1x\t";
    for (int i = 0; i < len; ++i)
      c.s += Int(0, 60) == 0 ? '\0' : kSubject[Int(0, sizeof kSubject - 2)];
    c.p = Pattern();
    if (Int(0, 9) < 6) {
      c.has_init = true;
      const int r = Int(0, 40);
      c.init = r == 0 ? INT64_MIN : r == 1 ? INT64_MAX : Int(-14, 14);
    }
    static const char* kKinds[] = {"s", "s", "s", "s", "t", "f", "n"};
    c.kind = kKinds[Int(0, 6)];
    static const char* kRepls[] = {"%0", "%1", "<%1>", "%2-%1", "%%",   "x",   "%",
                                   "%a", "",   "%9",   "%3",    "a%0b", "%1%1"};
    if (c.kind == "s") c.repl = kRepls[Int(0, 12)];
    if (Int(0, 9) < 4) {
      c.has_max = true;
      c.max = Int(-1, 3);
    }
    return c;
  }

 private:
  int Int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  template <size_t N>
  const char* Pick(const char* const (&options)[N]) {
    return options[Int(0, N - 1)];
  }
  std::string SingleClass() {
    switch (Int(0, 6)) {
      case 0:
      case 1: {
        static const char kLiteral[] = "aabbcx 1]-";
        return std::string(1, kLiteral[Int(0, sizeof kLiteral - 2)]);
      }
      case 2:
        return ".";
      case 3:
      case 4: {
        static const char kEscaped[] = "aAcCdDgGlLpPsSuUwWxXzZ.%()[]-";
        return std::string("%") + kEscaped[Int(0, sizeof kEscaped - 2)];
      }
      default: {
        static const char* kElements[] = {"a",  "b", "a-c", "%a", "%d", "%s", "-",
                                          "%]", "^", ".",   "(",  "x",  "%W", "b-a"};
        std::string set = "[";
        if (Int(0, 3) == 0) set += "^";
        if (Int(0, 6) == 0) set += "]";
        const int n = Int(1, 3);
        for (int i = 0; i < n; ++i) set += Pick(kElements);
        return set + "]";
      }
    }
  }
  std::string Unit(int depth) {
    switch (Int(0, 11)) {
      case 0:
        if (depth < 2) return "(" + Sequence(depth + 1, Int(1, 3)) + ")";
        [[fallthrough]];
      case 1:
        return "()";
      case 2:
        return std::string("%") + static_cast<char>('0' + Int(0, 3));
      case 3: {
        static const char* kSpecial[] = {"%b()",   "%bab",    "%b[]", "%f[%a]", "%f[^a]",
                                         "%f[%s]", "%f[a-b]", "$",    "^"};
        return Pick(kSpecial);
      }
      default: {
        std::string item = SingleClass();
        if (Int(0, 9) < 4) item += "*+-?"[Int(0, 3)];
        return item;
      }
    }
  }
  std::string Sequence(int depth, int n) {
    std::string out;
    for (int i = 0; i < n; ++i) out += Unit(depth);
    return out;
  }
  std::string Pattern() {
    std::string p;
    if (Int(0, 6) == 0) p += "^";
    p += Sequence(0, Int(0, 5));
    if (Int(0, 6) == 0) p += "$";
    if (Int(0, 19) == 0) {
      static const char* kJunk[] = {"%",  "[",   "(",  ")",   "%b", "%b(",
                                    "%f", "%fa", "[^", "[a-", "[%"};
      p += Pick(kJunk);
    }
    return p;
  }
  std::mt19937 rng_;
};

TEST_F(LuaPatternTest, RandomCasesMatchStockLua) {
  RandomCases gen(20240611);
  constexpr int kCases = 6000;
  for (int i = 0; i < kCases; ++i) {
    Compare(gen.Next());
    if (HasFailure()) return;
  }
  // The cases exercise both matches and errors.
  EXPECT_EQ(cases_, kCases);
  EXPECT_GT(found_, kCases / 5);
  EXPECT_GT(errors_, kCases / 20);
  std::printf("[          ] %d random cases: find matched in %d, some call erred in %d\n", cases_,
              found_, errors_);
}

// Not a timed test: prints the cost of common patterns, ours against stock.
TEST_F(LuaPatternTest, MeasureCostAgainstStock) {
  const char* bench = R"lua(
    local words = {"lorem", "ipsum  ", "dolor\t", "sit\n  amet,", "consectetur   "}
    local parts, n = {}, 0
    local i = 0
    while n < 1024 * 1024 do
      i = i + 1
      local w = words[i % #words + 1] .. " "
      parts[#parts + 1] = w
      n = n + #w
    end
    subject = table.concat(parts)
    function bench(kind)
      if kind == 1 then return select(2, subject:gsub("%s+", " ")) end
      if kind == 2 then local c = 0 for w in subject:gmatch("%a+") do c = c + 1 end return c end
      if kind == 3 then return select(2, subject:gsub("(%w+),", "%1;")) end
      return #subject
    end
  )lua";
  ASSERT_EQ(luaL_dostring(stock_, bench), LUA_OK) << lua_tostring(stock_, -1);
  ASSERT_TRUE(sandbox_->RunChunk(bench, "bench.lua").ok());
  // Our matcher alone: a plain state (no hook, no counting allocator).
  lua_State* plain = luaL_newstate();
  ASSERT_NE(plain, nullptr);
  luaL_openlibs(plain);
  InstallLuaPatterns(plain, nullptr, nullptr);
  ASSERT_EQ(luaL_dostring(plain, bench), LUA_OK) << lua_tostring(plain, -1);
  auto time = [](lua_State* L, int kind, LuaSandbox* sb, lua_Integer* result) {
    double best = 1e9;
    for (int rep = 0; rep < 5; ++rep) {
      lua_getglobal(L, "bench");
      lua_pushinteger(L, kind);
      const auto start = std::chrono::steady_clock::now();
      const bool ok = sb ? sb->Call(1, 1).ok() : lua_pcall(L, 1, 1, 0) == LUA_OK;
      const double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      EXPECT_TRUE(ok);
      if (!ok) return best;
      *result = lua_tointeger(L, -1);
      lua_pop(L, 1);
      best = std::min(best, secs);
    }
    return best;
  };
  const char* names[] = {"", "gsub(\"%s+\", \" \") over 1 MB", "gmatch(\"%a+\") over 1 MB",
                         "gsub(\"(%w+),\", \"%1;\") over 1 MB"};
  for (int kind = 1; kind <= 3; ++kind) {
    lua_Integer stock_n = -1, plain_n = -2, sandbox_n = -3;
    const double stock = time(stock_, kind, nullptr, &stock_n);
    const double matcher = time(plain, kind, nullptr, &plain_n);
    const double sandboxed = time(sandbox_->state(), kind, sandbox_.get(), &sandbox_n);
    EXPECT_EQ(plain_n, stock_n);
    EXPECT_EQ(sandbox_n, stock_n);
    std::printf(
        "[          ] %s: stock %.2f ms; our matcher %.2f ms (%.2fx); in the sandbox %.2f ms "
        "(%.2fx)\n",
        names[kind], stock * 1e3, matcher * 1e3, matcher / stock, sandboxed * 1e3,
        sandboxed / stock);
  }
  lua_close(plain);
}

}  // namespace
}  // namespace alambic::lua_pattern_test
