// The web server (ui/web) over real HTTP on loopback, on a copy of the permis
// example run into a temporary workspace (real SQLite catalog), plus a flow
// with hostile text and a flow that fails.
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include <SQLiteCpp/SQLiteCpp.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "catalog/catalog.h"
#include "core/exec/run.h"
#include "services/catalog_views.h"
#include "services/users.h"
#include "tests/test_util.h"
#include "tests/web_test_server.h"
#include "ui/web/server.h"

namespace alambic::web_server_test {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using testing::Cli;
using testing::ReadFile;
using testing::WriteFile;

// The hostile strings: markup, a quote, U+2028, a terminal escape.
const std::string kHostileTitle = "<script>alert(\"t\")</script> \" \xE2\x80\xA8 \x1B[31mred";
const std::string kHostileCell = "<img src=x onerror=alert(1)>\"\xE2\x80\xA8\x1B]0;title\x07";

constexpr const char* kPassword = "correct horse battery staple";

using Running = testing::RunningServer;
using Session = testing::WebSession;

std::unique_ptr<Running> Start(const fs::path& root, ServerOptions o, UiConfig ui,
                               const std::string& secret) {
  return testing::StartServer(root, std::move(o), std::move(ui), secret);
}

class WebServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    base_ = fs::temp_directory_path() / ("alambic_web_" + std::to_string(::getpid()));
    fs::remove_all(base_);
    fs::create_directories(base_);
    root_ = base_ / "permis";
    fs::copy(fs::path(ALAMBIC_SOURCE_DIR) / "examples/permis", root_, fs::copy_options::recursive);
    fs::create_directories(root_ / ".alambic");
    WriteFile(root_ / ".alambic/pseudo_key", std::string(64, 'a'));
    ::chmod((root_ / ".alambic/pseudo_key").c_str(), 0600);
    // A use case with a hostile title and a dataset with a hostile cell.
    json title = kHostileTitle;
    WriteFile(root_ / "usecases/hostile.yaml",
              "usecase: hostile-uc\ntitle: " + title.dump(-1, ' ', true) +
                  "\nowner: mallory\ndirection: DSR\nstatus: idea\ndescription: x\n");
    WriteFile(root_ / "data/hostile.csv",
              "id,text\n1,\"" +
                  std::string(kHostileCell).replace(kHostileCell.find('"'), 1, "\"\"") +
                  "\"\n2,plain\n");
    WriteFile(root_ / "flows/hostile.yaml",
              "flow: hostile\nusecase: hostile-uc\nrecipes:\n"
              "  - name: collect_hostile\n    kind: collect\n    outputs: [hostile_rows]\n"
              "    params: {path: data/hostile.csv, format: csv}\n"
              "  - name: broken\n    kind: sql\n    inputs: [hostile_rows]\n"
              "    outputs: [never_built]\n"
              "    params: {query: \"select no_such_column from hostile_rows\"}\n");
    // A flow whose runs the pagination test seeds.
    WriteFile(root_ / "flows/bulk.yaml",
              "flow: bulk\nusecase: hostile-uc\nrecipes:\n"
              "  - name: collect_bulk\n    kind: collect\n    outputs: [bulk_rows]\n"
              "    params: {path: data/centres.csv, format: csv, delimiter: \";\"}\n");
    auto run = Cli(root_, {"run", "permis"});
    ASSERT_EQ(run.code, 0) << run.out << run.err;
    auto run2 = Cli(root_, {"run", "hostile"});
    ASSERT_NE(run2.code, 0) << "the broken recipe must fail";
    auto secret_path = InitInstallSecret(root_);
    ASSERT_TRUE(secret_path.ok()) << secret_path.status().message();
    auto secret = LoadInstallSecret(root_);
    ASSERT_TRUE(secret.ok()) << secret.status().message();
    secret_ = *secret;
    auto users = UserStore::Open(root_ / ".alambic/catalog.db", secret_);
    ASSERT_TRUE(users.ok()) << users.status().message();
    for (auto [name, role] : std::vector<std::pair<std::string, Role>>{{"vera", Role::kViewer},
                                                                       {"eric", Role::kEngineer},
                                                                       {"ada", Role::kAdmin},
                                                                       {"rita", Role::kViewer},
                                                                       {"paul", Role::kViewer}})
      ASSERT_TRUE((*users)->AddUser(name, role, kPassword).ok());
    auto vt = (*users)->AddToken("vera", "walk", Role::kViewer, {});
    ASSERT_TRUE(vt.ok());
    viewer_token_ = vt->secret;
    auto st = (*users)->AddToken("eric", "scoped", Role::kEngineer, {"hostile-uc"});
    ASSERT_TRUE(st.ok());
    scoped_token_ = st->secret;
    // The UI bundle, and a file beside it that must never be served.
    dist_ = base_ / "dist";
    fs::create_directories(dist_ / "assets");
    WriteFile(dist_ / "index.html", "<!doctype html><title>Alambic</title>");
    WriteFile(dist_ / "assets/app.js", "console.log(1)");
    WriteFile(base_ / "outside.txt", "SECRET-OUTSIDE");
    fs::create_symlink(base_ / "outside.txt", dist_ / "assets/leak.txt");
    ServerOptions o;
    o.static_dir = dist_;
    o.threads = 4;
    o.queue = 16;
    o.read_timeout = std::chrono::milliseconds(800);
    o.login_failures_per_user = 3;
    o.login_failures_per_address = 1000;
    UiConfig ui;
    TrustedHeaderConfig th;
    th.proxies = {"127.0.0.1"};
    th.group_roles = {{"datalab-eng", Role::kEngineer}};
    ui.trusted_header = th;
    server_ = Start(root_, o, ui, secret_).release();
    ASSERT_NE(server_, nullptr);
  }

  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    std::error_code ec;
    fs::remove_all(base_, ec);
  }

  static int port() { return server_->server->port(); }

  static httplib::Client Client() {
    httplib::Client c("127.0.0.1", port());
    c.set_read_timeout(10, 0);
    return c;
  }

  static Session Login(const std::string& user, const std::string& password = kPassword) {
    auto c = Client();
    auto res = c.Post("/api/login", json{{"user", user}, {"password", password}}.dump(),
                      "application/json");
    EXPECT_TRUE(res);
    if (!res) return {};
    EXPECT_EQ(res->status, 200) << res->body;
    Session s;
    const std::string set = res->get_header_value("Set-Cookie");
    s.cookie = set.substr(0, set.find(';'));
    auto j = json::parse(res->body, nullptr, false);
    if (j.is_object() && j.contains("csrf_token")) s.csrf = j["csrf_token"];
    return s;
  }

  static httplib::Headers With(const Session& s, bool csrf = false) {
    httplib::Headers h{{"Cookie", s.cookie}};
    if (csrf) h.emplace("X-CSRF-Token", s.csrf);
    return h;
  }

  static json Body(const httplib::Result& r) {
    if (!r) return nullptr;
    return json::parse(r->body, nullptr, false);
  }

  static json GetJson(const std::string& path, const httplib::Headers& h) {
    auto c = Client();
    auto r = c.Get(path.c_str(), h);
    EXPECT_TRUE(r);
    if (!r) return nullptr;
    EXPECT_EQ(r->status, 200) << path << ": " << r->body;
    return json::parse(r->body, nullptr, false);
  }

  static inline fs::path base_, root_, dist_;
  static inline std::string secret_, viewer_token_, scoped_token_;
  static inline Running* server_ = nullptr;
};

// ---------------------------------------------------------------- route × role

