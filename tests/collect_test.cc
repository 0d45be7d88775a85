// The collect kind: params, path confinement, fingerprint, CSV and Arrow input,
// messages that name the recipe and the file as written in the flow.

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/flow/loader.h"
#include "core/recipe/recipe.h"
#include "core/table/arrow_ipc.h"
#include "tests/test_util.h"

namespace alambic::collect_test {
namespace {

using testing::CapturingLogger;
using testing::TempDir;
using testing::WriteFile;

class CollectTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kind_ = alambic::testing::BuiltinKinds().Find("collect");
    ASSERT_NE(kind_, nullptr);
    ws_ = dir_.path() / "ws";
    std::filesystem::create_directories(ws_);
  }

  RecipeContext Context(const nlohmann::json& params, const std::string& name = "collect_exams") {
    params_ = params;
    RecipeContext ctx;
    ctx.recipe = name;
    ctx.params = &params_;
    ctx.outputs = {"out"};
    ctx.workspace = ws_;
    config_ = LoadWorkspaceConfig(ws_).workspace.config;  // as the session reads it
    ctx.config = &config_;
    ctx.log = &log_;
    return ctx;
  }

  Result<RecipeOutput> Run(const nlohmann::json& params) {
    RecipeContext ctx = Context(params);
    return kind_->Run(ctx);
  }

  std::string CheckError(const nlohmann::json& params) {
    Status st = kind_->CheckParams(params);
    EXPECT_FALSE(st.ok()) << params.dump();
    return st.message();
  }

  TempDir dir_;
  std::filesystem::path ws_;
  const RecipeKind* kind_ = nullptr;
  nlohmann::json params_;
  WorkspaceConfig config_;
  CapturingLogger log_;
};

TEST_F(CollectTest, IsASourceWithOneOutputAndAnOptionalRejectsOutput) {
  EXPECT_TRUE(kind_->is_source());
  EXPECT_EQ(kind_->min_inputs(), 0);
  EXPECT_EQ(kind_->max_inputs(), 0);
  EXPECT_EQ(kind_->min_outputs(), 1);
  EXPECT_EQ(kind_->max_outputs(), 2);
  std::vector<std::string> names;
  for (const auto& p : kind_->params()) names.push_back(p.name);
  EXPECT_EQ(names, (std::vector<std::string>{
                       "path",        "url",           "timeout", "connection",
                       "query",       "source_column", "format",  "delimiter",
                       "header",      "encoding",      "member",  "max_decompressed_bytes",
                       "null_values", "schema",        "decimal", "date_format",
                       "skip_rows",   "comment",       "fill",    "max_bad_rows"}));
}

TEST_F(CollectTest, ReadsALatin1CsvWithItsParams) {
  std::string csv = "centre_id;d\xE9partement;taux;commentaire\n";
  for (int i = 0; i < 1500; ++i)
    csv += fmt::format("CE{:04d};{:02d};{}.5;{}\n", i, i % 96, i % 100, i % 3 ? "ok" : "NA");
  WriteFile(ws_ / "data/centres.csv", csv);
  auto out = Run({{"path", "data/centres.csv"},
                  {"format", "csv"},
                  {"delimiter", ";"},
                  {"encoding", "latin-1"},
                  {"null_values", {"NA"}},
                  {"schema", {{"taux", "float64"}}}});
  ASSERT_TRUE(out.ok()) << out.status().message();
  ASSERT_EQ(out->tables.size(), 1u);
  const Table& t = out->tables[0];
  EXPECT_EQ(t.schema().ToString(),
            "centre_id:utf8, d\xC3\xA9partement:utf8, taux:float64, commentaire:utf8");
  EXPECT_EQ(t.num_rows(), 1500);
  EXPECT_EQ(t.column(1)->String(1), "01");
  EXPECT_EQ(t.column(2)->Double(3), 3.5);
  EXPECT_TRUE(t.column(3)->IsNull(0));
  EXPECT_EQ(t.column(3)->String(1), "ok");
  EXPECT_EQ(out->metrics["rows"], 1500);
  EXPECT_EQ(out->metrics["columns"], 4);
  EXPECT_EQ(out->metrics["bytes_read"], static_cast<int64_t>(csv.size()));
  auto lines = log_.lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].substr(0, 29), "read 1,500 rows, 4 columns (c");
  EXPECT_NE(lines[0].find("from data/centres.csv"), std::string::npos) << lines[0];
}

