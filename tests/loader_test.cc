// alambic.yaml's `environments:` read by LoadWorkspaceConfig: every key, the
// defaults (store, releases_only, implicit datalab and warehouse), and each
// problem as a diagnostic at alambic.yaml:line:column.
#include "core/flow/loader.h"

#include <gtest/gtest.h>

#include "tests/test_util.h"

namespace alambic::loader_test {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;
using testing::WriteFile;

class EnvironmentsConfigTest : public ::testing::Test {
 protected:
  // Loads `yaml` as alambic.yaml; its problems as "file:line:col: message".
  std::vector<std::string> Load(const std::string& yaml, const LoadOptions& options = {}) {
    WriteFile(dir_.path() / "alambic.yaml", yaml);
    loaded_ = LoadWorkspaceConfig(dir_.path(), options);
    std::vector<std::string> out;
    for (const auto& d : loaded_.diagnostics) out.push_back(d.ToString());
    return out;
  }
  const EnvironmentSpec& Env(const std::string& name) const {
    return loaded_.workspace.config.environments.at(name);
  }
  TempDir dir_;
  LoadedWorkspace loaded_;
};

// YAML is UTF-8: a flow saved in Latin-1 by an old editor is one diagnostic naming
// the line and column of its first byte that is not UTF-8, not a failure later on.
TEST(FlowYamlTest, ATextThatIsNotUtf8IsADiagnosticWithItsPlace) {
  std::vector<Diagnostic> diags;
  ParseFlow("flow: f\ndescription: caf\xe9\nrecipes: []\n", "flows/f.yaml", &diags);
  ASSERT_EQ(diags.size(), 1u);
  EXPECT_EQ(diags[0].ToString(),
            "flows/f.yaml:2:17: not UTF-8 text (byte 0xE9): save the file as UTF-8");
  diags.clear();
  ParseFlow("\xff", "flows/g.yaml", &diags);
  ASSERT_EQ(diags.size(), 1u);
  EXPECT_EQ(diags[0].loc.line, 1);
  EXPECT_EQ(diags[0].loc.column, 1);
  // The same text in UTF-8 parses.
  diags.clear();
  Flow f = ParseFlow("flow: f\ndescription: caf\xc3\xa9\nrecipes: []\n", "flows/f.yaml", &diags);
  EXPECT_TRUE(diags.empty()) << diags[0].ToString();
  EXPECT_EQ(f.name, "f");
}

TEST_F(EnvironmentsConfigTest, EveryKeyIsRead) {
  EXPECT_EQ(
      Load("name: t\n"
           "data_roots: [/srv/shared]\n"
           "environments:\n"
           "  datalab: {}\n"
           "  warehouse:\n"
           "    store: /srv/alambic/store\n"
           "    executor: local\n"
           "    releases_only: true\n"
           "    data_roots: [/srv/extracts, extracts]\n"
           "    connections: {exams_extract: {type: file, path: /srv/extracts/exams.csv}}\n"
           "    secrets: {pseudo_key: {env: ALAMBIC_WAREHOUSE_PSEUDO_KEY}, other: {file: k}}\n"),
      std::vector<std::string>{});
  const EnvironmentSpec& w = Env("warehouse");
  EXPECT_EQ(w.name, "warehouse");
  EXPECT_EQ(w.store, fs::path("/srv/alambic/store"));
  EXPECT_EQ(w.executor, "local");
  EXPECT_TRUE(w.releases_only);
  EXPECT_EQ(w.data_roots,
            (std::vector<fs::path>{"/srv/extracts", loaded_.workspace.root / "extracts"}));
  EXPECT_EQ(w.connections, std::vector<std::string>{"exams_extract"});
  EXPECT_EQ(w.secrets, (std::vector<std::string>{"pseudo_key", "other"}));
  EXPECT_EQ(w.loc.ToString(), "alambic.yaml:5:3");
  EXPECT_EQ(
      EnvironmentDataRoots(loaded_.workspace.config, "warehouse"),
      (std::vector<fs::path>{"/srv/shared", "/srv/extracts", loaded_.workspace.root / "extracts"}));
  EXPECT_EQ(EnvironmentDataRoots(loaded_.workspace.config, "datalab"),
            std::vector<fs::path>{"/srv/shared"});
}

TEST_F(EnvironmentsConfigTest, DefaultsFollowTheEnvironmentsName) {
  EXPECT_EQ(Load("name: t\nenvironments:\n  datalab: {}\n  warehouse:\n  prod: {}\n"),
            std::vector<std::string>{});
  const fs::path root = loaded_.workspace.root;
  EXPECT_EQ(Env("datalab").store, root / ".alambic/store/datalab");
  EXPECT_EQ(Env("warehouse").store, root / ".alambic/store/warehouse");
  EXPECT_FALSE(Env("datalab").releases_only);
  EXPECT_TRUE(Env("warehouse").releases_only);  // a null entry too
  EXPECT_FALSE(Env("prod").releases_only);
  EXPECT_EQ(Env("prod").executor, "local");
  EXPECT_TRUE(Env("prod").data_roots.empty());
  // A warehouse may run anything when it says so; another environment only releases.
  EXPECT_EQ(Load("name: t\nenvironments:\n  warehouse: {releases_only: false}\n"
                 "  prod: {releases_only: true}\n"
                 "default_environment: prod\n"),
            std::vector<std::string>{});
  EXPECT_FALSE(Env("warehouse").releases_only);
  EXPECT_TRUE(Env("prod").releases_only);
}

TEST_F(EnvironmentsConfigTest, WithoutEnvironmentsThereAreADatalabAndAWarehouse) {
  EXPECT_EQ(Load("name: t\n"), std::vector<std::string>{});
  ASSERT_EQ(loaded_.workspace.config.environments.size(), 2u);
  EXPECT_EQ(Env("datalab").store, loaded_.workspace.root / ".alambic/store/datalab");
  EXPECT_FALSE(Env("datalab").releases_only);
  EXPECT_TRUE(Env("warehouse").releases_only);
  EXPECT_EQ(Env("warehouse").store, loaded_.workspace.root / ".alambic/store/warehouse");
}

TEST_F(EnvironmentsConfigTest, StoresResolveAgainstTheStateRoot) {
  TempDir home;
  LoadOptions options;
  options.state_root = home.path();
  EXPECT_EQ(
      Load("name: t\nenvironments:\n  datalab: {}\n  warehouse: {store: stores/wh}\n", options),
      std::vector<std::string>{});
  EXPECT_EQ(Env("datalab").store, home.path() / ".alambic/store/datalab");
  EXPECT_EQ(Env("warehouse").store, home.path() / "stores/wh");
  // Without a state root: the workspace itself.
  Load("name: t\nenvironments:\n  warehouse: {store: stores/../wh}\n");
  EXPECT_EQ(Env("warehouse").store, loaded_.workspace.root / "wh");
}

TEST_F(EnvironmentsConfigTest, EachBadKeyOrValueIsADiagnostic) {
  EXPECT_EQ(Load("name: t\n"
                 "environments:\n"
                 "  warehouse:\n"
                 "    stor: x\n"
                 "    executor: pbs\n"
                 "    releases_only: yes\n"
                 "    data_roots: {a: b}\n"
                 "    store: [a]\n"
                 "  prod:\n"
                 "    store: \"\"\n"
                 "    executor: [local]\n"
                 "  lab: [x]\n"
                 "default_environment: warehouse\n"),
            (std::vector<std::string>{
                "alambic.yaml:4:5: unknown key 'stor' in environments.warehouse (expected one of: "
                "store, executor, releases_only, data_roots, connections, secrets)",
                "alambic.yaml:5:15: environments.warehouse.executor: 'pbs' is not an executor "
                "(expected local or slurm)",
                "alambic.yaml:6:20: environments.warehouse.releases_only must be true or false",
                "alambic.yaml:7:17: environments.warehouse.data_roots must be a list of names",
                "alambic.yaml:8:12: environments.warehouse.store must be a string",
                "alambic.yaml:10:12: environments.prod.store must not be empty",
                "alambic.yaml:11:15: environments.prod.executor must be a string",
                "alambic.yaml:12:8: environments.lab must be a mapping",
            }));
}

TEST_F(EnvironmentsConfigTest, ConnectionsAndSecretsOfAnEnvironmentAreChecked) {
  EXPECT_EQ(Load("name: t\n"
                 "environments:\n"
                 "  warehouse:\n"
                 "    connections:\n"
                 "      a: {type: mysql, path: x}\n"
                 "      b: {type: file}\n"
                 "      c: {type: file, path: x, user: y}\n"
                 "      d: x\n"
                 "      e: {type: file, path: \"\"}\n"
                 "    secrets:\n"
                 "      k: {env: A, file: B}\n"
                 "      l: {url: x}\n"
                 "      m: {env: [A]}\n"
                 "  lab: {connections: [a], secrets: x}\n"
                 "default_environment: warehouse\n"),
            (std::vector<std::string>{
                "alambic.yaml:5:17: environments.warehouse.connections.a.type: 'mysql' is not "
                "supported (expected sqlite, file or postgres)",
                "alambic.yaml:6:10: environments.warehouse.connections.b needs a type and a path",
                "alambic.yaml:7:32: unknown key 'user' in environments.warehouse.connections.c "
                "(expected one of: type, path)",
                "alambic.yaml:8:10: environments.warehouse.connections.d must be a mapping",
                "alambic.yaml:9:29: environments.warehouse.connections.e.path must not be empty",
                "alambic.yaml:11:10: environments.warehouse.secrets.k must be {env: VARIABLE} or "
                "{file: PATH}",
                "alambic.yaml:12:11: unknown key 'url' in environments.warehouse.secrets.l "
                "(expected one of: env, file)",
                "alambic.yaml:12:10: environments.warehouse.secrets.l must be {env: VARIABLE} or "
                "{file: PATH}",
                "alambic.yaml:13:16: environments.warehouse.secrets.m.env must be a string",
                "alambic.yaml:14:22: environments.lab.connections must be a mapping",
                "alambic.yaml:14:36: environments.lab.secrets must be a mapping",
            }));
}

// Hostile nesting: a flow (or alambic.yaml) nested 100,000 deep is a
// diagnostic naming the file and the line, not a stack overflow; the same
// with the parsed-flow cache.
std::vector<std::string> LoadFlow(const fs::path& root, const std::string& flow, bool cache) {
  WriteFile(root / "alambic.yaml", "name: t\n");
  WriteFile(root / "flows/deep.yaml", flow);
  LoadOptions options;
  options.flow_cache = cache;
  std::vector<std::string> out;
  for (const auto& d : LoadWorkspace(root, options).diagnostics) out.push_back(d.ToString());
  return out;
}

TEST(DeepYamlTest, NestingIsBoundedWithTheFileAndLine) {
  constexpr int kDepth = 100000;
  const std::string flows[] = {
      // flow sequences, flow mappings, compact block sequences, block mappings in sequences
      "flow: f\nrecipes:\n  - " + std::string(kDepth, '[') + std::string(kDepth, ']') + "\n",
      "flow: f\nrecipes:\n  - " +
          [] {
            std::string s;
            for (int i = 0; i < kDepth; ++i) s += "{a: ";
            return s + "1" + std::string(kDepth, '}');
          }() +
          "\n",
      "flow: f\nrecipes:\n  " +
          [] {
            std::string s;
            for (int i = 0; i < kDepth; ++i) s += "- ";
            return s + "x";
          }() +
          "\n",
  };
  for (const auto& flow : flows)
    for (bool cache : {false, true}) {
      TempDir dir;
      auto diags = LoadFlow(dir.path(), flow, cache);
      ASSERT_EQ(diags.size(), 1u) << flow.substr(0, 40);
      EXPECT_EQ(diags[0].rfind("flows/deep.yaml:3:", 0), 0u) << diags[0];
      EXPECT_NE(diags[0].find("nested too deeply"), std::string::npos) << diags[0];
    }
  TempDir dir;
  WriteFile(dir.path() / "alambic.yaml",
            "name: t\nenvironments:\n  x: " + std::string(kDepth, '[') + std::string(kDepth, ']'));
  auto config = LoadWorkspaceConfig(dir.path());
  ASSERT_EQ(config.diagnostics.size(), 1u);
  EXPECT_EQ(config.diagnostics[0].ToString().rfind("alambic.yaml:3:", 0), 0u)
      << config.diagnostics[0].ToString();
}

// An indentation slip: yaml-cpp's message, then the line of the key out of place.
TEST(YamlIndentationTest, TheSlipNamesTheLineOfTheKey) {
  TempDir dir;
  auto diags = LoadFlow(dir.path(), R"(flow: f
recipes:
  - name: a
    kind: collect
    outputs: [x]
   params:
      path: x.csv
)",
                        false);
  ASSERT_EQ(diags.size(), 1u);
  EXPECT_EQ(diags[0].rfind("flows/deep.yaml:", 0), 0u) << diags[0];
  EXPECT_NE(diags[0].find("(line 6: 'params' is indented 3 spaces, which matches no block around "
                          "it; the enclosing one is at 2)"),
            std::string::npos)
      << diags[0];
  auto over = LoadFlow(dir.path(), R"(flow: f
recipes:
  - name: a
    kind: collect
    outputs: [x]
      params: {path: x.csv}
)",
                       false);
  ASSERT_EQ(over.size(), 1u);
  EXPECT_NE(over[0].find("(line 6: 'params' is indented 6 spaces, deeper than the line before, "
                         "which opens no block)"),
            std::string::npos)
      << over[0];
}

