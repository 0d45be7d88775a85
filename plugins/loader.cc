#include "plugins/loader.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/base/hash.h"
#include "core/table/arrow_ipc.h"
#include "plugins/alambic_plugin.h"
#include "plugins/host.h"

extern char** environ;

namespace alambic {
namespace {

using plugin_host::kExitException;
using plugin_host::kExitHostError;
using plugin_host::kExitOutOfMemory;
using plugin_host::kExitPluginError;

// At most this much of what a plugin prints is forwarded to the recipe's log.
constexpr size_t kConsoleLines = 200;
constexpr size_t kConsoleBytes = 1 << 16;

struct PluginShared {
  std::string name, version, file_hash, path;
};

bool ValidKindName(std::string_view n) {
  if (n.empty() || !(n[0] >= 'a' && n[0] <= 'z')) return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// The file's first `max` bytes (all of it by default).
std::string ReadAll(const std::filesystem::path& p, size_t max = std::string::npos) {
  std::ifstream f(p, std::ios::binary);
  std::string s;
  char buf[1 << 16];
  while (s.size() < max && f.read(buf, sizeof buf).gcount() > 0)
    s.append(buf, std::min<size_t>(static_cast<size_t>(f.gcount()), max - s.size()));
  return s;
}

class PluginKind final : public RecipeKind {
 public:
  PluginKind(const AlambicKind& k, std::shared_ptr<const PluginShared> plugin)
      : kind_(k), plugin_(std::move(plugin)) {
    for (int64_t i = 0; i < k.n_params; ++i) {
      const AlambicParam& p = k.params[i];
      params_.push_back({p.name, static_cast<ParamType>(p.type), p.required != 0,
                         p.doc ? p.doc : "", p.default_json ? p.default_json : ""});
    }
    for (int64_t i = 0; i < k.n_input_roles; ++i) input_roles_.push_back(k.input_roles[i]);
    for (int64_t i = 0; i < k.n_output_roles; ++i) output_roles_.push_back(k.output_roles[i]);
  }
  std::string name() const override { return kind_.name; }
  const std::vector<ParamSpec>& params() const override { return params_; }
  int min_inputs() const override { return static_cast<int>(input_roles_.size()); }
  int max_inputs() const override { return static_cast<int>(input_roles_.size()); }
  int min_outputs() const override { return static_cast<int>(output_roles_.size()); }
  int max_outputs() const override { return static_cast<int>(output_roles_.size()); }
  std::string code_version() const override {
    return fmt::format("plugin {} {} (library sha256 {})", plugin_->name, plugin_->version,
                       plugin_->file_hash.substr(0, 16));
  }
  const std::vector<std::string>& input_roles() const { return input_roles_; }
  const std::vector<std::string>& output_roles() const { return output_roles_; }
  const std::string& doc() const { return doc_; }

  Result<RecipeOutput> Run(RecipeContext& ctx) const override;

 private:
  // Starts the plugin host on the call prepared in `dir`.
  Result<pid_t> Spawn(const std::filesystem::path& dir) const;

  AlambicKind kind_;
  std::shared_ptr<const PluginShared> plugin_;
  std::vector<ParamSpec> params_;
  std::vector<std::string> input_roles_, output_roles_;
  std::string doc_ = kind_.doc ? kind_.doc : "";
};

Result<pid_t> PluginKind::Spawn(const std::filesystem::path& dir) const {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  const std::string console = (dir / "console").string();
  posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, console.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
  const std::string arg0 = fmt::format("alambic (plugin {})", plugin_->name);
  const std::string dir_arg = dir.string(), parent = std::to_string(::getpid());
  std::vector<char*> argv{const_cast<char*>(arg0.c_str()), const_cast<char*>(plugin_host::kHostArg),
                          const_cast<char*>(dir_arg.c_str()), const_cast<char*>(parent.c_str()),
                          nullptr};
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, "/proc/self/exe", &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0)
    return Status::Failed(
        fmt::format("cannot start the plugin host process: {}", std::strerror(rc)));
  return pid;
}

Result<RecipeOutput> PluginKind::Run(RecipeContext& ctx) const {
  const std::string who =
      fmt::format("recipe {}: plugin {} (kind {})", ctx.recipe, plugin_->name, kind_.name);
  nlohmann::json params = ctx.params ? *ctx.params : nlohmann::json::object();
  for (const auto& p : params_)
    if (!params.contains(p.name) && !p.default_json.empty())
      params[p.name] = nlohmann::json::parse(p.default_json, nullptr, false);

  std::string tmpl = (std::filesystem::temp_directory_path() / "alambic-plugin-XXXXXX").string();
  if (!::mkdtemp(tmpl.data()))
    return Status::IoError(fmt::format("{}: cannot create a temporary directory", who));
  const std::filesystem::path dir = tmpl;
  struct Cleanup {
    std::filesystem::path d;
    ~Cleanup() {
      std::error_code ec;
      std::filesystem::remove_all(d, ec);
    }
  } cleanup{dir};

  // The call: the inputs as Arrow IPC files, the rest in call.json.
  nlohmann::json call = {{"library", plugin_->path},
                         {"sha256", plugin_->file_hash},
                         {"kind", kind_.name},
                         {"recipe", ctx.recipe},
                         {"params", params.dump()},
                         {"inputs", nlohmann::json::array()},
                         {"outputs", ctx.outputs},
                         {"cpu_seconds", ctx.plugin_limits.timeout_s},
                         {"memory_mb", ctx.plugin_limits.memory_mb}};
  for (size_t i = 0; i < ctx.inputs.size(); ++i) {
    call["inputs"].push_back(ctx.inputs[i].name);
    Status st =
        WriteArrowFileToPath(*ctx.inputs[i].table, (dir / fmt::format("in{}.arrow", i)).string());
    if (!st.ok()) return st.WithContext(who);
  }
  {
    std::ofstream f(dir / "call.json", std::ios::binary);
    f << call.dump();
    if (!f.flush())
      return Status::IoError(fmt::format("{}: cannot write {}", who, (dir / "call.json").string()));
  }
  auto spawned = Spawn(dir);
  if (!spawned.ok()) return spawned.status().WithContext(who);
  const pid_t pid = *spawned;

  using Clock = std::chrono::steady_clock;
  const auto started = Clock::now();
  const double wall = ctx.plugin_limits.timeout_s;
  int status = 0;
  enum class Killed { kNo, kCancelled, kWallClock } killed = Killed::kNo;
  auto pause = std::chrono::milliseconds(1);
  for (;;) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) {
      ::kill(pid, SIGKILL);
      return Status::Failed(fmt::format("{}: waitpid failed: {}", who, std::strerror(errno)));
    }
    if (killed == Killed::kNo) {
      if (ctx.cancel && ctx.cancel->cancelled()) killed = Killed::kCancelled;
      if (wall > 0 && Clock::now() - started > std::chrono::duration<double>(wall))
        killed = Killed::kWallClock;
      if (killed != Killed::kNo) ::kill(pid, SIGKILL);
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(20));
  }

