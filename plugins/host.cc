#include "plugins/host.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <new>
#include <sstream>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/base/hash.h"
#include "core/table/arrow_ipc.h"
#include "plugins/arrow_c.h"

namespace alambic::plugin_host {
namespace {

constexpr size_t kErrorSize = 4096;
constexpr int64_t kBytesPerMb = 1024 * 1024;

std::string ReadWhole(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

void WriteError(const std::filesystem::path& dir, const std::string& message) {
  std::ofstream f(dir / "error", std::ios::binary | std::ios::trunc);
  f << message;
}

// The host services handed to the plugin: log lines go to DIR/log, one per
// line as "<level digit> <text>", for the runner to forward.
struct HostData {
  int log_fd = -1;
};

void HostLog(void* data, int32_t level, const char* message) {
  auto* h = static_cast<HostData*>(data);
  if (h->log_fd < 0 || !message) return;
  std::string line(1, static_cast<char>('0' + std::clamp<int32_t>(level, 0, 3)));
  line += ' ';
  for (const char* c = message; *c; ++c) line += *c == '\n' ? ' ' : *c;
  line += '\n';
  (void)!::write(h->log_fd, line.data(), line.size());
}

void HostProgress(void*, int64_t) {}

int64_t CurrentVirtualBytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t pages = 0;
  statm >> pages;
  return pages * ::sysconf(_SC_PAGESIZE);
}

void SetLimits(double cpu_seconds, int64_t memory_mb) {
  if (cpu_seconds > 0) {
    const auto s = static_cast<rlim_t>(cpu_seconds);
    rlimit cpu{s + 1, s + 2};
    ::setrlimit(RLIMIT_CPU, &cpu);
  }
  if (memory_mb > 0) {
    const auto as = static_cast<rlim_t>(CurrentVirtualBytes() + memory_mb * kBytesPerMb);
    rlimit mem{as, as};
    ::setrlimit(RLIMIT_AS, &mem);
  }
}

// Runs the call described in DIR/call.json; returns the exit code.
int RunCall(const std::filesystem::path& dir) {
  auto host_error = [&](const std::string& message) {
    WriteError(dir, message);
    return kExitHostError;
  };
  const nlohmann::json call = nlohmann::json::parse(ReadWhole(dir / "call.json"), nullptr, false);
  if (!call.is_object())
    return host_error(fmt::format("{}: not a call", (dir / "call.json").string()));
  const std::string library = call.value("library", "");
  const std::string kind_name = call.value("kind", "");
  const std::string recipe = call.value("recipe", "");
  const std::string params_json = call.value("params", "{}");
  const auto inputs = call.value("inputs", std::vector<std::string>{});
  const auto outputs = call.value("outputs", std::vector<std::string>{});
  SetLimits(call.value("cpu_seconds", 0.0), call.value("memory_mb", int64_t{0}));

  // The library run is the one the runner loaded and versioned.
  auto hash = Sha256File(library);
  if (!hash.ok()) return host_error(hash.status().message());
  if (*hash != call.value("sha256", ""))
    return host_error(fmt::format(
        "the library {} changed since alambic loaded it (sha256 {}, now {}); run again to use "
        "the new build",
        library, call.value("sha256", "").substr(0, 16), hash->substr(0, 16)));
  void* handle = nullptr;
  auto plugin = OpenPluginLibrary(library, &handle);
  if (!plugin.ok()) return host_error(fmt::format("{}: {}", library, plugin.status().message()));
  const AlambicKind* kind = nullptr;
  for (int64_t i = 0; i < (*plugin)->n_kinds; ++i)
    if ((*plugin)->kinds[i].name && kind_name == (*plugin)->kinds[i].name)
      kind = &(*plugin)->kinds[i];
  if (!kind || !kind->run)
    return host_error(fmt::format("{}: no kind '{}' in this library", library, kind_name));

  HostData host_data;
  host_data.log_fd = ::open((dir / "log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  AlambicHost host{&host_data, HostLog, HostProgress};

  const size_t n_in = inputs.size(), n_out = outputs.size();
  std::vector<ArrowSchema> in_schemas(n_in);
  std::vector<ArrowArray> in_arrays(n_in);
  std::vector<ArrowSchema*> in_schema_ptrs;
  std::vector<ArrowArray*> in_array_ptrs;
  std::vector<const char*> in_names, out_names;
  for (size_t i = 0; i < n_in; ++i) {
    auto table = ReadArrowFile((dir / fmt::format("in{}.arrow", i)).string());
    if (!table.ok()) return host_error(table.status().message());
    ExportTable(std::make_shared<const Table>(std::move(*table)), &in_schemas[i], &in_arrays[i]);
    in_schema_ptrs.push_back(&in_schemas[i]);
    in_array_ptrs.push_back(&in_arrays[i]);
    in_names.push_back(inputs[i].c_str());
  }
  for (const auto& o : outputs) out_names.push_back(o.c_str());
  AlambicRecipeCall rc_call{recipe.c_str(),
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
  const int32_t rc =
      kind->run(&rc_call, out_schemas.data(), out_arrays.data(), error, sizeof error);
  if (rc != 0) {
    error[kErrorSize - 1] = '\0';
    WriteError(dir, error[0] ? error : fmt::format("failed (code {})", rc));
    return kExitPluginError;
  }
  for (size_t i = 0; i < n_out; ++i) {
    auto table = ImportTable(&out_schemas[i], &out_arrays[i]);
    if (!table.ok()) {
      WriteError(dir,
                 fmt::format("output {} ({}): {}", i + 1, outputs[i], table.status().message()));
      return kExitPluginError;
    }
    Status st = WriteArrowFileToPath(*table, (dir / fmt::format("out{}.arrow", i)).string());
    if (!st.ok()) return host_error(st.message());
  }
  for (size_t i = 0; i < n_in; ++i) {
    if (in_arrays[i].release) in_arrays[i].release(&in_arrays[i]);
    if (in_schemas[i].release) in_schemas[i].release(&in_schemas[i]);
  }
  return 0;
}

}  // namespace

Result<const AlambicPlugin*> OpenPluginLibrary(const std::filesystem::path& path, void** handle) {
  *handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!*handle) {
    const char* e = ::dlerror();
    return Status::Invalid(fmt::format("cannot load the library: {}", e ? e : "unknown error"));
  }
  auto refuse = [&](const std::string& why) -> Result<const AlambicPlugin*> {
    ::dlclose(*handle);
    *handle = nullptr;
    return Status::Invalid(why);
  };
  void* sym = ::dlsym(*handle, ALAMBIC_PLUGIN_ENTRY_NAME);
  if (!sym)
    return refuse("no entry point " ALAMBIC_PLUGIN_ENTRY_NAME
                  " (not an Alambic plugin? see docs/plugins.md)");
  const AlambicPlugin* p = reinterpret_cast<AlambicPluginEntryFn>(sym)();
  if (!p) return refuse(ALAMBIC_PLUGIN_ENTRY_NAME " returned NULL");
  if (p->abi_version != ALAMBIC_PLUGIN_ABI_VERSION)
    return refuse(fmt::format(
        "plugin ABI version {} is not supported (this alambic supports version {}); rebuild it "
        "against this alambic's alambic_plugin.h",
        p->abi_version, ALAMBIC_PLUGIN_ABI_VERSION));
  if (p->struct_size != sizeof(AlambicPlugin) || p->kind_struct_size != sizeof(AlambicKind) ||
      p->param_struct_size != sizeof(AlambicParam))
    return refuse(
        fmt::format("plugin struct sizes {}/{}/{} do not match this alambic's {}/{}/{} "
                    "(AlambicPlugin/AlambicKind/AlambicParam); rebuild it against this alambic's "
                    "alambic_plugin.h",
                    p->struct_size, p->kind_struct_size, p->param_struct_size,
                    sizeof(AlambicPlugin), sizeof(AlambicKind), sizeof(AlambicParam)));
  if (!p->name || !*p->name || !p->version || !*p->version)
    return refuse("the plugin has no name or no version");
  if (p->n_kinds <= 0 || !p->kinds) return refuse("the plugin registers no kind");
  return p;
}

bool IsHostInvocation(int argc, char** argv) {
  return argc >= 2 && std::strcmp(argv[1], kHostArg) == 0;
}

void HostMain(int argc, char** argv) {
  // Dies with the runner: a plugin left running after a kill -9 of alambic
  // would hold its resources until its CPU limit.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (argc != 4 || std::to_string(::getppid()) != argv[3]) {
    std::fprintf(stderr, "%s is started by alambic to run a plugin kind\n", kHostArg);
    ::_exit(kExitHostError);
  }
  // A crash is reported by its signal, whatever handlers were installed
  // (sanitizers catch SIGSEGV, for one).
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) ::signal(sig, SIG_DFL);
  const std::filesystem::path dir = argv[2];
  int code = kExitHostError;
  try {
    code = RunCall(dir);
  } catch (const std::bad_alloc&) {
    code = kExitOutOfMemory;
  } catch (const std::exception& e) {
    WriteError(dir, e.what());
    code = kExitException;
  } catch (...) {
    code = kExitException;
  }
  std::fflush(nullptr);
  // No static destructors: the plugin's may assume a state its run left behind.
  ::_exit(code);
}

}  // namespace alambic::plugin_host
