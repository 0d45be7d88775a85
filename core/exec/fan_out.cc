#include "core/exec/fan_out.h"

#include <algorithm>
#include <tuple>
#include <unordered_map>

#include <fmt/format.h>

#include "core/table/expr.h"

namespace alambic {

std::string FanOutRefusal(const RecipeSpec& recipe) {
  if (recipe.kind != "filter" && recipe.kind != "formula")
    return fmt::format(
        "kind {} does not work row by row (only filter and formula run per partition)",
        recipe.kind);
  if (recipe.inputs.size() != 1) return "it has more than one input";
  if (recipe.kind == "filter" && recipe.params.contains("keep"))
    return "a filter with 'keep' drops the row numbers the partitions are put back in order by";
  if (recipe.kind == "formula" && recipe.params.contains("functions"))
    return "a formula's Lua functions may keep state across rows";
  return "";
}

Result<Partitions> SplitByColumn(const Table& table, const std::string& column,
                                 size_t max_partitions) {
  if (table.schema().FieldIndex(kFanOutRowColumn) >= 0)
    return Status::Invalid(fmt::format(
        "partitions: the input has a column named {}, the name the partitions' row numbers take",
        kFanOutRowColumn));
  const int idx = table.schema().FieldIndex(column);
  if (idx < 0)
    return Status::Invalid(
        fmt::format("partitions by '{}': the input has no such column (columns: {})", column,
                    table.schema().ToString()));
  const Column& col = *table.column(idx);
  Partitions p;
  std::unordered_map<std::string, size_t> index;
  size_t null_part = SIZE_MAX;
  for (int64_t i = 0; i < table.num_rows(); ++i) {
    size_t k;
    if (col.IsNull(i)) {
      if (null_part == SIZE_MAX) {
        null_part = p.values.size();
        p.values.emplace_back();
        p.rows.emplace_back();
      }
      k = null_part;
    } else {
      std::string v = FormatCell(col, i);
      auto [it, added] = index.emplace(v, p.values.size());
      if (added) {
        p.values.push_back(std::move(v));
        p.rows.emplace_back();
      }
      k = it->second;
    }
    if (p.values.size() > max_partitions)
      return Status::Invalid(fmt::format(
          "partitions by '{}': more than {} partitions (distinct values); choose a coarser column",
          column, max_partitions));
    p.rows[k].push_back(i);
  }
  return p;
}

Result<Table> PartitionInput(const Table& table, const std::vector<int64_t>& rows) {
  Schema schema = table.schema();
  std::vector<ColumnPtr> cols;
  cols.reserve(static_cast<size_t>(table.num_columns()) + 1);
  for (const auto& c : table.columns()) cols.push_back(TakeRows(*c, rows));
  ColumnBuilder number(TypeId::kInt64);
  number.Reserve(static_cast<int64_t>(rows.size()));
  for (int64_t r : rows) number.AppendInt64(r);
  schema.fields.push_back({std::string(kFanOutRowColumn), TypeId::kInt64, false});
  cols.push_back(number.Finish());
  return Table::Make(std::move(schema), std::move(cols), static_cast<int64_t>(rows.size()));
}

namespace {

bool SameColumn(const Column& a, const Column& b) {
  if (&a == &b) return true;
  if (a.type != b.type || a.length != b.length || a.null_count != b.null_count ||
      a.data != b.data || a.offsets != b.offsets || a.is_dictionary() != b.is_dictionary())
    return false;
  if (a.null_count > 0 && a.validity != b.validity) return false;
  return !a.is_dictionary() || SameColumn(*a.dictionary, *b.dictionary);
}

Schema WithoutRowColumn(const Schema& s) {
  Schema out;
  for (const auto& f : s.fields)
    if (f.name != kFanOutRowColumn) out.fields.push_back(f);
  return out;
}

}  // namespace

Result<Table> CombinePartitions(const std::vector<Table>& parts) {
  if (parts.empty()) return Status::Invalid("partitions: no partition to combine");
  const Schema schema = WithoutRowColumn(parts[0].schema());
  // (row number, part, row in part), sorted: the order of the whole input.
  std::vector<std::tuple<int64_t, size_t, int64_t>> order;
  std::vector<int> row_col(parts.size());
  for (size_t p = 0; p < parts.size(); ++p) {
    const Table& t = parts[p];
    const int rc = t.schema().FieldIndex(kFanOutRowColumn);
    if (rc < 0 || t.schema().fields[static_cast<size_t>(rc)].type != TypeId::kInt64)
      return Status::Invalid(fmt::format(
          "partitions: partition {}'s output has no int64 column {} (the recipe dropped it)", p + 1,
          kFanOutRowColumn));
    if (!(WithoutRowColumn(t.schema()) == schema))
      return Status::Invalid(
          fmt::format("partitions: partitions 1 and {} gave different columns ({} / {})", p + 1,
                      schema.ToString(), WithoutRowColumn(t.schema()).ToString()));
    row_col[p] = rc;
    const Column& rows = *t.column(rc);
    if (rows.null_count > 0)
      return Status::Invalid(
          fmt::format("partitions: partition {}'s row numbers have nulls", p + 1));
    for (int64_t i = 0; i < t.num_rows(); ++i) order.emplace_back(rows.Int64(i), p, i);
  }
  std::sort(order.begin(), order.end());
  for (size_t i = 1; i < order.size(); ++i)
    if (std::get<0>(order[i]) == std::get<0>(order[i - 1]))
      return Status::Invalid(fmt::format("partitions: input row {} came out of two partitions",
                                         std::get<0>(order[i])));
  const auto n = static_cast<int64_t>(order.size());
  std::vector<ColumnPtr> cols;
  for (const auto& f : schema.fields) {
    std::vector<const Column*> src(parts.size());
    for (size_t p = 0; p < parts.size(); ++p) src[p] = parts[p].ColumnByName(f.name).get();
    // Parts without rows add nothing: the first part with rows says how the
    // column is encoded (part 1 when none has).
    size_t ref = 0;
    while (ref < parts.size() && parts[ref].num_rows() == 0) ++ref;
    if (ref == parts.size()) ref = 0;
    bool same_dictionary = src[ref]->is_dictionary();
    for (size_t p = 0; p < parts.size() && same_dictionary; ++p)
      if (parts[p].num_rows() > 0)
        same_dictionary =
            src[p]->is_dictionary() && SameColumn(*src[p]->dictionary, *src[ref]->dictionary);
    if (same_dictionary) {
      // Indices into the dictionary every part shares (nulls: index 0, as TakeRows).
      auto out = std::make_shared<Column>();
      out->type = TypeId::kUtf8;
      out->length = n;
      out->dictionary = src[ref]->dictionary;
      out->data.resize(static_cast<size_t>(n) * sizeof(int32_t));
      auto* idx = reinterpret_cast<int32_t*>(out->data.data());
      std::vector<uint8_t> validity(static_cast<size_t>((n + 7) / 8), 0xFF);
      int64_t nulls = 0;
      for (int64_t i = 0; i < n; ++i) {
        const auto& [row, p, r] = order[static_cast<size_t>(i)];
        if (src[p]->IsNull(r)) {
          validity[static_cast<size_t>(i >> 3)] &= static_cast<uint8_t>(~(1u << (i & 7)));
          idx[i] = 0;
          ++nulls;
        } else {
          idx[i] = src[p]->Int32Data()[r];
        }
      }
      out->null_count = nulls;
      if (nulls > 0) {
        // Bits past the last row stay clear, as a builder leaves them.
        if (n % 8 != 0) validity.back() &= static_cast<uint8_t>((1u << (n % 8)) - 1);
        out->validity = std::move(validity);
      }
      cols.push_back(std::move(out));
      continue;
    }
    ColumnBuilder b(f.type);
    b.Reserve(n);
    for (const auto& [row, p, r] : order) b.AppendFrom(*src[p], r);
    cols.push_back(b.Finish());
  }
  return Table::Make(schema, std::move(cols), n);
}

}  // namespace alambic
