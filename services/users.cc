#include "services/users.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <SQLiteCpp/SQLiteCpp.h>
#include <fmt/format.h>
#include <sodium.h>
#include <nlohmann/json.hpp>

#include "catalog/catalog.h"
#include "core/base/hmac.h"

namespace alambic {

namespace fs = std::filesystem;

namespace {

constexpr size_t kRandomBytes = 32;
constexpr int kUsersBusyTimeoutMs = 5000;

std::string RandomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  randombytes_buf(raw.data(), raw.size());
  std::string hex(bytes * 2 + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), reinterpret_cast<const unsigned char*>(raw.data()),
                 raw.size());
  hex.pop_back();
  return hex;
}

bool SodiumReady() {
  static const bool ok = sodium_init() >= 0;
  return ok;
}

Result<std::string> HashPassword(const std::string& password) {
  if (!SodiumReady()) return Status::Failed("libsodium could not be initialised");
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(),
                            crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE,
                            crypto_pwhash_ALG_ARGON2ID13) != 0)
    return Status::Failed("could not hash the password (out of memory)");
  return std::string(out);
}

// A hash no password matches, verified for unknown users so that they cost
// the same time as a wrong password.
const std::string& DummyHash() {
  static const std::string h = [] {
    auto r = HashPassword(RandomHex(kRandomBytes));
    return r.ok() ? *r : std::string();
  }();
  return h;
}

bool VerifyPassword(const std::string& hash, const std::string& password) {
  if (hash.empty()) return false;
  return crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
}

std::string UsecasesText(const std::vector<std::string>& u) {
  return u.empty() ? "" : nlohmann::json(u).dump();
}

std::vector<std::string> UsecasesFrom(const std::string& text) {
  if (text.empty()) return {};
  auto j = nlohmann::json::parse(text, nullptr, false);
  std::vector<std::string> out;
  if (j.is_array())
    for (const auto& v : j)
      if (v.is_string()) out.push_back(v.get<std::string>());
  return out;
}

Role RoleOf(const std::string& name) { return ParseRole(name).value_or(Role::kViewer); }

ApiToken TokenFrom(SQLite::Statement& q) {
  ApiToken t;
  t.id = q.getColumn(0).getString();
  t.name = q.getColumn(1).getString();
  t.user = q.getColumn(2).getString();
  t.role = RoleOf(q.getColumn(3).getString());
  t.usecases = UsecasesFrom(q.getColumn(4).getString());
  t.created_at = q.getColumn(5).getString();
  t.last_used_at = q.getColumn(6).getString();
  t.revoked_at = q.getColumn(7).getString();
  return t;
}

constexpr const char* kTokenColumns =
    "id, name, user, role, usecases, created_at, last_used_at, revoked_at";

Status CheckPassword(const std::string& password) {
  if (password.empty()) return Status::Invalid("the password is empty");
  if (password.size() > 1024) return Status::Invalid("the password is longer than 1024 bytes");
  return Status::Ok();
}

// Whether the secret file at `p` is private to this user; the problem otherwise.
Status CheckSecretFile(const fs::path& p) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0)
    return Status::NotFound(
        fmt::format("no install secret: set {} or create {} (`alambic secret init` makes one)",
                    kSecretEnv, p.string()));
  if (!S_ISREG(st.st_mode))
    return Status::Invalid(fmt::format("install secret {} is not a regular file", p.string()));
  if (st.st_uid != ::geteuid())
    return Status::Invalid(
        fmt::format("install secret {} belongs to another user (uid {})", p.string(), st.st_uid));
  if (st.st_mode & (S_IRWXG | S_IRWXO))
    return Status::Invalid(
        fmt::format("install secret {} can be read or written by others (mode {:o}): chmod 600 it",
                    p.string(), st.st_mode & 07777));
  return Status::Ok();
}

}  // namespace

const char* RoleName(Role r) {
  switch (r) {
    case Role::kViewer:
      return "viewer";
    case Role::kEngineer:
      return "engineer";
    case Role::kAdmin:
      return "admin";
  }
  return "viewer";
}

