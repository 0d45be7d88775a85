// Session: the environment's store and data roots, a code root apart from the
// workspace that holds the state (a release's checkout), and a warehouse that
// pseudonymises with its own key. Real catalog, store and recipes.
#include "core/exec/session.h"

#include <cstdlib>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/exec/run.h"
#include "tests/test_util.h"

namespace alambic::session_test {
namespace {

namespace fs = std::filesystem;
using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;

constexpr const char* kFlow = R"(flow: people
recipes:
  - {name: collect_people, kind: collect, outputs: [people_raw], params: {connection: people, delimiter: ";"}}
  - name: clean_people
    kind: clean
    inputs: [people_raw]
    outputs: [people]
    params: {steps: [{pseudonymise: [id], key: "secret:pseudo_key"}]}
)";

void WritePrivate(const fs::path& p, const std::string& content) {
  WriteFile(p, content);
  fs::permissions(p, fs::perms::owner_read | fs::perms::owner_write);
}

class SessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    home_ = dir_.path() / "ws";
    extracts_ = dir_.path() / "extracts";
    WriteFile(home_ / "alambic.yaml", Config());
    WriteFile(home_ / "flows/people.yaml", kFlow);
    WriteFile(home_ / "data/people.csv", "id;dept\nK001;01\nK002;2A\n");
    WriteFile(extracts_ / "people.csv", "id;dept\nK001;01\nK002;2A\nK003;974\n");
    WritePrivate(home_ / ".alambic/pseudo_key", "the-datalab-key-0123456789\n");
    unsetenv("ALAMBIC_SESSION_TEST_WAREHOUSE_KEY");
  }
  void TearDown() override { unsetenv("ALAMBIC_SESSION_TEST_WAREHOUSE_KEY"); }
  std::string Config() const {
    return fmt::format(
        "name: t\n"
        "environments:\n"
        "  datalab: {{}}\n"
        "  warehouse:\n"
        "    store: stores/warehouse\n"
        "    data_roots: [{}]\n"
        "    connections: {{people: {{type: file, path: {}/people.csv}}}}\n"
        "    secrets: {{pseudo_key: {{env: ALAMBIC_SESSION_TEST_WAREHOUSE_KEY}}}}\n"
        "connections: {{people: {{type: file, path: data/people.csv}}}}\n"
        "secrets: {{pseudo_key: {{file: .alambic/pseudo_key}}}}\n",
        extracts_.string(), extracts_.string());
  }
  std::unique_ptr<Session> Open(const std::string& env, const SessionOptions& options = {}) {
    auto s = Session::Open(home_, env, alambic::testing::BuiltinKinds(), options);
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() ? std::move(*s) : nullptr;
  }
  Result<RunSummary> Run(Session& s) {
    RunOptions opt;
    opt.exec.jobs = 2;
    return RunFlows(s, opt);
  }
  // The current version of `dataset` in the session's environment, read from its store.
  std::vector<std::string> Column(Session& s, const std::string& dataset, const std::string& col) {
    auto ids = s.catalog().CurrentVersionIds(s.environment());
    EXPECT_TRUE(ids.ok() && ids->count(dataset)) << dataset;
    if (!ids.ok() || !ids->count(dataset)) return {};
    auto t = s.store().Read(dataset, ids->at(dataset));
    EXPECT_TRUE(t.ok()) << t.status().message();
    std::vector<std::string> out;
    if (!t.ok()) return out;
    ColumnPtr c = t->ColumnByName(col);
    for (int64_t i = 0; c && i < c->length; ++i) out.push_back(FormatCell(*c, i));
    return out;
  }
  TempDir dir_;
  fs::path home_, extracts_;
};

TEST_F(SessionTest, EachEnvironmentHasItsStoreDataRootsAndConnections) {
  auto lab = Open("");
  ASSERT_NE(lab, nullptr);
  EXPECT_EQ(lab->environment(), "datalab");
  EXPECT_EQ(lab->store().root(), home_ / ".alambic/store/datalab");
  RecipeContext ctx = lab->MakeContext(RecipeSpec{});
  EXPECT_EQ(ctx.environment, "datalab");
  EXPECT_EQ(ctx.secrets_root, home_);
  EXPECT_TRUE(ctx.data_roots.empty());

  auto wh = Open("warehouse");
  ASSERT_NE(wh, nullptr);
  EXPECT_EQ(wh->store().root(), home_ / "stores/warehouse");
  ctx = wh->MakeContext(RecipeSpec{});
  EXPECT_EQ(ctx.environment, "warehouse");
  EXPECT_EQ(ctx.data_roots, std::vector<fs::path>{extracts_});

  // The warehouse reads its own extract (outside the workspace, under its data root).
  setenv("ALAMBIC_SESSION_TEST_WAREHOUSE_KEY", "the-warehouse-key-0123456789", 1);
  auto run = Run(*wh);
  ASSERT_TRUE(run.ok()) << run.status().message();
  EXPECT_EQ(run->run.status, "succeeded");
  EXPECT_EQ(Column(*wh, "people_raw", "id"), (std::vector<std::string>{"K001", "K002", "K003"}));
  EXPECT_TRUE(fs::is_directory(home_ / "stores/warehouse"));
  EXPECT_FALSE(fs::exists(home_ / ".alambic/store/warehouse"));
  EXPECT_FALSE(fs::exists(home_ / ".alambic/store/datalab"));
}

