#include "ui/web/server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <future>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>
#include <httplib.h>
#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

#include "catalog/catalog.h"
#include "core/base/hmac.h"
#include "core/table/decode.h"
#include "services/catalog_views.h"
#include "services/scheduler/engine_launcher.h"
#include "services/scheduler/scheduler.h"
#include "services/workspace.h"
#include "ui/web/api.h"
#include "ui/web/static_files.h"

namespace alambic {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// Request headers: cpp-httplib 0.11 bounds each line (8 KiB) but not their number.
constexpr size_t kMaxHeaders = 100, kMaxHeaderBytes = 32 * 1024;
constexpr const char* kCsp =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

// The answer cache of cacheable routes (ApiRoute::cacheable): an answer is
// served again while the catalogs have not changed and for kAnswerTtl at most
// (what depends on the clock, e.g. a next run, moves on within it).
constexpr std::chrono::seconds kAnswerTtl{1};
constexpr size_t kMaxCachedAnswer = 1 << 20;  // bytes of one answer
constexpr size_t kMaxCacheBytes = 64 << 20;   // bytes of all answers
constexpr size_t kMaxCachedAnswers = 4096;

// A queue of accepted connections with a bound: enqueue() waits while it is
// full (the accept loop then stops accepting; the listen backlog holds the rest).
class BoundedPool final : public httplib::TaskQueue {
 public:
  BoundedPool(size_t threads, size_t queue) : max_(queue) {
    for (size_t i = 0; i < threads; ++i) workers_.emplace_back([this] { Work(); });
  }
  void enqueue(std::function<void()> fn) override {
    std::unique_lock<std::mutex> lock(mu_);
    room_.wait(lock, [&] { return jobs_.size() < max_ || shutdown_; });
    if (shutdown_) return;
    jobs_.push_back(std::move(fn));
    ready_.notify_one();
  }
  void shutdown() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      shutdown_ = true;
    }
    ready_.notify_all();
    room_.notify_all();
    for (auto& t : workers_) t.join();
  }

 private:
  void Work() {
    for (;;) {
      std::function<void()> fn;
      {
        std::unique_lock<std::mutex> lock(mu_);
        ready_.wait(lock, [&] { return !jobs_.empty() || shutdown_; });
        if (jobs_.empty()) return;
        fn = std::move(jobs_.front());
        jobs_.pop_front();
        room_.notify_one();
      }
      fn();
    }
  }
  const size_t max_;
  std::mutex mu_;
  std::condition_variable ready_, room_;
  std::deque<std::function<void()>> jobs_;  // guarded by mu_
  bool shutdown_ = false;                   // guarded by mu_
  std::vector<std::thread> workers_;
};

// A connection's socket for cpp-httplib's request parser, with a deadline for
// reading each request: cpp-httplib's own socket stream bounds each read (the
// read timeout) but not a request, so that a client sending a header line just
// before each read timeout ("slowloris") would hold a worker for ever. Reads
// wait until the read timeout or the request's deadline, whichever comes
// first; past the deadline a read fails, and cpp-httplib drops the request
// (closes the connection, or answers 400 and closes it).
class DeadlineStream final : public httplib::Stream {
 public:
  using Clock = std::chrono::steady_clock;
  DeadlineStream(int sock, std::chrono::milliseconds read_timeout,
                 std::chrono::milliseconds write_timeout)
      : sock_(sock), read_timeout_(read_timeout), write_timeout_(write_timeout) {}

  // The next reads belong to a request that must be read by `deadline`.
  void StartRequest(Clock::time_point deadline) { deadline_ = deadline; }
  // Whether bytes already read wait in the buffer (a pipelined request).
  bool buffered() const { return off_ < end_; }

