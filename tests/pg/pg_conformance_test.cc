// Conformance of push-down: every built-in kind with an SQL translation
// (recipes/pg_pushdown.cc) runs on both engines — the local engine, and
// PostgreSQL through the PostgreSQL store — over adversarial inputs (nulls,
// empty strings, NaN, -0.0, infinities, mixed-case and accented strings,
// int64 extremes, dates before 1970, timestamps), and the outputs are compared
// row by row: same columns, types, row order and cells. The differences that
// cannot be removed are asserted as the documented differences
// (docs/deployment.md, "Push-down: differences from the local engine").
//
// Needs the server tests/pg/pg-harness starts (ctest's postgres_connection).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <tuple>

#include "core/exec/pushdown_run.h"
#include "core/net/postgres.h"
#include "core/recipe/pushdown.h"
#include "core/store/pg_store.h"
#include "core/table/expr.h"
#include "tests/kind_test_util.h"
#include "tests/pg/pg_test_util.h"
#include "tests/test_util.h"

namespace alambic {
namespace {

using json = nlohmann::json;
using testing::Bools;
using testing::Doubles;
using testing::Ints;
using testing::Strings;

using testing::Env;
using testing::TableDiff;

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
const double kNaN = std::nan("");
const double kInf = std::numeric_limits<double>::infinity();

ColumnPtr Dates(const std::vector<std::optional<int32_t>>& v) {
  ColumnBuilder b(TypeId::kDate32);
  for (const auto& x : v) x ? b.AppendDate32(*x) : b.AppendNull();
  return b.Finish();
}
ColumnPtr Stamps(const std::vector<std::optional<int64_t>>& v) {
  ColumnBuilder b(TypeId::kTimestamp);
  for (const auto& x : v) x ? b.AppendTimestamp(*x) : b.AppendNull();
  return b.Finish();
}

class PostgresConformanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (Env("ALAMBIC_TEST_PG_HOST").empty())
      GTEST_SKIP() << "no PostgreSQL server (run through tests/pg/pg-harness)";
    PgConnectOptions o = testing::HarnessServer("connection test");
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    const std::string schema = fmt::format("conf_{}", info->name());
    {
      auto c = PgConnection::Connect(o);
      ASSERT_TRUE(c.ok()) << c.status().message();
      ASSERT_TRUE((*c)->Exec(fmt::format("DROP SCHEMA IF EXISTS \"{}\" CASCADE", schema)).ok());
    }
    pg_ = std::make_shared<PgTableStore>([o] { return PgConnection::Connect(o); }, schema,
                                         "store of test");
    store_ = std::make_unique<DatasetStore>(pg_);
    registry_ = testing::MakeBuiltinKinds();
    input_ = testing::MakeInput(
        "in",
        {{"i", Ints({3, std::nullopt, kMax, kMin, 0, 3, -7, 3, std::nullopt, 12})},
         {"f", Doubles({1.5, kNaN, -0.0, 0.0, std::nullopt, kInf, -kInf, 1.5, 2.25, kNaN})},
         {"s", Strings({"b", "B", "", "é", "e", std::nullopt, "Z", "b", "ÉCOLE", "école"})},
         {"b", Bools({true, false, std::nullopt, true, false, true, false, true, true, false})},
         {"d", Dates({-1, 0, std::nullopt, 19000, -25567, 19000, 1, 2, 3, -1})},
         {"t",
          Stamps({0, -1, 1700000000123456, std::nullopt, 86400000000, 0, 5, 6, 7, -86400000001})}});
    auto staged = store_->Stage("in", InputVersion(), *input_.table);
    ASSERT_TRUE(staged.ok()) << staged.status().message();
    ASSERT_TRUE(store_->Publish({*staged}).ok());
  }

  static std::string InputVersion() { return std::string(64, 'a'); }

  // Runs `kind` with `params` on both engines; returns (local, postgres).
  std::pair<Table, Table> Both(const std::string& kind, const json& params) {
    auto local = testing::RunKind(kind, params, {input_});
    EXPECT_TRUE(local.ok()) << kind << " " << params.dump() << ": " << local.status().message();
    RecipeSpec r;
    r.name = "r";
    r.kind = kind;
    r.inputs = {"in"};
    r.outputs = {"out"};
    r.params = params;
    EXPECT_EQ(ChooseEngine(*store_, *registry_, r).engine, Engine::kPushdown)
        << ChooseEngine(*store_, *registry_, r).why;
    const std::string out_version = fmt::format("{:064x}", ++outputs_);
    auto pushed = RunPushdown(*store_, *registry_, r, {InputVersion()}, out_version);
    EXPECT_TRUE(pushed.ok()) << kind << " " << params.dump() << ": " << pushed.status().message();
    if (!local.ok() || !pushed.ok()) return {Table(), Table()};
    EXPECT_EQ(pushed->rows, local->tables[0].num_rows());
    auto back = store_->Read("out", out_version);
    EXPECT_TRUE(back.ok()) << back.status().message();
    if (!back.ok()) return {Table(), Table()};
    return {std::move(local->tables[0]), std::move(*back)};
  }

