// Opening a workspace for one environment, as a library: the workspace root
// found from a directory, the recipe kinds (built-in and plugins), sessions on
// the working tree or on each flow's active release, and the catalog and store
// of an environment for commands that only read history. The CLI, the
// scheduling daemon and the server open workspaces through these functions;
// nothing here prints (see docs/architecture.md, "Services").
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "core/base/status.h"
#include "core/exec/session.h"
#include "core/flow/flow.h"
#include "core/recipe/recipe.h"
#include "core/store/store.h"
#include "plugins/loader.h"

namespace alambic {

// The root of the workspace holding `dir` (the first of `dir` and its parents
// with an alambic.yaml). NotFound when `dir` is not a directory or no
// alambic.yaml is found (the message names `dir` and `alambic init`).
Result<std::filesystem::path> FindWorkspace(const std::filesystem::path& dir);

// The environment a request names, or the workspace's default when "".
std::string EnvironmentName(const WorkspaceConfig& config, const std::string& env);

// Whether `env` runs only releases (the warehouse, or `releases_only: true`):
// it is planned, shown and run from each flow's active release, never from the
// working tree.
bool RunsReleasesOnly(const WorkspaceConfig& config, const std::string& env);

// The built-in kinds plus the plugins found for the workspace at `root` (its
// plugin_dirs, beside the binary, the install prefix; "" : no workspace).
struct KindSet {
  std::unique_ptr<RecipeRegistry> registry;
  PluginLoadReport report;
};

// Called once per plugin refused, when the plugins are loaded.
using PluginRefusedFn = std::function<void(const PluginRefusal& refusal)>;

// Who hears of refused plugins in this process (the CLI prints them on stderr,
// a daemon logs them); none by default. Set before the kinds are loaded.
void SetPluginRefusedHandler(PluginRefusedFn handler);

// The kinds, loaded once per process (plugins stay loaded; later calls return
// the first set, whatever their root); the refused plugins go to the handler
// above when they are loaded. Fails only when two built-in kinds share a name
// (a broken build).
Result<const KindSet*> LoadKinds(const std::filesystem::path& root);

// A session on the working tree of the workspace at `root` in `env` ("" : the
// default environment), with the process's kinds.
Result<std::unique_ptr<Session>> OpenWorkspaceSession(const std::filesystem::path& root,
                                                      const std::string& env,
                                                      bool read_only = false);

// A session opened on the checkout of a flow's active release.
struct ReleaseSession {
  std::string flow;
  ReleaseRecord release;
  std::unique_ptr<Session> session;
};

// One session per flow with an active release in `env` (those of `flows`, else
// every flow of the working tree that has one), each opened on its release's
// checkout; nullopt when `env` runs the working tree (RunsReleasesOnly false).
Result<std::optional<std::vector<ReleaseSession>>> OpenReleaseSessions(
    const std::filesystem::path& root, const std::string& env,
    const std::vector<std::string>& flows);

// The catalog and the store of one environment, without loading the flows:
// for what reads history (runs, log, show, export, gc) and must work even while
// a flow file is broken.
struct History {
  std::filesystem::path root;
  std::string env;
  std::unique_ptr<Catalog> catalog;
  std::unique_ptr<DatasetStore> store;
};

// Invalid when `env` is not one of the workspace's environments. `read_only`:
// the catalog opens read-only when it exists at the current schema (works on a
// full disk).
Result<History> OpenHistory(const std::filesystem::path& root, const std::string& env,
                            bool read_only = false);

}  // namespace alambic