// The expected least role of every route; a route added to the server without
// a line here fails the test.
const std::map<std::string, std::string> kExpectedRoles = {
    {"GET /api/config", "public"},
    {"POST /api/login", "public"},
    {"POST /api/logout", "viewer"},
    {"GET /api/me", "viewer"},
    {"GET /api/usecases", "viewer"},
    {"GET /api/search", "viewer"},
    {"GET /api/usecases/{id}", "viewer"},
    {"GET /api/usecases/{id}/audit", "viewer"},
    {"GET /api/flows/{flow}", "viewer"},
    {"GET /api/flows/{flow}/neighbourhood", "viewer"},
    {"GET /api/flows/{flow}/recipes/{recipe}", "viewer"},
    {"GET /api/flows/{flow}/runs", "viewer"},
    {"POST /api/flows/{flow}/runs", "engineer"},
    {"GET /api/runs/{id}", "viewer"},
    {"GET /api/runs/{id}/logs", "viewer"},
    {"GET /api/datasets/{dataset}", "viewer"},
    {"GET /api/datasets/{dataset}/versions", "viewer"},
    {"GET /api/datasets/{dataset}/preview", "viewer"},
    {"GET /api/datasets/{dataset}/stats", "viewer"},
    {"GET /api/datasets/{dataset}/checks", "viewer"},
    {"GET /api/datasets/{dataset}/lineage", "viewer"},
    {"GET /api/datasets/{dataset}/columns/{column}/lineage", "viewer"},
    {"GET /api/datasets/{dataset}/why-stale", "viewer"},
    {"GET /api/production", "viewer"},
    {"POST /api/schedules/{flow}/pause", "engineer"},
    {"POST /api/schedules/{flow}/resume", "engineer"},
    {"GET /api/tokens", "viewer"},
    {"POST /api/tokens", "viewer"},
    {"DELETE /api/tokens/{id}", "viewer"},
};

TEST_F(WebServerTest, EveryRouteIsInTheExpectedRoleTableAndEnforcedForEachRole) {
  const auto routes = ApiRoutes();
  std::set<std::string> seen;
  for (const auto& r : routes) {
    const std::string key = r.method + " " + r.pattern;
    seen.insert(key);
    auto it = kExpectedRoles.find(key);
    ASSERT_NE(it, kExpectedRoles.end()) << "route " << key << " is not in kExpectedRoles";
    EXPECT_EQ(it->second, r.min_role ? RoleName(*r.min_role) : "public") << key;
  }
  for (const auto& [key, role] : kExpectedRoles)
    EXPECT_TRUE(seen.count(key)) << key << " is expected but the server has no such route";

  const Session viewer = Login("vera"), engineer = Login("eric"), admin = Login("ada");
  // A run id to put in the paths.
  json runs = GetJson("/api/flows/permis/runs?limit=1", With(viewer));
  ASSERT_FALSE(runs["items"].empty());
  const std::string run_id = runs["items"][0]["id"];
  auto path_of = [&](std::string p) {
    const std::map<std::string, std::string> values = {
        {"{id}", p.find("/runs/") != std::string::npos     ? run_id
                 : p.find("/tokens/") != std::string::npos ? "tok_nothing"
                                                           : "fraude-examens-permis"},
        {"{flow}", "permis"},
        {"{recipe}", "clean_exams"},
        {"{dataset}", "exams"},
        {"{column}", "candidate_id"}};
    for (const auto& [k, v] : values)
      for (size_t pos; (pos = p.find(k)) != std::string::npos;) p.replace(pos, k.size(), v);
    if (p == "/api/search") p += "?q=exams";
    if (p.find("/schedules/") != std::string::npos) p += "";
    return p;
  };
  auto send = [&](const std::string& method, const std::string& path,
                  const httplib::Headers& h) -> httplib::Result {
    auto c = Client();
    if (method == "GET") return c.Get(path.c_str(), h);
    if (method == "DELETE") return c.Delete(path.c_str(), h);
    return c.Post(path.c_str(), h, "{}", "application/json");
  };
  auto rank = [](const std::string& role) {
    return role == "public" ? 0 : role == "viewer" ? 1 : role == "engineer" ? 2 : 3;
  };
  for (const auto& r : routes) {
    const std::string key = r.method + " " + r.pattern;
    const std::string need = kExpectedRoles.at(key);
    const std::string path = path_of(r.pattern);
    SCOPED_TRACE(key + " as " + path);
    // Without credentials: 401 unless public.
    auto anon = send(r.method, path, {});
    ASSERT_TRUE(anon);
    if (need == "public")
      EXPECT_NE(anon->status, 401);
    else
      EXPECT_EQ(anon->status, 401) << anon->body;
    // Each role, by session (state-changing requests without the CSRF token:
    // an allowed role then meets the CSRF check, a refused one the role check).
    for (const auto& [who, s] : std::vector<std::pair<std::string, Session>>{
             {"viewer", viewer}, {"engineer", engineer}, {"admin", admin}}) {
      auto res = send(r.method, path, With(s));
      ASSERT_TRUE(res);
      const json b = Body(res);
      const std::string code = b.is_object() && b.contains("error") && b["error"].is_object()
                                   ? b["error"]["code"].get<std::string>()
                                   : "";
      if (rank(who) >= rank(need)) {
        EXPECT_NE(res->status, 401) << who << ": " << res->body;
        EXPECT_NE(code, "forbidden") << who << ": " << res->body;
        if (r.method != "GET" && need != "public") {
          EXPECT_EQ(code, "csrf") << who;
        }
      } else {
        EXPECT_EQ(res->status, 403) << who << ": " << res->body;
        EXPECT_EQ(code, "forbidden") << who;
      }
    }
    // A viewer's API token (no CSRF needed): as a viewer (what it may call
    // here changes nothing that matters: it makes a token, ends no session).
    auto tok = send(r.method, path, {{"Authorization", "Bearer " + viewer_token_}});
    ASSERT_TRUE(tok);
    if (rank("viewer") >= rank(need))
      EXPECT_TRUE(tok->status != 401 && tok->status != 403) << tok->body;
    else
      EXPECT_EQ(tok->status, 403) << tok->body;
  }
  // A wrong token is no token.
  auto bad = Client().Get("/api/me", {{"Authorization", "Bearer alb_0000"}});
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 401);
  // Unknown API paths are 404 JSON, not the SPA.
  auto unknown = Client().Get("/api/nothing-here", With(viewer));
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
  EXPECT_EQ(Body(unknown)["error"]["code"], "not_found");
}

// ---------------------------------------------------------------- sessions, CSRF

TEST_F(WebServerTest, CsrfMissingOrWrongIsRefusedAndNothingChanges) {
  const Session eng = Login("eric");
  auto paused = [&] {
    return GetJson("/api/flows/permis?env=warehouse", With(eng))["schedule"]["paused"].get<bool>();
  };
  ASSERT_FALSE(paused());
  auto c = Client();
  auto none = c.Post("/api/schedules/permis/pause", With(eng), "{}", "application/json");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 403);
  EXPECT_EQ(Body(none)["error"]["code"], "csrf");
  httplib::Headers wrong = With(eng);
  wrong.emplace("X-CSRF-Token", std::string(eng.csrf.size(), '0'));
  auto bad = c.Post("/api/schedules/permis/pause", wrong, "{}", "application/json");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 403);
  EXPECT_FALSE(paused()) << "a refused request changed the schedule";
  // Another session's token is wrong too.
  const Session other = Login("eric");
  httplib::Headers cross = With(eng);
  cross.emplace("X-CSRF-Token", other.csrf);
  auto x = c.Post("/api/schedules/permis/pause", cross, "{}", "application/json");
  ASSERT_TRUE(x);
  EXPECT_EQ(x->status, 403);
  EXPECT_FALSE(paused());
  // The right one pauses (audited), a second pause is a conflict, resume undoes it.
  auto ok = c.Post("/api/schedules/permis/pause", With(eng, true), "{\"env\":\"warehouse\"}",
                   "application/json");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body;
  EXPECT_TRUE(paused());
  auto again = c.Post("/api/schedules/permis/pause", With(eng, true), "{\"env\":\"warehouse\"}",
                      "application/json");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 409);
  auto resume = c.Post("/api/schedules/permis/resume", With(eng, true), "{\"env\":\"warehouse\"}",
                       "application/json");
  ASSERT_TRUE(resume);
  EXPECT_EQ(resume->status, 200);
  EXPECT_FALSE(paused());
  auto cat = Catalog::Open(root_ / ".alambic/catalog.db");
  ASSERT_TRUE(cat.ok());
  AuditFilter f;
  f.action = "schedule.pause";
  auto entries = (*cat)->ReadAudit(f);
  ASSERT_TRUE(entries.ok());
  ASSERT_FALSE(entries->empty());
  EXPECT_EQ(entries->back().user, "eric");
  // No state change on GET: a GET of a POST route is 405.
  auto get = c.Get("/api/schedules/permis/pause", With(eng));
  ASSERT_TRUE(get);
  EXPECT_EQ(get->status, 405);
}