  // A version id whose table name (from its first characters) is its own.
  static std::string Version(int n) { return fmt::format("{:0<64}", fmt::format("{:x}f", n)); }

  // Stages `in` (under its name) once; gives its version.
  std::string Put(const NamedTable& in) {
    const std::string v = Version(++outputs_ + 5000);
    auto staged = store_->Stage(in.name, v, *in.table);
    EXPECT_TRUE(staged.ok()) << staged.status().message();
    if (staged.ok()) {
      EXPECT_TRUE(store_->Publish({*staged}).ok());
    }
    return v;
  }

  // Runs `kind` over `inputs` on both engines and compares the outputs; a
  // recipe the local engine refuses must fail its push-down too.
  void SameOver(const std::string& kind, const json& params, const std::vector<NamedTable>& inputs,
                double tol = 0) {
    auto local = testing::RunKind(kind, params, inputs);
    RecipeSpec r;
    r.name = "r";
    r.kind = kind;
    r.outputs = {"out"};
    r.params = params;
    std::vector<std::string> versions;
    for (const auto& in : inputs) {
      r.inputs.push_back(in.name);
      versions.push_back(Put(in));
    }
    EngineChoice c = ChooseEngine(*store_, *registry_, r);
    EXPECT_EQ(c.engine, Engine::kPushdown) << c.why;
    const std::string out_version = Version(++outputs_);
    auto pushed = RunPushdown(*store_, *registry_, r, versions, out_version);
    if (!local.ok()) {
      EXPECT_FALSE(pushed.ok()) << kind << " " << params.dump()
                                << ": pushed down, but locally: " << local.status().message();
      return;
    }
    ASSERT_TRUE(pushed.ok()) << kind << " " << params.dump() << ": " << pushed.status().message();
    EXPECT_EQ(pushed->rows, local->tables[0].num_rows());
    auto back = store_->Read("out", out_version);
    ASSERT_TRUE(back.ok()) << back.status().message();
    EXPECT_EQ(TableDiff(local->tables[0], *back, tol), "") << kind << " " << params.dump();
  }

  void Same(const std::string& kind, const json& params, double tol = 0) {
    auto [local, pg] = Both(kind, params);
    EXPECT_EQ(TableDiff(local, pg, tol), "") << kind << " " << params.dump();
  }

  std::shared_ptr<PgTableStore> pg_;
  std::unique_ptr<DatasetStore> store_;
  std::unique_ptr<RecipeRegistry> registry_;
  NamedTable input_;
  int outputs_ = 0;
};

TEST_F(PostgresConformanceTest, InputRoundTripsExactly) {
  auto back = store_->Read("in", InputVersion());
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(TableDiff(*input_.table, *back), "");
}

TEST_F(PostgresConformanceTest, SortOrdersLikeTheLocalEngine) {
  // Byte-wise string order (B < Z < b < e < É < é), nulls first ascending.
  Same("sort", {{"by", {"s"}}});
  Same("sort", {{"by", {"-s", "i"}}});
  Same("sort", {{"by", {{{"column", "i"}, {"nulls", "last"}}, "-d"}}});
  Same("sort", {{"by", {"b", "-t"}}});
  Same("sort", {{"by", {"d"}}});
}

TEST_F(PostgresConformanceTest, DistinctKeepsTheFirstRowOfEach) {
  Same("distinct", {{"columns", {"s"}}});
  Same("distinct", {{"columns", {"b", "d"}}});
  Same("distinct", json::object());
  Same("distinct", {{"columns", {"i"}}});
}

TEST_F(PostgresConformanceTest, TopPerGroup) {
  Same("top", {{"n", 2}, {"by", {"-i"}}, {"keys", {"b"}}});
  Same("top", {{"n", 3}, {"by", {"s"}}});
  Same("top", {{"n", 1}, {"by", {"t"}}, {"keys", {"d"}}});
}

TEST_F(PostgresConformanceTest, GroupAggregates) {
  Same("group", {{"keys", {"s"}},
                 {"aggregates",
                  {{{"name", "n"}, {"fn", "count"}},
                   {{"name", "n_i"}, {"fn", "count"}, {"column", "i"}},
                   {{"name", "nd"}, {"fn", "count_distinct"}, {"column", "b"}},
                   {{"name", "lo"}, {"fn", "min"}, {"column", "d"}},
                   {{"name", "hi"}, {"fn", "max"}, {"column", "t"}},
                   {{"name", "first_b"}, {"fn", "first"}, {"column", "b"}},
                   {{"name", "last_i"}, {"fn", "last"}, {"column", "i"}}}}});
  Same("group", {{"keys", {"b"}},
                 {"aggregates",
                  {{{"name", "lo"}, {"fn", "min"}, {"column", "s"}},
                   {{"name", "hi"}, {"fn", "max"}, {"column", "s"}},
                   {{"name", "any"}, {"fn", "max"}, {"column", "b"}},
                   {{"name", "all"}, {"fn", "min"}, {"column", "b"}},
                   {{"name", "sum_b"}, {"fn", "sum"}, {"column", "b"}}}}});
  Same("group", {{"keys", {"d", "b"}}, {"aggregates", {{{"name", "n"}, {"fn", "count"}}}}});
  // Means, deviations and medians: the same to the last bits but one.
  Same("group",
       {{"keys", {"b"}},
        {"aggregates",
         {{{"name", "mean_d"}, {"fn", "mean"}, {"column", "i"}},
          {{"name", "sd"}, {"fn", "stddev"}, {"column", "i"}},
          {{"name", "med"}, {"fn", "median"}, {"column", "i"}}}}},
       1e-12);
}

