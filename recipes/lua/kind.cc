// kind: lua — runs a Lua 5.4 script (`script: recipes/x.lua`) in a sandbox
// (recipes/lua/sandbox.h) over the recipe's inputs; the script builds the outputs.
//
// The script's API (reference: docs/recipes.md, "lua"):
//   inputs[1], inputs.<dataset>, input   the inputs (input = inputs[1])
//   in.name, in.num_rows, #in            dataset name, row count
//   in:columns(), in:schema()            column names; {name=, type=} list
//   for row in in:rows([batch]) do       rows as tables (column -> value),
//                                        fetched from C in batches
//   in:column("x")                       a whole column as a Lua array (nil = null)
//   out = output([name,] {"c:type", ...}) declares an output's schema
//   out:append(row), out:append_rows(rows), out:append_column(name, values [, n])
//   args                                 the recipe's `args` param
//   log(...), print(...), warn(...), progress(rows), error(msg)
// Values: int64 -> integer, float64 -> number, bool -> boolean, utf8 ->
// string, date32 -> "YYYY-MM-DD", timestamp -> "YYYY-MM-DDTHH:MM:SS[.ffffff]Z";
// outputs take the same forms (and integers for date32 days / timestamp µs).
#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <unordered_set>

#include <fmt/format.h>

#include <lua.hpp>

#include "core/recipe/recipe.h"
#include "recipes/builtin_kinds.h"
#include "recipes/lua/sandbox.h"

