// kind: window — SQL window functions. One input, one output: every input row,
// in input order, with one new column per entry of `columns`.
//
// Rows are partitioned by `partition_by` (default: one partition) and ordered
// within a partition by `order_by` (ties: input order). Functions:
//   row_number, rank, dense_rank           (peers: equal `order_by` values)
//   lag, lead                              (column, offset: default 1)
//   sum, mean, count, min, max             (column; a ROWS frame, default from
//                                           the partition's first row to the
//                                           current row: a running aggregate)
// `frame: {preceding: N, following: M}` bounds the frame (N or M may be
// "unbounded"). Nulls are skipped by sum, mean, count, min and max as in SQL;
// an empty frame gives null (count: 0).
#include <algorithm>
#include <limits>
#include <set>

#include <fmt/format.h>

#include "core/table/keys.h"
#include "recipes/builtin_kinds.h"
#include "recipes/relational.h"

namespace alambic {
namespace {

__extension__ typedef __int128 Int128;  // exact running sums of int64

// One partition: positions [begin, end) of the sorted row list.
struct Span {
  size_t begin, end;
};

class WindowKind final : public RecipeKind {
 public:
  std::string name() const override { return "window"; }
  const std::vector<ParamSpec>& params() const override {
    static const std::vector<ParamSpec> kParams = {
        {"partition_by", ParamType::kAny, false, "partition columns (default: one partition)"},
        {"order_by", ParamType::kAny, false,
         "order within a partition: column names ('-name': descending) or {column, desc, "
         "nulls}"},
        {"columns", ParamType::kList, true, "list of {name, fn, column, offset, frame}"}};
    return kParams;
  }
  int max_inputs() const override { return 1; }
  Status CheckParams(const nlohmann::json& params) const override {
    return ParseWindowParams(params).status();
  }

  Result<RecipeOutput> Run(RecipeContext& ctx) const override {
    auto p = ParseWindowParams(*ctx.params);
    if (!p.ok()) return InRecipe(ctx, p.status());
    const NamedTable& input = ctx.inputs.at(0);
    const Table& in = *input.table;
    const int64_t n = in.num_rows();

    std::vector<const Column*> parts;
    for (const auto& c : p->partition_by) {
      auto i = FindColumn(input, "param 'partition_by'", c);
      if (!i.ok()) return InRecipe(ctx, i.status());
      parts.push_back(in.column(*i).get());
    }
    auto order = ResolveOrder(input, "order_by", p->order_by);
    if (!order.ok()) return InRecipe(ctx, order.status());
    std::vector<const Column*> values;
    for (const auto& c : p->columns) {
      if (in.schema().FieldIndex(c.name) >= 0)
        return Status::Invalid(
            fmt::format("recipe {}: param 'columns': '{}': input '{}' already has a column '{}'",
                        ctx.recipe, c.name, input.name, c.name));
      if (c.column.empty()) {
        values.push_back(nullptr);
        continue;
      }
      const std::string where = fmt::format("param 'columns': '{}'", c.name);
      auto i = FindColumn(input, where, c.column);
      if (!i.ok()) return InRecipe(ctx, i.status());
      const Column* v = in.column(*i).get();
      if ((c.fn == WinFn::kSum || c.fn == WinFn::kMean) && v->type != TypeId::kInt64 &&
          v->type != TypeId::kFloat64 && v->type != TypeId::kBool)
        return Status::Invalid(fmt::format("recipe {}: {}: {} needs numbers, but '{}' is {}",
                                           ctx.recipe, where, c.fn_text, c.column,
                                           TypeName(v->type)));
      values.push_back(v);
    }

    // Sorted row list: by partition (key order), then order_by, then input order.
    std::vector<SortKey> keys;
    for (const Column* c : parts) keys.push_back({c, false, true});
    keys.insert(keys.end(), order->begin(), order->end());
    std::vector<int64_t> rows(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) rows[static_cast<size_t>(i)] = i;
    if (!keys.empty()) SortRows(keys, rows);
    std::vector<int32_t> part(static_cast<size_t>(n), 0);
    if (!parts.empty() && n > 0) part = EncodeKeys(parts, true).codes;
    std::vector<Span> spans;
    for (size_t i = 0; i < rows.size(); ++i)
      if (i == 0 || part[static_cast<size_t>(rows[i])] != part[static_cast<size_t>(rows[i - 1])])
        spans.push_back({i, i});
    for (size_t s = 0; s < spans.size(); ++s)
      spans[s].end = s + 1 < spans.size() ? spans[s + 1].begin : rows.size();
    if (ctx.cancel && ctx.cancel->cancelled()) return ctx.cancel->AsStatus();

    Schema schema = in.schema();
    std::vector<ColumnPtr> cols = in.columns();
    auto lineage = IdentityLineage(in, input.name);
    for (size_t k = 0; k < p->columns.size(); ++k) {
      const WinColumn& c = p->columns[k];
      ColumnPtr col = Compute(c, values[k], *order, rows, spans);
      schema.fields.push_back({c.name, col->type});
      cols.push_back(col);
      auto& src = lineage[c.name];
      if (!c.column.empty()) src.push_back({input.name, c.column, kTransformAggregation});
      for (const auto& t : p->order_by)
        if (t.column != c.column) src.push_back({input.name, t.column, kTransformAggregation});
      for (const auto& pc : p->partition_by) src.push_back({input.name, pc, kTransformJoinKey});
    }
    ALAMBIC_ASSIGN_OR_RETURN(Table t, Table::Make(std::move(schema), std::move(cols), n));
    RecipeOutput out;
    out.metrics["rows"] = n;
    out.metrics["partitions"] = static_cast<int64_t>(spans.size());
    out.column_lineage.push_back(std::move(lineage));
    out.tables.push_back(std::move(t));
    return out;
  }

