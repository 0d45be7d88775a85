// kind: group — hash aggregation (SQL GROUP BY). One input, one output: one
// row per distinct combination of the `keys` (nulls form a group, as in SQL),
// sorted by the keys (ascending, nulls first) so versions are reproducible;
// without keys, exactly one row.
//
// Each aggregate has a name, a function, an optional input (`column`, or
// `expr`, an expression computed per row) and an optional `where` condition
// (only rows where it is true take part, SQL's FILTER (WHERE ...)). Null values
// are skipped as in SQL: count(column) counts the non-null values, sum, mean,
// min, ... of no value are null, count of nothing is 0.
#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include <fmt/format.h>

#include "core/table/expr.h"
#include "core/table/keys.h"
#include "core/table/parallel.h"
#include "recipes/builtin_kinds.h"
#include "recipes/relational.h"

namespace alambic {
namespace {

enum class Fn {
  kCount,
  kCountDistinct,
  kSum,
  kMean,
  kMin,
  kMax,
  kStddev,
  kMedian,
  kFirst,
  kLast,
};

struct FnName {
  const char* name;
  Fn fn;
};
constexpr FnName kFns[] = {
    {"count", Fn::kCount},
    {"count_distinct", Fn::kCountDistinct},
    {"nunique", Fn::kCountDistinct},
    {"sum", Fn::kSum},
    {"mean", Fn::kMean},
    {"avg", Fn::kMean},
    {"min", Fn::kMin},
    {"max", Fn::kMax},
    {"stddev", Fn::kStddev},
    {"std", Fn::kStddev},
    {"median", Fn::kMedian},
    {"first", Fn::kFirst},
    {"last", Fn::kLast},
};
constexpr const char* kFnList =
    "count, count_distinct, sum, mean, min, max, stddev, median, first, last";

bool IsNumericFn(Fn f) {
  return f == Fn::kSum || f == Fn::kMean || f == Fn::kStddev || f == Fn::kMedian;
}

struct Aggregate {
  std::string name;
  Fn fn = Fn::kCount;
  std::string fn_text;
  std::string column;        // input column, or empty
  std::optional<Expr> expr;  // computed input, or none
  std::optional<Expr> where;
};

struct GroupParams {
  std::vector<std::string> keys;
  std::vector<Aggregate> aggregates;
};

Result<GroupParams> ParseGroupParams(const nlohmann::json& p) {
  if (!p.is_object()) return Status::Invalid("params must be a mapping");
  GroupParams out;
  ALAMBIC_ASSIGN_OR_RETURN(out.keys, ColumnListParam(p, "keys", false));
  auto it = p.find("aggregates");
  if (it == p.end() || it->is_null()) {
    if (out.keys.empty())
      return Status::Invalid("param 'aggregates': is required when there are no keys");
    return out;
  }
  if (!it->is_array())
    return Status::Invalid(
        "param 'aggregates': must be a list of mappings {name, fn, column|expr, where}");
  std::set<std::string> names(out.keys.begin(), out.keys.end());
  for (size_t i = 0; i < it->size(); ++i) {
    const auto& e = (*it)[i];
    const std::string at = fmt::format("param 'aggregates': entry {}", i + 1);
    if (!e.is_object())
      return Status::Invalid(at + ": must be a mapping {name, fn, column|expr, where}");
    Aggregate a;
    for (const auto& [k, v] : e.items()) {
      if (k != "name" && k != "fn" && k != "column" && k != "expr" && k != "where")
        return Status::Invalid(
            fmt::format("{}: unknown key '{}' (expected name, fn, column, expr, where)", at, k));
      if (!v.is_string()) return Status::Invalid(fmt::format("{}: '{}' must be a string", at, k));
    }
    if (!e.contains("name") || e["name"].get<std::string>().empty())
      return Status::Invalid(at + ": 'name' is required");
    a.name = e["name"].get<std::string>();
    const std::string where = fmt::format("param 'aggregates': '{}'", a.name);
    if (!names.insert(a.name).second)
      return Status::Invalid(
          fmt::format("{}: the name is already used by a key or another aggregate", where));
    if (!e.contains("fn")) return Status::Invalid(where + ": 'fn' is required");
    a.fn_text = e["fn"].get<std::string>();
    bool known = false;
    for (const auto& f : kFns)
      if (a.fn_text == f.name) {
        a.fn = f.fn;
        known = true;
      }
    if (!known)
      return Status::Invalid(
          fmt::format("{}: unknown fn '{}' (expected {})", where, a.fn_text, kFnList));
    if (e.contains("column") && e.contains("expr"))
      return Status::Invalid(where + ": give either 'column' or 'expr', not both");
    if (e.contains("column")) a.column = e["column"].get<std::string>();
    if (e.contains("expr")) {
      auto x = ParseExpr(e["expr"].get<std::string>());
      if (!x.ok()) return x.status().WithContext(where + ": expr");
      a.expr = std::move(*x);
    }
    if (a.fn != Fn::kCount && a.column.empty() && !a.expr)
      return Status::Invalid(fmt::format("{}: {} needs a 'column' or an 'expr'", where, a.fn_text));
    if (e.contains("where")) {
      auto x = ParseExpr(e["where"].get<std::string>());
      if (!x.ok()) return x.status().WithContext(where + ": where");
      a.where = std::move(*x);
    }
    out.aggregates.push_back(std::move(a));
  }
  return out;
}

// The rows one aggregate reads: its input values (null: count rows) and
// whether row i takes part.
struct AggInput {
  const Column* values = nullptr;
  const Column* mask = nullptr;  // bool; null or false: the row is skipped
  bool Takes(int64_t i) const {
    return (!mask || (mask->IsValid(i) && mask->Bool(i))) && (!values || values->IsValid(i));
  }
};

// Neumaier's compensated sum (as SQLite's sum() and avg() over reals).
struct CompensatedSum {
  double sum = 0, compensation = 0;
  void Add(double x) {
    const double t = sum + x;
    if (std::fabs(sum) >= std::fabs(x))
      compensation += (sum - t) + x;
    else
      compensation += (x - t) + sum;
    sum = t;
  }
  double Value() const { return sum + compensation; }
};

double NumberAt(const Column& c, int64_t i) {
  switch (c.type) {
    case TypeId::kInt64:
      return static_cast<double>(c.Int64(i));
    case TypeId::kBool:
      return c.Bool(i) ? 1 : 0;
    default:
      return c.Double(i);
  }
}

class Aggregator {
 public:
  Aggregator(const std::vector<int32_t>& codes, int32_t groups)
      : codes_(codes), groups_(static_cast<size_t>(groups)) {}

