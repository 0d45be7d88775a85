// Secrets: resolution from alambic.yaml (env and file), per-environment
// overrides, private files only (mode, git), a warehouse key distinct from the
// datalab's, errors that name the secret but never its value, HMAC-SHA256
// against RFC 4231 and the key id.
#include "core/base/secrets.h"
#include "core/base/hmac.h"
#include "core/flow/loader.h"
#include "core/vcs/git_paths.h"

#include <git2.h>

#include <cstdlib>
#include <vector>

#include <gtest/gtest.h>

#include "tests/test_util.h"

namespace alambic::secrets_test {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;
using testing::WriteFile;

constexpr const char* kValue = "tr3s-s3cret-value";

// ResolveSecret() on the secrets of `root`/alambic.yaml, as the workspace
// loader reads them; relative files resolve against `secrets_root` (empty: `root`).
Result<std::string> Resolve(const fs::path& root, const std::string& ref, const std::string& env,
                            const TrackedByGit& tracked, const fs::path& secrets_root = {}) {
  const WorkspaceConfig cfg = LoadWorkspaceConfig(root).workspace.config;
  return ResolveSecret(cfg.secrets, ref, env, secrets_root.empty() ? root : secrets_root, tracked);
}

// ResolveEnvironmentKey() likewise, with alambic.yaml's default_environment.
Result<std::string> ResolveKey(const fs::path& root, const std::string& ref, const std::string& env,
                               const TrackedByGit& tracked) {
  const WorkspaceConfig cfg = LoadWorkspaceConfig(root).workspace.config;
  return ResolveEnvironmentKey(cfg.secrets, ref, env, cfg.default_environment, root, tracked);
}

// Writes a secret file readable by its owner only.
void WritePrivate(const fs::path& p, const std::string& content) {
  WriteFile(p, content);
  fs::permissions(p, fs::perms::owner_read | fs::perms::owner_write);
}

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
    WritePrivate(dir_.path() / "private/key.txt", std::string(kValue) + "\n");
    WritePrivate(dir_.path() / "private/empty.txt", "");
    setenv("ALAMBIC_SECRETS_TEST_VAR", kValue, 1);
    unsetenv("ALAMBIC_SECRETS_TEST_UNSET");
  }
  std::string Error(const std::string& ref) {
    auto r = Resolve(dir_.path(), ref, "", GitTracksPath);
    EXPECT_FALSE(r.ok()) << ref;
    if (r.ok()) return "";
    EXPECT_EQ(r.status().message().find(kValue), std::string::npos) << r.status().message();
    return r.status().message();
  }
  TempDir dir_;
};

TEST_F(SecretsTest, ResolvesFromEnvironmentAndFile) {
  auto env = Resolve(dir_.path(), "secret:from_env", "", GitTracksPath);
  ASSERT_TRUE(env.ok()) << env.status().message();
  EXPECT_EQ(*env, kValue);
  auto file = Resolve(dir_.path(), "secret:from_file", "", GitTracksPath);
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
            "alambic.yaml:8:8: secret 'bad' must be {env: VARIABLE} or {file: PATH}");
}

TEST_F(SecretsTest, WorkspaceWithoutSecretsSection) {
  TempDir ws;
  WriteFile(ws.path() / "alambic.yaml", "name: t\n");
  auto r = Resolve(ws.path(), "secret:k", "", GitTracksPath);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalid);
}

