// The clean kind: every step with its exact output and changed count, error
// policies, params checks naming the step, lineage, and pseudonymisation that
// matches an independent HMAC and never shows the key.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdlib>
#include <optional>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/flow/loader.h"
#include "core/recipe/recipe.h"
#include "tests/test_util.h"

namespace alambic::clean_test {
namespace {

using testing::CapturingLogger;
using testing::TempDir;
using testing::WriteFile;
using Cells = std::vector<std::string>;
constexpr const char* kNull = "<null>";

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
ColumnPtr Doubles(const std::vector<std::optional<double>>& values) {
  ColumnBuilder b(TypeId::kFloat64);
  for (const auto& v : values) v ? b.AppendDouble(*v) : b.AppendNull();
  return b.Finish();
}

Table MakeTable(const std::vector<std::pair<std::string, ColumnPtr>>& cols) {
  Schema s;
  std::vector<ColumnPtr> data;
  for (const auto& [n, c] : cols) {
    s.fields.push_back({n, c->type, true});
    data.push_back(c);
  }
  return *Table::Make(s, data);
}

Cells CellsOf(const Table& t, const std::string& col) {
  Cells out;
  ColumnPtr c = t.ColumnByName(col);
  EXPECT_NE(c, nullptr) << col << " in " << t.schema().ToString();
  if (!c) return out;
  for (int64_t i = 0; i < c->length; ++i) out.push_back(c->IsNull(i) ? kNull : FormatCell(*c, i));
  return out;
}

std::string HmacHex(const std::string& key, const std::string& msg) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), md, &len);
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) hex += fmt::format("{:02x}", md[i]);
  return hex;
}

class CleanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kind_ = alambic::testing::BuiltinKinds().Find("clean");
    ASSERT_NE(kind_, nullptr);
    ws_ = dir_.path() / "ws";
    WriteFile(ws_ / "alambic.yaml",
              "name: t\n"
              "environments:\n"
              "  datalab: {}\n"
              "  warehouse: {secrets: {pseudo_key: {env: ALAMBIC_TEST_WAREHOUSE_KEY}}}\n"
              "secrets:\n  pseudo_key: {env: ALAMBIC_TEST_PSEUDO_KEY}\n"
              "  other_key: {file: keys/other.key}\n  unset_key: {env: "
              "ALAMBIC_TEST_UNSET_VARIABLE}\n");
    WriteFile(ws_ / "keys/other.key", "another-key-value\n");
    std::filesystem::permissions(ws_ / "keys/other.key", std::filesystem::perms::owner_read |
                                                             std::filesystem::perms::owner_write);
    config_ = LoadWorkspaceConfig(ws_).workspace.config;  // as the session reads it
    setenv("ALAMBIC_TEST_PSEUDO_KEY", kKey, 1);
    unsetenv("ALAMBIC_TEST_UNSET_VARIABLE");
    unsetenv("ALAMBIC_TEST_WAREHOUSE_KEY");
  }
  void TearDown() override { unsetenv("ALAMBIC_TEST_WAREHOUSE_KEY"); }

  Result<RecipeOutput> Run(const Table& input, const nlohmann::json& steps) {
    params_ = {{"steps", steps}};
    input_ = std::make_shared<Table>(input);
    RecipeContext ctx;
    ctx.recipe = "prep";
    ctx.params = &params_;
    ctx.inputs = {{"raw", input_}};
    ctx.outputs = {"clean"};
    ctx.workspace = ws_;
    ctx.config = &config_;
    ctx.environment = environment_;
    ctx.log = &log_;
    return kind_->Run(ctx);
  }
  // Runs and expects success; returns the output table.
  Table Ok(const Table& input, const nlohmann::json& steps) {
    auto out = Run(input, steps);
    EXPECT_TRUE(out.ok()) << out.status().message();
    if (!out.ok()) return Table();
    last_ = *out;
    return out->tables.at(0);
  }
  nlohmann::json StepMetrics(size_t i) const { return last_.metrics["steps"][i]; }
  std::string RunError(const Table& input, const nlohmann::json& steps) {
    auto out = Run(input, steps);
    EXPECT_FALSE(out.ok());
    return out.ok() ? "" : out.status().message();
  }
  std::string CheckError(const nlohmann::json& steps) {
    Status st = kind_->CheckParams({{"steps", steps}});
    EXPECT_FALSE(st.ok()) << steps.dump();
    return st.message();
  }

  static constexpr const char* kKey = "s3cr3t-pseudonymisation-key-0042";
  std::string environment_;  // the recipe's environment ("": top-level secrets)
  TempDir dir_;
  std::filesystem::path ws_;
  WorkspaceConfig config_;
  const RecipeKind* kind_ = nullptr;
  nlohmann::json params_;
  std::shared_ptr<const Table> input_;
  CapturingLogger log_;
  RecipeOutput last_;
};