// Expressions over every type: arithmetic at the int64 limits, division by
// zero, NaN and infinities, byte-wise text, dates before 1970, timestamps.
const char* const kExpressions[] = {
    "i + 1",
    "i - 1",
    "i * 2",
    "i * i",
    "-i",
    "i + 9223372036854775807",
    "i * -1",
    "i // 2",
    "i // -3",
    "i // 0",
    "i % 3",
    "i % -1",
    "i % 0",
    "i / 2",
    "i / 0",
    "(i + 1) * (i - 1)",
    "(i + 1) // (i - 10)",
    "(i - 2) % (i + 1)",
    "abs(i)",
    "floor(i)",
    "i + f",
    "f + 1",
    "f * 2",
    "f - f",
    "f / 0",
    "f / 2",
    "-f",
    "abs(f)",
    "floor(f)",
    "ceil(f)",
    "f < 2",
    "f > 1.5",
    "f >= f",
    "f <= 0",
    "f != 1.5",
    "f = 0",
    "(f + 1) < (f * 2)",
    "i < f",
    "i = f",
    "f <= i",
    "i > 9.3e18",
    "i >= -9.3e18",
    "i < 1e300",
    "i = 3.0",
    "i in (3, 12, null)",
    "i not in (3, 12)",
    "f in (1.5, 0)",
    "s < 'b'",
    "s >= 'É'",
    "s = ''",
    "s in ('b', 'é')",
    "s between 'B' and 'e'",
    "s || '-' || s",
    "concat(s, i, b)",
    "length(s)",
    "lower(s)",
    "upper(s)",
    "trim('  ' || s || ' ')",
    "rtrim(s || ' ')",
    "replace(s, 'b', 'x''y;')",
    "starts_with(s, 'é')",
    "ends_with(s, 'e')",
    "contains(s, '')",
    "contains(s, 'co')",
    "coalesce(i, 0)",
    "coalesce(s, 'none')",
    "nullif(i, 3)",
    "nullif(f, 1.5)",
    "min(i, 5)",
    "max(s, 'c')",
    "max(i, 3, null)",
    "if(b, i, -i)",
    "case when i > 5 then 'big' when i < 0 then 'neg' end",
    "not b",
    "b and i > 0",
    "b or f > 1",
    "i is null",
    "s is not null",
    "to_float(i)",
    "to_int(f)",
    "to_int(b)",
    "to_bool(i)",
    "to_bool(f)",
    "to_string(i)",
    "to_string(b)",
    "year(d)",
    "month(d)",
    "day(d)",
    "year(t)",
    "day(t)",
    "month(t)",
    "date_diff(d, '1970-01-01')",
    "add_days(d, 30)",
    "add_days(t, -1)",
    "d < '1970-01-01'",
    "t >= '1970-01-01T00:00:00'",
    "t < '2023-11-14T22:13:20.123456'",
    "d = t",
    "to_date(t)",
    "to_timestamp(d)",
    "year(add_days(d, -719528))",
    "null",
    "i + null",
    "'a''b\"c;'",
    "3.25",
    "-0.0",
    "date('1969-12-31')",
};

TEST_F(PostgresConformanceTest, FormulaComputesLikeTheLocalEngine) {
  // All of them in one recipe, column c<k> for expression k (one query).
  json columns = json::array();
  std::string list;
  for (size_t k = 0; k < std::size(kExpressions); ++k) {
    columns.push_back({{fmt::format("c{}", k), kExpressions[k]}});
    list += fmt::format("c{}: {}\n", k, kExpressions[k]);
  }
  auto [local, pg] = Both("formula", {{"columns", columns}});
  EXPECT_EQ(local.num_columns(), 6 + static_cast<int>(std::size(kExpressions)));
  EXPECT_EQ(TableDiff(local, pg), "") << list;
  // Several columns, each using the ones before; a column replaced by another type.
  Same("formula", {{"columns", json::array({{{"x", "i * 2"}},
                                            {{"y", "x + 1"}},
                                            {{"s", "length(s) + y"}},
                                            {{"i", "to_string(i)"}}})}});
}

TEST_F(PostgresConformanceTest, FilterKeepsTheSameRows) {
  for (const char* e : kExpressions) {
    auto typed = Compile(e, input_.table->schema());
    ASSERT_TRUE(typed.ok()) << e;
    if (typed->type() != TypeId::kBool) continue;
    Same("filter", {{"where", e}});
  }
  Same("filter", {{"where", "i > 0 and s != 'b'"}, {"keep", {"s", "i"}}});
  Same("filter", {{"where", "false"}});
}

