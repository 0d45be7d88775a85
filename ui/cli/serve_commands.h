// `alambic serve`: the web UI and its JSON API (ui/web/server.h), optionally
// with the scheduler of the production environment in the same process.
// `alambic user add|passwd|role|remove|list`: the web UI's users (passwords
// read from the terminal or stdin, never from the command line).
// `alambic token add|list|revoke`: API tokens for scripts.
// `alambic secret init`: the install secret the server needs.
// See docs/operations.md, "Serving the web UI", and docs/api.md.
#pragma once

#include <string>
#include <vector>

namespace CLI {
class App;
}  // namespace CLI

namespace alambic {

class ServeCommands {
 public:
  explicit ServeCommands(CLI::App& app);
  bool parsed() const;
  // Runs the parsed command in the workspace found from `dir`; `env` is the
  // --env option (the scheduler's environment; "" : warehouse). Returns the
  // exit status.
  int Run(const std::string& dir, const std::string& env) const;

 private:
  CLI::App* serve_ = nullptr;
  CLI::App* user_ = nullptr;
  CLI::App* user_add_ = nullptr;
  CLI::App* user_passwd_ = nullptr;
  CLI::App* user_role_ = nullptr;
  CLI::App* user_remove_ = nullptr;
  CLI::App* user_list_ = nullptr;
  CLI::App* token_ = nullptr;
  CLI::App* token_add_ = nullptr;
  CLI::App* token_list_ = nullptr;
  CLI::App* token_revoke_ = nullptr;
  CLI::App* secret_ = nullptr;
  CLI::App* secret_init_ = nullptr;
  // serve
  int port_ = 8080, threads_ = 64, queue_ = 64;
  std::string host_ = "127.0.0.1", static_dir_;
  bool scheduler_ = false, tls_proxy_ = false, init_secret_ = false;
  // user / token
  std::string name_, role_, token_name_, token_user_;
  std::vector<std::string> usecases_;
};

}  // namespace alambic
