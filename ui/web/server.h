// `alambic serve`: the web UI's HTTP server (cpp-httplib): the JSON API of
// docs/api.md over the services (services/catalog_views.h, services/users.h),
// and the static files of the UI bundle.
//
// Every API route is declared once in the route table (routes.cc: method,
// pattern, least role, handler); the server authenticates each request
// (session cookie, bearer token, or the trusted SSO header from a configured
// proxy), checks the role and the CSRF token centrally, then calls the
// handler. Answers are JSON built with nlohmann (escaped by construction);
// errors never carry a stack, SQL or a path.
//
// Limits (cpp-httplib 0.11 has few of its own): request body, header and
// URI sizes, read/write and keep-alive timeouts, a deadline to read each
// request (cpp-httplib's connection loop is replaced by one that sets it), a
// fixed worker pool whose queue of accepted connections is bounded (the accept
// loop waits when it is full, so the kernel's listen backlog holds the rest).
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/base/status.h"
#include "services/users.h"

namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace alambic {

// `ui:` in alambic.yaml.
struct TrustedHeaderConfig {
  std::string user_header = "X-Remote-User";
  std::string groups_header = "X-Remote-Groups";
  std::vector<std::string> proxies;         // addresses the headers are accepted from
  std::map<std::string, Role> group_roles;  // group -> role (the highest wins)
};

struct UiConfig {
  std::string theme = "default";  // default | dsfr
  bool behind_tls = false;        // `tls: true`: cookies are Secure
  std::optional<TrustedHeaderConfig> trusted_header;
};

// Reads the `ui:` section of <root>/alambic.yaml (none: the defaults).
// Invalid, naming the key, for an unknown key or a bad value.
Result<UiConfig> LoadUiConfig(const std::filesystem::path& root);

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port (see WebServer::port())
  // The UI bundle (index.html and its assets); "" or missing: no UI, the API works.
  std::filesystem::path static_dir;
  // The DSFR assets, served under /dsfr/ when the theme is dsfr ("" : static_dir/dsfr).
  std::filesystem::path dsfr_dir;
  bool tls_proxy = false;  // behind a TLS reverse proxy: Secure cookies
  // Workers: cpp-httplib keeps one busy per open (keep-alive) connection, so
  // more workers than the connections expected at once.
  int threads = 64;
  int queue = 64;  // accepted connections waiting for a worker
  std::chrono::milliseconds read_timeout{5000}, write_timeout{5000};
  // Time to read a whole request (its line, headers and body) from its first
  // byte; past it the connection is closed. Bounds a client that sends a byte
  // just before each read timeout (slowloris): the read timeout bounds each read only.
  std::chrono::milliseconds request_timeout{20000};
  std::chrono::seconds keep_alive_timeout{5};
  int keep_alive_max = 100;     // requests per connection
  size_t max_body = 64 * 1024;  // bytes of a request body
  std::chrono::seconds session_ttl{12 * 3600};
  // Failed logins allowed per user and per address within the window.
  int login_failures_per_user = 5, login_failures_per_address = 20;
  std::chrono::seconds login_window{15 * 60};
  // Called with one line per notable event (startup, refused requests, errors).
  std::function<void(const std::string&)> log;
};

// One entry of the route table, for documentation and tests.
struct RouteInfo {
  std::string method, pattern;
  std::optional<Role> min_role;  // nullopt: public
};
// The API's routes, as the server enforces them.
std::vector<RouteInfo> ApiRoutes();

class WebServer {
 public:
  // Opens the workspace at `root` (its views and users) for serving.
  static Result<std::unique_ptr<WebServer>> Create(const std::filesystem::path& root,
                                                   ServerOptions options, UiConfig ui,
                                                   std::string secret);
  ~WebServer();
  WebServer(const WebServer&) = delete;
  WebServer& operator=(const WebServer&) = delete;

  // Binds the address (Failed when it cannot).
  Status Bind();
  // The bound port.
  int port() const;
  // Serves until Stop() (from another thread or a signal handler's waker).
  void Run();
  void Stop();
  // Waits for the runs the server started (POST /api/flows/{flow}/runs).
  void WaitForRuns();
  // One parsed request through what Run() does after cpp-httplib has read it
  // (authentication, route table, CSRF, handlers, static files), without a socket:
  // for the fuzz target of the request path (fuzz/web_fuzz.cc).
  void HandleParsed(const httplib::Request& req, httplib::Response& res);

  struct Impl;

 private:
  explicit WebServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace alambic
