#include "recipes/lua/functions.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include <lua.hpp>

#include "core/table/expr.h"

namespace alambic {
namespace {

constexpr int64_t kLuaBatchRows = 1024;

// What a batch call works on; the sandbox's `user`.
struct BatchJob {
  const char* fn = nullptr;
  const std::vector<ColumnPtr>* args = nullptr;
  int64_t start = 0, count = 0;
  int64_t row = 0;  // the row being computed, for messages
};

void PushValue(lua_State* L, const Column& col, int64_t row) {
  if (col.IsNull(row)) return lua_pushnil(L);
  switch (col.type) {
    case TypeId::kInt64:
      return lua_pushinteger(L, col.Int64(row));
    case TypeId::kFloat64:
      return lua_pushnumber(L, col.Double(row));
    case TypeId::kBool:
      return lua_pushboolean(L, col.Bool(row));
    case TypeId::kUtf8: {
      const std::string_view s = col.String(row);
      lua_pushlstring(L, s.data(), s.size());
      return;
    }
    case TypeId::kDate32:
    case TypeId::kTimestamp: {
      char buf[64];
      size_t n = 0;
      {
        const std::string s = FormatCell(col, row);
        n = std::min(s.size(), sizeof buf);
        std::memcpy(buf, s.data(), n);
      }
      lua_pushlstring(L, buf, n);
      return;
    }
  }
}

// Calls the job's function on each row of the batch; leaves the results table.
int BatchCall(lua_State* L) {
  auto* job = static_cast<BatchJob*>(LuaSandbox::From(L)->user);
  const int nargs = static_cast<int>(job->args->size());
  luaL_checkstack(L, nargs + 4, "too many arguments");
  lua_createtable(L, static_cast<int>(job->count), 0);
  lua_getglobal(L, job->fn);
  for (int64_t r = 0; r < job->count; ++r) {
    job->row = job->start + r;
    lua_pushvalue(L, -1);
    for (const auto& a : *job->args) PushValue(L, *a, job->start + r);
    lua_call(L, nargs, 1);
    lua_rawseti(L, -3, r + 1);
  }
  lua_pop(L, 1);
  return 1;
}

struct Value {
  int type = LUA_TNIL;
  bool is_int = false;
  int64_t i = 0;
  double d = 0;
  bool b = false;
  std::string s;
};

bool IdentChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// Index just past the literal (string or quoted column) starting at `i`.
size_t SkipLiteral(const std::string& t, size_t i) {
  const char close = t[i] == '[' ? ']' : t[i];
  size_t j = i + 1;
  while (j < t.size()) {
    if (t[j] == close) {
      if (close != ']' && j + 1 < t.size() && t[j + 1] == close) {
        j += 2;
        continue;
      }
      return j + 1;
    }
    ++j;
  }
  return j;
}

bool StartsLiteral(char c) { return c == '\'' || c == '"' || c == '`' || c == '['; }

}  // namespace

Result<std::unique_ptr<LuaFunctions>> LuaFunctions::Load(const RecipeContext& ctx,
                                                         const std::vector<std::string>& files) {
  LuaSandbox::Options opt;
  opt.recipe = ctx.recipe;
  opt.limits = ctx.lua_limits;
  opt.cancel = ctx.cancel;
  opt.log = ctx.log;
  opt.deterministic = true;
  auto fns = std::unique_ptr<LuaFunctions>(new LuaFunctions());
  ALAMBIC_ASSIGN_OR_RETURN(fns->sandbox_, LuaSandbox::Create(opt));
  lua_State* L = fns->sandbox_->state();
  std::set<std::string> before;
  auto globals = [&](std::set<std::string>* out) {
    lua_pushglobaltable(L);
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TFUNCTION)
        out->insert(lua_tostring(L, -2));
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  };
  globals(&before);
  for (const auto& f : files) {
    ALAMBIC_ASSIGN_OR_RETURN(auto path, ctx.ResolvePath(f));
    std::ifstream in(path, std::ios::binary);
    if (!in) return Status::IoError(fmt::format("cannot read functions file {}", f));
    std::stringstream code;
    code << in.rdbuf();
    Status st = fns->sandbox_->RunChunk(code.str(), f);
    if (!st.ok()) return st.WithContext(fmt::format("functions file {}", f));
  }
  std::set<std::string> after;
  globals(&after);
  for (const auto& n : after)
    if (!before.count(n)) fns->names_.insert(n);
  return fns;
}

