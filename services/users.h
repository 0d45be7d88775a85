// Users, roles, sessions and API tokens of the web server (`alambic serve`),
// stored in the workspace's catalog (tables web_users, web_sessions,
// web_tokens; catalog schema 8).
//
// Passwords are hashed with Argon2id (libsodium crypto_pwhash_str, the
// "interactive" limits); session ids and token secrets are random (32 bytes)
// and only their HMAC-SHA256 under the install secret is stored, so a copy of
// the catalog opens no session. Changing a password or removing a user
// revokes their sessions (and, on removal, their tokens).
//
// The install secret comes from $ALAMBIC_SECRET, else from the file
// <root>/.alambic/web_secret, which must be a regular file owned by this user
// and readable by no one else (mode 0600 or stricter); InitInstallSecret()
// creates one.
//
// Thread-safety: a UserStore may be shared by threads (one connection behind a
// mutex).
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/status.h"

namespace SQLite {
class Database;
}

namespace alambic {

// Ordered: each role may do what the ones before it may.
enum class Role { kViewer = 1, kEngineer = 2, kAdmin = 3 };

const char* RoleName(Role r);
std::optional<Role> ParseRole(std::string_view name);

// At least 32 bytes of secret material (hex or text).
inline constexpr size_t kMinSecretLength = 32;
// The environment variable and the file (relative to the workspace root).
inline constexpr const char* kSecretEnv = "ALAMBIC_SECRET";
inline constexpr const char* kSecretFile = ".alambic/web_secret";

// The install secret: $ALAMBIC_SECRET, else <root>/.alambic/web_secret.
// Fails with a message saying what to do when it is missing, too short, or
// the file is not private (not a regular file, another owner, readable or
// writable by group or others).
Result<std::string> LoadInstallSecret(const std::filesystem::path& root);
// Creates <root>/.alambic/web_secret (0600, 32 random bytes, hex) unless it
// exists; returns its path. Fails when it exists and is unsafe.
Result<std::filesystem::path> InitInstallSecret(const std::filesystem::path& root);

struct WebUser {
  std::string name;
  Role role = Role::kViewer;
  std::string created_at, password_changed_at;
};

struct WebSession {
  std::string user;
  Role role = Role::kViewer;
  std::string csrf, created_at, expires_at;
};

struct ApiToken {
  std::string id, name, user;
  Role role = Role::kViewer;
  std::vector<std::string> usecases;  // empty: every use case
  std::string created_at, last_used_at, revoked_at;
};

struct NewToken {
  ApiToken token;
  std::string secret;  // shown once; only its keyed hash is stored
};

// A user name: 1..64 characters of [A-Za-z0-9._@-].
bool ValidUserName(std::string_view name);

class UserStore {
 public:
  // Opens (migrating) the catalog at `catalog_path`; `secret` keys the stored
  // hashes of session ids and token secrets.
  static Result<std::unique_ptr<UserStore>> Open(const std::filesystem::path& catalog_path,
                                                 std::string secret);
  ~UserStore();
  UserStore(const UserStore&) = delete;
  UserStore& operator=(const UserStore&) = delete;

  // Invalid for a bad name or an empty password; Invalid when the user exists.
  Status AddUser(const std::string& name, Role role, const std::string& password);
  // NotFound when the user does not exist. Revokes the user's sessions.
  Status SetPassword(const std::string& name, const std::string& password);
  // NotFound when the user does not exist. Revokes the user's sessions.
  Status SetRole(const std::string& name, Role role);
  // NotFound when the user does not exist. Revokes sessions and tokens.
  Status RemoveUser(const std::string& name);
  Result<std::vector<WebUser>> ListUsers();
  Result<std::optional<WebUser>> FindUser(const std::string& name);
  // The user when `password` is theirs; nullopt for a wrong password or an
  // unknown user (which costs the same time).
  Result<std::optional<WebUser>> Authenticate(const std::string& name, const std::string& password);

  // A new session of `user` from `address`, valid for `ttl`: the session id
  // (for the cookie) and the session.
  Result<std::pair<std::string, WebSession>> CreateSession(const std::string& user,
                                                           const std::string& address,
                                                           std::chrono::seconds ttl);
  // The live session with this id (nullopt when unknown, expired or revoked);
  // the role is the user's current one.
  Result<std::optional<WebSession>> FindSession(const std::string& id);
  Status RevokeSession(const std::string& id);
  Status RevokeSessionsOf(const std::string& user);

  // A token of `user` with `role` limited to `usecases` (empty: all).
  Result<NewToken> AddToken(const std::string& user, const std::string& name, Role role,
                            const std::vector<std::string>& usecases);
  // Tokens of `user` ("": everyone's), newest first.
  Result<std::vector<ApiToken>> ListTokens(const std::string& user);
  // Revokes token `id` (of `user`; "": anyone's). NotFound when there is none.
  Status RevokeToken(const std::string& id, const std::string& user);
  // The live token whose secret this is, its last use stamped now; nullopt
  // when unknown or revoked, or when its user is gone.
  Result<std::optional<ApiToken>> UseToken(const std::string& secret);

 private:
  UserStore(std::unique_ptr<SQLite::Database> db, std::string secret);
  std::string Keyed(std::string_view purpose, std::string_view value) const;
  std::mutex mu_;
  std::unique_ptr<SQLite::Database> db_;  // guarded by mu_
  std::string secret_;
};

}  // namespace alambic
