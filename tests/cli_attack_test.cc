// The `alambic` command under attack (docs/reliability.md): terminal escape injection
// through every kind of name and data a command prints (column names, use-case titles,
// cell values, error messages, diagnostics), and path confinement of every path parameter
// of the flows (collect, sql, lua, formula functions, export). What cli_output_test does for
// cells on four commands is extended to every printing command and to names.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "tests/test_util.h"

namespace alambic::cli_attack_test {
namespace {

namespace fs = std::filesystem;
using testing::Cli;
using testing::CliResult;
using testing::TempDir;
using testing::WriteFile;

// The first raw control character of `s` a terminal would act on (C0 but tab and newline,
// DEL, C1 as UTF-8), with its offset; "" when there is none.
std::string RawControl(const std::string& s) {
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    const bool c1 = c == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) >= 0x80 &&
                    static_cast<unsigned char>(s[i + 1]) <= 0x9F;
    if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7F || c1)
      return "byte " + std::to_string(c) + " at " + std::to_string(i) + " in:\n" +
             s.substr(i > 80 ? i - 80 : 0, 160);
  }
  return "";
}

class CliAttackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ws_ = dir_.path() / "ws";
    ASSERT_EQ(Cli(dir_.path(), {"init", "ws"}).code, 0);
  }
  TempDir dir_;
  fs::path ws_;
};

// ESC (a CSI sequence and an OSC title change), BEL, CR, DEL and a C1 CSI in a column name,
// a cell, a use-case title and a failing query's message: every command that prints them
// prints them escaped.
TEST_F(CliAttackTest, EveryCommandThatPrintsNamesOrDataEscapesControlCharacters) {
  const std::string evil =
      "\x1b[2J\x1b]0;pwned\x07\r\x7f\xC2\x9B"
      "31m";
  WriteFile(ws_ / "data/evil.csv", "id,\"c" + evil + "\"\n1,\"v" + evil + "\"\n");
  WriteFile(ws_ / "usecases/evil.yaml",
            "usecase: evil\ntitle: \"t\\e[2J\\a\\r\\x7f\\u009b31m\"\nowner: o\ndirection: DSR\n"
            "status: idea\ndescription: \"d\\e]0;x\\a\"\n");
  WriteFile(ws_ / "flows/evil.yaml",
            "flow: evil\nusecase: evil\nrecipes:\n"
            "  - {name: collect_evil, kind: collect, outputs: [evil_rows],"
            " params: {path: data/evil.csv}}\n"
            "  - {name: broken, kind: sql, inputs: [evil_rows], outputs: [never],"
            " params: {query: \"select * from \\\"t\\e[2J\\a\\\"\"}}\n");
  auto run = Cli(ws_, {"run"});
  ASSERT_NE(run.code, 0) << "the broken recipe must fail";
  EXPECT_EQ(RawControl(run.out + run.err), "") << "run";
  auto runs = Cli(ws_, {"runs", "--format", "json"});
  ASSERT_EQ(runs.code, 0) << runs.err;
  const std::string id = nlohmann::json::parse(runs.out).at(0).at("id").get<std::string>();
  const std::vector<std::vector<std::string>> commands = {
      {"show", "evil_rows"},
      {"status"},
      {"plan", "--explain"},
      {"runs"},
      {"log", id},
      {"log", id, "broken"},
      {"log", id, "collect_evil"},
      {"lineage", "evil_rows"},
      {"lineage", "evil_rows", "--downstream"},
      {"impact", "evil_rows"},
      {"usecase", "list"},
      {"usecase", "show", "evil"},
      {"validate"},
      {"audit"},
  };
  for (const auto& args : commands) {
    auto r = Cli(ws_, args);
    std::string cmd;
    for (const auto& a : args) cmd += a + " ";
    EXPECT_EQ(RawControl(r.out), "") << cmd << "(stdout)";
    EXPECT_EQ(RawControl(r.err), "") << cmd << "(stderr)";
  }
  // The column of the hostile name, asked for by that name: lineage and impact name it
  // escaped (or say it is unknown, escaped).
  for (const char* cmd : {"lineage", "impact"}) {
    auto r = Cli(ws_, {cmd, "evil_rows.c" + evil});
    EXPECT_EQ(RawControl(r.out + r.err), "") << cmd;
  }
  // A diagnostic naming a hostile kind and parameter.
  WriteFile(ws_ / "flows/bad.yaml",
            "flow: bad\nrecipes:\n  - {name: b, kind: \"k\\e[2J\", outputs: [z],"
            " params: {\"p\\e]0;x\\a\": 1}}\n");
  auto v = Cli(ws_, {"validate"});
  EXPECT_NE(v.code, 0);
  EXPECT_EQ(RawControl(v.out + v.err), "") << "validate";
}