namespace alambic {
namespace {

constexpr int64_t kDefaultBatchRows = 1024;
constexpr const char* kInputMeta = "alambic.input";
constexpr const char* kOutputMeta = "alambic.output";

// A value read from Lua for one output cell, before it is appended.
struct Cell {
  enum class Kind { kNull, kInt, kFloat, kBool, kString } kind = Kind::kNull;
  int64_t i = 0;
  double d = 0;
  bool b = false;
  const char* s = nullptr;
  size_t n = 0;
};

struct OutputBuilder {
  std::string name;
  bool declared = false;
  Schema schema;
  std::vector<std::unique_ptr<ColumnBuilder>> columns;
  std::vector<Cell> scratch;  // one row, checked before it is appended
};

struct LuaRun {
  RecipeContext* ctx = nullptr;
  const nlohmann::json* args = nullptr;
  std::vector<OutputBuilder> outputs;
  int64_t rows_read = 0;
};

LuaRun& RunOf(lua_State* L) { return *static_cast<LuaRun*>(LuaSandbox::From(L)->user); }

// Fails the script when a limit tripped inside a C function (so the error
// surfaces where it happened).
void CheckLimits(lua_State* L) {
  if (LuaSandbox::From(L)->tripped()) luaL_error(L, "resource limit exceeded");
}

// ---- values -----------------------------------------------------------------

// Formats a date32 or timestamp into `buf` (at least 40 bytes).
size_t FormatTemporal(const Column& col, int64_t row, char* buf, size_t size) {
  int year;
  unsigned month, day;
  if (col.type == TypeId::kDate32) {
    CivilFromDays(col.Date32(row), &year, &month, &day);
    return static_cast<size_t>(std::snprintf(buf, size, "%04d-%02u-%02u", year, month, day));
  }
  constexpr int64_t kMicrosPerDay = 86'400'000'000;
  const int64_t us = col.Int64(row);
  int64_t days = us / kMicrosPerDay, rem = us % kMicrosPerDay;
  if (rem < 0) {
    rem += kMicrosPerDay;
    --days;
  }
  CivilFromDays(static_cast<int32_t>(days), &year, &month, &day);
  const int64_t secs = rem / 1'000'000, frac = rem % 1'000'000;
  int n = std::snprintf(buf, size, "%04d-%02u-%02uT%02d:%02d:%02d", year, month, day,
                        static_cast<int>(secs / 3600), static_cast<int>(secs / 60 % 60),
                        static_cast<int>(secs % 60));
  if (frac) n += std::snprintf(buf + n, size - static_cast<size_t>(n), ".%06" PRId64, frac);
  n += std::snprintf(buf + n, size - static_cast<size_t>(n), "Z");
  return static_cast<size_t>(n);
}

void PushCell(lua_State* L, const Column& col, int64_t row) {
  if (col.IsNull(row)) {
    lua_pushnil(L);
    return;
  }
  switch (col.type) {
    case TypeId::kInt64:
      lua_pushinteger(L, col.Int64(row));
      return;
    case TypeId::kFloat64:
      lua_pushnumber(L, col.Double(row));
      return;
    case TypeId::kBool:
      lua_pushboolean(L, col.Bool(row));
      return;
    case TypeId::kUtf8: {
      std::string_view s = col.String(row);
      lua_pushlstring(L, s.data(), s.size());
      return;
    }
    case TypeId::kDate32:
    case TypeId::kTimestamp: {
      char buf[48];
      size_t n = FormatTemporal(col, row, buf, sizeof buf);
      lua_pushlstring(L, buf, n);
      return;
    }
  }
}

bool ParseDigits(const char* s, size_t n, size_t at, size_t len, int* out) {
  if (at + len > n) return false;
  int v = 0;
  for (size_t k = at; k < at + len; ++k) {
    if (s[k] < '0' || s[k] > '9') return false;
    v = v * 10 + (s[k] - '0');
  }
  *out = v;
  return true;
}

// "YYYY-MM-DD" -> days.
bool ParseDate(const char* s, size_t n, int32_t* days) {
  int y, m, d;
  if (n < 10 || !ParseDigits(s, n, 0, 4, &y) || s[4] != '-' || !ParseDigits(s, n, 5, 2, &m) ||
      s[7] != '-' || !ParseDigits(s, n, 8, 2, &d) || m < 1 || m > 12 || d < 1 || d > 31)
    return false;
  *days = DaysFromCivil(y, static_cast<unsigned>(m), static_cast<unsigned>(d));
  return true;
}

// "YYYY-MM-DD[T ]HH:MM:SS[.f{1,6}][Z]" -> microseconds.
bool ParseTimestamp(const char* s, size_t n, int64_t* us) {
  int32_t days;
  int h, mi, se;
  if (n < 19 || !ParseDate(s, 10, &days) || (s[10] != 'T' && s[10] != ' ') ||
      !ParseDigits(s, n, 11, 2, &h) || s[13] != ':' || !ParseDigits(s, n, 14, 2, &mi) ||
      s[16] != ':' || !ParseDigits(s, n, 17, 2, &se) || h > 23 || mi > 59 || se > 60)
    return false;
  size_t k = 19;
  int64_t frac = 0, scale = 100'000;
  if (k < n && s[k] == '.') {
    for (++k; k < n && s[k] >= '0' && s[k] <= '9'; ++k) {
      frac += (s[k] - '0') * scale;
      scale /= 10;
    }
  }
  if (k < n && s[k] == 'Z') ++k;
  if (k != n) return false;
  *us = ((static_cast<int64_t>(days) * 24 + h) * 60 + mi) * 60'000'000 +
        static_cast<int64_t>(se) * 1'000'000 + frac;
  return true;
}

// Reads the Lua value at `idx` for a column of type `t`; nullptr or what was wrong.
const char* ReadCell(lua_State* L, int idx, TypeId t, Cell* c) {
  const int lt = lua_type(L, idx);
  *c = Cell{};
  if (lt == LUA_TNIL) return nullptr;
  switch (t) {
    case TypeId::kInt64: {
      int isint = 0;
      c->i = lua_tointegerx(L, idx, &isint);
      c->kind = Cell::Kind::kInt;
      return lt == LUA_TNUMBER && isint ? nullptr : "an integer";
    }
    case TypeId::kFloat64:
      c->d = lua_tonumber(L, idx);
      c->kind = Cell::Kind::kFloat;
      return lt == LUA_TNUMBER ? nullptr : "a number";
    case TypeId::kBool:
      c->b = lua_toboolean(L, idx);
      c->kind = Cell::Kind::kBool;
      return lt == LUA_TBOOLEAN ? nullptr : "a boolean";
    case TypeId::kUtf8:
      if (lt == LUA_TNUMBER) {
        if (lua_isinteger(L, idx)) {
          c->kind = Cell::Kind::kInt;
          c->i = lua_tointeger(L, idx);
        } else {
          c->kind = Cell::Kind::kFloat;
          c->d = lua_tonumber(L, idx);
        }
        return nullptr;
      }
      if (lt != LUA_TSTRING) return "a string";
      c->kind = Cell::Kind::kString;
      c->s = lua_tolstring(L, idx, &c->n);
      return nullptr;
    case TypeId::kDate32:
    case TypeId::kTimestamp: {
      c->kind = Cell::Kind::kInt;
      if (lt == LUA_TNUMBER && lua_isinteger(L, idx)) {
        c->i = lua_tointeger(L, idx);
        return nullptr;
      }
      const char* want = t == TypeId::kDate32 ? "a date \"YYYY-MM-DD\" (or days since 1970)"
                                              : "a timestamp \"YYYY-MM-DDTHH:MM:SS[.ffffff]Z\" "
                                                "(or microseconds since 1970)";
      if (lt != LUA_TSTRING) return want;
      size_t n = 0;
      const char* s = lua_tolstring(L, idx, &n);
      if (t == TypeId::kDate32) {
        int32_t days;
        if (!ParseDate(s, n, &days) || n != 10) return want;
        c->i = days;
      } else if (!ParseTimestamp(s, n, &c->i)) {
        return want;
      }
      return nullptr;
    }
  }
  return "a value";
}

void AppendCell(ColumnBuilder& b, const Cell& c) {
  if (c.kind == Cell::Kind::kNull) return b.AppendNull();
  switch (b.type()) {
    case TypeId::kInt64:
      return b.AppendInt64(c.i);
    case TypeId::kFloat64:
      return b.AppendDouble(c.d);
    case TypeId::kBool:
      return b.AppendBool(c.b);
    case TypeId::kUtf8: {
      if (c.kind == Cell::Kind::kString) return b.AppendString(std::string_view(c.s, c.n));
      char buf[64];
      int n = c.kind == Cell::Kind::kInt ? std::snprintf(buf, sizeof buf, "%" PRId64, c.i)
                                         : std::snprintf(buf, sizeof buf, "%.17g", c.d);
      return b.AppendString(std::string_view(buf, static_cast<size_t>(n)));
    }
    case TypeId::kDate32:
      return b.AppendDate32(static_cast<int32_t>(c.i));
    case TypeId::kTimestamp:
      return b.AppendTimestamp(c.i);
  }
}

// ---- inputs -----------------------------------------------------------------

const Table& InputAt(lua_State* L, int idx, int* which = nullptr) {
  auto* i = static_cast<int*>(luaL_checkudata(L, idx, kInputMeta));
  if (which) *which = *i;
  return *RunOf(L).ctx->inputs[static_cast<size_t>(*i)].table;
}

int InputColumnIndex(lua_State* L, const Table& t, int arg) {
  const char* name = luaL_checkstring(L, arg);
  const int c = t.schema().FieldIndex(name);
  if (c < 0) luaL_error(L, "no column '%s' in this input", name);
  return c;
}

int InputRowsNext(lua_State* L) {
  const Table& t = InputAt(L, lua_upvalueindex(1));
  lua_Integer pos = lua_tointeger(L, lua_upvalueindex(4));
  lua_Integer count = lua_tointeger(L, lua_upvalueindex(5));
  if (pos > count) {  // fetch the next batch
    CheckLimits(L);
    const lua_Integer next = lua_tointeger(L, lua_upvalueindex(2));
    if (next >= t.num_rows()) return 0;
    const lua_Integer want = lua_tointeger(L, lua_upvalueindex(6));
    count = std::min<lua_Integer>(want, t.num_rows() - next);
    const int ncols = t.num_columns();
    lua_createtable(L, static_cast<int>(count), 0);
    for (lua_Integer r = 0; r < count; ++r) {
      lua_createtable(L, 0, ncols);
      for (int c = 0; c < ncols; ++c) {
        const Column& col = *t.column(c);
        if (col.IsNull(next + r)) continue;
        PushCell(L, col, next + r);
        lua_setfield(L, -2, t.schema().fields[static_cast<size_t>(c)].name.c_str());
      }
      lua_rawseti(L, -2, r + 1);
    }
    lua_replace(L, lua_upvalueindex(3));
    lua_pushinteger(L, next + count);
    lua_replace(L, lua_upvalueindex(2));
    lua_pushinteger(L, count);
    lua_replace(L, lua_upvalueindex(5));
    pos = 1;
    LuaRun& run = RunOf(L);
    run.rows_read += count;
    if (run.ctx->progress) run.ctx->progress(run.rows_read);
  }
  lua_pushinteger(L, pos + 1);
  lua_replace(L, lua_upvalueindex(4));
  lua_rawgeti(L, lua_upvalueindex(3), pos);
  return 1;
}

int InputRows(lua_State* L) {
  InputAt(L, 1);
  const lua_Integer batch = luaL_optinteger(L, 2, kDefaultBatchRows);
  luaL_argcheck(L, batch > 0, 2, "the batch size must be positive");
  lua_pushvalue(L, 1);        // 1: the input
  lua_pushinteger(L, 0);      // 2: next row to fetch
  lua_pushnil(L);             // 3: current batch
  lua_pushinteger(L, 1);      // 4: position in the batch
  lua_pushinteger(L, 0);      // 5: rows in the batch
  lua_pushinteger(L, batch);  // 6: batch size
  lua_pushcclosure(L, InputRowsNext, 6);
  return 1;
}

int InputColumn(lua_State* L) {
  const Table& t = InputAt(L, 1);
  const Column& col = *t.column(InputColumnIndex(L, t, 2));
  CheckLimits(L);
  lua_createtable(L, static_cast<int>(t.num_rows()), 0);
  for (int64_t r = 0; r < t.num_rows(); ++r) {
    if (col.IsNull(r)) continue;
    PushCell(L, col, r);
    lua_rawseti(L, -2, r + 1);
  }
  return 1;
}

int InputColumns(lua_State* L) {
  const Table& t = InputAt(L, 1);
  lua_createtable(L, t.num_columns(), 0);
  for (int c = 0; c < t.num_columns(); ++c) {
    lua_pushstring(L, t.schema().fields[static_cast<size_t>(c)].name.c_str());
    lua_rawseti(L, -2, c + 1);
  }
  return 1;
}

int InputSchema(lua_State* L) {
  const Table& t = InputAt(L, 1);
  lua_createtable(L, t.num_columns(), 0);
  for (int c = 0; c < t.num_columns(); ++c) {
    const Field& f = t.schema().fields[static_cast<size_t>(c)];
    lua_createtable(L, 0, 2);
    lua_pushstring(L, f.name.c_str());
    lua_setfield(L, -2, "name");
    lua_pushstring(L, TypeName(f.type));
    lua_setfield(L, -2, "type");
    lua_rawseti(L, -2, c + 1);
  }
  return 1;
}

int InputLen(lua_State* L) {
  lua_pushinteger(L, InputAt(L, 1).num_rows());
  return 1;
}

int InputIndex(lua_State* L) {
  int which = 0;
  const Table& t = InputAt(L, 1, &which);
  const char* key = luaL_checkstring(L, 2);
  if (std::strcmp(key, "num_rows") == 0) {
    lua_pushinteger(L, t.num_rows());
  } else if (std::strcmp(key, "name") == 0) {
    lua_pushstring(L, RunOf(L).ctx->inputs[static_cast<size_t>(which)].name.c_str());
  } else {
    luaL_getmetatable(L, kInputMeta);
    lua_getfield(L, -1, "methods");
    lua_getfield(L, -1, key);
  }
  return 1;
}

// ---- outputs ----------------------------------------------------------------

OutputBuilder& OutputAt(lua_State* L, int idx) {
  auto* i = static_cast<int*>(luaL_checkudata(L, idx, kOutputMeta));
  return RunOf(L).outputs[static_cast<size_t>(*i)];
}

// Raises a Lua error after a C++ exception (no C++ object is alive then).
#define ALAMBIC_LUA_GUARD(...)                                    \
  do {                                                            \
    bool alambic_oom_ = false;                                    \
    try {                                                         \
      __VA_ARGS__;                                                \
    } catch (const std::exception&) {                             \
      alambic_oom_ = true;                                        \
    }                                                             \
    if (alambic_oom_) luaL_error(L, "out of memory (host side)"); \
  } while (0)

// Checks then appends the row table at `idx`.
void AppendRow(lua_State* L, OutputBuilder& out, int idx, lua_Integer rownum) {
  luaL_checktype(L, idx, LUA_TTABLE);
  const size_t n = out.schema.fields.size();
  for (size_t c = 0; c < n; ++c) {
    const Field& f = out.schema.fields[c];
    lua_getfield(L, idx, f.name.c_str());
    const char* want = ReadCell(L, -1, f.type, &out.scratch[c]);
    if (want) {
      luaL_error(L, "output %s: row %d: column '%s' must be %s, got %s", out.name.c_str(),
                 static_cast<int>(rownum), f.name.c_str(), want, luaL_typename(L, -1));
    }
    lua_pop(L, 1);  // strings stay alive: the row table holds them
  }
  ALAMBIC_LUA_GUARD(for (size_t c = 0; c < n; ++c) AppendCell(*out.columns[c], out.scratch[c]));
}

lua_Integer OutputLength(const OutputBuilder& out) {
  return out.columns.empty() ? 0 : out.columns[0]->length();
}

int OutputAppend(lua_State* L) {
  OutputBuilder& out = OutputAt(L, 1);
  AppendRow(L, out, 2, OutputLength(out) + 1);
  return 0;
}

int OutputAppendRows(lua_State* L) {
  OutputBuilder& out = OutputAt(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  const lua_Integer n = static_cast<lua_Integer>(lua_rawlen(L, 2));
  for (lua_Integer i = 1; i <= n; ++i) {
    lua_rawgeti(L, 2, i);
    AppendRow(L, out, lua_gettop(L), OutputLength(out) + 1);
    lua_pop(L, 1);
  }
  CheckLimits(L);
  return 0;
}

int OutputAppendColumn(lua_State* L) {
  OutputBuilder& out = OutputAt(L, 1);
  const char* name = luaL_checkstring(L, 2);
  luaL_checktype(L, 3, LUA_TTABLE);
  const lua_Integer n = luaL_optinteger(L, 4, static_cast<lua_Integer>(lua_rawlen(L, 3)));
  const int c = out.schema.FieldIndex(name);
  if (c < 0) return luaL_error(L, "output %s: no column '%s' declared", out.name.c_str(), name);
  const Field& f = out.schema.fields[static_cast<size_t>(c)];
  ColumnBuilder& b = *out.columns[static_cast<size_t>(c)];
  Cell cell;
  for (lua_Integer i = 1; i <= n; ++i) {
    lua_rawgeti(L, 3, i);
    const char* want = ReadCell(L, -1, f.type, &cell);
    if (want)
      return luaL_error(L, "output %s: column '%s': value %d must be %s, got %s", out.name.c_str(),
                        name, static_cast<int>(i), want, luaL_typename(L, -1));
    ALAMBIC_LUA_GUARD(AppendCell(b, cell));
    lua_pop(L, 1);
  }
  CheckLimits(L);
  return 0;
}

int OutputNumRows(lua_State* L) {
  lua_pushinteger(L, OutputLength(OutputAt(L, 1)));
  return 1;
}

// output([name,] {"col:type", ...})
int DeclareOutput(lua_State* L) {
  LuaRun& run = RunOf(L);
  int schema_arg = 2;
  const char* name = nullptr;
  if (lua_type(L, 1) == LUA_TTABLE) {
    schema_arg = 1;
    if (run.outputs.size() != 1)
      return luaL_error(L, "output(): name the output (this recipe has %d)",
                        static_cast<int>(run.outputs.size()));
    name = run.outputs[0].name.c_str();
  } else {
    name = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
  }
  int which = -1;
  for (size_t k = 0; k < run.outputs.size(); ++k)
    if (run.outputs[k].name == name) which = static_cast<int>(k);
  if (which < 0) return luaL_error(L, "output(): '%s' is not an output of this recipe", name);
  OutputBuilder& out = run.outputs[static_cast<size_t>(which)];
  if (out.declared) return luaL_error(L, "output(): '%s' is already declared", name);
  const lua_Integer n = static_cast<lua_Integer>(lua_rawlen(L, schema_arg));
  if (n == 0) return luaL_error(L, "output(): '%s' needs at least one \"column:type\"", name);
  char problem[320] = "";
  LuaSandbox* sandbox = LuaSandbox::From(L);
  bool over_limit = false;
  ALAMBIC_LUA_GUARD({
    Schema schema;
    std::unordered_set<std::string_view> seen;  // views into `names`' strings
    std::vector<std::string> names;
    names.reserve(static_cast<size_t>(n));
    for (lua_Integer i = 1; i <= n && !problem[0]; ++i) {
      if (i % 1024 == 0 && sandbox->ChargeNoRaise(1024)) {
        over_limit = true;
        break;
      }
      lua_rawgeti(L, schema_arg, i);  // these calls do not raise errors
      const char* spec = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : nullptr;
      const std::string_view sv = spec ? spec : "";
      const size_t colon = sv.rfind(':');
      auto type = colon == std::string_view::npos || colon == 0
                      ? Result<TypeId>(Status::Invalid("no type"))
                      : ParseTypeName(sv.substr(colon + 1));
      if (!type.ok()) {
        std::snprintf(problem, sizeof problem,
                      "column %d must be \"name:type\" (types: int64, float64, bool, utf8, "
                      "date32, timestamp), got '%.200s'",
                      static_cast<int>(i), spec ? spec : "(not a string)");
      } else if (names.emplace_back(sv.substr(0, colon)), !seen.insert(names.back()).second) {
        std::snprintf(problem, sizeof problem, "column %d repeats the name of '%.200s'",
                      static_cast<int>(i), spec);
      } else {
        schema.fields.push_back({names.back(), *type});
      }
      lua_pop(L, 1);
    }
    if (!problem[0] && !over_limit) {
      out.schema = std::move(schema);
      for (const auto& f : out.schema.fields)
        out.columns.push_back(std::make_unique<ColumnBuilder>(f.type));
      out.scratch.resize(out.schema.fields.size());
      out.declared = true;
    }
  });
  if (over_limit) CheckLimits(L);
  if (problem[0]) return luaL_error(L, "output(): '%s': %s", name, problem);
  auto* ud = static_cast<int*>(lua_newuserdatauv(L, sizeof(int), 0));
  *ud = which;
  luaL_setmetatable(L, kOutputMeta);
  return 1;
}

int Progress(lua_State* L) {
  const lua_Integer rows = luaL_checkinteger(L, 1);
  LuaRun& run = RunOf(L);
  if (run.ctx->progress) ALAMBIC_LUA_GUARD(run.ctx->progress(rows));
  return 0;
}

// Sets up the globals; runs under the sandbox's limits.
int SetupGlobals(lua_State* L) {
  LuaRun& run = RunOf(L);
  const luaL_Reg input_methods[] = {{"rows", InputRows},
                                    {"column", InputColumn},
                                    {"columns", InputColumns},
                                    {"schema", InputSchema},
                                    {nullptr, nullptr}};
  luaL_newmetatable(L, kInputMeta);
  luaL_newlib(L, input_methods);
  lua_setfield(L, -2, "methods");
  lua_pushcfunction(L, InputIndex);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, InputLen);
  lua_setfield(L, -2, "__len");
  lua_pushliteral(L, "input");
  lua_setfield(L, -2, "__name");
  lua_pushboolean(L, false);
  lua_setfield(L, -2, "__metatable");
  lua_pop(L, 1);

  const luaL_Reg output_methods[] = {{"append", OutputAppend},
                                     {"append_rows", OutputAppendRows},
                                     {"append_column", OutputAppendColumn},
                                     {"num_rows", OutputNumRows},
                                     {nullptr, nullptr}};
  luaL_newmetatable(L, kOutputMeta);
  luaL_newlib(L, output_methods);
  lua_setfield(L, -2, "__index");
  lua_pushboolean(L, false);
  lua_setfield(L, -2, "__metatable");
  lua_pop(L, 1);

  lua_createtable(L, static_cast<int>(run.ctx->inputs.size()), 0);
  for (size_t k = 0; k < run.ctx->inputs.size(); ++k) {
    auto* ud = static_cast<int*>(lua_newuserdatauv(L, sizeof(int), 0));
    *ud = static_cast<int>(k);
    luaL_setmetatable(L, kInputMeta);
    lua_pushvalue(L, -1);
    lua_rawseti(L, -3, static_cast<lua_Integer>(k + 1));
    lua_setfield(L, -2, run.ctx->inputs[k].name.c_str());
  }
  lua_rawgeti(L, -1, 1);
  lua_setglobal(L, "input");
  lua_setglobal(L, "inputs");
  lua_pushcfunction(L, DeclareOutput);
  lua_setglobal(L, "output");
  lua_pushcfunction(L, Progress);
  lua_setglobal(L, "progress");
  lua_pushstring(L, run.ctx->recipe.c_str());
  lua_setglobal(L, "recipe");
  LuaSandbox::From(L)->PushJson(*run.args);
  lua_setglobal(L, "args");
  return 0;
}

ResourceLimits LimitsFor(const nlohmann::json& params, ResourceLimits limits) {
  if (params.contains("memory_mb")) limits.memory_mb = params["memory_mb"].get<int64_t>();
  if (params.contains("instructions")) limits.instructions = params["instructions"].get<int64_t>();
  if (params.contains("timeout_s")) limits.timeout_s = params["timeout_s"].get<double>();
  return limits;
}

class LuaKind final : public RecipeKind {
 public:
  std::string name() const override { return "lua"; }
  const std::vector<ParamSpec>& params() const override {
    static const std::vector<ParamSpec> kParams = {
        {"args", ParamType::kMap, false, "values passed to the script as the global `args`"},
        {"memory_mb", ParamType::kInt, false, "memory cap (default: alambic.yaml lua.memory_mb)"},
        {"instructions", ParamType::kInt, false,
         "VM instruction cap (default: alambic.yaml lua.instructions)"},
        {"timeout_s", ParamType::kNumber, false,
         "wall-clock cap in seconds (default: alambic.yaml lua.timeout_s)"}};
    return kParams;
  }
  int min_inputs() const override { return 0; }
  int max_outputs() const override { return -1; }
  bool requires_script() const override { return true; }
  Status CheckParams(const nlohmann::json& params) const override {
    for (const char* k : {"memory_mb", "instructions", "timeout_s"})
      if (params.contains(k) && params[k].get<double>() < 0)
        return Status::Invalid(fmt::format("param '{}' must not be negative", k));
    return Status::Ok();
  }