TEST_F(CollectTest, TabDelimiterSpellings) {
  // With a tab delimiter "2,3" is one field, read with a decimal comma.
  WriteFile(ws_ / "t.tsv", "a\tb,c\n1\t2,3\n");
  for (const char* d : {"\t", "\\t", "tab"}) {
    auto out = Run({{"path", "t.tsv"}, {"delimiter", d}});
    ASSERT_TRUE(out.ok()) << out.status().message();
    EXPECT_EQ(out->tables[0].schema().ToString(), "a:int64, b,c:float64") << d;
    EXPECT_EQ(out->tables[0].column(1)->Double(0), 2.3) << d;
  }
}

TEST_F(CollectTest, ReportsProgress) {
  WriteFile(ws_ / "p.csv", "a\n1\n2\n");
  RecipeContext ctx = Context({{"path", "p.csv"}});
  int64_t seen = -1;
  ctx.progress = [&](int64_t rows) { seen = rows; };
  ASSERT_TRUE(kind_->Run(ctx).ok());
  EXPECT_EQ(seen, 2);
}

TEST_F(CollectTest, ErrorsNameTheRecipeAndThePathAsGiven) {
  WriteFile(ws_ / "data/exams.csv",
            "exam_id;candidate_id;centre_id;exam_date;category;result\n"
            "1;K1;\"CE\n1\";2025-01-01;B;reussite\n"
            "2;K2;CE2;2025-01-01;B;echec\n"
            "3;K3;CE3;2025-01-01;B;echec\n"
            "4;K4;CE4;2025-01-01;B;echec\n"
            "5;K5;CE5;2025-01-01;B\n");
  auto out = Run({{"path", "data/exams.csv"}, {"delimiter", ";"}});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().message(),
            "recipe collect_exams: data/exams.csv:7: expected 6 fields, found 5");
  WriteFile(ws_ / "data/ages.csv", "id,age\n1,30\n2,abc\n");
  auto bad = Run({{"path", "data/ages.csv"}, {"schema", {{"age", "int"}}}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "recipe collect_exams: data/ages.csv:3: column 'age': cannot read \"abc\" as int64");
}

TEST_F(CollectTest, PathOutsideTheWorkspaceIsRefused) {
  WriteFile(dir_.path() / "outside.csv", "a\n1\n");
  const std::string msg =
      "recipe collect_exams: path '../outside.csv' is outside the workspace and the configured "
      "data roots";
  auto out = Run({{"path", "../outside.csv"}});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().message(), msg);
  RecipeContext ctx = Context({{"path", "../outside.csv"}});
  auto fp = kind_->SourceFingerprint(ctx);
  ASSERT_FALSE(fp.ok());
  EXPECT_EQ(fp.status().message(), msg);
  // A symlink inside the workspace pointing outside is refused too.
  std::filesystem::create_symlink(dir_.path() / "outside.csv", ws_ / "link.csv");
  auto link = Run({{"path", "link.csv"}});
  ASSERT_FALSE(link.ok());
  EXPECT_EQ(link.status().message(),
            "recipe collect_exams: path 'link.csv' is outside the workspace and the configured "
            "data roots");
}

TEST_F(CollectTest, DataRootsAreReadable) {
  WriteFile(dir_.path() / "shared/ref.csv", "a\n1\n");
  RecipeContext ctx = Context({{"path", (dir_.path() / "shared/ref.csv").string()}});
  ctx.data_roots = {dir_.path() / "shared"};
  auto out = kind_->Run(ctx);
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(out->tables[0].num_rows(), 1);
}