  // Forward the plugin's log lines, then what it printed.
  if (ctx.log) {
    std::istringstream lines(ReadAll(dir / "log"));
    for (std::string line; std::getline(lines, line);) {
      if (line.size() < 2) continue;
      ctx.log->Log(static_cast<LogLevel>(std::clamp(line[0] - '0', 0, 3)), line.substr(2));
    }
    std::istringstream console(ReadAll(dir / "console", kConsoleBytes));
    size_t n = 0;
    for (std::string line; std::getline(console, line); ++n)
      if (n < kConsoleLines) ctx.log->Info("plugin output: " + line);
    if (n > kConsoleLines)
      ctx.log->Info(fmt::format("plugin output: … {} more lines", n - kConsoleLines));
  }
  if (killed == Killed::kCancelled) return ctx.cancel->AsStatus();
  if (killed == Killed::kWallClock)
    return Status::TimedOut(fmt::format(
        "{}: did not finish within {}s (plugins: timeout_s) and was killed", who, wall));
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    if (sig == SIGXCPU)
      return Status::TimedOut(fmt::format(
          "{}: exceeded its CPU time limit of {}s (plugins: timeout_s) and was killed", who, wall));
    return Status::Failed(
        fmt::format("{}: the plugin crashed: signal {} ({})", who, sig, ::strsignal(sig)));
  }
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  const std::string error = ReadAll(dir / "error");
  switch (code) {
    case 0:
      break;
    case kExitPluginError:
      return Status::Failed(fmt::format("{}: {}", who, error));
    case kExitOutOfMemory:
      return Status::Failed(
          fmt::format("{}: the plugin ran out of memory (limit {} MB, plugins: "
                      "memory_mb)",
                      who, ctx.plugin_limits.memory_mb));
    case kExitException:
      return Status::Failed(fmt::format("{}: the plugin threw an exception: {}", who,
                                        error.empty() ? "(unknown)" : error));
    case kExitHostError:
      return Status::Failed(fmt::format("{}: the plugin host failed: {}", who,
                                        error.empty() ? "(no reason given)" : error));
    default:
      return Status::Failed(fmt::format("{}: the plugin process exited with status {}", who, code));
  }
  RecipeOutput out;
  for (size_t i = 0; i < ctx.outputs.size(); ++i) {
    auto t = ReadArrowFile((dir / fmt::format("out{}.arrow", i)).string());
    if (!t.ok()) return t.status().WithContext(who);
    out.tables.push_back(std::move(*t));
  }
  out.metrics["plugin"] = plugin_->name;
  out.metrics["plugin_version"] = plugin_->version;
  return out;
}

