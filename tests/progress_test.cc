// Terminal output: number and duration formats, aligned tables with escaped
// cells, and the progress observer's plain and live modes.
#include "ui/common/progress.h"

#include <cstdio>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/test_util.h"
#include "ui/common/text_table.h"

namespace alambic::progress_test {
namespace {

using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(FormatTest, CountsAndDurations) {
  EXPECT_EQ(FormatCount(0), "0");
  EXPECT_EQ(FormatCount(999), "999");
  EXPECT_EQ(FormatCount(20001), "20,001");
  EXPECT_EQ(FormatCount(-1234567), "-1,234,567");
  EXPECT_EQ(FormatDuration(0.0004), "0ms");
  EXPECT_EQ(FormatDuration(0.340), "340ms");
  EXPECT_EQ(FormatDuration(1.25), "1.2s");
  EXPECT_EQ(FormatDuration(125), "2m05s");
  EXPECT_EQ(FormatDuration(3725), "1h02m05s");
}

TEST(TextTableTest, AlignsByCodePointsAndEscapesControlCharacters) {
  TextTable t({"name", "n"});
  t.AlignRight(1);
  t.AddRow({"Zoé", "5"});
  t.AddRow({"a\x1b[31mred\nx", "12"});
  EXPECT_EQ(t.Render(),
            "name              n\n"
            "Zoé               5\n"
            "a\\x1b[31mred\\nx  12\n");
  TextTable narrow({"c"}, 5);
  narrow.AddRow({"abcdefgh"});
  EXPECT_EQ(narrow.Render(), "c\nabcd…\n");
}

class ProgressTest : public ::testing::Test {
 protected:
  void SetUp() override {
    flow_.name = "f";
    recipe_.name = "r";
    node_.flow = &flow_;
    node_.recipe = &recipe_;
    file_ = std::tmpfile();
  }
  void TearDown() override { std::fclose(file_); }
  std::string Output() {
    std::fflush(file_);
    std::rewind(file_);
    std::string s;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, file_)) > 0) s.append(buf, n);
    return s;
  }
  RunSummary Summary() {
    RunSummary s;
    s.run.id = "0123456789abcdef";
    s.run.status = "failed";
    RecipeRunRecord ok;
    ok.flow = "f";
    ok.recipe = "r";
    ok.status = "succeeded";
    ok.rows_out = 12345;
    ok.attempts = 1;
    ok.duration_ms = 1500;
    RecipeRunRecord bad = ok;
    bad.recipe = "s";
    bad.status = "failed";
    bad.error = "recipe s: boom\nsecond line";
    s.recipes = {ok, bad};
    s.succeeded = 1;
    s.failed = 1;
    s.up_to_date = 3;
    return s;
  }
  Flow flow_;
  RecipeSpec recipe_;
  RecipeNode node_;
  std::FILE* file_ = nullptr;
};

TEST_F(ProgressTest, PlainModeTimestampsEveryEventAndEndsWithASummary) {
  {
    TerminalProgress p(file_, /*tty=*/false, /*verbose=*/false);
    p.RecipeStarted(node_, 1);
    p.RecipeLog(node_, LogLevel::kInfo, "hidden unless verbose");
    p.RecipeLog(node_, LogLevel::kWarn, "3 rows dropped");
    RecipeRunRecord rec;
    rec.status = "succeeded";
    rec.rows_out = 12345;
    rec.duration_ms = 250;
    p.RecipeFinished(node_, rec);
    p.RunFinished(Summary());
  }
  std::string out = Output();
  EXPECT_THAT(out, ContainsRegex("^[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3} start    f/r\n"));
  EXPECT_THAT(out, HasSubstr(" warn     f/r: 3 rows dropped\n"));
  EXPECT_THAT(out, Not(HasSubstr("hidden")));
  EXPECT_THAT(out, HasSubstr(" succeeded f/r  12,345 rows  250ms\n"));
  EXPECT_THAT(out, HasSubstr("recipe  status       rows  duration\n"
                             "f/r     succeeded  12,345      1.5s\n"
                             "f/s     failed          -      1.5s\n"));
  EXPECT_THAT(out, HasSubstr("failed f/s: recipe s: boom\n  second line\n"));
  // The run's warnings are repeated after the table.
  EXPECT_THAT(out, HasSubstr("      1.5s\n\nwarnings:\n  f/r: 3 rows dropped\nfailed f/s"));
  EXPECT_THAT(out, HasSubstr("run 01234567 failed in 0ms: 1 succeeded, 1 failed, 0 cancelled, 0 "
                             "skipped, 3 up to date\n"));
  EXPECT_THAT(out, Not(HasSubstr("\x1b[")));
}

TEST_F(ProgressTest, TerminalModeDrawsLiveLinesAndClearsThem) {
  {
    TerminalProgress p(file_, /*tty=*/true, /*verbose=*/false);
    p.RecipeStarted(node_, 1);
    p.RecipeProgress(node_, 5000);
    RecipeRunRecord rec;
    rec.status = "succeeded";
    p.RecipeFinished(node_, rec);
  }
  std::string out = Output();
  EXPECT_THAT(out, HasSubstr("  running  f/r  "));
  EXPECT_THAT(out, HasSubstr("\x1b[1F\x1b[J"));  // the live line is erased before the event
  EXPECT_THAT(out, HasSubstr("succeeded f/r"));
}

}  // namespace
}  // namespace alambic::progress_test