// The right input of the joins: every key type with duplicates, nulls,
// NaN, -0.0, keys missing from the left, and names shared with the left.
NamedTable RightInput() {
  return testing::MakeInput(
      "rt", {{"i", Ints({3, 3, std::nullopt, kMin, 99, 12, 0, -7})},
             {"f", Doubles({kNaN, 0.0, -0.0, 1.5, std::nullopt, -kInf, 2.25, 7})},
             {"s", Strings({"b", "é", "", std::nullopt, "x", "B", "b", "école"})},
             {"b", Bools({true, std::nullopt, false, true, true, false, false, true})},
             {"d", Dates({-1, 19000, std::nullopt, 0, 5, 3, -25567, 2})},
             {"t", Stamps({0, 7, -86400000001, std::nullopt, 1, 86400000000, 5, 0})},
             {"v", Strings({"r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7"})}});
}

TEST_F(PostgresConformanceTest, JoinMatchesTheLocalEngine) {
  const NamedTable right = RightInput();
  // Every join type on a key of every type: null never matches null; NaN
  // matches NaN and -0.0 matches 0.0 in both engines; text byte by byte.
  for (const char* type : {"inner", "left", "right", "full", "outer", "anti", "semi"})
    for (const char* key : {"i", "f", "s", "b", "d", "t"})
      SameOver("join", {{"type", type}, {"on", key}}, {input_, right});
  // Several keys; keys of other names (both kept); suffixes, prefixes, right_prefix.
  for (const char* type : {"inner", "left", "right", "full", "anti", "semi"}) {
    SameOver("join", {{"type", type}, {"on", {"s", "b"}}}, {input_, right});
    SameOver("join", {{"type", type}, {"left_on", {"i", "d"}}, {"right_on", {"i", "d"}}},
             {input_, right});
    SameOver("join",
             {{"type", type}, {"left_on", "t"}, {"right_on", "t"}, {"suffixes", {"_l", "_r"}}},
             {input_, right});
  }
  SameOver("join", {{"type", "full"}, {"on", "i"}, {"prefixes", {"left_", "right_"}}},
           {input_, right});
  SameOver("join", {{"type", "right"}, {"on", {"d", "s"}}, {"right_prefix", "r_"}},
           {input_, right});
  SameOver("join", {{"type", "left"}, {"on", "s"}, {"right_prefix", "x"}, {"suffixes", {"", "2"}}},
           {input_, right});
  // An empty side.
  auto none = testing::MakeInput("rt", {{"i", Ints({})}, {"w", Strings({})}});
  for (const char* type : {"inner", "left", "right", "full", "anti", "semi"})
    SameOver("join", {{"type", type}, {"on", "i"}}, {input_, none});
  // What the local engine refuses fails the push-down too: keys of different
  // types, a name still on both sides after renaming, a missing column.
  SameOver("join", {{"left_on", "i"}, {"right_on", "f"}}, {input_, right});
  SameOver("join", {{"on", "i"}, {"suffixes", {"", ""}}, {"prefixes", {"", ""}}}, {input_, right});
  SameOver("join", {{"on", "nope"}}, {input_, right});
}

TEST_F(PostgresConformanceTest, JoinOptionsItCannotReproduceRunLocally) {
  RecipeSpec r;
  r.name = "r";
  r.kind = "join";
  r.inputs = {"in", "rt"};
  r.outputs = {"out"};
  r.params = {{"on", "s"}, {"normalize", "lower"}};
  EngineChoice c = ChooseEngine(*store_, *registry_, r);
  EXPECT_EQ(c.engine, Engine::kLocalMoved);
  EXPECT_NE(c.why.find("join with normalize"), std::string::npos) << c.why;
  r.params = {{"on", "s"}};
  r.outputs = {"out", "unmatched"};
  c = ChooseEngine(*store_, *registry_, r);
  EXPECT_EQ(c.engine, Engine::kLocalMoved);
  EXPECT_NE(c.why.find("second output"), std::string::npos) << c.why;
  r.outputs = {"out"};
  EXPECT_EQ(ChooseEngine(*store_, *registry_, r).engine, Engine::kPushdown);
}

