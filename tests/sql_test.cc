// The sql recipe kind: loading inputs, result types, the sandbox, errors,
// cancellation.
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/recipe/recipe.h"
#include "tests/test_util.h"

namespace alambic::sql_test {
namespace {

using testing::CapturingLogger;
using namespace std::chrono_literals;
using nlohmann::json;
using testing::TempDir;
using testing::WriteFile;

ColumnPtr Ints(const std::vector<std::optional<int64_t>>& values) {
  ColumnBuilder b(TypeId::kInt64);
  for (const auto& v : values) v ? b.AppendInt64(*v) : b.AppendNull();
  return b.Finish();
}

ColumnPtr Doubles(const std::vector<std::optional<double>>& values) {
  ColumnBuilder b(TypeId::kFloat64);
  for (const auto& v : values) v ? b.AppendDouble(*v) : b.AppendNull();
  return b.Finish();
}

ColumnPtr Bools(const std::vector<std::optional<bool>>& values) {
  ColumnBuilder b(TypeId::kBool);
  for (const auto& v : values) v ? b.AppendBool(*v) : b.AppendNull();
  return b.Finish();
}

ColumnPtr Strings(const std::vector<std::optional<std::string>>& values) {
  ColumnBuilder b(TypeId::kUtf8);
  for (const auto& v : values) v ? b.AppendString(*v) : b.AppendNull();
  return b.Finish();
}

ColumnPtr Dates(const std::vector<std::optional<int32_t>>& days) {
  ColumnBuilder b(TypeId::kDate32);
  for (const auto& v : days) v ? b.AppendDate32(*v) : b.AppendNull();
  return b.Finish();
}

ColumnPtr Timestamps(const std::vector<std::optional<int64_t>>& micros) {
  ColumnBuilder b(TypeId::kTimestamp);
  for (const auto& v : micros) v ? b.AppendTimestamp(*v) : b.AppendNull();
  return b.Finish();
}

NamedTable Input(const std::string& name, const std::vector<std::string>& columns,
                 const std::vector<ColumnPtr>& data) {
  Schema schema;
  for (size_t i = 0; i < columns.size(); ++i) schema.fields.push_back({columns[i], data[i]->type});
  auto t = Table::Make(schema, data);
  EXPECT_TRUE(t.ok()) << t.status().message();
  return {name, std::make_shared<const Table>(std::move(*t))};
}

// Every cell of a column as text (FormatCell), "null" for nulls.
std::vector<std::string> Cells(const Table& t, const std::string& column) {
  ColumnPtr c = t.ColumnByName(column);
  EXPECT_NE(c, nullptr) << "no column " << column << " in " << t.schema().ToString();
  std::vector<std::string> out;
  if (!c) return out;
  for (int64_t i = 0; i < c->length; ++i) out.push_back(c->IsNull(i) ? "null" : FormatCell(*c, i));
  return out;
}

class SqlTest : public ::testing::Test {
 protected:
  const RecipeKind& kind() const { return *alambic::testing::BuiltinKinds().Find("sql"); }

  Result<RecipeOutput> Run(const json& params, std::vector<NamedTable> inputs = {}) {
    params_ = params;
    RecipeContext ctx;
    ctx.recipe = "r";
    ctx.params = &params_;
    ctx.inputs = std::move(inputs);
    ctx.outputs = {"out"};
    ctx.workspace = workspace_.path();
    ctx.log = &log_;
    ctx.cancel = cancel_.get();
    return kind().Run(ctx);
  }

  // Runs `query`, expecting success; returns the output table.
  Table Query(const std::string& query, std::vector<NamedTable> inputs = {}) {
    auto out = Run({{"query", query}}, std::move(inputs));
    EXPECT_TRUE(out.ok()) << out.status().message();
    if (!out.ok() || out->tables.size() != 1) return Table();
    return out->tables[0];
  }

  // Runs `query`, expecting failure; returns the message.
  std::string Error(const std::string& query, std::vector<NamedTable> inputs = {}) {
    auto out = Run({{"query", query}}, std::move(inputs));
    EXPECT_FALSE(out.ok()) << "query succeeded: " << query;
    return out.ok() ? "" : out.status().message();
  }