TEST_F(CleanTest, TrimUpperLowerCountChangedCells) {
  Table in = MakeTable({{"name", Text({"  \xC3\xA9lodie ", "jean\xC2\xA0", std::nullopt, "ok"})}});
  Table t = Ok(in, {{{"trim", "name"}}, {{"upper", {"name"}}}, {{"lower", "name"}}});
  EXPECT_EQ(CellsOf(t, "name"), (Cells{"\xC3\xA9lodie", "jean", kNull, "ok"}));
  EXPECT_EQ(StepMetrics(0),
            (nlohmann::json{{"step", "trim"}, {"columns", {"name"}}, {"changed", 2}}));
  EXPECT_EQ(StepMetrics(1)["changed"], 3);
  EXPECT_EQ(StepMetrics(2)["changed"], 3);
  Table up = Ok(in, {{{"upper", "name"}}});
  EXPECT_EQ(CellsOf(up, "name"), (Cells{"  \xC3\x89LODIE ", "JEAN\xC2\xA0", kNull, "OK"}));
  auto lines = log_.lines();
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0], "step 1 (trim) on name: 2 cells changed");
  EXPECT_EQ(last_.metrics["rows"], 4);
  EXPECT_EQ(last_.metrics["rows_in"], 4);
}

TEST_F(CleanTest, UpperAndLowerCoverLatinExtendedA) {
  Table in = MakeTable({{"v", Text({"œuvre ÿ łódź",
                                    "STRA\xC3\x9F"
                                    "E"})}});
  EXPECT_EQ(CellsOf(Ok(in, {{{"upper", "v"}}}), "v"),
            (Cells{"\xC5\x92UVRE \xC5\xB8 \xC5\x81\xC3\x93"
                   "D\xC5\xB9",
                   "STRA\xC3\x9F"
                   "E"}));
  EXPECT_EQ(CellsOf(Ok(in, {{{"lower", "v"}}}), "v"), (Cells{"œuvre ÿ łódź",
                                                             "stra\xC3\x9F"
                                                             "e"}));
}

TEST_F(CleanTest, StripAccentsOnFrenchAndSpanishNames) {
  Table in = MakeTable({{"n", Text({"\xC3\x89lodie \xC3\x91\xC3\xBA\xC3\xB1"
                                    "ez",                             // Élodie Ñúñez
                                    "Fran\xC3\xA7ois L\xC5\x93uvre",  // François Lœuvre
                                    "\xC3\x86r\xC3\xB8 Stra\xC3\x9F"
                                    "e",                // Ærø Straße
                                    "Ren\x65\xCC\x81",  // decomposed é
                                    "plain", std::nullopt,
                                    "Chlo\xC3\xAB \xC3\x8Dsabel Gonz\xC3\xA1lez \xC5\xA0imon"})}});
  Table t = Ok(in, {{{"strip_accents", "n"}}});
  EXPECT_EQ(CellsOf(t, "n"), (Cells{"Elodie Nunez", "Francois Loeuvre", "AEro Strasse", "Rene",
                                    "plain", kNull, "Chloe Isabel Gonzalez Simon"}));
  EXPECT_EQ(StepMetrics(0)["changed"], 5);
}

TEST_F(CleanTest, NormaliseWhitespaceCollapsesRunsAndTrims) {
  Table in = MakeTable({{"a", Text({" a \t b  c ", "x\xE2\x80\xAFy", "ok", ""})}});
  EXPECT_EQ(CellsOf(Ok(in, {{{"normalise_whitespace", "a"}}}), "a"),
            (Cells{"a b c", "x y", "ok", ""}));
  EXPECT_EQ(StepMetrics(0)["changed"], 2);
}

TEST_F(CleanTest, RenameKeepDropAndLineage) {
  Table in = MakeTable({{"id", Ints({1, 2})}, {"nom", Text({"a", "b"})}, {"x", Ints({0, 0})}});
  Table t = Ok(in, {{{"rename", {{"nom", "name"}}}}, {{"drop", "x"}}, {{"keep", {"name", "id"}}}});
  EXPECT_EQ(t.schema().ToString(), "name:utf8, id:int64");
  ASSERT_EQ(last_.column_lineage.size(), 1u);
  EXPECT_EQ(last_.column_lineage[0].at("name"),
            (std::vector<ColumnSource>{{"raw", "nom", "identity"}}));
  EXPECT_EQ(last_.column_lineage[0].at("id"),
            (std::vector<ColumnSource>{{"raw", "id", "identity"}}));
  EXPECT_EQ(StepMetrics(0)["changed"], 0);
  EXPECT_EQ(StepMetrics(1)["columns_removed"], 1);
  EXPECT_EQ(
      RunError(in, {{{"rename", {{"nom", "id"}}}}}),
      "recipe prep: step 1 (rename): cannot rename 'nom' to 'id': column 'id' already exists");
}

TEST_F(CleanTest, CopyAddsAColumnWithTheSourceValuesAndLineage) {
  Table in = MakeTable({{"id", Ints({1, 2})}, {"nom", Text({"Dupont", std::nullopt})}});
  Table t = Ok(in, {{{"copy", {{"nom", "nom_brut"}}}}, {{"upper", "nom"}}});
  EXPECT_EQ(t.schema().ToString(), "id:int64, nom:utf8, nom_brut:utf8");
  EXPECT_EQ(CellsOf(t, "nom"), (Cells{"DUPONT", kNull}));
  EXPECT_EQ(CellsOf(t, "nom_brut"), (Cells{"Dupont", kNull}));
  EXPECT_EQ(last_.column_lineage[0].at("nom_brut"),
            (std::vector<ColumnSource>{{"raw", "nom", "identity"}}));
  EXPECT_EQ(RunError(in, {{{"copy", {{"nom", "id"}}}}}),
            "recipe prep: step 1 (copy): cannot copy 'nom' to 'id': column 'id' already exists");
  EXPECT_EQ(RunError(in, {{{"copy", {{"absent", "x"}}}}}).find("absent") != std::string::npos,
            true);
}

