// A sandboxed Lua 5.4 interpreter for one recipe run (or one formula
// evaluation): a fresh lua_State every time, so nothing a script does (globals,
// metatables) outlives it.
//
// What a script may use: the base library without dofile, loadfile,
// collectgarbage, with `load` restricted to text chunks and `setmetatable`
// refusing metatables with a __gc or __close field (Lua runs finalizers with
// the hooks off, where no limit could stop them); string (without
// string.dump), table, math, utf8; os.time, os.clock and os.date. No io, os
// otherwise, debug, package, require or coroutine. Chunks are text only: a
// precompiled (binary) chunk is refused.
//
// Limits (ResourceLimits; 0 = none): memory through a counting allocator that
// refuses to grow past the cap; VM instructions through a count hook; a
// wall-clock deadline and the recipe's CancelToken, checked by the same hook
// and by the allocator (so C functions such as string.rep cannot run past
// them). Once a limit trips it stays tripped: the hook then raises an error on
// every instruction and the allocator refuses to grow, so `pcall` cannot
// swallow it, and the Status reported is the limit's, whatever the script did
// with the error.
//
// Pattern matching (string.find, match, gmatch, gsub, also as methods of
// strings) neither allocates nor runs VM instructions, so stock Lua's matcher
// would escape all of the above: a pathological pattern runs for hours. The
// sandbox replaces these four functions with our own implementation of Lua 5.4
// patterns (recipes/lua/pattern.h, same results and messages) whose matching loop
// calls Charge every 4096 steps: its steps count as VM instructions (towards
// `instructions` and instructions()), and the deadline and the cancel token
// are checked there, tripping the limit as the hook does.
//
// Not thread-safe: one sandbox is used by one thread at a time.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "core/base/limits.h"
#include "core/base/status.h"
#include "core/recipe/recipe.h"

struct lua_State;
struct lua_Debug;

namespace alambic {

class LuaSandbox {
 public:
  struct Options {
    std::string recipe;  // for messages
    ResourceLimits limits;
    const CancelToken* cancel = nullptr;
    RecipeLogger* log = nullptr;  // print/log/warn go here (dropped when null)
    // Without os.time/os.clock/os.date and math.random: results depend only
    // on inputs (formula functions).
    bool deterministic = false;
  };
  // Fails only when the interpreter cannot be created.
  static Result<std::unique_ptr<LuaSandbox>> Create(Options options);
  ~LuaSandbox();
  LuaSandbox(const LuaSandbox&) = delete;
  LuaSandbox& operator=(const LuaSandbox&) = delete;

  lua_State* state() const { return L_; }
  // The sandbox owning `L` (set for every state made by Create).
  static LuaSandbox* From(lua_State* L);

  // Loads `code` as a text chunk named `chunkname` (a workspace-relative
  // path, shown in messages as "recipes/x.lua:12: ...") and runs it. Errors
  // are "<chunk>:<line>: <message>" followed by the Lua traceback, or the
  // message of the limit that tripped.
  Status RunChunk(std::string_view code, const std::string& chunkname);
  // Calls the function below `nargs` arguments on the stack under the limits;
  // leaves `nresults` results on success, nothing on failure.
  Status Call(int nargs, int nresults);
  // Ok, or the Status of the limit that tripped (checked by C functions
  // called from Lua, before returning to it).
  Status LimitStatus() const;
  bool tripped() const { return trip_ != Trip::kNone; }
  // For C functions that work long without allocating or running VM
  // instructions (the pattern matcher): counts `work` as VM instructions,
  // checks the instruction budget, the deadline and the cancel token, and when
  // a limit has tripped (now or before) raises the limit's Lua error, as the
  // count hook does (it does not return then).
  void Charge(lua_State* L, int64_t work);
  // As Charge, but returns true when a limit has tripped instead of raising:
  // for loops that hold C++ objects (a Lua error would skip their destructors).
  // The caller then raises once its objects are gone.
  bool ChargeNoRaise(int64_t work);

  // Pushes a JSON value as a Lua value (objects and arrays become tables).
  void PushJson(const nlohmann::json& v);

  int64_t instructions() const { return instructions_; }
  size_t peak_memory() const { return peak_; }
  RecipeLogger* log() const { return options_.log; }
  const Options& options() const { return options_; }

  void* user = nullptr;  // the caller's per-run data, for its C functions
  size_t log_bytes = 0;  // written by print/log/warn so far (bounded)

 private:
  enum class Trip { kNone, kMemory, kInstructions, kTimeout, kCancelled };
  explicit LuaSandbox(Options options);
  static void* Alloc(void* ud, void* ptr, size_t osize, size_t nsize);
  static void Hook(lua_State* L, lua_Debug* ar);
  // Checks the deadline and the cancel token; trips and returns true when over.
  bool CheckClock();
  void TripLimit(Trip why);

  Options options_;
  lua_State* L_ = nullptr;
  size_t used_ = 0, peak_ = 0, cap_ = 0;
  int64_t instructions_ = 0;
  uint32_t allocs_since_clock_ = 0;
  std::chrono::steady_clock::time_point deadline_{};
  bool has_deadline_ = false;
  Trip trip_ = Trip::kNone;
};

}  // namespace alambic
