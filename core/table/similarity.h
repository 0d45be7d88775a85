// String and date similarity for identity matching (the `fuzzy_join` kind):
// name normalisation, edit distances and Jaro-Winkler normalised to [0, 1], a
// French phonetic code, and a date comparison tolerant of the defects of
// civil-status records (unknown day or month, day and month swapped).
//
// Distances count Unicode code points, not bytes: "é" vs "e" is one edit.
// Every function is pure and safe to call from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace alambic {

// Code points of a UTF-8 string (an invalid byte becomes U+FFFD).
std::u32string ToCodePoints(std::string_view utf8);

// The comparable form of a name: upper case, accents stripped ("é" -> "E",
// "Œ" -> "OE"), hyphens, apostrophes, dots, commas and underscores turned into
// spaces, runs of whitespace collapsed to one space, trimmed.
// "  Jean-François d'Arcy " -> "JEAN FRANCOIS D ARCY".
std::string NormaliseName(std::string_view name);

// Key normalisations of the `join` kind's `normalize` (flags combine):
// trim (leading and trailing IsSpace), lower (text.h ToLower), strip_accents
// (text.h StripAccents: "Œ" -> "OE", "Ł" -> "L"), and name: NormaliseName,
// the normalisation fuzzy_join compares names on (it implies the others, in
// upper case). Invalid bytes are kept.
enum KeyNormalisation : unsigned {
  kKeyTrim = 1,
  kKeyLower = 2,
  kKeyStripAccents = 4,
  kKeyName = 8,
};
std::string NormaliseKey(std::string_view in, unsigned how);

// The same words in alphabetical order ("PIERRE JEAN" -> "JEAN PIERRE"), for
// comparisons where the order of given names does not matter.
std::string SortWords(std::string_view normalised);

// Jaro similarity in [0, 1]; 1 for two empty strings, 0 when only one is empty.
double Jaro(std::u32string_view a, std::u32string_view b);
// Jaro-Winkler: Jaro plus a bonus of 0.1 * (1 - Jaro) per leading character in
// common (at most 4), applied only when Jaro > 0.7 (Winkler's boost threshold,
// as in jellyfish and the reference C implementation).
double JaroWinkler(std::u32string_view a, std::u32string_view b);

// Levenshtein distance (insertions, deletions, substitutions).
int LevenshteinDistance(std::u32string_view a, std::u32string_view b);
// Damerau-Levenshtein distance in its optimal string alignment (OSA) form:
// Levenshtein plus transposition of two adjacent characters, no substring
// edited twice ("CA" -> "ABC" is 3, where unrestricted Damerau gives 2).
int DamerauDistance(std::u32string_view a, std::u32string_view b);
// 1 - distance / max(length); 1 for two empty strings.
double LevenshteinSimilarity(std::u32string_view a, std::u32string_view b);
double DamerauSimilarity(std::u32string_view a, std::u32string_view b);

// UTF-8 conveniences for the above (no normalisation applied).
double JaroWinkler(std::string_view a, std::string_view b);
int LevenshteinDistance(std::string_view a, std::string_view b);
int DamerauDistance(std::string_view a, std::string_view b);

// French phonetic code: Soundex2 ("SOUNDEX FR"), the French adaptation of
// Soundex by Frédéric Brouard, as published with its PHP reference
// implementation. Accents are stripped and non-letters dropped first, then:
// primary sounds rewritten (GUI->KI, GUE->KE, GA->KA, GO->KO, GU->K, CA->KA,
// CO->KO, CU->KU, Q->K, CC->K, CK->K); vowels E I O U after the first letter
// become A; KN->NN, PH/PF->FF, MAC->MCC, SCH->SSS, ASA->AZA; H dropped unless
// after C or S; Y dropped unless after A; one final A, T, D or S dropped; every
// A after the first letter dropped; doubled letters reduced; first 4 letters
// kept. Returns "" for a name with no letter; unlike the reference, the code
// is not padded with spaces. "MARTIN" -> "MRTN", "MARTAIN" -> "MRTN".
std::string SoundexFr(std::string_view name);

// A birth date as recorded, with 0 for an unknown month or day (INSEE death
// records write "19520300" or "19520000").
struct PartialDate {
  int year = 0, month = 0, day = 0;
  bool empty() const { return year == 0; }
  bool complete() const { return year != 0 && month != 0 && day != 0; }
};

// Reads "YYYY-MM-DD", "YYYYMMDD" or "DD/MM/YYYY" (00 allowed for the day and
// month; a day with an unknown month, 13/00/1957, keeps its day); false for
// anything else, including an impossible date (31/02).
bool ParsePartialDate(std::string_view text, PartialDate* out);
PartialDate PartialDateFromDays(int32_t days_since_epoch);

// Similarity of two birth dates, with `max_days` the tolerance in days:
//   1.0   same complete date (only complete dates score 1)
//   0.9   both complete, at most max_days apart (max_days > 0)
//   0.9   same year, day and month swapped (03/04 vs 04/03)
//   0.85  same year and month, the day unknown on one or both sides (00/03/1957)
//   0.8   same year and month, a day is 01 on one side (a common placeholder)
//   0.8   same year, the month unknown on one or both sides (00/00/1957,
//         13/00/1957: a day without its month is ignored)
//   0.7   same year, one side is 01/01 (placeholder for an unknown date)
//   0.5   same month and day, years one digit apart (1952 vs 1953, 1925 vs 1952
//         is not) — a typing error
//   0.0   otherwise, or either date empty.
double DateSimilarity(const PartialDate& a, const PartialDate& b, int max_days);

}  // namespace alambic
