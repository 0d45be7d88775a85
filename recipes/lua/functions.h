// Lua scalar functions in formula expressions (`functions: recipes/x.lua` on a
// formula recipe): every global function the files define can be called in
// the recipe's expressions like a built-in one, e.g. normalise_address(adresse).
//
// Calls are evaluated before the rest of the expression, on whole columns:
// the arguments are computed by the expression engine, then the function runs
// over batches of rows (one call from C++ into Lua per batch), and its results
// become a temporary column the expression reads. The result type is that of
// the values returned (integers: int64; other numbers: float64; strings: utf8;
// booleans: bool; nil: null). The sandbox is the Lua recipes' (recipes/lua/sandbox.h),
// without os.time/os.clock/os.date and math.random, so results depend only on
// the arguments.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/base/status.h"
#include "core/recipe/recipe.h"
#include "core/table/table.h"
#include "recipes/lua/sandbox.h"

namespace alambic {

class LuaFunctions {
 public:
  // Loads the files (workspace-relative) in one fresh sandbox.
  static Result<std::unique_ptr<LuaFunctions>> Load(const RecipeContext& ctx,
                                                    const std::vector<std::string>& files);
  // Evaluates every call of a Lua function in `text` on `*table`, appending a
  // temporary column (named "__lua_<n>") per call, and returns the expression
  // with each call replaced by its column. Errors name the function, the file
  // and line of the Lua error, and the row.
  Result<std::string> Rewrite(const std::string& text, Table* table);
  const std::set<std::string>& names() const { return names_; }
  static bool IsTemporary(const std::string& column) { return column.rfind("__lua_", 0) == 0; }

 private:
  Result<ColumnPtr> CallOn(const std::string& fn, const std::vector<ColumnPtr>& args, int64_t rows);
  std::unique_ptr<LuaSandbox> sandbox_;
  std::set<std::string> names_;
  int next_ = 0;
};

}  // namespace alambic
