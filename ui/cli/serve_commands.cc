#include "ui/cli/serve_commands.h"

#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <iostream>
#include <thread>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "catalog/catalog.h"
#include "core/base/actor.h"
#include "core/base/clock.h"
#include "core/flow/loader.h"
#include "services/scheduler/engine_launcher.h"
#include "services/scheduler/scheduler.h"
#include "services/users.h"
#include "services/workspace.h"
#include "ui/cli/cli.h"
#include "ui/cli/daemon_commands.h"
#include "ui/common/text_table.h"
#include "ui/web/server.h"

#ifndef ALAMBIC_WEB_DIST_DIR
#define ALAMBIC_WEB_DIST_DIR ""
#endif

namespace alambic {

namespace {

namespace fs = std::filesystem;

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop.store(true); }

// A password from the terminal (not echoed, asked twice when `confirm`) or
// one line of stdin.
Result<std::string> ReadPassword(bool confirm) {
  if (!::isatty(STDIN_FILENO)) {
    std::string line;
    if (!std::getline(std::cin, line)) return Status::Invalid("no password on stdin");
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
  }
  auto ask = [](const char* prompt) -> std::string {
    std::fprintf(stderr, "%s", prompt);
    std::fflush(stderr);
    termios old{};
    ::tcgetattr(STDIN_FILENO, &old);
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
    std::string line;
    std::getline(std::cin, line);
    ::tcsetattr(STDIN_FILENO, TCSANOW, &old);
    std::fprintf(stderr, "\n");
    return line;
  };
  std::string p = ask("Password: ");
  if (confirm && ask("Password again: ") != p) return Status::Invalid("the passwords differ");
  return p;
}

Result<std::unique_ptr<UserStore>> OpenUsers(const fs::path& root) {
  ALAMBIC_ASSIGN_OR_RETURN(std::string secret, LoadInstallSecret(root));
  return UserStore::Open(root / ".alambic" / "catalog.db", std::move(secret));
}

Result<Role> RoleArg(const std::string& name) {
  auto r = ParseRole(name);
  if (!r) return Status::Invalid(fmt::format("unknown role '{}' (viewer, engineer, admin)", name));
  return *r;
}

}  // namespace

ServeCommands::ServeCommands(CLI::App& app) {
  serve_ = app.add_subcommand("serve", "Serve the web UI and its JSON API (docs/api.md)");
  serve_->add_option("--port", port_, "TCP port (default 8080; 0: any free port)");
  serve_->add_option("--host", host_, "Address to listen on (default 127.0.0.1)");
  serve_->add_option("--static-dir", static_dir_,
                     "The UI bundle's directory (default: $ALAMBIC_WEB_DIR, else the build's)");
  serve_->add_flag("--scheduler", scheduler_,
                   "Also run the schedules of --env (default warehouse) in this process");
  serve_->add_flag("--tls-proxy", tls_proxy_,
                   "Behind a TLS reverse proxy: session cookies are Secure");
  serve_->add_option("--threads", threads_, "Worker threads, one per open connection (default 64)");
  serve_->add_option("--queue", queue_, "Connections waiting for a worker (default 64)");
  serve_->add_flag("--init-secret", init_secret_,
                   "Create .alambic/web_secret (mode 600) when it does not exist");

  user_ = app.add_subcommand("user", "Users of the web UI and their roles");
  user_->require_subcommand(1);
  user_add_ = user_->add_subcommand("add", "Add a user (password from the terminal or stdin)");
  user_add_->add_option("name", name_, "User name")->required();
  user_add_->add_option("--role", role_, "viewer (default), engineer or admin");
  user_passwd_ = user_->add_subcommand("passwd", "Change a password (ends the user's sessions)");
  user_passwd_->add_option("name", name_, "User name")->required();
  user_role_ = user_->add_subcommand("role", "Change a user's role (ends the user's sessions)");
  user_role_->add_option("name", name_, "User name")->required();
  user_role_->add_option("role", role_, "viewer, engineer or admin")->required();
  user_remove_ = user_->add_subcommand("remove", "Remove a user, their sessions and tokens");
  user_remove_->add_option("name", name_, "User name")->required();
  user_list_ = user_->add_subcommand("list", "List the users");

  token_ = app.add_subcommand("token", "API tokens for scripts (Authorization: Bearer)");
  token_->require_subcommand(1);
  token_add_ = token_->add_subcommand("add", "Create a token; its secret is printed once");
  token_add_->add_option("--name", token_name_, "What it is for")->required();
  token_add_->add_option("--role", role_, "viewer (default), engineer or admin");
  token_add_->add_option("--usecase", usecases_, "Limit it to this use case (repeatable)");
  token_add_->add_option("--user", token_user_, "Whose token (default: the current user)");
  token_list_ = token_->add_subcommand("list", "List the tokens");
  token_revoke_ = token_->add_subcommand("revoke", "Revoke a token");
  token_revoke_->add_option("id", name_, "The token id (tok_...)")->required();

  secret_ = app.add_subcommand("secret", "The web server's install secret");
  secret_->require_subcommand(1);
  secret_init_ = secret_->add_subcommand("init", "Create .alambic/web_secret (mode 600)");
}

bool ServeCommands::parsed() const {
  return serve_->parsed() || user_->parsed() || token_->parsed() || secret_->parsed();
}

