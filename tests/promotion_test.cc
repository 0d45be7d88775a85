// The promotion gates, judged on hand-made evidence (git and the catalog are
// exercised by tests/e2e/promotion_permis.sh).
#include "core/vcs/promotion.h"

#include <gtest/gtest.h>

namespace alambic::promotion_test {
namespace {

using nlohmann::json;

RecipeSpec Recipe(const std::string& name, const std::string& kind, std::vector<std::string> inputs,
                  std::vector<std::string> outputs) {
  RecipeSpec r;
  r.name = name;
  r.kind = kind;
  r.inputs = std::move(inputs);
  r.outputs = std::move(outputs);
  return r;
}

DatasetVersionRecord Version(const std::string& dataset, const json& columns,
                             std::vector<ColumnLineageEdge> lineage) {
  DatasetVersionRecord v;
  v.dataset = dataset;
  v.id = dataset + "-v1";
  v.schema = columns.dump();
  v.column_lineage = std::move(lineage);
  return v;
}

RecipeRunRecord Ran(const std::string& recipe, const std::string& status) {
  RecipeRunRecord r;
  r.recipe = recipe;
  r.status = status;
  r.run_id = "0123456789abcdef";
  return r;
}

// collect_exams -> exams_raw (candidate_id personal) -> clean_exams -> exams
// -> check_exams -> exams_checked -> rates (group) -> centre_rates.
class GatesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    e.flow_name = "permis";
    e.commit = "c0ffee0123456789c0ffee0123456789c0ffee01";
    e.datalab = "datalab";
    e.flow.name = "permis";
    DatasetSpec raw;
    raw.name = "exams_raw";
    raw.columns.push_back({"candidate_id", {"personal"}, "", {}});
    e.flow.datasets["exams_raw"] = raw;
    e.flow.recipes = {Recipe("collect_exams", "collect", {}, {"exams_raw"}),
                      Recipe("clean_exams", "clean", {"exams_raw"}, {"exams"}),
                      Recipe("check_exams", "check", {"exams"}, {"exams_checked"}),
                      Recipe("rates", "group", {"exams_checked"}, {"centre_rates"})};
    for (const auto& r : e.flow.recipes) e.runs[r.name] = Ran(r.name, "succeeded");
    const json exam_cols = json::array({{{"name", "candidate_id"}, {"type", "utf8"}},
                                        {{"name", "centre_id"}, {"type", "utf8"}},
                                        {{"name", "score"}, {"type", "float64"}}});
    e.versions["exams_raw"] = Version("exams_raw", exam_cols, {});
    e.versions["exams"] = Version("exams", exam_cols,
                                  {{"candidate_id", "exams_raw", "candidate_id", "masking"},
                                   {"centre_id", "exams_raw", "centre_id", "identity"},
                                   {"score", "exams_raw", "score", "identity"}});
    e.versions["exams_checked"] = Version("exams_checked", exam_cols,
                                          {{"candidate_id", "exams", "candidate_id", "identity"},
                                           {"centre_id", "exams", "centre_id", "identity"},
                                           {"score", "exams", "score", "identity"}});
    e.versions["centre_rates"] =
        Version("centre_rates",
                json::array({{{"name", "centre_id"}, {"type", "utf8"}},
                             {{"name", "candidates"}, {"type", "int64"}}}),
                {{"centre_id", "exams_checked", "centre_id", "identity"},
                 {"candidates", "exams_checked", "candidate_id", "aggregation"}});
  }

  const GateResult& Gate(const std::string& name, bool allow_breaking = false) {
    gates = EvaluateGates(e, allow_breaking);
    for (const auto& g : gates)
      if (g.gate == name) return g;
    ADD_FAILURE() << "no gate " << name;
    return gates.front();
  }

  PromotionEvidence e;
  std::vector<GateResult> gates;
};

