// Alerts of the scheduler: a run of a slot failed (after its retries), a flow
// recovered (a success after a failure), a run succeeded with warnings (failed
// checks of severity warn), or a slot is late (its run has not finished
// `late_after` after its nominal time). Sent through an AlertSink;
// WebhookAlertSink POSTs each alert as JSON with retries.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/base/status.h"

namespace alambic {

struct Alert {
  std::string kind;  // failure | recovery | warning | late
  std::string flow, environment, nominal, timezone, run_id, message;
  nlohmann::json ToJson() const;
};

// Thread-safety: Send is called from the scheduler's thread only.
class AlertSink {
 public:
  virtual ~AlertSink() = default;
  virtual Status Send(const Alert& alert) = 0;
};

struct WebhookOptions {
  std::string url;                     // http[s]://host[:port][/path]
  int retries = 2;                     // extra attempts after the first
  double retry_backoff_seconds = 0.5;  // first delay, doubled each attempt
  double timeout_seconds = 5;          // connect and read, per attempt
};

// POSTs {"kind", "flow", "environment", "nominal", "timezone", "run_id",
// "message"} as application/json; a 2xx answer accepts it, anything else is
// retried. Fails (Failed) naming the URL and the last answer.
class WebhookAlertSink final : public AlertSink {
 public:
  explicit WebhookAlertSink(WebhookOptions options) : options_(std::move(options)) {}
  Status Send(const Alert& alert) override;

 private:
  WebhookOptions options_;
};

struct SmtpOptions {
  std::string host = "127.0.0.1";
  int port = 25;
  std::string from;             // envelope and From: address
  std::vector<std::string> to;  // recipients
  double timeout_seconds = 10;  // per reply
  // STARTTLS (RFC 3207) before anything else is sent; the server's
  // certificate is verified (it must chain to `ca_file`, else to the system's
  // CAs, and name `host`) unless `verify` is false.
  bool starttls = false;
  bool verify = true;
  std::string ca_file;
  // AUTH PLAIN, else LOGIN (what the server offers), after STARTTLS only;
  // none when `username` is empty. The password is never in a message.
  std::string username, password;
};

// Sends each alert as a plain-text e-mail through an SMTP server (RFC 5321:
// EHLO, [STARTTLS, EHLO], [AUTH], MAIL FROM, RCPT TO, DATA with dot-stuffing,
// QUIT). Fails (Failed) with the server's reply when it refuses a step, or
// naming why TLS failed (an untrusted certificate); Invalid for AUTH without
// STARTTLS.
class SmtpAlertSink final : public AlertSink {
 public:
  explicit SmtpAlertSink(SmtpOptions options) : options_(std::move(options)) {}
  Status Send(const Alert& alert) override;

 private:
  Status Converse(const Alert& alert, const std::string& where);
  SmtpOptions options_;
};

// Sends to each sink in turn; fails with the first failure, after trying all.
class AlertSinks final : public AlertSink {
 public:
  void Add(std::unique_ptr<AlertSink> sink) { sinks_.push_back(std::move(sink)); }
  bool empty() const { return sinks_.empty(); }
  Status Send(const Alert& alert) override;

 private:
  std::vector<std::unique_ptr<AlertSink>> sinks_;
};

}  // namespace alambic