Result<ColumnPtr> LuaFunctions::CallOn(const std::string& fn, const std::vector<ColumnPtr>& args,
                                       int64_t rows) {
  std::vector<Value> values(static_cast<size_t>(rows));
  BatchJob job;
  job.fn = fn.c_str();
  job.args = &args;
  sandbox_->user = &job;
  lua_State* L = sandbox_->state();
  for (int64_t start = 0; start < rows; start += kLuaBatchRows) {
    job.start = start;
    job.count = std::min(kLuaBatchRows, rows - start);
    lua_pushcfunction(L, BatchCall);
    Status st = sandbox_->Call(0, 1);
    if (!st.ok()) return st.WithContext(fmt::format("function {} (row {})", fn, job.row + 1));
    for (int64_t r = 0; r < job.count; ++r) {
      Value& v = values[static_cast<size_t>(start + r)];
      lua_rawgeti(L, -1, r + 1);
      v.type = lua_type(L, -1);
      if (v.type == LUA_TNUMBER) {
        v.is_int = lua_isinteger(L, -1);
        v.i = lua_tointeger(L, -1);
        v.d = lua_tonumber(L, -1);
      } else if (v.type == LUA_TBOOLEAN) {
        v.b = lua_toboolean(L, -1);
      } else if (v.type == LUA_TSTRING) {
        size_t n = 0;
        const char* s = lua_tolstring(L, -1, &n);
        v.s.assign(s, n);
      } else if (v.type != LUA_TNIL) {
        const std::string got = luaL_typename(L, -1);
        lua_pop(L, 2);
        return Status::Invalid(
            fmt::format("function {} (row {}): returned a {}, not a number, "
                        "string, boolean or nil",
                        fn, start + r + 1, got));
      }
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  // The result type: that of the values returned.
  bool any_int = false, any_float = false, any_bool = false, any_string = false;
  for (const auto& v : values) {
    any_int |= v.type == LUA_TNUMBER && v.is_int;
    any_float |= v.type == LUA_TNUMBER && !v.is_int;
    any_bool |= v.type == LUA_TBOOLEAN;
    any_string |= v.type == LUA_TSTRING;
  }
  const int kinds = (any_int || any_float) + any_bool + any_string;
  if (kinds > 1)
    return Status::Invalid(fmt::format(
        "function {} returned values of different types (numbers, strings, booleans)", fn));
  const TypeId type = any_float  ? TypeId::kFloat64
                      : any_int  ? TypeId::kInt64
                      : any_bool ? TypeId::kBool
                                 : TypeId::kUtf8;
  ColumnBuilder b(type);
  b.Reserve(rows);
  for (const auto& v : values) {
    if (v.type == LUA_TNIL) {
      b.AppendNull();
    } else if (type == TypeId::kFloat64) {
      b.AppendDouble(v.is_int ? static_cast<double>(v.i) : v.d);
    } else if (type == TypeId::kInt64) {
      b.AppendInt64(v.i);
    } else if (type == TypeId::kBool) {
      b.AppendBool(v.b);
    } else {
      b.AppendString(v.s);
    }
  }
  return ColumnPtr(b.Finish());
}

Result<std::string> LuaFunctions::Rewrite(const std::string& text, Table* table) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (StartsLiteral(c)) {
      const size_t j = SkipLiteral(text, i);
      out.append(text, i, j - i);
      i = j;
      continue;
    }
    if (!(std::isalpha(static_cast<unsigned char>(c)) || c == '_') ||
        (i > 0 && IdentChar(text[i - 1]))) {
      out += c;
      ++i;
      continue;
    }
    size_t j = i;
    while (j < text.size() && IdentChar(text[j])) ++j;
    const std::string ident = text.substr(i, j - i);
    size_t k = j;
    while (k < text.size() && std::isspace(static_cast<unsigned char>(text[k]))) ++k;
    if (!names_.count(ident) || k >= text.size() || text[k] != '(') {
      out += ident;
      i = j;
      continue;
    }
    // The arguments: split at top-level commas up to the matching ')'.
    std::vector<std::string> args;
    std::string cur;
    int depth = 0;
    size_t p = k + 1;
    bool closed = false;
    while (p < text.size()) {
      const char d = text[p];
      if (StartsLiteral(d)) {
        const size_t q = SkipLiteral(text, p);
        cur.append(text, p, q - p);
        p = q;
        continue;
      }
      if (d == '(') ++depth;
      if (d == ')' && depth-- == 0) {
        closed = true;
        ++p;
        break;
      }
      if (d == ',' && depth == 0) {
        args.push_back(cur);
        cur.clear();
      } else {
        cur += d;
      }
      ++p;
    }
    if (!closed) return Status::Invalid(fmt::format("call of {}: missing ')'", ident));
    if (!args.empty() || cur.find_first_not_of(" \t\n") != std::string::npos) args.push_back(cur);
    std::vector<ColumnPtr> cols;
    for (const auto& a : args) {
      ALAMBIC_ASSIGN_OR_RETURN(std::string inner, Rewrite(a, table));
      auto typed = Compile(inner, table->schema());
      if (!typed.ok()) return typed.status().WithContext(fmt::format("argument of {}", ident));
      ALAMBIC_ASSIGN_OR_RETURN(ColumnPtr col, typed->Evaluate(*table));
      cols.push_back(std::move(col));
    }
    ALAMBIC_ASSIGN_OR_RETURN(ColumnPtr result, CallOn(ident, cols, table->num_rows()));
    const std::string name = fmt::format("__lua_{}", ++next_);
    Schema schema = table->schema();
    schema.fields.push_back({name, result->type});
    std::vector<ColumnPtr> all = table->columns();
    all.push_back(std::move(result));
    ALAMBIC_ASSIGN_OR_RETURN(*table,
                             Table::Make(std::move(schema), std::move(all), table->num_rows()));
    out += name;
    i = p;
  }
  return out;
}

}  // namespace alambic
