// C++ plugins: the loader's refusals, parameter schemas, versions, and
// isolation of misbehaving plugins (built by CMake into ALAMBIC_TEST_PLUGIN_DIR).
#include "plugins/loader.h"

#include <atomic>
#include <map>
#include <memory>
#include <thread>

#include <fmt/format.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/exec/run.h"
#include "core/flow/loader.h"
#include "core/flow/validate.h"
#include "plugins/alambic_plugin.h"
#include "tests/test_util.h"

namespace alambic::plugin_test {
namespace {

using ::testing::AllOf;
using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::TempDir;
using testing::WriteFile;

const std::filesystem::path kPluginDir = ALAMBIC_TEST_PLUGIN_DIR;

std::string Refusal(const std::filesystem::path& lib) {
  auto registry = alambic::testing::MakeBuiltinKinds();
  auto r = LoadPlugin(lib, *registry);
  EXPECT_FALSE(r.ok()) << lib << " was loaded";
  EXPECT_EQ(registry->Find("bad_kind"), nullptr);
  return r.ok() ? "" : r.status().message();
}

TEST(PluginLoaderTest, RefusesALibraryWithoutEntryPoint) {
  EXPECT_EQ(Refusal(kPluginDir / "bad" / "bad_no_entry.so"),
            "no entry point alambic_plugin_entry (not an Alambic plugin? see docs/plugins.md)");
}

TEST(PluginLoaderTest, RefusesAnotherAbiVersion) {
  EXPECT_EQ(Refusal(kPluginDir / "bad" / "bad_version.so"),
            "plugin ABI version 2 is not supported (this alambic supports version 1); rebuild it "
            "against this alambic's alambic_plugin.h");
}

TEST(PluginLoaderTest, RefusesAnotherStructSize) {
  EXPECT_THAT(Refusal(kPluginDir / "bad" / "bad_size.so"),
              AllOf(HasSubstr(fmt::format("plugin struct sizes {}/", sizeof(AlambicPlugin) + 8)),
                    HasSubstr("do not match this alambic's")));
}

TEST(PluginLoaderTest, RefusesAKindThatClashes) {
  EXPECT_EQ(Refusal(kPluginDir / "bad" / "bad_clash.so"),
            "kind 'sql' clashes with a kind already registered (built-in or from another plugin)");
  // Two plugins registering the same kinds: the second is refused whole.
  auto registry = alambic::testing::MakeBuiltinKinds();
  auto report = LoadPluginDirs({kPluginDir / "good", kPluginDir / "good2"}, *registry);
  ASSERT_EQ(report.loaded.size(), 1u);
  EXPECT_EQ(report.loaded[0].version, "1.0");
  ASSERT_EQ(report.refused.size(), 1u);
  EXPECT_THAT(report.refused[0].reason, HasSubstr("kind 'tk_scale' clashes"));
}

TEST(PluginLoaderTest, RefusesAFileThatIsNotALibrary) {
  TempDir dir;
  WriteFile(dir.path() / "junk.so", "not an ELF file");
  EXPECT_THAT(Refusal(dir.path() / "junk.so"), HasSubstr("cannot load the library: "));
}

TEST(PluginLoaderTest, LoadsKindsWithTheirParamsRolesAndVersion) {
  auto registry = alambic::testing::MakeBuiltinKinds();
  auto report =
      LoadPluginDirs({kPluginDir / "bad", kPluginDir / "good", kPluginDir / "missing"}, *registry);
  ASSERT_EQ(report.loaded.size(), 1u);
  EXPECT_EQ(report.refused.size(), 4u);
  const PluginInfo& p = report.loaded[0];
  EXPECT_EQ(p.name, "testkit");
  EXPECT_EQ(p.kinds.size(), 8u);
  const RecipeKind* scale = registry->Find("tk_scale");
  ASSERT_NE(scale, nullptr);
  ASSERT_EQ(scale->params().size(), 2u);
  EXPECT_EQ(scale->params()[0].name, "factor");
  EXPECT_EQ(scale->params()[0].type, ParamType::kNumber);
  EXPECT_TRUE(scale->params()[0].required);
  EXPECT_EQ(scale->params()[1].default_json, "\"x\"");
  EXPECT_EQ(scale->min_inputs(), 1);
  EXPECT_EQ(scale->max_outputs(), 1);
  EXPECT_THAT(scale->code_version(), AllOf(HasSubstr("plugin testkit 1.0 (library sha256 "),
                                           HasSubstr(p.file_hash.substr(0, 16))));
  EXPECT_NE(registry->Find("sql"), nullptr);
}

TEST(PluginLoaderTest, SearchesTheWorkspaceTheConfigurationThenBesideTheBinary) {
  TempDir dir;
  WriteFile(dir.path() / "alambic.yaml",
            "name: t\nplugins: {dirs: [shared/plugins, /opt/alambic/plugins], memory_mb: 512, "
            "timeout_s: 60}\n");
  LoadedWorkspace lw = LoadWorkspaceConfig(dir.path());
  ASSERT_TRUE(lw.diagnostics.empty()) << lw.diagnostics[0].ToString();
  const WorkspaceConfig& cfg = lw.workspace.config;
  EXPECT_EQ(cfg.plugin_limits, (ResourceLimits{512, 0, 60}));
  const std::filesystem::path bin = ExecutableDir();
  ASSERT_FALSE(bin.empty());
  EXPECT_EQ(PluginSearchPath(dir.path(), cfg.plugin_dirs),
            (std::vector<std::filesystem::path>{
                dir.path() / "plugins", dir.path() / "shared/plugins", "/opt/alambic/plugins",
                bin / "plugins", bin.parent_path() / "lib" / "alambic" / "plugins"}));

  // A plugin in a configured directory is loaded.
  std::filesystem::create_directories(dir.path() / "shared" / "plugins");
  std::filesystem::copy_file(kPluginDir / "good" / "testkit.so",
                             dir.path() / "shared" / "plugins" / "testkit.so");
  auto registry = alambic::testing::MakeBuiltinKinds();
  auto report = LoadPluginDirs(PluginSearchPath(dir.path(), cfg.plugin_dirs), *registry);
  EXPECT_TRUE(report.refused.empty());
  std::map<std::string, std::filesystem::path> loaded;
  for (const auto& p : report.loaded) loaded[p.name] = p.path;
  EXPECT_EQ(loaded["testkit"], dir.path() / "shared" / "plugins" / "testkit.so");
  // The example plugins are built beside the binary (here the test binary).
  EXPECT_EQ(loaded["anomaly"], bin / "plugins" / "anomaly.so");
  EXPECT_EQ(loaded["address_fr"], bin / "plugins" / "address_fr.so");
  EXPECT_NE(registry->Find("tk_scale"), nullptr);
}

// A workspace whose flow runs every testkit kind on the same input.
class PluginRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_ = alambic::testing::MakeBuiltinKinds();
    auto report = LoadPluginDirs({kPluginDir / "good"}, *registry_);
    ASSERT_EQ(report.loaded.size(), 1u);
    WriteFile(dir_.path() / "alambic.yaml", "name: t\nplugins: {memory_mb: 256, timeout_s: 20}\n");
    WriteFile(dir_.path() / "data" / "x.csv", "x,label\n1,a\n2,b\n,c\n");
  }
  void Flow(const std::string& recipes) {
    WriteFile(dir_.path() / "flows" / "f.yaml",
              "flow: f\nrecipes:\n  - {name: src, kind: collect, outputs: [x], params: {path: "
              "data/x.csv}}\n" +
                  recipes);
  }
  std::unique_ptr<Session> Open() {
    auto s = Session::Open(dir_.path(), "", *registry_);
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() ? std::move(*s) : nullptr;
  }
  std::unique_ptr<RecipeRegistry> registry_;
  TempDir dir_;
};