// LoadWorkspace() reads alambic.yaml once: on_config sees the whole
// configuration (connections and secrets included) before any flow is read,
// and the workspace returned holds the same one.
TEST(WorkspaceConfigOnceTest, OnConfigSeesTheConfigurationBeforeTheFlows) {
  TempDir dir;
  WriteFile(dir.path() / "alambic.yaml",
            "name: t\n"
            "connections: {refdb: {type: sqlite, path: data/ref.sqlite}}\n"
            "secrets: {k: {env: SOME_VAR}}\n");
  WriteFile(dir.path() / "flows/a.yaml",
            "flow: a\nrecipes:\n  - {name: r, kind: collect, outputs: [x], params: {path: "
            "x.csv}}\n");
  int calls = 0;
  LoadOptions options;
  options.flow_cache = false;
  options.on_config = [&](const LoadedWorkspace& config) {
    ++calls;
    EXPECT_TRUE(config.ok());
    EXPECT_TRUE(config.workspace.flows.empty());
    EXPECT_EQ(config.workspace.config.connections.connections.at("refdb").path, "data/ref.sqlite");
    EXPECT_EQ(config.workspace.config.secrets.secrets.at("k").env_var, "SOME_VAR");
  };
  const LoadedWorkspace lw = LoadWorkspace(dir.path(), options);
  EXPECT_EQ(calls, 1);
  ASSERT_TRUE(lw.ok()) << lw.diagnostics.at(0).ToString();
  EXPECT_EQ(lw.workspace.flows.size(), 1u);
  EXPECT_EQ(lw.workspace.config.connections.connections.at("refdb").type, "sqlite");
  // Without alambic.yaml, on_config still hears of it, and no flow is read.
  TempDir empty;
  calls = 0;
  options.on_config = [&](const LoadedWorkspace& config) {
    ++calls;
    EXPECT_FALSE(config.ok());
  };
  EXPECT_FALSE(LoadWorkspace(empty.path(), options).ok());
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace alambic::loader_test