TEST_F(CleanTest, CastErrorPolicies) {
  Table in =
      MakeTable({{"age", Text({"12", "abc", "7", std::nullopt})}, {"k", Ints({1, 2, 3, 4})}});
  EXPECT_EQ(RunError(in, {{{"cast", {{"age", "int64"}}}}}),
            "recipe prep: step 1 (cast): column 'age': cannot convert 'abc' to int64 (row 2); set "
            "on_error: null or drop_row to go on");

  Table nulled = Ok(in, {{{"cast", {{"age", "int"}}}, {"on_error", "null"}}});
  EXPECT_EQ(nulled.schema().ToString(), "age:int64, k:int64");
  EXPECT_EQ(CellsOf(nulled, "age"), (Cells{"12", kNull, "7", kNull}));
  EXPECT_EQ(StepMetrics(0), (nlohmann::json{{"step", "cast"},
                                            {"columns", {"age"}},
                                            {"changed", 2},
                                            {"converted", 2},
                                            {"failed", 1},
                                            {"on_error", "null"},
                                            {"nulled", 1}}));

  Table dropped =
      Ok(in, {{{"cast", {{"age", "int64"}, {"k", "float64"}}}, {"on_error", "drop_row"}}});
  EXPECT_EQ(CellsOf(dropped, "age"), (Cells{"12", "7", kNull}));
  EXPECT_EQ(CellsOf(dropped, "k"), (Cells{"1", "3", "4"}));
  EXPECT_EQ(dropped.schema().ToString(), "age:int64, k:float64");
  EXPECT_EQ(StepMetrics(0)["rows_removed"], 1);
  EXPECT_EQ(StepMetrics(0)["converted"], 6);
}

TEST_F(CleanTest, CastBetweenTypes) {
  Table in =
      MakeTable({{"f", Text({"3,5", "1e3", "-2"})},
                 {"b", Text({"oui", "False", "1"})},
                 {"d", Text({"2024-12-31", "2025-01-01", "2000-02-29"})},
                 {"ts", Text({"2024-12-31T10:20:30Z", "2025-01-01 00:00:00.5", "2000-02-29"})},
                 {"n", Ints({1, -2, 30})}});
  Table t = Ok(
      in,
      {{{"cast",
         {{"f", "float64"}, {"b", "bool"}, {"d", "date"}, {"ts", "timestamp"}, {"n", "string"}}}}});
  EXPECT_EQ(t.schema().ToString(), "f:float64, b:bool, d:date32, ts:timestamp, n:utf8");
  EXPECT_EQ(CellsOf(t, "f"), (Cells{"3.5", "1000", "-2"}));
  EXPECT_EQ(CellsOf(t, "b"), (Cells{"true", "false", "true"}));
  EXPECT_EQ(CellsOf(t, "d"), (Cells{"2024-12-31", "2025-01-01", "2000-02-29"}));
  EXPECT_EQ(CellsOf(t, "ts"),
            (Cells{"2024-12-31T10:20:30Z", "2025-01-01T00:00:00.500000Z", "2000-02-29T00:00:00Z"}));
  EXPECT_EQ(CellsOf(t, "n"), (Cells{"1", "-2", "30"}));
  EXPECT_EQ(StepMetrics(0)["changed"], 15);
}

TEST_F(CleanTest, ParseFrenchDates) {
  Table in =
      MakeTable({{"d", Text({"31/12/2024", "31/02/2024", "1/1/2025", std::nullopt, "2024"})}});
  Table t = Ok(in, {{{"parse_date", "d"}, {"format", "%d/%m/%Y"}}});
  EXPECT_EQ(t.schema().ToString(), "d:date32");
  EXPECT_EQ(CellsOf(t, "d"), (Cells{"2024-12-31", kNull, "2025-01-01", kNull, kNull}));
  EXPECT_EQ(StepMetrics(0)["parsed"], 2);
  EXPECT_EQ(StepMetrics(0)["failed"], 2);
  EXPECT_EQ(StepMetrics(0)["nulled"], 2);
  EXPECT_EQ(StepMetrics(0)["on_error"], "null");

  EXPECT_EQ(
      RunError(in,
               {{{"parse_date", {{"column", "d"}, {"format", "%d/%m/%Y"}, {"on_error", "fail"}}}}}),
      "recipe prep: step 1 (parse_date): column 'd': cannot parse '31/02/2024' as "
      "\"%d/%m/%Y\" (row 2); set on_error: null or drop_row to go on");
  Table kept = Ok(in, {{{"parse_date", "d"}, {"format", "%d/%m/%Y"}, {"into", "day"}}});
  EXPECT_EQ(kept.schema().ToString(), "d:utf8, day:date32");
  EXPECT_EQ(last_.column_lineage[0].at("day"),
            (std::vector<ColumnSource>{{"raw", "d", kTransformTransformation}}));
}

