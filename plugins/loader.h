// Loading C++ plugins (plugins/alambic_plugin.h) and running their kinds.
//
// Each plugin is a shared library exporting alambic_plugin_entry. Loading
// checks the ABI version and struct sizes, the kinds' names and parameter
// schemas, and refuses a plugin any of whose kinds clashes with a kind already
// registered (built-in or from an earlier plugin); a refused plugin registers
// nothing. Libraries stay loaded for the life of the process.
//
// A plugin kind runs in a process of its own, the plugin host (plugins/host.h):
// the runner writes the inputs as Arrow IPC files into a private temporary
// directory, starts its own executable again in host mode, and reads the
// outputs back from Arrow IPC files. The host gets RLIMIT_AS (memory_mb above
// what it maps at start) and RLIMIT_CPU (timeout_s), checks that the library
// is still the one loaded here (SHA-256), and is killed (SIGKILL) when the
// recipe's time limit passes or its run is cancelled; it also dies with the
// runner (PR_SET_PDEATHSIG). What the plugin prints goes to the recipe's log. A
// crash, abort, uncaught exception, hang or leak fails that recipe run with a
// message saying which.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/base/status.h"
#include "core/recipe/recipe.h"

namespace alambic {

struct PluginInfo {
  std::filesystem::path path;
  std::string name, version;
  std::string file_hash;  // sha256 of the library file
  std::vector<const RecipeKind*> kinds;
};

struct PluginRefusal {
  std::filesystem::path path;
  std::string reason;
  std::string ToString() const { return path.string() + ": " + reason; }
};

struct PluginLoadReport {
  std::vector<PluginInfo> loaded;
  std::vector<PluginRefusal> refused;
};

// Loads the library at `path` and registers its kinds in `registry`. A refusal
// is an Invalid status whose message says why (no entry point, wrong ABI
// version or struct size, clashing kind, bad parameter schema).
Result<PluginInfo> LoadPlugin(const std::filesystem::path& path, RecipeRegistry& registry);

// Loads every *.so in each directory (missing directories are skipped;
// files in name order; a library already loaded from an earlier directory is
// not loaded twice).
PluginLoadReport LoadPluginDirs(const std::vector<std::filesystem::path>& dirs,
                                RecipeRegistry& registry);

// Where plugins are looked for: <workspace>/plugins, then `configured` (from
// alambic.yaml), then the plugins built or installed with the running binary:
// <bindir>/plugins and <bindir>/../lib/alambic/plugins.
std::vector<std::filesystem::path> PluginSearchPath(
    const std::filesystem::path& workspace, const std::vector<std::filesystem::path>& configured);

// The directory of the running executable.
std::filesystem::path ExecutableDir();

}  // namespace alambic
