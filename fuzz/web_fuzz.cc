// The web server's request path (ui/web/server.h): a request as cpp-httplib hands it over
// (method, raw target, headers, body) through authentication, the route table, the CSRF
// check, the JSON API handlers and the static files, without a socket. The workspace is a
// copy of the permis example with an admin, its session and tokens of each role. Invariants:
// no exception, never a 5xx, an API answer is JSON.
//
// Input: a byte choosing the credentials, then "METHOD\nTARGET\n", header lines
// "Name: value\n" up to an empty line, and the body.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <set>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "fuzz/fuzz_target.h"
#include "services/users.h"
#include "ui/web/server.h"

namespace {

namespace fs = std::filesystem;
using namespace alambic;

struct Fixture {
  fs::path root;
  std::unique_ptr<WebServer> server;
  std::string viewer_token, scoped_token, admin_token, session, csrf;
};

Fixture* Make() {
  auto* f = new Fixture();
  f->root = fs::temp_directory_path() / ("alambic_fuzz_web_" + std::to_string(::getpid()));
  fs::remove_all(f->root);
  static fs::path cleanup = f->root;
  std::atexit([] {
    std::error_code ec;
    fs::remove_all(cleanup, ec);
  });
  fs::copy(fs::path(ALAMBIC_SOURCE_DIR) / "examples/permis", f->root, fs::copy_options::recursive);
  fs::create_directories(f->root / ".alambic");
  // The example's pseudonymisation key (a secret file, mode 0600).
  std::ofstream(f->root / ".alambic/pseudo_key") << std::string(64, 'a');
  fs::permissions(f->root / ".alambic/pseudo_key", fs::perms::owner_read | fs::perms::owner_write);
  fs::create_directories(f->root / "dist/assets");
  std::ofstream(f->root / "dist/index.html") << "<!doctype html><title>Alambic</title>";
  std::ofstream(f->root / "dist/assets/app.js") << "console.log(1)";
  FUZZ_CHECK(InitInstallSecret(f->root).ok(), "secret");
  auto secret = LoadInstallSecret(f->root);
  FUZZ_CHECK(secret.ok(), secret.status().message());
  auto users = UserStore::Open(f->root / ".alambic/catalog.db", *secret);
  FUZZ_CHECK(users.ok(), users.status().message());
  // One user (each password hash costs a second under the sanitizers); tokens of each role.
  FUZZ_CHECK((*users)->AddUser("ada", Role::kAdmin, "correct horse battery").ok(), "user");
  f->viewer_token = (*users)->AddToken("ada", "v", Role::kViewer, {})->secret;
  f->scoped_token = (*users)->AddToken("ada", "s", Role::kEngineer, {"other-usecase"})->secret;
  f->admin_token = (*users)->AddToken("ada", "a", Role::kAdmin, {})->secret;
  auto session = (*users)->CreateSession("ada", "127.0.0.1", std::chrono::hours(1000));
  FUZZ_CHECK(session.ok(), session.status().message());
  f->session = session->first;
  f->csrf = session->second.csrf;
  ServerOptions o;
  o.static_dir = f->root / "dist";
  // Few failed logins before the limiter answers without hashing a password.
  o.login_failures_per_user = 1;
  o.login_failures_per_address = 1;
  auto s = WebServer::Create(f->root, o, UiConfig{}, *secret);
  FUZZ_CHECK(s.ok(), s.status().message());
  f->server = std::move(*s);
  return f;
}

}  // namespace

ALAMBIC_FUZZ_TARGET(web) {
  static Fixture* f = Make();
  fuzz::Input in(data, size);
  const uint8_t who = in.Byte();
  httplib::Request req;
  req.method = in.Until('\n');
  req.target = in.Until('\n');
  const std::string rest = in.Rest();
  size_t pos = 0;
  while (pos < rest.size()) {
    size_t end = rest.find('\n', pos);
    if (end == std::string::npos) end = rest.size();
    const std::string line = rest.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty()) break;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    req.headers.emplace(
        line.substr(0, colon),
        line.substr(colon + 1 + (line.size() > colon + 1 && line[colon + 1] == ' ')));
  }
  if (pos < rest.size()) req.body = rest.substr(pos);
  const bool read_only = req.method == "GET" || req.method == "HEAD";
  // What cpp-httplib would refuse before routing: an unknown method, a target that is not
  // a path.
  static const std::set<std::string> kMethods = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"};
  if (!kMethods.count(req.method) || req.target.empty() || req.target[0] != '/') return 0;
  const size_t q = req.target.find('?');
  req.path = httplib::detail::decode_url(req.target.substr(0, q), false);
  if (q != std::string::npos)
    httplib::detail::parse_query_text(req.target.substr(q + 1), req.params);
  req.remote_addr = "127.0.0.1";
  req.version = "HTTP/1.1";
  switch (who % 6) {
    case 0:
      break;  // no credentials
    case 1:
      req.headers.emplace("Authorization", "Bearer " + f->viewer_token);
      break;
    case 2:  // engineer, scoped to another use case; GETs only (a POST could start a run)
      if (read_only) req.headers.emplace("Authorization", "Bearer " + f->scoped_token);
      break;
    case 3:
      if (read_only) req.headers.emplace("Authorization", "Bearer " + f->admin_token);
      break;
    case 4:  // an admin's session, with its CSRF token
      req.headers.emplace("Cookie", "alambic_session=" + f->session);
      req.headers.emplace("X-CSRF-Token", f->csrf);
      break;
    default:
      break;  // only the input's own headers
  }
  // Logging out would end the fixture's session for every later input, and a run started
  // would outlive the input.
  if (req.path.find("logout") != std::string::npos ||
      req.path.find("password") != std::string::npos ||
      (!read_only && req.path.find("runs") != std::string::npos))
    return 0;
  httplib::Response res;
  try {
    f->server->HandleParsed(req, res);
  } catch (const std::exception& e) {
    FUZZ_CHECK(false, std::string("exception: ") + e.what());
  }
  const std::string what = req.method + " " + req.target + " -> " + std::to_string(res.status) +
                           " " + res.body.substr(0, 200);
  FUZZ_CHECK(res.status == -1 || (res.status >= 200 && res.status < 500), what);
  const bool api = req.path == "/api" || req.path.rfind("/api/", 0) == 0;
  if (api && !res.body.empty()) FUZZ_CHECK(nlohmann::json::accept(res.body), what);
  return 0;
}
