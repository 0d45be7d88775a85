// Expressions over table columns: the formula language of the `formula`,
// `filter` and `check` recipes (reference: docs/expressions.md).
//
// Text is parsed into a syntax tree (ParseExpr: syntax only, no schema), then
// type-checked against a schema (Compile), then evaluated on whole columns
// (TypedExpr::Evaluate): every node of the tree produces one Column for all
// rows at once, with validity bitmaps for nulls. Evaluation does not fail on
// data: division by zero, int64 overflow and unparseable casts give null. The
// one exception is matches(), whose regular expression (core/table/regex.h)
// fails the evaluation when a value makes it reach its backtracking limits:
// "matches() on column 'c', row 7: the regular expression '(a+)+$': match
// limit exceeded (...)".
//
// Errors name the place as line:column (1-based, columns counted in characters)
// of the offending token, e.g. "1:7: cannot add utf8 and int64" or
// "1:14: unknown column 'scor' (columns: id, score)".
//
// Parsed and compiled expressions are immutable and safe to share between
// threads.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/status.h"
#include "core/table/table.h"

namespace alambic {

struct ExprNode;  // the syntax tree, private to core/table/expr/

// A parsed, not yet type-checked expression.
class Expr {
 public:
  const std::string& text() const { return text_; }
  // Names of the columns the expression references, in order of first
  // appearance, without repeats.
  const std::vector<std::string>& columns() const { return columns_; }

 private:
  friend Result<Expr> ParseExpr(std::string_view text);
  friend class ExprCompiler;
  friend class ExprSqlWriter;
  std::string text_;
  std::shared_ptr<const ExprNode> root_;
  std::vector<std::string> columns_;
};

// Parses `text`; errors are "line:col: message".
Result<Expr> ParseExpr(std::string_view text);

// A type-checked expression, ready to evaluate on tables of the schema it was
// compiled against.
class TypedExpr {
 public:
  // Type of the result column. A bare `null` is utf8.
  TypeId type() const { return type_; }
  const std::string& text() const { return text_; }
  const std::vector<std::string>& columns() const { return columns_; }

  // Evaluates on every row of `table`, which must hold the referenced columns
  // with the types seen at compile time (checked: Invalid otherwise). Returns
  // a column of table.num_rows() rows of type type(); utf8 results computed
  // from a dictionary-encoded column may be dictionary-encoded.
  Result<ColumnPtr> Evaluate(const Table& table) const;

 private:
  friend class ExprCompiler;
  friend class ExprSqlWriter;
  std::string text_;
  std::shared_ptr<const ExprNode> root_;
  std::vector<std::string> columns_;
  TypeId type_ = TypeId::kUtf8;
};

// Parses and type-checks `text` against `schema`.
Result<TypedExpr> Compile(std::string_view text, const Schema& schema);
// Type-checks an already parsed expression.
Result<TypedExpr> Compile(const Expr& expr, const Schema& schema);

// SQL translation (core/table/expr/to_sql.cc): the SQL of a column
// reference, quoted by the caller (e.g. `t."my col"`).
using SqlColumnRef = std::function<std::string(const std::string& column)>;

// `e` as one PostgreSQL expression that computes, row by row, what Evaluate
// computes (same type, nulls, overflow, NaN, byte-wise text order, dates in
// UTC). Every literal is appended to `params` (text form) and referenced as
// $k::type, k its 1-based position in `params`; nothing from the expression's
// text is pasted into the SQL. An error "not expressible: <why>" when the
// expression uses a function or a semantics PostgreSQL cannot reproduce
// exactly (matches(), substr(), round() of a float64, % on float64, ...);
// `params` is then left as it was.
Result<std::string> ToPostgresSql(const TypedExpr& e, const SqlColumnRef& column,
                                  std::vector<std::string>* params);
// Why `e` can never be written as SQL whatever the column types ("" when it
// may be): a call of a function ToPostgresSql refuses by name (matches(),
// substr(), unknown functions). Pure: `plan --explain` asks it.
std::string SqlRefusedCall(const Expr& e);
// Whether `st` is ToPostgresSql's "not expressible" error.
bool IsNotExpressible(const Status& st);

// The name of `candidates` closest to `name` for a "did you mean" hint: the
// first with the smallest Damerau-Levenshtein distance (case ignored) when
// that distance is at most a third of the name's length (at least 1), else "".
std::string ClosestName(std::string_view name, const std::vector<std::string>& candidates);

// The rows `rows` (ascending or not, each in [0, col.length)) of `col`, in that
// order. A dictionary-encoded column stays encoded with the same dictionary.
ColumnPtr TakeRows(const Column& col, const std::vector<int64_t>& rows);

}  // namespace alambic