TEST_F(CleanTest, ParseDatesWithTimesAndMonthNames) {
  Table in = MakeTable({{"t", Text({"31/12/2024 23:59:58", "29/02/2023 10:00:00"})},
                        {"m", Text({"3 févr. 2024", "14 July 2024"})},
                        {"y", Text({"31/12/24", "01/01/69"})}});
  Table t = Ok(in, {{{"parse_date", "t"}, {"format", "%d/%m/%Y %H:%M:%S"}},
                    {{"parse_date", "m"}, {"format", "%d %b %Y"}},
                    {{"parse_date", "y"}, {"format", "%d/%m/%y"}}});
  EXPECT_EQ(t.schema().ToString(), "t:timestamp, m:date32, y:date32");
  EXPECT_EQ(CellsOf(t, "t"), (Cells{"2024-12-31T23:59:58Z", kNull}));
  EXPECT_EQ(CellsOf(t, "m"), (Cells{"2024-02-03", "2024-07-14"}));
  EXPECT_EQ(CellsOf(t, "y"), (Cells{"2024-12-31", "1969-01-01"}));
}

TEST_F(CleanTest, FormatDate) {
  Table in = MakeTable({{"d", Text({"2024-12-31", std::nullopt})}});
  Table t = Ok(in, {{{"cast", {{"d", "date"}}}},
                    {{"format_date", "d"}, {"format", "%d/%m/%Y"}, {"into", "fr"}}});
  EXPECT_EQ(t.schema().ToString(), "d:date32, fr:utf8");
  EXPECT_EQ(CellsOf(t, "fr"), (Cells{"31/12/2024", kNull}));
  EXPECT_EQ(StepMetrics(1)["changed"], 1);
}

TEST_F(CleanTest, ReplaceAndRegexSteps) {
  Table in = MakeTable({{"c", Text({"St Denis", "Paris", "St Ouen St", std::nullopt})},
                        {"code", Text({"CE-0042/B", "CE-7/A", "none", "CE-1"})}});
  Table t = Ok(
      in,
      {{{"replace", {{"column", "c"}, {"find", "St"}, {"with", "Saint"}}}},
       {{"regex_replace", "code"}, {"pattern", "/[A-Z]$"}, {"with", ""}},
       {{"regex_extract", {{"column", "code"}, {"pattern", "CE-0*([0-9]+)"}, {"into", "num"}}}}});
  EXPECT_EQ(CellsOf(t, "c"), (Cells{"Saint Denis", "Paris", "Saint Ouen Saint", kNull}));
  EXPECT_EQ(StepMetrics(0)["changed"], 2);
  EXPECT_EQ(CellsOf(t, "code"), (Cells{"CE-0042", "CE-7", "none", "CE-1"}));
  EXPECT_EQ(StepMetrics(1)["changed"], 2);
  EXPECT_EQ(CellsOf(t, "num"), (Cells{"42", "7", kNull, "1"}));
  EXPECT_EQ(StepMetrics(2)["changed"], 3);
  EXPECT_EQ(StepMetrics(2)["unmatched"], 1);
  EXPECT_EQ(t.schema().ToString(), "c:utf8, code:utf8, num:utf8");
  EXPECT_EQ(last_.column_lineage[0].at("num"),
            (std::vector<ColumnSource>{{"raw", "code", kTransformTransformation}}));
}

TEST_F(CleanTest, RegexStepsUseGroupsAndUnicodeClasses) {
  Table in = MakeTable({{"who", Text({"Dupont Élodie", "Martin Ève", "x", std::nullopt})}});
  Table t =
      Ok(in, {{{"regex_replace", "who"}, {"pattern", "^(\\w+) (\\w+)$"}, {"with", "$2 $1"}},
              {{"regex_extract",
                {{"column", "who"}, {"pattern", "^\\w+"}, {"into", "first"}, {"group", 0}}}}});
  EXPECT_EQ(CellsOf(t, "who"), (Cells{"Élodie Dupont", "Ève Martin", "x", kNull}));
  EXPECT_EQ(StepMetrics(0)["changed"], 2);
  EXPECT_EQ(CellsOf(t, "first"), (Cells{"Élodie", "Ève", "x", kNull}));
}

TEST_F(CleanTest, RegexStepsStopAtCatastrophicBacktracking) {
  const std::string bad = std::string(10000, 'a') + "b";
  Table in = MakeTable({{"s", Text({"aa", bad})}});
  const std::string limit =
      "the regular expression '(a+)+$': match limit exceeded (the pattern backtracks too much on "
      "this value: nested quantifiers such as (a+)+, or a repeated group over a very long value)";
  EXPECT_EQ(RunError(in, {{{"regex_replace", "s"}, {"pattern", "(a+)+$"}, {"with", "x"}}}),
            "recipe prep: step 1 (regex_replace): column 's', row 2: " + limit);
  EXPECT_EQ(RunError(in, {{{"regex_extract", "s"}, {"pattern", "(a+)+$"}, {"group", 0}}}),
            "recipe prep: step 1 (regex_extract): column 's', row 2: " + limit);
}

