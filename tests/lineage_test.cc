// Version- and column-level lineage as runs record it, and as TraceLineage and
// ImpactOf read it back: built-in kinds (collect, clean, sql) with a kind that
// declares nothing (opaque), through a real Session, catalog and store.
#include "catalog/lineage.h"

#include <cstdlib>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "catalog/openlineage.h"
#include "core/exec/run.h"
#include "core/vcs/git.h"
#include "recipes/builtin_kinds.h"
#include "tests/test_util.h"
#include "ui/common/lineage_view.h"

namespace alambic::lineage_test {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using testing::TempDir;
using ::testing::UnorderedElementsAre;
using testing::WriteFile;

// One column "x" = the first input's row count; declares no lineage.
class BlackboxKind final : public RecipeKind {
 public:
  std::string name() const override { return "blackbox"; }
  const std::vector<ParamSpec>& params() const override {
    static const std::vector<ParamSpec> k;
    return k;
  }
  Result<RecipeOutput> Run(RecipeContext& ctx) const override {
    ColumnBuilder b(TypeId::kInt64);
    b.AppendInt64(ctx.inputs.at(0).table->num_rows());
    RecipeOutput out;
    out.tables.push_back(*Table::Make(Schema{{{"x", TypeId::kInt64}}}, {b.Finish()}));
    return out;
  }
};

const RecipeRegistry& Kinds() {
  static RecipeRegistry* r = [] {
    auto* reg = new RecipeRegistry();
    EXPECT_TRUE(RegisterCollectKind(*reg).ok());
    EXPECT_TRUE(RegisterCleanKind(*reg).ok());
    EXPECT_TRUE(RegisterSqlKind(*reg).ok());
    EXPECT_TRUE(reg->Register(std::make_unique<BlackboxKind>()).ok());
    return reg;
  }();
  return *r;
}

constexpr const char* kFlow = R"(flow: people
usecase: demo
recipes:
  - name: collect_people
    kind: collect
    outputs: [people_raw]
    params: {path: data/people.csv, delimiter: ";"}
  - name: clean_people
    kind: clean
    inputs: [people_raw]
    outputs: [people]
    params: {steps: [{rename: {dept: departement}}]}
  - name: by_dept
    kind: sql
    inputs: [people]
    outputs: [by_dept]
    params: {query: "select departement, count(*) as n, avg(score) as score from people group by departement"}
  - name: mystery
    kind: blackbox
    inputs: [by_dept]
    outputs: [mystery]
)";

class LineageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteFile(dir_.path() / "alambic.yaml", "name: t\n");
    WriteFile(dir_.path() / "flows/people.yaml", kFlow);
    WriteFile(dir_.path() / "data/people.csv", "id;dept;score\n1;01;12\n2;2A;8\n3;01;15\n");
  }
  RunSummary Run() {
    auto s = Session::Open(dir_.path(), "", Kinds());
    EXPECT_TRUE(s.ok()) << s.status().message();
    RunOptions opt;
    opt.exec.jobs = 2;
    auto r = RunFlows(**s, opt);
    EXPECT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r->run.status, "succeeded");
    return *r;
  }
  std::unique_ptr<Catalog> Cat() {
    auto c = Catalog::Open(dir_.path() / ".alambic/catalog.db");
    EXPECT_TRUE(c.ok()) << c.status().message();
    return std::move(*c);
  }
  DatasetVersionRecord Current(Catalog& c, const std::string& dataset) {
    auto current = c.CurrentVersions("datalab");
    EXPECT_TRUE(current.ok());
    for (const auto& cv : *current)
      if (cv.dataset == dataset) {
        auto v = *c.FindVersion("datalab", dataset, cv.version_id);
        EXPECT_TRUE(v.has_value());
        EXPECT_TRUE(c.LoadLineage(&*v).ok());
        return *v;
      }
    ADD_FAILURE() << "no current version of " << dataset;
    return {};
  }
  LineageGraph Trace(Catalog& c, LineageQuery q) {
    q.environment = "datalab";
    auto g = TraceLineage(c, q);
    EXPECT_TRUE(g.ok()) << g.status().message();
    return g.ok() ? *g : LineageGraph{};
  }
  // "dataset.column <transform from the node one step closer to the start>".
  std::vector<std::string> Reached(const LineageGraph& g) {
    std::vector<std::string> out;
    for (const auto& e : g.edges) {
      const bool up = g.direction == LineageDirection::kUpstream;
      const LineageNode& n = g.nodes[static_cast<size_t>(up ? e.from : e.to)];
      out.push_back(n.dataset + (n.column.empty() ? "" : "." + n.column) +
                    (e.transform.empty() ? "" : " " + e.transform));
    }
    return out;
  }
  TempDir dir_;
};