TEST_F(GatesTest, EveryGatePassesForACleanGreenPseudonymisedFlow) {
  gates = EvaluateGates(e, false);
  ASSERT_EQ(gates.size(), 5u);
  EXPECT_EQ(gates[0].gate, "committed");
  EXPECT_EQ(gates[1].gate, "datalab_run");
  EXPECT_EQ(gates[2].gate, "checks");
  EXPECT_EQ(gates[3].gate, "data_policy");
  EXPECT_EQ(gates[4].gate, "schema");
  for (const auto& g : gates) EXPECT_TRUE(g.passed) << g.gate << ": " << g.reason;
  EXPECT_EQ(gates[0].reason, "the flow's files are committed at c0ffee0123 with no change since");
  EXPECT_EQ(gates[1].reason,
            "all 4 recipes succeeded or were up to date at c0ffee0123 (run 01234567)");
  EXPECT_EQ(gates[2].reason, "1 check recipe green");
  EXPECT_EQ(gates[3].reason,
            "no personal column reaches the 3 derived datasets un-pseudonymised (1 personal "
            "source columns)");
  EXPECT_EQ(gates[4].reason, "first release: no schema to stay compatible with");
}

TEST_F(GatesTest, UncommittedFlowFilesFailTheCommittedGateAtHeadOnly) {
  e.uncommitted = {"flows/permis.yaml", "recipes/flag.sql"};
  const GateResult& g = Gate("committed");
  EXPECT_FALSE(g.passed);
  EXPECT_EQ(g.reason, "2 of the flow's files have uncommitted changes; commit them first");
  EXPECT_EQ(g.details, (std::vector<std::string>{"flows/permis.yaml: uncommitted change",
                                                 "recipes/flag.sql: uncommitted change"}));
  e.commit_is_head = false;
  e.uncommitted.clear();
  EXPECT_TRUE(Gate("committed").passed);
  EXPECT_EQ(Gate("committed").reason,
            "commit c0ffee0123 is not HEAD: the working tree is not used");
}

TEST_F(GatesTest, NoDatalabRunAtTheCommitFailsTheRunAndCheckGates) {
  e.runs.clear();
  const GateResult& run = Gate("datalab_run");
  EXPECT_FALSE(run.passed);
  EXPECT_EQ(run.reason,
            "no datalab run of flow permis from commit c0ffee0123 with a clean working tree; "
            "run `alambic run permis` there first");
  const GateResult& checks = Gate("checks");
  EXPECT_FALSE(checks.passed);
  EXPECT_EQ(checks.details,
            (std::vector<std::string>{"check_exams: has not run at commit c0ffee0123"}));
}

TEST_F(GatesTest, DataPolicyAndSchemaAreNotJudgedWithoutADatalabRun) {
  // What promote sees before any run at the commit: no recipe run, no version,
  // and a current release whose schemas would all look removed.
  e.runs.clear();
  e.versions.clear();
  ReleaseRecord current;
  current.number = 1;
  current.schemas = {{"centre_rates", json::array({{{"name", "centre_id"}, {"type", "utf8"}}})}};
  e.current = current;
  for (const char* name : {"data_policy", "schema"}) {
    const GateResult& g = Gate(name);
    EXPECT_FALSE(g.passed) << name;
    EXPECT_FALSE(g.judged) << name;
    EXPECT_EQ(g.reason, "not judged: no datalab run at this commit") << name;
    EXPECT_TRUE(g.details.empty()) << name << ": " << g.details.front();
  }
  // The gates that can be judged still are.
  EXPECT_TRUE(Gate("datalab_run").judged);
  EXPECT_FALSE(Gate("datalab_run").passed);
  // With the run, both are judged again.
  for (const auto& r : e.flow.recipes) e.runs[r.name] = Ran(r.name, "succeeded");
  EXPECT_TRUE(Gate("data_policy").judged);
  EXPECT_TRUE(Gate("schema").judged);
}