  Result<RecipeOutput> Run(RecipeContext& ctx) const override {
    const std::string prefix = fmt::format("recipe {}", ctx.recipe);
    if (ctx.script.empty()) return Status::Invalid(prefix + ": kind lua needs a script");
    auto path = ctx.ResolvePath(ctx.script);
    if (!path.ok()) return path.status();
    std::ifstream f(*path, std::ios::binary);
    if (!f) return Status::IoError(fmt::format("{}: cannot read script {}", prefix, ctx.script));
    std::stringstream code;
    code << f.rdbuf();

    LuaRun run;
    run.ctx = &ctx;
    static const nlohmann::json kNoArgs = nlohmann::json::object();
    run.args = ctx.params && ctx.params->contains("args") ? &ctx.params->at("args") : &kNoArgs;
    for (const auto& o : ctx.outputs) run.outputs.push_back(OutputBuilder{o, false, {}, {}, {}});

    LuaSandbox::Options opt;
    opt.recipe = ctx.recipe;
    opt.limits = LimitsFor(ctx.params ? *ctx.params : kNoArgs, ctx.lua_limits);
    opt.cancel = ctx.cancel;
    opt.log = ctx.log;
    auto sandbox = LuaSandbox::Create(opt);
    if (!sandbox.ok()) return sandbox.status().WithContext(prefix);
    LuaSandbox& sb = **sandbox;
    sb.user = &run;
    lua_pushcfunction(sb.state(), SetupGlobals);
    Status st = sb.Call(0, 0);
    if (st.ok()) st = sb.RunChunk(code.str(), ctx.script);
    if (!st.ok()) {
      if (st.code() == StatusCode::kCancelled ||
          (st.code() == StatusCode::kTimedOut && ctx.cancel && ctx.cancel->cancelled()))
        return st;
      return st.WithContext(fmt::format("{}: script {}", prefix, ctx.script));
    }

    RecipeOutput out;
    nlohmann::json rows = nlohmann::json::object();
    for (auto& o : run.outputs) {
      if (!o.declared)
        return Status::Invalid(fmt::format(
            "{}: script {} never declared output '{}' (call output(\"{}\", {{\"col:type\", ...}}))",
            prefix, ctx.script, o.name, o.name));
      std::vector<ColumnPtr> cols;
      const int64_t n = o.columns[0]->length();
      for (size_t c = 0; c < o.columns.size(); ++c) {
        if (o.columns[c]->length() != n)
          return Status::Invalid(
              fmt::format("{}: script {}: output '{}': column '{}' has {} rows but '{}' has {}",
                          prefix, ctx.script, o.name, o.schema.fields[c].name,
                          o.columns[c]->length(), o.schema.fields[0].name, n));
        cols.push_back(o.columns[c]->Finish());
      }
      auto table = Table::Make(o.schema, std::move(cols), n);
      if (!table.ok()) return table.status().WithContext(prefix);
      rows[o.name] = n;
      out.tables.push_back(std::move(*table));
    }
    out.metrics["rows"] = std::move(rows);
    out.metrics["lua_instructions"] = sb.instructions();
    out.metrics["lua_peak_memory_bytes"] = sb.peak_memory();
    return out;
  }
};

}  // namespace

Status RegisterLuaKind(RecipeRegistry& r) { return r.Register(std::make_unique<LuaKind>()); }

}  // namespace alambic