TEST_F(PluginRunTest, MisbehavingPluginsFailOnlyTheirRecipe) {
  Flow(R"(  - {name: scale, kind: tk_scale, inputs: [x], outputs: [scaled], params: {factor: 2.5}}
  - {name: fail, kind: tk_fail, inputs: [x], outputs: [o1]}
  - {name: segv, kind: tk_segv, inputs: [x], outputs: [o2]}
  - {name: abort, kind: tk_abort, inputs: [x], outputs: [o3]}
  - {name: throw, kind: tk_throw, inputs: [x], outputs: [o4]}
  - {name: hang, kind: tk_hang, inputs: [x], outputs: [o5], timeout: 1}
  - {name: leak, kind: tk_leak, inputs: [x], outputs: [o6]}
  - {name: after, kind: tk_scale, inputs: [scaled], outputs: [twice], params: {factor: 2, column: scaled}}
)");
  auto session = Open();
  ASSERT_TRUE(session);
  RunOptions opt;
  opt.exec.jobs = 2;
  opt.exec.keep_going = true;
  auto run = RunFlows(*session, opt);
  ASSERT_TRUE(run.ok()) << run.status().message();
  std::map<std::string, RecipeRunRecord> rec;
  for (const auto& r : run->recipes) rec[r.recipe] = r;
  EXPECT_EQ(rec["scale"].status, "succeeded") << rec["scale"].error;
  EXPECT_EQ(rec["after"].status, "succeeded") << rec["after"].error;
  EXPECT_THAT(rec["scale"].log, HasSubstr("scaled"));
  EXPECT_EQ(rec["fail"].error,
            "recipe fail: plugin testkit (kind tk_fail): the data is not good enough");
  EXPECT_EQ(rec["segv"].error,
            "recipe segv: plugin testkit (kind tk_segv): the plugin crashed: signal 11 "
            "(Segmentation fault)");
  EXPECT_EQ(rec["abort"].error,
            "recipe abort: plugin testkit (kind tk_abort): the plugin crashed: signal 6 (Aborted)");
  EXPECT_EQ(rec["throw"].error,
            "recipe throw: plugin testkit (kind tk_throw): the plugin threw an exception: plugin "
            "bug: unexpected value");
  EXPECT_EQ(rec["hang"].status, "timed_out");
  EXPECT_EQ(rec["leak"].status, "failed");
  EXPECT_THAT(rec["leak"].error,
              AllOf(HasSubstr("recipe leak: plugin testkit (kind tk_leak): "),
                    AnyOf(HasSubstr("ran out of memory (limit 256 MB, plugins: memory_mb)"),
                          HasSubstr("the plugin crashed"), HasSubstr("exited with status"))));
  for (const char* r : {"fail", "segv", "abort", "throw"}) EXPECT_EQ(rec[r].status, "failed") << r;
  EXPECT_EQ(*session->catalog().IntegrityCheck(), "ok");

  // The runner survived: the outputs are there and right.
  auto current = *session->catalog().CurrentVersions("datalab");
  std::string twice;
  for (const auto& c : current)
    if (c.dataset == "twice") twice = c.version_id;
  auto t = session->store().Read("twice", twice);
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(t->schema().ToString(), "x:int64, label:utf8, scaled:float64");
  EXPECT_DOUBLE_EQ(t->column(2)->Double(1), 10.0);
  EXPECT_TRUE(t->column(2)->IsNull(2));
}

