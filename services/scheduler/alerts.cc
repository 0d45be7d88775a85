#include "services/scheduler/alerts.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <thread>

#include <fmt/format.h>
#include <httplib.h>

namespace alambic {

nlohmann::json Alert::ToJson() const {
  return {{"kind", kind},       {"flow", flow},         {"environment", environment},
          {"nominal", nominal}, {"timezone", timezone}, {"run_id", run_id},
          {"message", message}};
}

Status WebhookAlertSink::Send(const Alert& alert) {
  const std::string& url = options_.url;
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos ||
      (url.compare(0, scheme_end, "http") != 0 && url.compare(0, scheme_end, "https") != 0))
    return Status::Invalid(
        fmt::format("alert webhook '{}': expected http[s]://host[:port][/path]", url));
  const size_t path_start = url.find('/', scheme_end + 3);
  const std::string origin = url.substr(0, path_start);
  const std::string path = path_start == std::string::npos ? "/" : url.substr(path_start);
  httplib::Client client(origin);
  if (!client.is_valid()) return Status::Invalid(fmt::format("alert webhook '{}': unusable", url));
  const auto timeout =
      std::chrono::milliseconds(static_cast<int64_t>(options_.timeout_seconds * 1000));
  client.set_connection_timeout(timeout);
  client.set_read_timeout(timeout);
  client.set_write_timeout(timeout);
  const std::string body = alert.ToJson().dump();
  double delay = options_.retry_backoff_seconds;
  std::string why;
  for (int attempt = 1; attempt <= options_.retries + 1; ++attempt) {
    auto res = client.Post(path, body, "application/json");
    if (res && res->status >= 200 && res->status < 300) return Status::Ok();
    why = res ? fmt::format("HTTP {}", res->status) : httplib::to_string(res.error());
    if (attempt == options_.retries + 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int64_t>(delay * 1000)));
    delay *= 2;
  }
  return Status::Failed(fmt::format("alert webhook {}{}: {} after {} attempt(s)", origin, path, why,
                                    options_.retries + 1));
}

namespace {

// One SMTP conversation over a TCP socket, in clear or, after STARTTLS, over
// TLS (OpenSSL).
class SmtpConnection {
 public:
  explicit SmtpConnection(std::string where) : where_(std::move(where)) {}
  ~SmtpConnection() {
    if (ssl_) {
      SSL_shutdown(ssl_);
      SSL_free(ssl_);
    }
    if (ctx_) SSL_CTX_free(ctx_);
    if (fd_ >= 0) ::close(fd_);
  }
  SmtpConnection(const SmtpConnection&) = delete;
  SmtpConnection& operator=(const SmtpConnection&) = delete;

