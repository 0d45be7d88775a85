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

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "core/exec/pushdown_run.h"
#include "core/net/postgres.h"
#include "core/recipe/pushdown.h"
#include "core/store/pg_store.h"
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
