// UTF-8 text primitives shared by the text-handling kinds (clean, fuzzy_join):
// decoding, simple case mapping and accent stripping for the Latin scripts
// French data uses. Pure functions, safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace alambic {

// Decodes one code point at s[pos]; false (and len 1) on an invalid sequence.
bool DecodeUtf8(std::string_view s, size_t pos, uint32_t* cp, size_t* len);
// Appends the UTF-8 encoding of `cp` to `out`.
void AppendUtf8(uint32_t cp, std::string* out);

// Calls fn(code point, bytes) for each code point; invalid bytes come as
// (kInvalidCodePoint, the byte) so they can be copied unchanged.
constexpr uint32_t kInvalidCodePoint = 0xFFFFFFFF;
template <typename Fn>
void ForEachCodePoint(std::string_view s, Fn fn) {
  for (size_t pos = 0; pos < s.size();) {
    uint32_t cp = 0;
    size_t len = 1;
    if (!DecodeUtf8(s, pos, &cp, &len)) cp = kInvalidCodePoint;
    fn(cp, s.substr(pos, len));
    pos += len;
  }
}

// ASCII whitespace, no-break space U+00A0, thin space U+2009 and narrow
// no-break space U+202F (French typography puts them before ; : ! ?).
bool IsSpace(uint32_t cp);

// Simple case mapping for ASCII, Latin-1 Supplement and Latin Extended-A;
// other code points are returned unchanged.
uint32_t ToUpper(uint32_t c);
uint32_t ToLower(uint32_t c);

// Combining diacritical marks U+0300..U+036F (the accents of decomposed text).
bool IsCombiningMark(uint32_t cp);

// Appends `in` to `out` with the letters of U+00C0..U+017F replaced by their
// ASCII base ("é" -> "e", "Œ" -> "OE", "ß" -> "ss") and combining marks
// dropped; everything else (including invalid bytes) is copied unchanged.
void StripAccents(std::string_view in, std::string* out);

}  // namespace alambic