  Status Connect(const std::string& host, int port, int timeout_ms) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res); rc != 0)
      return Status::Failed(fmt::format("smtp {}: {}", where_, ::gai_strerror(rc)));
    for (addrinfo* a = res; a; a = a->ai_next) {
      fd_ = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
      if (fd_ >= 0 && ::connect(fd_, a->ai_addr, a->ai_addrlen) == 0) break;
      if (fd_ >= 0) ::close(fd_);
      fd_ = -1;
    }
    ::freeaddrinfo(res);
    if (fd_ < 0) return Status::Failed(fmt::format("smtp {}: cannot connect", where_));
    // Every read and write (in clear or TLS) waits at most this long.
    timeval tv{};
    tv.tv_sec = timeout_ms / 1000;
    tv.tv_usec = (timeout_ms % 1000) * 1000;
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return Status::Ok();
  }

  // The TLS handshake after the server's "220" to STARTTLS: the server's
  // certificate must chain to `ca_file` (else the system's CAs) and name
  // `host`, unless !verify.
  Status StartTls(const std::string& host, bool verify, const std::string& ca_file) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    if (!ctx_) return TlsError("TLS setup");
    SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
    if (verify) {
      SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
      const int loaded = ca_file.empty()
                             ? SSL_CTX_set_default_verify_paths(ctx_)
                             : SSL_CTX_load_verify_locations(ctx_, ca_file.c_str(), nullptr);
      if (loaded != 1)
        return TlsError(ca_file.empty() ? std::string("the system's CA certificates")
                                        : "CA file " + ca_file);
    }
    ssl_ = SSL_new(ctx_);
    if (!ssl_) return TlsError("TLS setup");
    in6_addr ip6{};
    in_addr ip4{};
    const bool is_ip = ::inet_pton(AF_INET, host.c_str(), &ip4) == 1 ||
                       ::inet_pton(AF_INET6, host.c_str(), &ip6) == 1;
    if (!is_ip) SSL_set_tlsext_host_name(ssl_, host.c_str());
    if (verify) {
      X509_VERIFY_PARAM* param = SSL_get0_param(ssl_);
      const int set = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str())
                            : X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0);
      if (set != 1) return TlsError("TLS setup");
    }
    SSL_set_fd(ssl_, fd_);
    if (SSL_connect(ssl_) != 1) {
      const long result = SSL_get_verify_result(ssl_);
      if (verify && result != X509_V_OK)
        return Status::Failed(
            fmt::format("smtp {}: STARTTLS: the server's certificate is not trusted: {}{}", where_,
                        X509_verify_cert_error_string(result),
                        ca_file.empty() ? " (give its CA with --alert-smtp-ca-file)" : ""));
      return TlsError("STARTTLS handshake");
    }
    buf_.clear();  // nothing read in clear counts after the handshake
    return Status::Ok();
  }
  std::string TlsVersion() const { return ssl_ ? SSL_get_version(ssl_) : ""; }

  Status Write(const std::string& data) {
    size_t off = 0;
    while (off < data.size()) {
      ssize_t n;
      if (ssl_) {
        // SSL_write writes with write(2): a peer gone would raise SIGPIPE.
        // It is blocked here and a pending one consumed.
        sigset_t pipe, old;
        sigemptyset(&pipe);
        sigaddset(&pipe, SIGPIPE);
        ::pthread_sigmask(SIG_BLOCK, &pipe, &old);
        n = SSL_write(ssl_, data.data() + off, static_cast<int>(data.size() - off));
        timespec zero{};
        while (::sigtimedwait(&pipe, nullptr, &zero) > 0) {
        }
        ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
      } else {
        n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      }
      if (n <= 0)
        return Status::Failed(fmt::format("smtp {}: connection closed while sending", where_));
      off += static_cast<size_t>(n);
    }
    return Status::Ok();
  }
  // Reads a (multi-line) reply into `reply` (its lines joined by "\n");
  // fails unless its code starts with `expect`.
  Status Expect(char expect, const std::string& step, std::string* reply_out = nullptr) {
    std::string reply;
    for (;;) {
      size_t eol;
      while ((eol = buf_.find("\r\n")) == std::string::npos) {
        char chunk[512];
        ssize_t n =
            ssl_ ? SSL_read(ssl_, chunk, sizeof chunk) : ::recv(fd_, chunk, sizeof chunk, 0);
        if (n <= 0)
          return Status::Failed(
              fmt::format("smtp {}: no reply (connection closed or timed out)", step));
        buf_.append(chunk, static_cast<size_t>(n));
      }
      std::string line = buf_.substr(0, eol);
      buf_.erase(0, eol + 2);
      reply += (reply.empty() ? "" : "\n") + line;
      if (line.size() < 4 || line[3] != '-') break;
    }
    if (reply_out) *reply_out = reply;
    if (reply.empty() || reply[0] != expect) {
      for (char& c : reply)
        if (c == '\n') c = ' ';
      return Status::Failed(fmt::format("smtp {}: refused: {}", step, reply));
    }
    return Status::Ok();
  }
  Status Command(const std::string& line, char expect, const std::string& step,
                 std::string* reply = nullptr) {
    ALAMBIC_RETURN_IF_ERROR(Write(line + "\r\n"));
    return Expect(expect, step, reply);
  }

 private:
  Status TlsError(const std::string& what) {
    std::string detail;
    while (unsigned long e = ERR_get_error()) {
      char b[256];
      ERR_error_string_n(e, b, sizeof b);
      detail += (detail.empty() ? "" : "; ") + std::string(b);
    }
    return Status::Failed(
        fmt::format("smtp {}: {}: {}", where_, what, detail.empty() ? "failed" : detail));
  }

  std::string where_;
  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  std::string buf_;
};

