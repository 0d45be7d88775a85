// The end of `alambic run` through the real binary: the rows of each output of
// a recipe with several, the run's warnings repeated in the summary; and
// `alambic export --decimal ,`.
#include <regex>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/test_util.h"

namespace alambic::run_summary_cli_test {
namespace {

using testing::Cli;
using testing::CliResult;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;

class RunSummaryCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ws_ = dir_.path() / "ws";
    auto r = Cli(dir_.path(), {"init", "ws"});
    ASSERT_EQ(r.code, 0) << r.err;
  }
  TempDir dir_;
  std::filesystem::path ws_;
};

// Lines of `text` that match `re` in full.
int CountLines(const std::string& text, const std::string& re) {
  std::regex pattern(re);
  int n = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    if (std::regex_match(text.substr(pos, nl - pos), pattern)) ++n;
    pos = nl + 1;
  }
  return n;
}

TEST_F(RunSummaryCliTest, ARecipeWithSeveralOutputsShowsEachOutputsRows) {
  // 7 people, 4 of whom live in a listed city: 4 matched rows, 3 unmatched.
  WriteFile(ws_ / "data" / "people.csv",
            "id,city\n1,Lyon\n2,Paris\n3,Nowhere\n4,Lyon\n5,Atlantis\n6,Nice\n7,Gotham\n");
  WriteFile(ws_ / "data" / "cities.csv", "city,region\nLyon,ARA\nParis,IDF\nNice,PACA\n");
  WriteFile(ws_ / "flows" / "people.yaml", R"(flow: people
recipes:
  - {name: collect_people, kind: collect, outputs: [people], params: {path: data/people.csv}}
  - {name: collect_cities, kind: collect, outputs: [cities], params: {path: data/cities.csv}}
  - name: locate
    kind: join
    inputs: [people, cities]
    outputs: [located, unlocated]
    params: {on: city}
)");
  CliResult r = Cli(ws_, {"run"});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  // The recipe's line in the table keeps the total; each output follows.
  EXPECT_EQ(CountLines(r.out, R"(people/locate\s+succeeded\s+7\s+\S+\s*)"), 1) << r.out;
  EXPECT_EQ(CountLines(r.out, R"(\s+-> located\s+4\s*)"), 1) << r.out;
  EXPECT_EQ(CountLines(r.out, R"(\s+-> unlocated\s+3\s*)"), 1) << r.out;
  // The line printed when the recipe finishes names them too.
  EXPECT_THAT(r.out, HasSubstr("people/locate  located 4 rows, unlocated 3 rows")) << r.out;
  // A recipe with one output has no per-output line.
  EXPECT_THAT(r.out, Not(HasSubstr("-> people"))) << r.out;
  // The figures are the datasets' own.
  EXPECT_THAT(Cli(ws_, {"show", "located"}).out, HasSubstr("(4 of 4 rows"));
  EXPECT_THAT(Cli(ws_, {"show", "unlocated"}).out, HasSubstr("(3 of 3 rows"));
}

TEST_F(RunSummaryCliTest, TypeDriftIsInTheSummarysWarnings) {
  WriteFile(ws_ / "data" / "p.csv", "id,price\n1,2.5\n2,3\n3,4.25\n");
  WriteFile(ws_ / "flows" / "prices.yaml", R"(flow: prices
recipes:
  - {name: collect_prices, kind: collect, outputs: [prices], params: {path: data/p.csv}}
)");
  CliResult first = Cli(ws_, {"run"});
  ASSERT_EQ(first.code, 0) << first.out << first.err;
  EXPECT_THAT(first.out, Not(HasSubstr("warnings:")));
  WriteFile(ws_ / "data" / "p.csv", "id,price\n1,2.5\n2,3\n3,n/a\n");
  CliResult second = Cli(ws_, {"run"});
  ASSERT_EQ(second.code, 0) << second.out << second.err;
  const std::string drift =
      "data/p.csv: column 'price' is utf8 now but was float64 in the previous version: line 4 "
      "holds \"n/a\" (give its type in schema to keep it)";
  // After the table, before the run's last line.
  const size_t table = second.out.find("recipe ");
  const size_t section = second.out.find("\nwarnings:\n  prices/collect_prices: " + drift + "\n");
  const size_t last = second.out.find("\nrun ", table);
  ASSERT_NE(table, std::string::npos) << second.out;
  ASSERT_NE(section, std::string::npos) << second.out;
  EXPECT_LT(table, section);
  EXPECT_LT(section, last);
  // Once in the summary, besides the live line.
  int seen = 0;
  for (size_t at = second.out.find(drift); at != std::string::npos;
       at = second.out.find(drift, at + 1))
    ++seen;
  EXPECT_EQ(seen, 2) << second.out;
}

TEST_F(RunSummaryCliTest, ExportWritesADecimalCommaAsTheExportKindDoes) {
  WriteFile(ws_ / "data" / "m.csv",
            "name,x,n\nalpha,1.5,1\nbeta,-2.25,2\ngamma,,3\n\"d,e\",1000000.125,4\n");
  WriteFile(ws_ / "flows" / "m.yaml", R"(flow: m
recipes:
  - {name: collect_m, kind: collect, outputs: [m], params: {path: data/m.csv}}
  - {name: export_m, kind: export, inputs: [m], outputs: [m_exported],
     params: {path: out/by_recipe.csv, decimal: ","}}
)");
  ASSERT_EQ(Cli(ws_, {"run"}).code, 0);
  CliResult r = Cli(ws_, {"export", "m", "--csv", "out/cli/by_cli.csv", "--decimal", ","});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  const std::string cli = ReadFile(ws_ / "out" / "cli" / "by_cli.csv");
  EXPECT_EQ(cli, "name;x;n\nalpha;1,5;1\nbeta;-2,25;2\ngamma;;3\nd,e;1000000,125;4\n");
  // The same bytes as the export kind's (no text here that it would quote).
  EXPECT_EQ(cli, ReadFile(ws_ / "out" / "by_recipe.csv"));
  // The default is unchanged; another separator is refused.
  ASSERT_EQ(Cli(ws_, {"export", "m", "--csv", "out/dot.csv"}).code, 0);
  EXPECT_EQ(ReadFile(ws_ / "out" / "dot.csv"),
            "name,x,n\nalpha,1.5,1\nbeta,-2.25,2\ngamma,,3\n\"d,e\",1000000.125,4\n");
  CliResult bad = Cli(ws_, {"export", "m", "--csv", "out/bad.csv", "--decimal", ";"});
  EXPECT_NE(bad.code, 0);
  EXPECT_THAT(bad.err, HasSubstr("--decimal"));
  EXPECT_FALSE(std::filesystem::exists(ws_ / "out" / "bad.csv"));
}

}  // namespace
}  // namespace alambic::run_summary_cli_test
