#include "recipes/lua/sandbox.h"

#include <algorithm>
#include <cstdlib>
#include <exception>

#include <fmt/format.h>

#include <lua.hpp>

#include "recipes/lua/pattern.h"

namespace alambic {
namespace {

// The count hook runs every this many VM instructions (once a limit has
// tripped: on every instruction).
constexpr int kHookEvery = 1000;
// The allocator looks at the clock every this many growing allocations, and
// on every allocation of at least kLargeAlloc bytes.
constexpr uint32_t kAllocsPerClockCheck = 64;
constexpr size_t kLargeAlloc = size_t{1} << 20;
constexpr int64_t kBytesPerMb = 1024 * 1024;
// What print/log/warn may write for one recipe run: a longer line is cut, and
// past the total the rest is dropped (one line says so).
constexpr size_t kMaxLogLine = 16 * 1024;
constexpr size_t kMaxLogBytes = 1024 * 1024;

int Traceback(lua_State* L) {
  const char* msg = lua_type(L, 1) == LUA_TSTRING ? lua_tostring(L, 1) : nullptr;
  if (!msg) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
    msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

// load() restricted to text chunks: the mode argument is forced to "t".
int SafeLoad(lua_State* L) {
  const int n = lua_gettop(L);
  lua_settop(L, n >= 4 ? 4 : 3);
  lua_pushliteral(L, "t");
  lua_replace(L, 3);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, n >= 4 ? 4 : 3, LUA_MULTRET);
  return lua_gettop(L);
}

// setmetatable() refusing a metatable with a __gc or __close field. Lua runs
// finalizers with hooks turned off, so a __gc that loops would escape every limit
// (instructions, time, cancel) and even Ctrl-C; the field is refused whatever its
// value (Lua marks an object for finalization when its metatable has the field at
// this moment, a placeholder replaced later included). __close is refused too:
// scripts have no use for it and it runs while the state unwinds.
int SafeSetmetatable(lua_State* L) {
  if (lua_type(L, 2) == LUA_TTABLE) {
    for (const char* field : {"__gc", "__close"}) {
      lua_pushstring(L, field);
      if (lua_rawget(L, 2) != LUA_TNIL) {
        lua_pop(L, 1);
        luaL_where(L, 1);  // the script's line calling setmetatable
        lua_pushfstring(L, "setmetatable: a metatable may not have a %s field in a recipe", field);
        lua_concat(L, 2);
        return lua_error(L);
      }
      lua_pop(L, 1);
    }
  }
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

// Joins the arguments as print() does (tostring, separated by tabs) and logs them.
int LogAt(lua_State* L, LogLevel level) {
  if (LuaSandbox::From(L)->log_bytes > kMaxLogBytes) return 0;  // truncated already
  const int n = lua_gettop(L);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int i = 1; i <= n; ++i) {
    luaL_tolstring(L, i, nullptr);
    if (i > 1) luaL_addchar(&b, '\t');
    luaL_addvalue(&b);
  }
  luaL_pushresult(&b);
  size_t len = 0;
  const char* s = lua_tolstring(L, -1, &len);
  LuaSandbox* sandbox = LuaSandbox::From(L);
  RecipeLogger* log = sandbox->log();
  bool failed = false;
  if (log && sandbox->log_bytes <= kMaxLogBytes) {
    try {
      std::string line(s, std::min(len, kMaxLogLine));
      if (len > kMaxLogLine) line += fmt::format(" [line cut: {} bytes in all]", len);
      sandbox->log_bytes += line.size();
      if (sandbox->log_bytes > kMaxLogBytes) {
        log->Log(LogLevel::kWarn,
                 fmt::format("log truncated: the script printed more than {} KB; the rest of "
                             "its output is dropped",
                             kMaxLogBytes / 1024));
      } else {
        log->Log(level, line);
      }
    } catch (const std::exception&) {
      failed = true;
    }
  }
  if (failed) return luaL_error(L, "log: out of memory");
  return 0;
}
int LogInfo(lua_State* L) { return LogAt(L, LogLevel::kInfo); }
int LogWarn(lua_State* L) { return LogAt(L, LogLevel::kWarn); }

int OpenLibraries(lua_State* L) {
  const luaL_Reg libs[] = {{LUA_GNAME, luaopen_base},
                           {LUA_STRLIBNAME, luaopen_string},
                           {LUA_TABLIBNAME, luaopen_table},
                           {LUA_MATHLIBNAME, luaopen_math},
                           {LUA_UTF8LIBNAME, luaopen_utf8}};
  for (const auto& lib : libs) {
    luaL_requiref(L, lib.name, lib.func, 1);
    lua_pop(L, 1);
  }
  // os: only time, clock and date.
  luaL_requiref(L, LUA_OSLIBNAME, luaopen_os, 0);
  lua_createtable(L, 0, 3);
  for (const char* f : {"time", "clock", "date"}) {
    lua_getfield(L, -2, f);
    lua_setfield(L, -2, f);
  }
  lua_setglobal(L, "os");
  lua_pop(L, 1);
  if (LuaSandbox::From(L)->options().deterministic) {
    lua_pushnil(L);
    lua_setglobal(L, "os");
    lua_getglobal(L, "math");
    for (const char* f : {"random", "randomseed"}) {
      lua_pushnil(L);
      lua_setfield(L, -2, f);
    }
    lua_pop(L, 1);
  }
  // Base: no file access, no collector control, text-only load.
  for (const char* f : {"dofile", "loadfile", "collectgarbage", "require"}) {
    lua_pushnil(L);
    lua_setglobal(L, f);
  }
  lua_getglobal(L, "load");
  lua_pushcclosure(L, SafeLoad, 1);
  lua_setglobal(L, "load");
  lua_getglobal(L, "setmetatable");
  lua_pushcclosure(L, SafeSetmetatable, 1);
  lua_setglobal(L, "setmetatable");
  lua_getglobal(L, "string");
  lua_pushnil(L);
  lua_setfield(L, -2, "dump");
  lua_pop(L, 1);
  // Pattern matching that the limits can interrupt (recipes/lua/pattern.h).
  InstallLuaPatterns(
      L,
      [](lua_State* L2, void* ud, int64_t steps) {
        static_cast<LuaSandbox*>(ud)->Charge(L2, steps);
      },
      LuaSandbox::From(L));
  lua_pushcfunction(L, LogInfo);
  lua_setglobal(L, "print");
  lua_pushcfunction(L, LogInfo);
  lua_setglobal(L, "log");
  lua_pushcfunction(L, LogWarn);
  lua_setglobal(L, "warn");
  return 0;
}

}  // namespace

LuaSandbox::LuaSandbox(Options options) : options_(std::move(options)) {
  cap_ = options_.limits.memory_mb > 0
             ? static_cast<size_t>(options_.limits.memory_mb * kBytesPerMb)
             : 0;
  if (options_.limits.timeout_s > 0) {
    has_deadline_ = true;
    deadline_ = std::chrono::steady_clock::now() +
                std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                    std::chrono::duration<double>(options_.limits.timeout_s));
  }
}

