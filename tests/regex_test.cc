// Regular expressions on PCRE2 (core/table/regex.h): search semantics, Unicode
// classes, invalid patterns and values, the backtracking limits, groups and the
// replacement template.
#include "core/table/regex.h"

#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace alambic::regex_test {
namespace {

std::shared_ptr<const Regex> Re(const std::string& pattern) {
  auto re = Regex::Compile(pattern);
  EXPECT_TRUE(re.ok()) << pattern << ": " << re.status().message();
  return re.ok() ? *re : nullptr;
}

// "true" / "false", or the error message.
std::string Search(const std::string& pattern, const std::string& value) {
  auto re = Re(pattern);
  if (!re) return "<bad pattern>";
  Regex::Matcher m(*re);
  auto found = m.Search(value);
  if (!found.ok()) return found.status().message();
  return *found ? "true" : "false";
}

// The value with every match replaced, or the error message.
std::string Replace(const std::string& pattern, const std::string& with, const std::string& value) {
  auto re = Re(pattern);
  if (!re) return "<bad pattern>";
  auto r = RegexReplacement::Parse(with, *re);
  if (!r.ok()) return r.status().message();
  Regex::Matcher m(*re);
  std::string out = "<";
  Status st = m.ReplaceAll(value, *r, &out);
  if (!st.ok()) return st.message();
  return out + ">";
}

TEST(RegexTest, SearchFindsAMatchAnywhereUnlessAnchored) {
  EXPECT_EQ(Search("b", "abc"), "true");
  EXPECT_EQ(Search("^b", "abc"), "false");
  EXPECT_EQ(Search("^a", "abc"), "true");
  EXPECT_EQ(Search("b$", "abc"), "false");
  EXPECT_EQ(Search("^abc$", "abc"), "true");
  EXPECT_EQ(Search("^(?:abc)$", "abcd"), "false");
  EXPECT_EQ(Search("", ""), "true");
  EXPECT_EQ(Search("^$", ""), "true");
}

TEST(RegexTest, DollarMatchesOnlyAtTheVeryEnd) {
  // Not before a final newline (Perl's default), as in ECMAScript.
  EXPECT_EQ(Search("^abc$", "abc\n"), "false");
  EXPECT_EQ(Search("^abc\\n$", "abc\n"), "true");
  EXPECT_EQ(Search("^a.c$", "a\nc"), "false");  // `.` does not match a newline
}

TEST(RegexTest, ClassesQuantifiersAndAlternation) {
  const std::string hash(64, 'f');
  EXPECT_EQ(Search("^(?:[0-9a-f]{64})$", hash), "true");
  EXPECT_EQ(Search("^(?:[0-9a-f]{64})$", hash + "0"), "false");
  EXPECT_EQ(Search("^(?:[0-9a-f]{64})$", std::string(63, 'f') + "F"), "false");
  EXPECT_EQ(Search("^\\d{5}$", "75001"), "true");
  EXPECT_EQ(Search("^\\d{5}$", "2A004"), "false");
  EXPECT_EQ(Search("^[[:upper:]]{2}-\\d+$", "CE-12"), "true");
  EXPECT_EQ(Search("^(?:reussite|echec)$", "echec"), "true");
  EXPECT_EQ(Search("^(?:reussite|echec)$", "echecs"), "false");
  EXPECT_EQ(Search("^(ab)+c?$", "ababc"), "true");
  EXPECT_EQ(Search("(?i)^PARIS$", "paris"), "true");
}

TEST(RegexTest, ClassesKnowUnicodeLetters) {
  EXPECT_EQ(Search("^\\w$", "É"), "true");
  EXPECT_EQ(Search("^\\w+$", "Élève_2"), "true");
  EXPECT_EQ(Search("^\\W$", "É"), "false");
  EXPECT_EQ(Search("^[[:alpha:]]+$", "Ñandú"), "true");
  EXPECT_EQ(Search("\\bété\\b", "un été chaud"), "true");
  EXPECT_EQ(Search("^.$", "é"), "true");  // one character, two bytes
  EXPECT_EQ(Search("^..$", "é"), "false");
  EXPECT_EQ(Search("(?i)^école$", "ÉCOLE"), "true");
  EXPECT_EQ(Search("^\\p{Lu}", "Été"), "true");
  EXPECT_EQ(Search("^[é-ê]$", "ê"), "true");
}

TEST(RegexTest, InvalidUtf8InAValueNeverMatchesAndIsNotAnError) {
  EXPECT_EQ(Search("abc",
                   "\xff"
                   "abc"),
            "true");
  EXPECT_EQ(Search("^.", "\xff"), "false");
  EXPECT_EQ(Search("^.+$", "a\xc3"), "false");
  EXPECT_EQ(Search("^a", "a\xc3"), "true");
}

TEST(RegexTest, AnInvalidPatternNamesItTheOffsetAndTheReason) {
  EXPECT_EQ(Regex::Compile("(a").status().message(),
            "invalid regular expression '(a' at offset 2: missing closing parenthesis");
  EXPECT_EQ(Regex::Compile("[0-9").status().message(),
            "invalid regular expression '[0-9' at offset 4: missing terminating ] for character "
            "class");
  EXPECT_EQ(Regex::Compile("a{2,1}").status().message(),
            "invalid regular expression 'a{2,1}' at offset 5: numbers out of order in {} "
            "quantifier");
  EXPECT_EQ(Regex::Compile("*a").status().message(),
            "invalid regular expression '*a' at offset 0: quantifier does not follow a repeatable "
            "item");
  // A pattern must itself be UTF-8.
  EXPECT_EQ(Regex::Compile("a\xff").status().message(),
            "invalid regular expression 'a\xff' at offset 1: UTF-8 error: illegal byte (0xfe or "
            "0xff)");
}

TEST(RegexTest, PatternsAreJitCompiled) {
  EXPECT_TRUE(Re("[0-9a-f]{64}")->jit());
  EXPECT_EQ(Re("(a)(b(c))?")->groups(), 3u);
}

TEST(RegexTest, CatastrophicBacktrackingStopsWithAnErrorInBoundedTime) {
  const std::string value = std::string(10000, 'a') + "b";
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Search("(a+)+$", value),
            "the regular expression '(a+)+$': match limit exceeded (the pattern backtracks too "
            "much on this value: nested quantifiers such as (a+)+, or a repeated group over a "
            "very long value)");
  // Unbounded, this takes longer than the universe's age; the limit is tens of
  // milliseconds of work, given a wide margin for a loaded machine.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
  // The same pattern on values it handles quickly still works.
  EXPECT_EQ(Search("(a+)+$", "aaaa"), "true");
  EXPECT_EQ(Search("(a+)+$", "aaaab"), "false");
}