TEST_F(PostgresConformanceTest, WindowMatchesTheLocalEngine) {
  json all = json::array();
  auto add = [&](const std::string& fn, const std::string& column, json extra = json::object()) {
    json e = {{"name", fmt::format("w{}", all.size())}, {"fn", fn}};
    if (!column.empty()) e["column"] = column;
    for (auto& [k, v] : extra.items()) e[k] = v;
    all.push_back(e);
  };
  for (const char* fn : {"row_number", "rank", "dense_rank"}) add(fn, "");
  for (const char* c : {"i", "f", "s", "b", "d", "t"}) {
    add("lag", c);
    add("lead", c, {{"offset", 2}});
    add("lag", c, {{"offset", 0}});
    add("lead", c, {{"offset", 40}});
    add("count", c);
    add("min", c);
    add("max", c);
    add("min", c, {{"frame", {{"preceding", 1}, {"following", 1}}}});
    add("max", c, {{"frame", {{"preceding", "unbounded"}, {"following", "unbounded"}}}});
    add("count", c, {{"frame", {{"preceding", 0}, {"following", 2}}}});
  }
  for (const char* c : {"i", "b"}) {
    add("sum", c);
    add("sum", c, {{"frame", {{"preceding", 2}, {"following", 0}}}});
    add("sum", c, {{"frame", {{"preceding", 1}, {"following", "unbounded"}}}});
  }
  // Every partition and order over every type, ties (kept in input order),
  // nulls first or last, descending.
  const std::vector<json> partitions = {json(),           json("b"), json({"s"}),
                                        json({"d", "b"}), json("f"), json("t")};
  const std::vector<json> orders = {json(),
                                    json({"i"}),
                                    json({"-s"}),
                                    json({"f", "-d"}),
                                    json({{{"column", "b"}, {"nulls", "last"}}}),
                                    json({{{"column", "t"}, {"desc", true}, {"nulls", "first"}}})};
  for (const auto& part : partitions)
    for (const auto& order : orders) {
      json params = {{"columns", all}};
      if (!part.is_null()) params["partition_by"] = part;
      if (!order.is_null()) params["order_by"] = order;
      SameOver("window", params, {input_});
    }
  // Means (last bits may differ: see DocumentedDifferences) and an int64
  // running sum that leaves int64 (null in both).
  SameOver("window",
           {{"partition_by", "b"},
            {"order_by", {"-f"}},
            {"columns",
             {{{"name", "m"}, {"fn", "mean"}, {"column", "i"}},
              {{"name", "mb"},
               {"fn", "mean"},
               {"column", "b"},
               {"frame", {{"preceding", 1}, {"following", 1}}}}}}},
           {input_}, 1e-12);
  auto big = testing::MakeInput("in", {{"i", Ints({kMax, 1, -1, kMin, -1, std::nullopt, 5})}});
  SameOver("window",
           {{"columns",
             {{{"name", "s"}, {"fn", "sum"}, {"column", "i"}},
              {{"name", "s1"}, {"fn", "sum"}, {"column", "i"}, {"frame", {{"preceding", 1}}}}}}},
           {big});
  // What the local engine refuses fails the push-down too.
  SameOver("window", {{"columns", {{{"name", "i"}, {"fn", "rank"}}}}}, {input_});
  SameOver("window", {{"columns", {{{"name", "x"}, {"fn", "sum"}, {"column", "s"}}}}}, {input_});
  SameOver("window", {{"order_by", {"nope"}}, {"columns", {{{"name", "x"}, {"fn", "rank"}}}}},
           {input_});
}

TEST_F(PostgresConformanceTest, WindowFloatSumsRunLocally) {
  RecipeSpec r;
  r.name = "r";
  r.kind = "window";
  r.inputs = {"in"};
  r.outputs = {"out"};
  for (const char* fn : {"sum", "mean"}) {
    r.params = {{"columns", {{{"name", "x"}, {"fn", fn}, {"column", "f"}}}}};
    EXPECT_EQ(ChooseEngine(*store_, *registry_, r).engine, Engine::kPushdown);
    auto pushed = RunPushdown(*store_, *registry_, r, {InputVersion()}, std::string(64, '6'));
    ASSERT_FALSE(pushed.ok());
    EXPECT_NE(pushed.status().message().find(
                  fmt::format("param 'columns': 'x': not expressible: {} over float64", fn)),
              std::string::npos)
        << pushed.status().message();
  }
}