  ColumnPtr Run(Fn fn, const AggInput& in) const {
    switch (fn) {
      case Fn::kCount:
        return Count(in);
      case Fn::kCountDistinct:
        return CountDistinct(in);
      case Fn::kSum:
        return in.values->type == TypeId::kFloat64 ? SumDouble(in) : SumInt(in);
      case Fn::kMean:
        return Mean(in);
      case Fn::kMin:
        return Best(in, false);
      case Fn::kMax:
        return Best(in, true);
      case Fn::kStddev:
        return Stddev(in);
      case Fn::kMedian:
        return Median(in);
      case Fn::kFirst:
        return FirstLast(in, false);
      case Fn::kLast:
        return FirstLast(in, true);
    }
    return nullptr;
  }

 private:
  int64_t rows() const { return static_cast<int64_t>(codes_.size()); }
  size_t code(int64_t i) const { return static_cast<size_t>(codes_[static_cast<size_t>(i)]); }

  ColumnPtr Count(const AggInput& in) const {
    std::vector<int64_t> n(groups_, 0);
    for (int64_t i = 0; i < rows(); ++i)
      if (in.Takes(i)) ++n[code(i)];
    ColumnBuilder b(TypeId::kInt64);
    for (int64_t v : n) b.AppendInt64(v);
    return b.Finish();
  }

  ColumnPtr CountDistinct(const AggInput& in) const {
    KeyCodes g{codes_, static_cast<int32_t>(groups_)};
    for (int64_t i = 0; i < rows(); ++i)
      if (!in.Takes(i)) g.codes[static_cast<size_t>(i)] = -1;
    const KeyCodes pairs = CombineCodes(g, EncodeKeys({in.values}, false));
    std::vector<int64_t> n(groups_, 0);
    for (int64_t first : FirstRows(pairs)) ++n[code(first)];
    ColumnBuilder b(TypeId::kInt64);
    for (int64_t v : n) b.AppendInt64(v);
    return b.Finish();
  }