TEST(RegexTest, AMatcherStillWorksAfterALimitError) {
  auto re = Re("^(a+)+$");
  Regex::Matcher m(*re);
  EXPECT_FALSE(m.Search(std::string(10000, 'a') + "b").ok());
  auto found = m.Search("aaa");
  ASSERT_TRUE(found.ok());
  EXPECT_TRUE(*found);
}

TEST(RegexTest, ARepeatedGroupOverAMillionCharactersNeedsNoDeepStack) {
  const std::string a(1000000, 'a');
  EXPECT_EQ(Search("^(a|c)*b$", a + "b"), "true");
  EXPECT_EQ(Search("^(a|c)*b$", a + "c"), "false");
  EXPECT_EQ(Search("^(?:[ac])*b$", a + "b"), "true");
}

TEST(RegexTest, GroupsOfTheLastMatch) {
  auto re = Re("CE-0*([0-9]+)(-bis)?");
  Regex::Matcher m(*re);
  const std::string v = "centre CE-0042 Paris";
  auto found = m.Search(v);
  ASSERT_TRUE(found.ok() && *found);
  EXPECT_EQ(m.Group(v, 0), std::optional<std::string_view>("CE-0042"));
  EXPECT_EQ(m.Group(v, 1), std::optional<std::string_view>("42"));
  EXPECT_EQ(m.Group(v, 2), std::nullopt);  // did not take part
  EXPECT_EQ(m.Group(v, 3), std::nullopt);  // no such group
  found = m.Search(v, 8);                  // from byte 8: no match
  ASSERT_TRUE(found.ok());
  EXPECT_FALSE(*found);
}

