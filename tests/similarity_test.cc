// String and date similarity: published values, UTF-8 handling, and a
// cross-check on random strings against an independent implementation
// (jellyfish from Debian, plus Python reference code for OSA and Soundex2).
#include "core/table/similarity.h"

#include <cstdio>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/table/table.h"
#include "tests/test_util.h"

namespace alambic::similarity_test {
namespace {

TEST(SimilarityTest, JaroWinklerMatchesPublishedValues) {
  EXPECT_NEAR(JaroWinkler("MARTHA", "MARHTA"), 0.961, 0.0005);
  EXPECT_NEAR(JaroWinkler("DWAYNE", "DUANE"), 0.840, 0.0005);
  EXPECT_NEAR(JaroWinkler("DIXON", "DICKSONX"), 0.813, 0.0005);
  EXPECT_NEAR(Jaro(ToCodePoints("MARTHA"), ToCodePoints("MARHTA")), 0.944, 0.0005);
  EXPECT_DOUBLE_EQ(JaroWinkler("DUPONT", "DUPONT"), 1.0);
  EXPECT_DOUBLE_EQ(JaroWinkler("ABC", "XYZ"), 0.0);
  EXPECT_DOUBLE_EQ(JaroWinkler("", ""), 1.0);
  EXPECT_DOUBLE_EQ(JaroWinkler("A", ""), 0.0);
}

TEST(SimilarityTest, WinklerBonusOnlyAboveBoostThreshold) {
  // Jaro("ABCXYZ", "ABDEFG") = (2/6 + 2/6 + 1) / 3 = 0.556 <= 0.7: no prefix bonus.
  EXPECT_NEAR(JaroWinkler("ABCXYZ", "ABDEFG"), 5.0 / 9.0, 1e-12);
}

TEST(SimilarityTest, EditDistancesMatchTextbookValues) {
  EXPECT_EQ(LevenshteinDistance("kitten", "sitting"), 3);
  EXPECT_EQ(LevenshteinDistance("flaw", "lawn"), 2);
  EXPECT_EQ(LevenshteinDistance("", "abc"), 3);
  EXPECT_EQ(DamerauDistance("ABCD", "ACBD"), 1);
  EXPECT_EQ(LevenshteinDistance("ABCD", "ACBD"), 2);
  // Optimal string alignment, not unrestricted Damerau (which gives 2).
  EXPECT_EQ(DamerauDistance("CA", "ABC"), 3);
  EXPECT_DOUBLE_EQ(LevenshteinSimilarity(ToCodePoints("kitten"), ToCodePoints("sitting")),
                   1.0 - 3.0 / 7.0);
  EXPECT_DOUBLE_EQ(DamerauSimilarity(ToCodePoints("MARTHA"), ToCodePoints("MARHTA")),
                   1.0 - 1.0 / 6.0);
  EXPECT_DOUBLE_EQ(LevenshteinSimilarity(ToCodePoints(""), ToCodePoints("")), 1.0);
}

TEST(SimilarityTest, DistancesCountCodePointsNotBytes) {
  EXPECT_EQ(LevenshteinDistance("café", "cafe"), 1);
  EXPECT_EQ(LevenshteinDistance("Ångström", "Angstrom"), 2);
  EXPECT_EQ(DamerauDistance("éa", "aé"), 1);
  EXPECT_EQ(ToCodePoints("Noël").size(), 4u);
  EXPECT_NEAR(JaroWinkler("HÉLÈNE", "HELENE"), JaroWinkler("HXLYNE", "HELENE"), 1e-12);
}

TEST(SimilarityTest, NormaliseNameUppercasesStripsAccentsAndSeparators) {
  EXPECT_EQ(NormaliseName("  Jean-François d'Arcy "), "JEAN FRANCOIS D ARCY");
  EXPECT_EQ(NormaliseName("Lœuvre–Müller"), "LOEUVRE MULLER");
  EXPECT_EQ(NormaliseName("O’Neil\t\tSt.  Pierre"), "O NEIL ST PIERRE");
  EXPECT_EQ(NormaliseName("e\xCC\x81lise"), "ELISE");  // decomposed é
  EXPECT_EQ(NormaliseName("---"), "");
  EXPECT_EQ(SortWords("PIERRE JEAN MARIE"), "JEAN MARIE PIERRE");
  EXPECT_EQ(SortWords(""), "");
}

TEST(SimilarityTest, SoundexFrGroupsFrenchSpellings) {
  EXPECT_EQ(SoundexFr("MARTIN"), "MRTN");
  EXPECT_EQ(SoundexFr("Martain"), "MRTN");
  EXPECT_EQ(SoundexFr("Dupont"), "DPN");
  EXPECT_EQ(SoundexFr("DUPOND"), "DPN");
  EXPECT_EQ(SoundexFr("Gauthier"), "KTR");
  EXPECT_EQ(SoundexFr("Gautier"), "KTR");
  EXPECT_EQ(SoundexFr("Philippe"), "FLP");
  EXPECT_EQ(SoundexFr("Mac Donald"), "MCDN");
  EXPECT_EQ(SoundexFr("Knapp"), "NP");
  EXPECT_EQ(SoundexFr("Schmitt"), "SSMT");
  EXPECT_EQ(SoundexFr("Lefèbvre"), "LFBV");
  EXPECT_EQ(SoundexFr("Y"), "Y");
  EXPECT_EQ(SoundexFr("--"), "");
  EXPECT_NE(SoundexFr("MARTIN"), SoundexFr("BERNARD"));
}

TEST(SimilarityTest, ParsePartialDateReadsCivilStatusForms) {
  PartialDate d;
  ASSERT_TRUE(ParsePartialDate("1952-03-17", &d));
  EXPECT_EQ(d.year, 1952);
  EXPECT_EQ(d.month, 3);
  EXPECT_EQ(d.day, 17);
  ASSERT_TRUE(ParsePartialDate("19520300", &d));
  EXPECT_EQ(d.day, 0);
  EXPECT_FALSE(d.complete());
  ASSERT_TRUE(ParsePartialDate("17/03/1952", &d));
  EXPECT_EQ(d.month, 3);
  ASSERT_TRUE(ParsePartialDate("13/00/1957", &d));  // a day without month is kept
  EXPECT_EQ(d.month, 0);
  EXPECT_EQ(d.day, 13);
  EXPECT_FALSE(ParsePartialDate("1952-02-30", &d));
  EXPECT_FALSE(ParsePartialDate("1951-02-29", &d));
  EXPECT_TRUE(ParsePartialDate("1952-02-29", &d));
  EXPECT_FALSE(ParsePartialDate("1952-13-01", &d));
  EXPECT_FALSE(ParsePartialDate("00000101", &d));
  EXPECT_FALSE(ParsePartialDate("52-03-17", &d));
  EXPECT_FALSE(ParsePartialDate("", &d));
  PartialDate e = PartialDateFromDays(DaysFromCivil(1952, 3, 17));
  EXPECT_EQ(e.year, 1952);
  EXPECT_EQ(e.month, 3);
  EXPECT_EQ(e.day, 17);
}

TEST(SimilarityTest, PartialDatesCompareAsPartialNeverAsTheSameDate) {
  auto P = [](const char* s) {
    PartialDate d;
    EXPECT_TRUE(ParsePartialDate(s, &d)) << s;
    return d;
  };
  EXPECT_DOUBLE_EQ(DateSimilarity(P("17/03/1957"), P("17/03/1957"), 0), 1.0);
  // Equal year, unknown day or month: below an exact date, even when equal.
  EXPECT_DOUBLE_EQ(DateSimilarity(P("00/03/1957"), P("00/03/1957"), 0), 0.85);
  EXPECT_DOUBLE_EQ(DateSimilarity(P("00/00/1957"), P("00/00/1957"), 0), 0.8);
  EXPECT_DOUBLE_EQ(DateSimilarity(P("13/00/1957"), P("00/00/1957"), 0), 0.8);
  EXPECT_DOUBLE_EQ(DateSimilarity(P("13/00/1957"), P("13/00/1957"), 0), 0.8);
  EXPECT_DOUBLE_EQ(DateSimilarity(P("13/00/1957"), P("13/05/1957"), 0), 0.8);
  EXPECT_DOUBLE_EQ(DateSimilarity(P("00/03/1957"), P("00/00/1957"), 0), 0.8);
  EXPECT_DOUBLE_EQ(DateSimilarity(P("00/00/1957"), P("00/00/1958"), 0), 0.0);
}

TEST(SimilarityTest, NormaliseKeyFoldsLatinExtendedAndNameIsFuzzyJoins) {
  const unsigned folded = kKeyTrim | kKeyLower | kKeyStripAccents;
  EXPECT_EQ(NormaliseKey(" Œuvre Šimon Łódź\u00a0", folded), "oeuvre simon lodz");
  EXPECT_EQ(NormaliseKey("ŒUVRE", kKeyLower), "œuvre");
  EXPECT_EQ(NormaliseKey("  a b  ", kKeyTrim), "a b");
  EXPECT_EQ(NormaliseKey("Bonnet-Eymard", kKeyName), NormaliseName("BONNET EYMARD"));
  EXPECT_EQ(NormaliseKey("d'Arcy", kKeyName | kKeyLower), "D ARCY");
  EXPECT_EQ(NormaliseKey("\xff A", kKeyLower), "\xff a");
}

TEST(SimilarityTest, DateSimilarityToleratesRecordDefects) {
  auto P = [](const char* s) {
    PartialDate d;
    EXPECT_TRUE(ParsePartialDate(s, &d)) << s;
    return d;
  };
  EXPECT_DOUBLE_EQ(DateSimilarity(P("1952-03-17"), P("17/03/1952"), 0), 1.0);
  EXPECT_DOUBLE_EQ(DateSimilarity(P("1952-03-17"), P("1952-03-19"), 3), 0.9);
  EXPECT_DOUBLE_EQ(DateSimilarity(P("1952-03-17"), P("1952-03-19"), 0), 0.0);
  EXPECT_DOUBLE_EQ(DateSimilarity(P("1952-12-31"), P("1953-01-01"), 1), 0.9);
  EXPECT_DOUBLE_EQ(DateSimilarity(P("1952-03-04"), P("1952-04-03"), 0), 0.9);
  EXPECT_DOUBLE_EQ(DateSimilarity(P("1952-03-17"), P("19520300"), 0), 0.85);
  EXPECT_DOUBLE_EQ(DateSimilarity(P("1952-03-17"), P("1952-03-01"), 0), 0.8);
  EXPECT_DOUBLE_EQ(DateSimilarity(P("1952-03-17"), P("19520000"), 0), 0.8);
  EXPECT_DOUBLE_EQ(DateSimilarity(P("1952-03-17"), P("1952-01-01"), 0), 0.7);
  EXPECT_DOUBLE_EQ(DateSimilarity(P("1952-03-17"), P("1953-03-17"), 0), 0.5);
  EXPECT_DOUBLE_EQ(DateSimilarity(P("1952-03-17"), P("1925-03-17"), 0), 0.0);
  EXPECT_DOUBLE_EQ(DateSimilarity(P("1952-03-17"), P("1952-05-20"), 0), 0.0);
  EXPECT_DOUBLE_EQ(DateSimilarity(P("1952-03-17"), PartialDate{}, 0), 0.0);
}

// Random strings over an alphabet with accented letters (multi-byte UTF-8)
// and repeated letters, so transpositions and shared prefixes are common.
std::string RandomName(std::mt19937& rng) {
  static const std::vector<std::string> kLetters = {"A", "B", "C", "D", "E", "G", "H", "I",
                                                    "K", "L", "M", "N", "O", "P", "Q", "R",
                                                    "S", "T", "U", "Y", "é", "è", "à", "ç"};
  std::uniform_int_distribution<int> len(1, 12), pick(0, static_cast<int>(kLetters.size()) - 1);
  std::string s;
  for (int n = len(rng); n > 0; --n) s += kLetters[static_cast<size_t>(pick(rng))];
  return s;
}

// A noisy copy: a few random edits, so pairs cover the whole similarity range.
std::string Mutate(std::string s, std::mt19937& rng) {
  std::u32string cps = ToCodePoints(s);
  std::uniform_int_distribution<int> edits(0, 3), op(0, 2);
  for (int n = edits(rng); n > 0 && cps.size() > 1; --n) {
    size_t at = std::uniform_int_distribution<size_t>(0, cps.size() - 2)(rng);
    switch (op(rng)) {
      case 0:
        std::swap(cps[at], cps[at + 1]);
        break;
      case 1:
        cps.erase(at, 1);
        break;
      default:
        cps[at] = U'E';
    }
  }
  std::string out;
  for (char32_t c : cps) {
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back(static_cast<char>(0xC0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
  return out;
}

TEST(SimilarityTest, AgreesWithIndependentImplementationsOnRandomStrings) {
  constexpr int kPairs = 3000;
  std::mt19937 rng(20260101);
  std::vector<std::pair<std::string, std::string>> pairs;
  std::string input;
  for (int i = 0; i < kPairs; ++i) {
    std::string a = RandomName(rng);
    std::string b = i % 2 ? Mutate(a, rng) : RandomName(rng);
    input += a + "\t" + b + "\n";
    pairs.emplace_back(std::move(a), std::move(b));
  }
  testing::TempDir dir;
  testing::WriteFile(dir.path() / "pairs.tsv", input);
  // -W ignore: jellyfish 0.8 on Python 3.11 warns about a deprecated C API.
  const std::string cmd = std::string("/usr/bin/python3 -W ignore ") + ALAMBIC_SOURCE_DIR +
                          "/tests/oracles/similarity.py < " + (dir.path() / "pairs.tsv").string() +
                          " > " + (dir.path() / "oracle.txt").string() + " 2> " +
                          (dir.path() / "oracle.err").string();
  ASSERT_EQ(std::system(cmd.c_str()), 0) << testing::ReadFile(dir.path() / "oracle.err");
  std::istringstream oracle(testing::ReadFile(dir.path() / "oracle.txt"));
  int checked = 0;
  for (const auto& [a, b] : pairs) {
    double jw = 0;
    int lev = 0, osa = 0;
    std::string sa, sb;
    ASSERT_TRUE(oracle >> jw >> lev >> osa >> sa >> sb) << "oracle output ends early";
    EXPECT_NEAR(JaroWinkler(a, b), jw, 1e-9) << a << " / " << b;
    EXPECT_EQ(LevenshteinDistance(a, b), lev) << a << " / " << b;
    EXPECT_EQ(DamerauDistance(a, b), osa) << a << " / " << b;
    EXPECT_EQ(SoundexFr(a), sa == "-" ? "" : sa) << a;
    EXPECT_EQ(SoundexFr(b), sb == "-" ? "" : sb) << b;
    ++checked;
  }
  EXPECT_EQ(checked, kPairs);
}

}  // namespace
}  // namespace alambic::similarity_test