  bool is_readable() const override {
    if (off_ < end_) return true;
    const auto now = Clock::now();
    if (now >= deadline_) return false;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - now);
    return Wait(POLLIN, std::min(read_timeout_, left + std::chrono::milliseconds(1)));
  }
  bool is_writable() const override { return Wait(POLLOUT, write_timeout_); }

  ssize_t read(char* ptr, size_t size) override {
    if (off_ == end_) {
      if (!is_readable()) return -1;
      ssize_t n;
      do {
        n = ::recv(sock_, buf_, sizeof buf_, 0);
      } while (n < 0 && errno == EINTR);
      if (n <= 0) return n;
      off_ = 0;
      end_ = static_cast<size_t>(n);
    }
    const size_t n = std::min(size, end_ - off_);
    std::memcpy(ptr, buf_ + off_, n);
    off_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (!is_writable()) return -1;
    ssize_t n;
    do {
      n = ::send(sock_, ptr, size, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n;
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    Address(::getpeername, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    Address(::getsockname, ip, port);
  }
  socket_t socket() const override { return sock_; }

 private:
  bool Wait(short events, std::chrono::milliseconds timeout) const {
    pollfd p{sock_, events, 0};
    int rc;
    do {
      rc = ::poll(&p, 1, static_cast<int>(std::max<int64_t>(0, timeout.count())));
    } while (rc < 0 && errno == EINTR);
    return rc > 0 && (p.revents & (events | POLLHUP | POLLERR)) != 0;
  }
  void Address(int (*name)(int, sockaddr*, socklen_t*), std::string& ip, int& port) const {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (name(sock_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return;
    char host[NI_MAXHOST], serv[NI_MAXSERV];
    if (::getnameinfo(reinterpret_cast<sockaddr*>(&addr), len, host, sizeof host, serv, sizeof serv,
                      NI_NUMERICHOST | NI_NUMERICSERV) != 0)
      return;
    ip = host;
    port = std::atoi(serv);
  }

  const int sock_;
  const std::chrono::milliseconds read_timeout_, write_timeout_;
  Clock::time_point deadline_ = Clock::time_point::max();
  char buf_[4096];
  size_t off_ = 0, end_ = 0;
};

// cpp-httplib's server with its connection loop (the keep-alive loop over one
// accepted socket) replaced by one that gives each request a deadline to be
// read (line, headers and body): ServerOptions::request_timeout. The rest
// (accepting, the worker pool, parsing, routing, answering) is cpp-httplib's.
class DeadlineServer final : public httplib::Server {
 public:
  void set_timeouts(std::chrono::milliseconds read, std::chrono::milliseconds write,
                    std::chrono::milliseconds keep_alive, std::chrono::milliseconds request,
                    int max_requests) {
    read_ = read;
    write_ = write;
    keep_alive_ = keep_alive;
    request_ = request;
    max_requests_ = std::max(1, max_requests);
  }

 private:
  // Overrides cpp-httplib's (a virtual of httplib::Server): called on a worker
  // for each accepted connection.
  bool process_and_close_socket(socket_t sock) override {
    DeadlineStream stream(sock, read_, write_);
    bool ok = false;
    for (int left = max_requests_; left > 0 && WaitForRequest(sock, stream); --left) {
      stream.StartRequest(DeadlineStream::Clock::now() + request_);
      bool closed = false;
      ok = process_request(stream, /*close_connection=*/left == 1, closed, nullptr);
      if (!ok || closed) break;
    }
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
    return ok;
  }

  // Whether a request starts within the keep-alive timeout (and the server still runs).
  bool WaitForRequest(int sock, const DeadlineStream& stream) const {
    if (stream.buffered()) return true;
    const auto until = DeadlineStream::Clock::now() + keep_alive_;
    for (;;) {
      if (svr_sock_ == INVALID_SOCKET) return false;
      const auto now = DeadlineStream::Clock::now();
      if (now >= until) return false;
      const auto slice =
          std::min(std::chrono::milliseconds(100),
                   std::chrono::duration_cast<std::chrono::milliseconds>(until - now) +
                       std::chrono::milliseconds(1));
      pollfd p{sock, POLLIN, 0};
      const int rc = ::poll(&p, 1, static_cast<int>(slice.count()));
      if (rc > 0) return true;
      if (rc < 0 && errno != EINTR) return false;
    }
  }

  std::chrono::milliseconds read_{5000}, write_{5000}, keep_alive_{5000}, request_{20000};
  int max_requests_ = 100;
};

// Failed logins per key within a sliding window.
class LoginLimiter {
 public:
  // Seconds until `key` may try again (0: now).
  int64_t RetryAfter(const std::string& key, int max, std::chrono::seconds window) {
    std::lock_guard<std::mutex> lock(mu_);
    auto& q = failures_[key];
    const auto now = std::chrono::steady_clock::now();
    while (!q.empty() && q.front() + window <= now) q.pop_front();
    if (static_cast<int>(q.size()) < max) return 0;
    return std::max<int64_t>(
        1, std::chrono::duration_cast<std::chrono::seconds>(q.front() + window - now).count() + 1);
  }
  void Fail(const std::string& key) {
    std::lock_guard<std::mutex> lock(mu_);
    failures_[key].push_back(std::chrono::steady_clock::now());
  }
  void Clear(const std::string& key) {
    std::lock_guard<std::mutex> lock(mu_);
    failures_.erase(key);
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::deque<std::chrono::steady_clock::time_point>> failures_;
};

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

// ---------------------------------------------------------------- ui config

Result<UiConfig> LoadUiConfig(const fs::path& root) {
  UiConfig cfg;
  YAML::Node doc;
  try {
    doc = YAML::LoadFile((root / "alambic.yaml").string());
  } catch (const std::exception& e) {
    return Status::Invalid(fmt::format("alambic.yaml: {}", e.what()));
  }
  const YAML::Node ui = doc["ui"];
  if (!ui || ui.IsNull()) return cfg;
  if (!ui.IsMap()) return Status::Invalid("alambic.yaml: ui must be a mapping");
  try {
    for (const auto& kv : ui) {
      const std::string key = kv.first.as<std::string>();
      if (key == "theme") {
        cfg.theme = kv.second.as<std::string>();
        if (cfg.theme != "default" && cfg.theme != "dsfr")
          return Status::Invalid(
              fmt::format("alambic.yaml: ui.theme '{}' (expected default or dsfr)", cfg.theme));
      } else if (key == "tls") {
        cfg.behind_tls = kv.second.as<bool>();
      } else if (key == "trusted_header") {
        TrustedHeaderConfig t;
        for (const auto& tk : kv.second) {
          const std::string k = tk.first.as<std::string>();
          if (k == "user") {
            t.user_header = tk.second.as<std::string>();
          } else if (k == "groups") {
            t.groups_header = tk.second.as<std::string>();
          } else if (k == "proxies") {
            t.proxies = tk.second.as<std::vector<std::string>>();
          } else if (k == "group_roles") {
            for (const auto& g : tk.second) {
              auto role = ParseRole(g.second.as<std::string>());
              if (!role)
                return Status::Invalid(
                    fmt::format("alambic.yaml: ui.trusted_header.group_roles.{}: unknown role '{}'",
                                g.first.as<std::string>(), g.second.as<std::string>()));
              t.group_roles[g.first.as<std::string>()] = *role;
            }
          } else {
            return Status::Invalid(fmt::format(
                "alambic.yaml: unknown key 'ui.trusted_header.{}' (expected user, groups, "
                "proxies, group_roles)",
                k));
          }
        }
        if (t.proxies.empty())
          return Status::Invalid(
              "alambic.yaml: ui.trusted_header needs proxies (the addresses of the reverse "
              "proxy)");
        cfg.trusted_header = t;
      } else {
        return Status::Invalid(fmt::format(
            "alambic.yaml: unknown key 'ui.{}' (expected theme, tls, trusted_header)", key));
      }
    }
  } catch (const YAML::Exception& e) {
    return Status::Invalid(fmt::format("alambic.yaml: ui: {}", e.what()));
  }
  return cfg;
}

// ---------------------------------------------------------------- the server

struct WebServer::Impl {
  fs::path root;
  ServerOptions options;
  UiConfig ui;
  std::string secret;
  std::unique_ptr<CatalogViews> views;
  std::unique_ptr<UserStore> users;
  std::unique_ptr<Catalog> audit_catalog;  // token uses, for the audit log
  DeadlineServer http;
  LoginLimiter limiter;
  StaticFiles files;
  StaticFiles dsfr;
  std::vector<ApiRoute> routes;
  // Answers of cacheable routes by request target (path and query).
  struct CachedAnswer {
    uint64_t generation = 0;
    std::chrono::steady_clock::time_point at;
    std::shared_ptr<const std::string> body;
  };
  std::mutex cache_mu;
  std::unordered_map<std::string, CachedAnswer> cache;  // guarded by cache_mu
  size_t cache_bytes = 0;                               // guarded by cache_mu
  // Runs started from the API.
  std::mutex runs_mu;
  std::set<std::string> running_flows;   // guarded by runs_mu
  std::vector<std::thread> run_threads;  // guarded by runs_mu

  void Log(const std::string& line) const {
    if (options.log) options.log(line);
  }
  void Handle(const httplib::Request& req, httplib::Response& res);
  bool HandleApi(const httplib::Request& req, httplib::Response& res, const std::string& path);
  std::optional<Principal> Authenticate(const httplib::Request& req, bool* sso_refused);
};

namespace {

void SendJson(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

void SendError(httplib::Response& res, int status, const std::string& code,
               const std::string& message) {
  SendJson(res, status, json{{"error", {{"code", code}, {"message", message}}}});
}

std::string Cookie(const httplib::Request& req, const std::string& name) {
  const std::string header = req.get_header_value("Cookie");
  size_t pos = 0;
  while (pos < header.size()) {
    size_t end = header.find(';', pos);
    if (end == std::string::npos) end = header.size();
    std::string part = header.substr(pos, end - pos);
    const size_t b = part.find_first_not_of(' ');
    part = b == std::string::npos ? "" : part.substr(b);
    if (part.rfind(name + "=", 0) == 0) return part.substr(name.size() + 1);
    pos = end + 1;
  }
  return "";
}

// The raw path of the request target (before '?'), split into percent-decoded
// segments; nullopt when a segment decodes to something that is not a plain
// name (a '/', a NUL, or an invalid escape).
std::optional<std::vector<std::string>> Segments(const std::string& target) {
  std::string path = target.substr(0, target.find('?'));
  std::vector<std::string> out;
  size_t pos = 1;
  if (path.empty() || path[0] != '/') return std::nullopt;
  while (pos <= path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string::npos) end = path.size();
    const std::string raw = path.substr(pos, end - pos);
    std::string seg;
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '%') {
        if (i + 2 >= raw.size()) return std::nullopt;
        auto hex = [](char c) -> int {
          if (c >= '0' && c <= '9') return c - '0';
          if (c >= 'a' && c <= 'f') return c - 'a' + 10;
          if (c >= 'A' && c <= 'F') return c - 'A' + 10;
          return -1;
        };
        const int hi = hex(raw[i + 1]), lo = hex(raw[i + 2]);
        if (hi < 0 || lo < 0) return std::nullopt;
        seg.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
      } else {
        seg.push_back(raw[i]);
      }
    }
    if (seg.find('/') != std::string::npos || seg.find('\0') != std::string::npos ||
        seg.find('\\') != std::string::npos)
      return std::nullopt;
    out.push_back(seg);
    pos = end + 1;
  }
  if (!out.empty() && out.back().empty()) out.pop_back();  // a trailing slash
  return out;
}

bool IsStateChanging(const std::string& method) {
  return method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE";
}

bool ConstantTimeEquals(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char d = 0;
  for (size_t i = 0; i < a.size(); ++i) d |= static_cast<unsigned char>(a[i] ^ b[i]);
  return d == 0;
}

}  // namespace

std::optional<Principal> WebServer::Impl::Authenticate(const httplib::Request& req,
                                                       bool* sso_refused) {
  // A bearer token.
  const std::string authz = req.get_header_value("Authorization");
  if (authz.rfind("Bearer ", 0) == 0) {
    auto t = users->UseToken(authz.substr(7));
    if (!t.ok() || !*t) return std::nullopt;
    const ApiToken& tok = **t;
    auto u = users->FindUser(tok.user);
    if (!u.ok() || !*u) return std::nullopt;
    Principal p;
    p.user = tok.user;
    // A token never does more than its user may do now.
    p.role = std::min(tok.role, (*u)->role);
    p.auth = "token";
    p.token_id = tok.id;
    p.usecases = tok.usecases;
    AuditEntry e;
    e.user = tok.user;
    e.action = "token.use";
    e.target = tok.id;
    e.outcome = kAuditOk;
    e.detail = json{{"method", req.method}, {"path", req.path}, {"address", req.remote_addr}};
    if (Status st = audit_catalog->AppendAudit(e); !st.ok())
      Log("cannot audit a token use: " + st.message());
    return p;
  }
  // The trusted header, from a configured proxy only.
  if (ui.trusted_header) {
    const auto& th = *ui.trusted_header;
    const std::string user = req.get_header_value(th.user_header.c_str());
    if (!user.empty()) {
      const bool from_proxy =
          std::find(th.proxies.begin(), th.proxies.end(), req.remote_addr) != th.proxies.end();
      if (!from_proxy) {
        Log(fmt::format("trusted header from {} ignored: not a configured proxy", req.remote_addr));
      } else if (ValidUserName(user)) {
        std::optional<Role> role;
        const std::string groups = req.get_header_value(th.groups_header.c_str());
        size_t pos = 0;
        while (pos <= groups.size()) {
          size_t end = groups.find_first_of(",;| ", pos);
          if (end == std::string::npos) end = groups.size();
          auto it = th.group_roles.find(groups.substr(pos, end - pos));
          if (it != th.group_roles.end() && (!role || it->second > *role)) role = it->second;
          pos = end + 1;
        }
        if (!role)
          if (auto u = users->FindUser(user); u.ok() && *u) role = (*u)->role;
        if (!role) {
          *sso_refused = true;
          return std::nullopt;
        }
        Principal p;
        p.user = user;
        p.role = *role;
        p.auth = "sso";
        Hmac mac(secret);
        mac.Hex("csrf:sso:" + user, 64, &p.csrf);
        return p;
      }
    }
  }
  // The session cookie.
  const std::string sid = Cookie(req, "alambic_session");
  if (sid.empty()) return std::nullopt;
  auto s = users->FindSession(sid);
  if (!s.ok() || !*s) return std::nullopt;
  Principal p;
  p.user = (*s)->user;
  p.role = (*s)->role;
  p.auth = "session";
  p.session_id = sid;
  p.csrf = (*s)->csrf;
  return p;
}

bool WebServer::Impl::HandleApi(const httplib::Request& req, httplib::Response& res,
                                const std::string& path) {
  auto segs = Segments(req.target);
  if (!segs) {
    SendError(res, 400, "bad_request", "malformed path");
    return true;
  }
  // The route: same segment count, literal segments equal, {x} captured.
  const ApiRoute* route = nullptr;
  bool other_method = false;
  std::vector<std::string> params;
  for (const auto& r : routes) {
    if (r.segments.size() != segs->size()) continue;
    std::vector<std::string> captured;
    bool match = true;
    for (size_t i = 0; i < r.segments.size() && match; ++i) {
      const std::string& p = r.segments[i];
      if (p.size() > 2 && p.front() == '{' && p.back() == '}') {
        if ((*segs)[i].empty()) match = false;
        captured.push_back((*segs)[i]);
      } else {
        match = p == (*segs)[i];
      }
    }
    if (!match) continue;
    if (r.method != req.method) {
      other_method = true;
      continue;
    }
    route = &r;
    params = std::move(captured);
    break;
  }
  if (!route) {
    if (other_method)
      SendError(res, 405, "method_not_allowed", fmt::format("{} is not allowed here", req.method));
    else
      SendError(res, 404, "not_found", "no such API route");
    return true;
  }
  (void)path;
  ApiRequest ar{req, params, std::nullopt, json(nullptr)};
  bool sso_refused = false;
  ar.who = Authenticate(req, &sso_refused);
  if (route->min_role) {
    if (!ar.who) {
      if (sso_refused)
        SendError(res, 403, "forbidden", "your groups give no role here");
      else
        SendError(res, 401, "unauthenticated", "log in first");
      return true;
    }
    if (ar.who->role < *route->min_role) {
      SendError(res, 403, "forbidden",
                fmt::format("this needs the {} role", RoleName(*route->min_role)));
      return true;
    }
  }
  // CSRF: every change made with ambient credentials (cookie or SSO header).
  if (IsStateChanging(req.method) && ar.who && ar.who->auth != "token" && route->min_role) {
    const std::string sent = req.get_header_value("X-CSRF-Token");
    if (sent.empty() || !ConstantTimeEquals(sent, ar.who->csrf)) {
      SendError(res, 403, "csrf", "missing or wrong X-CSRF-Token");
      return true;
    }
  }
  // A token limited to use cases reaches only what belongs to them.
  if (ar.who && !ar.who->usecases.empty() && route->scope) {
    const std::string uc = route->scope(*views, ar);
    if (std::find(ar.who->usecases.begin(), ar.who->usecases.end(), uc) == ar.who->usecases.end()) {
      SendError(res, 403, "forbidden", "this token is limited to other use cases");
      return true;
    }
  } else if (ar.who && !ar.who->usecases.empty() && !route->scope && !route->unscoped_ok) {
    SendError(res, 403, "forbidden", "this token is limited to some use cases");
    return true;
  }
  if (IsStateChanging(req.method) && !req.body.empty()) {
    ar.body = json::parse(req.body, nullptr, false);
    if (ar.body.is_discarded() || !ar.body.is_object()) {
      SendError(res, 400, "bad_request", "the body must be a JSON object");
      return true;
    }
  } else if (IsStateChanging(req.method)) {
    ar.body = json::object();
  }
  // The path and query parameters are text: bytes that are not UTF-8 (after
  // percent-decoding) are refused here rather than passed on to the handlers.
  bool utf8 = InvalidUtf8Offset(req.path) == std::string::npos;
  for (const auto& [name, value] : req.params)
    utf8 = utf8 && InvalidUtf8Offset(name) == std::string::npos &&
           InvalidUtf8Offset(value) == std::string::npos;
  if (!utf8) {
    SendError(res, 400, "bad_param", "the path and query parameters must be UTF-8 text");
    return true;
  }
  // A cacheable answer computed since the last catalog change, not older
  // than kAnswerTtl.
  uint64_t generation = 0;
  if (route->cacheable) {
    generation = views->Generation();
    const auto now = std::chrono::steady_clock::now();
    std::shared_ptr<const std::string> hit;
    {
      std::lock_guard<std::mutex> lock(cache_mu);
      auto it = cache.find(req.target);
      if (it != cache.end() && it->second.generation == generation &&
          now - it->second.at < kAnswerTtl)
        hit = it->second.body;
    }
    if (hit) {
      res.status = 200;
      res.set_content(*hit, "application/json");
      return true;
    }
  }
  ApiResponse out = route->handler(*this, ar);
  if (route->cacheable && out.error_code.empty() && out.status == 200 && out.headers.empty()) {
    if (!out.raw)
      out.raw = std::make_shared<const std::string>(
          out.body.dump(-1, ' ', false, json::error_handler_t::replace));
    if (out.raw->size() <= kMaxCachedAnswer) {
      std::lock_guard<std::mutex> lock(cache_mu);
      if (cache_bytes + out.raw->size() > kMaxCacheBytes || cache.size() >= kMaxCachedAnswers) {
        cache.clear();
        cache_bytes = 0;
      }
      auto& slot = cache[req.target];
      if (slot.body) cache_bytes -= slot.body->size();
      slot = CachedAnswer{generation, std::chrono::steady_clock::now(), out.raw};
      cache_bytes += out.raw->size();
    }
  }
  for (const auto& [k, v] : out.headers) res.set_header(k.c_str(), v);
  if (out.error_code.empty() && out.raw) {
    res.status = out.status;
    res.set_content(*out.raw, "application/json");
  } else if (out.error_code.empty()) {
    SendJson(res, out.status, out.body);
  } else {
    if (out.status >= 500) Log(fmt::format("{} {}: {}", req.method, req.path, out.internal));
    SendError(res, out.status, out.error_code,
              out.body.is_string() ? out.body.get<std::string>() : std::string("error"));
  }
  return true;
}

void WebServer::Impl::Handle(const httplib::Request& req, httplib::Response& res) {
  const std::string& path = req.path;
  if (path == "/api" || path.rfind("/api/", 0) == 0) {
    res.set_header("Cache-Control", "no-store");
    HandleApi(req, res, path);
    return;
  }
  if (req.method != "GET" && req.method != "HEAD") {
    res.status = 405;
    res.set_content("method not allowed\n", "text/plain; charset=utf-8");
    return;
  }
  auto segs = Segments(req.target);
  if (!segs) {
    res.status = 404;
    res.set_content("not found\n", "text/plain; charset=utf-8");
    return;
  }
  if (!segs->empty() && (*segs)[0] == "dsfr") {
    if (ui.theme != "dsfr") {
      res.status = 404;
      res.set_content("not found\n", "text/plain; charset=utf-8");
      return;
    }
    std::vector<std::string> rest(segs->begin() + 1, segs->end());
    dsfr.Serve(rest, /*spa=*/false, res);
    return;
  }
  files.Serve(*segs, /*spa=*/true, res);
}

WebServer::WebServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
void WebServer::HandleParsed(const httplib::Request& req, httplib::Response& res) {
  impl_->Handle(req, res);
}
WebServer::~WebServer() {
  Stop();
  WaitForRuns();
}

Result<std::unique_ptr<WebServer>> WebServer::Create(const fs::path& root, ServerOptions options,
                                                     UiConfig ui, std::string secret) {
  auto impl = std::make_unique<Impl>();
  impl->root = root;
  impl->options = std::move(options);
  impl->ui = std::move(ui);
  impl->secret = secret;
  ALAMBIC_ASSIGN_OR_RETURN(impl->views, CatalogViews::Open(root));
  const fs::path catalog = root / ".alambic" / "catalog.db";
  ALAMBIC_ASSIGN_OR_RETURN(impl->users, UserStore::Open(catalog, std::move(secret)));
  ALAMBIC_ASSIGN_OR_RETURN(impl->audit_catalog, Catalog::Open(catalog));
  impl->files = StaticFiles(impl->options.static_dir);
  impl->dsfr = StaticFiles(impl->options.dsfr_dir.empty() ? impl->options.static_dir / "dsfr"
                                                          : impl->options.dsfr_dir);
  impl->routes = BuildRoutes();
  const ServerOptions& o = impl->options;
  auto& http = impl->http;
  const size_t threads = static_cast<size_t>(std::max(1, o.threads));
  const size_t queue = static_cast<size_t>(std::max(1, o.queue));
  http.new_task_queue = [threads, queue] { return new BoundedPool(threads, queue); };
  // Answers go out at once: without it, a keep-alive answer written in two
  // parts waits for the client's delayed ACK (~40 ms per request).
  http.set_tcp_nodelay(true);
  http.set_payload_max_length(o.max_body);
  http.set_read_timeout(std::chrono::duration_cast<std::chrono::microseconds>(o.read_timeout));
  http.set_write_timeout(std::chrono::duration_cast<std::chrono::microseconds>(o.write_timeout));
  http.set_keep_alive_timeout(o.keep_alive_timeout.count());
  http.set_keep_alive_max_count(static_cast<size_t>(std::max(1, o.keep_alive_max)));
  http.set_timeouts(o.read_timeout, o.write_timeout,
                    std::chrono::duration_cast<std::chrono::milliseconds>(o.keep_alive_timeout),
                    o.request_timeout, o.keep_alive_max);
  http.set_default_headers({{"Content-Security-Policy", kCsp},
                            {"X-Content-Type-Options", "nosniff"},
                            {"Referrer-Policy", "no-referrer"},
                            {"X-Frame-Options", "DENY"}});
  Impl* self = impl.get();
  auto handler = [self](const httplib::Request& req, httplib::Response& res) {
    self->Handle(req, res);
  };
  http.set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
    size_t bytes = 0;
    for (const auto& [name, value] : req.headers) bytes += name.size() + value.size() + 4;
    if (req.headers.size() <= kMaxHeaders && bytes <= kMaxHeaderBytes)
      return httplib::Server::HandlerResponse::Unhandled;
    SendError(res, 431, "too_large", "request too large");
    return httplib::Server::HandlerResponse::Handled;
  });
  http.Get(".*", handler);
  http.Post(".*", handler);
  http.Put(".*", handler);
  http.Patch(".*", handler);
  http.Delete(".*", handler);
  http.Options(".*", [](const httplib::Request&, httplib::Response& res) { res.status = 204; });
  http.set_exception_handler(
      [self](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown";
        try {
          if (ep) std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        self->Log(fmt::format("{} {}: internal error: {}", req.method, req.path, what));
        SendError(res, 500, "internal", "internal error");
      });
  http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    const bool api = req.path.rfind("/api", 0) == 0;
    std::string code = "bad_request", message = "bad request";
    if (res.status == 404) code = "not_found", message = "not found";
    if (res.status == 413 || res.status == 414 || res.status == 431)
      code = "too_large", message = "request too large";
    if (res.status == 408) message = "request timeout";
    if (res.status >= 500) code = "internal", message = "internal error";
    if (api || code == "too_large") {
      res.set_header("Cache-Control", "no-store");
      SendError(res, res.status, code, message);
    } else {
      res.set_content(message + "\n", "text/plain; charset=utf-8");
    }
  });
  return std::unique_ptr<WebServer>(new WebServer(std::move(impl)));
}

