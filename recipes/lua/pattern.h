// Lua 5.4 pattern matching (reference manual §6.4.1) for the sandbox:
// string.find, string.match, string.gmatch and string.gsub with the stock
// semantics, results and error messages, but with a matcher that can be
// interrupted.
//
// Stock Lua's matcher runs entirely in C: it neither allocates nor executes VM
// instructions, so neither a count hook nor a counting allocator sees it, and a
// pathological pattern (("a"):rep(3000):find(".-.-.-.-b")) runs for hours.
// This one counts its steps (one per pattern item tried and per repetition of
// a single-character class, more for sets longer than 32 bytes; one per
// subject character scanned by %b or compared by a back-reference) and every
// kLuaPatternStepsPerCheck steps calls the `check` given to InstallLuaPatterns
// with the steps done since the last call; the check may raise a Lua error (it
// does not return then) to stop the match. Steps left over at the end of a
// call carry over to the next one, so many small matches are counted too.
//
// As in stock Lua: recursion is bounded (200 levels: "pattern too complex"),
// at most 32 captures, %z (deprecated) still means '\0', and the matcher relies
// on Lua strings being followed by a '\0'. Character classes are those of the
// C locale (Alambic never changes the locale), from a table rather than
// <cctype> calls. The code keeps only trivially destructible objects on the C
// stack, since Lua errors are longjmps.
#pragma once

#include <cstdint>

struct lua_State;

namespace alambic {

inline constexpr int64_t kLuaPatternStepsPerCheck = 4096;

// Called with the steps done since the last call; may raise a Lua error.
using LuaPatternCheck = void (*)(lua_State* L, void* ud, int64_t steps);

// Replaces find, match, gmatch and gsub in the global `string` table (the
// string metatable's __index, so methods such as s:find follow) with the
// interruptible ones. `check` may be null (no checks). Raises on memory errors:
// call it in protected mode.
void InstallLuaPatterns(lua_State* L, LuaPatternCheck check, void* ud);

}  // namespace alambic
