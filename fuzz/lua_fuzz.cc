// The Lua sandbox (recipes/lua/sandbox.h) on scripts generated from a small grammar of what
// escapes limits in practice: endless loops, growing strings and tables, deep recursion,
// pathological patterns, pcall swallowing errors, finalizers, load of text chunks. Whatever
// the script, RunChunk returns within the time limit (plus a margin) and the memory stays
// under the cap.
#include <chrono>
#include <string>

#include "core/base/limits.h"
#include "fuzz/fuzz_target.h"
#include "recipes/lua/sandbox.h"

namespace {

using alambic::fuzz::Input;

const char* const kAtoms[] = {
    "1",
    "x",
    "\"ab\"",
    "t",
    "#t",
    "x .. x",
    "(x or 0) + 1",
    "string.rep(\"a\", 1 << 20)",
    "{}",
    "math.huge",
    "nil",
    "s:upper()",
    "tostring(x)",
    "select('#', 1, 2)",
};
const char* const kPatterns[] = {"(a*)*b",    "(.-)%1", "%b()", "[%a-z]+$",      "(((a+)+)+)c",
                                 "%f[%w]%w+", "(",      "[a",   "%g*.-.-.-.-.-$"};

std::string Expr(Input& in, int depth);

std::string Stmt(Input& in, int depth) {
  if (depth > 4 || in.empty()) return "x = 1\n";
  switch (in.Pick(16)) {
    case 0:
      return "while true do " + Stmt(in, depth + 1) + " end\n";
    case 1:
      return "for i = 1, " + std::to_string(1 << in.Pick(31)) + " do " + Stmt(in, depth + 1) +
             " end\n";
    case 2:
      return "s = s .. s .. " + Expr(in, depth + 1) + "\n";
    case 3:
      return "t[#t + 1] = " + Expr(in, depth + 1) + "\n";
    case 4:
      return "local function f(n) return f(n + 1) + 1 end f(1)\n";
    case 5:
      return "pcall(function() " + Stmt(in, depth + 1) + " end)\n";
    case 6:
      return "s = string.rep(\"a\", " + std::to_string(1 << in.Pick(24)) +
             ") .. \"c\" "
             "string.find(s, \"" +
             kPatterns[in.Pick(9)] + "\")\n";
    case 7:
      return "setmetatable({}, {__gc = function() while true do end end})\n";
    case 8:
      return "local g = load(\"" + std::string(in.Pick(2) ? "while true do end" : "return 1") +
             "\") if g then g() end\n";
    case 9:
      return "repeat " + Stmt(in, depth + 1) + " until false\n";
    case 10:
      return "x = " + Expr(in, depth + 1) + "\n";
    case 11:
      return "if " + Expr(in, depth + 1) + " then " + Stmt(in, depth + 1) + " else " +
             Stmt(in, depth + 1) + " end\n";
    case 12:
      return "t = setmetatable({}, {__index = function(t, k) return t[k] end}) x = t.y\n";
    case 13:
      return "for w in string.gmatch(s, \"" + std::string(kPatterns[in.Pick(9)]) +
             "\") do x = w end\n";
    case 14:
      return "s = string.gsub(s, \"a\", \"%0%0\")\n";
    default:
      return "error(" + Expr(in, depth + 1) + ")\n";
  }
}

std::string Expr(Input& in, int depth) {
  if (depth > 4 || in.empty() || in.Pick(3) == 0) return kAtoms[in.Pick(14)];
  switch (in.Pick(4)) {
    case 0:
      return "(" + Expr(in, depth + 1) + " .. " + Expr(in, depth + 1) + ")";
    case 1:
      return "(" + Expr(in, depth + 1) + " + " + Expr(in, depth + 1) + ")";
    case 2:
      return "table.concat({" + Expr(in, depth + 1) + ", " + Expr(in, depth + 1) + "})";
    default:
      return "(function() " + Stmt(in, depth + 1) + " return " + Expr(in, depth + 1) + " end)()";
  }
}

}  // namespace

ALAMBIC_FUZZ_TARGET(lua) {
  using namespace alambic;
  Input in(data, size);
  LuaSandbox::Options o;
  o.recipe = "fuzz";
  o.limits.memory_mb = 16;
  o.limits.instructions = 2'000'000;
  o.limits.timeout_s = 1;
  o.deterministic = in.Pick(2) == 0;
  // The first byte says: a generated script, or the rest of the input as Lua text.
  std::string script = "local x, s, t = 0, \"a\", {}\n";
  if (in.Pick(4) == 0) {
    script += in.Rest();
  } else {
    while (!in.empty() && script.size() < 4096) script += Stmt(in, 0);
  }
  auto sandbox = LuaSandbox::Create(o);
  FUZZ_CHECK(sandbox.ok(), sandbox.status().message());
  const auto start = std::chrono::steady_clock::now();
  Status s = (*sandbox)->RunChunk(script, "fuzz");
  const size_t peak = (*sandbox)->peak_memory();
  sandbox->reset();  // lua_close: finalizers run here
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // A generous margin: sanitizers and a loaded machine slow everything down.
  FUZZ_CHECK(seconds < 10, "ran " + std::to_string(seconds) + " s:\n" + script);
  FUZZ_CHECK(peak <= (size_t{16} << 20) + (size_t{1} << 20),
             "peak " + std::to_string(peak) + ":\n" + script);
  (void)s.message();
  return 0;
}