TEST_F(WebServerTest, LoginGivesANewSessionIdEvenWithAPlantedCookie) {
  const Session first = Login("paul");
  auto c = Client();
  // An attacker plants a cookie; logging in must not adopt it.
  const std::string planted = "alambic_session=" + std::string(64, 'f');
  auto res = c.Post("/api/login", {{"Cookie", planted}},
                    json{{"user", "paul"}, {"password", kPassword}}.dump(), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  const std::string set = res->get_header_value("Set-Cookie");
  EXPECT_EQ(set.find(planted), std::string::npos);
  EXPECT_NE(set.substr(0, set.find(';')), first.cookie);
  EXPECT_NE(set.find("HttpOnly"), std::string::npos);
  EXPECT_NE(set.find("SameSite=Strict"), std::string::npos);
  auto me = c.Get("/api/me", {{"Cookie", planted}});
  ASSERT_TRUE(me);
  EXPECT_EQ(me->status, 401);
  // The stored session ids are keyed hashes, not the cookie's value.
  SQLite::Database db((root_ / ".alambic/catalog.db").string(), SQLite::OPEN_READONLY);
  SQLite::Statement q(db, "SELECT count(*) FROM web_sessions WHERE id_hash = ?");
  q.bind(1, first.cookie.substr(first.cookie.find('=') + 1));
  ASSERT_TRUE(q.executeStep());
  EXPECT_EQ(q.getColumn(0).getInt(), 0);
}

TEST_F(WebServerTest, LogoutAndPasswordChangeRevokeSessions) {
  auto users = UserStore::Open(root_ / ".alambic/catalog.db", secret_);
  ASSERT_TRUE(users.ok());
  ASSERT_TRUE((*users)->AddUser("lena", Role::kViewer, kPassword).ok());
  const Session a = Login("lena"), b = Login("lena");
  auto c = Client();
  ASSERT_EQ(c.Get("/api/me", With(a))->status, 200);
  auto out = c.Post("/api/logout", With(a, true), "{}", "application/json");
  ASSERT_TRUE(out);
  EXPECT_EQ(out->status, 200);
  EXPECT_NE(out->get_header_value("Set-Cookie").find("Max-Age=0"), std::string::npos);
  EXPECT_EQ(c.Get("/api/me", With(a))->status, 401);
  EXPECT_EQ(c.Get("/api/me", With(b))->status, 200);
  ASSERT_TRUE((*users)->SetPassword("lena", "another password").ok());
  EXPECT_EQ(c.Get("/api/me", With(b))->status, 401);
  auto old = c.Post("/api/login", json{{"user", "lena"}, {"password", kPassword}}.dump(),
                    "application/json");
  ASSERT_TRUE(old);
  EXPECT_EQ(old->status, 401);
  EXPECT_EQ(Login("lena", "another password").csrf.empty(), false);
}

TEST_F(WebServerTest, FailedLoginsAreRateLimitedWithRetryAfter) {
  auto c = Client();
  for (int i = 0; i < 3; ++i) {
    auto r = c.Post("/api/login", json{{"user", "rita"}, {"password", "wrong"}}.dump(),
                    "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401);
    EXPECT_EQ(Body(r)["error"]["code"], "bad_credentials");
  }
  // Even the right password now waits.
  auto r = c.Post("/api/login", json{{"user", "rita"}, {"password", kPassword}}.dump(),
                  "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 429);
  EXPECT_EQ(Body(r)["error"]["code"], "rate_limited");
  const std::string after = r->get_header_value("Retry-After");
  ASSERT_FALSE(after.empty());
  EXPECT_GT(std::stoi(after), 0);
  // An unknown user answers as a wrong password does.
  auto u =
      c.Post("/api/login", json{{"user", "nobody"}, {"password", "x"}}.dump(), "application/json");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->status, 401);
  EXPECT_EQ(Body(u)["error"]["code"], "bad_credentials");
}

TEST_F(WebServerTest, TokenScopedToAUseCaseReachesOnlyItAndEveryUseIsAudited) {
  const httplib::Headers h{{"Authorization", "Bearer " + scoped_token_}};
  auto c = Client();
  auto mine = c.Get("/api/flows/hostile", h);
  ASSERT_TRUE(mine);
  EXPECT_EQ(mine->status, 200) << mine->body;
  auto other = c.Get("/api/flows/permis", h);
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 403);
  EXPECT_EQ(c.Get("/api/datasets/exams", h)->status, 403);
  EXPECT_EQ(c.Get("/api/datasets/hostile_rows", h)->status, 200);
  EXPECT_EQ(c.Get("/api/usecases/fraude-examens-permis", h)->status, 403);
  EXPECT_EQ(c.Get("/api/search?q=exams", h)->status, 403);
  json home = Body(c.Get("/api/usecases", h));
  ASSERT_EQ(home["items"].size(), 1u);
  EXPECT_EQ(home["items"][0]["id"], "hostile-uc");
  // No CSRF for a token; an engineer token may pause its own flow only.
  EXPECT_EQ(c.Post("/api/schedules/permis/pause", h, "{}", "application/json")->status, 403);
  auto cat = Catalog::Open(root_ / ".alambic/catalog.db");
  ASSERT_TRUE(cat.ok());
  AuditFilter f;
  f.action = "token.use";
  auto entries = (*cat)->ReadAudit(f);
  ASSERT_TRUE(entries.ok());
  int uses = 0;
  for (const auto& e : *entries)
    if (e.user == "eric" && e.detail.value("path", "") == "/api/flows/hostile") ++uses;
  EXPECT_GE(uses, 1);
  EXPECT_TRUE((*cat)->VerifyAudit().ok());
}

TEST_F(WebServerTest, TrustedHeaderIsAcceptedOnlyFromAConfiguredProxy) {
  const httplib::Headers sso{{"X-Remote-User", "sso.user"}, {"X-Remote-Groups", "x,datalab-eng"}};
  json me = GetJson("/api/me", sso);
  EXPECT_EQ(me["user"], "sso.user");
  EXPECT_EQ(me["role"], "engineer");
  EXPECT_EQ(me["auth"], "sso");
  // A group with no role is refused; the same headers from elsewhere are ignored.
  auto none = Client().Get("/api/me", {{"X-Remote-User", "sso.user"}, {"X-Remote-Groups", "x"}});
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 403);
  ServerOptions o;
  UiConfig ui;
  TrustedHeaderConfig th;
  th.proxies = {"10.0.0.9"};
  th.group_roles = {{"datalab-eng", Role::kEngineer}};
  ui.trusted_header = th;
  auto other = Start(root_, o, ui, secret_);
  ASSERT_NE(other, nullptr);
  httplib::Client c("127.0.0.1", other->server->port());
  auto r = c.Get("/api/me", sso);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
}

// ---------------------------------------------------------------- escaping