 private:
  // The column for one entry, indexed by input row.
  static ColumnPtr Compute(const WinColumn& c, const Column* v, const std::vector<SortKey>& order,
                           const std::vector<int64_t>& rows, const std::vector<Span>& spans) {
    const auto n = rows.size();
    if (!NeedsColumn(c.fn)) {
      std::vector<int64_t> result(n);
      for (const Span& s : spans) {
        int64_t rank = 0, dense = 0;
        for (size_t i = s.begin; i < s.end; ++i) {
          const bool peer = i > s.begin && CompareRows(order, rows[i - 1], rows[i]) == 0;
          if (!peer) {
            rank = static_cast<int64_t>(i - s.begin) + 1;
            ++dense;
          }
          const int64_t value = c.fn == WinFn::kRowNumber ? static_cast<int64_t>(i - s.begin) + 1
                                : c.fn == WinFn::kRank    ? rank
                                                          : dense;
          result[static_cast<size_t>(rows[i])] = value;
        }
      }
      ColumnBuilder b(TypeId::kInt64);
      b.Reserve(static_cast<int64_t>(n));
      for (int64_t x : result) b.AppendInt64(x);
      return b.Finish();
    }
    if (c.fn == WinFn::kLag || c.fn == WinFn::kLead) {
      std::vector<int64_t> source(n, -1);
      for (const Span& s : spans)
        for (size_t i = s.begin; i < s.end; ++i) {
          const auto off = static_cast<size_t>(c.offset);
          size_t j;
          if (c.fn == WinFn::kLag) {
            if (i - s.begin < off) continue;
            j = i - off;
          } else {
            if (s.end - i <= off) continue;
            j = i + off;
          }
          source[static_cast<size_t>(rows[i])] = rows[j];
        }
      return GatherRows(*v, source);
    }
    return Framed(c, *v, rows, spans);
  }

