// Partitioned fan-out (core/exec/fan_out.h): splitting an input by a column,
// running the real filter and formula kinds on each partition as the jobs do,
// and combining the partitions' outputs gives the table, and the Arrow file
// bytes, of one run over the whole input. And which recipes may run per
// partition. tests/slurm/slurm_e2e.sh runs it as Slurm jobs.
#include "core/exec/fan_out.h"

#include <gtest/gtest.h>

#include "core/table/arrow_ipc.h"
#include "recipes/builtin_kinds.h"
#include "tests/test_util.h"

namespace alambic::fan_out_test {
namespace {

// 200 rows: a month (dictionary-encoded, with nulls), a plain text column with
// nulls and empty strings, an int and a double with nulls and NaN.
Table Sample() {
  ColumnBuilder month(TypeId::kUtf8), name(TypeId::kUtf8), n(TypeId::kInt64), x(TypeId::kFloat64);
  for (int i = 0; i < 200; ++i) {
    if (i % 17 == 0)
      month.AppendNull();
    else
      month.AppendString(i % 3 == 0 ? "2025-01" : i % 3 == 1 ? "2025-02" : "2025-03");
    if (i % 11 == 0)
      name.AppendNull();
    else
      name.AppendString(i % 7 == 0 ? "" : "centre-" + std::to_string(i * 7 % 23));
    n.AppendInt64(i * 37 % 101 - 50);
    if (i % 13 == 0)
      x.AppendNull();
    else
      x.AppendDouble(i % 29 == 0 ? std::nan("") : i * 0.25);
  }
  Schema s{{{"month", TypeId::kUtf8, true},
            {"name", TypeId::kUtf8, true},
            {"n", TypeId::kInt64, false},
            {"x", TypeId::kFloat64, true}}};
  return *Table::Make(s, {DictionaryEncode(*month.Finish()), name.Finish(), n.Finish(), x.Finish()},
                      200);
}

class FanOutKindTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(RegisterBuiltinKinds(kinds_).ok()); }

  Result<Table> RunKind(const std::string& kind, const nlohmann::json& params, const Table& in) {
    RecipeContext ctx;
    ctx.recipe = "r";
    ctx.params = &params;
    ctx.inputs.push_back({"in", std::make_shared<const Table>(in)});
    ctx.outputs = {"out"};
    ctx.workspace = dir_.path();
    ALAMBIC_ASSIGN_OR_RETURN(RecipeOutput out, kinds_.Find(kind)->Run(ctx));
    return std::move(out.tables.at(0));
  }

  // The kind over the whole table, and over its partitions by `by` combined.
  void ExpectSameAsWhole(const std::string& kind, const nlohmann::json& params,
                         const std::string& by, size_t want_parts) {
    const Table in = Sample();
    auto whole = RunKind(kind, params, in);
    ASSERT_TRUE(whole.ok()) << whole.status().message();
    auto parts = SplitByColumn(in, by);
    ASSERT_TRUE(parts.ok()) << parts.status().message();
    EXPECT_EQ(parts->values.size(), want_parts);
    std::vector<Table> outs;
    int64_t rows = 0;
    for (const auto& r : parts->rows) {
      rows += static_cast<int64_t>(r.size());
      auto part = PartitionInput(in, r);
      ASSERT_TRUE(part.ok()) << part.status().message();
      // As a job gets it: through an Arrow file, and back.
      auto bytes = WriteArrowFileToString(*part);
      ASSERT_TRUE(bytes.ok());
      auto read = ReadArrowBuffer(reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size());
      ASSERT_TRUE(read.ok()) << read.status().message();
      auto out = RunKind(kind, params, *read);
      ASSERT_TRUE(out.ok()) << out.status().message();
      auto out_bytes = WriteArrowFileToString(*out);
      auto back =
          ReadArrowBuffer(reinterpret_cast<const uint8_t*>(out_bytes->data()), out_bytes->size());
      ASSERT_TRUE(back.ok());
      outs.push_back(std::move(*back));
    }
    EXPECT_EQ(rows, in.num_rows());
    auto combined = CombinePartitions(outs);
    ASSERT_TRUE(combined.ok()) << combined.status().message();
    EXPECT_EQ(combined->schema(), whole->schema());
    ASSERT_EQ(combined->num_rows(), whole->num_rows());
    for (int c = 0; c < whole->num_columns(); ++c)
      for (int64_t r = 0; r < whole->num_rows(); ++r)
        ASSERT_EQ(FormatCell(*combined->column(c), r), FormatCell(*whole->column(c), r))
            << whole->schema().fields[static_cast<size_t>(c)].name << " row " << r;
    // The same file, byte for byte: the same version file as a local run.
    EXPECT_EQ(*WriteArrowFileToString(*combined), *WriteArrowFileToString(*whole));
  }

