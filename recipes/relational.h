// Helpers shared by the relational kinds (group, join, sort, distinct, top,
// window, split): reading column-list params and naming missing columns.
// Internal to recipes/.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/base/status.h"
#include "core/recipe/recipe.h"
#include "core/table/keys.h"
#include "core/table/table.h"

namespace alambic {

// A list of distinct, non-empty column names in `params[param]`. A single
// string is read as a one-entry list. Absent: an empty list, or an error when
// `required`.
Result<std::vector<std::string>> ColumnListParam(const nlohmann::json& params,
                                                 const std::string& param, bool required);

// "a, b, c": the column names of a schema, for messages.
std::string ColumnNames(const Schema& schema);

// The index of `column` in `input`, or Invalid: "PLACE: column 'c' not in
// input 'exams' (columns: a, b)", PLACE being e.g. "param 'keys'".
Result<int> FindColumn(const NamedTable& input, const std::string& place,
                       const std::string& column);

// How a two-input kind (join, fuzzy_join) names a column that both inputs
// have: the left one becomes prefixes[0] + name + suffixes[0], the right one
// prefixes[1] + name + suffixes[1]. One convention for every two-input kind:
// `suffixes` defaults to ["", "_right"] (the left name is kept, as in SQL
// and pandas), `prefixes` to ["", ""]; `prefixes: [left_, right_]` with
// `suffixes: ["", ""]` gives the symmetric form.
struct ClashNaming {
  std::string left_prefix, right_prefix;
  std::string left_suffix, right_suffix = "_right";
  std::string Left(const std::string& name) const { return left_prefix + name + left_suffix; }
  std::string Right(const std::string& name) const { return right_prefix + name + right_suffix; }
};
// Reads `suffixes` and `prefixes` (each a list of two strings). When only
// `prefixes` is given, the suffixes are empty. The two sides must differ.
Result<ClashNaming> ClashNamingParam(const nlohmann::json& params);

// The join kind's params (recipes/join.cc), also read by its push-down to
// PostgreSQL (recipes/pg_pushdown.cc): `type` (inner, left, right, full or
// outer, anti or left_anti, semi or left_semi), `on` or `left_on`/`right_on`,
// `normalize` (kKey* flags of core/table/similarity.h), `suffixes`/`prefixes`,
// `right_prefix`.
enum class JoinType { kInner, kLeft, kRight, kFull, kAnti, kSemi };
struct JoinParams {
  JoinType type = JoinType::kInner;
  std::vector<std::string> left_on, right_on;
  bool same_names = false;  // `on`
  unsigned normalize = 0;
  ClashNaming naming;  // `suffixes` / `prefixes` of a name on both sides
  std::string right_prefix;
};
Result<JoinParams> ParseJoinParams(const nlohmann::json& params);

// One sort key as written in params: "col", "-col" (descending), or a mapping
// {column: col, desc: true, nulls: first|last}. Default nulls: first when
// ascending, last when descending (SQLite's order).
struct OrderTerm {
  std::string column;
  bool descending = false;
  bool nulls_first = true;
};
Result<std::vector<OrderTerm>> OrderParam(const nlohmann::json& params, const std::string& param,
                                          bool required);
// Resolves order terms against an input.
Result<std::vector<SortKey>> ResolveOrder(const NamedTable& input, const std::string& param,
                                          const std::vector<OrderTerm>& terms);

// Prefixes a Status with "recipe NAME".
inline Status InRecipe(const RecipeContext& ctx, const Status& s) {
  return s.WithContext("recipe " + ctx.recipe);
}

// Identity lineage for every column of `t` taken from `input`.
std::map<std::string, std::vector<ColumnSource>> IdentityLineage(const Table& t,
                                                                 const std::string& input);

// The rows `rows` of every column of `t`.
Result<Table> TakeTable(const Table& t, const std::vector<int64_t>& rows);

// The window kind's params (recipes/window.cc), also read by its push-down to
// PostgreSQL (recipes/pg_pushdown.cc): `partition_by`, `order_by` and
// `columns`, each {name, fn, column, offset, frame: {preceding, following}}.
enum class WinFn { kRowNumber, kRank, kDenseRank, kLag, kLead, kSum, kMean, kCount, kMin, kMax };
inline constexpr int64_t kUnboundedFrame = std::numeric_limits<int64_t>::max();
struct WinColumn {
  std::string name;
  WinFn fn = WinFn::kRowNumber;
  std::string fn_text, column;
  int64_t offset = 1;
  int64_t preceding = kUnboundedFrame, following = 0;
};
struct WindowParams {
  std::vector<std::string> partition_by;
  std::vector<OrderTerm> order_by;
  std::vector<WinColumn> columns;
};
// Whether `fn` reads a column (all but the ranking functions), and takes a frame.
bool NeedsColumn(WinFn fn);
bool IsFramed(WinFn fn);
Result<WindowParams> ParseWindowParams(const nlohmann::json& params);

}  // namespace alambic
