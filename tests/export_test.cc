// The export kind: CSV with formula injection neutralised, JSON and NDJSON
// read back, SQLite tables read back, atomic replacement when an export fails
// half-way, and path confinement.
#include <sqlite3.h>

#include <cstdio>
#include <optional>

#include <gtest/gtest.h>

#include "core/recipe/recipe.h"
#include "tests/test_util.h"

namespace alambic::export_test {
namespace {

using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;

ColumnPtr Text(const std::vector<std::optional<std::string>>& values) {
  ColumnBuilder b(TypeId::kUtf8);
  for (const auto& v : values) v ? b.AppendString(*v) : b.AppendNull();
  return b.Finish();
}
ColumnPtr Ints(const std::vector<std::optional<int64_t>>& values) {
  ColumnBuilder b(TypeId::kInt64);
  for (const auto& v : values) v ? b.AppendInt64(*v) : b.AppendNull();
  return b.Finish();
}

// id:int64, label:utf8, amount:float64, ok:bool, day:date32
Table Sample() {
  ColumnBuilder amount(TypeId::kFloat64), ok(TypeId::kBool), day(TypeId::kDate32);
  amount.AppendDouble(-3.5);
  amount.AppendDouble(2);
  amount.AppendNull();
  ok.AppendBool(true);
  ok.AppendNull();
  ok.AppendBool(false);
  day.AppendDate32(DaysFromCivil(2024, 12, 31));
  day.AppendDate32(DaysFromCivil(2025, 1, 1));
  day.AppendNull();
  Schema s{{{"id", TypeId::kInt64},
            {"label", TypeId::kUtf8},
            {"amount", TypeId::kFloat64},
            {"ok", TypeId::kBool},
            {"day", TypeId::kDate32}}};
  return *Table::Make(s,
                      {Ints({-1, 2, std::nullopt}), Text({"=SUM(A1)", "a \"q\";b", std::nullopt}),
                       amount.Finish(), ok.Finish(), day.Finish()});
}

Table Big(int64_t rows) {
  ColumnBuilder b(TypeId::kInt64);
  for (int64_t i = 0; i < rows; ++i) b.AppendInt64(i);
  return *Table::Make(Schema{{{"n", TypeId::kInt64}}}, {b.Finish()});
}

class ExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kind_ = alambic::testing::BuiltinKinds().Find("export");
    ASSERT_NE(kind_, nullptr);
    ws_ = dir_.path() / "ws";
    std::filesystem::create_directories(ws_);
  }
  Result<RecipeOutput> Run(const Table& t, const nlohmann::json& params,
                           std::function<void(int64_t)> progress = {}) {
    params_ = params;
    input_ = std::make_shared<Table>(t);
    ctx_ = RecipeContext();
    ctx_.recipe = "publish";
    ctx_.params = &params_;
    ctx_.inputs = {{"rates", input_}};
    ctx_.outputs = {"rates_published"};
    ctx_.workspace = ws_;
    ctx_.cancel = &cancel_;
    ctx_.progress = std::move(progress);
    return kind_->Run(ctx_);
  }
  // Files in `dir` (temporary files included).
  std::vector<std::string> Files(const std::filesystem::path& dir) {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(dir))
      out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }

  TempDir dir_;
  std::filesystem::path ws_;
  const RecipeKind* kind_ = nullptr;
  nlohmann::json params_;
  std::shared_ptr<const Table> input_;
  RecipeContext ctx_;
  CancelToken cancel_;
};

TEST_F(ExportTest, CsvNeutralisesFormulasButNotNumbers) {
  Table t = *Table::Make(
      Schema{{{"n", TypeId::kInt64}, {"s", TypeId::kUtf8}}},
      {Ints({-5, 1, 2, 3, 4, 5, 6, 7}),
       Text({"=1+2", "+33 1 23", "-x", "@SUM(A1)", "\tx", "\rx", "ok", std::nullopt})});
  auto out = Run(t, {{"path", "exports/t.csv"}});
  ASSERT_TRUE(out.ok()) << out.status().message();
  const std::string expected =
      "n,s\n-5,'=1+2\n1,'+33 1 23\n2,'-x\n3,'@SUM(A1)\n4,'\tx\n5,\"'\rx\"\n6,ok\n7,\n";
  EXPECT_EQ(ReadFile(ws_ / "exports/t.csv"), expected);
  EXPECT_EQ(out->metrics["rows"], 8);
  EXPECT_EQ(out->metrics["bytes"], static_cast<int64_t>(expected.size()));
  EXPECT_EQ(out->metrics["path"], "exports/t.csv");
  EXPECT_EQ(out->metrics["format"], "csv");
  EXPECT_EQ(out->metrics["neutralised_cells"], 6);
  // The input passes through as the output, column by column.
  ASSERT_EQ(out->tables.size(), 1u);
  EXPECT_EQ(out->tables[0].column(1), t.column(1));
  EXPECT_EQ(out->column_lineage[0].at("s"),
            (std::vector<ColumnSource>{{"rates", "s", "identity"}}));
  EXPECT_EQ(Files(ws_ / "exports"), (std::vector<std::string>{"t.csv"}));
}