  TempDir workspace_;
  CapturingLogger log_;
  std::unique_ptr<CancelToken> cancel_ = std::make_unique<CancelToken>();
  json params_;
};

NamedTable Exams() {
  return Input("exams", {"centre_id", "result", "score"},
               {Strings({"C1", "C1", "C2", "C1", "C2", "C3"}),
                Strings({"reussite", "echec", "reussite", "reussite", "echec", "echec"}),
                Ints({12, 8, 15, 17, 9, std::nullopt})});
}

NamedTable Centres() {
  return Input("centres", {"centre_id", "departement"},
               {Strings({"C1", "C2", "C3"}), Strings({"01", "2A", "2A"})});
}

TEST_F(SqlTest, IsRegisteredAsABuiltinKind) {
  const RecipeKind* k = alambic::testing::BuiltinKinds().Find("sql");
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->min_inputs(), 1);
  EXPECT_EQ(k->max_outputs(), 1);
}

TEST_F(SqlTest, JoinAndGroupComputeTheRightValues) {
  auto out = Run({{"query",
                   "select c.departement, count(*) as exams, sum(e.result = 'reussite') as passed,"
                   " avg(e.score) as mean_score"
                   " from exams e join centres c on c.centre_id = e.centre_id"
                   " group by c.departement order by c.departement"}},
                 {Exams(), Centres()});
  ASSERT_TRUE(out.ok()) << out.status().message();
  const Table& t = out->tables.at(0);
  EXPECT_EQ(t.schema().ToString(),
            "departement:utf8, exams:int64, passed:int64, mean_score:float64");
  EXPECT_EQ(Cells(t, "departement"), (std::vector<std::string>{"01", "2A"}));
  EXPECT_EQ(Cells(t, "exams"), (std::vector<std::string>{"3", "3"}));
  EXPECT_EQ(Cells(t, "passed"), (std::vector<std::string>{"2", "1"}));
  EXPECT_EQ(Cells(t, "mean_score"), (std::vector<std::string>{"12.333333333333334", "12"}));
  EXPECT_EQ(out->metrics["rows"], 2);
  EXPECT_EQ(out->metrics["columns"], 4);
  ASSERT_EQ(log_.lines().size(), 1u);
  EXPECT_EQ(log_.lines()[0], "2 rows, 4 columns (loaded 2 of 2 inputs, 9 rows)");
}

TEST_F(SqlTest, PassThroughColumnsKeepTheirTypes) {
  const int64_t ts_frac = 1718000000123456;  // 2024-06-10T06:13:20.123456Z
  const int64_t ts_whole = 1718000000000000;
  const int32_t day = DaysFromCivil(2024, 2, 29);
  auto dict = DictionaryEncode(*Strings({"2A", "01", "2A"}));
  NamedTable in = Input(
      "t", {"i", "f", "b", "s", "d", "ts", "cat"},
      {Ints({1, -2, 3}), Doubles({0.5, -1e300, 3}), Bools({true, false, true}),
       Strings({"a", "", "c"}), Dates({day, -1, 0}), Timestamps({ts_frac, ts_whole, -1}), dict});
  Table t = Query("select cat, ts, d, s, b, f, i from t where i <> 99", {in});
  EXPECT_EQ(t.schema().ToString(),
            "cat:utf8, ts:timestamp, d:date32, s:utf8, b:bool, f:float64, i:int64");
  EXPECT_EQ(Cells(t, "i"), (std::vector<std::string>{"1", "-2", "3"}));
  EXPECT_EQ(Cells(t, "f"), (std::vector<std::string>{"0.5", "-1e+300", "3"}));
  EXPECT_EQ(Cells(t, "b"), (std::vector<std::string>{"true", "false", "true"}));
  EXPECT_EQ(Cells(t, "s"), (std::vector<std::string>{"a", "", "c"}));
  EXPECT_EQ(Cells(t, "d"), (std::vector<std::string>{"2024-02-29", "1969-12-31", "1970-01-01"}));
  EXPECT_EQ(t.ColumnByName("ts")->Int64(0), ts_frac);
  EXPECT_EQ(t.ColumnByName("ts")->Int64(1), ts_whole);
  EXPECT_EQ(t.ColumnByName("ts")->Int64(2), -1);
  EXPECT_EQ(Cells(t, "cat"), (std::vector<std::string>{"2A", "01", "2A"}));
  EXPECT_TRUE(t.ColumnByName("cat")->is_dictionary());
  for (const auto& c : t.columns()) EXPECT_TRUE(c->Validate().ok());
}

TEST_F(SqlTest, DatesAndTimestampsAreComparableText) {
  NamedTable in = Input(
      "t", {"d", "ts"},
      {Dates({DaysFromCivil(2023, 12, 31), DaysFromCivil(2024, 1, 1)}), Timestamps({0, 1500000})});
  Table t = Query(
      "select d, ts, typeof(d) as kind, ts as same from t where d >= '2024-01-01' and"
      " ts = '1970-01-01T00:00:01.500000Z'",
      {in});
  EXPECT_EQ(Cells(t, "d"), (std::vector<std::string>{"2024-01-01"}));
  EXPECT_EQ(Cells(t, "kind"), (std::vector<std::string>{"text"}));
  EXPECT_EQ(t.schema().ToString(), "d:date32, ts:timestamp, kind:utf8, same:timestamp");
}

TEST_F(SqlTest, TypesFollowColumnsThroughSubqueriesAndCtes) {
  NamedTable in = Input("t", {"d", "b"}, {Dates({DaysFromCivil(2024, 5, 1)}), Bools({false})});
  Table t = Query(
      "with x as (select d, b from t) select y.d as day, y.b as flag from (select * from x) y",
      {in});
  EXPECT_EQ(t.schema().ToString(), "day:date32, flag:bool");
  EXPECT_EQ(Cells(t, "day"), (std::vector<std::string>{"2024-05-01"}));
}

TEST_F(SqlTest, DatesAndTimestampsRoundTripOverTheirWholeRange) {
  ColumnBuilder d(TypeId::kDate32), ts(TypeId::kTimestamp);
  for (int64_t v = -3000000; v <= 3000000; v += 1237) {  // years -6244 to 10183
    d.AppendDate32(static_cast<int32_t>(v));
    ts.AppendTimestamp(v * 86400000000 + 7 * v);
  }
  NamedTable in = Input("t", {"d", "ts"}, {d.Finish(), ts.Finish()});
  Table t = Query("select d, ts from t", {in});
  ASSERT_EQ(t.schema(), in.table->schema());
  for (int c = 0; c < 2; ++c)
    for (int64_t r = 0; r < t.num_rows(); ++r)
      ASSERT_EQ(FormatCell(*t.column(c), r), FormatCell(*in.table->column(c), r)) << c << ":" << r;
}

TEST_F(SqlTest, OnlyCanonicalTextCountsAsADateOrTimestamp) {
  NamedTable in = Input("t", {"d", "ts"}, {Dates({0}), Timestamps({0})});
  for (const char* text : {"2024-02-30", "2024-1-05", "2023-02-29", "02024-01-01", "2024-01-01 "}) {
    Table t = Query(std::string("select d from t union all select '") + text + "'", {in});
    EXPECT_EQ(t.schema().ToString(), "d:utf8") << text;
  }
  for (const char* text :
       {"2024-01-01T00:00:00.000000Z", "2024-01-01T24:00:00Z", "2024-01-01 00:00:00Z",
        "2024-01-01T00:00:00.5Z", "2024-01-01T00:00:00"}) {
    Table t = Query(std::string("select ts from t union all select '") + text + "'", {in});
    EXPECT_EQ(t.schema().ToString(), "ts:utf8") << text;
  }
  Table t = Query(
      "select d from t union all select '2024-02-29' union all select '-001-03-01'"
      " union all select '12345-06-07'",
      {in});
  EXPECT_EQ(t.schema().ToString(), "d:date32");
  EXPECT_EQ(Cells(t, "d"),
            (std::vector<std::string>{"1970-01-01", "2024-02-29", "-001-03-01", "12345-06-07"}));
}

TEST_F(SqlTest, ComputedColumnsInferTheirTypeFromValues) {
  Table t = Query(
      "select column1 + 1 as i, column1 * 0.5 as r, 'x' || column1 as s, null as n,"
      " case when column1 = 1 then 1 else 2.5 end as mixed_num,"
      " case when column1 = 1 then 7 else 'seven' end as mixed_text,"
      " case when column1 = 1 then 0.25 else 'q' end as real_text"
      " from (values (1), (2))");
  EXPECT_EQ(t.schema().ToString(),
            "i:int64, r:float64, s:utf8, n:utf8, mixed_num:float64, mixed_text:utf8, "
            "real_text:utf8");
  EXPECT_EQ(Cells(t, "i"), (std::vector<std::string>{"2", "3"}));
  EXPECT_EQ(Cells(t, "r"), (std::vector<std::string>{"0.5", "1"}));
  EXPECT_EQ(Cells(t, "s"), (std::vector<std::string>{"x1", "x2"}));
  EXPECT_EQ(Cells(t, "n"), (std::vector<std::string>{"null", "null"}));
  EXPECT_EQ(Cells(t, "mixed_num"), (std::vector<std::string>{"1", "2.5"}));
  EXPECT_EQ(Cells(t, "mixed_text"), (std::vector<std::string>{"7", "seven"}));
  EXPECT_EQ(Cells(t, "real_text"), (std::vector<std::string>{"0.25", "q"}));
}

TEST_F(SqlTest, ATypeWidensWhenValuesStopFittingTheInputColumn) {
  NamedTable in =
      Input("t", {"d", "b", "n"}, {Dates({DaysFromCivil(2024, 5, 1)}), Bools({true}), Ints({4})});
  Table t = Query(
      "select d, b, n from t union all select 'someday', 2, 4.5 union all select null, 0, null",
      {in});
  EXPECT_EQ(t.schema().ToString(), "d:utf8, b:int64, n:float64");
  EXPECT_EQ(Cells(t, "d"), (std::vector<std::string>{"2024-05-01", "someday", "null"}));
  EXPECT_EQ(Cells(t, "b"), (std::vector<std::string>{"1", "2", "0"}));
  EXPECT_EQ(Cells(t, "n"), (std::vector<std::string>{"4", "4.5", "null"}));
}

TEST_F(SqlTest, NullsRoundTripInEveryType) {
  NamedTable in =
      Input("t", {"i", "f", "b", "s", "d", "ts"},
            {Ints({std::nullopt, 1}), Doubles({2.5, std::nullopt}), Bools({std::nullopt, true}),
             Strings({"", std::nullopt}), Dates({std::nullopt, 3}), Timestamps({5, std::nullopt})});
  Table t = Query("select * from t", {in});
  EXPECT_EQ(t.schema().ToString(), "i:int64, f:float64, b:bool, s:utf8, d:date32, ts:timestamp");
  EXPECT_EQ(Cells(t, "i"), (std::vector<std::string>{"null", "1"}));
  EXPECT_EQ(Cells(t, "f"), (std::vector<std::string>{"2.5", "null"}));
  EXPECT_EQ(Cells(t, "b"), (std::vector<std::string>{"null", "true"}));
  EXPECT_EQ(Cells(t, "s"), (std::vector<std::string>{"", "null"}));  // '' is not null
  EXPECT_EQ(Cells(t, "d"), (std::vector<std::string>{"null", "1970-01-04"}));
  EXPECT_EQ(Cells(t, "ts"), (std::vector<std::string>{"1970-01-01T00:00:00.000005Z", "null"}));

  // An all-null pass-through column keeps its type; an empty result too.
  NamedTable empty = Input("e", {"d"}, {Dates({std::nullopt})});
  EXPECT_EQ(Query("select d from e", {empty}).schema().ToString(), "d:date32");
  Table none = Query("select d, 1 as k from e where 0", {empty});
  EXPECT_EQ(none.num_rows(), 0);
  EXPECT_EQ(none.schema().ToString(), "d:date32, k:utf8");
}

TEST_F(SqlTest, DatasetNamesAreQuoted) {
  NamedTable dashed = Input("my-data", {"select"}, {Ints({1, 2})});
  NamedTable quoted = Input("we\"ird", {"a\"b"}, {Ints({40})});
  Table t =
      Query("select sum(d.\"select\") + w.\"a\"\"b\" as total from \"my-data\" d, \"we\"\"ird\" w",
            {dashed, quoted});
  EXPECT_EQ(Cells(t, "total"), (std::vector<std::string>{"43"}));
}

TEST_F(SqlTest, AttachIsRefused) {
  auto target = workspace_.path() / "stolen.db";
  std::string msg = Error("attach database '" + target.string() + "' as x", {Exams()});
  EXPECT_EQ(msg, "recipe r: ATTACH is not allowed: a sql recipe may only read its inputs");
  EXPECT_FALSE(std::filesystem::exists(target));
}

TEST_F(SqlTest, LoadExtensionIsRefused) {
  EXPECT_EQ(
      Error("select load_extension('/usr/lib/x86_64-linux-gnu/libsqlite3.so.0') as x", {Exams()}),
      "recipe r: the function load_extension() is not allowed: a sql recipe may only read "
      "its inputs");
}

TEST_F(SqlTest, WritesAndSettingsAreRefused) {
  EXPECT_EQ(Error("create table x(a)", {Exams()}),
            "recipe r: CREATE TABLE is not allowed: a sql recipe may only read its inputs");
  EXPECT_EQ(Error("insert into exams(score) values (1)", {Exams()}),
            "recipe r: INSERT is not allowed: a sql recipe may only read its inputs");
  EXPECT_EQ(Error("delete from exams", {Exams()}),
            "recipe r: DELETE is not allowed: a sql recipe may only read its inputs");
  EXPECT_EQ(Error("pragma journal_mode=wal", {Exams()}),
            "recipe r: PRAGMA journal_mode is not allowed: a sql recipe may only read its inputs");
  EXPECT_EQ(Error("begin", {Exams()}),
            "recipe r: BEGIN is not allowed: a sql recipe may only read its inputs");
  EXPECT_EQ(Error("update sqlite_master set sql = ''", {Exams()}),
            "recipe r: table sqlite_master may not be modified");
  EXPECT_EQ(Error("insert into sqlite_master(name) values ('x')", {Exams()}),
            "recipe r: table sqlite_master may not be modified");
  auto target = workspace_.path() / "copy.db";
  EXPECT_EQ(Error("vacuum into '" + target.string() + "'", {Exams()}),
            "recipe r: the query writes: a sql recipe may only read its inputs");
  EXPECT_FALSE(std::filesystem::exists(target));
  EXPECT_EQ(Error("select * from pragma_journal_mode", {Exams()}),
            "recipe r: PRAGMA journal_mode is not allowed: a sql recipe may only read its inputs");
  // Introspection stays possible.
  Table t = Query("select name from pragma_table_info('exams') order by cid", {Exams()});
  EXPECT_EQ(Cells(t, "name"), (std::vector<std::string>{"centre_id", "result", "score"}));
}

TEST_F(SqlTest, OnlyOneStatementRuns) {
  EXPECT_EQ(Error("select 1 as k;\n  select 2 as k", {Exams()}),
            "recipe r: the query holds more than one statement; a sql recipe runs exactly one "
            "(query line 2, column 3)");
  EXPECT_EQ(Error("select 1 as k; drop table exams", {Exams()}),
            "recipe r: the query holds more than one statement; a sql recipe runs exactly one "
            "(query line 1, column 16)");
  // Trailing semicolons, blanks and comments are fine.
  Table t = Query("select 1 as k; ;\n -- done\n /* really */ ", {Exams()});
  EXPECT_EQ(Cells(t, "k"), (std::vector<std::string>{"1"}));
}

TEST_F(SqlTest, SyntaxErrorNamesTheRecipeAndQuotesSqlite) {
  EXPECT_EQ(Error("select *\nfrom exams\nwehre score > 1", {Exams()}),
            "recipe r: near \"score\": syntax error (query line 3, column 7)");
  EXPECT_EQ(Error("select nope from exams", {Exams()}),
            "recipe r: no such column: nope (query line 1, column 8)");
  EXPECT_EQ(Error("select * from missing", {Exams()}), "recipe r: no such table: missing");
}

TEST_F(SqlTest, ParametersAndBlobsAreErrors) {
  EXPECT_EQ(Error("select * from exams where score > ?", {Exams()}),
            "recipe r: the query has a parameter (?) that nothing binds");
  EXPECT_EQ(Error("select 1 as k, x'00ff' as raw", {Exams()}),
            "recipe r: column 'raw' holds a blob (row 1); tables hold no binary values: "
            "convert it, e.g. with hex()");
  Table t = Query("select hex(x'00ff') as raw", {Exams()});
  EXPECT_EQ(Cells(t, "raw"), (std::vector<std::string>{"00FF"}));
}

TEST_F(SqlTest, DuplicateOutputColumnNamesAreRefused) {
  EXPECT_EQ(Error("select e.centre_id, c.centre_id from exams e join centres c using (centre_id)",
                  {Exams(), Centres()}),
            "recipe r: the query returns two columns named 'centre_id' (rename one with AS)");
}

TEST_F(SqlTest, FileParamReadsTheQueryAndIsPartOfTheCode) {
  WriteFile(workspace_.path() / "recipes/rates.sql",
            "-- passed per centre\nselect centre_id, sum(result = 'reussite') as passed\n"
            "from exams group by centre_id order by centre_id;\n");
  json params = {{"file", "recipes/rates.sql"}};
  EXPECT_EQ(kind().CodeFiles(params), (std::vector<std::string>{"recipes/rates.sql"}));
  EXPECT_TRUE(kind().CodeFiles({{"query", "select 1"}}).empty());
  auto out = Run(params, {Exams()});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(Cells(out->tables[0], "passed"), (std::vector<std::string>{"2", "1", "0"}));

  WriteFile(workspace_.path() / "recipes/bad.sql", "select *\nfrom exams\nwehre 1");
  out = Run({{"file", "recipes/bad.sql"}}, {Exams()});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().message(), "recipe r: recipes/bad.sql:3:7: near \"1\": syntax error");

