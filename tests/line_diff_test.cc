// core/vcs/line_diff.h: counts, hunks, context and the size bound.
#include "core/vcs/line_diff.h"

#include <algorithm>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace alambic::line_diff_test {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// "l1\nl2\n...": lines first..last, with `changed` lines given another text.
std::string Lines(int first, int last, const std::vector<int>& changed = {}) {
  std::string s;
  for (int i = first; i <= last; ++i)
    s += std::find(changed.begin(), changed.end(), i) != changed.end() ? fmt::format("L{}\n", i)
                                                                       : fmt::format("l{}\n", i);
  return s;
}

TEST(LineDiffTest, EqualTextsHaveNoDiff) {
  LineDiff d = DiffLines("a\nb\n", "a\nb\n", "x", "x");
  EXPECT_EQ(d.added, 0);
  EXPECT_EQ(d.removed, 0);
  EXPECT_THAT(d.lines, IsEmpty());
  EXPECT_FALSE(d.too_large);
}

TEST(LineDiffTest, OneChangedLineWithThreeLinesOfContext) {
  LineDiff d = DiffLines(Lines(1, 10), Lines(1, 10, {5}), "a.sql", "b.sql");
  EXPECT_EQ(d.added, 1);
  EXPECT_EQ(d.removed, 1);
  EXPECT_THAT(d.lines, ElementsAre("--- a/a.sql", "+++ b/b.sql", "@@ -2,7 +2,7 @@", " l2", " l3",
                                   " l4", "-l5", "+L5", " l6", " l7", " l8"));
}

TEST(LineDiffTest, DistantChangesMakeTwoHunksAndCloseOnesOne) {
  LineDiff two = DiffLines(Lines(1, 20), Lines(1, 20, {2, 18}), "f", "f");
  EXPECT_THAT(two.lines, ElementsAre("--- a/f", "+++ b/f", "@@ -1,5 +1,5 @@", " l1", "-l2", "+L2",
                                     " l3", " l4", " l5", "@@ -15,6 +15,6 @@", " l15", " l16",
                                     " l17", "-l18", "+L18", " l19", " l20"));
  // Six unchanged lines between two changes: still one hunk.
  LineDiff one = DiffLines(Lines(1, 20), Lines(1, 20, {5, 12}), "f", "f");
  EXPECT_EQ(std::count_if(one.lines.begin(), one.lines.end(),
                          [](const std::string& l) { return l.rfind("@@", 0) == 0; }),
            1);
  EXPECT_EQ(one.lines[2], "@@ -2,14 +2,14 @@");
}

TEST(LineDiffTest, InsertionsAndDeletionsAtTheEnds) {
  LineDiff created = DiffLines("", "a\nb\n", "f", "f");
  EXPECT_EQ(created.added, 2);
  EXPECT_THAT(created.lines, ElementsAre("--- a/f", "+++ b/f", "@@ -0,0 +1,2 @@", "+a", "+b"));
  LineDiff emptied = DiffLines("a\nb\n", "", "f", "f");
  EXPECT_EQ(emptied.removed, 2);
  EXPECT_THAT(emptied.lines, ElementsAre("--- a/f", "+++ b/f", "@@ -1,2 +0,0 @@", "-a", "-b"));
  LineDiff appended = DiffLines("a\nb", "a\nb\nc\n", "f", "f");  // a last line without "\n"
  EXPECT_THAT(appended.lines,
              ElementsAre("--- a/f", "+++ b/f", "@@ -1,2 +1,3 @@", " a", " b", "+c"));
}

TEST(LineDiffTest, ALongestCommonSubsequenceKeepsMovedBlocksSmall) {
  LineDiff d = DiffLines("a\nb\nc\nd\n", "b\nc\nd\na\n", "f", "f");
  EXPECT_EQ(d.added, 1);
  EXPECT_EQ(d.removed, 1);
  EXPECT_THAT(d.lines,
              ElementsAre("--- a/f", "+++ b/f", "@@ -1,4 +1,4 @@", "-a", " b", " c", " d", "+a"));
}

TEST(LineDiffTest, ATooLargeChangedRegionIsCountedWithoutHunks) {
  std::string a, b;
  for (int i = 0; i < 2500; ++i) {
    a += fmt::format("old {}\n", i);
    b += fmt::format("new {}\n", i);
  }
  LineDiff d = DiffLines("same\n" + a + "end\n", "same\n" + b + "end\n", "f", "f");
  EXPECT_TRUE(d.too_large);
  EXPECT_EQ(d.added, 2500);
  EXPECT_EQ(d.removed, 2500);
  EXPECT_THAT(d.lines, IsEmpty());
  // A large file with a small change is still aligned.
  LineDiff small = DiffLines(a, a + "x\n", "f", "f");
  EXPECT_FALSE(small.too_large);
  EXPECT_EQ(small.added, 1);
  EXPECT_EQ(small.removed, 0);
}

}  // namespace
}  // namespace alambic::line_diff_test