TEST_F(PluginRunTest, WallClockLimitKillsAHungPlugin) {
  WriteFile(dir_.path() / "alambic.yaml", "name: t\nplugins: {timeout_s: 0.5}\n");
  Flow("  - {name: hang, kind: tk_hang, inputs: [x], outputs: [o]}\n");
  auto session = Open();
  ASSERT_TRUE(session);
  auto run = RunFlows(*session, {});
  ASSERT_TRUE(run.ok()) << run.status().message();
  ASSERT_EQ(run->recipes.size(), 2u);
  EXPECT_EQ(run->recipes[1].error,
            "recipe hang: plugin testkit (kind tk_hang): did not finish within 0.5s (plugins: "
            "timeout_s) and was killed");
}

TEST_F(PluginRunTest, WhatThePluginPrintsGoesToTheRecipeLogNotTheConsole) {
  Flow("  - {name: chatty, kind: tk_print, inputs: [x], outputs: [o], params: {factor: 3}}\n");
  auto session = Open();
  ASSERT_TRUE(session);
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  auto run = RunFlows(*session, {});
  const std::string out = ::testing::internal::GetCapturedStdout();
  const std::string err = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(run.ok()) << run.status().message();
  ASSERT_EQ(run->recipes.size(), 2u);
  const RecipeRunRecord& r = run->recipes[1];
  EXPECT_EQ(r.status, "succeeded") << r.error;
  // 302 lines printed: the first 200 are forwarded, in the order printed.
  EXPECT_THAT(r.log, HasSubstr("plugin output: rows seen: 3"));
  EXPECT_THAT(r.log, HasSubstr("plugin output: a warning on stderr"));
  EXPECT_LT(r.log.find("rows seen"), r.log.find("a warning on stderr"));
  EXPECT_LT(r.log.find("a warning on stderr"), r.log.find("line 0\n"));
  EXPECT_THAT(r.log, HasSubstr("plugin output: line 197\n"));
  EXPECT_THAT(r.log, Not(HasSubstr("line 198")));
  EXPECT_THAT(r.log, HasSubstr("plugin output: … 102 more lines"));
  EXPECT_THAT(r.log, HasSubstr("scaled"));  // the plugin's own log line
  for (const std::string& console : {out, err}) {
    EXPECT_THAT(console, Not(HasSubstr("rows seen")));
    EXPECT_THAT(console, Not(HasSubstr("a warning on stderr")));
  }
  auto t = session->store().Read("o", r.outputs.at("o"));
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_DOUBLE_EQ(t->column(2)->Double(1), 6.0);
}