// Expected values as Python's re.sub and JavaScript's String.replace give them.
TEST(RegexTest, ReplaceAllExpandsTheTemplate) {
  EXPECT_EQ(Replace("/[A-Z]$", "", "CE/B"), "<CE>");
  EXPECT_EQ(Replace("(\\w+)@(\\w+)", "$2 at $1", "me@home, you@work"), "<home at me, work at you>");
  EXPECT_EQ(Replace("b", "[$&]", "abc"), "<a[b]c>");
  EXPECT_EQ(Replace("b", "[$0]", "abc"), "<a[b]c>");
  EXPECT_EQ(Replace("b", "[$`|$']", "abc"), "<a[a|c]c>");
  EXPECT_EQ(Replace("b", "$$1", "abc"), "<a$1c>");
  EXPECT_EQ(Replace("(b)", "${1}0", "abc"), "<ab0c>");
  EXPECT_EQ(Replace("(b)", "$10", "abc"), "<ab0c>");  // one group: $1 then "0"
  EXPECT_EQ(Replace("(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)", "$10", "abcdefghij"), "<j>");
  EXPECT_EQ(Replace("b", "$x${y}$", "abc"), "<a$x${y}$c>");  // not a reference: literal
  EXPECT_EQ(Replace("(x)?b", "[$1]", "abc"), "<a[]c>");      // unset group: empty
  EXPECT_EQ(Replace("b", "x", "aaa"), "<aaa>");
}

TEST(RegexTest, ReplaceAllHandlesEmptyMatchesAsPerl) {
  EXPECT_EQ(Replace("x*", "-", "ax"), "<-a-->");
  EXPECT_EQ(Replace("x*", "-", "abc"), "<-a-b-c->");
  EXPECT_EQ(Replace("", "-", "éa"), "<-é-a->");  // steps over whole characters
  EXPECT_EQ(Replace("", "-", ""), "<->");
  EXPECT_EQ(Replace("\\s*", "_", "a b"), "<_a__b_>");
}

TEST(RegexTest, ReplacementReferencesMustExist) {
  EXPECT_EQ(Replace("(b)", "$2", "abc"), "group 2 does not exist: the pattern has 1 group(s)");
  EXPECT_EQ(Replace("b", "${1}", "abc"), "group 1 does not exist: the pattern has 0 group(s)");
}

TEST(RegexTest, ReplaceAllStopsAtTheLimit) {
  EXPECT_EQ(Replace("(a+)+$", "x", std::string(10000, 'a') + "b"),
            "the regular expression '(a+)+$': match limit exceeded (the pattern backtracks too "
            "much on this value: nested quantifiers such as (a+)+, or a repeated group over a "
            "very long value)");
}

TEST(RegexTest, OneRegexIsSharedByThreadsEachWithItsMatcher) {
  auto re = Re("^([a-z]+)-(\\d+)$");
  std::vector<int> hits(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      Regex::Matcher m(*re);
      for (int i = 0; i < 20000; ++i) {
        const std::string v = (i % 2 ? "abc-" : "ABC-") + std::to_string(i * t);
        auto found = m.Search(v);
        if (found.ok() && *found && m.Group(v, 2) == std::to_string(i * t)) ++hits[t];
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(hits, (std::vector<int>{10000, 10000, 10000, 10000}));
}

}  // namespace
}  // namespace alambic::regex_test