// Secrets resolve from a configuration built in memory: no alambic.yaml is
// read (the secrets root holds none).
TEST(SecretsConfigTest, ResolvesFromAConfigurationBuiltInMemory) {
  TempDir root;
  WritePrivate(root.path() / "keys/lab.key", "from-a-file\n");
  ASSERT_FALSE(fs::exists(root.path() / "alambic.yaml"));
  setenv("ALAMBIC_SECRETS_TEST_MEMORY", "lab-key-value", 1);
  setenv("ALAMBIC_SECRETS_TEST_MEMORY_WH", "warehouse-key-value", 1);
  SecretsConfig config;
  config.secrets["k"] = {.env_var = "ALAMBIC_SECRETS_TEST_MEMORY"};
  config.secrets["f"] = {.file = "keys/lab.key"};
  config.secrets["bad"] = {.error =
                               "alambic.yaml:4:8: secret 'bad' must be {env: VARIABLE} or "
                               "{file: PATH}"};
  config.environments["warehouse"]["k"] = {.env_var = "ALAMBIC_SECRETS_TEST_MEMORY_WH"};
  EXPECT_EQ(*ResolveSecret(config, "secret:k", "", root.path(), GitTracksPath), "lab-key-value");
  EXPECT_EQ(*ResolveSecret(config, "secret:k", "warehouse", root.path(), GitTracksPath),
            "warehouse-key-value");
  EXPECT_EQ(*ResolveSecret(config, "secret:f", "warehouse", root.path(), GitTracksPath),
            "from-a-file");
  EXPECT_EQ(ResolveSecret(config, "secret:bad", "", root.path(), GitTracksPath).status().message(),
            "alambic.yaml:4:8: secret 'bad' must be {env: VARIABLE} or {file: PATH}");
  EXPECT_EQ(ResolveSecret(config, "secret:nope", "", root.path(), GitTracksPath).status().code(),
            StatusCode::kInvalid);
  // The default environment is the caller's: "lab" here.
  setenv("ALAMBIC_SECRETS_TEST_MEMORY_WH", "lab-key-value", 1);
  EXPECT_EQ(
      ResolveEnvironmentKey(config, "secret:k", "warehouse", "lab", root.path(), GitTracksPath)
          .status()
          .message(),
      "secret k: the warehouse uses the lab's key; give the warehouse its own key "
      "(environments.warehouse.secrets.k)");
  EXPECT_EQ(*ResolveEnvironmentKey(config, "secret:k", "lab", "lab", root.path(), GitTracksPath),
            "lab-key-value");
  EXPECT_FALSE(fs::exists(root.path() / "alambic.yaml"));
  unsetenv("ALAMBIC_SECRETS_TEST_MEMORY");
  unsetenv("ALAMBIC_SECRETS_TEST_MEMORY_WH");
}

// The workspace loader reads every entry, a malformed one with its place in
// alambic.yaml: env or file not a non-empty string, two keys, another key.
TEST(SecretsConfigTest, TheLoaderKeepsEachEntryAndTheLineOfAMalformedOne) {
  TempDir ws;
  WriteFile(ws.path() / "alambic.yaml",
            "name: t\n"
            "secrets:\n"
            "  a: {env: A_VAR}\n"
            "  b: {file: /etc/b}\n"
            "  c: {env: ''}\n"
            "  d: {env: X, file: Y}\n"
            "  e: {file: [x]}\n"
            "  f: {url: x}\n"
            "  g: x\n"
            "environments:\n"
            "  datalab: {}\n"
            "  warehouse: {secrets: {a: {env: WH_VAR}}}\n");
  const LoadedWorkspace lw = LoadWorkspaceConfig(ws.path());
  ASSERT_TRUE(lw.ok()) << lw.diagnostics.at(0).ToString();
  const SecretsConfig& s = lw.workspace.config.secrets;
  EXPECT_EQ(s.secrets.at("a").env_var, "A_VAR");
  EXPECT_EQ(s.secrets.at("b").file, "/etc/b");
  EXPECT_EQ(s.secrets.at("c").error,
            "alambic.yaml:5:12: secret 'c': env must name an environment variable");
  EXPECT_EQ(s.secrets.at("d").error,
            "alambic.yaml:6:6: secret 'd' must be {env: VARIABLE} or {file: PATH}");
  EXPECT_EQ(s.secrets.at("e").error, "alambic.yaml:7:13: secret 'e': file must be a path");
  EXPECT_EQ(s.secrets.at("f").error,
            "alambic.yaml:8:6: secret 'f' must be {env: VARIABLE} or {file: PATH}");
  EXPECT_EQ(s.secrets.at("g").error,
            "alambic.yaml:9:6: secret 'g' must be {env: VARIABLE} or {file: PATH}");
  EXPECT_EQ(s.environments.at("warehouse").at("a").env_var, "WH_VAR");
  EXPECT_EQ(s.environments.count("datalab"), 0u);
}

// ---- Environments ---------------------------------------------------------------

class SecretEnvironmentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteFile(dir_.path() / "alambic.yaml",
              "name: t\n"
              "environments:\n"
              "  datalab: {}\n"
              "  warehouse:\n"
              "    secrets:\n"
              "      pseudo_key: {env: ALAMBIC_SECRETS_TEST_WAREHOUSE}\n"
              "      relative: {file: keys/warehouse.key}\n"
              "      broken: {url: x}\n"
              "  staging:\n"
              "secrets:\n"
              "  pseudo_key: {env: ALAMBIC_SECRETS_TEST_LAB}\n"
              "  relative: {file: keys/lab.key}\n"
              "  broken: {env: ALAMBIC_SECRETS_TEST_LAB}\n");
    setenv("ALAMBIC_SECRETS_TEST_LAB", "lab-key-value", 1);
    setenv("ALAMBIC_SECRETS_TEST_WAREHOUSE", "warehouse-key-value", 1);
  }
  void TearDown() override {
    unsetenv("ALAMBIC_SECRETS_TEST_LAB");
    unsetenv("ALAMBIC_SECRETS_TEST_WAREHOUSE");
  }
  TempDir dir_;
};