TEST_F(GatesTest, AFailedOrMissingRecipeIsNamed) {
  e.runs["rates"] = Ran("rates", "failed");
  e.runs["rates"].error = "group: column 'centre' not found\nmore";
  e.runs.erase("clean_exams");
  const GateResult& g = Gate("datalab_run");
  EXPECT_FALSE(g.passed);
  EXPECT_EQ(g.reason, "2 of 4 recipes have no successful datalab run at c0ffee0123");
  EXPECT_EQ(g.details, (std::vector<std::string>{
                           "recipe clean_exams has not run at commit c0ffee0123",
                           "recipe rates: failed in run 01234567: group: column 'centre' not "
                           "found"}));
}

TEST_F(GatesTest, UpToDateRecipesCountAsGreen) {
  for (auto& [name, r] : e.runs) r.status = "up_to_date";
  EXPECT_TRUE(Gate("datalab_run").passed);
  EXPECT_TRUE(Gate("checks").passed);
}

TEST_F(GatesTest, AFailingCheckIsReportedRuleByRuleAndWarningsDoNotBlock) {
  RecipeRunRecord& check = e.runs["check_exams"];
  check.status = "failed";
  check.metrics = {
      {"checks",
       json::array(
           {{{"name", "score_range"},
             {"severity", "error"},
             {"passed", false},
             {"message", "score: 12 rows outside [0, 20]"}},
            {{"name", "ids"}, {"severity", "error"}, {"passed", true}},
            {{"name", "late"}, {"severity", "warn"}, {"passed", false}, {"message", "3 rows"}}})}};
  const GateResult& g = Gate("checks");
  EXPECT_FALSE(g.passed);
  EXPECT_EQ(g.reason, "1 failing check");
  EXPECT_EQ(g.details,
            (std::vector<std::string>{"check_exams: score_range: score: 12 rows outside [0, 20]"}));

  check.status = "succeeded";
  check.metrics["checks"][0]["passed"] = true;
  const GateResult& ok = Gate("checks");
  EXPECT_TRUE(ok.passed);
  EXPECT_EQ(ok.reason, "1 check recipe green (1 warnings)");
  EXPECT_EQ(ok.details, (std::vector<std::string>{"check_exams: warning: late: 3 rows"}));
}

TEST_F(GatesTest, APersonalColumnCopiedWithoutPseudonymisationIsFollowedToEveryDataset) {
  e.versions["exams"].column_lineage[0].transform = "identity";
  const GateResult& g = Gate("data_policy");
  EXPECT_FALSE(g.passed);
  EXPECT_EQ(g.reason, "3 columns carry personal data un-pseudonymised");
  EXPECT_EQ(g.details,
            (std::vector<std::string>{
                "exams.candidate_id (recipe clean_exams) carries exams_raw.candidate_id "
                "(personal) un-pseudonymised: exams.candidate_id (identity) <- "
                "exams_raw.candidate_id (personal)",
                "exams_checked.candidate_id (recipe check_exams) carries exams_raw.candidate_id "
                "(personal) un-pseudonymised: exams_checked.candidate_id (identity) <- "
                "exams.candidate_id (identity) <- exams_raw.candidate_id (personal)",
                "centre_rates.candidates (recipe rates) carries exams_raw.candidate_id "
                "(personal) un-pseudonymised: centre_rates.candidates (aggregation) <- "
                "exams_checked.candidate_id (identity) <- exams.candidate_id (identity) <- "
                "exams_raw.candidate_id (personal)"}));
}

TEST_F(GatesTest, JoinKeysAndFiltersDoNotCarryValues) {
  e.versions["exams"].column_lineage[0].transform = "masking";
  e.versions["exams"].column_lineage.push_back(
      {"centre_id", "exams_raw", "candidate_id", "filter"});
  e.versions["exams"].column_lineage.push_back({"score", "exams_raw", "candidate_id", "join_key"});
  EXPECT_TRUE(Gate("data_policy").passed);
}