// A file connection of alambic.yaml: its path comes from the connection (the
// environment's own entry when there is one), the reading options from params,
// and the path is confined like `path`.
TEST_F(CollectTest, AFileConnectionGivesThePathPerEnvironment) {
  WriteFile(ws_ / "alambic.yaml",
            fmt::format("name: t\n"
                        "environments:\n"
                        "  datalab: {{}}\n"
                        "  warehouse:\n"
                        "    data_roots: [{}]\n"
                        "    connections: {{exams: {{type: file, path: {}}}}}\n"
                        "connections:\n"
                        "  exams: {{type: file, path: data/sample.csv}}\n"
                        "  ref: {{type: sqlite, path: data/ref.sqlite}}\n",
                        (dir_.path() / "extracts").string(),
                        (dir_.path() / "extracts/exams.csv").string()));
  WriteFile(ws_ / "data/sample.csv", "id;score\nA;1,5\n");
  WriteFile(dir_.path() / "extracts/exams.csv", "id;score\nA;1,5\nB;2\nC;3\n");
  const nlohmann::json params = {{"connection", "exams"}, {"delimiter", ";"}};
  EXPECT_TRUE(kind_->CheckParams(params).ok());

  RecipeContext lab = Context(params);
  lab.environment = "datalab";
  auto small = kind_->Run(lab);
  ASSERT_TRUE(small.ok()) << small.status().message();
  EXPECT_EQ(small->tables[0].num_rows(), 1);
  EXPECT_EQ(small->tables[0].schema().fields.at(1).type, TypeId::kFloat64);  // decimal comma

  RecipeContext wh = Context(params);
  wh.environment = "warehouse";
  wh.data_roots = {dir_.path() / "extracts"};
  auto full = kind_->Run(wh);
  ASSERT_TRUE(full.ok()) << full.status().message();
  EXPECT_EQ(full->tables[0].num_rows(), 3);
  auto lab_fp = kind_->SourceFingerprint(lab);
  auto wh_fp = kind_->SourceFingerprint(wh);
  ASSERT_TRUE(lab_fp.ok() && wh_fp.ok());
  EXPECT_NE(*lab_fp, *wh_fp);

  // Without the environment's data root, its file is outside what may be read.
  wh.data_roots.clear();
  auto outside = kind_->Run(wh);
  ASSERT_FALSE(outside.ok());
  EXPECT_EQ(outside.status().message(),
            fmt::format("recipe collect_exams: path '{}' is outside the workspace and the "
                        "configured data roots",
                        (dir_.path() / "extracts/exams.csv").string()));

  // The kinds of connection and of params must agree.
  auto query_on_file = kind_->Run(lab = Context({{"connection", "exams"}, {"query", "select 1"}}));
  ASSERT_FALSE(query_on_file.ok());
  EXPECT_EQ(query_on_file.status().message(),
            "recipe collect_exams: connection exams is a file: query applies to sqlite "
            "connections");
  auto no_query = kind_->Run(lab = Context({{"connection", "ref"}}));
  ASSERT_FALSE(no_query.ok());
  EXPECT_EQ(no_query.status().message(),
            "recipe collect_exams: connection ref is a sqlite database: give a query");
  EXPECT_EQ(CheckError({{"connection", "exams"}, {"timeout", 3}}),
            "param 'timeout': applies to url sources only");
  EXPECT_EQ(CheckError({{"connection", "exams"}, {"source_column", "f"}}),
            "param 'source_column': applies to a path with a wildcard (* ? [) only");
  EXPECT_EQ(CheckError({{"connection", "exams"}, {"format", "xml"}}),
            "param 'format': unknown format 'xml' (expected csv, arrow, json or ndjson)");

  // A missing file is named as the connection writes it.
  std::filesystem::remove(ws_ / "data/sample.csv");
  auto gone = kind_->Run(lab = Context(params));
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.status().message(), "recipe collect_exams: data/sample.csv: no such file");
}

TEST_F(CollectTest, FingerprintFollowsTheContent) {
  WriteFile(ws_ / "data/x.csv", "a\n1\n");
  RecipeContext ctx = Context({{"path", "data/x.csv"}});
  auto a = kind_->SourceFingerprint(ctx);
  ASSERT_TRUE(a.ok()) << a.status().message();
  auto same = kind_->SourceFingerprint(ctx);
  EXPECT_EQ(*a, *same);
  WriteFile(ws_ / "data/x.csv", "a\n2\n");
  auto b = kind_->SourceFingerprint(ctx);
  ASSERT_TRUE(b.ok());
  EXPECT_NE(*a, *b);
  // The context's hash function is the one used (the session caches hashes).
  ctx.hash_file = [](const std::filesystem::path& p) -> Result<std::string> {
    return "cached:" + p.filename().string();
  };
  EXPECT_EQ(*kind_->SourceFingerprint(ctx), "cached:x.csv");
}