TEST_F(PostgresConformanceTest, SqlRunsInPostgresOnlyWhenAskedTo) {
  RecipeSpec r;
  r.name = "r";
  r.kind = "sql";
  r.inputs = {"in", "rt"};
  r.outputs = {"out"};
  // SQLite's dialect (the default): the local engine, and why.
  r.params = {{"query", "select * from \"in\""}};
  EngineChoice c = ChooseEngine(*store_, *registry_, r);
  EXPECT_EQ(c.engine, Engine::kLocalMoved);
  EXPECT_NE(c.why.find("sql: the query is SQLite's dialect; it runs in the local engine"),
            std::string::npos)
      << c.why;
  // dialect: postgres: refused by the local engine, with the reason; bad values refused.
  auto local =
      testing::RunKind("sql", {{"query", "select 1 as x"}, {"dialect", "postgres"}}, {input_});
  ASSERT_FALSE(local.ok());
  EXPECT_NE(local.status().message().find("runs only inside PostgreSQL"), std::string::npos)
      << local.status().message();
  const RecipeKind* kind = registry_->Find("sql");
  ASSERT_NE(kind, nullptr);
  EXPECT_FALSE(kind->CheckParams({{"query", "select 1"}, {"dialect", "mysql"}}).ok());
  EXPECT_FALSE(kind->CheckParams({{"file", "q.sql"}, {"dialect", "postgres"}}).ok());
  EXPECT_TRUE(kind->CheckParams({{"query", "select 1"}, {"dialect", "sqlite"}}).ok());
  // Pushed down: the inputs by their dataset names, PostgreSQL's functions,
  // the query's row order, and every column in the store's own types.
  r.params = {
      {"dialect", "postgres"},
      {"query",
       "select \"in\".s, \"in\".i * 2 as twice, i::int4 as small, \"in\".f::numeric as "
       "money, \"in\".t::timestamp as ts, \"in\".d, rt.v, count(*) over (partition by \"in\".b) as "
       "n, "
       "\"in\".s::varchar(3) as short\n"
       "from \"in\" left join rt using (i) where i is not null and i between -100 and "
       "100 order by i desc, v nulls first, \"in\".s nulls first; -- the end"}};
  c = ChooseEngine(*store_, *registry_, r);
  EXPECT_EQ(c.engine, Engine::kPushdown) << c.why;
  const std::string out = Version(++outputs_);
  auto pushed = RunPushdown(*store_, *registry_, r, {Put(input_), Put(RightInput())}, out);
  ASSERT_TRUE(pushed.ok()) << pushed.status().message();
  auto back = store_->Read("out", out);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->schema().ToString(),
            "s:utf8, twice:int64, small:int64, money:float64, ts:timestamp, d:date32, v:utf8, "
            "n:int64, short:utf8");
  // The oracle: the same join, filter and order computed here from the inputs.
  const Table& in = *input_.table;
  const NamedTable right = RightInput();
  const Table& rt = *right.table;
  std::vector<std::tuple<int64_t, std::string, std::string>> want;  // i, v, s
  for (int64_t a = 0; a < in.num_rows(); ++a) {
    const Column& ii = *in.column(0);
    if (ii.IsNull(a) || ii.Int64(a) < -100 || ii.Int64(a) > 100) continue;
    const std::string s = in.column(2)->IsNull(a) ? "null" : std::string(in.column(2)->String(a));
    bool matched = false;
    for (int64_t b = 0; b < rt.num_rows(); ++b)
      if (!rt.column(0)->IsNull(b) && rt.column(0)->Int64(b) == ii.Int64(a)) {
        want.emplace_back(ii.Int64(a), std::string(rt.column(6)->String(b)), s);
        matched = true;
      }
    if (!matched) want.emplace_back(ii.Int64(a), "null", s);
  }
  std::stable_sort(want.begin(), want.end(), [](const auto& x, const auto& y) {
    if (std::get<0>(x) != std::get<0>(y)) return std::get<0>(x) > std::get<0>(y);
    if ((std::get<1>(x) == "null") != (std::get<1>(y) == "null")) return std::get<1>(x) == "null";
    if (std::get<1>(x) != std::get<1>(y)) return std::get<1>(x) < std::get<1>(y);
    if ((std::get<2>(x) == "null") != (std::get<2>(y) == "null")) return std::get<2>(x) == "null";
    return std::get<2>(x) < std::get<2>(y);
  });
  ASSERT_EQ(back->num_rows(), static_cast<int64_t>(want.size()));
  const auto twice = testing::Cells(*back, "twice"), v = testing::Cells(*back, "v"),
             small = testing::Cells(*back, "small"), ss = testing::Cells(*back, "s");
  for (size_t k = 0; k < want.size(); ++k) {
    EXPECT_EQ(twice[k], std::to_string(2 * std::get<0>(want[k]))) << k;
    EXPECT_EQ(small[k], std::to_string(std::get<0>(want[k]))) << k;
    EXPECT_EQ(v[k], std::get<1>(want[k])) << k;
    EXPECT_EQ(ss[k], std::get<2>(want[k])) << k;
  }
  // The query is one statement: text that tries to end it and start another fails.
  r.params = {{"dialect", "postgres"}, {"query", "select 1 as x) as q; drop table rt; select (1"}};
  EXPECT_FALSE(
      RunPushdown(*store_, *registry_, r, {Put(input_), Put(RightInput())}, Version(++outputs_))
          .ok());
  auto still = store_->Read("in", InputVersion());
  ASSERT_TRUE(still.ok()) << still.status().message();
  EXPECT_EQ(TableDiff(*input_.table, *still), "");
}