TEST_F(ExportTest, CsvWithDelimiterAndAllTypes) {
  auto out = Run(Sample(), {{"path", "s.csv"}, {"delimiter", ";"}});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(ReadFile(ws_ / "s.csv"),
            "id;label;amount;ok;day\n"
            "-1;'=SUM(A1);-3.5;true;2024-12-31\n"
            "2;\"a \"\"q\"\";b\";2;;2025-01-01\n"
            ";;;false;\n");
}

TEST_F(ExportTest, JsonArrayAndNdjsonParseBack) {
  auto out = Run(Sample(), {{"path", "s.json"}});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(out->metrics["format"], "json");
  auto j = nlohmann::json::parse(ReadFile(ws_ / "s.json"));
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 3u);
  EXPECT_EQ(j[0], (nlohmann::json{{"id", -1},
                                  {"label", "=SUM(A1)"},
                                  {"amount", -3.5},
                                  {"ok", true},
                                  {"day", "2024-12-31"}}));
  EXPECT_EQ(j[1]["label"], "a \"q\";b");
  EXPECT_TRUE(j[1]["ok"].is_null());
  EXPECT_TRUE(j[2]["id"].is_null());
  EXPECT_EQ(ReadFile(ws_ / "s.json").substr(0, 10), "[\n{\"id\":-1");

  ASSERT_TRUE(Run(Sample(), {{"path", "s.txt"}, {"format", "ndjson"}}).ok());
  std::string nd = ReadFile(ws_ / "s.txt");
  EXPECT_EQ(std::count(nd.begin(), nd.end(), '\n'), 3);
  EXPECT_EQ(nlohmann::json::parse(nd.substr(0, nd.find('\n')))["day"], "2024-12-31");

  ASSERT_TRUE(Run(Big(0), {{"path", "empty.json"}}).ok());
  EXPECT_EQ(ReadFile(ws_ / "empty.json"), "[]\n");
}

struct Db {
  explicit Db(const std::filesystem::path& p) { sqlite3_open(p.c_str(), &db); }
  ~Db() { sqlite3_close(db); }
  // Rows of a query, cells as "type:value".
  std::vector<std::string> Query(const std::string& sql) {
    std::vector<std::string> out;
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db);
    while (st && sqlite3_step(st) == SQLITE_ROW) {
      std::string row;
      for (int i = 0; i < sqlite3_column_count(st); ++i) {
        const char* v = reinterpret_cast<const char*>(sqlite3_column_text(st, i));
        row += (i ? "|" : "") + std::string(v ? v : "NULL");
      }
      out.push_back(row);
    }
    sqlite3_finalize(st);
    return out;
  }
  sqlite3* db = nullptr;
};

