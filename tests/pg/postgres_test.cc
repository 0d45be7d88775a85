// The postgres connection against a real PostgreSQL server: collect from a query
// (typed columns, nulls, escapes, fingerprints), export to a table (one
// transaction: concurrent readers see the old rows or the new ones), and the
// password kept out of messages and logs.
//
// Needs the server tests/pg/pg-harness starts (ctest's postgres_connection
// runs these through it); without its variables every test here is skipped.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <set>
#include <thread>

#include "core/flow/loader.h"
#include "core/net/postgres.h"
#include "core/recipe/recipe.h"
#include "tests/kind_test_util.h"
#include "tests/pg/pg_test_util.h"
#include "tests/test_util.h"

namespace alambic {
namespace {

using json = nlohmann::json;
using testing::Cells;
using testing::TempDir;
using testing::WriteFile;

using testing::Env;

class CapturingLog : public RecipeLogger {
 public:
  void Log(LogLevel, const std::string& m) override { lines.push_back(m); }
  std::vector<std::string> lines;
};

class PostgresTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (Env("ALAMBIC_TEST_PG_HOST").empty())
      GTEST_SKIP() << "no PostgreSQL server (run through tests/pg/pg-harness)";
    password_ = Env("ALAMBIC_TEST_PG_PASSWORD");
    WriteYaml(Env("ALAMBIC_TEST_PG_PORT"), "secret:pgpw");
    auto c = Connect();
    ASSERT_TRUE(c.ok()) << c.status().message();
    db_ = std::move(*c);
    // A schema per test, so tests do not see each other's tables; the connections
    // the recipes open find its tables unqualified.
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    schema_ = fmt::format("t_{}", info->name());
    for (auto& ch : schema_) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    ASSERT_TRUE(
        db_->Exec(
               fmt::format("DROP SCHEMA IF EXISTS {0} CASCADE; CREATE SCHEMA {0}; "
                           "SET search_path TO {0}; ALTER ROLE CURRENT_USER SET search_path TO {0}",
                           schema_))
            .ok());
  }

  void WriteYaml(const std::string& port, const std::string& password) {
    WriteFile(dir_.path() / "alambic.yaml",
              fmt::format("name: t\n"
                          "secrets:\n  pgpw: {{env: ALAMBIC_TEST_PG_PASSWORD}}\n"
                          "connections:\n"
                          "  wh: {{type: postgres, host: {}, port: '{}', dbname: {}, user: {}, "
                          "password: '{}', sslmode: disable}}\n",
                          Env("ALAMBIC_TEST_PG_HOST"), port, Env("ALAMBIC_TEST_PG_DB"),
                          Env("ALAMBIC_TEST_PG_USER"), password));
    auto loaded = LoadWorkspaceConfig(dir_.path());
    config_ = loaded.workspace.config;
  }

  Result<std::unique_ptr<PgConnection>> Connect() {
    PgConnectOptions o;
    o.label = "test";
    o.host = Env("ALAMBIC_TEST_PG_HOST");
    o.port = Env("ALAMBIC_TEST_PG_PORT");
    o.dbname = Env("ALAMBIC_TEST_PG_DB");
    o.user = Env("ALAMBIC_TEST_PG_USER");
    o.password = password_;
    return PgConnection::Connect(o);
  }

  RecipeContext Context(const std::string& recipe, const json& params) {
    params_ = params;
    RecipeContext ctx;
    ctx.recipe = recipe;
    ctx.params = &params_;
    ctx.outputs = {"out"};
    ctx.workspace = dir_.path();
    ctx.config = &config_;
    ctx.log = &log_;
    ctx.cancel = &cancel_;
    return ctx;
  }

  Result<RecipeOutput> Collect(const std::string& query) {
    RecipeContext ctx = Context("collect_wh", {{"connection", "wh"}, {"query", query}});
    return testing::BuiltinKinds().Find("collect")->Run(ctx);
  }
  Result<std::string> Fingerprint(const std::string& query) {
    RecipeContext ctx = Context("collect_wh", {{"connection", "wh"}, {"query", query}});
    return testing::BuiltinKinds().Find("collect")->SourceFingerprint(ctx);
  }
  Result<RecipeOutput> Export(const json& params, NamedTable input) {
    RecipeContext ctx = Context("export_wh", params);
    ctx.inputs = {std::move(input)};
    return testing::BuiltinKinds().Find("export")->Run(ctx);
  }
  Result<std::optional<EffectTarget>> Target(const json& params) {
    RecipeContext ctx = Context("export_wh", params);
    ctx.inputs = {NamedTable{"rates", nullptr}};
    return testing::BuiltinKinds().Find("export")->Target(ctx);
  }
  std::string Scalar(const std::string& sql) {
    auto rows = db_->Query(sql);
    EXPECT_TRUE(rows.ok()) << rows.status().message();
    if (!rows.ok() || rows->empty() || !(*rows)[0][0]) return "null";
    return *(*rows)[0][0];
  }

