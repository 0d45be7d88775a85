// What `alambic` prints: --format json on every listing and report (parsed
// with a real JSON parser), plan --exit-code, control characters escaped,
// the generated man page and bash completion, and plugin list outside a
// workspace.
#include <fstream>
#include <regex>
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/test_util.h"

namespace alambic::cli_output_test {
namespace {

using testing::Cli;
using testing::CliResult;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::ReadFile;
using testing::ShellQuote;
using testing::TempDir;
using testing::WriteFile;
using OJson = nlohmann::ordered_json;

OJson Parse(const CliResult& r) {
  OJson j = OJson::parse(r.out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << "not JSON:\n" << r.out << r.err;
  return j;
}

class CliOutputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ws_ = dir_.path() / "ws";
    auto r = Cli(dir_.path(), {"init", "ws"});
    ASSERT_EQ(r.code, 0) << r.err;
    WriteFile(ws_ / "data" / "people.csv", "zeta;alpha;mid\n3;x;1.5\n1;y;2\n2;\x1b[31mred;\n");
    WriteFile(ws_ / "flows" / "people.yaml", R"(flow: people
usecase: demo
recipes:
  - name: collect_people
    kind: collect
    outputs: [people_raw]
    params: {path: data/people.csv, delimiter: ";"}
  - name: by_alpha
    kind: sql
    inputs: [people_raw]
    outputs: [by_alpha]
    params: {query: "select alpha, count(*) as n from people_raw group by alpha order by alpha"}
)");
  }
  std::string RunId(const std::string& which = "") {
    auto runs = Parse(Cli(ws_, {"runs", "--format", "json"}));
    return which.empty() ? runs.at(0).at("id").get<std::string>() : which;
  }
  TempDir dir_;
  std::filesystem::path ws_;
};

TEST_F(CliOutputTest, PlanExitCodeSaysWhetherSomethingIsToRun) {
  auto before = Cli(ws_, {"plan", "--exit-code"});
  EXPECT_EQ(before.code, 2) << before.out << before.err;
  EXPECT_THAT(before.out, HasSubstr("2 of 2 recipes to run"));
  EXPECT_EQ(Cli(ws_, {"plan"}).code, 0);  // without the flag, 0 as before
  ASSERT_EQ(Cli(ws_, {"run"}).code, 0);
  auto after = Cli(ws_, {"plan", "--exit-code"});
  EXPECT_EQ(after.code, 0) << after.out;
  WriteFile(ws_ / "flows" / "broken.yaml", "flow: [\n");
  EXPECT_EQ(Cli(ws_, {"plan", "--exit-code"}).code, 1);
}

TEST_F(CliOutputTest, PlanAndStatusAsJson) {
  auto plan = Parse(Cli(ws_, {"plan", "--format", "json"}));
  EXPECT_EQ(plan.at("to_run"), 2);
  ASSERT_EQ(plan.at("recipes").size(), 2u);
  EXPECT_EQ(plan["recipes"][0]["flow"], "people");
  EXPECT_EQ(plan["recipes"][0]["recipe"], "collect_people");
  EXPECT_EQ(plan["recipes"][0]["decision"], "run");
  EXPECT_FALSE(plan["recipes"][0]["reason"].get<std::string>().empty());
  auto status = Parse(Cli(ws_, {"status", "--format", "json"}));
  ASSERT_EQ(status.size(), 2u);
  EXPECT_EQ(status[0]["state"], "never built");
  EXPECT_TRUE(status[0]["version"].is_null());

  ASSERT_EQ(Cli(ws_, {"run"}).code, 0);
  plan = Parse(Cli(ws_, {"plan", "--format", "json"}));
  EXPECT_EQ(plan.at("to_run"), 0);
  for (const auto& r : plan["recipes"]) EXPECT_EQ(r["decision"], "up to date") << r.dump();
  status = Parse(Cli(ws_, {"status", "--format", "json"}));
  ASSERT_EQ(status.size(), 2u);
  std::map<std::string, OJson> by;
  for (const auto& s : status) by[s["dataset"].get<std::string>()] = s;
  EXPECT_EQ(by["people_raw"]["state"], "fresh");
  EXPECT_EQ(by["people_raw"]["rows"], 3);
  EXPECT_EQ(by["by_alpha"]["rows"], 3);
  EXPECT_EQ(by["by_alpha"]["flow"], "people");
  EXPECT_EQ(by["by_alpha"]["run"].get<std::string>().size(), 36u);  // the full run id
}

TEST_F(CliOutputTest, RunsAndLogAsJsonAndAnUpToDateRunListsItsRecipes) {
  ASSERT_EQ(Cli(ws_, {"run"}).code, 0);
  ASSERT_EQ(Cli(ws_, {"run"}).code, 0);  // everything up to date
  auto runs = Parse(Cli(ws_, {"runs", "--format", "json"}));
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0]["status"], "succeeded");
  EXPECT_EQ(runs[0]["environment"], "datalab");
  EXPECT_EQ(runs[0]["flows"], "people");
  const std::string second = runs[0]["id"], first = runs[1]["id"];

  auto log = Parse(Cli(ws_, {"log", first, "--format", "json"}));
  EXPECT_EQ(log["id"], first);
  ASSERT_EQ(log["recipes"].size(), 2u);
  EXPECT_EQ(log["recipes"][0]["status"], "succeeded");
  EXPECT_EQ(log["recipes"][1]["rows_out"], 3);
  auto one = Parse(Cli(ws_, {"log", first, "by_alpha", "--format", "json"}));
  EXPECT_EQ(one["recipe"], "by_alpha");
  EXPECT_TRUE(one["log"].is_string());
  EXPECT_EQ(one["outputs"].size(), 1u);

  // The up-to-date run: the note, then the recipes (docs/cli.md).
  auto text = Cli(ws_, {"log", second.substr(0, 8)});
  ASSERT_EQ(text.code, 0) << text.err;
  EXPECT_THAT(text.out, HasSubstr("nothing was run: every selected recipe was up to date"));
  EXPECT_THAT(text.out, HasSubstr("people/collect_people  up_to_date"));
  EXPECT_THAT(text.out, HasSubstr("people/by_alpha"));
}

