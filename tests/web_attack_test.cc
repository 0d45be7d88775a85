// The web server under attack (docs/reliability.md), over real HTTP on loopback, on a
// workspace of two use cases: what tests/web_server_test.cc does not already cover. A token
// scoped to one use case on every route of the other; a wrong or another session's CSRF
// token on every state-changing route; a hostile column name; double-encoded and backslash
// path traversal on static files and logs; oversized headers and URI; slow clients that
// stall half way through a request, and slowloris clients that trickle a header line just
// before each read timeout, while others are served; login brute force spread over many
// user names from one address.
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cstdio>
#include <map>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "services/users.h"
#include "tests/test_util.h"
#include "tests/web_test_server.h"
#include "ui/web/server.h"

namespace alambic::web_attack_test {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using testing::Cli;
using testing::WriteFile;

constexpr const char* kPassword = "correct horse battery staple";
const std::string kHostileColumn = "<svg onload=alert(1)>\"\x1B[2J\xE2\x80\xA8";

using Served = testing::RunningServer;
using Session = testing::WebSession;

std::unique_ptr<Served> Serve(const fs::path& root, ServerOptions o, const std::string& secret) {
  return testing::StartServer(root, std::move(o), UiConfig{}, secret);
}

int Connect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Every byte but [A-Za-z0-9] as %XX.
std::string PercentEncoded(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c)) {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

class WebAttackTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    base_ = fs::temp_directory_path() / ("alambic_web_attack_" + std::to_string(::getpid()));
    fs::remove_all(base_);
    root_ = base_ / "ws";
    fs::create_directories(root_ / "flows");
    fs::create_directories(root_ / "usecases");
    fs::create_directories(root_ / "data");
    WriteFile(root_ / "alambic.yaml", "name: attack\n");
    for (const char* uc : {"mine", "theirs"})
      WriteFile(root_ / "usecases" / (std::string(uc) + ".yaml"),
                std::string("usecase: ") + uc + "\ntitle: " + uc +
                    "\nowner: o\ndirection: DSR\nstatus: idea\ndescription: x\n");
    // The hostile column name, its quote doubled in the CSV header.
    std::string quoted = kHostileColumn;
    quoted.replace(quoted.find('"'), 1, "\"\"");
    WriteFile(root_ / "data/t.csv", "id,\"" + quoted + "\"\n1,a\n2,b\n");
    for (const char* uc : {"mine", "theirs"})
      WriteFile(root_ / "flows" / (std::string(uc) + ".yaml"),
                std::string("flow: ") + uc + "\nusecase: " + uc + "\nrecipes:\n  - name: collect_" +
                    uc + "\n    kind: collect\n    outputs: [" + uc +
                    "_rows]\n    params: {path: data/t.csv, format: csv}\n");
    for (const char* flow : {"mine", "theirs"}) {
      auto run = Cli(root_, {"run", flow});
      ASSERT_EQ(run.code, 0) << run.out << run.err;
    }
    ASSERT_TRUE(InitInstallSecret(root_).ok());
    auto secret = LoadInstallSecret(root_);
    ASSERT_TRUE(secret.ok());
    secret_ = *secret;
    auto users = UserStore::Open(root_ / ".alambic/catalog.db", secret_);
    ASSERT_TRUE(users.ok());
    ASSERT_TRUE((*users)->AddUser("ada", Role::kAdmin, kPassword).ok());
    ASSERT_TRUE((*users)->AddUser("eric", Role::kEngineer, kPassword).ok());
    auto st = (*users)->AddToken("ada", "scoped", Role::kAdmin, {"mine"});
    ASSERT_TRUE(st.ok());
    scoped_token_ = st->secret;
    dist_ = base_ / "dist";
    fs::create_directories(dist_ / "assets");
    WriteFile(dist_ / "index.html", "<!doctype html><title>Alambic</title>");
    WriteFile(dist_ / "assets/app.js", "console.log(1)");
    WriteFile(base_ / "outside.txt", "SECRET-OUTSIDE");
    ServerOptions o;
    o.static_dir = dist_;
    o.threads = 4;
    o.queue = 16;
    o.read_timeout = std::chrono::milliseconds(500);
    server_ = Serve(root_, o, secret_).release();
    ASSERT_NE(server_, nullptr);
    // The run of the other use case, for /api/runs/{id}.
    auto c = Client();
    auto runs = c.Get("/api/flows/theirs/runs?limit=1", {{"Authorization", "Bearer " + Admin()}});
    ASSERT_TRUE(runs);
    their_run_ = json::parse(runs->body)["items"][0]["id"];
  }

  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    std::error_code ec;
    fs::remove_all(base_, ec);
  }

  static std::string Admin() {
    static std::string token = [] {
      auto users = UserStore::Open(root_ / ".alambic/catalog.db", secret_);
      return (*users)->AddToken("ada", "all", Role::kAdmin, {})->secret;
    }();
    return token;
  }

  static httplib::Client Client() {
    httplib::Client c("127.0.0.1", server_->port());
    c.set_read_timeout(10, 0);
    return c;
  }

  static Session Login(const std::string& user) {
    auto res = Client().Post("/api/login", json{{"user", user}, {"password", kPassword}}.dump(),
                             "application/json");
    EXPECT_TRUE(res && res->status == 200);
    if (!res) return {};
    Session s;
    const std::string set = res->get_header_value("Set-Cookie");
    s.cookie = set.substr(0, set.find(';'));
    s.csrf = json::parse(res->body)["csrf_token"];
    return s;
  }

  // The pattern with the other use case's names in it.
  static std::string TheirPath(std::string p) {
    const std::map<std::string, std::string> values = {
        {"{id}", p.find("/runs/") != std::string::npos     ? their_run_
                 : p.find("/tokens/") != std::string::npos ? "tok_nothing"
                                                           : "theirs"},
        {"{flow}", "theirs"},
        {"{recipe}", "collect_theirs"},
        {"{dataset}", "theirs_rows"},
        {"{column}", "id"}};
    for (const auto& [k, v] : values)
      for (size_t pos; (pos = p.find(k)) != std::string::npos;) p.replace(pos, k.size(), v);
    return p;
  }

  static httplib::Result Send(const std::string& method, const std::string& path,
                              const httplib::Headers& h) {
    auto c = Client();
    if (method == "GET") return c.Get(path.c_str(), h);
    if (method == "DELETE") return c.Delete(path.c_str(), h);
    return c.Post(path.c_str(), h, "{}", "application/json");
  }

  static inline fs::path base_, root_, dist_;
  static inline std::string secret_, scoped_token_, their_run_;
  static inline Served* server_ = nullptr;
};