TEST_F(CollectTest, MissingFileIsNotFound) {
  RecipeContext ctx = Context({{"path", "data/nope.csv"}});
  auto fp = kind_->SourceFingerprint(ctx);
  ASSERT_FALSE(fp.ok());
  EXPECT_EQ(fp.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(fp.status().message(), "recipe collect_exams: data/nope.csv: no such file");
  auto out = Run({{"path", "data/nope.csv"}});
  EXPECT_EQ(out.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(out.status().message(), "recipe collect_exams: data/nope.csv: no such file");
}

TEST_F(CollectTest, ArrowFormatReadsAnIpcFile) {
  ColumnBuilder id(TypeId::kInt64), dep(TypeId::kUtf8);
  for (int64_t i = 0; i < 3; ++i) id.AppendInt64(i * 10);
  dep.AppendString("01");
  dep.AppendNull();
  dep.AppendString("2A");
  Table t = *Table::Make(Schema{{{"id", TypeId::kInt64}, {"dep", TypeId::kUtf8}}},
                         {id.Finish(), dep.Finish()});
  auto bytes = WriteArrowFileToString(t);
  ASSERT_TRUE(bytes.ok());
  WriteFile(ws_ / "data/t.arrow", *bytes);
  auto out = Run({{"path", "data/t.arrow"}, {"format", "arrow"}});
  ASSERT_TRUE(out.ok()) << out.status().message();
  const Table& back = out->tables[0];
  EXPECT_EQ(back.schema(), t.schema());
  ASSERT_EQ(back.num_rows(), 3);
  EXPECT_EQ(back.column(0)->Int64(2), 20);
  EXPECT_EQ(back.column(1)->String(0), "01");
  EXPECT_TRUE(back.column(1)->IsNull(1));
  EXPECT_EQ(back.column(1)->String(2), "2A");
  EXPECT_EQ(out->metrics["rows"], 3);
  EXPECT_EQ(out->metrics["bytes_read"], static_cast<int64_t>(bytes->size()));
  // A CSV given as arrow: the message names the file as written in the flow.
  WriteFile(ws_ / "data/not.arrow", "a,b\n1,2\n");
  auto bad = Run({{"path", "data/not.arrow"}, {"format", "arrow"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message().rfind("recipe collect_exams: data/not.arrow: arrow file: ", 0),
            0u)
      << bad.status().message();
}

TEST_F(CollectTest, CheckParamsRejectsBadParamsNamingThem) {
  EXPECT_TRUE(kind_->CheckParams({{"path", "a.csv"}}).ok());
  EXPECT_TRUE(kind_
                  ->CheckParams({{"path", "a.csv"},
                                 {"format", "csv"},
                                 {"delimiter", "|"},
                                 {"header", false},
                                 {"encoding", "CP1252"},
                                 {"null_values", {"", "NA"}},
                                 {"schema", {{"a", "integer"}, {"b", "date"}}}})
                  .ok());
  EXPECT_TRUE(kind_->CheckParams({{"path", "a.arrow"}, {"format", "arrow"}}).ok());
  EXPECT_EQ(CheckError({{"path", "a.csv"}, {"format", "xlsx"}}),
            "param 'format': unknown format 'xlsx' (expected csv, arrow, json or ndjson)");
  EXPECT_EQ(CheckError({{"path", "a.csv"}, {"delimiter", ";;"}}),
            "param 'delimiter': must be one character (or \"\\t\" or \"tab\"), got \";;\"");
  EXPECT_EQ(CheckError({{"path", "a.csv"}, {"delimiter", ""}}),
            "param 'delimiter': must be one character (or \"\\t\" or \"tab\"), got \"\"");
  EXPECT_EQ(CheckError({{"path", "a.csv"}, {"delimiter", "\""}}),
            "param 'delimiter': cannot be a quote or a line break");
  EXPECT_EQ(CheckError({{"path", "a.csv"}, {"encoding", "utf-9"}}),
            "param 'encoding': unknown encoding 'utf-9' (expected utf-8, latin-1, windows-1252, "
            "utf-16le, utf-16be or another name `iconv -l` lists)");
  EXPECT_EQ(CheckError({{"path", "a.csv"}, {"schema", {{"age", "integr"}}}}),
            "param 'schema': column 'age': unknown type 'integr' (expected int64, float64, bool, "
            "utf8, date32 or timestamp)");
  EXPECT_EQ(CheckError({{"path", "a.csv"}, {"schema", {{"age", 3}}}}),
            "param 'schema': column 'age': the type must be a string");
  EXPECT_EQ(CheckError({{"path", "a.arrow"}, {"format", "arrow"}, {"encoding", "utf-8"}}),
            "param 'encoding': applies to csv, json and ndjson, not arrow");
  EXPECT_EQ(CheckError({{"path", "a.arrow"}, {"format", "arrow"}, {"delimiter", ","}}),
            "param 'delimiter': applies to format csv only, not arrow");
  EXPECT_EQ(CheckError({{"path", ""}}), "param 'path': must not be empty");
  EXPECT_EQ(CheckError({{"path", "a.json"}, {"format", "json"}, {"delimiter", ";"}}),
            "param 'delimiter': applies to format csv only, not json");
  EXPECT_EQ(CheckError({{"path", "a.csv"}, {"decimal", ";"}}),
            "param 'decimal': must be \",\" or \".\"");
  EXPECT_EQ(CheckError({{"path", "a.csv"}, {"delimiter", ","}, {"decimal", ","}}),
            "param 'decimal': a decimal comma needs another delimiter than ','");
  EXPECT_EQ(CheckError({{"path", "a.csv"}, {"date_format", "%d/%m"}}),
            "param 'date_format': \"%d/%m\" must hold %d, %m and %Y");
  EXPECT_EQ(
      CheckError({{"path", "a.csv"}, {"schema", {{"d", {{"type", "int64"}, {"format", "%Y"}}}}}}),
      "param 'schema': column 'd': format applies to date and timestamp columns only");
  EXPECT_EQ(CheckError({{"path", "a.csv"}, {"schema", {{"d", {{"typ", "date"}}}}}}),
            "param 'schema': column 'd': unknown key 'typ' (expected type, format, on_error)");
}

TEST_F(CollectTest, ReadsJsonAndNdjson) {
  WriteFile(
      ws_ / "data/people.json",
      R"([{"id": 1, "who": {"name": "Zoé", "dept": "01"}}, {"id": 2, "who": {"name": "Marc"}}])");
  auto out = Run({{"path", "data/people.json"}, {"format", "json"}});
  ASSERT_TRUE(out.ok()) << out.status().message();
  const Table& t = out->tables[0];
  EXPECT_EQ(t.schema().ToString(), "id:int64, who.name:utf8, who.dept:utf8");
  EXPECT_EQ(t.num_rows(), 2);
  EXPECT_EQ(out->metrics["rows"], 2);
  // Line 2 ends early: the column is the one just past its end.
  WriteFile(ws_ / "data/people.ndjson", "{\"id\": 1}\n{\"id\": 2,\n");
  auto bad = Run({{"path", "data/people.ndjson"}, {"format", "ndjson"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "recipe collect_exams: data/people.ndjson:2: invalid JSON at column 10: syntax error "
            "while parsing object key - unexpected end of input; expected string literal");
  WriteFile(ws_ / "data/broken.json", "[\n {\"id\": 1},\n {\"id\": 2\n]\n");
  auto broken = Run({{"path", "data/broken.json"}, {"format", "json"}});
  ASSERT_FALSE(broken.ok());
  EXPECT_EQ(broken.status().message(),
            "recipe collect_exams: data/broken.json:4: invalid JSON at column 1: syntax error "
            "while parsing object - unexpected ']'; expected '}'");
}

TEST_F(CollectTest, RunChecksParamsToo) {
  WriteFile(ws_ / "a.csv", "a\n1\n");
  auto out = Run({{"path", "a.csv"}, {"encoding", "utf-9"}});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().message(),
            "recipe collect_exams: param 'encoding': unknown encoding 'utf-9' (expected utf-8, "
            "latin-1, windows-1252, utf-16le, utf-16be or another name `iconv -l` lists)");
}

TEST_F(CollectTest, CancelledRunReturnsTheTokenStatus) {
  WriteFile(ws_ / "a.csv", "a\n1\n");
  RecipeContext ctx = Context({{"path", "a.csv"}});
  CancelToken cancel;
  cancel.Cancel();
  ctx.cancel = &cancel;
  auto out = kind_->Run(ctx);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kCancelled);
}

TEST_F(CollectTest, AWildcardPathReadsEveryMatchingFileAsOneDataset) {
  WriteFile(ws_ / "data/exams_2025-02.csv", "id;score\n3;12,5\n");
  WriteFile(ws_ / "data/exams_2025-01.csv", "id;score\n1;8,5\n2;10\n");
  WriteFile(ws_ / "data/other.csv", "x\n1\n");
  const nlohmann::json params = {{"path", "data/exams_*.csv"}, {"source_column", "file"}};
  auto out = Run(params);
  ASSERT_TRUE(out.ok()) << out.status().message();
  const Table& t = out->tables[0];
  EXPECT_EQ(t.schema().ToString(), "id:int64, score:float64, file:utf8");
  ASSERT_EQ(t.num_rows(), 3);
  EXPECT_EQ(t.column(0)->Int64(0), 1);  // files in name order
  EXPECT_EQ(t.column(0)->Int64(2), 3);
  EXPECT_EQ(t.column(2)->String(0), "data/exams_2025-01.csv");
  EXPECT_EQ(t.column(2)->String(2), "data/exams_2025-02.csv");
  EXPECT_EQ(out->metrics["files"], 2);

  RecipeContext ctx = Context(params);
  auto fp1 = kind_->SourceFingerprint(ctx);
  ASSERT_TRUE(fp1.ok()) << fp1.status().message();
  WriteFile(ws_ / "data/other.csv", "x\n2\n");  // not matched: no change
  EXPECT_EQ(*kind_->SourceFingerprint(ctx), *fp1);
  WriteFile(ws_ / "data/exams_2025-03.csv", "id;score\n4;1\n");
  auto fp2 = kind_->SourceFingerprint(ctx);
  EXPECT_NE(*fp2, *fp1);
  std::filesystem::rename(ws_ / "data/exams_2025-03.csv", ws_ / "data/exams_2025-04.csv");
  EXPECT_NE(*kind_->SourceFingerprint(ctx), *fp2);  // the names count, not only the contents
}

TEST_F(CollectTest, AWildcardPathNeedsOneSchemaAndStaysInTheWorkspace) {
  WriteFile(ws_ / "data/a_1.csv", "id;score\n1;8\n");
  WriteFile(ws_ / "data/a_2.csv", "id;score\n2;8,5\n");
  auto mixed = Run({{"path", "data/a_*.csv"}});
  ASSERT_FALSE(mixed.ok());
  EXPECT_EQ(mixed.status().message(),
            "recipe collect_exams: column 'score' is float64 in data/a_2.csv but int64 in "
            "data/a_1.csv (give its type in schema)");
  EXPECT_TRUE(Run({{"path", "data/a_*.csv"}, {"schema", {{"score", "float64"}}}}).ok());
  WriteFile(ws_ / "data/b_1.csv", "id\n1\n");
  WriteFile(ws_ / "data/b_2.csv", "key\n2\n");
  auto cols = Run({{"path", "data/b_*.csv"}});
  ASSERT_FALSE(cols.ok());
  EXPECT_EQ(cols.status().message(),
            "recipe collect_exams: data/b_2.csv has columns (key:int64) but data/b_1.csv has "
            "(id:int64): every file must share a schema");
  auto none = Run({{"path", "data/z_*.csv"}});
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().message(), "recipe collect_exams: no file matches data/z_*.csv");
  EXPECT_EQ(CheckError({{"path", "data/*/x.csv"}}),
            "param 'path': a wildcard may only appear in the file name, not in a directory");
  EXPECT_EQ(CheckError({{"path", "data/x.csv"}, {"source_column", "f"}}),
            "param 'source_column': applies to a path with a wildcard (* ? [) only");
  // A match that is a symlink to a file outside the workspace is refused.
  WriteFile(dir_.path() / "outside.csv", "id\n9\n");
  std::filesystem::create_symlink(dir_.path() / "outside.csv", ws_ / "data/c_2.csv");
  WriteFile(ws_ / "data/c_1.csv", "id\n1\n");
  auto out = Run({{"path", "data/c_*.csv"}});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().message(),
            "recipe collect_exams: path 'data/c_2.csv' is outside the workspace and the "
            "configured data roots");
}

// Name order is byte order, whatever order the files were written in; each file is read
// with the same params, JSON too, and an error names the file and its line.
TEST_F(CollectTest, AWildcardPathReadsFilesInByteOrderOfTheirNames) {
  for (const char* name : {"p_b.ndjson", "p_10.ndjson", "p_a.ndjson", "p_2.ndjson"})
    WriteFile(ws_ / "data" / name, fmt::format("{{\"from\": \"{}\"}}\n", name));
  const nlohmann::json params = {
      {"path", "data/p_*.ndjson"}, {"format", "ndjson"}, {"source_column", "file"}};
  auto out = Run(params);
  ASSERT_TRUE(out.ok()) << out.status().message();
  const Table& t = out->tables[0];
  ASSERT_EQ(t.num_rows(), 4);
  std::vector<std::string> order, files;
  for (int64_t i = 0; i < t.num_rows(); ++i) {
    order.emplace_back(t.column(0)->String(i));
    files.emplace_back(t.column(1)->String(i));
  }
  EXPECT_EQ(order,
            (std::vector<std::string>{"p_10.ndjson", "p_2.ndjson", "p_a.ndjson", "p_b.ndjson"}));
  EXPECT_EQ(files[0], "data/p_10.ndjson");
  EXPECT_EQ(files[3], "data/p_b.ndjson");
  WriteFile(ws_ / "data/p_c.ndjson", "{\"from\": \"c\"}\n\n{\"from\": c}\n");
  auto bad = Run(params);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "recipe collect_exams: data/p_c.ndjson:3: invalid JSON at column 10: syntax error "
            "while parsing value - invalid literal; last read: '\"from\": c'");
}

// A register export with a preamble, comments, CR CR LF line ends, ragged records and
// unknown dates: each record lands in the dataset or in the rejects output.
TEST_F(CollectTest, RejectsOutputHoldsBadRecordsAndUnconvertibleDates) {
  WriteFile(ws_ / "data/register.csv",
            "Extract of 2024-05-01\r\r\n"
            "# source: town hall\r\r\n"
            "id;name;born;weight\r\r\n"
            "1;Anne;12/03/1950;61,5\r\r\n"
            "2;Bob;00/00/1952;NA\r\r\n"
            "3;Carl\r\r\n"
            "4;Dora;13/00/1957;70\r\r\n"
            "5;Eve;01/02/1970;55,25;extra\r\r\n"
            "6;Fay;02/02/1972;\r\r\n");
  const nlohmann::json params = {
      {"path", "data/register.csv"},
      {"skip_rows", 1},
      {"comment", "#"},
      {"max_bad_rows", 2},
      {"schema", {{"born", {{"type", "date32"}, {"on_error", "reject"}}}}}};
  RecipeContext ctx = Context(params);
  ctx.outputs = {"register", "register_rejects"};
  auto out = kind_->Run(ctx);
  ASSERT_TRUE(out.ok()) << out.status().message();
  ASSERT_EQ(out->tables.size(), 2u);
  const Table& t = out->tables[0];
  EXPECT_EQ(t.schema().ToString(), "id:int64, name:utf8, born:date32, weight:float64");
  ASSERT_EQ(t.num_rows(), 2);
  EXPECT_EQ(t.column(0)->Int64(0), 1);
  EXPECT_EQ(t.column(0)->Int64(1), 6);
  EXPECT_EQ(t.column(3)->Double(0), 61.5);
  EXPECT_TRUE(t.column(3)->IsNull(1));
  const Table& r = out->tables[1];
  EXPECT_EQ(r.schema().ToString(), "file:utf8, line:int64, reason:utf8, record:utf8");
  ASSERT_EQ(r.num_rows(), 4);
  std::vector<int64_t> lines;
  for (int64_t i = 0; i < r.num_rows(); ++i) lines.push_back(r.column(1)->Int64(i));
  EXPECT_EQ(lines, (std::vector<int64_t>{5, 6, 7, 8}));
  EXPECT_EQ(r.column(0)->String(0), "data/register.csv");
  EXPECT_EQ(r.column(2)->String(0), "column 'born': cannot read \"00/00/1952\" as date32");
  EXPECT_EQ(r.column(3)->String(0), "2;Bob;00/00/1952;NA");
  EXPECT_EQ(r.column(2)->String(1), "expected 4 fields, found 2");
  EXPECT_EQ(r.column(3)->String(3), "5;Eve;01/02/1970;55,25;extra");
  EXPECT_EQ(out->metrics["bad_rows"], 2);
  EXPECT_EQ(out->metrics["rejected_rows"], 4);
  EXPECT_EQ(out->metrics["rejected"]["born"], 2);
  bool logged = false;
  for (const auto& l : log_.lines())
    logged = logged || l == "column 'born': 2 records rejected to register_rejects, their cell "
                            "does not convert (on_error: reject)";
  EXPECT_TRUE(logged);

  // reject without a second output is refused, naming the fix.
  RecipeContext one = Context(params);
  auto refused = kind_->Run(one);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("on_error: reject needs a second output"),
            std::string::npos);
}

