// Static type checking of flows (core/flow/typecheck.h) through `validate`:
// exact messages on broken flows, and no false positive on the examples, with
// and without the schemas of their current versions.
#include "core/flow/typecheck.h"

#include <fstream>
#include <regex>

#include <gtest/gtest.h>

#include "core/flow/loader.h"
#include "core/flow/validate.h"
#include "tests/test_util.h"

namespace alambic::typecheck_test {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;
using testing::WriteFile;
using V = std::vector<std::string>;

Schema S(const std::vector<std::pair<std::string, TypeId>>& fields) {
  Schema s;
  for (const auto& [n, t] : fields) s.fields.push_back({n, t});
  return s;
}

V CheckDir(const fs::path& root, const DatasetSchemas& current = {}) {
  LoadedWorkspace lw = LoadWorkspace(root);
  V out;
  for (const auto& d : lw.diagnostics) out.push_back(d.ToString());
  if (!out.empty()) return out;
  for (const auto& d : ValidateWorkspace(lw.workspace, alambic::testing::BuiltinKinds(), current))
    out.push_back(d.ToString());
  return out;
}

V Check(const std::string& flow, const DatasetSchemas& current = {}) {
  TempDir dir;
  WriteFile(dir.path() / "alambic.yaml", "name: t\n");
  WriteFile(dir.path() / "flows/f.yaml", flow);
  return CheckDir(dir.path(), current);
}

const DatasetSchemas kExams = {
    {"exams", S({{"exam_id", TypeId::kInt64},
                 {"centre_id", TypeId::kUtf8},
                 {"exam_date", TypeId::kDate32},
                 {"score", TypeId::kFloat64},
                 {"result", TypeId::kUtf8}})},
    {"centres", S({{"centre_id", TypeId::kInt64}, {"departement", TypeId::kUtf8}})},
};

const char* kCollects = R"y(flow: f
recipes:
  - {name: c1, kind: collect, outputs: [exams], params: {path: data/e.csv}}
  - {name: c2, kind: collect, outputs: [centres], params: {path: data/c.csv}}
)y";

TEST(TypeCheckTest, UnknownColumnInFormulaSuggestsTheClosestName) {
  EXPECT_EQ(Check(std::string(kCollects) + R"y(  - name: f
    kind: formula
    inputs: [exams]
    outputs: [g]
    params:
      columns: {year: "year(exam_dat)"}
)y",
                  kExams),
            V{"flows/f.yaml:10:16: recipe f: param 'columns': column 'year': 1:6: unknown column "
              "'exam_dat' (did you mean 'exam_date'? columns: exam_id, centre_id, exam_date, "
              "score, result)"});
}

TEST(TypeCheckTest, JoinKeysTypedDifferentlySuggestASchemaOverride) {
  EXPECT_EQ(
      Check(std::string(kCollects) +
                "  - {name: j, kind: join, inputs: [exams, centres], outputs: [x], params: {on: "
                "centre_id}}\n",
            kExams),
      V{"flows/f.yaml:5:80: recipe j: param 'on': key 'centre_id' is utf8 in input 'exams' but "
        "key 'centre_id' is int64 in input 'centres' (declare the type where 'centres' is "
        "collected: schema: {centre_id: utf8})"});
}

TEST(TypeCheckTest, JoinKeyMissingOnOneSide) {
  EXPECT_EQ(Check(std::string(kCollects) +
                      "  - {name: j, kind: join, inputs: [exams, centres], outputs: [x], params: "
                      "{left_on: centre_id, right_on: centre_di}}\n",
                  kExams),
            V{"flows/f.yaml:5:106: recipe j: param 'right_on': column 'centre_di' not in input "
              "'centres' (did you mean 'centre_id'? columns: centre_id, departement)"});
}

TEST(TypeCheckTest, FilterComparingTextWithANumberSuggestsQuoting) {
  EXPECT_EQ(Check(std::string(kCollects) +
                      "  - {name: f, kind: filter, inputs: [exams], outputs: [x], params: {where: "
                      "\"centre_id = 75\"}}\n",
                  kExams),
            V{"flows/f.yaml:5:76: recipe f: param 'where': 1:11: cannot compare utf8 and int64 "
              "(quote the number to compare text: '75')"});
  EXPECT_EQ(Check(std::string(kCollects) +
                      "  - {name: f, kind: filter, inputs: [exams], outputs: [x], params: {where: "
                      "\"score + 1\"}}\n",
                  kExams),
            V{"flows/f.yaml:5:76: recipe f: param 'where': the condition must be bool, got "
              "float64"});
}

TEST(TypeCheckTest, AggregatesAreChecked) {
  EXPECT_EQ(
      Check(std::string(kCollects) + R"y(  - name: g
    kind: group
    inputs: [exams]
    outputs: [x]
    params:
      keys: [centre_di]
      aggregates:
        - {name: m, fn: mean, column: result}
        - {name: p, fn: count, where: "result = 1"}
)y",
            kExams),
      (V{"flows/f.yaml:10:13: recipe g: param 'keys': column 'centre_di' not in input 'exams' "
         "(did you mean 'centre_id'? columns: exam_id, centre_id, exam_date, score, result)",
         "flows/f.yaml:12:9: recipe g: param 'aggregates': 'm': mean needs numbers, but "
         "'result' is utf8",
         "flows/f.yaml:12:9: recipe g: param 'aggregates': 'p': where: 1:8: cannot compare "
         "utf8 and int64 (quote the number to compare text: '1')"}));
}