  ColumnPtr SumInt(const AggInput& in) const {
    std::vector<int64_t> sum(groups_, 0);
    std::vector<uint8_t> seen(groups_, 0), overflow(groups_, 0);
    const Column& c = *in.values;
    for (int64_t i = 0; i < rows(); ++i) {
      if (!in.Takes(i)) continue;
      const size_t g = code(i);
      const int64_t v = c.type == TypeId::kBool ? (c.Bool(i) ? 1 : 0) : c.Int64(i);
      seen[g] = 1;
      if (__builtin_add_overflow(sum[g], v, &sum[g])) overflow[g] = 1;
    }
    ColumnBuilder b(TypeId::kInt64);
    for (size_t g = 0; g < groups_; ++g)
      (seen[g] && !overflow[g]) ? b.AppendInt64(sum[g]) : b.AppendNull();
    return b.Finish();
  }

  ColumnPtr SumDouble(const AggInput& in) const {
    std::vector<CompensatedSum> sum(groups_);
    std::vector<uint8_t> seen(groups_, 0);
    for (int64_t i = 0; i < rows(); ++i) {
      if (!in.Takes(i)) continue;
      sum[code(i)].Add(in.values->Double(i));
      seen[code(i)] = 1;
    }
    ColumnBuilder b(TypeId::kFloat64);
    for (size_t g = 0; g < groups_; ++g) seen[g] ? b.AppendDouble(sum[g].Value()) : b.AppendNull();
    return b.Finish();
  }

  ColumnPtr Mean(const AggInput& in) const {
    std::vector<CompensatedSum> sum(groups_);
    std::vector<int64_t> n(groups_, 0);
    for (int64_t i = 0; i < rows(); ++i) {
      if (!in.Takes(i)) continue;
      sum[code(i)].Add(NumberAt(*in.values, i));
      ++n[code(i)];
    }
    ColumnBuilder b(TypeId::kFloat64);
    for (size_t g = 0; g < groups_; ++g)
      n[g] ? b.AppendDouble(sum[g].Value() / static_cast<double>(n[g])) : b.AppendNull();
    return b.Finish();
  }

  ColumnPtr Stddev(const AggInput& in) const {
    // Welford's online variance, per group.
    std::vector<double> mean(groups_, 0), m2(groups_, 0);
    std::vector<int64_t> n(groups_, 0);
    for (int64_t i = 0; i < rows(); ++i) {
      if (!in.Takes(i)) continue;
      const size_t g = code(i);
      const double x = NumberAt(*in.values, i);
      ++n[g];
      const double d = x - mean[g];
      mean[g] += d / static_cast<double>(n[g]);
      m2[g] += d * (x - mean[g]);
    }
    ColumnBuilder b(TypeId::kFloat64);
    for (size_t g = 0; g < groups_; ++g)
      n[g] >= 2 ? b.AppendDouble(std::sqrt(m2[g] / static_cast<double>(n[g] - 1))) : b.AppendNull();
    return b.Finish();
  }

  ColumnPtr Median(const AggInput& in) const {
    // Counting sort of the taking rows by group, then a selection per group.
    std::vector<int64_t> start(groups_ + 1, 0);
    for (int64_t i = 0; i < rows(); ++i)
      if (in.Takes(i)) ++start[code(i) + 1];
    for (size_t g = 0; g < groups_; ++g) start[g + 1] += start[g];
    std::vector<double> values(static_cast<size_t>(start[groups_]));
    std::vector<int64_t> fill(start.begin(), start.end() - 1);
    for (int64_t i = 0; i < rows(); ++i)
      if (in.Takes(i)) values[static_cast<size_t>(fill[code(i)]++)] = NumberAt(*in.values, i);
    ColumnBuilder b(TypeId::kFloat64);
    for (size_t g = 0; g < groups_; ++g) {
      auto begin = values.begin() + start[g], end = values.begin() + start[g + 1];
      const auto n = end - begin;
      if (n == 0) {
        b.AppendNull();
        continue;
      }
      auto mid = begin + (n - 1) / 2;
      std::nth_element(begin, mid, end);
      double m = *mid;
      if (n % 2 == 0) m = (m + *std::min_element(mid + 1, end)) / 2;
      b.AppendDouble(m);
    }
    return b.Finish();
  }