  TempDir dir_;
  WorkspaceConfig config_;
  json params_;
  CapturingLog log_;
  CancelToken cancel_;
  std::string password_, schema_;
  std::unique_ptr<PgConnection> db_;
};

TEST_F(PostgresTest, CollectTypesColumnsFromTheServersTypes) {
  ASSERT_TRUE(db_->Exec(R"(
    CREATE TABLE t (i2 int2, i4 int4, i8 int8, f4 float4, f8 float8, n numeric, b bool,
                    s text, v varchar(10), c char(3), d date, ts timestamp, tz timestamptz,
                    u uuid);
    INSERT INTO t VALUES
      (-32768, 2147483647, 9223372036854775807, 0.1, 0.1, 12.5, true, 'a', 'x', 'ab',
       '2024-02-29', '2024-02-29 23:59:59.123456', '2024-03-01 01:30:00+02',
       'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'),
      (NULL, NULL, -9223372036854775808, 'NaN', 'Infinity', NULL, false, '', '', NULL,
       '1900-01-01', '1969-12-31 23:59:59', '1970-01-01 00:00:00.5-00:30', NULL),
      (0, 0, 0, '-Infinity', '-0', 'NaN', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
  )")
                  .ok());
  auto out = Collect("SELECT * FROM t ORDER BY i8 DESC;");
  ASSERT_TRUE(out.ok()) << out.status().message();
  const Table& t = out->tables[0];
  EXPECT_EQ(t.schema().ToString(),
            "i2:int64, i4:int64, i8:int64, f4:float64, f8:float64, n:float64, b:bool, s:utf8, "
            "v:utf8, c:utf8, d:date32, ts:timestamp, tz:timestamp, u:utf8");
  EXPECT_EQ(Cells(t, "i2"), (std::vector<std::string>{"-32768", "0", "null"}));
  EXPECT_EQ(Cells(t, "i8"),
            (std::vector<std::string>{"9223372036854775807", "0", "-9223372036854775808"}));
  // float4 0.1 is the float nearest 0.1, widened; float8 keeps every digit.
  EXPECT_EQ(t.column(3)->Double(0), static_cast<double>(0.1f));
  EXPECT_EQ(t.column(4)->Double(0), 0.1);
  EXPECT_TRUE(std::isnan(t.column(3)->Double(2)));
  EXPECT_EQ(t.column(3)->Double(1), -HUGE_VAL);
  EXPECT_EQ(t.column(4)->Double(2), HUGE_VAL);
  EXPECT_TRUE(std::signbit(t.column(4)->Double(1)));  // -0.0 stays negative
  EXPECT_EQ(Cells(t, "n"), (std::vector<std::string>{"12.5", "NaN", "null"}));
  EXPECT_EQ(Cells(t, "b"), (std::vector<std::string>{"true", "null", "false"}));
  // Empty strings are not nulls.
  EXPECT_EQ(Cells(t, "s"), (std::vector<std::string>{"a", "null", ""}));
  EXPECT_TRUE(t.column(7)->IsNull(1));
  EXPECT_FALSE(t.column(7)->IsNull(2));
  EXPECT_EQ(Cells(t, "c"), (std::vector<std::string>{"ab ", "null", "null"}));
  EXPECT_EQ(Cells(t, "d"), (std::vector<std::string>{"2024-02-29", "null", "1900-01-01"}));
  EXPECT_EQ(Cells(t, "ts"), (std::vector<std::string>{"2024-02-29T23:59:59.123456Z", "null",
                                                      "1969-12-31T23:59:59Z"}));
  // timestamptz: the instant in UTC, whatever offset it was written with.
  EXPECT_EQ(Cells(t, "tz"), (std::vector<std::string>{"2024-02-29T23:30:00Z", "null",
                                                      "1970-01-01T00:30:00.500000Z"}));
  EXPECT_EQ(Cells(t, "u"),
            (std::vector<std::string>{"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "null", "null"}));
  // Cross-check the timestamps with the server's own epoch arithmetic.
  EXPECT_EQ(std::to_string(t.column(12)->Int64(0)),
            Scalar("SELECT (extract(epoch FROM tz) * 1000000)::int8 FROM t WHERE i8 > 0"));
  EXPECT_EQ(std::to_string(t.column(11)->Int64(2)),
            Scalar("SELECT (extract(epoch FROM ts) * 1000000)::int8 FROM t WHERE i8 < 0"));
}

TEST_F(PostgresTest, CollectKeepsTabsNewlinesBackslashesAndUnicode) {
  ASSERT_TRUE(db_->Exec("CREATE TABLE t (k int, s text); INSERT INTO t VALUES "
                        "(1, E'a\\tb\\nc\\\\d\\re'), (2, '\\N'), (3, 'Élodie 🚗 ;\"'''), "
                        "(4, E'\\x01')")
                  .ok());
  auto out = Collect("select s from t order by k");
  ASSERT_TRUE(out.ok()) << out.status().message();
  const Column& s = *out->tables[0].column(0);
  EXPECT_EQ(s.String(0), "a\tb\nc\\d\re");
  EXPECT_FALSE(s.IsNull(1));
  EXPECT_EQ(s.String(1), "\\N");  // the text, not a null
  EXPECT_EQ(s.String(2), "Élodie 🚗 ;\"'");
  EXPECT_EQ(s.String(3), "\x01");
}

TEST_F(PostgresTest, CollectStreamsManyRowsAndReportsProgress) {
  ASSERT_TRUE(db_->Exec("CREATE TABLE t AS SELECT g AS id, md5(g::text) AS h FROM "
                        "generate_series(1, 50000) g")
                  .ok());
  int64_t last = 0;
  RecipeContext ctx = Context("collect_wh", {{"connection", "wh"}, {"query", "select * from t"}});
  ctx.progress = [&](int64_t n) { last = n; };
  auto out = testing::BuiltinKinds().Find("collect")->Run(ctx);
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(out->tables[0].num_rows(), 50000);
  EXPECT_GE(last, 40000);
  int64_t sum = 0;
  for (int64_t i = 0; i < 50000; ++i) sum += out->tables[0].column(0)->Int64(i);
  EXPECT_EQ(std::to_string(sum), Scalar("select sum(id) from t"));
}

TEST_F(PostgresTest, FingerprintFollowsTheResult) {
  ASSERT_TRUE(db_->Exec("CREATE TABLE t (a int, b text); INSERT INTO t VALUES (1, 'x')").ok());
  auto a = Fingerprint("select * from t");
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_EQ(a->rfind("postgres ", 0), 0u);
  EXPECT_EQ(*Fingerprint("select * from t"), *a);
  ASSERT_TRUE(db_->Exec("UPDATE t SET b = 'y'").ok());
  EXPECT_NE(*Fingerprint("select * from t"), *a);
  ASSERT_TRUE(db_->Exec("UPDATE t SET b = 'x'").ok());
  EXPECT_EQ(*Fingerprint("select * from t"), *a);
  // The same rows under another column name or type are another result.
  EXPECT_NE(*Fingerprint("select a, b as c from t"), *a);
  EXPECT_NE(*Fingerprint("select a::int8, b from t"), *a);
}

TEST_F(PostgresTest, CollectIsReadOnlyAndErrorsNameRecipeAndConnection) {
  ASSERT_TRUE(db_->Exec("CREATE TABLE t (a int); INSERT INTO t VALUES (1)").ok());
  auto del = Collect("delete from t returning a");
  ASSERT_FALSE(del.ok());
  EXPECT_NE(del.status().message().find("recipe collect_wh: connection wh"), std::string::npos)
      << del.status().message();
  EXPECT_EQ(Scalar("select count(*) from t"), "1");
  auto two = Collect("select 1; drop table t");
  ASSERT_FALSE(two.ok());
  EXPECT_EQ(Scalar("select count(*) from t"), "1");
  auto bad = Collect("select nope from t");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("column \"nope\" does not exist"), std::string::npos)
      << bad.status().message();
  auto dup = Collect("select a, a from t");
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.status().message(),
            "recipe collect_wh: connection wh: the query returns two columns named 'a' (give "
            "them distinct aliases)");
  auto inf = Collect("select 'infinity'::date as d");
  ASSERT_FALSE(inf.ok());
  EXPECT_EQ(inf.status().message(),
            "recipe collect_wh: connection wh: column 'd' row 1: value 'infinity' does not fit a "
            "date32 column (cast it in the query, e.g. to text)");
}

TEST_F(PostgresTest, PasswordNeverShows) {
  // A wrong password: the error names the connection, not the password.
  const std::string wrong = "Wr0ng-" + password_;
  setenv("ALAMBIC_TEST_PG_PASSWORD", wrong.c_str(), 1);
  auto out = Collect("select 1 as x");
  setenv("ALAMBIC_TEST_PG_PASSWORD", password_.c_str(), 1);
  ASSERT_FALSE(out.ok());
  const std::string msg = out.status().message();
  EXPECT_NE(msg.find("recipe collect_wh: connection wh: cannot connect"), std::string::npos) << msg;
  EXPECT_NE(msg.find("password authentication failed"), std::string::npos) << msg;
  EXPECT_EQ(msg.find(wrong), std::string::npos);
  EXPECT_EQ(msg.find(password_), std::string::npos);
  // A good run: nothing it logs or records holds the password.
  auto ok = Collect("select 1 as x");
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  for (const auto& line : log_.lines) EXPECT_EQ(line.find(password_), std::string::npos) << line;
  EXPECT_EQ(ok->metrics.dump().find(password_), std::string::npos);
  // A password written in alambic.yaml instead of a secret reference is refused.
  WriteYaml(Env("ALAMBIC_TEST_PG_PORT"), password_);
  auto literal = Collect("select 1 as x");
  ASSERT_FALSE(literal.ok());
  EXPECT_NE(literal.status().message().find("password must be a secret reference"),
            std::string::npos)
      << literal.status().message();
  EXPECT_EQ(literal.status().message().find(password_), std::string::npos);
  // A server that is not there: a clear error naming the connection.
  WriteYaml("1", "secret:pgpw");
  auto down = Collect("select 1 as x");
  ASSERT_FALSE(down.ok());
  EXPECT_NE(down.status().message().find("recipe collect_wh: connection wh: cannot connect"),
            std::string::npos)
      << down.status().message();
}

NamedTable Rates(int64_t rows, int64_t base) {
  ColumnBuilder id(TypeId::kInt64), name(TypeId::kUtf8), rate(TypeId::kFloat64), ok(TypeId::kBool),
      day(TypeId::kDate32), at(TypeId::kTimestamp);
  for (int64_t i = 0; i < rows; ++i) {
    id.AppendInt64(base + i);
    if (i % 7 == 3)
      name.AppendNull();
    else
      name.AppendString(i % 5 == 0 ? std::string() : fmt::format("centre\t{}\n\\", i));
    rate.AppendDouble(i == 1 ? std::nan("") : static_cast<double>(i) / 3.0);
    ok.AppendBool(i % 2 == 0);
    day.AppendDate32(static_cast<int32_t>(19000 + i % 1000));
    at.AppendTimestamp(1700000000000000 + i * 1000001);
  }
  Schema s;
  s.fields = {{"id", TypeId::kInt64}, {"name", TypeId::kUtf8},  {"rate", TypeId::kFloat64},
              {"ok", TypeId::kBool},  {"day", TypeId::kDate32}, {"at", TypeId::kTimestamp}};
  auto t = Table::Make(
      std::move(s),
      {id.Finish(), name.Finish(), rate.Finish(), ok.Finish(), day.Finish(), at.Finish()}, rows);
  EXPECT_TRUE(t.ok());
  return {"rates", std::make_shared<const Table>(std::move(*t))};
}

TEST_F(PostgresTest, ExportRoundTripsThroughCollect) {
  NamedTable in = Rates(100, 0);
  auto out = Export({{"connection", "wh"}, {"schema", schema_}, {"table", "Rates \"2024\""}}, in);
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(out->metrics["rows"], 100);
  EXPECT_EQ(out->metrics["format"], "postgres");
  EXPECT_EQ(Scalar(fmt::format("select format_type(atttypid, atttypmod) from pg_attribute where "
                               "attrelid = '{}.\"Rates \"\"2024\"\"\"'::regclass and attname = "
                               "'at'",
                               schema_)),
            "timestamp with time zone");
  auto back = Collect(fmt::format("select * from {}.\"Rates \"\"2024\"\"\" order by id", schema_));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->tables[0].schema(), in.table->schema());
  for (const char* c : {"id", "name", "rate", "ok", "day", "at"})
    EXPECT_EQ(Cells(back->tables[0], c), Cells(*in.table, c)) << c;
  // The planner's view of the target: what the run recorded, until someone changes it.
  auto target = Target({{"connection", "wh"}, {"schema", schema_}, {"table", "Rates \"2024\""}});
  ASSERT_TRUE(target.ok()) << target.status().message();
  ASSERT_TRUE(target->has_value());
  EXPECT_EQ((*target)->fingerprint, out->metrics[kTargetFingerprintMetric]);
  EXPECT_EQ((*target)->label, fmt::format("connection wh table {}.Rates \"2024\"", schema_));
  ASSERT_TRUE(
      db_->Exec(fmt::format("delete from {}.\"Rates \"\"2024\"\"\" where id = 5", schema_)).ok());
  EXPECT_NE((*Target({{"connection", "wh"}, {"schema", schema_}, {"table", "Rates \"2024\""}}))
                ->fingerprint,
            out->metrics[kTargetFingerprintMetric]);
  auto missing = Target({{"connection", "wh"}, {"schema", schema_}, {"table", "nope"}});
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ((*missing)->fingerprint, "");
}

TEST_F(PostgresTest, ExportSwapsInOneTransactionForConcurrentReaders) {
  const json params = {{"connection", "wh"}, {"schema", schema_}, {"table", "rates"}};
  ASSERT_TRUE(Export(params, Rates(1000, 0)).ok());
  auto reader = Connect();
  ASSERT_TRUE(reader.ok());
  std::atomic<bool> stop{false};
  std::set<std::string> seen;
  std::string failure;
  std::thread t([&] {
    while (!stop.load()) {
      auto r = (*reader)->Query(fmt::format("select count(*) from {}.rates", schema_));
      if (!r.ok()) {
        failure = r.status().message();
        return;
      }
      seen.insert(*(*r)[0][0]);
    }
  });
  for (int round = 0; round < 4; ++round) {
    auto out = Export(params, Rates(round % 2 ? 1000 : 30000, round));
    ASSERT_TRUE(out.ok()) << out.status().message();
  }
  stop = true;
  t.join();
  EXPECT_EQ(failure, "");
  // Every count a reader saw is a whole table's: the old one or the new one.
  for (const auto& n : seen) EXPECT_TRUE(n == "1000" || n == "30000") << n;
  // The reader ran alongside: it saw both tables.
  EXPECT_EQ(seen.count("1000") + seen.count("30000"), 2u);
  EXPECT_EQ(Scalar(fmt::format("select count(*) from {}.rates", schema_)), "1000");
  // No staging table is left behind.
  EXPECT_EQ(Scalar(fmt::format("select count(*) from pg_tables where schemaname = '{}'", schema_)),
            "1");
}

TEST_F(PostgresTest, AFailedExportKeepsTheOldTable) {
  const json params = {{"connection", "wh"}, {"schema", schema_}, {"table", "rates"}};
  ASSERT_TRUE(Export(params, Rates(10, 0)).ok());
  NamedTable bad =
      testing::MakeInput("rates", {{"id", testing::Ints({1, 2, 3})},
                                   {"name", testing::Strings({"a", std::string("b\0c", 3), "d"})}});
  auto out = Export(params, bad);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().message(),
            "recipe export_wh: table rates: connection wh: column 'name' row 2: text holds a NUL "
            "character, which PostgreSQL cannot store");
  EXPECT_EQ(Scalar(fmt::format("select count(*) from {}.rates", schema_)), "10");
  // A schema that does not exist: the server's message, the old table untouched.
  auto noschema = Export({{"connection", "wh"}, {"schema", "nope"}, {"table", "rates"}}, bad);
  ASSERT_FALSE(noschema.ok());
  EXPECT_NE(noschema.status().message().find("schema \"nope\" does not exist"), std::string::npos)
      << noschema.status().message();
  // Hostile names stay names.
  auto hostile =
      Export({{"connection", "wh"}, {"schema", schema_}, {"table", "x\"; drop table rates; --"}},
             Rates(2, 0));
  ASSERT_TRUE(hostile.ok()) << hostile.status().message();
  EXPECT_EQ(Scalar(fmt::format("select count(*) from {}.rates", schema_)), "10");
  EXPECT_EQ(Scalar(fmt::format("select count(*) from {}.\"x\"\"; drop table rates; --\"", schema_)),
            "2");
}

}  // namespace
}  // namespace alambic