  static ColumnPtr Framed(const WinColumn& c, const Column& v, const std::vector<int64_t>& rows,
                          const std::vector<Span>& spans) {
    const auto n = rows.size();
    const bool is_float = v.type == TypeId::kFloat64;
    auto number = [&](int64_t r) -> long double {
      if (v.type == TypeId::kBool) return v.Bool(r) ? 1 : 0;
      if (is_float) return v.Double(r);
      return static_cast<long double>(v.Int64(r));
    };
    if (c.fn == WinFn::kMin || c.fn == WinFn::kMax) {
      std::vector<int64_t> source(n, -1);
      for (const Span& s : spans)
        for (size_t i = s.begin; i < s.end; ++i) {
          const auto [lo, hi] = Bounds(c, s, i);
          int64_t best = -1;
          for (size_t j = lo; j < hi; ++j) {
            const int64_t r = rows[j];
            if (v.IsNull(r)) continue;
            const int cmp = best < 0 ? 0 : CompareCells(v, r, best);
            if (best < 0 || (c.fn == WinFn::kMin ? cmp < 0 : cmp > 0)) best = r;
          }
          source[static_cast<size_t>(rows[i])] = best;
        }
      return GatherRows(v, source);
    }
    // sum, mean, count through prefix sums over each partition (exact for int64).
    std::vector<Int128> isum(n + 1, 0);
    std::vector<long double> fsum(n + 1, 0);
    std::vector<int64_t> cnt(n + 1, 0);
    for (size_t i = 0; i < n; ++i) {
      const int64_t r = rows[i];
      const bool valid = v.IsValid(r);
      cnt[i + 1] = cnt[i] + (valid ? 1 : 0);
      // count also takes utf8 and date columns: their values are not summed.
      const bool summed =
          valid && (is_float || v.type == TypeId::kInt64 || v.type == TypeId::kBool);
      fsum[i + 1] = fsum[i] + (summed ? number(r) : 0);
      isum[i + 1] =
          isum[i] +
          (summed && !is_float ? (v.type == TypeId::kBool ? (v.Bool(r) ? 1 : 0) : v.Int64(r)) : 0);
    }
    const TypeId out_type = c.fn == WinFn::kCount              ? TypeId::kInt64
                            : c.fn == WinFn::kMean || is_float ? TypeId::kFloat64
                                                               : TypeId::kInt64;
    std::vector<int64_t> ival(n, 0);
    std::vector<double> fval(n, 0);
    std::vector<uint8_t> valid(n, 0);
    for (const Span& s : spans)
      for (size_t i = s.begin; i < s.end; ++i) {
        const auto [lo, hi] = Bounds(c, s, i);
        const auto r = static_cast<size_t>(rows[i]);
        const int64_t count = hi > lo ? cnt[hi] - cnt[lo] : 0;
        if (c.fn == WinFn::kCount) {
          ival[r] = count;
          valid[r] = 1;
          continue;
        }
        if (count == 0) continue;
        if (c.fn == WinFn::kMean) {
          fval[r] = static_cast<double>((fsum[hi] - fsum[lo]) / count);
          valid[r] = 1;
        } else if (is_float) {
          fval[r] = static_cast<double>(fsum[hi] - fsum[lo]);
          valid[r] = 1;
        } else {
          const Int128 total = isum[hi] - isum[lo];
          if (total >= std::numeric_limits<int64_t>::min() &&
              total <= std::numeric_limits<int64_t>::max()) {
            ival[r] = static_cast<int64_t>(total);
            valid[r] = 1;  // an overflowing sum is null
          }
        }
      }
    ColumnBuilder b(out_type);
    b.Reserve(static_cast<int64_t>(n));
    for (size_t r = 0; r < n; ++r) {
      if (!valid[r])
        b.AppendNull();
      else if (out_type == TypeId::kInt64)
        b.AppendInt64(ival[r]);
      else
        b.AppendDouble(fval[r]);
    }
    return b.Finish();
  }

  // The frame of sorted position i: positions [lo, hi).
  static std::pair<size_t, size_t> Bounds(const WinColumn& c, const Span& s, size_t i) {
    const size_t lo =
        c.preceding == kUnboundedFrame || static_cast<uint64_t>(c.preceding) >= i - s.begin
            ? s.begin
            : i - static_cast<size_t>(c.preceding);
    const size_t hi =
        c.following == kUnboundedFrame || static_cast<uint64_t>(c.following) >= s.end - i
            ? s.end
            : i + static_cast<size_t>(c.following) + 1;
    return {lo, hi};
  }
};

}  // namespace

Status RegisterWindowKind(RecipeRegistry& r) { return r.Register(std::make_unique<WindowKind>()); }

}  // namespace alambic