TEST(TypeCheckTest, SchemasPropagateThroughRecipes) {
  // formula -> filter -> group -> sort: each sees the columns the one before made.
  EXPECT_EQ(Check(std::string(kCollects) + R"y(  - name: f
    kind: formula
    inputs: [exams]
    outputs: [a]
    params:
      columns:
        passed: "score >= 10"
        year: "year(exam_date)"
  - name: k
    kind: filter
    inputs: [a]
    outputs: [b]
    params:
      where: "passed"
      keep: [centre_id, year, passed]
  - name: g
    kind: group
    inputs: [b]
    outputs: [c]
    params:
      keys: [centre_id]
      aggregates:
        - {name: rate, fn: mean, column: passed}
        - {name: y, fn: max, column: year}
  - name: s
    kind: sort
    inputs: [c]
    outputs: [d]
    params:
      by: [-rate, yy]
)y",
                  kExams),
            V{"flows/f.yaml:34:11: recipe s: param 'by': column 'yy' not in input 'c' (did you "
              "mean 'y'? columns: centre_id, rate, y)"});
}

TEST(TypeCheckTest, UnknownSchemasStopThePropagation) {
  // No current version and no declared types: nothing can be said.
  EXPECT_TRUE(Check(std::string(kCollects) +
                    "  - {name: f, kind: filter, inputs: [exams], outputs: [x], params: {where: "
                    "\"nothing_known = 1\"}}\n")
                  .empty());
  // A sql recipe's output is not known statically, even with known inputs.
  TempDir dir;
  WriteFile(dir.path() / "alambic.yaml", "name: t\n");
  WriteFile(dir.path() / "recipes/q.sql", "select 1 as one\n");
  WriteFile(
      dir.path() / "flows/f.yaml",
      std::string(kCollects) +
          R"y(  - {name: q, kind: sql, inputs: [exams], outputs: [y], params: {file: recipes/q.sql}}
  - {name: f, kind: filter, inputs: [y], outputs: [z], params: {where: "one = 1 and whatever"}}
)y");
  EXPECT_TRUE(CheckDir(dir.path(), kExams).empty());
}

TEST(TypeCheckTest, DeclaredCollectSchemaIsPartial) {
  // The declared types are checked; other columns may exist, so are not reported.
  EXPECT_EQ(Check(R"y(flow: f
recipes:
  - {name: c, kind: collect, outputs: [e], params: {path: e.csv, schema: {code: utf8, n: {type: int64}}}}
  - {name: f, kind: filter, inputs: [e], outputs: [x], params: {where: "code > 3"}}
  - {name: g, kind: filter, inputs: [e], outputs: [y], params: {where: "n > 3 and other = 1"}}
)y"),
            V{"flows/f.yaml:4:72: recipe f: param 'where': 1:6: cannot compare utf8 and int64 "
              "(quote the number to compare text: '3')"});
}

TEST(TypeCheckTest, UnknownInputSuggestsTheClosestDataset) {
  EXPECT_EQ(Check(std::string(kCollects) +
                  "  - {name: f, kind: filter, inputs: [exam], outputs: [x], params: {where: "
                  "\"true\"}}\n"),
            V{"flows/f.yaml:5:38: recipe f: unknown input dataset 'exam' (no recipe produces it; "
              "did you mean 'exams'?)"});
}

TEST(TypeCheckTest, ExamplesAreClean) {
  for (const auto& e : fs::directory_iterator(fs::path(ALAMBIC_SOURCE_DIR) / "examples")) {
    if (!fs::exists(e.path() / "alambic.yaml")) continue;
    V problems;
    for (const auto& d : CheckDir(e.path()))  // plugin kinds are not loaded here
      if (d.find("unknown recipe kind") == std::string::npos) problems.push_back(d);
    EXPECT_EQ(problems, V{}) << e.path();
  }
}

// The permis example, run, then checked against the schemas of its versions:
// no false positive; a typo in it is found with the column's closest name.
TEST(TypeCheckTest, PermisAgainstItsCurrentVersions) {
  TempDir dir;
  const fs::path ws = dir.path() / "permis";
  fs::copy(fs::path(ALAMBIC_SOURCE_DIR) / "examples/permis", ws, fs::copy_options::recursive);
  fs::remove_all(ws / ".alambic");
  fs::create_directories(ws / ".alambic");
  std::ofstream(ws / ".alambic/pseudo_key") << std::string(64, 'a');
  fs::permissions(ws / ".alambic/pseudo_key", fs::perms::owner_read | fs::perms::owner_write);
  auto r = testing::Cli(ws, {"run", "-j", "2"});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  auto catalog = Catalog::Open(ws / ".alambic/catalog.db");
  ASSERT_TRUE(catalog.ok()) << catalog.status().message();
  auto schemas = CurrentSchemas(**catalog, "datalab");
  ASSERT_TRUE(schemas.ok()) << schemas.status().message();
  ASSERT_TRUE(schemas->count("exams_located"));
  EXPECT_GT(schemas->at("exams_located").fields.size(), 10u);
  EXPECT_EQ(CheckDir(ws, *schemas), V{});

  std::string flow = testing::ReadFile(ws / "flows/permis.yaml");
  flow = std::regex_replace(flow, std::regex("column: score\\}"), "column: scor}");
  WriteFile(ws / "flows/permis.yaml", flow);
  V got = CheckDir(ws, *schemas);
  ASSERT_EQ(got.size(), 1u) << ::testing::PrintToString(got);
  EXPECT_NE(got[0].find("recipe centre_rates: param 'aggregates': column 'scor' not in input "
                        "'exams_located' (did you mean 'score'?"),
            std::string::npos)
      << got[0];
  // The CLI checks against the current versions too.
  auto v = testing::Cli(ws, {"validate"});
  EXPECT_NE(v.code, 0);
  EXPECT_NE(v.err.find("column 'scor' not in input 'exams_located' (did you mean 'score'?"),
            std::string::npos)
      << v.err;
}

}  // namespace
}  // namespace alambic::typecheck_test
