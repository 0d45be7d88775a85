#include "core/exec/command.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

extern char** environ;

namespace alambic {

namespace {

// The most output kept from one command (squeue of a large queue stays far below).
constexpr size_t kMaxOutput = size_t{16} << 20;

bool Allowed(std::string_view name, const std::vector<std::string>& keep) {
  static constexpr std::string_view kNames[] = {"PATH",   "HOME",     "USER",       "LOGNAME",
                                                "LANG",   "TZ",       "TMPDIR",     "SLURM_CONF",
                                                "LC_ALL", "LC_CTYPE", "LC_MESSAGES"};
  if (std::find(std::begin(kNames), std::end(kNames), name) != std::end(kNames)) return true;
  if (name.rfind("MUNGE_", 0) == 0) return true;
  return std::find(keep.begin(), keep.end(), name) != keep.end();
}

class RealRunner final : public CommandRunner {
 public:
  Result<CommandResult> Run(const std::vector<std::string>& argv,
                            const std::vector<std::string>& keep_env) override {
    if (argv.empty()) return Status::Invalid("no command");
    int out_pipe[2], err_pipe[2];
    if (::pipe2(out_pipe, O_CLOEXEC) != 0)
      return Status::IoError(fmt::format("{}: pipe: {}", argv[0], std::strerror(errno)));
    if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
      ::close(out_pipe[0]);
      ::close(out_pipe[1]);
      return Status::IoError(fmt::format("{}: pipe: {}", argv[0], std::strerror(errno)));
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    std::vector<std::string> env = CleanEnvironment(keep_env);
    std::vector<char*> envp;
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    pid_t pid = 0;
    const int rc = ::posix_spawnp(&pid, argv[0].c_str(), &fa, nullptr, args.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    if (rc != 0) {
      ::close(out_pipe[0]);
      ::close(err_pipe[0]);
      return Status::Failed(fmt::format("cannot run {}: {}", argv[0], std::strerror(rc)));
    }
    CommandResult res;
    pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
    std::string* bufs[2] = {&res.out, &res.err};
    int open = 2;
    char chunk[8192];
    while (open > 0) {
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      for (int i = 0; i < 2; ++i) {
        if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        const ssize_t n = ::read(fds[i].fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          ::close(fds[i].fd);
          fds[i].fd = -1;
          --open;
          continue;
        }
        if (bufs[i]->size() < kMaxOutput) bufs[i]->append(chunk, static_cast<size_t>(n));
      }
    }
    for (auto& f : fds)
      if (f.fd >= 0) ::close(f.fd);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    res.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return res;
  }
};

}  // namespace

std::vector<std::string> CleanEnvironment(const std::vector<std::string>& keep) {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    const size_t eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    if (Allowed(kv.substr(0, eq), keep)) env.emplace_back(kv);
  }
  return env;
}

CommandRunner& RealCommandRunner() {
  static RealRunner runner;
  return runner;
}

}  // namespace alambic