TEST_F(WebServerTest, HostileTitleAndCellComeBackAsExactJsonStrings) {
  const Session v = Login("vera");
  auto c = Client();
  auto uc = c.Get("/api/usecases/hostile-uc", With(v));
  ASSERT_TRUE(uc);
  ASSERT_EQ(uc->status, 200) << uc->body;
  EXPECT_EQ(uc->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(uc->get_header_value("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(uc->body.find('\x1B'), std::string::npos) << "a raw terminal escape went out";
  EXPECT_EQ(Body(uc)["title"], kHostileTitle);
  json home = GetJson("/api/usecases", With(v));
  bool found = false;
  for (const auto& i : home["items"])
    if (i["id"] == "hostile-uc") found = i["title"] == kHostileTitle;
  EXPECT_TRUE(found);
  auto pv = c.Get("/api/datasets/hostile_rows/preview", With(v));
  ASSERT_TRUE(pv);
  ASSERT_EQ(pv->status, 200) << pv->body;
  EXPECT_EQ(pv->body.find('\x1B'), std::string::npos);
  json p = Body(pv);
  ASSERT_EQ(p["rows"].size(), 2u);
  EXPECT_EQ(p["rows"][0][1], kHostileCell);
  // The failed recipe's error and log come back as text too.
  json runs = GetJson("/api/flows/hostile/runs", With(v));
  ASSERT_FALSE(runs["items"].empty());
  EXPECT_EQ(runs["items"][0]["status"], "failed");
}

// ---------------------------------------------------------------- static files, limits

TEST_F(WebServerTest, StaticFilesAreConfinedTypedAndTheSpaFallsBack) {
  auto c = Client();
  auto js = c.Get("/assets/app.js");
  ASSERT_TRUE(js);
  EXPECT_EQ(js->status, 200);
  EXPECT_EQ(js->get_header_value("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_NE(js->get_header_value("Content-Security-Policy").find("script-src 'self'"),
            std::string::npos);
  for (const char* spa : {"/", "/usecases/fraude-examens-permis", "/flows/permis", "/production",
                          "/datasets/exams", "/runs/abc"}) {
    auto r = c.Get(spa);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << spa;
    EXPECT_NE(r->body.find("<title>Alambic</title>"), std::string::npos) << spa;
  }
  for (const char* bad :
       {"/../outside.txt", "/%2e%2e/outside.txt", "/assets/%2e%2e/%2e%2e/outside.txt",
        "/assets%2f..%2f..%2foutside.txt", "/assets/..%2F..%2Foutside.txt", "/assets/leak.txt",
        "/%2Ftmp%2Foutside.txt", "/assets/%00.js", "/assets/..\\..\\outside.txt",
        "/.alambic/web_secret"}) {
    httplib::Client raw("127.0.0.1", port());
    auto r = raw.Get(bad);
    if (!r) continue;  // the client refused to send it: nothing was served
    EXPECT_NE(r->status, 200) << bad;
    EXPECT_EQ(r->body.find("SECRET-OUTSIDE"), std::string::npos) << bad;
  }
  // Log routes never take a path.
  const Session v = Login("vera");
  json runs = GetJson("/api/flows/permis/runs?limit=1", With(v));
  const std::string id = runs["items"][0]["id"];
  for (const char* recipe : {"../../etc/passwd", "/etc/passwd", "..%2F..%2Fetc%2Fpasswd"}) {
    auto r = c.Get(("/api/runs/" + id + "/logs?recipe=" + recipe).c_str(), With(v));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << recipe << r->body;
  }
  // Without a bundle, "/" says so; the API still answers.
  ServerOptions o;
  o.static_dir = base_ / "no-such-dist";
  auto bare = Start(root_, o, UiConfig{}, secret_);
  ASSERT_NE(bare, nullptr);
  httplib::Client b("127.0.0.1", bare->server->port());
  auto home = b.Get("/");
  ASSERT_TRUE(home);
  EXPECT_EQ(home->status, 200);
  EXPECT_NE(home->body.find("not built"), std::string::npos);
  EXPECT_EQ(b.Get("/api/config")->status, 200);
  EXPECT_EQ(b.Get("/dsfr/dsfr.min.css")->status, 404) << "DSFR assets without the dsfr theme";
}

TEST_F(WebServerTest, OversizedBodyIs413AndSlowRequestTimesOut) {
  const Session e = Login("eric");
  auto c = Client();
  const std::string big(70 * 1024, 'x');
  auto r = c.Post("/api/tokens", With(e, true), big, "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  // A client that sends half a request and stalls is cut off after the read timeout.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  const std::string partial = "GET /api/config HTTP/1.1\r\nHost: x\r\n";
  ASSERT_EQ(::send(fd, partial.data(), partial.size(), 0), static_cast<ssize_t>(partial.size()));
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const auto t0 = std::chrono::steady_clock::now();
  char buf[512];
  const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  const auto waited = std::chrono::steady_clock::now() - t0;
  ::close(fd);
  // Cut off: closed, or answered with an error (cpp-httplib 0.11 says 400)
  // then closed; never served.
  if (n > 0) {
    const std::string answer(buf, static_cast<size_t>(n));
    EXPECT_EQ(answer.rfind("HTTP/1.1 4", 0), 0u) << answer;
    EXPECT_EQ(answer.find("\"theme\""), std::string::npos) << answer;
  }
  EXPECT_LT(waited, std::chrono::seconds(4)) << "the stalled connection was not cut off";
}

TEST_F(WebServerTest, KeepAliveUnderConcurrentLoad) {
  const Session v = Login("vera");
  std::atomic<int> ok{0}, bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      httplib::Client c("127.0.0.1", port());
      c.set_keep_alive(true);
      for (int i = 0; i < 60; ++i) {
        const char* path = (i + t) % 3 == 0   ? "/api/usecases"
                           : (i + t) % 3 == 1 ? "/api/flows/permis"
                                              : "/api/datasets/exams";
        auto r = c.Get(path, With(v));
        (r && r->status == 200 ? ok : bad)++;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(ok.load(), 240);
}

// ---------------------------------------------------------------- pages and views

TEST_F(WebServerTest, RunsPageByKeysetStablyAndTwentyThousandRunsUseTheIndex) {
  {
    // 20,000 runs of `bulk`, seeded in one transaction (the trigger of schema
    // 8 indexes them by flow, as it does for runs the engine records).
    SQLite::Database db((root_ / ".alambic/catalog.db").string(), SQLite::OPEN_READWRITE);
    SQLite::Transaction tx(db);
    SQLite::Statement q(db,
                        "INSERT INTO runs(id, flows, environment, trigger, status, started_at) "
                        "VALUES (?, 'bulk', 'datalab', 'manual', 'succeeded', ?)");
    for (int i = 0; i < 20000; ++i) {
      char id[40], at[40];
      std::snprintf(id, sizeof id, "bulk-%05d", i);
      // Pairs share a start time: the run id breaks the tie.
      const int sec = i / 2;
      std::snprintf(at, sizeof at, "2026-01-01T%02d:%02d:%02d.000Z", sec / 3600, sec / 60 % 60,
                    sec % 60);
      q.bind(1, std::string(id));
      q.bind(2, std::string(at));
      q.exec();
      q.reset();
    }
    tx.commit();
  }
  const Session v = Login("vera");
  std::set<std::string> seen;
  std::string cursor, prev_key = "\x7f";
  int pages = 0;
  bool inserted = false;
  for (;;) {
    std::string path = "/api/flows/bulk/runs?limit=200";
    if (!cursor.empty()) path += "&cursor=" + cursor;
    json page = GetJson(path, With(v));
    ASSERT_TRUE(page.is_object());
    for (const auto& r : page["items"]) {
      const std::string key = r["started_at"].get<std::string>() + r["id"].get<std::string>();
      EXPECT_LT(key, prev_key) << "not newest first";
      prev_key = key;
      EXPECT_TRUE(seen.insert(r["id"]).second) << "run " << r["id"] << " twice";
    }
    ++pages;
    if (!inserted) {
      // A run recorded meanwhile shifts no later page.
      SQLite::Database db((root_ / ".alambic/catalog.db").string(), SQLite::OPEN_READWRITE);
      db.exec(
          "INSERT INTO runs(id, flows, environment, trigger, status, started_at) VALUES "
          "('bulk-new', 'bulk', 'datalab', 'manual', 'running', '2027-01-01T00:00:00.000Z')");
      inserted = true;
    }
    if (page["next_cursor"].is_null()) break;
    cursor = page["next_cursor"];
  }
  EXPECT_EQ(seen.size(), 20000u);
  EXPECT_EQ(pages, 100);
  EXPECT_FALSE(seen.count("bulk-new"));
  // The page's query seeks the run_flows index, never scans the runs.
  SQLite::Database db((root_ / ".alambic/catalog.db").string(), SQLite::OPEN_READONLY);
  SQLite::Statement plan(db, "EXPLAIN QUERY PLAN " + CatalogViews::RunsPageSql());
  plan.bind(1, "bulk");
  plan.bind(2, "2026-03-01");
  plan.bind(3, "bulk-1");
  plan.bind(4, "");
  plan.bind(5, "");
  plan.bind(6, 201);
  std::string text;
  while (plan.executeStep()) text += plan.getColumn(3).getString() + "\n";
  EXPECT_NE(text.find("SEARCH f USING PRIMARY KEY (flow=? AND (started_at,run_id)<(?,?))"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("SCAN"), std::string::npos) << text;
  EXPECT_EQ(text.find("TEMP B-TREE"), std::string::npos) << text;
  // A tampered cursor or one of another list is refused.
  auto c = Client();
  auto bad = c.Get("/api/flows/bulk/runs?cursor=AAAA", With(v));
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(Body(bad)["error"]["code"], "bad_cursor");
  json first = GetJson("/api/flows/bulk/runs?limit=1", With(v));
  auto foreign =
      c.Get(("/api/flows/permis/runs?cursor=" + first["next_cursor"].get<std::string>()).c_str(),
            With(v));
  ASSERT_TRUE(foreign);
  EXPECT_EQ(foreign->status, 400);
  EXPECT_EQ(c.Get("/api/flows/bulk/runs?limit=201", With(v))->status, 400);
}

TEST_F(WebServerTest, ViewsAnswerWhatTheUiShows) {
  const Session v = Login("vera");
  json home = GetJson("/api/usecases", With(v));
  EXPECT_EQ(home["counts"]["poc"], 1);
  EXPECT_EQ(home["counts"]["idea"], 1);
  json filtered = GetJson("/api/usecases?status=poc", With(v));
  ASSERT_EQ(filtered["items"].size(), 1u);
  const json& card = filtered["items"][0];
  EXPECT_EQ(card["id"], "fraude-examens-permis");
  EXPECT_EQ(card["health"]["status"], "succeeded");
  EXPECT_EQ(card["freshness"]["state"], "fresh");
  // Search: the exact name first.
  json s = GetJson("/api/search?q=exams", With(v));
  ASSERT_FALSE(s["items"].empty());
  EXPECT_EQ(s["items"][0]["ref"], "exams");
  EXPECT_TRUE(s["items"][0]["exact"].get<bool>());
  // Flow graph: recipes and datasets with their last status.
  json g = GetJson("/api/flows/permis", With(v));
  int recipes = 0;
  for (const auto& n : g["nodes"])
    if (n["type"] == "recipe") {
      ++recipes;
      EXPECT_EQ(n["last_status"], "succeeded") << n.dump();
    }
  EXPECT_EQ(recipes, 12);
  // Run detail with recipe timings, and its log.
  json runs = GetJson("/api/flows/permis/runs", With(v));
  json run = GetJson("/api/runs/" + runs["items"][0]["id"].get<std::string>(), With(v));
  EXPECT_EQ(run["recipes"].size(), 12u);
  for (const auto& r : run["recipes"]) EXPECT_FALSE(r["started_at"].get<std::string>().empty());
  // Dataset: schema with tags, preview, stats against the preview's own rows.
  json d = GetJson("/api/datasets/exams", With(v));
  bool tagged = false;
  for (const auto& col : d["columns"])
    if (col["name"] == "candidate_id") tagged = col["tags"] == json::array({"pseudonymised"});
  EXPECT_TRUE(tagged) << d.dump();
  json st = GetJson("/api/datasets/centres/stats", With(v));
  json pv = GetJson("/api/datasets/centres/preview?limit=200", With(v));
  ASSERT_EQ(st["rows"], pv["total_rows"]);
  ASSERT_LE(pv["total_rows"].get<int>(), 200) << "the oracle below needs every row";
  for (size_t c = 0; c < pv["columns"].size(); ++c) {
    std::set<std::string> distinct;
    int nulls = 0;
    for (const auto& row : pv["rows"]) {
      if (row[c].is_null())
        ++nulls;
      else
        distinct.insert(row[c].dump());
    }
    EXPECT_EQ(st["columns"][c]["nulls"], nulls);
    EXPECT_EQ(st["columns"][c]["distinct"], distinct.size()) << st["columns"][c].dump();
  }
  // Lineage one hop both ways.
  json lin = GetJson("/api/datasets/exams/lineage", With(v));
  std::set<std::string> names;
  for (const auto& n : lin["nodes"]) names.insert(n["name"]);
  EXPECT_TRUE(names.count("exams_raw"));
  EXPECT_TRUE(names.count("exams_checked"));
  // Why stale: the broken recipe's output names the failure upstream.
  json why = GetJson("/api/datasets/never_built/why-stale", With(v));
  EXPECT_EQ(why["state"], "stale");
  ASSERT_FALSE(why["failed_upstream"].empty()) << why.dump();
  EXPECT_EQ(why["failed_upstream"][0]["recipe"], "broken");
  json fresh = GetJson("/api/datasets/exams/why-stale", With(v));
  EXPECT_EQ(fresh["state"], "fresh") << fresh.dump();
  EXPECT_TRUE(fresh["reasons"].empty());
  // Production: the schedule and its next run.
  json prod = GetJson("/api/production", With(v));
  bool permis = false;
  for (const auto& f : prod["flows"])
    if (f["flow"] == "permis") permis = !f["schedule"]["next_run"].is_null();
  EXPECT_TRUE(permis) << prod.dump();
  // The config says the theme.
  json cfg = GetJson("/api/config", {});
  EXPECT_EQ(cfg["theme"], "default");
  EXPECT_EQ(cfg["languages"], json::array({"fr", "en"}));
}

TEST_F(WebServerTest, EngineerTriggersARunViewerIsRefused) {
  const Session v = Login("vera"), e = Login("eric");
  auto c = Client();
  auto refused = c.Post("/api/flows/permis/runs", With(v, true), "{}", "application/json");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 403);
  const size_t before = GetJson("/api/flows/permis/runs", With(v))["items"].size();
  auto ok = c.Post("/api/flows/permis/runs", With(e, true), "{}", "application/json");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 202) << ok->body;
  // The answer names the run it starts.
  const json accepted = Body(ok);
  ASSERT_TRUE(accepted["run_id"].is_string()) << ok->body;
  const std::string run_id = accepted["run_id"];
  server_->server->WaitForRuns();
  json runs = GetJson("/api/flows/permis/runs", With(v));
  ASSERT_EQ(runs["items"].size(), before + 1);
  EXPECT_EQ(runs["items"][0]["user"], "eric");
  EXPECT_EQ(runs["items"][0]["id"], run_id);
  json run = GetJson("/api/runs/" + run_id, With(v));
  EXPECT_EQ(run["id"], run_id);
  EXPECT_EQ(run["recipes"].size(), 12u);
}

// A run that cannot start is refused to the caller (409 with the reason), not
// answered 202 with an id that is never recorded: here the workspace is locked
// by another run.
TEST_F(WebServerTest, ARunThatCannotStartIsRefusedWithItsReason) {
  const Session v = Login("vera"), e = Login("eric");
  auto c = Client();
  const size_t before = GetJson("/api/flows/permis/runs?limit=200", With(v))["items"].size();
  {
    auto lock = WorkspaceLock::Acquire(root_ / ".alambic");
    ASSERT_TRUE(lock.ok()) << lock.status().message();
    auto busy = c.Post("/api/flows/permis/runs", With(e, true), "{}", "application/json");
    ASSERT_TRUE(busy);
    EXPECT_EQ(busy->status, 409) << busy->body;
    const json b = Body(busy);
    EXPECT_EQ(b["error"]["code"], "conflict") << busy->body;
    EXPECT_NE(b.dump().find("another alambic run"), std::string::npos) << busy->body;
    EXPECT_FALSE(b.contains("run_id")) << busy->body;
    server_->server->WaitForRuns();
  }
  EXPECT_EQ(GetJson("/api/flows/permis/runs?limit=200", With(v))["items"].size(), before);
  // Once the lock is free, the same request starts a run.
  auto ok = c.Post("/api/flows/permis/runs", With(e, true), "{}", "application/json");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 202) << ok->body;
  server_->server->WaitForRuns();
  EXPECT_EQ(GetJson("/api/flows/permis/runs?limit=200", With(v))["items"].size(), before + 1);
}

// Query parameters and paths that are not UTF-8 once decoded are a 400 naming
// the problem, not an exception inside a handler (found by the web fuzz target:
// the use-case search's cache key could not be written as JSON).
TEST_F(WebServerTest, QueryParametersThatAreNotUtf8AreRefused) {
  const Session v = Login("vera");
  auto c = Client();
  for (const char* path :
       {"/api/usecases?q=%FF%FE", "/api/usecases?q=d%00%FF", "/api/search?q=%C3%28",
        "/api/datasets/%FFexams", "/api/usecases?%FF=1"}) {
    auto res = c.Get(path, With(v));
    ASSERT_TRUE(res) << path;
    EXPECT_EQ(res->status, 400) << path << " " << res->body;
    EXPECT_EQ(Body(res)["error"]["code"], "bad_param") << path << " " << res->body;
  }
  // UTF-8 text is searched as before.
  auto ok = c.Get("/api/usecases?q=%C3%A9", With(v));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body;
}

TEST_F(WebServerTest, HomeFollowsEachCatalogChangeAtOnce) {
  const Session v = Login("vera");
  auto card = [&] {
    json home = GetJson("/api/usecases?status=poc", With(v));
    EXPECT_EQ(home["items"].size(), 1u);
    return home["items"].empty() ? json() : home["items"][0];
  };
  const json before = card();
  ASSERT_EQ(before["health"]["status"], "succeeded") << before.dump();
  const std::string env = before["health"]["environment"];
  // The same answer, byte for byte, while nothing changes.
  auto c = Client();
  auto a = c.Get("/api/usecases", With(v)), b = c.Get("/api/usecases", With(v));
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->body, b->body);
  // A run recorded by another connection shows at once (no time-based cache).
  const fs::path db_path = root_ / ".alambic/catalog.db";
  {
    SQLite::Database db(db_path.string(), SQLite::OPEN_READWRITE);
    SQLite::Statement q(db,
                        "INSERT INTO runs(id, flows, environment, trigger, status, started_at) "
                        "VALUES ('home-failed', 'permis', ?, 'manual', 'failed', "
                        "'2099-01-01T00:00:00.000Z')");
    q.bind(1, env);
    q.exec();
  }
  const json failed = card();
  EXPECT_EQ(failed["health"]["status"], "failed") << failed.dump();
  EXPECT_EQ(failed["health"]["run_id"], "home-failed");
  // The sorted answer changed with it.
  auto by_health = c.Get("/api/usecases?sort=health", With(v));
  ASSERT_TRUE(by_health);
  EXPECT_NE(by_health->body.find("home-failed"), std::string::npos);
  {
    SQLite::Database db(db_path.string(), SQLite::OPEN_READWRITE);
    db.exec("DELETE FROM run_flows WHERE run_id = 'home-failed'");
    db.exec("DELETE FROM runs WHERE id = 'home-failed'");
  }
  EXPECT_EQ(card()["health"], before["health"]);
}

TEST_F(WebServerTest, HomeUnderConcurrentRequestsAndChangesStaysConsistent) {
  const Session v = Login("vera");
  const fs::path db_path = root_ / ".alambic/catalog.db";
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      httplib::Client c("127.0.0.1", port());
      c.set_keep_alive(true);
      const std::string path = t % 2 ? "/api/usecases?sort=owner" : "/api/usecases";
      while (!stop) {
        auto r = c.Get(path.c_str(), With(v));
        json j = r ? json::parse(r->body, nullptr, false) : json();
        (r && r->status == 200 && j.is_object() && j["total"] == 2 ? ok : bad)++;
      }
    });
  // Writes meanwhile: each one invalidates what the readers cached; the next
  // write waits for a reader to have been answered since.
  for (int i = 0; i < 20; ++i) {
    const int seen = ok.load() + bad.load();
    SQLite::Database db(db_path.string(), SQLite::OPEN_READWRITE);
    db.exec(
        fmt::format("INSERT INTO runs(id, flows, environment, trigger, status, started_at) "
                    "VALUES ('churn-{}', 'bulk', 'elsewhere', 'manual', 'failed', "
                    "'2000-01-01T00:00:00.000Z')",
                    i));
    for (int w = 0; w < 2000 && ok.load() + bad.load() <= seen; ++w)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  stop = true;
  for (auto& t : threads) t.join();
  {
    SQLite::Database db(db_path.string(), SQLite::OPEN_READWRITE);
    db.exec("DELETE FROM run_flows WHERE run_id LIKE 'churn-%'");
    db.exec("DELETE FROM runs WHERE id LIKE 'churn-%'");
  }
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GE(ok.load(), 20);
}

TEST_F(WebServerTest, IdleKeepAliveConnectionsDoNotStarveNewOnesWithTheDefaultPool) {
  // The default worker count: cpp-httplib holds a worker per open connection.
  ServerOptions o;
  o.static_dir = dist_;
  auto second = Start(root_, o, UiConfig{}, secret_);
  ASSERT_NE(second, nullptr);
  const int p = second->server->port();
  const Session v = Login("vera");
  // 24 browsers' connections, each used once and left open.
  std::vector<std::unique_ptr<httplib::Client>> idle;
  for (int i = 0; i < 24; ++i) {
    auto c = std::make_unique<httplib::Client>("127.0.0.1", p);
    c->set_keep_alive(true);
    auto r = c->Get("/api/config");
    ASSERT_TRUE(r);
    idle.push_back(std::move(c));
  }
  // A new connection is served at once, not after the idle ones time out.
  const auto t0 = std::chrono::steady_clock::now();
  httplib::Client fresh("127.0.0.1", p);
  fresh.set_read_timeout(10, 0);
  auto r = fresh.Get("/api/usecases", With(v));
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_LT(ms, 2000) << "a new connection waited for idle keep-alive ones";
  idle.clear();
}

TEST_F(WebServerTest, KeepAliveAnswersDoNotWaitForTheClientsDelayedAck) {
  const Session v = Login("vera");
  httplib::Client c("127.0.0.1", port());
  c.set_keep_alive(true);
  ASSERT_TRUE(c.Get("/api/datasets/exams", With(v)));  // connected, answer cached
  std::vector<int64_t> us;
  for (int i = 0; i < 41; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    auto r = c.Get("/api/datasets/exams", With(v));
    us.push_back(
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
            .count());
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200);
  }
  std::sort(us.begin(), us.end());
  // Without TCP_NODELAY each answer waits ~40 ms for the ACK of its headers.
  EXPECT_LT(us[us.size() / 2], 20000) << "median " << us[us.size() / 2] << " us";
}

TEST_F(WebServerTest, CachedAnswersFollowACatalogChangeAtOnce) {
  const Session v = Login("vera");
  const std::string path = "/api/flows/permis/runs?limit=5";
  json first = GetJson(path, With(v));
  EXPECT_EQ(GetJson(path, With(v)), first);
  const fs::path db_path = root_ / ".alambic/catalog.db";
  {
    SQLite::Database db(db_path.string(), SQLite::OPEN_READWRITE);
    db.exec(
        "INSERT INTO runs(id, flows, environment, trigger, status, started_at) VALUES "
        "('cache-new', 'permis', 'datalab', 'manual', 'failed', '2099-01-02T00:00:00.000Z')");
  }
  json after = GetJson(path, With(v));
  ASSERT_FALSE(after["items"].empty());
  EXPECT_EQ(after["items"][0]["id"], "cache-new");
  {
    SQLite::Database db(db_path.string(), SQLite::OPEN_READWRITE);
    db.exec("DELETE FROM run_flows WHERE run_id = 'cache-new'");
    db.exec("DELETE FROM runs WHERE id = 'cache-new'");
  }
  EXPECT_EQ(GetJson(path, With(v)), first);
}

TEST_F(WebServerTest, NeighbourhoodOfANodeIsBoundedAndMarksWhatItLeavesOut) {
  const Session v = Login("vera");
  json g = GetJson("/api/flows/permis", With(v));
  // The oracle: neighbours from the whole graph's edges.
  std::map<std::string, std::set<std::string>> adj;
  for (const auto& e : g["edges"]) {
    adj[e["from"]].insert(e["to"].get<std::string>());
    adj[e["to"]].insert(e["from"].get<std::string>());
  }
  const std::string centre = "dataset:exams";
  ASSERT_TRUE(adj.count(centre));
  std::set<std::string> expected = adj[centre];
  expected.insert(centre);
  json n = GetJson("/api/flows/permis/neighbourhood?node=dataset%3Aexams&depth=1", With(v));
  std::set<std::string> got;
  for (const auto& node : n["nodes"]) {
    const std::string id = node["id"];
    got.insert(id);
    int hidden = 0;
    for (const auto& nb : adj[id]) hidden += expected.count(nb) ? 0 : 1;
    EXPECT_EQ(node["more"], hidden) << id;
  }
  EXPECT_EQ(got, expected);
  EXPECT_EQ(n["nodes"][0]["id"], centre);
  EXPECT_EQ(n["total_nodes"], g["nodes"].size());
  EXPECT_FALSE(n["truncated"].get<bool>());
  for (const auto& e : n["edges"]) {
    EXPECT_TRUE(got.count(e["from"]) && got.count(e["to"])) << e.dump();
  }
  // Depth 10: every node within 10 hops (breadth first in the oracle too); a
  // limit truncates.
  std::set<std::string> component{centre};
  std::vector<std::string> ring{centre};
  for (int hop = 0; hop < 10; ++hop) {
    std::vector<std::string> next;
    for (const auto& id : ring)
      for (const auto& nb : adj[id])
        if (component.insert(nb).second) next.push_back(nb);
    ring = next;
  }
  ASSERT_GT(component.size(), expected.size());
  json all = GetJson("/api/flows/permis/neighbourhood?node=dataset%3Aexams&depth=10", With(v));
  std::set<std::string> reached;
  for (const auto& node : all["nodes"]) reached.insert(node["id"].get<std::string>());
  EXPECT_EQ(reached, component);
  json two =
      GetJson("/api/flows/permis/neighbourhood?node=dataset%3Aexams&depth=10&limit=2", With(v));
  EXPECT_EQ(two["nodes"].size(), 2u);
  EXPECT_TRUE(two["truncated"].get<bool>());
  // Errors: an unknown node, no node, a depth out of range.
  auto c = Client();
  auto unknown = c.Get("/api/flows/permis/neighbourhood?node=recipe%3Anope", With(v));
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
  auto none = c.Get("/api/flows/permis/neighbourhood", With(v));
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 400);
  auto deep = c.Get("/api/flows/permis/neighbourhood?node=dataset%3Aexams&depth=11", With(v));
  ASSERT_TRUE(deep);
  EXPECT_EQ(deep->status, 400);
}