TEST_F(CleanTest, SplitIntoColumns) {
  Table in = MakeTable(
      {{"full", Text({"Dupont, Marie, Paris", "Martin", std::nullopt})}, {"k", Ints({1, 2, 3})}});
  Table t = Ok(in, {{{"split", {{"column", "full"}, {"by", ", "}, {"into", {"last", "rest"}}}}}});
  EXPECT_EQ(t.schema().ToString(), "full:utf8, last:utf8, rest:utf8, k:int64");
  EXPECT_EQ(CellsOf(t, "last"), (Cells{"Dupont", "Martin", kNull}));
  EXPECT_EQ(CellsOf(t, "rest"), (Cells{"Marie, Paris", kNull, kNull}));
  EXPECT_EQ(StepMetrics(0)["changed"], 3);
  EXPECT_EQ(last_.column_lineage[0].at("rest"),
            (std::vector<ColumnSource>{{"raw", "full", kTransformTransformation}}));
  EXPECT_EQ(RunError(in, {{{"split", "full"}, {"by", ","}, {"into", {"k"}}}}),
            "recipe prep: step 1 (split): column 'k' already exists");
}

TEST_F(CleanTest, FillDropMissingAndDeduplicate) {
  Table in = MakeTable({{"a", Text({"x", std::nullopt, "x", "y", std::nullopt})},
                        {"n", Ints({1, 2, 1, std::nullopt, 2})}});
  Table filled = Ok(in, {{{"fill_missing", {{"a", "?"}, {"n", 0}}}}});
  EXPECT_EQ(CellsOf(filled, "a"), (Cells{"x", "?", "x", "y", "?"}));
  EXPECT_EQ(CellsOf(filled, "n"), (Cells{"1", "2", "1", "0", "2"}));
  EXPECT_EQ(StepMetrics(0)["changed"], 3);
  EXPECT_EQ(
      RunError(in, {{{"fill_missing", {{"n", "abc"}}}}}),
      "recipe prep: step 1 (fill_missing): fill value \"abc\" does not fit column 'n' (int64)");

  Table dropped = Ok(in, {{{"drop_missing", {"n"}}}});
  EXPECT_EQ(CellsOf(dropped, "a"), (Cells{"x", kNull, "x", kNull}));
  EXPECT_EQ(StepMetrics(0)["rows_removed"], 1);
  Table all = Ok(in, {{{"drop_missing", nlohmann::json::array()}}});
  EXPECT_EQ(CellsOf(all, "a"), (Cells{"x", "x"}));

  Table dedup_all = Ok(in, {{{"deduplicate", nlohmann::json::array()}}});
  EXPECT_EQ(CellsOf(dedup_all, "a"), (Cells{"x", kNull, "y"}));
  EXPECT_EQ(StepMetrics(0)["rows_removed"], 2);
  Table dedup_a = Ok(in, {{{"deduplicate", "a"}}});
  EXPECT_EQ(CellsOf(dedup_a, "n"), (Cells{"1", "2", kNull}));
}

TEST_F(CleanTest, RoundAndBin) {
  Table in = MakeTable(
      {{"x", Doubles({1.234, -2.5, 7.0, std::nullopt})}, {"n", Ints({1234, -1250, 17, 0})}});
  Table t = Ok(in, {{{"round", {"x"}}, {"digits", 1}}, {{"round", "n"}, {"digits", -2}}});
  EXPECT_EQ(CellsOf(t, "x"), (Cells{"1.2", "-2.5", "7", kNull}));
  EXPECT_EQ(CellsOf(t, "n"), (Cells{"1200", "-1300", "0", "0"}));
  EXPECT_EQ(StepMetrics(0)["changed"], 1);
  EXPECT_EQ(StepMetrics(1)["changed"], 3);

  Table ages = MakeTable({{"age", Ints({5, 18, 64, 65, 120, 121, std::nullopt})}});
  Table b = Ok(ages, {{{"bin", "age"},
                       {"edges", {0, 18, 65, 120}},
                       {"labels", {"minor", "adult", "senior"}},
                       {"into", "group"}}});
  EXPECT_EQ(CellsOf(b, "group"),
            (Cells{"minor", "adult", "adult", "senior", "senior", kNull, kNull}));
  EXPECT_EQ(StepMetrics(0)["changed"], 5);
  EXPECT_EQ(StepMetrics(0)["outside"], 1);
  Table d = Ok(ages, {{{"bin", "age"}, {"edges", {0, 18, 120}}}});
  EXPECT_EQ(CellsOf(d, "age"),
            (Cells{"[0, 18)", "[18, 120]", "[18, 120]", "[18, 120]", "[18, 120]", kNull, kNull}));
}

