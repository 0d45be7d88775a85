#include "plugins/loader.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
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

#include "core/base/hash.h"
#include "core/table/arrow_c.h"
#include "core/table/arrow_ipc.h"
#include "plugins/alambic_plugin.h"

namespace alambic {
namespace {

constexpr size_t kErrorSize = 4096;
constexpr int64_t kBytesPerMb = 1024 * 1024;
// Child exit codes besides 0 (success); away from 1, which sanitizers use.
constexpr int kExitPluginError = 10;
constexpr int kExitOutOfMemory = 11;
constexpr int kExitException = 12;
constexpr int kExitHostError = 13;

struct PluginShared {
  std::string name, version, file_hash, path;
};

bool ValidKindName(std::string_view n) {
  if (n.empty() || !(n[0] >= 'a' && n[0] <= 'z')) return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

std::string ReadAll(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// Writes all of `data` to a new file (in the child: no exceptions, no locks).
bool WriteWhole(const std::filesystem::path& p, const void* data, size_t n) {
  int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  const char* c = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd, c, n);
    if (w <= 0) {
      ::close(fd);
      return false;
    }
    c += w;
    n -= static_cast<size_t>(w);
  }
  return ::close(fd) == 0;
}

// The child's host services: log lines go to a file the parent forwards.
struct ChildHost {
  int log_fd = -1;
};

void ChildLog(void* data, int32_t level, const char* message) {
  auto* h = static_cast<ChildHost*>(data);
  if (h->log_fd < 0 || !message) return;
  char lvl = static_cast<char>('0' + std::clamp<int32_t>(level, 0, 3));
  std::string line(1, lvl);
  line += ' ';
  for (const char* c = message; *c; ++c) line += *c == '\n' ? ' ' : *c;
  line += '\n';
  (void)!::write(h->log_fd, line.data(), line.size());
}

void ChildProgress(void*, int64_t) {}

int64_t CurrentVirtualBytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t pages = 0;
  statm >> pages;
  return pages * ::sysconf(_SC_PAGESIZE);
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
  // Runs in the forked child; never returns.
  [[noreturn]] void ChildMain(RecipeContext& ctx, const std::string& params_json,
                              const std::filesystem::path& dir, pid_t parent) const;

  AlambicKind kind_;
  std::shared_ptr<const PluginShared> plugin_;
  std::vector<ParamSpec> params_;
  std::vector<std::string> input_roles_, output_roles_;
  std::string doc_ = kind_.doc ? kind_.doc : "";
};

void PluginKind::ChildMain(RecipeContext& ctx, const std::string& params_json,
                           const std::filesystem::path& dir, pid_t parent) const {
  int code = kExitHostError;
  // Dies with the runner: a plugin left running after a kill -9 of alambic
  // would hold its resources until its CPU limit.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(kExitHostError);
  // A crash is reported by its signal, whatever handlers the host installed
  // (sanitizers catch SIGSEGV, for one).
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) ::signal(sig, SIG_DFL);
  try {
    const ResourceLimits& lim = ctx.plugin_limits;
    if (lim.timeout_s > 0) {
      rlimit cpu{static_cast<rlim_t>(lim.timeout_s + 1), static_cast<rlim_t>(lim.timeout_s + 2)};
      ::setrlimit(RLIMIT_CPU, &cpu);
    }
    if (lim.memory_mb > 0) {
      const auto as = static_cast<rlim_t>(CurrentVirtualBytes() + lim.memory_mb * kBytesPerMb);
      rlimit mem{as, as};
      ::setrlimit(RLIMIT_AS, &mem);
    }
    ChildHost host_data;
    host_data.log_fd =
        ::open((dir / "log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    AlambicHost host{&host_data, ChildLog, ChildProgress};

    const size_t n_in = ctx.inputs.size(), n_out = ctx.outputs.size();
    std::vector<ArrowSchema> in_schemas(n_in);
    std::vector<ArrowArray> in_arrays(n_in);
    std::vector<ArrowSchema*> in_schema_ptrs;
    std::vector<ArrowArray*> in_array_ptrs;
    std::vector<const char*> in_names, out_names;
    for (size_t i = 0; i < n_in; ++i) {
      ExportTable(ctx.inputs[i].table, &in_schemas[i], &in_arrays[i]);
      in_schema_ptrs.push_back(&in_schemas[i]);
      in_array_ptrs.push_back(&in_arrays[i]);
      in_names.push_back(ctx.inputs[i].name.c_str());
    }
    for (const auto& o : ctx.outputs) out_names.push_back(o.c_str());
    AlambicRecipeCall call{ctx.recipe.c_str(),
                           params_json.c_str(),
                           static_cast<int64_t>(n_in),
                           in_names.data(),
                           in_schema_ptrs.data(),
                           in_array_ptrs.data(),
                           static_cast<int64_t>(n_out),
                           out_names.data(),
                           &host};
    std::vector<ArrowSchema> out_schemas(n_out);
    std::vector<ArrowArray> out_arrays(n_out);
    char error[kErrorSize] = "";
    const int32_t rc = kind_.run(&call, out_schemas.data(), out_arrays.data(), error, sizeof error);
    if (rc != 0) {
      error[kErrorSize - 1] = '\0';
      const std::string msg = error[0] ? error : fmt::format("failed (code {})", rc);
      WriteWhole(dir / "error", msg.data(), msg.size());
      ::_exit(kExitPluginError);
    }
    for (size_t i = 0; i < n_out; ++i) {
      auto table = ImportTable(&out_schemas[i], &out_arrays[i]);
      if (!table.ok()) {
        const std::string msg =
            fmt::format("output {} ({}): {}", i + 1, ctx.outputs[i], table.status().message());
        WriteWhole(dir / "error", msg.data(), msg.size());
        ::_exit(kExitPluginError);
      }
      auto bytes = WriteArrowFileToString(*table);
      if (!bytes.ok() ||
          !WriteWhole(dir / fmt::format("out{}.arrow", i), bytes->data(), bytes->size()))
        ::_exit(kExitHostError);
    }
    for (size_t i = 0; i < n_in; ++i) {
      in_arrays[i].release(&in_arrays[i]);
      in_schemas[i].release(&in_schemas[i]);
    }
    code = 0;
  } catch (const std::bad_alloc&) {
    code = kExitOutOfMemory;
  } catch (const std::exception& e) {
    const std::string msg = e.what();
    WriteWhole(dir / "error", msg.data(), msg.size());
    code = kExitException;
  } catch (...) {
    code = kExitException;
  }
  ::_exit(code);
}

Result<RecipeOutput> PluginKind::Run(RecipeContext& ctx) const {
  const std::string who =
      fmt::format("recipe {}: plugin {} (kind {})", ctx.recipe, plugin_->name, kind_.name);
  nlohmann::json params = ctx.params ? *ctx.params : nlohmann::json::object();
  for (const auto& p : params_)
    if (!params.contains(p.name) && !p.default_json.empty())
      params[p.name] = nlohmann::json::parse(p.default_json, nullptr, false);
  const std::string params_json = params.dump();

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

  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return Status::Failed(fmt::format("{}: fork failed: {}", who, std::strerror(errno)));
  if (pid == 0) ChildMain(ctx, params_json, dir, parent);

  using Clock = std::chrono::steady_clock;
  const auto started = Clock::now();
  const double wall = ctx.plugin_limits.timeout_s;
  int status = 0;
  enum class Killed { kNo, kCancelled, kWallClock } killed = Killed::kNo;
  auto pause = std::chrono::milliseconds(1);
  for (;;) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) return Status::Failed(fmt::format("{}: waitpid failed", who));
    if (killed == Killed::kNo) {
      if (ctx.cancel && ctx.cancel->cancelled()) killed = Killed::kCancelled;
      if (wall > 0 && Clock::now() - started > std::chrono::duration<double>(wall))
        killed = Killed::kWallClock;
      if (killed != Killed::kNo) ::kill(pid, SIGKILL);
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(20));
  }