TEST_F(WebServerTest, ColumnLineageExpandsHopByHopLikeRepeatedSingleHops) {
  const Session v = Login("vera");
  // Some column with sources two hops up: find one from the last datasets.
  json g = GetJson("/api/flows/permis", With(v));
  std::string dataset, column;
  json deep;
  for (const auto& node : g["nodes"]) {
    if (node["type"] != "dataset") continue;
    json d = GetJson("/api/datasets/" + node["name"].get<std::string>(), With(v));
    for (const auto& col : d["columns"]) {
      json l = GetJson("/api/datasets/" + node["name"].get<std::string>() + "/columns/" +
                           col["name"].get<std::string>() + "/lineage?depth=3",
                       With(v));
      int max_depth = 0;
      for (const auto& src : l["sources"]) max_depth = std::max(max_depth, src["depth"].get<int>());
      if (max_depth >= 2) {
        dataset = node["name"], column = col["name"], deep = l;
        break;
      }
    }
    if (!dataset.empty()) break;
  }
  ASSERT_FALSE(dataset.empty()) << "no column of permis has a two-hop source";
  // The oracle: single hops (depth 1, the former answer) chained by hand.
  std::set<std::pair<std::string, std::string>> seen{{dataset, column}}, expected;
  std::vector<std::pair<std::string, std::string>> frontier{{dataset, column}};
  for (int hop = 0; hop < 3; ++hop) {
    std::vector<std::pair<std::string, std::string>> next;
    for (const auto& [d, c] : frontier) {
      if (c.empty()) continue;
      json one = GetJson("/api/datasets/" + d + "/columns/" + c + "/lineage", With(v));
      for (const auto& src : one["sources"]) {
        const auto k =
            std::make_pair(src["dataset"].get<std::string>(), src["column"].get<std::string>());
        if (seen.insert(k).second) {
          expected.insert(k);
          next.push_back(k);
        }
      }
    }
    frontier = next;
  }
  std::set<std::pair<std::string, std::string>> got;
  for (const auto& src : deep["sources"]) {
    got.insert(std::make_pair(src["dataset"].get<std::string>(), src["column"].get<std::string>()));
    ASSERT_TRUE(src["via"].is_object());
    if (src["depth"] == 1) {
      EXPECT_EQ(src["via"]["dataset"], dataset);
      EXPECT_EQ(src["via"]["column"], column);
    }
  }
  EXPECT_EQ(got, expected);
  auto c = Client();
  auto bad = c.Get(("/api/datasets/" + dataset + "/columns/" + column + "/lineage?depth=0").c_str(),
                   With(v));
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
}