TEST_F(PluginRunTest, ALibraryReplacedAfterLoadingIsNotRunUnderTheOldVersion) {
  TempDir libs;
  std::filesystem::copy_file(kPluginDir / "good" / "testkit.so", libs.path() / "testkit.so");
  registry_ = alambic::testing::MakeBuiltinKinds();
  ASSERT_EQ(LoadPluginDirs({libs.path()}, *registry_).loaded.size(), 1u);
  // A rebuild lands while alambic runs: a new file renamed over the loaded one.
  std::filesystem::copy_file(kPluginDir / "good2" / "testkit.so", libs.path() / "new.so");
  std::filesystem::rename(libs.path() / "new.so", libs.path() / "testkit.so");
  Flow("  - {name: scale, kind: tk_scale, inputs: [x], outputs: [s], params: {factor: 2}}\n");
  auto session = Open();
  ASSERT_TRUE(session);
  auto run = RunFlows(*session, {});
  ASSERT_TRUE(run.ok()) << run.status().message();
  ASSERT_EQ(run->recipes.size(), 2u);
  EXPECT_EQ(run->recipes[1].status, "failed");
  EXPECT_THAT(
      run->recipes[1].error,
      AllOf(HasSubstr("recipe scale: plugin testkit (kind tk_scale): the plugin host "
                      "failed: the library " +
                      (libs.path() / "testkit.so").string() + " changed since alambic loaded it"),
            HasSubstr("run again to use the new build")));
}