TEST_F(CollectTest, OnErrorNullAndDropCountInTheMetricsAndTheLog) {
  WriteFile(ws_ / "data/deaths.csv",
            "id;died\n1;00/00/1952\n2;01/02/1990\n3;00/05/1960\n4;13/00/1957\n");
  auto out = Run({{"path", "data/deaths.csv"},
                  {"schema", {{"died", {{"type", "date32"}, {"on_error", "null"}}}}}});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(out->tables[0].num_rows(), 4);
  EXPECT_EQ(out->tables[0].column(1)->null_count, 3);
  EXPECT_EQ(out->metrics["nulled"]["died"], 3);
  auto dropped = Run({{"path", "data/deaths.csv"},
                      {"schema", {{"died", {{"type", "date32"}, {"on_error", "drop"}}}}}});
  ASSERT_TRUE(dropped.ok()) << dropped.status().message();
  EXPECT_EQ(dropped->tables[0].num_rows(), 1);
  EXPECT_EQ(dropped->metrics["dropped"]["died"], 3);
  EXPECT_NE(CheckError({{"path", "x.csv"},
                        {"schema", {{"d", {{"type", "date32"}, {"on_error", "skip"}}}}}})
                .find("on_error must be fail, null, drop (drop_row) or reject"),
            std::string::npos);
  EXPECT_NE(CheckError({{"path", "x.csv"}, {"skip_rows", -1}}).find("skip_rows"),
            std::string::npos);
  EXPECT_NE(CheckError({{"path", "x.json"}, {"format", "json"}, {"fill", true}})
                .find("applies to format csv only"),
            std::string::npos);
}