std::optional<Role> ParseRole(std::string_view name) {
  if (name == "viewer") return Role::kViewer;
  if (name == "engineer") return Role::kEngineer;
  if (name == "admin") return Role::kAdmin;
  return std::nullopt;
}

bool ValidUserName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '@' || c == '-';
    if (!ok) return false;
  }
  return true;
}

Result<std::string> LoadInstallSecret(const fs::path& root) {
  if (const char* env = std::getenv(kSecretEnv); env && *env) {
    std::string s(env);
    if (s.size() < kMinSecretLength)
      return Status::Invalid(
          fmt::format("{} is shorter than {} characters", kSecretEnv, kMinSecretLength));
    return s;
  }
  const fs::path p = root / kSecretFile;
  ALAMBIC_RETURN_IF_ERROR(CheckSecretFile(p));
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  if (s.size() < kMinSecretLength)
    return Status::Invalid(fmt::format("install secret {} is shorter than {} characters",
                                       p.string(), kMinSecretLength));
  return s;
}

Result<fs::path> InitInstallSecret(const fs::path& root) {
  if (!SodiumReady()) return Status::Failed("libsodium could not be initialised");
  const fs::path p = root / kSecretFile;
  std::error_code ec;
  if (fs::symlink_status(p, ec).type() != fs::file_type::not_found) {
    ALAMBIC_RETURN_IF_ERROR(CheckSecretFile(p));
    return p;
  }
  fs::create_directories(p.parent_path(), ec);
  const std::string tmp = p.string() + ".tmp";
  ::unlink(tmp.c_str());
  const mode_t old = ::umask(077);
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << RandomHex(kRandomBytes) << "\n";
    out.close();
    if (!out) {
      ::umask(old);
      return Status::Failed(fmt::format("cannot write {}", tmp));
    }
  }
  ::umask(old);
  ::chmod(tmp.c_str(), 0600);
  if (::rename(tmp.c_str(), p.c_str()) != 0)
    return Status::Failed(fmt::format("cannot create {}", p.string()));
  return p;
}

UserStore::UserStore(std::unique_ptr<SQLite::Database> db, std::string secret)
    : db_(std::move(db)), secret_(std::move(secret)) {}
UserStore::~UserStore() = default;

Result<std::unique_ptr<UserStore>> UserStore::Open(const fs::path& catalog_path,
                                                   std::string secret) {
  if (!SodiumReady()) return Status::Failed("libsodium could not be initialised");
  if (secret.size() < kMinSecretLength) return Status::Invalid("the install secret is too short");
  { ALAMBIC_ASSIGN_OR_RETURN(auto migrated, Catalog::Open(catalog_path)); }
  try {
    auto db = std::make_unique<SQLite::Database>(catalog_path.string(),
                                                 SQLite::OPEN_READWRITE | SQLite::OPEN_FULLMUTEX);
    db->setBusyTimeout(kUsersBusyTimeoutMs);
    return std::unique_ptr<UserStore>(new UserStore(std::move(db), std::move(secret)));
  } catch (const std::exception& e) {
    return Status::Failed(
        fmt::format("cannot open the catalog {}: {}", catalog_path.string(), e.what()));
  }
}

std::string UserStore::Keyed(std::string_view purpose, std::string_view value) const {
  Hmac mac(secret_);
  std::string out;
  std::string msg(purpose);
  msg += ':';
  msg += value;
  mac.Hex(msg, 64, &out);
  return out;
}

Status UserStore::AddUser(const std::string& name, Role role, const std::string& password) {
  if (!ValidUserName(name))
    return Status::Invalid(
        fmt::format("invalid user name '{}': 1 to 64 of A-Z a-z 0-9 . _ @ -", name));
  ALAMBIC_RETURN_IF_ERROR(CheckPassword(password));
  ALAMBIC_ASSIGN_OR_RETURN(std::string hash, HashPassword(password));
  std::lock_guard<std::mutex> lock(mu_);
  try {
    SQLite::Statement exists(*db_, "SELECT 1 FROM web_users WHERE name = ?");
    exists.bind(1, name);
    if (exists.executeStep()) return Status::Invalid(fmt::format("user '{}' exists", name));
    SQLite::Statement q(*db_,
                        "INSERT INTO web_users(name, role, password_hash, created_at, "
                        "password_changed_at) VALUES (?, ?, ?, ?, ?)");
    const std::string now = NowIso();
    q.bind(1, name);
    q.bind(2, RoleName(role));
    q.bind(3, hash);
    q.bind(4, now);
    q.bind(5, now);
    q.exec();
    return Status::Ok();
  } catch (const std::exception& e) {
    return Status::Failed(fmt::format("cannot add user '{}': {}", name, e.what()));
  }
}

