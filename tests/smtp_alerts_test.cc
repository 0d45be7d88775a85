// SMTP alerts over STARTTLS with AUTH, against a real SMTP server on loopback
// (tests/smtp/smtp_server.py: python3's ssl) with a self-signed certificate
// made by `openssl req`: the mail arrives, TLS was negotiated, AUTH was used;
// an untrusted certificate or a wrong password fails clearly, never showing
// the password.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "services/scheduler/alerts.h"
#include "tests/test_util.h"

namespace alambic::smtp_alerts_test {
namespace {

using testing::ReadFile;
using testing::ShellQuote;
using testing::TempDir;

constexpr const char* kPassword = "s3cr3t-Pa55";

// The python3 server, started with its stdin and stdout as pipes; stopped by
// closing its stdin.
class SmtpServer {
 public:
  SmtpServer(const TempDir& dir, const std::string& auth) {
    cert_ = (dir.path() / "cert.pem").string();
    const std::string key = (dir.path() / "key.pem").string();
    log_ = (dir.path() / "smtp.jsonl").string();
    const std::string gen =
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
        "-addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout " +
        ShellQuote(key) + " -out " + ShellQuote(cert_) + " >/dev/null 2>&1";
    ok_ = std::system(gen.c_str()) == 0;
    if (!ok_) return;
    int in[2], out[2];
    if (::pipe(in) != 0 || ::pipe(out) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      ::close(in[1]);
      ::close(out[0]);
      const std::string script = std::string(ALAMBIC_SOURCE_DIR) + "/tests/smtp/smtp_server.py";
      ::execl("/usr/bin/python3", "python3", script.c_str(), cert_.c_str(), key.c_str(),
              log_.c_str(), "--user", "ops", "--password", kPassword, "--auth", auth.c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    stdin_ = in[1];
    FILE* f = ::fdopen(out[0], "r");
    if (f && std::fscanf(f, "%d", &port_) != 1) port_ = 0;
    if (f) std::fclose(f);
  }
  ~SmtpServer() {
    if (stdin_ >= 0) ::close(stdin_);
    if (pid_ > 0) {
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }
  bool ok() const { return ok_ && port_ > 0; }
  int port() const { return port_; }
  const std::string& cert() const { return cert_; }
  // The conversations logged so far (waits a little for the one in progress).
  std::vector<nlohmann::json> Conversations(size_t at_least) const {
    std::vector<nlohmann::json> out;
    for (int i = 0; i < 200; ++i) {
      out.clear();
      std::istringstream in(ReadFile(log_));
      for (std::string line; std::getline(in, line);)
        if (!line.empty()) out.push_back(nlohmann::json::parse(line));
      if (out.size() >= at_least) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return out;
  }

 private:
  bool ok_ = false;
  pid_t pid_ = -1;
  int stdin_ = -1, port_ = 0;
  std::string cert_, log_;
};

SmtpOptions Options(const SmtpServer& s) {
  SmtpOptions o;
  o.host = "127.0.0.1";
  o.port = s.port();
  o.from = "alambic@lab.example";
  o.to = {"ops@lab.example"};
  o.timeout_seconds = 5;
  o.starttls = true;
  o.ca_file = s.cert();
  o.username = "ops";
  o.password = kPassword;
  return o;
}

const Alert kAlert{"failure",
                   "permis",
                   "warehouse",
                   "2026-06-01T03:00",
                   "Europe/Paris",
                   "run-1",
                   "recipe clean_exams failed"};

TEST(SmtpAlertsTest, StartTlsThenAuthPlainDeliversTheMail) {
  TempDir dir;
  SmtpServer server(dir, "PLAIN,LOGIN");
  ASSERT_TRUE(server.ok()) << "could not start the SMTP test server (python3, openssl: "
                              "scripts/setup-deps)";
  Status st = SmtpAlertSink(Options(server)).Send(kAlert);
  ASSERT_TRUE(st.ok()) << st.message();
  auto conv = server.Conversations(1);
  ASSERT_EQ(conv.size(), 1u);
  const auto& c = conv[0];
  EXPECT_TRUE(c["tls"] == "TLSv1.3" || c["tls"] == "TLSv1.2") << c.dump();
  EXPECT_EQ(c["auth"], "PLAIN") << c.dump();
  EXPECT_EQ(c["auth_user"], "ops");
  EXPECT_EQ(c["mail_from"], "<alambic@lab.example>");
  EXPECT_EQ(c["rcpt"], nlohmann::json::array({"<ops@lab.example>"}));
  ASSERT_TRUE(c["data"].is_string()) << c.dump();
  EXPECT_NE(c["data"].get<std::string>().find("Subject: [alambic] failure permis"),
            std::string::npos);
  // STARTTLS came before AUTH and the envelope; EHLO again after it.
  EXPECT_EQ(c["commands"], nlohmann::json::array({"EHLO alambic", "STARTTLS", "EHLO alambic",
                                                  "AUTH", "MAIL FROM:<alambic@lab.example>",
                                                  "RCPT TO:<ops@lab.example>", "DATA", "QUIT"}));
}

TEST(SmtpAlertsTest, AuthLoginWhenTheServerOffersOnlyLogin) {
  TempDir dir;
  SmtpServer server(dir, "LOGIN");
  ASSERT_TRUE(server.ok());
  Status st = SmtpAlertSink(Options(server)).Send(kAlert);
  ASSERT_TRUE(st.ok()) << st.message();
  auto conv = server.Conversations(1);
  ASSERT_EQ(conv.size(), 1u);
  EXPECT_EQ(conv[0]["auth"], "LOGIN") << conv[0].dump();
  EXPECT_TRUE(conv[0]["data"].is_string());
}

TEST(SmtpAlertsTest, WrongPasswordIsAClearErrorWithoutThePassword) {
  TempDir dir;
  SmtpServer server(dir, "PLAIN");
  ASSERT_TRUE(server.ok());
  SmtpOptions o = Options(server);
  o.password = "wrong-Pa55word";
  Status st = SmtpAlertSink(o).Send(kAlert);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message(),
            "smtp 127.0.0.1:" + std::to_string(server.port()) +
                " AUTH as ops (PLAIN): refused: 535 5.7.8 Authentication credentials invalid");
  EXPECT_EQ(st.message().find("wrong-Pa55word"), std::string::npos);
  // A password that is part of the server's reply is masked (and a password
  // made of the mask's own characters does not loop).
  for (const std::string pw : {"Authentication", "*"}) {
    o.password = pw;
    st = SmtpAlertSink(o).Send(kAlert);
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.message().find(pw == "*" ? "****" : pw), std::string::npos) << st.message();
  }
  auto conv = server.Conversations(3);
  ASSERT_EQ(conv.size(), 3u);
  EXPECT_EQ(conv[0]["auth_refused"], nlohmann::json::array({"PLAIN"}));
  EXPECT_TRUE(conv[0]["data"].is_null());  // nothing sent
}

TEST(SmtpAlertsTest, UntrustedCertificateIsRefusedUnlessItsCaIsGiven) {
  TempDir dir;
  SmtpServer server(dir, "PLAIN");
  ASSERT_TRUE(server.ok());
  SmtpOptions o = Options(server);
  o.ca_file.clear();  // the system's CAs: the self-signed certificate is not among them
  Status st = SmtpAlertSink(o).Send(kAlert);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("STARTTLS: the server's certificate is not trusted: self-signed "
                              "certificate"),
            std::string::npos)
      << st.message();
  EXPECT_NE(st.message().find("--alert-smtp-ca-file"), std::string::npos) << st.message();
  // With its CA, by the name the certificate gives (DNS:localhost): accepted.
  o = Options(server);
  o.host = "localhost";
  EXPECT_TRUE(SmtpAlertSink(o).Send(kAlert).ok());
  auto conv = server.Conversations(2);
  ASSERT_EQ(conv.size(), 2u);
  EXPECT_TRUE(conv[0]["data"].is_null()) << conv[0].dump();  // the refused one sent nothing
  EXPECT_TRUE(conv[1]["data"].is_string()) << conv[1].dump();
}

TEST(SmtpAlertsTest, AuthWithoutStartTlsIsRefusedBeforeConnecting) {
  SmtpOptions o;
  o.host = "127.0.0.1";
  o.port = 1;
  o.from = "a@b";
  o.to = {"c@d"};
  o.username = "ops";
  o.password = kPassword;
  Status st = SmtpAlertSink(o).Send(kAlert);
  EXPECT_EQ(st.code(), StatusCode::kInvalid);
  EXPECT_EQ(st.message(),
            "smtp 127.0.0.1:1: AUTH needs STARTTLS (the password would cross the network in "
            "clear)");
}

// The daemon's SMTP options: the password only as a secret of alambic.yaml,
// AUTH only with STARTTLS; each refusal says why, before anything runs.
TEST(SmtpAlertsTest, DaemonTakesTheSmtpPasswordOnlyFromASecret) {
  TempDir dir;
  testing::WriteFile(dir.path() / "alambic.yaml",
                     "name: t\nsecrets:\n  smtp_password: {env: ALAMBIC_TEST_SMTP_PASSWORD}\n");
  testing::WriteFile(dir.path() / "flows/f.yaml", "flow: f\nrecipes: []\n");
  const std::vector<std::string> base = {"--env",        "datalab",         "daemon",
                                         "--alert-smtp", "127.0.0.1:1",     "--alert-mail-from",
                                         "a@b",          "--alert-mail-to", "c@d"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  };
  auto literal = testing::Cli(dir.path(), with({"--alert-smtp-starttls", "--alert-smtp-user", "ops",
                                                "--alert-smtp-password", kPassword}));
  EXPECT_EQ(literal.code, 1);
  EXPECT_NE(literal.err.find("--alert-smtp-password must name a secret of alambic.yaml, "
                             "secret:NAME"),
            std::string::npos)
      << literal.err;
  EXPECT_EQ(literal.err.find(kPassword), std::string::npos);
  auto clear = testing::Cli(dir.path(), with({"--alert-smtp-user", "ops", "--alert-smtp-password",
                                              "secret:smtp_password"}));
  EXPECT_EQ(clear.code, 1);
  EXPECT_NE(clear.err.find("--alert-smtp-user needs --alert-smtp-starttls"), std::string::npos)
      << clear.err;
  auto unset = testing::Cli(dir.path(),
                            with({"--alert-smtp-starttls", "--alert-smtp-user", "ops",
                                  "--alert-smtp-password", "secret:smtp_password"}),
                            "env -u ALAMBIC_TEST_SMTP_PASSWORD");
  EXPECT_EQ(unset.code, 1);
  EXPECT_NE(unset.err.find("--alert-smtp-password"), std::string::npos) << unset.err;
  EXPECT_NE(unset.err.find("ALAMBIC_TEST_SMTP_PASSWORD"), std::string::npos) << unset.err;
}

}  // namespace
}  // namespace alambic::smtp_alerts_test