TEST_F(CollectTest, NullValuesReplaceTheDefaultMarkers) {
  WriteFile(ws_ / "data/m.csv", "x,s\n1.5,NA\nNA,b\n");
  auto by_default = Run({{"path", "data/m.csv"}});
  ASSERT_TRUE(by_default.ok()) << by_default.status().message();
  EXPECT_EQ(by_default->tables[0].schema().ToString(), "x:float64, s:utf8");
  EXPECT_EQ(by_default->tables[0].column(1)->String(0), "NA");
  auto given = Run({{"path", "data/m.csv"}, {"null_values", {""}}});
  ASSERT_TRUE(given.ok()) << given.status().message();
  EXPECT_EQ(given->tables[0].schema().ToString(), "x:utf8, s:utf8");
}

TEST_F(CollectTest, ASingleColumnWithAnotherDelimiterIsAWarningInTheLog) {
  WriteFile(ws_ / "data/one.csv", "id|name\n1|a\n2|b\n");
  auto out = Run({{"path", "data/one.csv"}, {"delimiter", ","}});
  ASSERT_TRUE(out.ok()) << out.status().message();
  bool warned = false;
  for (const auto& l : log_.lines())
    warned = warned || l.find(
                           "data/one.csv: read as a single column, but each of its first 2 "
                           "lines holds '|'") != std::string::npos;
  EXPECT_TRUE(warned);
}