// A token of an admin scoped to "mine": every route naming the other use case's flow,
// dataset, run or use case is refused, and no listing shows it.
TEST_F(WebAttackTest, ATokenScopedToAnotherUseCaseReachesNothingOfItOnAnyRoute) {
  const httplib::Headers h{{"Authorization", "Bearer " + scoped_token_}};
  int named = 0;
  for (const auto& r : ApiRoutes()) {
    if (r.pattern == "/api/login" || r.pattern == "/api/logout") continue;
    const std::string path = TheirPath(r.pattern);
    SCOPED_TRACE(r.method + " " + path);
    auto res = Send(r.method, path, h);
    ASSERT_TRUE(res);
    const bool names_theirs =
        path.find("theirs") != std::string::npos || path.find(their_run_) != std::string::npos;
    if (names_theirs) {
      ++named;
      EXPECT_EQ(res->status, 403) << res->body;
    } else {
      EXPECT_EQ(res->body.find("theirs"), std::string::npos) << res->body;
    }
  }
  EXPECT_GE(named, 15);
  // Its own use case is reachable (the scope is not a blanket refusal).
  EXPECT_EQ(Client().Get("/api/flows/mine", h)->status, 200);
  EXPECT_EQ(Client().Get("/api/datasets/mine_rows/preview", h)->status, 200);
}