TEST_F(CliOutputTest, EnvRunsListsOnlyThatEnvironmentsRuns) {
  ASSERT_EQ(Cli(ws_, {"run"}).code, 0);
  EXPECT_EQ(Parse(Cli(ws_, {"runs", "--format", "json"})).size(), 1u);
  EXPECT_EQ(Parse(Cli(ws_, {"--env", "datalab", "runs", "--format", "json"})).size(), 1u);
  auto wh = Cli(ws_, {"--env", "warehouse", "runs", "--format", "json"});
  ASSERT_EQ(wh.code, 0) << wh.err;
  EXPECT_EQ(Parse(wh).size(), 0u) << wh.out;
  EXPECT_THAT(Cli(ws_, {"--env", "warehouse", "runs"}).out, Not(HasSubstr("datalab")));
}

TEST_F(CliOutputTest, ValidateAsJsonListsEveryDiagnostic) {
  auto ok = Cli(ws_, {"validate", "--format", "json"});
  EXPECT_EQ(ok.code, 0) << ok.out << ok.err;
  EXPECT_EQ(Parse(ok), OJson::array());
  WriteFile(ws_ / "flows" / "bad.yaml", R"(flow: bad
recipes:
  - name: a
    kind: no_such_kind
    outputs: [x]
  - name: b
    kind: sql
    inputs: [missing_input]
    outputs: [y]
    params: {query: "select 1"}
)");
  auto bad = Cli(ws_, {"validate", "--format", "json"});
  EXPECT_EQ(bad.code, 1);
  auto diags = Parse(bad);
  ASSERT_TRUE(diags.is_array());
  ASSERT_GE(diags.size(), 2u) << bad.out;
  std::set<int> lines;
  for (const auto& d : diags) {
    EXPECT_EQ(d["file"], "flows/bad.yaml") << d.dump();
    EXPECT_EQ(d["severity"], "error");
    EXPECT_TRUE(d["message"].is_string());
    lines.insert(d["line"].get<int>());
  }
  EXPECT_TRUE(lines.count(4)) << bad.out;  // kind: no_such_kind
  EXPECT_TRUE(lines.count(8)) << bad.out;  // inputs: [missing_input]
}

