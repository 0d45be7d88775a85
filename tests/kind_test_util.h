// Helpers for the tests of the relational recipe kinds: building small tables,
// running a kind over named inputs, reading cells back, and comparing a table
// with SQLite's answer (through the sql kind) value by value.
#pragma once

#include <cmath>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/recipe/recipe.h"
#include "tests/test_util.h"

namespace alambic::testing {

inline ColumnPtr Ints(const std::vector<std::optional<int64_t>>& v) {
  ColumnBuilder b(TypeId::kInt64);
  for (const auto& x : v) x ? b.AppendInt64(*x) : b.AppendNull();
  return b.Finish();
}
inline ColumnPtr Doubles(const std::vector<std::optional<double>>& v) {
  ColumnBuilder b(TypeId::kFloat64);
  for (const auto& x : v) x ? b.AppendDouble(*x) : b.AppendNull();
  return b.Finish();
}
inline ColumnPtr Strings(const std::vector<std::optional<std::string>>& v) {
  ColumnBuilder b(TypeId::kUtf8);
  for (const auto& x : v) x ? b.AppendString(*x) : b.AppendNull();
  return b.Finish();
}
inline ColumnPtr Bools(const std::vector<std::optional<bool>>& v) {
  ColumnBuilder b(TypeId::kBool);
  for (const auto& x : v) x ? b.AppendBool(*x) : b.AppendNull();
  return b.Finish();
}

inline NamedTable MakeInput(const std::string& name,
                            const std::vector<std::pair<std::string, ColumnPtr>>& columns) {
  Schema s;
  std::vector<ColumnPtr> cols;
  for (const auto& [n, c] : columns) {
    s.fields.push_back({n, c->type});
    cols.push_back(c);
  }
  auto t = Table::Make(std::move(s), std::move(cols));
  EXPECT_TRUE(t.ok()) << t.status().message();
  return {name, std::make_shared<const Table>(std::move(*t))};
}

// Cells of a column as text, "null" for nulls.
inline std::vector<std::string> Cells(const Table& t, const std::string& column) {
  ColumnPtr c = t.ColumnByName(column);
  EXPECT_NE(c, nullptr) << column;
  std::vector<std::string> out;
  if (!c) return out;
  for (int64_t i = 0; i < c->length; ++i) out.push_back(c->IsNull(i) ? "null" : FormatCell(*c, i));
  return out;
}

// Runs a built-in kind on `inputs` with `outputs` output names.
inline Result<RecipeOutput> RunKind(const std::string& kind, const nlohmann::json& params,
                                    std::vector<NamedTable> inputs,
                                    std::vector<std::string> outputs = {"out"}) {
  RecipeContext ctx;
  ctx.recipe = "r";
  ctx.params = &params;
  ctx.inputs = std::move(inputs);
  ctx.outputs = std::move(outputs);
  CancelToken cancel;
  ctx.cancel = &cancel;
  const RecipeKind* k = alambic::testing::BuiltinKinds().Find(kind);
  if (!k) return Status::NotFound("no kind " + kind);
  return k->Run(ctx);
}

inline std::string CheckKindParams(const std::string& kind, const nlohmann::json& params) {
  return alambic::testing::BuiltinKinds().Find(kind)->CheckParams(params).message();
}

// Compares `ours` with `oracle` (SQLite's result) cell by cell: same shape and
// names; numbers (int64, float64, bool) numerically, floats within a relative
// tolerance; everything else by its text form. Returns the first difference,
// or "" when they match.
inline std::string DiffTables(const Table& ours, const Table& oracle, double rel_tol = 1e-9) {
  if (ours.num_columns() != oracle.num_columns())
    return "columns: " + ours.schema().ToString() + " vs " + oracle.schema().ToString();
  if (ours.num_rows() != oracle.num_rows())
    return "rows: " + std::to_string(ours.num_rows()) + " vs " + std::to_string(oracle.num_rows());
  auto numeric = [](TypeId t) {
    return t == TypeId::kInt64 || t == TypeId::kFloat64 || t == TypeId::kBool;
  };
  auto number = [](const Column& c, int64_t i) -> long double {
    if (c.type == TypeId::kInt64) return static_cast<long double>(c.Int64(i));
    if (c.type == TypeId::kBool) return c.Bool(i) ? 1 : 0;
    return c.Double(i);
  };
  for (int j = 0; j < ours.num_columns(); ++j) {
    const std::string& name = ours.schema().fields[static_cast<size_t>(j)].name;
    if (name != oracle.schema().fields[static_cast<size_t>(j)].name)
      return "column " + std::to_string(j) + " is '" + name + "' vs '" +
             oracle.schema().fields[static_cast<size_t>(j)].name + "'";
    const Column& a = *ours.column(j);
    const Column& b = *oracle.column(j);
    for (int64_t i = 0; i < ours.num_rows(); ++i) {
      const std::string where = "row " + std::to_string(i) + ", column '" + name + "': ";
      if (a.IsNull(i) || b.IsNull(i)) {
        if (a.IsNull(i) != b.IsNull(i))
          return where + (a.IsNull(i) ? "null" : FormatCell(a, i)) + " vs " +
                 (b.IsNull(i) ? "null" : FormatCell(b, i));
        continue;
      }
      bool same;
      if (numeric(a.type) && numeric(b.type)) {
        const long double x = number(a, i), y = number(b, i);
        if (a.type == TypeId::kFloat64 || b.type == TypeId::kFloat64)
          same = std::fabs(static_cast<double>(x - y)) <=
                 rel_tol * std::max<double>(1.0, std::fabs(static_cast<double>(y)));
        else
          same = x == y;
      } else {
        same = FormatCell(a, i) == FormatCell(b, i);
      }
      if (!same) return where + FormatCell(a, i) + " vs " + FormatCell(b, i);
    }
  }
  return "";
}

// SQLite's answer to `query` over `inputs`, through the sql kind.
inline Table SqliteAnswer(const std::string& query, const std::vector<NamedTable>& inputs) {
  auto r = RunKind("sql", {{"query", query}}, inputs);
  EXPECT_TRUE(r.ok()) << r.status().message() << "\n" << query;
  return r.ok() ? r->tables.at(0) : Table();
}

}  // namespace alambic::testing