TEST_F(WebServerTest, ScheduleHasOneShapeOnAFlowAndOnItsUseCase) {
  const Session v = Login("vera");
  json uc = GetJson("/api/usecases/fraude-examens-permis", With(v));
  json flow = GetJson("/api/flows/permis", With(v));
  ASSERT_TRUE(flow["schedule"].is_object()) << flow["schedule"].dump();
  bool found = false;
  for (const auto& f : uc["flows"])
    if (f["name"] == "permis") {
      found = true;
      EXPECT_EQ(f["schedule"], flow["schedule"]);
    }
  EXPECT_TRUE(found);
  json hostile = GetJson("/api/usecases/hostile-uc", With(v));
  for (const auto& f : hostile["flows"]) EXPECT_TRUE(f["schedule"].is_null()) << f.dump();
}

// A run where nothing is stale records its up-to-date recipes in one catalog
// row: the API shows them as the recipe runs they were (run detail, flow graph,
// recipe history, checks, why-stale), with the metrics of their build.
TEST_F(WebServerTest, UpToDateRecipesShowAsRecipeRunsWithTheMetricsOfTheirBuild) {
  const Session v = Login("vera");
  auto noop = Cli(root_, {"run", "permis"});
  ASSERT_EQ(noop.code, 0) << noop.out << noop.err;
  ASSERT_NE(noop.out.find("12 up to date"), std::string::npos) << noop.out;
  json runs = GetJson("/api/flows/permis/runs", With(v));
  ASSERT_GE(runs["items"].size(), 2u);
  const std::string latest = runs["items"][0]["id"];
  json recipe = GetJson("/api/flows/permis/recipes/check_exams", With(v));
  const json& history = recipe["history"];
  ASSERT_GE(history.size(), 2u) << recipe.dump();
  EXPECT_EQ(history[0]["run_id"], latest);
  EXPECT_EQ(history[0]["status"], "up_to_date");
  EXPECT_EQ(history[0]["reason"], "up to date");
  std::string build;
  for (const auto& h : history)
    if (h["status"] == "succeeded" && build.empty()) build = h["run_id"];
  ASSERT_FALSE(build.empty()) << history.dump();
  std::map<std::string, json> built;
  const json build_run = GetJson("/api/runs/" + build, With(v));
  for (const auto& r : build_run["recipes"]) built[r["recipe"]] = r["metrics"];
  json run = GetJson("/api/runs/" + latest, With(v));
  ASSERT_EQ(run["recipes"].size(), 12u) << run.dump();
  for (const auto& r : run["recipes"]) {
    EXPECT_EQ(r["status"], "up_to_date") << r.dump();
    EXPECT_EQ(r["attempts"], 0);
    EXPECT_EQ(r["metrics"], built[r["recipe"]]) << r["recipe"];
  }
  ASSERT_TRUE(built["check_exams"].is_object() && !built["check_exams"].empty());
  const json graph = GetJson("/api/flows/permis", With(v));
  for (const auto& n : graph["nodes"])
    if (n["type"] == "recipe") {
      EXPECT_EQ(n["last_status"], "up_to_date") << n.dump();
    }
  json checks = GetJson("/api/datasets/exams/checks", With(v));
  ASSERT_FALSE(checks["items"].empty()) << checks.dump();
  EXPECT_EQ(checks["items"][0]["run_id"], latest);
  EXPECT_EQ(checks["items"][0]["recipe"], "check_exams");
  EXPECT_EQ(checks["items"][0]["status"], "up_to_date");
  EXPECT_EQ(checks["items"][0]["metrics"], built["check_exams"]);
  // Paged one by one, the same items.
  json paged = json::array();
  std::string cursor;
  for (int i = 0; i < 50; ++i) {
    json p =
        GetJson("/api/datasets/exams/checks?limit=1" + (cursor.empty() ? "" : "&cursor=" + cursor),
                With(v));
    for (const auto& item : p["items"]) paged.push_back(item);
    if (p["next_cursor"].is_null()) break;
    cursor = p["next_cursor"];
  }
  EXPECT_EQ(paged, checks["items"]);
  json why = GetJson("/api/datasets/exams/why-stale", With(v));
  EXPECT_EQ(why["state"], "fresh") << why.dump();
  EXPECT_TRUE(why["failed_upstream"].empty()) << why.dump();
}