TEST_F(CollectTest, MetricsNameTheSourceAsAnOpenLineageDataset) {
  WriteFile(ws_ / "data/s.csv", "a\n1\n");
  auto out = Run({{"path", "data/s.csv"}});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(out->metrics["source"]["namespace"], "file");
  EXPECT_EQ(out->metrics["source"]["name"],
            std::filesystem::weakly_canonical(ws_ / "data/s.csv").string());
}

TEST_F(CollectTest, TypeDriftFromThePreviousVersionIsAWarning) {
  WriteFile(ws_ / "data/p.csv", "id,price\n1,2.5\n2,3\n3,n/a\n");
  RecipeContext ctx = Context({{"path", "data/p.csv"}});
  std::string asked;
  ctx.read_version = [&](const std::string& ds, const std::string& v) -> Result<Table> {
    asked = ds + "@" + v;
    Schema s;
    s.fields = {Field{"id", TypeId::kInt64, true}, Field{"price", TypeId::kFloat64, true}};
    return Table::Make(
        std::move(s),
        {ColumnBuilder(TypeId::kInt64).Finish(), ColumnBuilder(TypeId::kFloat64).Finish()}, 0);
  };
  auto out = kind_->Run(ctx);
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(asked, "out@");  // the current version of the output
  bool warned = false;
  for (const auto& l : log_.lines())
    warned = warned || l == "data/p.csv: column 'price' is utf8 now but was float64 in the "
                            "previous version: line 4 holds \"n/a\" (give its type in schema to "
                            "keep it)";
  EXPECT_TRUE(warned);
}

}  // namespace
}  // namespace alambic::collect_test