TEST_F(CleanTest, PseudonymiseMatchesAnIndependentHmac) {
  Table in = MakeTable({{"candidate_id", Text({"K001", "K002", "K001", std::nullopt})},
                        {"n", Ints({42, 7, 42, 1})}});
  Table t = Ok(in, {{{"pseudonymise", {"candidate_id", "n"}}, {"key", "secret:pseudo_key"}}});
  const std::string k1 = HmacHex(kKey, "K001");
  EXPECT_EQ(k1.size(), 64u);
  EXPECT_EQ(CellsOf(t, "candidate_id"), (Cells{k1, HmacHex(kKey, "K002"), k1, kNull}));
  EXPECT_EQ(CellsOf(t, "n")[0], HmacHex(kKey, "42"));
  EXPECT_EQ(StepMetrics(0)["changed"], 7);
  const std::string key_id = StepMetrics(0)["key_id"];
  EXPECT_EQ(key_id, HmacHex(kKey, "alambic-key-id").substr(0, 16));

  Table short_form =
      Ok(in, {{{"pseudonymise", "candidate_id"}, {"key", "secret:pseudo_key"}, {"length", 16}}});
  EXPECT_EQ(CellsOf(short_form, "candidate_id")[0], k1.substr(0, 16));

  Table other = Ok(in, {{{"pseudonymise", "candidate_id"}, {"key", "secret:other_key"}}});
  EXPECT_EQ(CellsOf(other, "candidate_id")[0], HmacHex("another-key-value", "K001"));
  EXPECT_NE(CellsOf(other, "candidate_id")[0], k1);
  EXPECT_NE(StepMetrics(0)["key_id"], key_id);
}

// Nulls anywhere (the first one after a whole byte of valid rows) stay null, with the
// null count and bitmap of the input, and every other cell is its HMAC.
TEST_F(CleanTest, PseudonymiseKeepsNullsPastTheFirstByte) {
  std::vector<std::optional<std::string>> cells;
  for (int r = 0; r < 21; ++r)
    cells.push_back(r == 11 || r == 20 ? std::nullopt
                                       : std::optional<std::string>("K" + std::to_string(r)));
  Table in = MakeTable({{"id", Text(cells)}});
  Table t = Ok(in, {{{"pseudonymise", "id"}, {"key", "secret:pseudo_key"}, {"length", 10}}});
  Cells want;
  for (const auto& c : cells) want.push_back(c ? HmacHex(kKey, *c).substr(0, 10) : kNull);
  EXPECT_EQ(CellsOf(t, "id"), want);
  const Column& out = *t.ColumnByName("id");
  EXPECT_EQ(out.null_count, 2);
  EXPECT_EQ(out.length, 21);
  ASSERT_EQ(out.validity.size(), 3u);
  EXPECT_EQ(out.validity, (std::vector<uint8_t>{0xFF, 0xF7, 0x0F}));
  EXPECT_EQ(out.offsets.back(), 19 * 10);
  EXPECT_EQ(StepMetrics(0)["changed"], 19);
}

// The pseudonyms byte for byte against python3's hmac module: UTF-8, empty,
// long and separator-laden values, integers as their text, full and odd lengths.
TEST_F(CleanTest, PseudonymiseMatchesPythonHmac) {
  const std::vector<std::string> values = {
      "K001", "", "\xc3\x89lodie Dupr\xc3\xa9", "a;b\"c\n", std::string(500, 'z'), "0"};
  std::vector<std::optional<std::string>> cells(values.begin(), values.end());
  Table in = MakeTable({{"id", Text(cells)}, {"n", Ints({42, -7, 0, 1234567890123, 1, 2})}});
  std::vector<std::string> args = {kKey};
  args.insert(args.end(), values.begin(), values.end());
  for (const char* n : {"42", "-7", "0", "1234567890123", "1", "2"}) args.push_back(n);
  const std::string py = testing::Python(R"(
import hashlib, hmac, sys
key = sys.argv[1].encode()
for v in sys.argv[2:]:
    print(hmac.new(key, v.encode(), hashlib.sha256).hexdigest())
)",
                                         args);
  Cells want;
  size_t start = 0;
  for (size_t nl; (nl = py.find('\n', start)) != std::string::npos; start = nl + 1)
    want.push_back(py.substr(start, nl - start));
  ASSERT_EQ(want.size(), 12u) << py;
  const Cells want_id(want.begin(), want.begin() + 6), want_n(want.begin() + 6, want.end());

  Table full = Ok(in, {{{"pseudonymise", {"id", "n"}}, {"key", "secret:pseudo_key"}}});
  EXPECT_EQ(CellsOf(full, "id"), want_id);
  EXPECT_EQ(CellsOf(full, "n"), want_n);
  Table cut = Ok(in, {{{"pseudonymise", "id"}, {"key", "secret:pseudo_key"}, {"length", 9}}});
  Cells want_cut;
  for (const auto& w : want_id) want_cut.push_back(w.substr(0, 9));
  EXPECT_EQ(CellsOf(cut, "id"), want_cut);
}