// `alambic serve` on the permis example without its pseudonymisation key:
// the server starts, the flow says why it cannot be planned, the other flow
// of the workspace is fine.
TEST(WebUnplannableTest, ServerStartsAndShowsTheFlowThatCannotBePlanned) {
  testing::TempDir dir;
  const fs::path root = dir.path() / "permis";
  fs::copy(fs::path(ALAMBIC_SOURCE_DIR) / "examples/permis", root, fs::copy_options::recursive);
  fs::create_directories(root / ".alambic");
  fs::remove(root / ".alambic/pseudo_key");
  WriteFile(root / "flows/plain.yaml",
            "flow: plain\nusecase: fraude-examens-permis\nrecipes:\n"
            "  - name: collect_plain\n    kind: collect\n    outputs: [plain_rows]\n"
            "    params: {path: data/centres.csv, format: csv, delimiter: \";\"}\n");
  ASSERT_TRUE(InitInstallSecret(root).ok());
  auto secret = LoadInstallSecret(root);
  ASSERT_TRUE(secret.ok());
  auto users = UserStore::Open(root / ".alambic/catalog.db", *secret);
  ASSERT_TRUE(users.ok()) << users.status().message();
  ASSERT_TRUE((*users)->AddUser("vera", Role::kViewer, kPassword).ok());
  ServerOptions o;
  o.threads = 4;
  auto running = Start(root, o, UiConfig{}, *secret);
  ASSERT_NE(running, nullptr);
  httplib::Client c("127.0.0.1", running->server->port());
  auto login = c.Post("/api/login", json{{"user", "vera"}, {"password", kPassword}}.dump(),
                      "application/json");
  ASSERT_TRUE(login);
  ASSERT_EQ(login->status, 200) << login->body;
  const std::string set = login->get_header_value("Set-Cookie");
  httplib::Headers h{{"Cookie", set.substr(0, set.find(';'))}};
  auto flow = c.Get("/api/flows/permis", h);
  ASSERT_TRUE(flow);
  ASSERT_EQ(flow->status, 200) << flow->body;
  json f = json::parse(flow->body);
  ASSERT_TRUE(f["plan_error"].is_string()) << flow->body;
  EXPECT_NE(f["plan_error"].get<std::string>().find("pseudo_key"), std::string::npos)
      << f["plan_error"];
  for (const auto& n : f["nodes"])
    if (n["type"] == "dataset" && !n.contains("external")) {
      EXPECT_EQ(n["freshness"]["state"], "unplannable") << n.dump();
    }
  auto plain = c.Get("/api/flows/plain", h);
  ASSERT_TRUE(plain);
  ASSERT_EQ(plain->status, 200);
  json p = json::parse(plain->body);
  EXPECT_TRUE(p["plan_error"].is_null()) << plain->body;
  for (const auto& n : p["nodes"]) {
    if (n["type"] == "dataset") {
      EXPECT_EQ(n["freshness"]["state"], "never_built") << n.dump();
    }
  }
  // The home page tells the use case has a flow that cannot be planned.
  auto home = c.Get("/api/usecases", h);
  ASSERT_TRUE(home);
  json hj = json::parse(home->body);
  ASSERT_EQ(hj["items"].size(), 1u);
  EXPECT_EQ(hj["items"][0]["freshness"]["state"], "unplannable");
}