  // The row holding the min (or max) per group; ties keep the first row.
  ColumnPtr Best(const AggInput& in, bool max) const {
    const Column& c = *in.values;
    std::vector<int64_t> best(groups_, -1);
    auto scan = [&](auto better) {
      for (int64_t i = 0; i < rows(); ++i) {
        if (!in.Takes(i)) continue;
        int64_t& b = best[code(i)];
        if (b < 0 || better(i, b)) b = i;
      }
    };
    switch (c.type) {
      case TypeId::kInt64:
      case TypeId::kTimestamp: {
        const int64_t* v = c.Int64Data();
        max ? scan([&](int64_t i, int64_t b) { return v[i] > v[b]; })
            : scan([&](int64_t i, int64_t b) { return v[i] < v[b]; });
        break;
      }
      case TypeId::kFloat64: {
        const double* v = c.DoubleData();
        max ? scan([&](int64_t i, int64_t b) { return v[i] > v[b]; })
            : scan([&](int64_t i, int64_t b) { return v[i] < v[b]; });
        break;
      }
      default:
        max ? scan([&](int64_t i, int64_t b) { return CompareCells(c, i, b) > 0; })
            : scan([&](int64_t i, int64_t b) { return CompareCells(c, i, b) < 0; });
    }
    return GatherRows(c, best);
  }

  ColumnPtr FirstLast(const AggInput& in, bool last) const {
    std::vector<int64_t> row(groups_, -1);
    for (int64_t i = 0; i < rows(); ++i) {
      if (!in.Takes(i)) continue;
      int64_t& r = row[code(i)];
      if (last || r < 0) r = i;
    }
    return GatherRows(*in.values, row);
  }

  const std::vector<int32_t>& codes_;
  size_t groups_;
};

class GroupKind final : public RecipeKind {
 public:
  std::string name() const override { return "group"; }
  const std::vector<ParamSpec>& params() const override {
    static const std::vector<ParamSpec> kParams = {
        {"keys", ParamType::kAny, false, "group key columns (default: none, one output row)"},
        {"aggregates", ParamType::kList, false,
         "list of {name, fn, column | expr, where}; fn: count, count_distinct, sum, mean, min, "
         "max, stddev, median, first, last"}};
    return kParams;
  }
  int max_inputs() const override { return 1; }
  Status CheckParams(const nlohmann::json& params) const override {
    return ParseGroupParams(params).status();
  }