TEST_F(SessionTest, TheWarehouseRefusesTheDatalabsKeyAndPseudonymisesWithItsOwn) {
  auto lab = Open("datalab");
  ASSERT_NE(lab, nullptr);
  auto lab_run = Run(*lab);
  ASSERT_TRUE(lab_run.ok()) << lab_run.status().message();
  const std::vector<std::string> lab_ids = Column(*lab, "people", "id");
  ASSERT_EQ(lab_ids.size(), 2u);

  // Same bytes as the datalab's file: refused when planning, naming no value.
  setenv("ALAMBIC_SESSION_TEST_WAREHOUSE_KEY", "the-datalab-key-0123456789", 1);
  auto wh = Open("warehouse");
  ASSERT_NE(wh, nullptr);
  auto refused = Run(*wh);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().message(),
            "recipe clean_people: step 1 (pseudonymise): secret pseudo_key: the warehouse uses "
            "the datalab's key; give the warehouse its own key "
            "(environments.warehouse.secrets.pseudo_key)");

  setenv("ALAMBIC_SESSION_TEST_WAREHOUSE_KEY", "the-warehouse-key-0123456789", 1);
  wh = Open("warehouse");
  auto accepted = Run(*wh);
  ASSERT_TRUE(accepted.ok()) << accepted.status().message();
  EXPECT_EQ(accepted->run.status, "succeeded");
  const std::vector<std::string> wh_ids = Column(*wh, "people", "id");
  ASSERT_EQ(wh_ids.size(), 3u);
  EXPECT_NE(wh_ids[0], lab_ids[0]);  // K001 under another HMAC key
  EXPECT_NE(wh_ids[1], lab_ids[1]);
  EXPECT_EQ(wh_ids[0].size(), 64u);
}

// A release runs from a checkout: flows and alambic.yaml from there, state and
// relative secret files from the workspace.
TEST_F(SessionTest, ACodeRootElsewhereReadsItsFlowsThereAndKeepsTheStateHere) {
  const fs::path code = home_ / ".alambic/checkouts/r1";
  WriteFile(code / "alambic.yaml", Config());
  WriteFile(
      code / "flows/people.yaml",
      std::string(kFlow).replace(std::string(kFlow).find("flow: people"), 12, "flow: released"));
  WriteFile(code / "data/people.csv", "id;dept\nR001;01\n");
  SessionOptions options;
  options.code_root = code;
  auto s = Open("", options);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->root(), code);
  EXPECT_EQ(s->home(), home_);
  EXPECT_EQ(s->state_dir(), home_ / ".alambic");
  ASSERT_EQ(s->workspace().flows.size(), 1u);
  EXPECT_EQ(s->workspace().flows[0].name, "released");
  EXPECT_EQ(s->store().root(), home_ / ".alambic/store/datalab");
  RecipeContext ctx = s->MakeContext(RecipeSpec{});
  EXPECT_EQ(ctx.workspace, code);
  EXPECT_EQ(ctx.secrets_root, home_);

  // The key file is only in the workspace's .alambic/, not in the checkout.
  ASSERT_FALSE(fs::exists(code / ".alambic/pseudo_key"));
  auto run = Run(*s);
  ASSERT_TRUE(run.ok()) << run.status().message();
  EXPECT_EQ(run->run.status, "succeeded");
  EXPECT_EQ(Column(*s, "people_raw", "id"), std::vector<std::string>{"R001"});
  EXPECT_TRUE(fs::exists(home_ / ".alambic/catalog.db"));
  EXPECT_FALSE(fs::exists(code / ".alambic/catalog.db"));
  EXPECT_FALSE(fs::exists(code / ".alambic/store"));
  EXPECT_TRUE(fs::is_directory(home_ / ".alambic/store/datalab"));

  // The workspace itself still has its own flows.
  auto plain = Open("");
  ASSERT_NE(plain, nullptr);
  EXPECT_EQ(plain->workspace().flows[0].name, "people");
  EXPECT_EQ(plain->root(), home_);
}

}  // namespace
}  // namespace alambic::session_test
