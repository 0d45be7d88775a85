// Flow, recipe and dataset names become paths: validate refuses those that
// would leave their folder (and the store refuses them too).
#include <filesystem>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/store/store.h"
#include "tests/test_util.h"

namespace alambic::names_test {
namespace {

namespace fs = std::filesystem;
using testing::Cli;
using ::testing::HasSubstr;
using testing::TempDir;
using testing::WriteFile;

TEST(NamesTest, ValidateAndRunRefuseNamesThatArePaths) {
  TempDir dir;
  const fs::path ws = dir.path() / "ws";
  ASSERT_EQ(Cli(dir.path(), {"init", "ws"}).code, 0);
  WriteFile(ws / "data" / "in.csv", "a\n1\n");
  const fs::path escape = dir.path() / "escaped";
  for (const std::string& name : std::vector<std::string>{
           (escape / "x").string(), "../../../../" + escape.string().substr(1) + "/y", "..",
           ".hidden", "a\\\\b"}) {
    WriteFile(ws / "flows" / "f.yaml",
              "flow: f\nusecase: demo\nrecipes:\n"
              "  - name: collect_in\n    kind: collect\n"
              "    outputs: [\"" +
                  name +
                  "\"]\n"
                  "    params: {path: data/in.csv}\n");
    auto r = Cli(ws, {"validate"});
    EXPECT_NE(r.code, 0) << name;
    EXPECT_THAT(r.out + r.err, HasSubstr("flows/f.yaml:6")) << name;
    EXPECT_THAT(r.out + r.err, HasSubstr("dataset name '")) << name;
    r = Cli(ws, {"run"});
    EXPECT_NE(r.code, 0) << name;
    EXPECT_THAT(r.out + r.err, HasSubstr("dataset name '")) << name;
  }
  EXPECT_FALSE(fs::exists(escape));
  // Dotted and dashed names, accents, keep working.
  WriteFile(ws / "flows" / "f.yaml",
            "flow: f\nusecase: demo\nrecipes:\n"
            "  - name: collect-in.v2\n    kind: collect\n"
            "    outputs: [données-2024.v1]\n"
            "    params: {path: data/in.csv}\n");
  auto r = Cli(ws, {"run"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
}

TEST(NamesTest, TheStoreRefusesNamesThatArePaths) {
  TempDir dir;
  DatasetStore store(dir.path() / "store");
  ColumnBuilder b(TypeId::kInt64);
  b.AppendInt64(1);
  Table t = *Table::Make(Schema{{{"n", TypeId::kInt64}}}, {b.Finish()});
  for (const std::string& bad :
       std::vector<std::string>{"../x", "/tmp/x", "", ".tmp", "a/b", std::string("a\nb")}) {
    auto s = store.Stage(bad, "v1", t);
    EXPECT_FALSE(s.ok()) << bad;
    EXPECT_FALSE(store.Read(bad, "v1").ok()) << bad;
  }
  EXPECT_FALSE(store.Stage("ok", "../v", t).ok());
  auto s = store.Stage("ok.name-1", "v1", t);
  ASSERT_TRUE(s.ok()) << s.status().message();
  store.Discard(*s);
  EXPECT_FALSE(fs::exists(dir.path() / "x"));
}

}  // namespace
}  // namespace alambic::names_test