// No CR or LF in a header or an SMTP command.
std::string OneLine(std::string s) {
  for (char& c : s)
    if (c == '\r' || c == '\n') c = ' ';
  return s;
}

std::string Base64(const std::string& in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(std::max(n, 0)));
  return out;
}

// The EHLO reply's keywords ("STARTTLS", "AUTH PLAIN LOGIN", ...), upper case.
std::vector<std::string> Extensions(const std::string& ehlo) {
  std::vector<std::string> out;
  size_t start = 0;
  bool first = true;
  while (start <= ehlo.size()) {
    size_t eol = ehlo.find('\n', start);
    std::string line = ehlo.substr(start, eol == std::string::npos ? eol : eol - start);
    if (!first && line.size() > 4) {
      std::string k = line.substr(4);
      for (char& c : k) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      out.push_back(k);
    }
    first = false;
    if (eol == std::string::npos) break;
    start = eol + 1;
  }
  return out;
}

bool Has(const std::vector<std::string>& ext, const std::string& word) {
  for (const auto& e : ext)
    if (e == word || e.rfind(word + " ", 0) == 0) return true;
  return false;
}

bool HasAuth(const std::vector<std::string>& ext, const std::string& mechanism) {
  for (const auto& e : ext) {
    if (e.rfind("AUTH ", 0) != 0 && e.rfind("AUTH=", 0) != 0) continue;
    std::string rest = " " + e.substr(5) + " ";
    if (rest.find(" " + mechanism + " ") != std::string::npos) return true;
  }
  return false;
}

}  // namespace

Status SmtpAlertSink::Send(const Alert& alert) {
  const std::string where = fmt::format("{}:{}", options_.host, options_.port);
  if (options_.from.empty() || options_.to.empty())
    return Status::Invalid("smtp alerts need a sender and at least one recipient");
  if (!options_.username.empty() && !options_.starttls)
    return Status::Invalid(fmt::format(
        "smtp {}: AUTH needs STARTTLS (the password would cross the network in clear)", where));
  Status st = Converse(alert, where);
  if (st.ok() || options_.password.empty()) return st;
  // Never a password (or its encodings) in a message that is logged.
  std::string m = st.message();
  for (const std::string& secret : {options_.password, Base64(options_.password),
                                    Base64(std::string(1, '\0') + options_.username +
                                           std::string(1, '\0') + options_.password)}) {
    for (size_t at = 0; !secret.empty() && (at = m.find(secret, at)) != std::string::npos; at += 3)
      m.replace(at, secret.size(), "***");
  }
  return st.code() == StatusCode::kInvalid ? Status::Invalid(m) : Status::Failed(m);
}