Status WebServer::Bind() {
  const auto& o = impl_->options;
  if (o.port == 0) {
    const int p = impl_->http.bind_to_any_port(o.host);
    if (p <= 0) return Status::Failed(fmt::format("cannot listen on {}", o.host));
    impl_->options.port = p;
  } else if (!impl_->http.bind_to_port(o.host, o.port)) {
    return Status::Failed(
        fmt::format("cannot listen on {}:{} (in use, or not allowed)", o.host, o.port));
  }
  return Status::Ok();
}

int WebServer::port() const { return impl_->options.port; }
void WebServer::Run() { impl_->http.listen_after_bind(); }
void WebServer::Stop() {
  if (impl_) impl_->http.stop();
}

void WebServer::WaitForRuns() {
  if (!impl_) return;
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(impl_->runs_mu);
    threads.swap(impl_->run_threads);
  }
  for (auto& t : threads)
    if (t.joinable()) t.join();
}

// ---------------------------------------------------------------- routes

namespace {

// Whether a run asked for through the API started: settled once, by the run's
// record being created or by the reason it was not.
struct RunStart {
  std::promise<Status> promise;
  std::atomic<bool> settled{false};
  void Settle(Status st) {
    if (!settled.exchange(true)) promise.set_value(std::move(st));
  }
};

// Launches with the run id chosen beforehand (so that the API can answer it
// before the run ends), and settles `start` once the run is recorded, or with
// the reason it was not.
class ReservedIdLauncher final : public RunLauncher {
 public:
  ReservedIdLauncher(RunLauncher& inner, std::string run_id, RunStart& start)
      : inner_(inner), run_id_(std::move(run_id)), start_(start) {}
  Result<LaunchedRun> Launch(const ScheduledRunRequest& request, const CancelToken& cancel,
                             const std::function<void(const std::string&)>& started) override {
    ScheduledRunRequest r = request;
    r.run_id = run_id_;
    const std::function<void(const std::string&)> recorded = [&](const std::string& id) {
      start_.Settle(Status::Ok());
      if (started) started(id);
    };
    Result<LaunchedRun> launched = inner_.Launch(r, cancel, recorded);
    if (!launched.ok())
      start_.Settle(launched.status());
    else if (launched->run_id.empty())
      start_.Settle(
          Status::Failed(launched->error.empty() ? "the run did not start" : launched->error));
    return launched;
  }