// Every state-changing route, by an admin's session: no CSRF token, a wrong one and the
// token of another session of the same user are all refused (403 csrf) before the handler.
TEST_F(WebAttackTest, EveryStateChangingRouteRefusesAMissingWrongOrForeignCsrfToken) {
  const Session s = Login("ada"), other = Login("ada");
  int routes = 0;
  for (const auto& r : ApiRoutes()) {
    if (r.method == "GET" || !r.min_role) continue;
    ++routes;
    const std::string path = TheirPath(r.pattern);
    for (const std::string& token : {std::string(), std::string(s.csrf.size(), '0'),
                                     s.csrf.substr(0, s.csrf.size() - 1), other.csrf}) {
      SCOPED_TRACE(r.method + " " + path + " csrf '" + token + "'");
      httplib::Headers h{{"Cookie", s.cookie}};
      if (!token.empty()) h.emplace("X-CSRF-Token", token);
      auto res = Send(r.method, path, h);
      ASSERT_TRUE(res);
      EXPECT_EQ(res->status, 403) << res->body;
      auto b = json::parse(res->body, nullptr, false);
      EXPECT_EQ(b.value("/error/code"_json_pointer, std::string()), "csrf") << res->body;
    }
  }
  EXPECT_GE(routes, 6);
  // The session still works, and so does the right token (nothing was logged out).
  auto me = Client().Get("/api/me", {{"Cookie", s.cookie}});
  ASSERT_TRUE(me);
  EXPECT_EQ(me->status, 200);
}

// A column name with markup, a quote, U+2028 and a terminal escape comes back as the exact
// JSON string in every view that names columns, in JSON answers (nosniff), never raw.
TEST_F(WebAttackTest, AHostileColumnNameComesBackAsAnExactJsonString) {
  const httplib::Headers h{{"Authorization", "Bearer " + Admin()}};
  const std::string& expected = kHostileColumn;
  for (const char* path : {"/api/datasets/mine_rows", "/api/datasets/mine_rows/preview",
                           "/api/datasets/mine_rows/stats"}) {
    SCOPED_TRACE(path);
    auto res = Client().Get(path, h);
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
    EXPECT_EQ(res->get_header_value("X-Content-Type-Options"), "nosniff");
    EXPECT_EQ(res->body.find('\x1B'), std::string::npos) << "a raw terminal escape went out";
    EXPECT_NE(res->body.find(json(expected).dump()), std::string::npos)
        << "the column name is not in the answer as its exact JSON string: " << res->body;
  }
  // The column's own lineage route takes the hostile name, percent-encoded.
  auto lin = Client().Get(
      ("/api/datasets/mine_rows/columns/" + PercentEncoded(expected) + "/lineage").c_str(), h);
  ASSERT_TRUE(lin);
  EXPECT_EQ(lin->body.find('\x1B'), std::string::npos);
  EXPECT_TRUE(json::accept(lin->body)) << lin->body;
}

