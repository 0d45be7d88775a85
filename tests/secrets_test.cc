// Secrets: resolution from alambic.yaml (env and file), errors that name the
// secret but never its value, HMAC-SHA256 against RFC 4231 and the key id.
#include "core/base/secrets.h"

#include <cstdlib>

#include <gtest/gtest.h>

#include "tests/test_util.h"

namespace alambic {
namespace {

using testing::TempDir;
using testing::WriteFile;

constexpr const char* kValue = "tr3s-s3cret-value";

class SecretsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteFile(dir_.path() / "alambic.yaml",
              "name: t\nsecrets:\n"
              "  from_env: {env: ALAMBIC_SECRETS_TEST_VAR}\n"
              "  from_file: {file: private/key.txt}\n"
              "  unset: {env: ALAMBIC_SECRETS_TEST_UNSET}\n"
              "  missing_file: {file: /nonexistent/alambic/key}\n"
              "  empty: {file: private/empty.txt}\n"
              "  bad: {url: x}\n");
    WriteFile(dir_.path() / "private/key.txt", std::string(kValue) + "\n");
    WriteFile(dir_.path() / "private/empty.txt", "");
    setenv("ALAMBIC_SECRETS_TEST_VAR", kValue, 1);
    unsetenv("ALAMBIC_SECRETS_TEST_UNSET");
  }
  std::string Error(const std::string& ref) {
    auto r = ResolveSecret(dir_.path(), ref);
    EXPECT_FALSE(r.ok()) << ref;
    if (r.ok()) return "";
    EXPECT_EQ(r.status().message().find(kValue), std::string::npos) << r.status().message();
    return r.status().message();
  }
  TempDir dir_;
};

TEST_F(SecretsTest, ResolvesFromEnvironmentAndFile) {
  auto env = ResolveSecret(dir_.path(), "secret:from_env");
  ASSERT_TRUE(env.ok()) << env.status().message();
  EXPECT_EQ(*env, kValue);
  auto file = ResolveSecret(dir_.path(), "secret:from_file");
  ASSERT_TRUE(file.ok()) << file.status().message();
  EXPECT_EQ(*file, kValue);  // the trailing newline is dropped
}

TEST_F(SecretsTest, ErrorsNameTheSecretNotItsValue) {
  EXPECT_EQ(Error("from_env"),
            "a secret must be given as a reference \"secret:NAME\" declared in alambic.yaml");
  EXPECT_EQ(Error("secret:nope"),
            "secret 'nope' is not declared in alambic.yaml (add secrets: {nope: {env: VARIABLE}} "
            "or {nope: {file: /path/outside/git}})");
  EXPECT_EQ(Error("secret:unset"),
            "secret 'unset': environment variable ALAMBIC_SECRETS_TEST_UNSET is not set");
  EXPECT_EQ(Error("secret:missing_file"),
            "secret 'missing_file': file /nonexistent/alambic/key does not exist");
  EXPECT_EQ(Error("secret:empty"), "secret 'empty' is empty");
  EXPECT_EQ(Error("secret:bad"),
            "alambic.yaml: secret 'bad' must be {env: VARIABLE} or {file: PATH}");
  TempDir no_config;
  EXPECT_EQ(ResolveSecret(no_config.path(), "secret:x").status().code(), StatusCode::kNotFound);
}

TEST_F(SecretsTest, WorkspaceWithoutSecretsSection) {
  TempDir ws;
  WriteFile(ws.path() / "alambic.yaml", "name: t\n");
  auto r = ResolveSecret(ws.path(), "secret:k");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalid);
}

TEST(SecretsHmacTest, MatchesRfc4231TestCase2) {
  EXPECT_EQ(HexEncode(HmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(SecretsHmacTest, KeyIdIsAShortFingerprintThatChangesWithTheKey) {
  EXPECT_EQ(KeyId("k1").size(), 16u);
  EXPECT_EQ(KeyId("k1"), HexEncode(HmacSha256("k1", "alambic-key-id")).substr(0, 16));
  EXPECT_NE(KeyId("k1"), KeyId("k2"));
  EXPECT_EQ(KeyId("k1"), KeyId("k1"));
  EXPECT_TRUE(IsSecretRef("secret:k"));
  EXPECT_FALSE(IsSecretRef("secret:"));
  EXPECT_FALSE(IsSecretRef("k"));
}

}  // namespace
}  // namespace alambic
