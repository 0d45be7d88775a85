#include "services/scheduler/alerts.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

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

// One SMTP conversation over a TCP socket.
class SmtpConnection {
 public:
  ~SmtpConnection() {
    if (fd_ >= 0) ::close(fd_);
  }
  Status Connect(const std::string& host, int port, int timeout_ms) {
    timeout_ms_ = timeout_ms;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res); rc != 0)
      return Status::Failed(fmt::format("smtp {}:{}: {}", host, port, ::gai_strerror(rc)));
    for (addrinfo* a = res; a; a = a->ai_next) {
      fd_ = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
      if (fd_ >= 0 && ::connect(fd_, a->ai_addr, a->ai_addrlen) == 0) break;
      if (fd_ >= 0) ::close(fd_);
      fd_ = -1;
    }
    ::freeaddrinfo(res);
    if (fd_ < 0) return Status::Failed(fmt::format("smtp {}:{}: cannot connect", host, port));
    return Status::Ok();
  }
  Status Write(const std::string& data) {
    size_t off = 0;
    while (off < data.size()) {
      ssize_t n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return Status::Failed("smtp: connection closed while sending");
      off += static_cast<size_t>(n);
    }
    return Status::Ok();
  }
  // Reads a (multi-line) reply; fails unless its code starts with `expect`.
  Status Expect(char expect, const std::string& step) {
    std::string reply;
    for (;;) {
      size_t eol;
      while ((eol = buf_.find("\r\n")) == std::string::npos) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, timeout_ms_) <= 0)
          return Status::Failed(fmt::format("smtp {}: no reply", step));
        char chunk[512];
        ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
        if (n <= 0) return Status::Failed(fmt::format("smtp {}: connection closed", step));
        buf_.append(chunk, static_cast<size_t>(n));
      }
      std::string line = buf_.substr(0, eol);
      buf_.erase(0, eol + 2);
      reply += (reply.empty() ? "" : " ") + line;
      if (line.size() < 4 || line[3] != '-') break;
    }
    if (reply.empty() || reply[0] != expect)
      return Status::Failed(fmt::format("smtp {}: refused: {}", step, reply));
    return Status::Ok();
  }
  Status Command(const std::string& line, char expect, const std::string& step) {
    ALAMBIC_RETURN_IF_ERROR(Write(line + "\r\n"));
    return Expect(expect, step);
  }

 private:
  int fd_ = -1;
  int timeout_ms_ = 10000;
  std::string buf_;
};

// No CR or LF in a header or an SMTP command.
std::string OneLine(std::string s) {
  for (char& c : s)
    if (c == '\r' || c == '\n') c = ' ';
  return s;
}

}  // namespace

Status SmtpAlertSink::Send(const Alert& alert) {
  if (options_.from.empty() || options_.to.empty())
    return Status::Invalid("smtp alerts need a sender and at least one recipient");
  SmtpConnection c;
  ALAMBIC_RETURN_IF_ERROR(
      c.Connect(options_.host, options_.port, static_cast<int>(options_.timeout_seconds * 1000)));
  ALAMBIC_RETURN_IF_ERROR(c.Expect('2', "greeting"));
  ALAMBIC_RETURN_IF_ERROR(c.Command("EHLO alambic", '2', "EHLO"));
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