TEST_F(SecretEnvironmentTest, AnEnvironmentsEntryOverridesTheTopLevelOne) {
  EXPECT_EQ(*Resolve(dir_.path(), "secret:pseudo_key", "", GitTracksPath), "lab-key-value");
  EXPECT_EQ(*Resolve(dir_.path(), "secret:pseudo_key", "datalab", GitTracksPath), "lab-key-value");
  EXPECT_EQ(*Resolve(dir_.path(), "secret:pseudo_key", "warehouse", GitTracksPath),
            "warehouse-key-value");
  // An environment without secrets of its own, or not declared: the top-level entry.
  EXPECT_EQ(*Resolve(dir_.path(), "secret:pseudo_key", "staging", GitTracksPath), "lab-key-value");
  EXPECT_EQ(*Resolve(dir_.path(), "secret:pseudo_key", "nowhere", GitTracksPath), "lab-key-value");
  // A malformed override is reported as the environment's.
  EXPECT_EQ(Resolve(dir_.path(), "secret:broken", "warehouse", GitTracksPath).status().message(),
            "alambic.yaml:8:15: secret 'broken' (environment warehouse) must be {env: VARIABLE} or "
            "{file: PATH}");
  EXPECT_TRUE(Resolve(dir_.path(), "secret:broken", "datalab", GitTracksPath).ok());
}

TEST_F(SecretEnvironmentTest, RelativeFilesResolveAgainstTheSecretsRoot) {
  TempDir home;
  WritePrivate(dir_.path() / "keys/warehouse.key", "in-the-code-root\n");
  WritePrivate(home.path() / "keys/warehouse.key", "in-the-home\n");
  EXPECT_EQ(*Resolve(dir_.path(), "secret:relative", "warehouse", GitTracksPath),
            "in-the-code-root");
  EXPECT_EQ(*Resolve(dir_.path(), "secret:relative", "warehouse", GitTracksPath, home.path()),
            "in-the-home");
  EXPECT_EQ(
      Resolve(dir_.path(), "secret:relative", "", GitTracksPath, home.path()).status().message(),
      "secret 'relative': file " + (home.path() / "keys/lab.key").string() + " does not exist");
}

TEST_F(SecretEnvironmentTest, TheWarehouseMustNotUseTheDatalabsKey) {
  // Its own key: accepted.
  auto own = ResolveKey(dir_.path(), "secret:pseudo_key", "warehouse", GitTracksPath);
  ASSERT_TRUE(own.ok()) << own.status().message();
  EXPECT_EQ(*own, "warehouse-key-value");
  // The same value under another variable: refused, the value shown nowhere.
  setenv("ALAMBIC_SECRETS_TEST_WAREHOUSE", "lab-key-value", 1);
  auto same = ResolveKey(dir_.path(), "secret:pseudo_key", "warehouse", GitTracksPath);
  ASSERT_FALSE(same.ok());
  EXPECT_EQ(same.status().message(),
            "secret pseudo_key: the warehouse uses the datalab's key; give the warehouse its own "
            "key (environments.warehouse.secrets.pseudo_key)");
  // No override at all: the top-level entry is the datalab's, refused too.
  EXPECT_EQ(
      ResolveKey(dir_.path(), "secret:pseudo_key", "staging", GitTracksPath).status().message(),
      "secret pseudo_key: the staging uses the datalab's key; give the staging its own key "
      "(environments.staging.secrets.pseudo_key)");
  // The default environment itself, and "", are not compared.
  EXPECT_EQ(*ResolveKey(dir_.path(), "secret:pseudo_key", "datalab", GitTracksPath),
            "lab-key-value");
  EXPECT_EQ(*ResolveKey(dir_.path(), "secret:pseudo_key", "", GitTracksPath), "lab-key-value");
  // The datalab's key cannot be read here (a warehouse host): nothing to compare with.
  setenv("ALAMBIC_SECRETS_TEST_WAREHOUSE", "warehouse-key-value", 1);
  unsetenv("ALAMBIC_SECRETS_TEST_LAB");
  auto alone = ResolveKey(dir_.path(), "secret:pseudo_key", "warehouse", GitTracksPath);
  ASSERT_TRUE(alone.ok()) << alone.status().message();
  EXPECT_EQ(*alone, "warehouse-key-value");
}