 private:
  RunLauncher& inner_;
  const std::string run_id_;
  RunStart& start_;
};

}  // namespace

Result<std::string> StartRun(WebServer::Impl& s, const std::string& flow, const std::string& env,
                             const std::string& user) {
  {
    std::lock_guard<std::mutex> lock(s.runs_mu);
    if (!s.running_flows.insert(flow).second)
      return Status::Invalid(fmt::format("a run of '{}' started here is still going", flow));
  }
  auto kinds = LoadKinds(s.root);
  if (!kinds.ok()) {
    std::lock_guard<std::mutex> lock(s.runs_mu);
    s.running_flows.erase(flow);
    return kinds.status();
  }
  const RecipeRegistry* registry = (*kinds)->registry.get();
  WebServer::Impl* self = &s;
  const std::string run_id = NewUuid();
  auto start = std::make_shared<RunStart>();
  std::future<Status> started = start->promise.get_future();
  std::thread t([self, flow, env, user, registry, run_id, start] {
    EngineLauncher engine(
        self->root, [registry](const fs::path&) -> const RecipeRegistry& { return *registry; });
    ReservedIdLauncher launcher(engine, run_id, *start);
    CancelToken cancel;
    Actor who = Actor::Current();
    who.user = user;
    auto cat = Catalog::Open(self->root / ".alambic" / "catalog.db");
    if (cat.ok()) {
      auto r = TriggerRun(**cat, launcher, flow, env, "web", who, cancel);
      if (!r.ok())
        self->Log(fmt::format("run of {} failed to start: {}", flow, r.status().message()));
    } else {
      start->Settle(cat.status());
    }
    start->Settle(Status::Failed("the run did not start"));  // when nothing settled it
    if (Status st = self->views->Refresh(); !st.ok())
      self->Log("cannot refresh the catalog views: " + st.message());
    std::lock_guard<std::mutex> lock(self->runs_mu);
    self->running_flows.erase(flow);
  });
  {
    std::lock_guard<std::mutex> lock(s.runs_mu);
    s.run_threads.push_back(std::move(t));
  }
  // The answer waits for the run's record (planning comes first: well under a
  // second for most flows), so that a run that cannot start (the workspace
  // locked by another run, a flow that cannot be planned) is refused to the
  // caller rather than answered 202 and never recorded. A start slower than
  // this is answered 202 and carries on.
  if (started.wait_for(std::chrono::seconds(30)) == std::future_status::ready) {
    Status st = started.get();
    if (!st.ok())
      return Status::Invalid(fmt::format("the run of '{}' did not start: {}", flow, st.message()));
  }
  return run_id;
}

