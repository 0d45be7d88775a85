// HMAC-SHA256 (core/base/hmac.h) against python3's hmac module: keys shorter
// than, equal to and longer than SHA-256's 64-byte block, binary and UTF-8
// bytes, empty and long messages, digests cut to odd and even lengths.
#include "core/base/hmac.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/test_util.h"

namespace alambic::hmac_test {
namespace {

struct Case {
  std::string key, message;
};

std::vector<Case> Cases() {
  const std::string binary("\x00\x01\xff\xfe\x80 \n\r\t", 9);
  return {
      {"k", ""},
      {"Jefe", "what do ya want for nothing?"},
      {std::string(64, 'a'), "exactly one block of key"},
      {std::string(65, 'b'), "a key one byte over the block is hashed first"},
      {std::string(200, '\xaa'), std::string(1000, '\xdd')},
      {binary, binary},
      {"cl\xc3\xa9 \xc5\x92\xc5\xa0\xc5\x81", "\xc3\x89lodie Dupr\xc3\xa9"},
      {"s3cr3t-pseudonymisation-key-0042", std::string(60000, 'x')},
  };
}

// python3's hmac.new(key, message, sha256).hexdigest() of each case, a line each.
std::vector<std::string> PythonDigests(const std::vector<Case>& cases) {
  std::vector<std::string> args;
  for (const auto& c : cases) {
    args.push_back(HexEncode(c.key));
    args.push_back(HexEncode(c.message));
  }
  const std::string out = testing::Python(R"(
import hashlib, hmac, sys
a = sys.argv[1:]
for i in range(0, len(a), 2):
    print(hmac.new(bytes.fromhex(a[i]), bytes.fromhex(a[i + 1]), hashlib.sha256).hexdigest())
)",
                                          args);
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t nl; (nl = out.find('\n', start)) != std::string::npos; start = nl + 1)
    lines.push_back(out.substr(start, nl - start));
  return lines;
}

TEST(HmacTest, MatchesPythonHmacModule) {
  const auto cases = Cases();
  const auto want = PythonDigests(cases);
  ASSERT_EQ(want.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(i);
    ASSERT_EQ(want[i].size(), 64u);
    EXPECT_EQ(HexEncode(HmacSha256(cases[i].key, cases[i].message)), want[i]);
    Hmac mac(cases[i].key);
    ASSERT_TRUE(mac.ok());
    // Twice with one key: each message starts afresh under the same key.
    for (int round = 0; round < 2; ++round) {
      std::string raw = "prefix:";
      ASSERT_TRUE(mac.Digest(cases[i].message, &raw));
      EXPECT_EQ(raw.substr(0, 7), "prefix:");
      EXPECT_EQ(HexEncode(raw.substr(7)), want[i]);
      for (size_t digits : {8u, 9u, 15u, 16u, 63u, 64u}) {
        std::string hex;
        ASSERT_TRUE(mac.Hex(cases[i].message, digits, &hex));
        EXPECT_EQ(hex, want[i].substr(0, digits)) << digits;
      }
    }
  }
}

TEST(HmacTest, HexEncodeIsLowerCaseTwoDigitsPerByte) {
  EXPECT_EQ(HexEncode(""), "");
  EXPECT_EQ(HexEncode(std::string("\x00\x0f\xf0\xff\x7f", 5)), "000ff0ff7f");
}

}  // namespace
}  // namespace alambic::hmac_test