  RecipeRegistry kinds_;
  testing::TempDir dir_;
};

TEST_F(FanOutKindTest, FilterPerMonthIsTheWholeFilter) {
  // 3 months and null.
  ExpectSameAsWhole("filter", {{"where", "n > 0 and name != ''"}}, "month", 4);
}

TEST_F(FanOutKindTest, FormulaPerNameIsTheWholeFormula) {
  ExpectSameAsWhole(
      "formula",
      {{"columns",
        {{"label", "upper(name) || '/' || month"}, {"y", "x * 2 + n"}, {"big", "n > 10"}}}},
      "name", 25);
}

TEST_F(FanOutKindTest, FilterKeepingNoRowIsEmptyWithTheSchema) {
  ExpectSameAsWhole("filter", {{"where", "n > 1000"}}, "month", 4);
}

TEST(FanOutTest, SplitNamesAMissingColumnAndRefusesTooManyPartitions) {
  const Table in = Sample();
  auto missing = SplitByColumn(in, "mois");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(),
            "partitions by 'mois': the input has no such column (columns: month:utf8, name:utf8, "
            "n:int64, x:float64)");
  auto many = SplitByColumn(in, "n", 50);
  ASSERT_FALSE(many.ok());
  EXPECT_NE(many.status().message().find("more than 50 partitions"), std::string::npos);
  auto part = PartitionInput(in, {0, 5});
  ASSERT_TRUE(part.ok());
  auto again = SplitByColumn(*part, "month");
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.status().message().find("_alambic_row"), std::string::npos);
}

TEST(FanOutTest, CombineRefusesPartsWithoutRowNumbersOrDifferentColumns) {
  const Table in = Sample();
  auto a = PartitionInput(in, {0, 2});
  auto b = PartitionInput(in, {1, 3});
  ASSERT_TRUE(a.ok() && b.ok());
  auto ok = CombinePartitions({*b, *a});
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->num_rows(), 4);
  EXPECT_EQ(ok->column(2)->Int64(1), in.column(2)->Int64(1));  // back in row order
  auto twice = CombinePartitions({*a, *a});
  ASSERT_FALSE(twice.ok());
  EXPECT_NE(twice.status().message().find("came out of two partitions"), std::string::npos);
  auto none = CombinePartitions({in});
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("has no int64 column _alambic_row"), std::string::npos);
}

TEST(FanOutTest, OnlyRowByRowRecipesOverOneInputRunPerPartition) {
  auto recipe = [](const std::string& kind, std::vector<std::string> inputs,
                   nlohmann::json params) {
    RecipeSpec r;
    r.name = "r";
    r.kind = kind;
    r.inputs = std::move(inputs);
    r.params = std::move(params);
    return r;
  };
  EXPECT_EQ(FanOutRefusal(recipe("filter", {"a"}, {{"where", "v > 1"}})), "");
  EXPECT_EQ(FanOutRefusal(recipe("formula", {"a"}, {{"columns", {{"w", "v + 1"}}}})), "");
  EXPECT_EQ(FanOutRefusal(recipe("group", {"a"}, {{"by", {"month"}}})),
            "kind group does not work row by row (only filter and formula run per partition)");
  EXPECT_EQ(FanOutRefusal(recipe("sql", {"a", "b"}, {})),
            "kind sql does not work row by row (only filter and formula run per partition)");
  EXPECT_EQ(FanOutRefusal(recipe("filter", {"a", "b"}, {{"where", "v > 1"}})),
            "it has more than one input");
  EXPECT_EQ(FanOutRefusal(recipe("filter", {"a"}, {{"where", "v > 1"}, {"keep", {"v"}}})),
            "a filter with 'keep' drops the row numbers the partitions are put back in order by");
  EXPECT_EQ(FanOutRefusal(recipe("formula", {"a"}, {{"functions", "f.lua"}})),
            "a formula's Lua functions may keep state across rows");
}

}  // namespace
}  // namespace alambic::fan_out_test