TEST_F(CleanTest, TheKeyNeverShowsInLogsMetricsOrErrors) {
  Table in = MakeTable({{"id", Text({"K001"})}});
  Table t = Ok(in, {{{"pseudonymise", "id"}, {"key", "secret:pseudo_key"}}});
  EXPECT_EQ(last_.metrics.dump().find(kKey), std::string::npos);
  for (const auto& line : log_.lines()) EXPECT_EQ(line.find(kKey), std::string::npos) << line;
  std::string err = RunError(in, {{{"pseudonymise", "nope"}, {"key", "secret:pseudo_key"}}});
  EXPECT_EQ(err, "recipe prep: step 1 (pseudonymise): unknown column 'nope' (columns: id)");
  EXPECT_EQ(RunError(in, {{{"pseudonymise", "id"}, {"key", "secret:unset_key"}}}),
            "recipe prep: step 1 (pseudonymise): secret 'unset_key': environment variable "
            "ALAMBIC_TEST_UNSET_VARIABLE is not set");
  EXPECT_EQ(RunError(in, {{{"pseudonymise", "id"}, {"key", "secret:missing"}}}).find(kKey),
            std::string::npos);
  // A literal key in the flow is refused without being echoed.
  std::string literal = CheckError({{{"pseudonymise", "id"}, {"key", kKey}}});
  EXPECT_EQ(literal,
            "param 'steps': step 1 (pseudonymise): option 'key' must be a secret reference "
            "\"secret:NAME\" declared in alambic.yaml, never a literal key");
  EXPECT_EQ(RunError(in, {{{"pseudonymise", "id"}, {"key", kKey}}}).find(kKey), std::string::npos);
}

// Outside the default environment the key must be that environment's own: the
// datalab's is refused, another one gives other pseudonyms.
TEST_F(CleanTest, TheWarehousePseudonymisesWithItsOwnKey) {
  Table in = MakeTable({{"candidate_id", Text({"K001", "K002"})}});
  const nlohmann::json steps = {{{"pseudonymise", "candidate_id"}, {"key", "secret:pseudo_key"}}};
  const Cells lab = CellsOf(Ok(in, steps), "candidate_id");
  const std::string lab_key_id = StepMetrics(0)["key_id"];

  environment_ = "warehouse";
  setenv("ALAMBIC_TEST_WAREHOUSE_KEY", kKey, 1);
  const std::string refused = RunError(in, steps);
  EXPECT_EQ(refused,
            "recipe prep: step 1 (pseudonymise): secret pseudo_key: the warehouse uses the "
            "datalab's key; give the warehouse its own key "
            "(environments.warehouse.secrets.pseudo_key)");
  // The plan reads the key too (VersionSalts), and refuses it the same way.
  RecipeContext ctx;
  ctx.recipe = "prep";
  nlohmann::json params = {{"steps", steps}};
  ctx.params = &params;
  ctx.workspace = ws_;
  ctx.config = &config_;
  ctx.environment = "warehouse";
  auto salts = kind_->VersionSalts(ctx);
  ASSERT_FALSE(salts.ok());
  EXPECT_EQ(salts.status().message(),
            "recipe prep: step 1 (pseudonymise): secret pseudo_key: the warehouse uses the "
            "datalab's key; give the warehouse its own key "
            "(environments.warehouse.secrets.pseudo_key)");

  const std::string own = "the-warehouse-own-key-0123456789";
  setenv("ALAMBIC_TEST_WAREHOUSE_KEY", own.c_str(), 1);
  const Cells wh = CellsOf(Ok(in, steps), "candidate_id");
  EXPECT_EQ(wh, (Cells{HmacHex(own, "K001"), HmacHex(own, "K002")}));
  EXPECT_NE(wh[0], lab[0]);
  EXPECT_NE(wh[1], lab[1]);
  EXPECT_NE(StepMetrics(0)["key_id"], lab_key_id);
  salts = kind_->VersionSalts(ctx);
  ASSERT_TRUE(salts.ok()) << salts.status().message();
  ASSERT_EQ(salts->size(), 1u);
  EXPECT_EQ((*salts)[0].id, HmacHex(own, "alambic-key-id").substr(0, 16));
}

// Pseudonymised columns are `masking` in the lineage, and stay so when renamed,
// rewritten or split; a column recomputed from another one is not.
TEST_F(CleanTest, PseudonymisedColumnsAreMaskingInTheLineage) {
  Table in = MakeTable({{"candidate_id", Text({"K001", "K002"})},
                        {"code", Text({"A-1", "B-2"})},
                        {"nom", Text({"Zoé", "Marc"})}});
  Ok(in, {{{"pseudonymise", "candidate_id"}, {"key", "secret:pseudo_key"}},
          {{"rename", {{"candidate_id", "cid"}}}},
          {{"upper", "cid"}},
          {{"split", "cid"}, {"by", "X"}, {"into", {"cid", "cid_rest"}}},
          {{"regex_extract", "code"}, {"pattern", "([A-Z])"}, {"into", "candidate_id"}},
          {{"upper", "nom"}}});
  const auto& l = last_.column_lineage.at(0);
  using S = std::vector<ColumnSource>;
  EXPECT_EQ(l.at("cid"), (S{{"raw", "candidate_id", "masking"}}));
  EXPECT_EQ(l.at("cid_rest"), (S{{"raw", "candidate_id", "masking"}}));
  EXPECT_EQ(l.at("candidate_id"), (S{{"raw", "code", "transformation"}}));
  EXPECT_EQ(l.at("code"), (S{{"raw", "code", "identity"}}));
  EXPECT_EQ(l.at("nom"), (S{{"raw", "nom", "transformation"}}));
  EXPECT_EQ(std::string(kTransformMasking), "masking");
}