struct PathCase {
  std::string what, recipe;  // a recipe (YAML flow mapping) with its hostile path
};

// Every path parameter of a flow, pointed outside the workspace (a parent, an absolute
// path, a symlink out) or, for export, at the workspace's own machinery: the run fails
// naming the recipe, and nothing outside is read into a dataset or written.
TEST_F(CliAttackTest, EveryPathParameterIsConfinedToTheWorkspace) {
  const fs::path outside = dir_.path() / "outside";
  fs::create_directories(outside);
  WriteFile(outside / "secret.csv", "k\nSECRET-OUTSIDE\n");
  WriteFile(outside / "secret.sql", "select 'SECRET-OUTSIDE' as k");
  WriteFile(outside / "secret.lua", "output{k = {'SECRET-OUTSIDE'}}");
  WriteFile(ws_ / "data/in.csv", "k\n1\n");
  fs::create_directories(ws_ / "data/links");
  fs::create_symlink(outside / "secret.csv", ws_ / "data/links/secret.csv");
  fs::create_symlink(outside, ws_ / "data/outdir");
  const std::string abs = (outside / "secret.csv").string();
  const std::string in = "{name: src, kind: collect, outputs: [src], params: {path: data/in.csv}}";
  const std::vector<PathCase> cases = {
      {"collect ../",
       "{name: r, kind: collect, outputs: [o], params: {path: ../outside/secret.csv}}"},
      {"collect absolute",
       "{name: r, kind: collect, outputs: [o], params: {path: \"" + abs + "\"}}"},
      {"collect symlink",
       "{name: r, kind: collect, outputs: [o], params: {path: data/links/secret.csv}}"},
      {"collect wildcard",
       "{name: r, kind: collect, outputs: [o], params: {path: \"../outside/*.csv\"}}"},
      {"sql file",
       "{name: r, kind: sql, inputs: [src], outputs: [o], params: {file: ../outside/secret.sql}}"},
      {"lua script",
       "{name: r, kind: lua, inputs: [src], outputs: [o], script: ../outside/secret.lua}"},
      {"formula functions",
       "{name: r, kind: formula, inputs: [src], outputs: [o], params: "
       "{columns: {x: \"k\"}, functions: ../outside/secret.lua}}"},
      {"export ../",
       "{name: r, kind: export, inputs: [src], params: {path: ../outside/written.csv}}"},
      {"export symlink dir",
       "{name: r, kind: export, inputs: [src], params: {path: data/outdir/written.csv}}"},
      {"export .git", "{name: r, kind: export, inputs: [src], params: {path: .git/config}}"},
      {"export .alambic",
       "{name: r, kind: export, inputs: [src], params: {path: .alambic/catalog.db}}"},
  };
  const std::string git_config = testing::ReadFile(ws_ / ".git/config");
  const std::string config = testing::ReadFile(ws_ / "alambic.yaml");
  ASSERT_EQ(Cli(ws_, {"run"}).code, 0);  // the catalog exists before the attempts
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    WriteFile(ws_ / "flows/p.yaml", "flow: p\nrecipes:\n  - " + in + "\n  - " + c.recipe + "\n");
    auto r = Cli(ws_, {"run", "p"});
    EXPECT_NE(r.code, 0) << r.out << r.err;
    EXPECT_NE((r.out + r.err).find("recipe r"), std::string::npos) << r.out << r.err;
    EXPECT_FALSE(fs::exists(outside / "written.csv"));
    EXPECT_EQ(testing::ReadFile(ws_ / ".git/config"), git_config);
    EXPECT_EQ(testing::ReadFile(ws_ / "alambic.yaml"), config);
    EXPECT_TRUE(fs::exists(ws_ / ".alambic/catalog.db"));
  }
  // No case built a dataset from a file outside.
  auto show = Cli(ws_, {"show", "o"});
  EXPECT_EQ(show.out.find("SECRET-OUTSIDE"), std::string::npos) << show.out;
}

}  // namespace
}  // namespace alambic::cli_attack_test