TEST_F(ExportTest, SqliteTableReadsBack) {
  {
    Db db(ws_ / "out.sqlite");
    sqlite3_exec(db.db, "create table other(x); insert into other values (1)", nullptr, nullptr,
                 nullptr);
  }
  auto out = Run(Sample(), {{"path", "out.sqlite"}, {"table", "taux \"centres\""}});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(out->metrics["format"], "sqlite");
  EXPECT_EQ(out->metrics["table"], "taux \"centres\"");
  Db db(ws_ / "out.sqlite");
  EXPECT_EQ(db.Query("select name, type from pragma_table_info('taux \"centres\"')"),
            (std::vector<std::string>{"id|INTEGER", "label|TEXT", "amount|REAL", "ok|BOOLEAN",
                                      "day|DATE"}));
  EXPECT_EQ(
      db.Query("select typeof(id), typeof(label), typeof(amount), typeof(ok), typeof(day) "
               "from \"taux \"\"centres\"\"\" order by rowid"),
      (std::vector<std::string>{"integer|text|real|integer|text", "integer|text|real|null|text",
                                "null|null|null|integer|null"}));
  EXPECT_EQ(db.Query("select * from \"taux \"\"centres\"\"\" order by rowid"),
            (std::vector<std::string>{"-1|=SUM(A1)|-3.5|1|2024-12-31",
                                      "2|a \"q\";b|2.0|NULL|2025-01-01", "NULL|NULL|NULL|0|NULL"}));
  EXPECT_EQ(db.Query("select x from other"), (std::vector<std::string>{"1"}));
  // Replacing: the table holds the new rows only; no temporary table is left.
  ASSERT_TRUE(Run(Big(2), {{"path", "out.sqlite"}, {"table", "taux \"centres\""}}).ok());
  EXPECT_EQ(db.Query("select * from \"taux \"\"centres\"\"\""),
            (std::vector<std::string>{"0", "1"}));
  EXPECT_EQ(db.Query("select name from sqlite_schema order by name"),
            (std::vector<std::string>{"other", "taux \"centres\""}));
  // The default table name is the input dataset's.
  ASSERT_TRUE(Run(Big(1), {{"path", "out.sqlite"}}).ok());
  EXPECT_EQ(db.Query("select count(*) from rates"), (std::vector<std::string>{"1"}));
}

TEST_F(ExportTest, AFileExportFailingHalfWayLeavesTheOldFileIntact) {
  WriteFile(ws_ / "out/big.csv", "old content\n");
  // The progress report after the first batch cancels the run: the export stops
  // in the middle of writing its temporary file.
  auto out = Run(Big(50000), {{"path", "out/big.csv"}}, [&](int64_t) { cancel_.Cancel(); });
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kCancelled);
  EXPECT_EQ(ReadFile(ws_ / "out/big.csv"), "old content\n");
  EXPECT_EQ(Files(ws_ / "out"), (std::vector<std::string>{"big.csv"}));
}

TEST_F(ExportTest, ASqliteExportFailingHalfWayKeepsTheOldTable) {
  ASSERT_TRUE(Run(Big(3), {{"path", "db.sqlite"}, {"table", "t"}}).ok());
  auto out =
      Run(Big(50000), {{"path", "db.sqlite"}, {"table", "t"}}, [&](int64_t) { cancel_.Cancel(); });
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kCancelled);
  Db db(ws_ / "db.sqlite");
  EXPECT_EQ(db.Query("select count(*) from t"), (std::vector<std::string>{"3"}));
  EXPECT_EQ(db.Query("select name from sqlite_schema"), (std::vector<std::string>{"t"}));
}

TEST_F(ExportTest, PathsAreConfinedToTheWorkspace) {
  auto out = Run(Sample(), {{"path", "../x.csv"}});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(
      out.status().message(),
      "recipe publish: path '../x.csv' is outside the workspace and the configured data roots");
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "x.csv"));
  out = Run(Sample(), {{"path", ".alambic/store/x.csv"}});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().message(),
            "recipe publish: path '.alambic/store/x.csv' is inside .alambic/, which an export may "
            "not write (its code, git data or Alambic's state)");
  std::filesystem::create_directories(ws_ / "adir");
  out = Run(Sample(), {{"path", "adir"}});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().message(), "recipe publish: path 'adir' is a directory");
}