LuaSandbox::~LuaSandbox() {
  if (L_) lua_close(L_);
}

Result<std::unique_ptr<LuaSandbox>> LuaSandbox::Create(Options options) {
  std::unique_ptr<LuaSandbox> s(new LuaSandbox(std::move(options)));
  s->L_ = lua_newstate(&LuaSandbox::Alloc, s.get());
  if (!s->L_) return Status::Failed("cannot create a Lua state (memory limit too low?)");
  *static_cast<LuaSandbox**>(lua_getextraspace(s->L_)) = s.get();
  lua_sethook(s->L_, &LuaSandbox::Hook, LUA_MASKCOUNT, kHookEvery);
  lua_pushcfunction(s->L_, OpenLibraries);
  ALAMBIC_RETURN_IF_ERROR(s->Call(0, 0));
  return s;
}

LuaSandbox* LuaSandbox::From(lua_State* L) {
  return *static_cast<LuaSandbox**>(lua_getextraspace(L));
}

void LuaSandbox::TripLimit(Trip why) {
  if (trip_ == Trip::kNone) trip_ = why;
}

bool LuaSandbox::CheckClock() {
  if (options_.cancel && options_.cancel->cancelled()) TripLimit(Trip::kCancelled);
  if (has_deadline_ && std::chrono::steady_clock::now() > deadline_) TripLimit(Trip::kTimeout);
  return trip_ != Trip::kNone;
}

void* LuaSandbox::Alloc(void* ud, void* ptr, size_t osize, size_t nsize) {
  auto* s = static_cast<LuaSandbox*>(ud);
  const size_t old = ptr ? osize : 0;
  if (nsize == 0) {
    std::free(ptr);
    s->used_ -= old;
    return nullptr;
  }
  if (nsize > old) {
    if (s->trip_ != Trip::kNone) return nullptr;
    if (s->cap_ > 0 && s->used_ + (nsize - old) > s->cap_) {
      s->TripLimit(Trip::kMemory);
      return nullptr;
    }
    if (++s->allocs_since_clock_ >= kAllocsPerClockCheck || nsize - old >= kLargeAlloc) {
      s->allocs_since_clock_ = 0;
      if (s->CheckClock()) return nullptr;
    }
  }
  void* p = std::realloc(ptr, nsize);
  if (!p) return nullptr;
  s->used_ = s->used_ - old + nsize;
  if (s->used_ > s->peak_) s->peak_ = s->used_;
  return p;
}