CatalogViews& Views(WebServer::Impl& s) { return *s.views; }
UserStore& Users(WebServer::Impl& s) { return *s.users; }
const UiConfig& Ui(WebServer::Impl& s) { return s.ui; }
const ServerOptions& Options(WebServer::Impl& s) { return s.options; }

Result<std::string> Login(WebServer::Impl& s, const std::string& user, const std::string& password,
                          const std::string& address, WebSession* session, int64_t* retry_after) {
  const auto& o = s.options;
  const std::string ukey = "user:" + Lower(user), akey = "addr:" + address;
  *retry_after = std::max(s.limiter.RetryAfter(ukey, o.login_failures_per_user, o.login_window),
                          s.limiter.RetryAfter(akey, o.login_failures_per_address, o.login_window));
  if (*retry_after > 0) return Status::Invalid("rate limited");
  ALAMBIC_ASSIGN_OR_RETURN(auto u, s.users->Authenticate(user, password));
  if (!u) {
    s.limiter.Fail(ukey);
    s.limiter.Fail(akey);
    s.Log(fmt::format("failed login for '{}' from {}", user, address));
    return Status::NotFound("bad credentials");
  }
  s.limiter.Clear(ukey);
  ALAMBIC_ASSIGN_OR_RETURN(auto created, s.users->CreateSession(u->name, address, o.session_ttl));
  *session = created.second;
  return created.first;
}

std::string SessionCookie(WebServer::Impl& s, const std::string& id, bool clear) {
  const bool secure = s.options.tls_proxy || s.ui.behind_tls;
  return fmt::format(
      "alambic_session={}; Path=/; HttpOnly; SameSite=Strict{}{}", clear ? "" : id,
      secure ? "; Secure" : "",
      clear ? "; Max-Age=0" : fmt::format("; Max-Age={}", s.options.session_ttl.count()));
}

std::vector<RouteInfo> ApiRoutes() {
  std::vector<RouteInfo> out;
  for (const auto& r : BuildRoutes()) out.push_back({r.method, r.pattern, r.min_role});
  return out;
}

}  // namespace alambic