Status Refuse(const std::string& why) { return Status::Invalid(why); }

}  // namespace

Result<PluginInfo> LoadPlugin(const std::filesystem::path& path, RecipeRegistry& registry) {
  void* handle = nullptr;
  ALAMBIC_ASSIGN_OR_RETURN(const AlambicPlugin* p, plugin_host::OpenPluginLibrary(path, &handle));
  auto unload = [&](Status st) -> Result<PluginInfo> {
    ::dlclose(handle);
    return st;
  };

  std::set<std::string> names;
  for (int64_t i = 0; i < p->n_kinds; ++i) {
    const AlambicKind& k = p->kinds[i];
    const std::string n = k.name ? k.name : "";
    if (!ValidKindName(n))
      return unload(Refuse(fmt::format("kind name '{}' is not valid ([a-z][a-z0-9_]*)", n)));
    if (registry.Find(n) || !names.insert(n).second)
      return unload(Refuse(fmt::format(
          "kind '{}' clashes with a kind already registered (built-in or from another plugin)",
          n)));
    if (!k.run) return unload(Refuse(fmt::format("kind '{}' has no run function", n)));
    if (k.n_output_roles < 1 || k.n_input_roles < 0)
      return unload(Refuse(fmt::format("kind '{}' must declare at least one output role", n)));
    for (int64_t j = 0; j < k.n_params; ++j) {
      const AlambicParam& ps = k.params[j];
      if (!ps.name || !*ps.name || ps.type < ALAMBIC_PARAM_STRING || ps.type > ALAMBIC_PARAM_ANY)
        return unload(
            Refuse(fmt::format("kind '{}': parameter {} has no name or a bad type", n, j + 1)));
      if (ps.default_json && nlohmann::json::parse(ps.default_json, nullptr, false).is_discarded())
        return unload(
            Refuse(fmt::format("kind '{}': parameter '{}': default is not JSON", n, ps.name)));
    }
  }
  auto hash = Sha256File(path);
  if (!hash.ok()) return unload(hash.status());
  auto shared = std::make_shared<PluginShared>(
      PluginShared{p->name, p->version, *hash, std::filesystem::absolute(path).string()});
  PluginInfo info;
  info.path = path;
  info.name = p->name;
  info.version = p->version;
  info.file_hash = *hash;
  for (int64_t i = 0; i < p->n_kinds; ++i) {
    auto kind = std::make_unique<PluginKind>(p->kinds[i], shared);
    const RecipeKind* raw = kind.get();
    ALAMBIC_RETURN_IF_ERROR(registry.Register(std::move(kind)));
    info.kinds.push_back(raw);
  }
  return info;  // the library stays loaded: its kinds point into it
}

PluginLoadReport LoadPluginDirs(const std::vector<std::filesystem::path>& dirs,
                                RecipeRegistry& registry) {
  PluginLoadReport report;
  std::set<std::filesystem::path> seen;
  for (const auto& dir : dirs) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) continue;
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec))
      if (e.path().extension() == ".so") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      auto canon = std::filesystem::weakly_canonical(f, ec);
      if (!seen.insert(ec ? f : canon).second) continue;
      auto loaded = LoadPlugin(f, registry);
      if (loaded.ok())
        report.loaded.push_back(std::move(*loaded));
      else
        report.refused.push_back({f, loaded.status().message()});
    }
  }
  return report;
}

std::filesystem::path ExecutableDir() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::path() : exe.parent_path();
}

std::vector<std::filesystem::path> PluginSearchPath(
    const std::filesystem::path& workspace, const std::vector<std::filesystem::path>& configured) {
  std::vector<std::filesystem::path> dirs;
  if (!workspace.empty()) dirs.push_back(workspace / "plugins");
  dirs.insert(dirs.end(), configured.begin(), configured.end());
  const auto bin = ExecutableDir();
  if (!bin.empty()) {
    dirs.push_back(bin / "plugins");
    dirs.push_back(bin.parent_path() / "lib" / "alambic" / "plugins");
  }
  for (auto& d : dirs) d = d.lexically_normal();
  return dirs;
}

}  // namespace alambic