TEST_F(PostgresConformanceTest, HostileNamesAndValues) {
  const std::string weird = "we\"ird'; DROP TABLE x; --";
  auto in = testing::MakeInput(
      "in", {{weird, Strings({"a'b", "c\";d", "'); DROP TABLE t; --", std::nullopt, "ü€𝄞"})},
             {"ü col", Ints({1, 2, 3, 4, 5})}});
  auto staged = store_->Stage("in", std::string(64, '9'), *in.table);
  ASSERT_TRUE(staged.ok()) << staged.status().message();
  ASSERT_TRUE(store_->Publish({*staged}).ok());
  input_ = in;
  std::vector<std::pair<std::string, json>> recipes;
  for (const std::string& e :
       {"[" + weird + "] = 'a''b'", "[" + weird + "] || ';--' = '''); DROP TABLE t; --;--'",
        "[ü col] > 3 or [" + weird + "] = 'ü€𝄞'", "length([" + weird + "]) = 3"})
    recipes.push_back({"filter", {{"where", e}}});
  recipes.push_back(
      {"formula", {{"columns", {{"x'; --", "[" + weird + "] || 'O''Reilly;' || [ü col]"}}}}});
  recipes.push_back({"formula", {{"columns", {{weird, "upper([" + weird + "])"}}}}});
  for (const auto& [kind, params] : recipes) {
    RecipeSpec r;
    r.name = "r";
    r.kind = kind;
    r.inputs = {"in"};
    r.outputs = {"out"};
    r.params = params;
    auto local = testing::RunKind(kind, params, {in});
    ASSERT_TRUE(local.ok()) << local.status().message();
    const std::string out = fmt::format("{:064x}", ++outputs_ + 1000);
    auto pushed = RunPushdown(*store_, *registry_, r, {std::string(64, '9')}, out);
    ASSERT_TRUE(pushed.ok()) << params.dump() << ": " << pushed.status().message();
    auto back = store_->Read("out", out);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(TableDiff(local->tables[0], *back), "") << params.dump();
    EXPECT_GT(back->num_rows(), 0) << params.dump();
  }
  // Joins and windows over the same names: keys, clashing names renamed with
  // hostile suffixes, partitions and orders on them.
  auto other = testing::MakeInput(
      "rt", {{weird, Strings({"ü€𝄞", "a'b", "x", "'); DROP TABLE t; --", "c\";d"})},
             {"ü col", Ints({5, 1, 1, 3, 9})}});
  for (const char* type : {"inner", "left", "right", "full", "anti", "semi"}) {
    SameOver("join", {{"type", type}, {"on", weird}}, {in, other});
    SameOver("join", {{"type", type}, {"on", {weird, "ü col"}}, {"suffixes", {"';--", "\"x"}}},
             {in, other});
  }
  SameOver("join", {{"on", "ü col"}, {"suffixes", {"", "'; DROP TABLE x; --"}}}, {in, other});
  SameOver("window",
           {{"partition_by", weird},
            {"order_by", {"-ü col"}},
            {"columns",
             {{{"name", "r'; --"}, {"fn", "rank"}},
              {{"name", "alambic_w0"}, {"fn", "lag"}, {"column", weird}},
              {{"name", "\"m\""}, {"fn", "max"}, {"column", weird}}}}},
           {in});
  // The input table is still there, whole.
  auto again = store_->Read("in", std::string(64, '9'));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(TableDiff(*in.table, *again), "");
}

TEST_F(PostgresConformanceTest, NotExpressibleRunsLocallyAndSaysWhy) {
  RecipeSpec r;
  r.name = "r";
  r.inputs = {"in"};
  r.outputs = {"out"};
  r.kind = "filter";
  r.params = {{"where", "matches(s, '^b')"}};
  EngineChoice c = ChooseEngine(*store_, *registry_, r);
  EXPECT_EQ(c.engine, Engine::kLocalMoved);
  EXPECT_NE(c.why.find("filter condition: matches() uses PCRE2"), std::string::npos) << c.why;
  r.kind = "formula";
  r.params = {{"columns", {{"x", "substr(s, -2)"}}}};
  c = ChooseEngine(*store_, *registry_, r);
  EXPECT_NE(c.why.find("formula column 'x': substr()"), std::string::npos) << c.why;
  r.params = {{"columns", {{"x", "upper(s)"}}}, {"functions", "f.lua"}};
  EXPECT_NE(ChooseEngine(*store_, *registry_, r).why.find("Lua"), std::string::npos);
  // Type-dependent: found when translating, with the reason.
  r.params = {{"columns", {{"x", "f % 2"}}}};
  EXPECT_EQ(ChooseEngine(*store_, *registry_, r).engine, Engine::kPushdown);
  auto pushed = RunPushdown(*store_, *registry_, r, {InputVersion()}, std::string(64, '7'));
  ASSERT_FALSE(pushed.ok());
  EXPECT_NE(pushed.status().message().find("formula column 'x': not expressible: '%' on float64"),
            std::string::npos)
      << pushed.status().message();
  r.params = {{"columns", {{"x", "to_int(s)"}}}};
  pushed = RunPushdown(*store_, *registry_, r, {InputVersion()}, std::string(64, '7'));
  ASSERT_FALSE(pushed.ok());
  EXPECT_NE(pushed.status().message().find("not expressible: converting utf8 to int64"),
            std::string::npos)
      << pushed.status().message();
  r.params = {{"columns", {{"x", "round(f, 2)"}}}};
  EXPECT_NE(ChooseEngine(*store_, *registry_, r).why.find("formula column 'x': round()"),
            std::string::npos);
}