TEST_F(LineageTest, EachVersionRecordsItsColumnLineage) {
  Run();
  auto c = Cat();
  using E = ColumnLineageEdge;
  EXPECT_THAT(Current(*c, "people").column_lineage,
              UnorderedElementsAre(E{"id", "people_raw", "id", "identity"},
                                   E{"departement", "people_raw", "dept", "identity"},
                                   E{"score", "people_raw", "score", "identity"}));
  EXPECT_THAT(Current(*c, "by_dept").column_lineage,
              UnorderedElementsAre(E{"departement", "people", "departement", "identity"},
                                   E{"n", "people", "departement", "aggregation"},
                                   E{"score", "people", "score", "aggregation"},
                                   E{"score", "people", "departement", "aggregation"}));
  // A kind that declares nothing: every output column may come from any input column.
  EXPECT_THAT(Current(*c, "mystery").column_lineage,
              UnorderedElementsAre(E{"x", "by_dept", "", "opaque"}));
  // A source has no input.
  EXPECT_TRUE(Current(*c, "people_raw").column_lineage.empty());
}

// A pseudonymised column is recorded as `masking`, shown so by the text view
// and exported with OpenLineage's masking flag.
TEST_F(LineageTest, PseudonymisedColumnsAreRecordedAsMasking) {
  WriteFile(dir_.path() / "alambic.yaml",
            "name: t\nsecrets: {pseudo_key: {env: ALAMBIC_LINEAGE_TEST_KEY}}\n");
  setenv("ALAMBIC_LINEAGE_TEST_KEY", "lineage-test-key-0123456789", 1);
  std::string flow = kFlow;
  flow.replace(flow.find("{rename: {dept: departement}}"),
               std::string("{rename: {dept: departement}}").size(),
               "{pseudonymise: id, key: \"secret:pseudo_key\"}, {rename: {id: person, dept: "
               "departement}}");
  WriteFile(dir_.path() / "flows/people.yaml", flow);
  RunSummary summary = Run();
  unsetenv("ALAMBIC_LINEAGE_TEST_KEY");
  auto c = Cat();
  using E = ColumnLineageEdge;
  EXPECT_THAT(Current(*c, "people").column_lineage,
              UnorderedElementsAre(E{"person", "people_raw", "id", "masking"},
                                   E{"departement", "people_raw", "dept", "identity"},
                                   E{"score", "people_raw", "score", "identity"}));
  LineageGraph g = Trace(*c, {.dataset = "people", .column = "person"});
  EXPECT_THAT(Reached(g), UnorderedElementsAre("people_raw.id masking"));
  EXPECT_THAT(LineageText(g), HasSubstr("<- people_raw.id@"));
  EXPECT_THAT(LineageText(g), HasSubstr("[masking]"));

  OpenLineageOptions o{"t", "alambic://t/datalab"};
  auto events = OpenLineageEvents(*c, summary.run.id, o);
  ASSERT_TRUE(events.ok()) << events.status().message();
  const nlohmann::json* clean = nullptr;
  for (const auto& e : *events)
    if (e["eventType"] == "COMPLETE" && e["job"]["name"] == "people.clean_people") clean = &e;
  ASSERT_NE(clean, nullptr);
  const nlohmann::json& fields = (*clean)["outputs"][0]["facets"]["columnLineage"]["fields"];
  EXPECT_EQ(fields["person"]["inputFields"],
            nlohmann::json::parse(R"([{"namespace": "alambic://t/datalab", "name": "people_raw",
                "field": "id", "transformations": [{"type": "DIRECT", "subtype": "TRANSFORMATION",
                "masking": true}]}])"));
  EXPECT_EQ(fields["score"]["inputFields"][0]["transformations"][0]["masking"], false);
}