  Result<RecipeOutput> Run(RecipeContext& ctx) const override {
    auto p = ParseGroupParams(*ctx.params);
    if (!p.ok()) return InRecipe(ctx, p.status());
    const NamedTable& input = ctx.inputs.at(0);
    const Table& in = *input.table;
    const int64_t n = in.num_rows();

    std::vector<const Column*> keys;
    for (const auto& k : p->keys) {
      auto i = FindColumn(input, "param 'keys'", k);
      if (!i.ok()) return InRecipe(ctx, i.status());
      keys.push_back(in.column(*i).get());
    }

    // Inputs of each aggregate, checked before any work.
    std::vector<ColumnPtr> held;  // computed columns, alive until the end
    std::vector<AggInput> inputs;
    std::map<std::string, std::vector<ColumnSource>> lineage;
    for (const auto& k : p->keys) lineage[k] = {{input.name, k, kTransformIdentity}};
    for (const auto& a : p->aggregates) {
      const std::string where = fmt::format("param 'aggregates': '{}'", a.name);
      AggInput ai;
      std::vector<ColumnSource>& src = lineage[a.name];
      if (!a.column.empty()) {
        auto i = FindColumn(input, where, a.column);
        if (!i.ok()) return InRecipe(ctx, i.status());
        ai.values = in.column(*i).get();
        src.push_back({input.name, a.column, kTransformAggregation});
      } else if (a.expr) {
        auto typed = Compile(*a.expr, in.schema());
        if (!typed.ok()) return InRecipe(ctx, typed.status().WithContext(where + ": expr"));
        auto col = typed->Evaluate(in);
        if (!col.ok()) return InRecipe(ctx, col.status().WithContext(where + ": expr"));
        held.push_back(*col);
        ai.values = held.back().get();
        for (const auto& c : a.expr->columns())
          src.push_back({input.name, c, kTransformAggregation});
      }
      if (ai.values && IsNumericFn(a.fn) && ai.values->type != TypeId::kInt64 &&
          ai.values->type != TypeId::kFloat64 && ai.values->type != TypeId::kBool)
        return Status::Invalid(fmt::format(
            "recipe {}: {}: {} needs numbers, but {} is {}", ctx.recipe, where, a.fn_text,
            a.column.empty() ? "the expr" : "'" + a.column + "'", TypeName(ai.values->type)));
      if (a.where) {
        auto typed = Compile(*a.where, in.schema());
        if (!typed.ok()) return InRecipe(ctx, typed.status().WithContext(where + ": where"));
        if (typed->type() != TypeId::kBool)
          return Status::Invalid(
              fmt::format("recipe {}: {}: where: the condition must be bool, "
                          "got {}",
                          ctx.recipe, where, TypeName(typed->type())));
        auto col = typed->Evaluate(in);
        if (!col.ok()) return InRecipe(ctx, col.status().WithContext(where + ": where"));
        held.push_back(*col);
        ai.mask = held.back().get();
        for (const auto& c : a.where->columns()) {
          ColumnSource s{input.name, c, kTransformFilter};
          if (std::find(src.begin(), src.end(), s) == src.end()) src.push_back(s);
        }
      }
      inputs.push_back(ai);
    }
    if (ctx.cancel && ctx.cancel->cancelled()) return ctx.cancel->AsStatus();

    KeyCodes codes;
    if (keys.empty()) {
      codes.codes.assign(static_cast<size_t>(n), 0);
      codes.count = 1;
    } else {
      codes = EncodeKeys(keys, true);
    }
    if (ctx.cancel && ctx.cancel->cancelled()) return ctx.cancel->AsStatus();

    // Groups in key order.
    std::vector<int64_t> first = FirstRows(codes);
    std::vector<int64_t> order(first.size());
    for (size_t g = 0; g < order.size(); ++g) order[g] = static_cast<int64_t>(g);
    std::vector<SortKey> sort_keys;
    for (const Column* k : keys) sort_keys.push_back({k, false, true});
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
      return CompareRows(sort_keys, first[static_cast<size_t>(a)], first[static_cast<size_t>(b)]) <
             0;
    });

    Schema schema;
    std::vector<ColumnPtr> cols;
    std::vector<int64_t> key_rows(order.size());
    for (size_t g = 0; g < order.size(); ++g) key_rows[g] = first[static_cast<size_t>(order[g])];
    for (size_t k = 0; k < keys.size(); ++k) {
      schema.fields.push_back({p->keys[k], keys[k]->type});
      cols.push_back(GatherRows(*keys[k], key_rows));
    }

    std::vector<ColumnPtr> results(p->aggregates.size());
    Aggregator agg(codes.codes, codes.count);
    ParallelFor(static_cast<int64_t>(results.size()), n >= kParallelRowThreshold, [&](int64_t a) {
      const auto u = static_cast<size_t>(a);
      results[u] = GatherRows(*agg.Run(p->aggregates[u].fn, inputs[u]), order);
    });
    for (size_t a = 0; a < results.size(); ++a) {
      schema.fields.push_back({p->aggregates[a].name, results[a]->type});
      cols.push_back(results[a]);
    }
    const auto groups = static_cast<int64_t>(order.size());
    ALAMBIC_ASSIGN_OR_RETURN(Table t, Table::Make(std::move(schema), std::move(cols), groups));
    RecipeOutput out;
    out.metrics["rows_in"] = n;
    out.metrics["rows"] = groups;
    out.column_lineage.push_back(std::move(lineage));
    out.tables.push_back(std::move(t));
    if (ctx.progress) ctx.progress(n);
    if (ctx.log) ctx.log->Info(fmt::format("{} groups from {} rows", groups, n));
    return out;
  }
};

}  // namespace

Status RegisterGroupKind(RecipeRegistry& r) { return r.Register(std::make_unique<GroupKind>()); }

}  // namespace alambic