namespace {

// Runs `sql` (its ?s bound to `values`, in order) on user `name` and ends the
// user's sessions (and revokes its tokens when `revoke_tokens`) in one
// transaction: a change of credentials or rights never leaves a session open
// with the old ones. NotFound when `sql` changes no row; `what` names the
// change in errors. The caller holds the store's lock.
Status ChangeUserEndingSessions(SQLite::Database& db, const std::string& name,
                                const std::string& sql, const std::vector<std::string>& values,
                                const std::string& what, bool revoke_tokens) {
  try {
    SQLite::Transaction tx(db);
    SQLite::Statement q(db, sql);
    for (size_t i = 0; i < values.size(); ++i) q.bind(static_cast<int>(i + 1), values[i]);
    if (q.exec() == 0) return Status::NotFound(fmt::format("no user '{}'", name));
    SQLite::Statement d(db, "DELETE FROM web_sessions WHERE user = ?");
    d.bind(1, name);
    d.exec();
    if (revoke_tokens) {
      SQLite::Statement t(
          db, "UPDATE web_tokens SET revoked_at = ? WHERE user = ? AND revoked_at = ''");
      t.bind(1, NowIso());
      t.bind(2, name);
      t.exec();
    }
    tx.commit();
    return Status::Ok();
  } catch (const std::exception& e) {
    return Status::Failed(fmt::format("cannot {} '{}': {}", what, name, e.what()));
  }
}

}  // namespace

Status UserStore::SetPassword(const std::string& name, const std::string& password) {
  ALAMBIC_RETURN_IF_ERROR(CheckPassword(password));
  ALAMBIC_ASSIGN_OR_RETURN(std::string hash, HashPassword(password));
  std::lock_guard<std::mutex> lock(mu_);
  return ChangeUserEndingSessions(
      *db_, name, "UPDATE web_users SET password_hash = ?, password_changed_at = ? WHERE name = ?",
      {hash, NowIso(), name}, "change the password of", false);
}

Status UserStore::SetRole(const std::string& name, Role role) {
  std::lock_guard<std::mutex> lock(mu_);
  return ChangeUserEndingSessions(*db_, name, "UPDATE web_users SET role = ? WHERE name = ?",
                                  {std::string(RoleName(role)), name}, "change the role of", false);
}

Status UserStore::RemoveUser(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  return ChangeUserEndingSessions(*db_, name, "DELETE FROM web_users WHERE name = ?", {name},
                                  "remove user", true);
}

Result<std::vector<WebUser>> UserStore::ListUsers() {
  std::lock_guard<std::mutex> lock(mu_);
  try {
    std::vector<WebUser> out;
    SQLite::Statement q(*db_,
                        "SELECT name, role, created_at, password_changed_at FROM web_users "
                        "ORDER BY name");
    while (q.executeStep())
      out.push_back({q.getColumn(0).getString(), RoleOf(q.getColumn(1).getString()),
                     q.getColumn(2).getString(), q.getColumn(3).getString()});
    return out;
  } catch (const std::exception& e) {
    return Status::Failed(fmt::format("cannot list users: {}", e.what()));
  }
}

Result<std::optional<WebUser>> UserStore::FindUser(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  try {
    SQLite::Statement q(*db_,
                        "SELECT name, role, created_at, password_changed_at FROM web_users "
                        "WHERE name = ?");
    q.bind(1, name);
    if (!q.executeStep()) return std::optional<WebUser>();
    return std::optional<WebUser>(WebUser{q.getColumn(0).getString(),
                                          RoleOf(q.getColumn(1).getString()),
                                          q.getColumn(2).getString(), q.getColumn(3).getString()});
  } catch (const std::exception& e) {
    return Status::Failed(fmt::format("cannot read user '{}': {}", name, e.what()));
  }
}