TEST_F(LineageTest, VersionsRecordTheirRunInputsAndEnvironment) {
  ASSERT_TRUE(GitInitWithCommit(dir_.path(), {"alambic.yaml", "flows/people.yaml"}, "init").ok());
  const std::string commit = GitReadHead(dir_.path())->commit;
  ASSERT_EQ(commit.size(), 40u);
  RunSummary s = Run();
  auto c = Cat();
  DatasetVersionRecord by_dept = Current(*c, "by_dept");
  DatasetVersionRecord people = Current(*c, "people");
  EXPECT_EQ(by_dept.run_id, s.run.id);
  EXPECT_EQ(by_dept.recipe, "by_dept");
  EXPECT_EQ(by_dept.inputs,
            (std::vector<std::pair<std::string, std::string>>{{"people", people.id}}));
  RunRecord run = *c->FindRun(s.run.id);
  EXPECT_EQ(run.git_commit, commit);
  EXPECT_TRUE(run.git_dirty);  // data/people.csv is not committed
  // The lineage of a version names the commit it was built from.
  LineageGraph g = Trace(*c, {.dataset = "by_dept", .depth = 1});
  ASSERT_EQ(g.nodes.size(), 2u);
  EXPECT_EQ(g.nodes[0].git_commit, commit);
  EXPECT_TRUE(g.nodes[0].git_dirty);
  EXPECT_EQ(LineageJson(g)["nodes"][1]["git_commit"], commit);
  EXPECT_THAT(LineageText(g), HasSubstr(", commit " + commit.substr(0, 8) + "+dirty"));
  EXPECT_EQ(run.alambic_version, ALAMBIC_VERSION);
  EXPECT_FALSE(run.host.empty());
  auto recipes = *c->RecipeRuns(s.run.id);
  for (const auto& r : recipes) {
    EXPECT_EQ(r.uuid.size(), 36u) << r.recipe;
    if (r.recipe == "by_dept") {
      EXPECT_EQ(r.inputs, (std::map<std::string, std::string>{{"people", people.id}}));
    }
  }
}

TEST_F(LineageTest, ColumnUpstreamCrossesRecipesAndStopsAtDepth) {
  Run();
  auto c = Cat();
  LineageGraph g = Trace(*c, {.dataset = "by_dept", .column = "score"});
  EXPECT_EQ(g.nodes[0].dataset, "by_dept");
  EXPECT_EQ(g.nodes[0].column, "score");
  EXPECT_TRUE(g.nodes[0].current);
  EXPECT_THAT(Reached(g),
              UnorderedElementsAre("people.score aggregation", "people.departement aggregation",
                                   "people_raw.score identity", "people_raw.dept identity"));
  g = Trace(*c, {.dataset = "by_dept", .column = "score", .depth = 1});
  EXPECT_THAT(Reached(g),
              UnorderedElementsAre("people.score aggregation", "people.departement aggregation"));
  // Text and Graphviz renderings name every node and transform.
  std::string text = LineageText(g);
  EXPECT_THAT(text, HasSubstr("by_dept.score@"));
  EXPECT_THAT(text, HasSubstr("<- people.score@"));
  EXPECT_THAT(text, HasSubstr("[aggregation]"));
  EXPECT_THAT(LineageDot(g), HasSubstr("[label=\"aggregation\"]"));
}

TEST_F(LineageTest, ColumnDownstreamReachesOpaqueReaders) {
  Run();
  auto c = Cat();
  LineageGraph g = Trace(
      *c, {.dataset = "people_raw", .column = "score", .direction = LineageDirection::kDownstream});
  EXPECT_THAT(Reached(g), UnorderedElementsAre("people.score identity", "by_dept.score aggregation",
                                               "mystery.x opaque"));
  // dept feeds the grouping of every aggregate, under its new name.
  g = Trace(
      *c, {.dataset = "people_raw", .column = "dept", .direction = LineageDirection::kDownstream});
  EXPECT_THAT(Reached(g), Contains("by_dept.n aggregation"));
  EXPECT_THAT(Reached(g), Contains("people.departement identity"));
}