TEST_F(PostgresConformanceTest, DocumentedDifferences) {
  // 1. An int64 sum whose running total leaves int64 but whose result fits:
  //    the local engine gives null (overflow), PostgreSQL the exact sum.
  auto in = testing::MakeInput("in", {{"i", Ints({kMax, 1, -1})}});
  auto staged = store_->Stage("in", std::string(64, 'b'), *in.table);
  ASSERT_TRUE(staged.ok());
  ASSERT_TRUE(store_->Publish({*staged}).ok());
  input_ = in;
  RecipeSpec r;
  r.name = "r";
  r.kind = "group";
  r.inputs = {"in"};
  r.outputs = {"out"};
  r.params = {{"aggregates", {{{"name", "s"}, {"fn", "sum"}, {"column", "i"}}}}};
  auto local = testing::RunKind("group", r.params, {in});
  ASSERT_TRUE(local.ok());
  auto pushed = RunPushdown(*store_, *registry_, r, {std::string(64, 'b')}, std::string(64, 'c'));
  ASSERT_TRUE(pushed.ok()) << pushed.status().message();
  auto back = store_->Read("out", std::string(64, 'c'));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(testing::Cells(local->tables[0], "s"), std::vector<std::string>{"null"});
  EXPECT_EQ(testing::Cells(*back, "s"), std::vector<std::string>{std::to_string(kMax)});
  // 2. A double sum with cancellation: compensated locally, plain in PostgreSQL.
  auto fin = testing::MakeInput("in", {{"f", Doubles({1e16, 1, -1e16})}});
  auto fstaged = store_->Stage("in", std::string(64, 'e'), *fin.table);
  ASSERT_TRUE(fstaged.ok());
  ASSERT_TRUE(store_->Publish({*fstaged}).ok());
  r.params = {{"aggregates", {{{"name", "s"}, {"fn", "sum"}, {"column", "f"}}}}};
  auto flocal = testing::RunKind("group", r.params, {fin});
  ASSERT_TRUE(flocal.ok());
  ASSERT_TRUE(
      RunPushdown(*store_, *registry_, r, {std::string(64, 'e')}, std::string(64, 'f')).ok());
  auto fback = store_->Read("out", std::string(64, 'f'));
  ASSERT_TRUE(fback.ok());
  EXPECT_EQ(testing::Cells(flocal->tables[0], "s"), std::vector<std::string>{"1"});
  EXPECT_EQ(testing::Cells(*fback, "s"), std::vector<std::string>{"0"});
  r.params = {{"aggregates", {{{"name", "s"}, {"fn", "sum"}, {"column", "i"}}}}};
  // A sum that does not fit is null on both.
  EXPECT_EQ(testing::Cells(*testing::RunKind("group", r.params,
                                             {testing::MakeInput("in", {{"i", Ints({kMax, 1})}})})
                                ->tables.data(),
                           "s"),
            std::vector<std::string>{"null"});
}

TEST_F(PostgresConformanceTest, FloatOverflowFailsThePushDown) {
  // 3. A float64 result beyond the double range: infinity locally, an error in
  //    PostgreSQL, so the push-down fails and the recipe runs locally.
  RecipeSpec r;
  r.name = "r";
  r.kind = "formula";
  r.inputs = {"in"};
  r.outputs = {"out"};
  r.params = {{"columns", {{"x", "f * 1e308 * 10"}}}};
  auto local = testing::RunKind("formula", r.params, {input_});
  ASSERT_TRUE(local.ok());
  EXPECT_EQ(testing::Cells(local->tables[0], "x")[0], "inf");
  auto pushed = RunPushdown(*store_, *registry_, r, {InputVersion()}, std::string(64, '8'));
  ASSERT_FALSE(pushed.ok());
  EXPECT_NE(pushed.status().message().find("out of range"), std::string::npos)
      << pushed.status().message();
}

TEST_F(PostgresConformanceTest, KindsWithoutTranslationSayWhy) {
  RecipeSpec r;
  r.name = "r";
  r.inputs = {"in"};
  r.outputs = {"out"};
  r.kind = "lua";
  EXPECT_EQ(ChooseEngine(*store_, *registry_, r).engine, Engine::kLocalMoved);
  EXPECT_NE(ChooseEngine(*store_, *registry_, r).why.find("kind lua has no SQL translation"),
            std::string::npos);
  r.kind = "group";
  r.params = {{"keys", {"s"}}, {"aggregates", {{{"name", "n"}, {"fn", "sum"}, {"expr", "i * 2"}}}}};
  EXPECT_NE(ChooseEngine(*store_, *registry_, r).why.find("computes an expr"), std::string::npos);
  // A missing column: the translation refuses, and the local engine reports it.
  r.params = {{"keys", {"nope"}}};
  auto pushed = RunPushdown(*store_, *registry_, r, {InputVersion()}, std::string(64, 'd'));
  ASSERT_FALSE(pushed.ok());
  EXPECT_NE(pushed.status().message().find("column 'nope' not in input 'in'"), std::string::npos)
      << pushed.status().message();
}

}  // namespace
}  // namespace alambic