// Traversal beyond what web_server_test tries: double-encoded dots and slashes, encoded and
// raw backslashes, on the static files and on the log route.
TEST_F(WebAttackTest, DoubleEncodedAndBackslashTraversalServesNothingOutside) {
  for (const char* bad :
       {"/assets/%252e%252e/%252e%252e/outside.txt", "/%252e%252e%252foutside.txt",
        "/assets/..%5c..%5coutside.txt", "/assets/%5c..%5c..%5coutside.txt",
        "/assets/%2e%2e%5c%2e%2e%5coutside.txt", "/assets/....//....//outside.txt",
        "/assets/%c0%ae%c0%ae/%c0%ae%c0%ae/outside.txt", "/..;/outside.txt"}) {
    auto r = Client().Get(bad);
    if (!r) continue;  // the client refused to send it: nothing was served
    EXPECT_EQ(r->body.find("SECRET-OUTSIDE"), std::string::npos) << bad;
    // What is served is the SPA's index or an error, never a file outside dist.
    if (r->status == 200) {
      EXPECT_NE(r->body.find("<title>Alambic</title>"), std::string::npos) << bad;
    }
  }
  const httplib::Headers h{{"Authorization", "Bearer " + Admin()}};
  for (const char* recipe :
       {"%252e%252e%252f%252e%252e%252fetc%252fpasswd", "..%5c..%5cetc", "..\\..\\etc\\passwd",
        "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "collect_theirs%00.log"}) {
    auto r = Client().Get(("/api/runs/" + their_run_ + "/logs?recipe=" + recipe).c_str(), h);
    ASSERT_TRUE(r);
    // Refused, or read as a recipe name that matches nothing: never a file's lines.
    if (r->status == 200) {
      EXPECT_TRUE(json::parse(r->body)["items"].empty()) << recipe << ": " << r->body;
    } else {
      EXPECT_EQ(r->status, 400) << recipe << ": " << r->body;
    }
    EXPECT_EQ(r->body.find("root:"), std::string::npos) << recipe;
  }
}

// Headers and a URI over the limits are refused (4xx), and the server keeps serving.
TEST_F(WebAttackTest, OversizedHeadersAndUriAreRefusedAndTheServerKeepsServing) {
  auto c = Client();
  auto huge_header = c.Get("/api/config", {{"X-Big", std::string(64 * 1024, 'a')}});
  if (huge_header) {
    EXPECT_GE(huge_header->status, 400) << "a 64 KiB header line was accepted";
    EXPECT_LT(huge_header->status, 500);
  }
  httplib::Headers many;
  for (int i = 0; i < 2000; ++i) many.emplace("X-H" + std::to_string(i), std::string(30, 'b'));
  auto many_headers = Client().Get("/api/config", many);
  ASSERT_TRUE(many_headers);
  EXPECT_EQ(many_headers->status, 431) << "2000 headers (72 KiB) were accepted";
  EXPECT_TRUE(json::accept(many_headers->body)) << many_headers->body;
  // What a browser or a proxy sends passes.
  httplib::Headers usual;
  for (int i = 0; i < 40; ++i) usual.emplace("X-H" + std::to_string(i), std::string(100, 'b'));
  auto usual_headers = Client().Get("/api/config", usual);
  ASSERT_TRUE(usual_headers);
  EXPECT_EQ(usual_headers->status, 200);
  auto long_uri = Client().Get(("/api/search?q=" + std::string(20000, 'x')).c_str(),
                               {{"Authorization", "Bearer " + Admin()}});
  if (long_uri) {
    EXPECT_EQ(long_uri->status, 414);
  }
  auto after = Client().Get("/api/config");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 200);
}