Result<std::optional<WebUser>> UserStore::Authenticate(const std::string& name,
                                                       const std::string& password) {
  std::string hash;
  WebUser user;
  {
    std::lock_guard<std::mutex> lock(mu_);
    try {
      SQLite::Statement q(*db_,
                          "SELECT name, role, created_at, password_changed_at, password_hash "
                          "FROM web_users WHERE name = ?");
      q.bind(1, name);
      if (q.executeStep()) {
        user = {q.getColumn(0).getString(), RoleOf(q.getColumn(1).getString()),
                q.getColumn(2).getString(), q.getColumn(3).getString()};
        hash = q.getColumn(4).getString();
      }
    } catch (const std::exception& e) {
      return Status::Failed(fmt::format("cannot read user '{}': {}", name, e.what()));
    }
  }
  if (hash.empty()) {
    (void)VerifyPassword(DummyHash(), password);
    return std::optional<WebUser>();
  }
  if (!VerifyPassword(hash, password)) return std::optional<WebUser>();
  return std::optional<WebUser>(user);
}

Result<std::pair<std::string, WebSession>> UserStore::CreateSession(const std::string& user,
                                                                    const std::string& address,
                                                                    std::chrono::seconds ttl) {
  const std::string id = RandomHex(kRandomBytes);
  WebSession s;
  s.user = user;
  s.csrf = RandomHex(kRandomBytes);
  const auto now = std::chrono::system_clock::now();
  s.created_at = IsoTime(now);
  s.expires_at = IsoTime(now + ttl);
  std::lock_guard<std::mutex> lock(mu_);
  try {
    SQLite::Statement r(*db_, "SELECT role FROM web_users WHERE name = ?");
    r.bind(1, user);
    if (!r.executeStep()) return Status::NotFound(fmt::format("no user '{}'", user));
    s.role = RoleOf(r.getColumn(0).getString());
    SQLite::Statement q(*db_,
                        "INSERT INTO web_sessions(id_hash, user, csrf, created_at, expires_at, "
                        "address) VALUES (?, ?, ?, ?, ?, ?)");
    q.bind(1, Keyed("session", id));
    q.bind(2, user);
    q.bind(3, s.csrf);
    q.bind(4, s.created_at);
    q.bind(5, s.expires_at);
    q.bind(6, address);
    q.exec();
    // Expired sessions go away as new ones come.
    SQLite::Statement d(*db_, "DELETE FROM web_sessions WHERE expires_at < ?");
    d.bind(1, s.created_at);
    d.exec();
    return std::make_pair(id, s);
  } catch (const std::exception& e) {
    return Status::Failed(fmt::format("cannot open a session: {}", e.what()));
  }
}

Result<std::optional<WebSession>> UserStore::FindSession(const std::string& id) {
  if (id.empty()) return std::optional<WebSession>();
  std::lock_guard<std::mutex> lock(mu_);
  try {
    SQLite::Statement q(*db_,
                        "SELECT s.user, u.role, s.csrf, s.created_at, s.expires_at "
                        "FROM web_sessions s JOIN web_users u ON u.name = s.user "
                        "WHERE s.id_hash = ? AND s.expires_at > ?");
    q.bind(1, Keyed("session", id));
    q.bind(2, NowIso());
    if (!q.executeStep()) return std::optional<WebSession>();
    WebSession s;
    s.user = q.getColumn(0).getString();
    s.role = RoleOf(q.getColumn(1).getString());
    s.csrf = q.getColumn(2).getString();
    s.created_at = q.getColumn(3).getString();
    s.expires_at = q.getColumn(4).getString();
    return std::optional<WebSession>(s);
  } catch (const std::exception& e) {
    return Status::Failed(fmt::format("cannot read sessions: {}", e.what()));
  }
}

Status UserStore::RevokeSession(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  try {
    SQLite::Statement q(*db_, "DELETE FROM web_sessions WHERE id_hash = ?");
    q.bind(1, Keyed("session", id));
    q.exec();
    return Status::Ok();
  } catch (const std::exception& e) {
    return Status::Failed(fmt::format("cannot revoke the session: {}", e.what()));
  }
}