  out = Run({{"file", "recipes/none.sql"}}, {Exams()});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().message(), "recipe r: cannot read recipes/none.sql");
  out = Run({{"file", "../outside.sql"}}, {Exams()});
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("outside the workspace"), std::string::npos);
}

TEST_F(SqlTest, CheckParamsWantsExactlyOneOfQueryAndFile) {
  EXPECT_EQ(kind().CheckParams({{"query", "select 1"}, {"file", "a.sql"}}).message(),
            "give exactly one of 'query' and 'file'");
  EXPECT_EQ(kind().CheckParams(json::object()).message(), "give exactly one of 'query' and 'file'");
  EXPECT_EQ(kind().CheckParams({{"query", "  -- nothing\n"}}).message(), "'query' is empty");
  EXPECT_TRUE(kind().CheckParams({{"query", "select 1"}}).ok());
  EXPECT_TRUE(kind().CheckParams({{"file", "q.sql"}}).ok());
  auto out = Run(json::object(), {Exams()});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().message(), "recipe r: give exactly one of 'query' and 'file'");
}

TEST_F(SqlTest, CancellationInterruptsALongQuery) {
  for (StatusCode why : {StatusCode::kCancelled, StatusCode::kTimedOut}) {
    cancel_ = std::make_unique<CancelToken>();
    CancelToken* token = cancel_.get();
    auto start = std::chrono::steady_clock::now();
    std::thread canceller([&] {
      std::this_thread::sleep_for(100ms);
      token->Cancel(why);
    });
    // Counting to 1e8 takes about 20 s when nothing interrupts it.
    auto out = Run({{"query",
                     "with recursive n(i) as (select 1 union all select i + 1 from n"
                     " where i < 100000000) select count(*) as c from n"}},
                   {Exams()});
    canceller.join();
    auto elapsed = std::chrono::steady_clock::now() - start;
    ASSERT_FALSE(out.ok());
    EXPECT_EQ(out.status().code(), why);
    EXPECT_LT(elapsed, 2s);
  }
  // Already cancelled: nothing runs.
  cancel_->Cancel();
  auto out = Run({{"query", "select 1 as k"}}, {Exams()});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().message(), "cancelled");
}