void LuaSandbox::Charge(lua_State* L, int64_t work) {
  if (trip_ == Trip::kNone) {
    instructions_ += work;
    if (options_.limits.instructions > 0 && instructions_ > options_.limits.instructions)
      TripLimit(Trip::kInstructions);
    else
      CheckClock();
  }
  if (trip_ != Trip::kNone) {
    // From now on every instruction raises: no pcall can resume the script.
    lua_sethook(L, &LuaSandbox::Hook, LUA_MASKCOUNT, 1);
    luaL_error(L, "resource limit exceeded");
  }
}

bool LuaSandbox::ChargeNoRaise(int64_t work) {
  if (trip_ == Trip::kNone) {
    instructions_ += work;
    if (options_.limits.instructions > 0 && instructions_ > options_.limits.instructions)
      TripLimit(Trip::kInstructions);
    else
      CheckClock();
  }
  return trip_ != Trip::kNone;
}

void LuaSandbox::Hook(lua_State* L, lua_Debug* /*ar*/) { From(L)->Charge(L, kHookEvery); }

Status LuaSandbox::LimitStatus() const {
  switch (trip_) {
    case Trip::kNone:
      return Status::Ok();
    case Trip::kMemory:
      return Status::Failed(fmt::format("memory limit of {} MB exceeded (lua: memory_mb)",
                                        options_.limits.memory_mb));
    case Trip::kInstructions:
      return Status::Failed(fmt::format("instruction limit of {} exceeded (lua: instructions)",
                                        options_.limits.instructions));
    case Trip::kTimeout:
      return Status::TimedOut(
          fmt::format("time limit of {}s exceeded (lua: timeout_s)", options_.limits.timeout_s));
    case Trip::kCancelled:
      return options_.cancel ? options_.cancel->AsStatus() : Status::Cancelled("cancelled");
  }
  return Status::Internal("unknown limit");
}

Status LuaSandbox::Call(int nargs, int nresults) {
  const int base = lua_gettop(L_) - nargs;  // the function's index
  lua_pushcfunction(L_, Traceback);
  lua_insert(L_, base);
  const int rc = lua_pcall(L_, nargs, nresults, base);
  lua_remove(L_, base);
  if (rc != LUA_OK) {
    std::string msg = lua_type(L_, -1) == LUA_TSTRING ? lua_tostring(L_, -1)
                      : rc == LUA_ERRMEM              ? "not enough memory"
                                                      : "(error object is not a string)";
    lua_pop(L_, 1);
    if (tripped()) return LimitStatus();
    return Status::Failed(std::move(msg));
  }
  if (tripped()) {
    lua_pop(L_, nresults);
    return LimitStatus();
  }
  return Status::Ok();
}

Status LuaSandbox::RunChunk(std::string_view code, const std::string& chunkname) {
  const std::string name = "@" + chunkname;
  const int rc = luaL_loadbufferx(L_, code.data(), code.size(), name.c_str(), "t");
  if (rc != LUA_OK) {
    std::string msg = lua_type(L_, -1) == LUA_TSTRING ? lua_tostring(L_, -1) : "cannot load";
    lua_pop(L_, 1);
    if (tripped()) return LimitStatus();
    return Status::Invalid(std::move(msg));
  }
  return Call(0, 0);
}

void LuaSandbox::PushJson(const nlohmann::json& v) {
  switch (v.type()) {
    case nlohmann::json::value_t::boolean:
      lua_pushboolean(L_, v.get<bool>());
      return;
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
      lua_pushinteger(L_, v.get<lua_Integer>());
      return;
    case nlohmann::json::value_t::number_float:
      lua_pushnumber(L_, v.get<double>());
      return;
    case nlohmann::json::value_t::string: {
      const auto& s = v.get_ref<const std::string&>();
      lua_pushlstring(L_, s.data(), s.size());
      return;
    }
    case nlohmann::json::value_t::array: {
      lua_createtable(L_, static_cast<int>(v.size()), 0);
      lua_Integer i = 0;
      for (auto it = v.begin(); it != v.end(); ++it) {
        PushJson(*it);
        lua_rawseti(L_, -2, ++i);
      }
      return;
    }
    case nlohmann::json::value_t::object: {
      lua_createtable(L_, 0, static_cast<int>(v.size()));
      for (auto it = v.begin(); it != v.end(); ++it) {
        const std::string& k = it.key();
        lua_pushlstring(L_, k.data(), k.size());
        PushJson(it.value());
        lua_rawset(L_, -3);
      }
      return;
    }
    default:
      lua_pushnil(L_);
  }
}

}  // namespace alambic