// Slowloris: more clients than workers, each sending half a request and stalling. Each is
// cut off after the read timeout (closed, or a 4xx then closed), and a normal client is
// answered meanwhile, within a few read timeouts.
TEST_F(WebAttackTest, SlowlorisClientsAreCutOffWhileOthersAreServed) {
  const std::string partial = "GET /api/config HTTP/1.1\r\nHost: x\r\nX-Pad: ";
  constexpr int kSlow = 6;  // more than the 4 workers
  std::atomic<int> cut{0}, served{0};
  std::vector<std::thread> slow;
  for (int i = 0; i < kSlow; ++i)
    slow.emplace_back([&] {
      int fd = Connect(server_->port());
      if (fd < 0) return;
      if (::send(fd, partial.data(), partial.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(partial.size())) {
        timeval tv{8, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        char buf[512];
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n == 0 ||
            (n > 0 && std::string(buf, static_cast<size_t>(n)).rfind("HTTP/1.1 4", 0) == 0))
          ++cut;
        if (n > 0 &&
            std::string(buf, static_cast<size_t>(n)).find("\"theme\"") != std::string::npos)
          ++served;
      }
      ::close(fd);
    });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto t0 = std::chrono::steady_clock::now();
  httplib::Client c("127.0.0.1", server_->port());
  c.set_read_timeout(8, 0);
  c.set_connection_timeout(8, 0);
  auto r = c.Get("/api/config");
  const auto waited = std::chrono::steady_clock::now() - t0;
  for (auto& t : slow) t.join();
  ASSERT_TRUE(r) << "a normal request got no answer while slow clients held the workers";
  EXPECT_EQ(r->status, 200);
  // Read timeout 500 ms: at worst the normal request waits for two rounds of stalled clients.
  EXPECT_LT(waited, std::chrono::seconds(4));
  EXPECT_EQ(cut.load(), kSlow) << "stalled clients were not cut off";
  EXPECT_EQ(served.load(), 0) << "half a request was answered as a whole one";
}

// Slowloris proper: more clients than workers, each sending a header line just before each
// read timeout, for as long as the server lets it. The request deadline cuts each off (its
// connection closed, or a 400 then closed) soon after it, while it is still sending, and a
// normal client is answered meanwhile. Without the deadline they hold every worker for
// ever. A server of its own: 2 workers, read timeout 600 ms, request deadline 1.2 s.
TEST_F(WebAttackTest, SlowlorisTricklingHeadersIsCutOffAtTheRequestDeadline) {
  ServerOptions o;
  o.threads = 2;
  o.queue = 8;
  o.read_timeout = std::chrono::milliseconds(600);
  o.request_timeout = std::chrono::milliseconds(1200);
  auto server = Serve(root_, o, secret_);
  ASSERT_NE(server, nullptr);
  constexpr int kSlow = 4;  // twice the workers
  // Each slow client trickles a header line every 300 ms (half the read timeout) for up to
  // 5 s, and records how long the server let it.
  const auto give_up = std::chrono::seconds(5);
  std::atomic<int> cut{0}, served{0};
  std::vector<double> held(kSlow, 0);
  std::vector<std::thread> slow;
  for (int i = 0; i < kSlow; ++i)
    slow.emplace_back([&, i] {
      int fd = Connect(server->port());
      if (fd < 0) return;
      const auto t0 = std::chrono::steady_clock::now();
      std::string line = "GET /api/config HTTP/1.1\r\nHost: x\r\n";
      bool open = true;
      while (open && std::chrono::steady_clock::now() - t0 < give_up) {
        if (::send(fd, line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size()))
          break;
        line = "X-Pad-" + std::to_string(i) + ": a\r\n";
        // Wait 300 ms for what the server says, if anything (a close or an answer).
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 300) > 0) open = false;
      }
      held[static_cast<size_t>(i)] =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      char buf[512];
      timeval tv{1, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      const std::string got = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
      if (!open && (n == 0 || got.rfind("HTTP/1.1 4", 0) == 0)) ++cut;
      if (got.find("\"theme\"") != std::string::npos) ++served;
      ::close(fd);
    });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const auto t0 = std::chrono::steady_clock::now();
  httplib::Client c("127.0.0.1", server->port());
  c.set_read_timeout(8, 0);
  c.set_connection_timeout(8, 0);
  auto r = c.Get("/api/config");
  const double waited =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (auto& t : slow) t.join();
  ASSERT_TRUE(r) << "a normal request got no answer while slowloris clients held the workers";
  EXPECT_EQ(r->status, 200);
  // Two rounds of slow clients at most (4 of them on 2 workers), 1.2 s each, plus a margin.
  EXPECT_LT(waited, 4.0) << "the normal request waited for the slowloris clients";
  EXPECT_EQ(cut.load(), kSlow) << "slowloris clients were not cut off";
  EXPECT_EQ(served.load(), 0) << "a request without its end was answered";
  for (int i = 0; i < kSlow; ++i)
    EXPECT_LT(held[static_cast<size_t>(i)], 4.0) << "slow client " << i << " was held that long";
}

// Brute force spread over many user names from one address: the per-address limit answers
// 429 (with Retry-After) once reached, even for a right password.
TEST_F(WebAttackTest, LoginBruteForceOverManyNamesIsLimitedPerAddress) {
  ServerOptions o;
  o.login_failures_per_user = 100;
  o.login_failures_per_address = 5;
  auto s = Serve(root_, o, secret_);
  ASSERT_NE(s, nullptr);
  httplib::Client c("127.0.0.1", s->port());
  for (int i = 0; i < 5; ++i) {
    auto r =
        c.Post("/api/login", json{{"user", "guess" + std::to_string(i)}, {"password", "x"}}.dump(),
               "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401);
  }
  auto r = c.Post("/api/login", json{{"user", "eric"}, {"password", kPassword}}.dump(),
                  "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 429);
  EXPECT_FALSE(r->get_header_value("Retry-After").empty());
  EXPECT_TRUE(r->get_header_value("Set-Cookie").empty());
}

}  // namespace
}  // namespace alambic::web_attack_test