TEST_F(CliOutputTest, ShowJsonKeepsTheColumnOrder) {
  ASSERT_EQ(Cli(ws_, {"run"}).code, 0);
  auto show = Cli(ws_, {"show", "people_raw", "--format", "json"});
  ASSERT_EQ(show.code, 0) << show.err;
  auto rows = Parse(show);
  ASSERT_EQ(rows.size(), 3u);
  std::vector<std::string> keys;
  for (auto it = rows[0].begin(); it != rows[0].end(); ++it) keys.push_back(it.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"zeta", "alpha", "mid"}));
  EXPECT_EQ(rows[2]["alpha"], "\x1b[31mred");  // escaped in the JSON text, intact once parsed
  EXPECT_EQ(show.out.find('\x1b'), std::string::npos);
}

TEST_F(CliOutputTest, ControlCharactersInDataAreEscapedOnTheTerminal) {
  WriteFile(ws_ / "data" / "people.csv", "zeta;\x1b[31malpha;mid\n3;x\x07;1.5\n");
  WriteFile(ws_ / "flows" / "people.yaml", R"(flow: people
recipes:
  - name: collect_people
    kind: collect
    outputs: [people_raw]
    params: {path: data/people.csv, delimiter: ";"}
)");
  ASSERT_EQ(Cli(ws_, {"run"}).code, 0);
  for (const std::vector<std::string>& args : {std::vector<std::string>{"show", "people_raw"},
                                               {"status"},
                                               {"plan", "--explain"},
                                               {"log", RunId(), "collect_people"}}) {
    auto r = Cli(ws_, args);
    EXPECT_EQ(r.code, 0) << args[0] << r.err;
    EXPECT_EQ(r.out.find('\x1b'), std::string::npos) << args[0] << ":\n" << r.out;
    EXPECT_EQ(r.out.find('\x07'), std::string::npos) << args[0] << ":\n" << r.out;
  }
  auto show = Cli(ws_, {"show", "people_raw"});
  EXPECT_THAT(show.out, HasSubstr("\\x1b[31malpha"));
  EXPECT_THAT(show.out, HasSubstr("x\\x07"));
}