// decimal: "," writes float cells with a decimal comma and, unless a
// delimiter is given, semicolons between cells; Python's csv module reads it back
// with delimiter=";".
TEST_F(ExportTest, CsvWithADecimalCommaReadsBackInPython) {
  ColumnBuilder f(TypeId::kFloat64);
  for (double v : {-3.5, 1234.25, 0.001, 2.0}) f.AppendDouble(v);
  f.AppendNull();
  Table t =
      *Table::Make(Schema{{{"n", TypeId::kInt64}, {"x", TypeId::kFloat64}, {"s", TypeId::kUtf8}}},
                   {Ints({1, 2, 3, 4, 5}), f.Finish(), Text({"a.b", "c,d", "e", "f", "g"})});
  auto out = Run(t, {{"path", "fr.csv"}, {"decimal", ","}});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(ReadFile(ws_ / "fr.csv"), "n;x;s\n1;-3,5;a.b\n2;1234,25;c,d\n3;0,001;e\n4;2;f\n5;;g\n");
  const std::string script =
      "import csv, sys\n"
      "rows = list(csv.reader(open(sys.argv[1], newline=''), delimiter=';'))\n"
      "xs = [float(r[1].replace(',', '.')) if r[1] else None for r in rows[1:]]\n"
      "print(rows[0], xs, [r[2] for r in rows[1:]])\n";
  WriteFile(dir_.path() / "read.py", script);
  const std::string cmd = "/usr/bin/python3 -W ignore " + (dir_.path() / "read.py").string() + " " +
                          (ws_ / "fr.csv").string();
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string got;
  char buf[512];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) got.append(buf, n);
  ASSERT_EQ(::pclose(p), 0) << got;
  EXPECT_EQ(got,
            "['n', 'x', 's'] [-3.5, 1234.25, 0.001, 2.0, None] ['a.b', 'c,d', 'e', 'f', 'g']\n");
  // With an explicit delimiter; a delimiter equal to the decimal is refused.
  out = Run(t, {{"path", "tab.csv"}, {"decimal", ","}, {"delimiter", "tab"}});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(ReadFile(ws_ / "tab.csv").substr(0, 14), "n\tx\ts\n1\t-3,5\ta");
  EXPECT_EQ(kind_->CheckParams({{"path", "a.csv"}, {"decimal", ","}, {"delimiter", ","}}).message(),
            "param 'decimal': must differ from the delimiter (use delimiter \";\")");
  EXPECT_EQ(kind_->CheckParams({{"path", "a.csv"}, {"decimal", ";"}}).message(),
            "param 'decimal': must be \".\" or \",\"");
  EXPECT_EQ(kind_->CheckParams({{"path", "a.json"}, {"decimal", ","}}).message(),
            "param 'decimal': applies to format csv only, not json");
}

// What an export reports of its target: its fingerprint once written (the
// same as Target() reads), "" when the file is missing.
TEST_F(ExportTest, TargetFingerprintMatchesWhatWasWritten) {
  auto out = Run(Sample(), {{"path", "o/s.csv"}});
  ASSERT_TRUE(out.ok()) << out.status().message();
  auto t = kind_->Target(ctx_);
  ASSERT_TRUE(t.ok()) << t.status().message();
  ASSERT_TRUE(t->has_value());
  EXPECT_EQ((*t)->label, "o/s.csv");
  EXPECT_EQ(out->metrics[kTargetFingerprintMetric], (*t)->fingerprint);
  EXPECT_EQ((*t)->fingerprint.substr(0, (*t)->fingerprint.find(':')),
            std::to_string(std::filesystem::file_size(ws_ / "o/s.csv")));
  WriteFile(ws_ / "o/s.csv", "changed\n");
  t = kind_->Target(ctx_);
  ASSERT_TRUE(t.ok());
  EXPECT_NE((*t)->fingerprint, out->metrics[kTargetFingerprintMetric]);
  std::filesystem::remove(ws_ / "o/s.csv");
  t = kind_->Target(ctx_);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ((*t)->fingerprint, "");
}

TEST_F(ExportTest, CheckParams) {
  EXPECT_TRUE(kind_->CheckParams({{"path", "a.csv"}, {"delimiter", "tab"}}).ok());
  EXPECT_EQ(kind_->CheckParams({{"path", "a.csv"}, {"format", "xlsx"}}).message(),
            "param 'format': must be csv, json, ndjson or sqlite (postgres: give a connection)");
  EXPECT_EQ(kind_->CheckParams({{"path", "a.json"}, {"delimiter", ";"}}).message(),
            "param 'delimiter': applies to format csv only, not json");
  EXPECT_EQ(kind_->CheckParams({{"path", "a.csv"}, {"table", "t"}}).message(),
            "param 'table': applies to format sqlite only, not csv");
  EXPECT_EQ(kind_->CheckParams({{"path", "a.db"}, {"table", "sqlite_x"}}).message(),
            "param 'table': names starting with sqlite_ are reserved by SQLite");
  EXPECT_EQ(kind_->CheckParams({{"format", "csv"}}).message(),
            "param 'path': is required (or connection)");
}

}  // namespace
}  // namespace alambic::export_test