// KPI points over time come from the card's committed versions and the card
// as it is now.
TEST(WebKpiTest, KpiSeriesComesFromTheCardHistoryInGit) {
  testing::TempDir dir;
  const fs::path root = dir.path() / "ws";
  fs::create_directories(root / "usecases");
  fs::create_directories(root / "flows");
  WriteFile(root / "alambic.yaml", "name: kpis\n");
  auto card = [&](const std::string& kpis) {
    WriteFile(root / "usecases/k.yaml",
              "usecase: k\ntitle: KPIs\nowner: o\nstatus: poc\ndescription: d\n"
              "benefits:\n  kpis:\n" +
                  kpis);
  };
  auto git = [&](const std::string& args) {
    const std::string cmd = "cd '" + root.string() +
                            "' && git -c user.name=t -c user.email=t@example.org "
                            "-c commit.gpgsign=false " +
                            args + " >/dev/null 2>&1";
    return std::system(cmd.c_str());
  };
  ASSERT_EQ(git("init -q"), 0);
  card("    - {name: delay, unit: d, expected: 5, measured: 10, date: 2026-01-31}\n");
  ASSERT_EQ(git("add -A && git -c user.name=t -c user.email=t@example.org commit -qm one"), 0);
  card("    - {name: delay, unit: d, expected: 5, measured: 8, date: 2026-02-28}\n");
  ASSERT_EQ(git("commit -qam two"), 0);
  // The same date measured again: the later commit wins.
  card("    - {name: delay, unit: d, expected: 5, measured: 7.5, date: 2026-02-28}\n");
  ASSERT_EQ(git("commit -qam three"), 0);
  // Not committed yet: still shown.
  card("    - {name: delay, unit: d, expected: 5, measured: 6, date: 2026-03-31}\n");
  auto views = CatalogViews::Open(root);
  ASSERT_TRUE(views.ok()) << views.status().message();
  auto uc = (*views)->UseCase("k");
  ASSERT_TRUE(uc.ok()) << uc.status().message();
  ASSERT_EQ((*uc)["kpis"].size(), 1u);
  const json& points = (*uc)["kpis"][0]["points"];
  ASSERT_EQ(points.size(), 3u) << points.dump();
  EXPECT_EQ(points[0]["date"], "2026-01-31");
  EXPECT_EQ(points[0]["measured"], 10.0);
  EXPECT_EQ(points[1]["date"], "2026-02-28");
  EXPECT_EQ(points[1]["measured"], 7.5);
  EXPECT_EQ(points[2]["date"], "2026-03-31");
  EXPECT_EQ(points[2]["measured"], 6.0);
  EXPECT_EQ(points[2]["git_commit"], "");
  EXPECT_EQ(points[0]["git_commit"].get<std::string>().size(), 40u);
}

TEST(WebSecretTest, StartupRefusesAMissingOrUnsafeSecret) {
  testing::TempDir dir;
  ::unsetenv(kSecretEnv);
  auto missing = LoadInstallSecret(dir.path());
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("alambic secret init"), std::string::npos);
  auto made = InitInstallSecret(dir.path());
  ASSERT_TRUE(made.ok()) << made.status().message();
  struct stat st {};
  ASSERT_EQ(::stat(made->c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_TRUE(LoadInstallSecret(dir.path()).ok());
  ::chmod(made->c_str(), 0644);
  auto unsafe = LoadInstallSecret(dir.path());
  ASSERT_FALSE(unsafe.ok());
  EXPECT_NE(unsafe.status().message().find("chmod 600"), std::string::npos);
}

TEST(WebUsersTest, PasswordsAreArgon2idAndTheCliReadsThemFromStdin) {
  testing::TempDir dir;
  WriteFile(dir.path() / "alambic.yaml", "name: t\n");
  ASSERT_EQ(Cli(dir.path(), {"secret", "init"}).code, 0);
  // The password comes from stdin, never from the command line.
  const std::string cmd = "cd " + testing::ShellQuote(dir.path().string()) +
                          " && printf 'pa55 word\\n' | " + testing::ShellQuote(ALAMBIC_BINARY) +
                          " user add alice --role engineer";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  SQLite::Database db((dir.path() / ".alambic/catalog.db").string(), SQLite::OPEN_READONLY);
  SQLite::Statement q(db, "SELECT role, password_hash FROM web_users WHERE name = 'alice'");
  ASSERT_TRUE(q.executeStep());
  EXPECT_EQ(q.getColumn(0).getString(), "engineer");
  EXPECT_EQ(q.getColumn(1).getString().rfind("$argon2id$", 0), 0u);
  EXPECT_EQ(q.getColumn(1).getString().find("pa55"), std::string::npos);
  auto secret = LoadInstallSecret(dir.path());
  ASSERT_TRUE(secret.ok());
  auto users = UserStore::Open(dir.path() / ".alambic/catalog.db", *secret);
  ASSERT_TRUE(users.ok());
  auto good = (*users)->Authenticate("alice", "pa55 word");
  ASSERT_TRUE(good.ok());
  EXPECT_TRUE(good->has_value());
  auto bad = (*users)->Authenticate("alice", "pa55 words");
  ASSERT_TRUE(bad.ok());
  EXPECT_FALSE(bad->has_value());
  auto list = Cli(dir.path(), {"user", "list"});
  EXPECT_NE(list.out.find("alice"), std::string::npos);
  EXPECT_NE(Cli(dir.path(), {"user", "role", "alice", "root"}).code, 0);
}

}  // namespace
}  // namespace alambic::web_server_test
