// Column-level lineage of a SQLite query, for the sql kind.
//
// SQLite says which table columns a statement reads (the authorizer's
// SQLITE_READ, once per reference, while preparing). Lineage compares reads:
// the columns output column i is computed from are the reads of the query less
// the reads of the same query with the i-th result expression replaced by NULL.
// The query text is only split (top-level SELECT list and clauses), never
// interpreted: SQLite resolves every name.
//
// Kinds of edges: identity (the result column is an input column, as SQLite's
// column origin says), aggregation (its expression calls an aggregate or window
// function; also the GROUP BY columns of such a column), transformation
// (anything else it reads), join_key (columns named in JOIN ... ON / USING) and
// filter (columns named in WHERE / HAVING), the last two for every output
// column. Reads through a CTE or a subquery in FROM are not reported per
// column, so a query with one (or the splitter does not handle: compound
// SELECT, VALUES, `*`) gets identity edges for the result columns SQLite gives
// an origin, and nothing for the others (they stay opaque).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/recipe/recipe.h"

namespace alambic {

// A table column a statement reads: (table, column).
using SqlRead = std::pair<std::string, std::string>;

// What SqlColumnLineage needs from the caller's SQLite connection.
struct SqlStatementInfo {
  std::vector<std::string> column_names;        // result columns, in order
  std::vector<std::optional<SqlRead>> origins;  // per result column, when it is a table column
  std::vector<std::string> inputs;              // input datasets (= table names)
  // Prepares `sql` on the connection and returns its reads, every one (a
  // column read twice is listed twice); nullopt when it does not prepare.
  std::function<std::optional<std::vector<SqlRead>>(const std::string& sql)> reads;
};

// Output column -> its input columns. Columns left out are opaque.
std::map<std::string, std::vector<ColumnSource>> SqlColumnLineage(std::string_view sql,
                                                                  const SqlStatementInfo& info);

}  // namespace alambic