// The runner has other threads (the publisher, the executor's pool) busy while
// a plugin starts. A bare fork() would copy whatever lock one of them held at
// that instant — under AddressSanitizer, its allocator's — into a child that
// then waits on it forever; the plugin host is a new process image instead.
// Plugins start here while two threads allocate without pause; a hung plugin
// would be killed at the 30 s limit and fail its recipe.
TEST_F(PluginRunTest, PluginsStartWhileOtherThreadsOfTheRunnerAllocate) {
  WriteFile(dir_.path() / "alambic.yaml", "name: t\nplugins: {timeout_s: 30}\n");
  std::string recipes;
  for (int i = 0; i < 24; ++i)
    recipes += fmt::format(
        "  - {{name: s{0}, kind: tk_scale, inputs: [x], outputs: [o{0}], params: {{factor: "
        "{0}}}}}\n",
        i);
  Flow(recipes);
  auto session = Open();
  ASSERT_TRUE(session);
  std::atomic<bool> stop{false};
  std::vector<std::thread> busy;
  for (int t = 0; t < 2; ++t)
    busy.emplace_back([&stop] {
      while (!stop.load()) {
        std::vector<std::unique_ptr<std::string>> v;
        for (size_t i = 0; i < 1000; ++i) v.push_back(std::make_unique<std::string>(100 + i, 'x'));
      }
    });
  RunOptions opt;
  opt.exec.jobs = 4;
  auto run = RunFlows(*session, opt);
  stop = true;
  for (auto& t : busy) t.join();
  ASSERT_TRUE(run.ok()) << run.status().message();
  ASSERT_EQ(run->recipes.size(), 25u);
  for (const auto& r : run->recipes)
    EXPECT_EQ(r.status, "succeeded") << r.recipe << ": " << r.error;
}

TEST_F(PluginRunTest, ValidateChecksPluginParamsLikeBuiltins) {
  Flow(
      R"(  - {name: scale, kind: tk_scale, inputs: [x], outputs: [s], params: {factor: "two", colour: red}}
  - {name: scale2, kind: tk_scale, inputs: [x], outputs: [s2]}
)");
  LoadedWorkspace lw = LoadWorkspace(dir_.path());
  ASSERT_TRUE(lw.ok());
  std::string all;
  for (const auto& d : ValidateWorkspace(lw.workspace, *registry_)) all += d.ToString() + "\n";
  EXPECT_THAT(all, HasSubstr("recipe scale: parameter 'factor' must be a number, got the string "
                             "\"two\""));
  EXPECT_THAT(all, HasSubstr("recipe scale: unknown parameter 'colour' for kind tk_scale "
                             "(expected one of: factor, column)"));
  EXPECT_THAT(all, HasSubstr("recipe scale2: missing required parameter 'factor' for kind "
                             "tk_scale"));
}

TEST_F(PluginRunTest, ThePluginVersionIsPartOfTheRecipeVersion) {
  Flow("  - {name: scale, kind: tk_scale, inputs: [x], outputs: [s], params: {factor: 2}}\n");
  std::string v1;
  {
    auto session = Open();
    auto plan = session->MakePlan({});
    ASSERT_TRUE(plan.ok());
    v1 = plan->recipes[1].output_versions[0];
    ASSERT_TRUE(RunFlows(*session, {}).ok());
  }
  // The same kinds from version 2.0 of the plugin: stale, "code changed".
  registry_ = alambic::testing::MakeBuiltinKinds();
  ASSERT_EQ(LoadPluginDirs({kPluginDir / "good2"}, *registry_).loaded.size(), 1u);
  auto session = Open();
  auto plan = session->MakePlan({});
  ASSERT_TRUE(plan.ok());
  EXPECT_NE(plan->recipes[1].output_versions[0], v1);
  EXPECT_EQ(plan->recipes[1].decision, Decision::kRun);
  EXPECT_THAT(plan->recipes[1].explanation,
              HasSubstr("code changed (kind tk_scale plugin testkit 2.0 (library sha256 "));
}

}  // namespace
}  // namespace alambic::plugin_test
