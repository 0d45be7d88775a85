// Times the group and join kinds on generated tables, in-process (no IO), and
// prints one JSON line per operation: {"op", "rows", "seconds", "out_rows"}.
// bench/dataflow/bench.py runs it next to the same operations in pandas.
//
// Usage: alambic_bench_relational ROWS CENTRES [REPEAT]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include <fmt/format.h>

#include "core/recipe/recipe.h"
#include "recipes/builtin_kinds.h"

namespace {

using alambic::ColumnBuilder;
using alambic::NamedTable;
using alambic::Table;
using alambic::TypeId;

NamedTable Make(const std::string& name, std::vector<alambic::Field> fields,
                std::vector<alambic::ColumnPtr> cols) {
  auto t = Table::Make(alambic::Schema{std::move(fields)}, std::move(cols));
  if (!t.ok()) {
    std::fprintf(stderr, "%s\n", t.status().message().c_str());
    std::exit(1);
  }
  return {name, std::make_shared<const Table>(std::move(*t))};
}

// The built-in kinds, registered once.
const alambic::RecipeRegistry& Kinds() {
  static const alambic::RecipeRegistry* kinds = [] {
    auto* r = new alambic::RecipeRegistry;
    if (alambic::Status st = alambic::RegisterBuiltinKinds(*r); !st.ok()) {
      std::fprintf(stderr, "%s\n", st.message().c_str());
      std::exit(1);
    }
    return r;
  }();
  return *kinds;
}

double Run(const std::string& op, const std::string& kind, const nlohmann::json& params,
           std::vector<NamedTable> inputs, int64_t rows, int repeat) {
  double best = 1e100;
  int64_t out_rows = 0;
  for (int r = 0; r < repeat; ++r) {
    alambic::RecipeContext ctx;
    ctx.recipe = op;
    ctx.params = &params;
    ctx.inputs = inputs;
    ctx.outputs = {"out"};
    const auto start = std::chrono::steady_clock::now();
    auto out = Kinds().Find(kind)->Run(ctx);
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!out.ok()) {
      std::fprintf(stderr, "%s: %s\n", op.c_str(), out.status().message().c_str());
      std::exit(1);
    }
    out_rows = out->tables[0].num_rows();
    best = std::min(best, s);
  }
  std::printf("%s\n",
              fmt::format(R"({{"op": "{}", "rows": {}, "seconds": {:.4f}, "out_rows": {}}})", op,
                          rows, best, out_rows)
                  .c_str());
  std::fflush(stdout);
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s ROWS CENTRES [REPEAT]\n", argv[0]);
    return 2;
  }
  const int64_t rows = std::atoll(argv[1]);
  const int64_t centres = std::atoll(argv[2]);
  const int repeat = argc > 3 ? std::atoi(argv[3]) : 3;
  constexpr int kDepartements = 100;

  std::mt19937_64 gen(42);
  std::uniform_int_distribution<int64_t> centre(0, centres - 1);
  std::uniform_int_distribution<int> dep(0, kDepartements - 1);
  std::uniform_real_distribution<double> score(0, 20);
  ColumnBuilder c(TypeId::kInt64), d(TypeId::kUtf8), s(TypeId::kFloat64), x(TypeId::kInt64);
  c.Reserve(rows);
  d.Reserve(rows);
  s.Reserve(rows);
  x.Reserve(rows);
  for (int64_t i = 0; i < rows; ++i) {
    c.AppendInt64(centre(gen));
    d.AppendString(fmt::format("{:02d}", dep(gen)));
    s.AppendDouble(score(gen));
    x.AppendInt64(static_cast<int64_t>(gen() % 1000));
  }
  NamedTable exams =
      Make("exams",
           {{"centre_id", TypeId::kInt64},
            {"departement", TypeId::kUtf8},
            {"score", TypeId::kFloat64},
            {"x", TypeId::kInt64}},
           {c.Finish(), alambic::DictionaryEncode(*d.Finish()), s.Finish(), x.Finish()});
  ColumnBuilder cc(TypeId::kInt64), cn(TypeId::kUtf8);
  for (int64_t i = 0; i < centres; ++i) {
    cc.AppendInt64(i);
    cn.AppendString(fmt::format("centre {}", i));
  }
  NamedTable ctab = Make("centres", {{"centre_id", TypeId::kInt64}, {"name", TypeId::kUtf8}},
                         {cc.Finish(), cn.Finish()});

  const nlohmann::json aggs =
      nlohmann::json::array({{{"name", "n"}, {"fn", "count"}},
                             {{"name", "sx"}, {"fn", "sum"}, {"column", "x"}},
                             {{"name", "ms"}, {"fn", "mean"}, {"column", "score"}},
                             {{"name", "mx"}, {"fn", "max"}, {"column", "score"}}});
  Run("group_by_int_key", "group", {{"keys", "centre_id"}, {"aggregates", aggs}}, {exams}, rows,
      repeat);
  Run("group_by_string_key", "group", {{"keys", "departement"}, {"aggregates", aggs}}, {exams},
      rows, repeat);
  Run("join_inner_int_key", "join", {{"on", "centre_id"}}, {exams, ctab}, rows, repeat);
  Run("sort_float", "sort", {{"by", "score"}}, {exams}, rows, repeat);
  return 0;
}