  // Forward the plugin's log lines.
  if (ctx.log) {
    std::istringstream lines(ReadAll(dir / "log"));
    for (std::string line; std::getline(lines, line);) {
      if (line.size() < 2) continue;
      ctx.log->Log(static_cast<LogLevel>(std::clamp(line[0] - '0', 0, 3)), line.substr(2));
    }
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
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* e = ::dlerror();
    return Refuse(fmt::format("cannot load the library: {}", e ? e : "unknown error"));
  }
  auto unload = [&](Status st) -> Result<PluginInfo> {
    ::dlclose(handle);
    return st;
  };
  void* sym = ::dlsym(handle, ALAMBIC_PLUGIN_ENTRY_NAME);
  if (!sym)
    return unload(Refuse("no entry point " ALAMBIC_PLUGIN_ENTRY_NAME
                         " (not an Alambic plugin? see docs/plugins.md)"));
  auto entry = reinterpret_cast<AlambicPluginEntryFn>(sym);
  const AlambicPlugin* p = entry();
  if (!p) return unload(Refuse(ALAMBIC_PLUGIN_ENTRY_NAME " returned NULL"));
  if (p->abi_version != ALAMBIC_PLUGIN_ABI_VERSION)
    return unload(Refuse(fmt::format(
        "plugin ABI version {} is not supported (this alambic supports version {}); rebuild it "
        "against this alambic's alambic_plugin.h",
        p->abi_version, ALAMBIC_PLUGIN_ABI_VERSION)));
  if (p->struct_size != sizeof(AlambicPlugin) || p->kind_struct_size != sizeof(AlambicKind) ||
      p->param_struct_size != sizeof(AlambicParam))
    return unload(Refuse(
        fmt::format("plugin struct sizes {}/{}/{} do not match this alambic's {}/{}/{} "
                    "(AlambicPlugin/AlambicKind/AlambicParam); rebuild it against this alambic's "
                    "alambic_plugin.h",
                    p->struct_size, p->kind_struct_size, p->param_struct_size,
                    sizeof(AlambicPlugin), sizeof(AlambicKind), sizeof(AlambicParam))));
  if (!p->name || !*p->name || !p->version || !*p->version)
    return unload(Refuse("the plugin has no name or no version"));
  if (p->n_kinds <= 0 || !p->kinds) return unload(Refuse("the plugin registers no kind"));

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