TEST_F(CleanTest, UnknownColumnNamesTheStepAndTheColumns) {
  Table in = MakeTable({{"id", Ints({1})}, {"name", Text({"a"})}});
  EXPECT_EQ(RunError(in, {{{"upper", "name"}}, {{"lower", "name"}}, {{"trim", {"name", "nme"}}}}),
            "recipe prep: step 3 (trim): unknown column 'nme' (columns: id, name)");
  EXPECT_EQ(
      RunError(in, {{{"trim", "id"}}}),
      "recipe prep: step 1 (trim): column 'id' is int64; trim applies to text (utf8) columns");
}

TEST_F(CleanTest, CheckParamsNamesTheStep) {
  EXPECT_TRUE(kind_
                  ->CheckParams(
                      {{"steps", {{{"trim", "a"}}, {{"parse_date", "d"}, {"format", "%d/%m/%Y"}}}}})
                  .ok());
  EXPECT_EQ(CheckError("trim"), "param 'steps': must be a list of steps");
  EXPECT_EQ(CheckError({{{"trim", "a"}}, "upper"}),
            "param 'steps': step 2: must be a mapping such as {trim: [name]}");
  EXPECT_EQ(
      CheckError({{{"trimm", "a"}}}),
      "param 'steps': step 1: unknown step 'trimm' (known steps: bin, cast, copy, deduplicate, "
      "drop, drop_missing, fill_missing, format_date, keep, lower, normalise_whitespace, "
      "parse_date, pseudonymise, regex_extract, regex_replace, rename, replace, round, "
      "split, strip_accents, trim, upper)");
  EXPECT_EQ(
      CheckError({{{"trim", "a"}, {"upper", "a"}}}),
      "param 'steps': step 1: holds two steps, 'trim' and 'upper'; write one step per list item");
  EXPECT_EQ(CheckError({{{"trim", "a"}, {"by", ","}}}),
            "param 'steps': step 1 (trim): unknown option 'by' (trim takes none)");
  EXPECT_EQ(CheckError({{{"split", "a"}, {"by", ","}, {"into", "b"}}}),
            "param 'steps': step 1 (split): option 'into' must be a list of column names");
  EXPECT_EQ(CheckError({{{"cast", {{"a", "integer"}}}, {"on_error", "skip"}}}),
            "param 'steps': step 1 (cast): option 'on_error' must be fail, null or drop_row");
  EXPECT_EQ(CheckError({{{"cast", {{"a", "number"}}}}}).substr(0, 50),
            "param 'steps': step 1 (cast): column 'a': unknown ");
  EXPECT_EQ(CheckError({{{"round", "a"}, {"digits", "2"}}}),
            "param 'steps': step 1 (round): option 'digits' must be an integer");
  EXPECT_EQ(CheckError({{{"parse_date", "a"}, {"format", "%d/%m"}}}),
            "param 'steps': step 1 (parse_date): option 'format' must hold a year, a month and a "
            "day (%Y, %m, %d)");
  EXPECT_EQ(CheckError({{{"parse_date", "a"}, {"format", "%d/%m/%Y %Z"}}}),
            "param 'steps': step 1 (parse_date): option 'format': unsupported directive %Z (use "
            "%d %m %Y %y %H %M %S %b %B %%)");
  EXPECT_EQ(CheckError({{{"regex_extract", "a"}, {"pattern", "(a"}}}),
            "param 'steps': step 1 (regex_extract): option 'pattern': invalid regular expression "
            "'(a' at offset 2: missing closing parenthesis");
  EXPECT_EQ(CheckError({{{"regex_replace", "a"}, {"pattern", "[a-"}}}),
            "param 'steps': step 1 (regex_replace): option 'pattern': invalid regular expression "
            "'[a-' at offset 3: missing terminating ] for character class");
  EXPECT_EQ(CheckError({{{"regex_replace", "a"}, {"pattern", "(a)"}, {"with", "$1$2"}}}),
            "param 'steps': step 1 (regex_replace): option 'with': group 2 does not exist: the "
            "pattern has 1 group(s)");
  EXPECT_EQ(CheckError({{{"regex_extract", "a"}, {"pattern", "(a)"}, {"group", 2}}}),
            "param 'steps': step 1 (regex_extract): option 'group': the pattern has 1 group(s), "
            "not 2");
  EXPECT_EQ(CheckError({{{"bin", "a"}, {"edges", {0, 10}}, {"labels", {"x", "y"}}}}),
            "param 'steps': step 1 (bin): option 'labels' needs 1 labels for 2 edges, not 2");
  EXPECT_EQ(CheckError({{{"keep", nlohmann::json::array()}}}),
            "param 'steps': step 1 (keep): names no column");
  EXPECT_EQ(CheckError({{{"replace", {{"column", "a"}, {"find", "x"}}}, {"find", "y"}}}),
            "param 'steps': step 1 (replace): option 'find' is given twice");
}

}  // namespace
}  // namespace alambic::clean_test