Status SmtpAlertSink::Converse(const Alert& alert, const std::string& where) {
  SmtpConnection c(where);
  ALAMBIC_RETURN_IF_ERROR(
      c.Connect(options_.host, options_.port, static_cast<int>(options_.timeout_seconds * 1000)));
  ALAMBIC_RETURN_IF_ERROR(c.Expect('2', "greeting"));
  std::string ehlo;
  ALAMBIC_RETURN_IF_ERROR(c.Command("EHLO alambic", '2', "EHLO", &ehlo));
  if (options_.starttls) {
    if (!Has(Extensions(ehlo), "STARTTLS"))
      return Status::Failed(fmt::format("smtp {}: the server does not offer STARTTLS (EHLO: {})",
                                        where, OneLine(ehlo)));
    ALAMBIC_RETURN_IF_ERROR(c.Command("STARTTLS", '2', "STARTTLS"));
    ALAMBIC_RETURN_IF_ERROR(c.StartTls(options_.host, options_.verify, options_.ca_file));
    // RFC 3207: what the server said before TLS is forgotten.
    ALAMBIC_RETURN_IF_ERROR(c.Command("EHLO alambic", '2', "EHLO after STARTTLS", &ehlo));
  }
  if (!options_.username.empty()) {
    const auto ext = Extensions(ehlo);
    const std::string as = fmt::format("{} AUTH as {}", where, OneLine(options_.username));
    if (HasAuth(ext, "PLAIN")) {
      const std::string token = Base64(std::string(1, '\0') + options_.username +
                                       std::string(1, '\0') + options_.password);
      ALAMBIC_RETURN_IF_ERROR(c.Command("AUTH PLAIN " + token, '2', as + " (PLAIN)"));
    } else if (HasAuth(ext, "LOGIN")) {
      ALAMBIC_RETURN_IF_ERROR(c.Command("AUTH LOGIN", '3', as + " (LOGIN)"));
      ALAMBIC_RETURN_IF_ERROR(c.Command(Base64(options_.username), '3', as + " (LOGIN)"));
      ALAMBIC_RETURN_IF_ERROR(c.Command(Base64(options_.password), '2', as + " (LOGIN)"));
    } else {
      return Status::Failed(
          fmt::format("smtp {}: the server offers neither AUTH PLAIN nor AUTH LOGIN (EHLO: {})",
                      where, OneLine(ehlo)));
    }
  }
  ALAMBIC_RETURN_IF_ERROR(
      c.Command("MAIL FROM:<" + OneLine(options_.from) + ">", '2', "MAIL FROM"));
  for (const auto& to : options_.to)
    ALAMBIC_RETURN_IF_ERROR(c.Command("RCPT TO:<" + OneLine(to) + ">", '2', "RCPT TO " + to));
  ALAMBIC_RETURN_IF_ERROR(c.Command("DATA", '3', "DATA"));
  std::string to_header;
  for (const auto& to : options_.to) to_header += (to_header.empty() ? "" : ", ") + OneLine(to);
  std::string body =
      fmt::format("Alambic: {} of {} in {}\nslot: {} {}\nrun: {}\n\n{}\n", alert.kind, alert.flow,
                  alert.environment, alert.nominal, alert.timezone, alert.run_id, alert.message);
  std::string msg = fmt::format(
      "From: {}\r\nTo: {}\r\nSubject: [alambic] {} {} {}\r\nContent-Type: text/plain; "
      "charset=utf-8\r\n\r\n",
      OneLine(options_.from), to_header, OneLine(alert.kind), OneLine(alert.flow),
      OneLine(alert.nominal));
  // Lines end in CRLF; a line starting with '.' gets another (dot-stuffing).
  size_t start = 0;
  while (start < body.size()) {
    size_t eol = body.find('\n', start);
    std::string line = body.substr(start, eol == std::string::npos ? eol : eol - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty() && line[0] == '.') line.insert(0, ".");
    msg += line + "\r\n";
    if (eol == std::string::npos) break;
    start = eol + 1;
  }
  ALAMBIC_RETURN_IF_ERROR(c.Command(msg + ".", '2', "message"));
  (void)c.Command("QUIT", '2', "QUIT");
  return Status::Ok();
}

Status AlertSinks::Send(const Alert& alert) {
  Status first;
  for (auto& s : sinks_)
    if (Status st = s->Send(alert); !st.ok() && first.ok()) first = st;
  return first;
}

}  // namespace alambic