int ServeCommands::Run(const std::string& dir, const std::string& env) const {
  auto root = FindWorkspace(fs::absolute(dir).lexically_normal());
  if (!root.ok()) return Fail(root.status());
  if (secret_init_->parsed() || (serve_->parsed() && init_secret_)) {
    auto p = InitInstallSecret(*root);
    if (!p.ok()) return Fail(p.status());
    if (secret_init_->parsed()) {
      std::printf("install secret: %s\n", Printable(p->string()).c_str());
      return kExitOk;
    }
  }
  if (user_->parsed()) {
    auto users = OpenUsers(*root);
    if (!users.ok()) return Fail(users.status());
    UserStore& u = **users;
    Status st;
    if (user_add_->parsed()) {
      auto role = RoleArg(role_.empty() ? "viewer" : role_);
      if (!role.ok()) return Fail(role.status());
      auto pw = ReadPassword(true);
      if (!pw.ok()) return Fail(pw.status());
      st = u.AddUser(name_, *role, *pw);
    } else if (user_passwd_->parsed()) {
      auto pw = ReadPassword(true);
      if (!pw.ok()) return Fail(pw.status());
      st = u.SetPassword(name_, *pw);
    } else if (user_role_->parsed()) {
      auto role = RoleArg(role_);
      if (!role.ok()) return Fail(role.status());
      st = u.SetRole(name_, *role);
    } else if (user_remove_->parsed()) {
      st = u.RemoveUser(name_);
    } else {
      auto list = u.ListUsers();
      if (!list.ok()) return Fail(list.status());
      TextTable t({"USER", "ROLE", "CREATED", "PASSWORD CHANGED"});
      for (const auto& x : *list)
        t.AddRow({x.name, RoleName(x.role), x.created_at, x.password_changed_at});
      std::printf("%s", t.Render().c_str());
      return kExitOk;
    }
    if (!st.ok()) return Fail(st);
    return kExitOk;
  }
  if (token_->parsed()) {
    auto users = OpenUsers(*root);
    if (!users.ok()) return Fail(users.status());
    UserStore& u = **users;
    if (token_add_->parsed()) {
      auto role = RoleArg(role_.empty() ? "viewer" : role_);
      if (!role.ok()) return Fail(role.status());
      const std::string owner = token_user_.empty() ? Actor::Current().user : token_user_;
      auto t = u.AddToken(owner, token_name_, *role, usecases_);
      if (!t.ok()) return Fail(t.status());
      std::fprintf(stderr, "token %s for %s (%s); the secret below is shown only once:\n",
                   t->token.id.c_str(), Printable(owner).c_str(), RoleName(*role));
      std::printf("%s\n", t->secret.c_str());
      return kExitOk;
    }
    if (token_revoke_->parsed()) {
      Status st = u.RevokeToken(name_, "");
      return st.ok() ? kExitOk : Fail(st);
    }
    auto list = u.ListTokens("");
    if (!list.ok()) return Fail(list.status());
    TextTable t({"ID", "NAME", "USER", "ROLE", "USE CASES", "CREATED", "LAST USED", "REVOKED"});
    for (const auto& x : *list) {
      std::string ucs;
      for (const auto& uc : x.usecases) ucs += (ucs.empty() ? "" : ",") + uc;
      t.AddRow({x.id, x.name, x.user, RoleName(x.role), ucs.empty() ? "all" : ucs, x.created_at,
                x.last_used_at, x.revoked_at});
    }
    std::printf("%s", t.Render().c_str());
    return kExitOk;
  }
  // serve
  auto secret = LoadInstallSecret(*root);
  if (!secret.ok())
    return Fail(Status::Invalid(fmt::format(
        "{}\n(the server refuses to start without it; `alambic serve --init-secret` creates one)",
        secret.status().message())));
  auto ui = LoadUiConfig(*root);
  if (!ui.ok()) return Fail(ui.status());
  ServerOptions o;
  o.host = host_;
  o.port = port_;
  o.threads = threads_;
  o.queue = queue_;
  o.tls_proxy = tls_proxy_;
  if (!static_dir_.empty())
    o.static_dir = static_dir_;
  else if (const char* d = std::getenv("ALAMBIC_WEB_DIR"); d && *d)
    o.static_dir = d;
  else
    o.static_dir = ALAMBIC_WEB_DIST_DIR;
  o.log = [](const std::string& line) {
    std::fprintf(stderr, "alambic serve: %s\n", Printable(line).c_str());
  };
  if (port_ < 0 || port_ > 65535) return Fail(Status::Invalid("--port must be 0..65535"));
  if (threads_ < 1 || queue_ < 1)
    return Fail(Status::Invalid("--threads and --queue must be >= 1"));
  auto server = WebServer::Create(*root, o, *ui, *secret);
  if (!server.ok()) return Fail(server.status());
  if (Status st = (*server)->Bind(); !st.ok()) return Fail(st);
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  std::atomic<bool> stop_scheduler{false};
  std::thread scheduler;
  if (scheduler_)
    scheduler = std::thread([dir = root->string(), env, &stop_scheduler] {
      RunSchedulerUntil(dir, env, stop_scheduler);
    });
  WebServer* srv = server->get();
  std::thread watch([srv] {
    while (!g_stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    srv->Stop();
  });
  std::printf("alambic serve: http://%s:%d/ (UI from %s)\n", host_.c_str(), srv->port(),
              o.static_dir.empty() ? "nowhere" : Printable(o.static_dir.string()).c_str());
  std::fflush(stdout);
  srv->Run();
  g_stop.store(true);
  watch.join();
  stop_scheduler.store(true);
  if (scheduler.joinable()) scheduler.join();
  srv->WaitForRuns();
  return kExitOk;
}

}  // namespace alambic