TEST_F(SecretEnvironmentTest, TheDefaultEnvironmentIsTheOneAlambicYamlNames) {
  WriteFile(dir_.path() / "alambic.yaml",
            "name: t\ndefault_environment: lab\n"
            "environments: {lab: {}, prod: {secrets: {k: {env: ALAMBIC_SECRETS_TEST_WAREHOUSE}}}}\n"
            "secrets: {k: {env: ALAMBIC_SECRETS_TEST_LAB}}\n");
  setenv("ALAMBIC_SECRETS_TEST_WAREHOUSE", "lab-key-value", 1);
  EXPECT_EQ(ResolveKey(dir_.path(), "secret:k", "prod", GitTracksPath).status().message(),
            "secret k: the prod uses the lab's key; give the prod its own key "
            "(environments.prod.secrets.k)");
  EXPECT_TRUE(ResolveKey(dir_.path(), "secret:k", "lab", GitTracksPath).ok());
}

// ---- Private files ----------------------------------------------------------------

TEST_F(SecretsTest, AFileOthersOrTheGroupMayReadIsRefused) {
  const fs::path key = dir_.path() / "private/key.txt";
  for (auto [perms, mode] : {std::pair{fs::perms::owner_read | fs::perms::owner_write |
                                           fs::perms::group_read | fs::perms::others_read,
                                       "0644"},
                             std::pair{fs::perms::owner_read | fs::perms::group_read, "0440"},
                             std::pair{fs::perms::owner_all | fs::perms::others_exec, "0701"},
                             std::pair{fs::perms::owner_read | fs::perms::group_write, "0420"}}) {
    fs::permissions(key, perms);
    EXPECT_EQ(Error("secret:from_file"), "secret from_file: file " + key.string() +
                                             " is readable by group or others (mode " + mode +
                                             "); make it private (chmod 600)");
  }
  fs::permissions(key, fs::perms::owner_read);
  EXPECT_EQ(*Resolve(dir_.path(), "secret:from_file", "", GitTracksPath), kValue);
}

// A real repository: the workspace is a git work tree, the key file in its index.
TEST_F(SecretsTest, AFileTrackedByGitIsRefused) {
  git_libgit2_init();
  git_repository* repo = nullptr;
  ASSERT_EQ(git_repository_init(&repo, dir_.path().c_str(), 0), 0);
  const fs::path key = dir_.path() / "private/key.txt";
  // In the work tree but untracked: accepted.
  EXPECT_EQ(*Resolve(dir_.path(), "secret:from_file", "", GitTracksPath), kValue);
  git_index* index = nullptr;
  ASSERT_EQ(git_repository_index(&index, repo), 0);
  ASSERT_EQ(git_index_add_bypath(index, "private/key.txt"), 0);
  ASSERT_EQ(git_index_write(index), 0);
  EXPECT_EQ(Error("secret:from_file"), "secret from_file: file " + key.string() +
                                           " is tracked by git; keep secrets out of the "
                                           "repository");
  // Removed from the index (git rm --cached): accepted again.
  ASSERT_EQ(git_index_remove_bypath(index, "private/key.txt"), 0);
  ASSERT_EQ(git_index_write(index), 0);
  EXPECT_EQ(*Resolve(dir_.path(), "secret:from_file", "", GitTracksPath), kValue);
  git_index_free(index);
  git_repository_free(repo);
  git_libgit2_shutdown();
}

// core/base does not call git: the caller tells it which files git tracks.
// The check is asked about the secret file itself; a file it says is tracked
// is refused, as is every file when no check is given; variables need none.
TEST_F(SecretsTest, TheCallerTellsWhetherGitTracksASecretFile) {
  std::vector<fs::path> asked;
  const TrackedByGit says_tracked = [&](const fs::path& p) -> Result<bool> {
    asked.push_back(p);
    return true;
  };
  auto r = Resolve(dir_.path(), "secret:from_file", "", says_tracked);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "secret from_file: file " +
                                      (dir_.path() / "private/key.txt").string() +
                                      " is tracked by git; keep secrets out of the repository");
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_EQ(asked[0], dir_.path() / "private/key.txt");
  const TrackedByGit fails = [](const fs::path&) -> Result<bool> {
    return Status::Failed("index unreadable");
  };
  EXPECT_EQ(Resolve(dir_.path(), "secret:from_file", "", fails).status().message(),
            "secret from_file: cannot tell whether git tracks file " +
                (dir_.path() / "private/key.txt").string() + ": index unreadable");
  EXPECT_FALSE(Resolve(dir_.path(), "secret:from_file", "", TrackedByGit()).ok());
  EXPECT_EQ(*Resolve(dir_.path(), "secret:from_env", "", TrackedByGit()), kValue);
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
}  // namespace alambic::secrets_test