Status UserStore::RevokeSessionsOf(const std::string& user) {
  std::lock_guard<std::mutex> lock(mu_);
  try {
    SQLite::Statement q(*db_, "DELETE FROM web_sessions WHERE user = ?");
    q.bind(1, user);
    q.exec();
    return Status::Ok();
  } catch (const std::exception& e) {
    return Status::Failed(fmt::format("cannot revoke the sessions of '{}': {}", user, e.what()));
  }
}

Result<NewToken> UserStore::AddToken(const std::string& user, const std::string& name, Role role,
                                     const std::vector<std::string>& usecases) {
  if (name.empty() || name.size() > 200)
    return Status::Invalid("a token needs a name of 1 to 200 characters");
  NewToken t;
  t.secret = "alb_" + RandomHex(kRandomBytes);
  t.token.id = "tok_" + RandomHex(8);
  t.token.name = name;
  t.token.user = user;
  t.token.role = role;
  t.token.usecases = usecases;
  t.token.created_at = NowIso();
  std::lock_guard<std::mutex> lock(mu_);
  try {
    SQLite::Statement q(*db_,
                        "INSERT INTO web_tokens(id, secret_hash, name, user, role, usecases, "
                        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)");
    q.bind(1, t.token.id);
    q.bind(2, Keyed("token", t.secret));
    q.bind(3, name);
    q.bind(4, user);
    q.bind(5, RoleName(role));
    q.bind(6, UsecasesText(usecases));
    q.bind(7, t.token.created_at);
    q.exec();
    return t;
  } catch (const std::exception& e) {
    return Status::Failed(fmt::format("cannot add the token: {}", e.what()));
  }
}

Result<std::vector<ApiToken>> UserStore::ListTokens(const std::string& user) {
  std::lock_guard<std::mutex> lock(mu_);
  try {
    SQLite::Statement q(*db_, fmt::format("SELECT {} FROM web_tokens WHERE ?1 = '' OR user = ?1 "
                                          "ORDER BY created_at DESC, id",
                                          kTokenColumns));
    q.bind(1, user);
    std::vector<ApiToken> out;
    while (q.executeStep()) out.push_back(TokenFrom(q));
    return out;
  } catch (const std::exception& e) {
    return Status::Failed(fmt::format("cannot list tokens: {}", e.what()));
  }
}

Status UserStore::RevokeToken(const std::string& id, const std::string& user) {
  std::lock_guard<std::mutex> lock(mu_);
  try {
    SQLite::Statement q(*db_,
                        "UPDATE web_tokens SET revoked_at = ?1 WHERE id = ?2 AND revoked_at = '' "
                        "AND (?3 = '' OR user = ?3)");
    q.bind(1, NowIso());
    q.bind(2, id);
    q.bind(3, user);
    if (q.exec() == 0) return Status::NotFound(fmt::format("no live token '{}'", id));
    return Status::Ok();
  } catch (const std::exception& e) {
    return Status::Failed(fmt::format("cannot revoke the token: {}", e.what()));
  }
}

Result<std::optional<ApiToken>> UserStore::UseToken(const std::string& secret) {
  if (secret.empty()) return std::optional<ApiToken>();
  std::lock_guard<std::mutex> lock(mu_);
  try {
    SQLite::Statement q(*db_, fmt::format("SELECT {} FROM web_tokens t WHERE secret_hash = ? AND "
                                          "revoked_at = '' AND EXISTS (SELECT 1 FROM web_users u "
                                          "WHERE u.name = t.user)",
                                          kTokenColumns));
    q.bind(1, Keyed("token", secret));
    if (!q.executeStep()) return std::optional<ApiToken>();
    ApiToken t = TokenFrom(q);
    q.reset();
    t.last_used_at = NowIso();
    SQLite::Statement u(*db_, "UPDATE web_tokens SET last_used_at = ? WHERE id = ?");
    u.bind(1, t.last_used_at);
    u.bind(2, t.id);
    u.exec();
    return std::optional<ApiToken>(t);
  } catch (const std::exception& e) {
    return Status::Failed(fmt::format("cannot read tokens: {}", e.what()));
  }
}

}  // namespace alambic