TEST_F(GatesTest, AnOpaqueEdgeMayCarryAnyColumnOfItsInput) {
  // A Lua or plugin recipe that says nothing about its columns reads exams_raw.
  e.flow.recipes.push_back(Recipe("score_lua", "lua", {"exams_raw"}, {"scored"}));
  e.runs["score_lua"] = Ran("score_lua", "succeeded");
  e.versions["scored"] = Version("scored", json::array({{{"name", "risk"}, {"type", "float64"}}}),
                                 {{"risk", "exams_raw", "", "opaque"}});
  const GateResult& g = Gate("data_policy");
  EXPECT_FALSE(g.passed);
  EXPECT_EQ(g.details, (std::vector<std::string>{
                           "scored.risk (recipe score_lua) carries exams_raw.candidate_id "
                           "(personal) un-pseudonymised: scored.risk (opaque: any column of "
                           "exams_raw) <- exams_raw.candidate_id (personal)"}));
}

TEST_F(GatesTest, APersonalTagOnADerivedDatasetIsRefused) {
  DatasetSpec rates;
  rates.name = "centre_rates";
  rates.columns.push_back({"centre_id", {"personal"}, "", {}});
  e.flow.datasets["centre_rates"] = rates;
  const GateResult& g = Gate("data_policy");
  EXPECT_FALSE(g.passed);
  EXPECT_EQ(g.details, (std::vector<std::string>{"centre_rates.centre_id (recipe rates) is "
                                                 "tagged personal in a derived dataset"}));
}

TEST_F(GatesTest, ADerivedDatasetWithoutAVersionCannotBeJudged) {
  e.versions.erase("centre_rates");
  const GateResult& g = Gate("data_policy");
  EXPECT_FALSE(g.passed);
  EXPECT_EQ(g.details, (std::vector<std::string>{"centre_rates (recipe rates): no version at "
                                                 "commit c0ffee0123 to follow its lineage"}));
}

TEST_F(GatesTest, RemovedOrRetypedColumnsOfTheCurrentReleaseAreBreaking) {
  ReleaseRecord current;
  current.number = 3;
  current.schemas = ReleaseSchemas(e);
  e.current = current;
  EXPECT_TRUE(Gate("schema").passed);
  EXPECT_EQ(Gate("schema").reason, "compatible with release 3");

  e.versions["centre_rates"].schema = json::array({{{"name", "centre_id"}, {"type", "int64"}},
                                                   {{"name", "rate"}, {"type", "float64"}},
                                                   {{"name", "extra"}, {"type", "utf8"}}})
                                          .dump();
  e.current->schemas["gone"] = json::array({{{"name", "x"}, {"type", "utf8"}}});
  const GateResult& g = Gate("schema");
  EXPECT_FALSE(g.passed);
  EXPECT_EQ(g.reason,
            "3 breaking changes against release 3; promote with --allow-breaking once its "
            "consumers are ready");
  EXPECT_EQ(g.details, (std::vector<std::string>{"centre_rates: column centre_id retyped utf8 -> "
                                                 "int64",
                                                 "centre_rates: column candidates removed",
                                                 "gone: dataset removed"}));
  const GateResult& allowed = Gate("schema", /*allow_breaking=*/true);
  EXPECT_TRUE(allowed.passed);
  EXPECT_EQ(allowed.reason, "3 breaking changes against release 3, allowed by --allow-breaking");
}

TEST_F(GatesTest, AddedColumnsAreCompatible) {
  ReleaseRecord current;
  current.number = 1;
  current.schemas = ReleaseSchemas(e);
  e.current = current;
  e.versions["centre_rates"].schema = json::array({{{"name", "centre_id"}, {"type", "utf8"}},
                                                   {{"name", "candidates"}, {"type", "int64"}},
                                                   {{"name", "rate"}, {"type", "float64"}}})
                                          .dump();
  const GateResult& g = Gate("schema");
  EXPECT_TRUE(g.passed);
  EXPECT_EQ(g.reason, "compatible with release 1 (1 columns added)");
}

TEST(ReleaseTagTest, NamesFlowAndNumber) {
  EXPECT_EQ(ReleaseTag("permis", 12), "release/permis/12");
}

}  // namespace
}  // namespace alambic::promotion_test