TEST_F(CliOutputTest, ExportCreatesMissingFolders) {
  ASSERT_EQ(Cli(ws_, {"run"}).code, 0);
  auto r = Cli(ws_, {"export", "by_alpha", "--csv", "out/deep/er/by_alpha.csv"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(ReadFile(ws_ / "out" / "deep" / "er" / "by_alpha.csv").substr(0, 8), "alpha,n\n");
}

TEST_F(CliOutputTest, PromoteGatesAsJsonBeforeAnyRunSayNotJudged) {
  // The flow committed, never run.
  ASSERT_EQ(std::system(("cd " + ShellQuote(ws_.string()) +
                         " && git add -A >/dev/null && git commit -qm 'Add the people flow'")
                            .c_str()),
            0);
  auto r = Cli(ws_, {"promote", "people", "--format", "json"});
  EXPECT_EQ(r.code, 1) << r.err;
  auto j = Parse(r);
  EXPECT_EQ(j["flow"], "people");
  EXPECT_EQ(j["admitted"], false);
  EXPECT_TRUE(j["release"].is_null());
  ASSERT_EQ(j["gates"].size(), 5u);
  std::map<std::string, OJson> gates;
  for (const auto& g : j["gates"]) gates[g["gate"].get<std::string>()] = g;
  for (const char* name : {"data_policy", "schema"}) {
    EXPECT_EQ(gates[name]["reason"], "not judged: no datalab run at this commit") << name;
    EXPECT_EQ(gates[name]["judged"], false);
    EXPECT_EQ(gates[name]["passed"], false);
  }
  EXPECT_EQ(gates["datalab_run"]["judged"], true);
  EXPECT_EQ(gates["datalab_run"]["passed"], false);
  EXPECT_EQ(gates["committed"]["passed"], true);
  auto text = Cli(ws_, {"promote", "people"});
  EXPECT_THAT(text.out, HasSubstr("not judged: no datalab run at this commit"));
  EXPECT_THAT(text.out, Not(HasSubstr("carry personal data")));
  EXPECT_THAT(text.out, HasSubstr("refused: 1 of 5 gates failed, 2 not judged"));
}

TEST_F(CliOutputTest, ModelListAndShowAsJson) {
  std::string csv = "x;y\n";
  for (int i = 0; i < 200; ++i)
    csv += std::to_string((i * 37) % 101) + ";" + ((i * 37) % 101 > 50 ? "1" : "0") + "\n";
  WriteFile(ws_ / "data" / "train.csv", csv);
  WriteFile(ws_ / "flows" / "people.yaml", R"(flow: people
recipes:
  - {name: collect, kind: collect, outputs: [history], params: {path: data/train.csv, delimiter: ";"}}
  - name: train_risk
    kind: train
    inputs: [history]
    outputs: [risk_model]
    params: {task: binary, target: y, rounds: 5, threads: 1, split: {method: random, validation: 0.25, seed: 5}}
)");
  auto run = Cli(ws_, {"run"});
  ASSERT_EQ(run.code, 0) << run.out << run.err;
  auto list = Parse(Cli(ws_, {"model", "list", "--format", "json"}));
  ASSERT_EQ(list.size(), 1u) << list.dump();
  EXPECT_EQ(list[0]["model"], "risk_model");
  EXPECT_EQ(list[0]["task"], "binary");
  EXPECT_EQ(list[0]["main_metric"], "auc");
  EXPECT_TRUE(list[0]["metric"].is_number());
  EXPECT_EQ(list[0]["versions"], 1);
  EXPECT_EQ(list[0]["recipe"], "train_risk");
  auto show = Parse(Cli(ws_, {"model", "show", "risk_model", "--format", "json"}));
  EXPECT_EQ(show["version"], list[0]["version"]);
  EXPECT_EQ(show["metrics"]["auc"], list[0]["metric"]);
  EXPECT_EQ(
      show["metrics"]["rows_validation"].get<int>() + show["metrics"]["rows_train"].get<int>(),
      200);
  EXPECT_EQ(show["versions"].size(), 1u);
  EXPECT_TRUE(show["evaluations"].is_array());
}

TEST(CliPluginTest, PluginListOutsideAWorkspaceListsTheInstalledPlugins) {
  TempDir dir;  // not a workspace
  auto r = Cli(dir.path(), {"plugin", "list", "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = Parse(r);
  std::set<std::string> names;
  for (const auto& p : j.at("plugins")) {
    names.insert(p["name"].get<std::string>());
    EXPECT_FALSE(p["kinds"].empty()) << p.dump();
  }
  // The example plugins the build puts beside the binary (build/plugins).
  EXPECT_TRUE(names.count("anomaly")) << r.out;
  EXPECT_TRUE(names.count("address_fr")) << r.out;
  EXPECT_THAT(Cli(dir.path(), {"plugin", "list"}).out, HasSubstr("kind anomaly"));
}

// The subcommands `alambic --help` lists (and those of `alambic CMD --help`).
std::vector<std::string> HelpSubcommands(const std::filesystem::path& cwd,
                                         const std::vector<std::string>& path) {
  std::vector<std::string> args = path;
  args.push_back("--help");
  const std::string help = Cli(cwd, args).out;
  std::vector<std::string> out;
  const size_t at = help.find("Subcommands:");
  if (at == std::string::npos) return out;
  std::regex re("\\n  ([a-z][a-z-]*) ");
  for (std::sregex_iterator it(help.begin() + static_cast<long>(at), help.end(), re), end;
       it != end; ++it)
    out.push_back((*it)[1]);
  return out;
}

TEST(CliDocsTest, ManPageListsEverySubcommand) {
  TempDir dir;
  auto man = Cli(dir.path(), {"man"});
  ASSERT_EQ(man.code, 0) << man.err;
  EXPECT_THAT(man.out, HasSubstr(".TH ALAMBIC 1"));
  const auto top = HelpSubcommands(dir.path(), {});
  ASSERT_GE(top.size(), 20u);
  for (const auto& cmd : top) {
    EXPECT_THAT(man.out, HasSubstr(".SS \"alambic " + cmd)) << cmd;
    for (const auto& sub : HelpSubcommands(dir.path(), {cmd}))
      EXPECT_THAT(man.out, HasSubstr(".SS \"alambic " + cmd + " " + sub)) << cmd << " " << sub;
  }
  EXPECT_THAT(man.out, HasSubstr("\\-\\-exit\\-code"));
  EXPECT_THAT(man.out, Not(HasSubstr(".SS \"alambic completion")));  // hidden
  // man(1) renders it without a warning, when man is installed.
  WriteFile(dir.path() / "alambic.1", man.out);
  if (std::system("command -v groff >/dev/null 2>&1") == 0) {
    const std::string cmd =
        "groff -man -Tutf8 -ww -z " + ShellQuote((dir.path() / "alambic.1").string()) + " 2>&1";
    FILE* p = ::popen(cmd.c_str(), "r");
    std::string warnings;
    char buf[512];
    while (std::fgets(buf, sizeof buf, p)) warnings += buf;
    EXPECT_EQ(::pclose(p), 0);
    EXPECT_EQ(warnings, "");
  }
}

// COMPREPLY of the generated completion for the words typed.
std::string Complete(const std::filesystem::path& script, const std::string& words, int cword) {
  const std::string code = "source " + ShellQuote(script.string()) + " && COMP_WORDS=(" + words +
                           ") && COMP_CWORD=" + std::to_string(cword) +
                           " && _alambic && echo \"${COMPREPLY[*]}\" && complete -p alambic";
  const std::string cmd = "bash -c " + ShellQuote(code) + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  EXPECT_EQ(::pclose(p), 0) << out;
  return out;
}

TEST(CliDocsTest, BashCompletionIsValidAndCompletesSubcommands) {
  TempDir dir;
  const auto script = dir.path() / "alambic.bash";
  auto r = Cli(dir.path(), {"completion", "bash", "-o", script.string()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(std::system(("bash -n " + ShellQuote(script.string())).c_str()), 0);
  EXPECT_THAT(Complete(script, "alambic mo", 1), HasSubstr("model\ncomplete -F _alambic alambic"));
  EXPECT_THAT(Complete(script, "alambic pl", 1), HasSubstr("plan plugin\n"));
  EXPECT_THAT(Complete(script, "alambic model ''", 2), HasSubstr("list show"));
  EXPECT_THAT(Complete(script, "alambic -C ws plan --ex", 4), HasSubstr("--explain --exit-code"));
  EXPECT_THAT(Complete(script, "alambic --env warehouse model show --f", 5), HasSubstr("--format"));
  EXPECT_THAT(Cli(dir.path(), {"--help"}).out, Not(HasSubstr("completion")));
}

}  // namespace
}  // namespace alambic::cli_output_test
