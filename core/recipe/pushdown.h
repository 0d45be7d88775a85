// Push-down: a recipe of a built-in kind run as one SQL query inside the
// database of a PostgreSQL store (core/store/pg_store.h) when its inputs are
// there, instead of pulling them through the local engine. The kinds' own
// translations (recipes/pg_pushdown.cc) register with the kinds; the runner
// (core/exec/pushdown_run.h) and `plan --explain` ask them.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/base/status.h"
#include "core/flow/flow.h"
#include "core/table/table.h"

namespace alambic {

// One input of a recipe as a table of the database.
struct SqlInputTable {
  std::string dataset;
  std::string table;  // qualified and quoted: "schema"."v_..."
  Schema schema;      // its columns (without the row position column)
};

// Quoting by the database's client library (identifiers and string literals).
class SqlQuoter {
 public:
  virtual ~SqlQuoter() = default;
  virtual std::string Ident(std::string_view name) const = 0;
  virtual std::string Literal(std::string_view value) const = 0;
};

// A query and its parameters ($1, $2, ...: text, bound by the client
// library, never pasted into the query).
struct SqlQuery {
  std::string sql;
  std::vector<std::string> params;
};

class SqlPushdown {
 public:
  virtual ~SqlPushdown() = default;
  // Why `recipe` cannot run inside PostgreSQL ("" : it can), from its kind and
  // params alone (pure: `plan --explain` asks it), e.g. "formula column 'x':
  // matches() uses PCRE2 regular expressions, not PostgreSQL's". A reason that
  // depends on the inputs' column types (e.g. % on float64) is found by
  // Translate instead, which then fails with "not expressible: ...".
  virtual std::string WhyNot(const RecipeSpec& recipe) const = 0;
  // The SELECT computing the recipe's (single) output from `inputs`: the
  // output's columns, in the local engine's order and types, then the row
  // position column `row_column` (the output's row order). An error when the
  // inputs do not fit (a missing column, a name clash): the recipe then runs
  // in the local engine, which reports it as it does.
  virtual Result<SqlQuery> Translate(const RecipeSpec& recipe,
                                     const std::vector<SqlInputTable>& inputs, const SqlQuoter& q,
                                     const std::string& row_column) const = 0;
};

}  // namespace alambic