TEST_F(LineageTest, OldVersionsKeepTheirOwnLineage) {
  Run();
  auto c = Cat();
  const std::string old_people = Current(*c, "people").id;
  const std::string old_by_dept = Current(*c, "by_dept").id;
  WriteFile(dir_.path() / "data/people.csv", "id;dept;score\n1;01;12\n2;2A;9\n");
  Run();
  c = Cat();
  EXPECT_NE(Current(*c, "by_dept").id, old_by_dept);
  LineageGraph g =
      Trace(*c, {.dataset = "by_dept", .version = old_by_dept.substr(0, 12), .depth = 1});
  ASSERT_EQ(g.nodes.size(), 2u);
  EXPECT_EQ(g.nodes[0].version_id, old_by_dept);
  EXPECT_FALSE(g.nodes[0].current);
  EXPECT_EQ(g.nodes[1].dataset, "people");
  EXPECT_EQ(g.nodes[1].version_id, old_people);
  EXPECT_FALSE(g.nodes[1].current);
  // Downstream of the old source version: only the versions built from it.
  g = Trace(*c, {.dataset = "people",
                 .version = old_people,
                 .direction = LineageDirection::kDownstream,
                 .depth = 1});
  ASSERT_EQ(g.nodes.size(), 2u);
  EXPECT_EQ(g.nodes[1].version_id, old_by_dept);
  // gc deletes a version's lineage with it.
  auto unreferenced = *c->VersionsNotReferenced("datalab", 1);
  ASSERT_TRUE(std::any_of(unreferenced.begin(), unreferenced.end(),
                          [&](const auto& v) { return v.id == old_by_dept; }));
  ASSERT_TRUE(c->DeleteVersions("datalab", unreferenced).ok());
  DatasetVersionRecord gone;
  gone.environment = "datalab";
  gone.dataset = "by_dept";
  gone.id = old_by_dept;
  ASSERT_TRUE(c->LoadLineage(&gone).ok());
  EXPECT_TRUE(gone.column_lineage.empty());
  EXPECT_TRUE(gone.inputs.empty());
  EXPECT_FALSE(Current(*c, "by_dept").column_lineage.empty());
}

TEST_F(LineageTest, ErrorsNameTheDatasetColumnOrVersion) {
  Run();
  auto c = Cat();
  auto g = TraceLineage(*c, {.environment = "datalab", .dataset = "by_dept", .column = "nope"});
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().message(),
            "dataset by_dept has no column 'nope' (columns: departement, n, score)");
  g = TraceLineage(*c, {.environment = "datalab", .dataset = "ghost"});
  ASSERT_FALSE(g.ok());
  EXPECT_THAT(g.status().message(), HasSubstr("dataset ghost has no version in datalab"));
  g = TraceLineage(*c, {.environment = "datalab", .dataset = "by_dept", .version = "zzzz"});
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().message(), "dataset by_dept has no version 'zzzz' in datalab");
}

TEST(ImpactTest, TransitiveOncePerRecipeAtItsSmallestDepth) {
  std::vector<RecipeIo> recipes = {
      {"permis", "centre_rates", {"exams_raw", "centres"}, {"centre_rates"}},
      {"permis", "departement_rates", {"centre_rates"}, {"departement_rates"}},
      {"permis", "flag_centres", {"centre_rates", "departement_rates"}, {"flagged_centres"}},
      {"other", "communes", {"communes_raw"}, {"communes"}},
  };
  auto impacted = ImpactOf(recipes, "exams_raw");
  ASSERT_EQ(impacted.size(), 3u);
  EXPECT_EQ(impacted[0].recipe, "centre_rates");
  EXPECT_EQ(impacted[0].depth, 1);
  EXPECT_EQ(impacted[0].via, "exams_raw");
  EXPECT_EQ(impacted[1].recipe, "departement_rates");
  EXPECT_EQ(impacted[1].depth, 2);
  EXPECT_EQ(impacted[2].recipe, "flag_centres");
  EXPECT_EQ(impacted[2].depth, 2);
  EXPECT_EQ(impacted[2].via, "centre_rates");
  EXPECT_EQ(ImpactOf(recipes, "exams_raw", 1).size(), 1u);
  EXPECT_TRUE(ImpactOf(recipes, "flagged_centres").empty());
}

}  // namespace
}  // namespace alambic::lineage_test