TEST_F(SqlTest, OnlyInputsTheQueryMentionsAreLoaded) {
  auto out = Run({{"query", "select 1 as k"}}, {Exams(), Centres()});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(out->metrics["inputs_loaded"], 0);
  EXPECT_EQ(Cells(out->tables[0], "k"), (std::vector<std::string>{"1"}));

  out = Run({{"query", "select count(*) as n from CENTRES"}}, {Exams(), Centres()});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(out->metrics["inputs_loaded"], 1);
  EXPECT_EQ(Cells(out->tables[0], "n"), (std::vector<std::string>{"3"}));

  // Looking at the schema sees every input.
  Table t = Query("select name from sqlite_schema order by name", {Exams(), Centres()});
  EXPECT_EQ(Cells(t, "name"), (std::vector<std::string>{"centres", "exams"}));
}

TEST_F(SqlTest, LoadsManyRowsOfEveryType) {
  const int64_t n = 100000;
  ColumnBuilder i(TypeId::kInt64), s(TypeId::kUtf8), d(TypeId::kDate32), ts(TypeId::kTimestamp);
  for (int64_t r = 0; r < n; ++r) {
    i.AppendInt64(r);
    s.AppendString("row" + std::to_string(r % 1000));
    d.AppendDate32(static_cast<int32_t>(r % 50000));
    ts.AppendTimestamp(r * 1000003);
  }
  NamedTable in =
      Input("big", {"i", "s", "d", "ts"}, {i.Finish(), s.Finish(), d.Finish(), ts.Finish()});
  Table t = Query("select * from big", {in});
  ASSERT_EQ(t.num_rows(), n);
  EXPECT_EQ(t.schema(), in.table->schema());
  for (int c = 0; c < t.num_columns(); ++c)
    for (int64_t r = 0; r < n; r += 997)
      ASSERT_EQ(FormatCell(*t.column(c), r), FormatCell(*in.table->column(c), r)) << c << ":" << r;
}

}  // namespace
}  // namespace alambic::sql_test
