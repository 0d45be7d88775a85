#include "services/workspace.h"

#include <mutex>

#include <fmt/format.h>

#include "core/exec/store_open.h"
#include "core/flow/loader.h"
#include "core/vcs/promotion.h"
#include "plugins/host.h"
#include "recipes/builtin_kinds.h"

namespace fs = std::filesystem;

namespace alambic {

Result<fs::path> FindWorkspace(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    return Status::NotFound(fmt::format("{}: no such directory", dir.string()));
  fs::path root = FindWorkspaceRoot(dir);
  if (!fs::exists(root / "alambic.yaml", ec))
    return Status::NotFound(fmt::format(
        "not an Alambic workspace: no alambic.yaml in {} or its parents (see `alambic init`)",
        fs::absolute(dir, ec).lexically_normal().string()));
  return root;
}

std::string EnvironmentName(const WorkspaceConfig& config, const std::string& env) {
  return env.empty() ? config.default_environment : env;
}

bool RunsReleasesOnly(const WorkspaceConfig& config, const std::string& env) {
  auto spec = config.environments.find(env);
  return spec != config.environments.end() && (env == kWarehouse || spec->second.releases_only);
}

namespace {

std::mutex& KindsMutex() {
  static std::mutex mu;
  return mu;
}

PluginRefusedFn& RefusedHandler() {
  static PluginRefusedFn handler;
  return handler;
}

}  // namespace

void SetPluginRefusedHandler(PluginRefusedFn handler) {
  std::lock_guard<std::mutex> hold(KindsMutex());
  RefusedHandler() = std::move(handler);
}

Result<const KindSet*> LoadKinds(const fs::path& root) {
  // Loaded once: a plugin library stays mapped for the life of the process.
  static KindSet* set = nullptr;
  static Status broken;
  std::lock_guard<std::mutex> hold(KindsMutex());
  if (!broken.ok()) return broken;
  if (!set) {
    auto fresh = std::make_unique<KindSet>();
    fresh->registry = std::make_unique<RecipeRegistry>();
    // Two built-in kinds with one name is a broken build: nothing runs with half of them.
    if (Status st = RegisterBuiltinKinds(*fresh->registry); !st.ok()) {
      broken = Status::Internal(
          fmt::format("cannot register the built-in recipe kinds: {}", st.message()));
      return broken;
    }
    std::vector<fs::path> configured;
    if (!root.empty()) configured = LoadWorkspaceConfig(root).workspace.config.plugin_dirs;
    fresh->report = LoadPluginDirs(PluginSearchPath(root, configured), *fresh->registry);
    set = fresh.release();
    if (RefusedHandler())
      for (const auto& r : set->report.refused) RefusedHandler()(r);
  }
  return static_cast<const KindSet*>(set);
}

Result<std::unique_ptr<Session>> OpenWorkspaceSession(const fs::path& root, const std::string& env,
                                                      bool read_only) {
  ALAMBIC_ASSIGN_OR_RETURN(const KindSet* kinds, LoadKinds(root));
  SessionOptions options;
  options.read_only = read_only;
  return Session::Open(root, env, *kinds->registry, options);
}

Result<std::optional<std::vector<ReleaseSession>>> OpenReleaseSessions(
    const fs::path& root, const std::string& env_arg, const std::vector<std::string>& flows) {
  LoadedWorkspace config = LoadWorkspaceConfig(root);
  const WorkspaceConfig& cfg = config.workspace.config;
  const std::string env = EnvironmentName(cfg, env_arg);
  if (!RunsReleasesOnly(cfg, env)) return std::optional<std::vector<ReleaseSession>>();
  ALAMBIC_ASSIGN_OR_RETURN(auto catalog, Catalog::Open(root / ".alambic" / "catalog.db"));
  std::vector<std::string> names = flows;
  if (names.empty()) {
    LoadedWorkspace lw = LoadWorkspace(root);
    for (const auto& f : lw.workspace.flows) {
      ALAMBIC_ASSIGN_OR_RETURN(auto active, catalog->ActiveRelease(f.name, env));
      if (active) names.push_back(f.name);
    }
  }
  std::vector<ReleaseSession> out;
  for (const auto& flow : names) {
    ALAMBIC_ASSIGN_OR_RETURN(ReleaseCheckout checkout,
                             CheckoutActiveRelease(*catalog, root, flow, env));
    ALAMBIC_ASSIGN_OR_RETURN(const KindSet* kinds, LoadKinds(checkout.code_root));
    SessionOptions so;
    so.code_root = checkout.code_root;
    auto session = Session::Open(root, env, *kinds->registry, so);
    if (!session.ok()) return session.status().WithContext(checkout.release.tag);
    out.push_back({flow, std::move(checkout.release), std::move(*session)});
  }
  return std::optional<std::vector<ReleaseSession>>(std::move(out));
}

Result<History> OpenHistory(const fs::path& root, const std::string& env, bool read_only) {
  History h;
  h.root = root;
  LoadedWorkspace lw = LoadWorkspace(h.root);
  h.env = EnvironmentName(lw.workspace.config, env);
  if (!lw.workspace.config.environments.empty() && !lw.workspace.config.environments.count(h.env))
    return Status::Invalid(fmt::format("unknown environment '{}'", h.env));
  const fs::path catalog_file = h.root / ".alambic" / "catalog.db";
  std::error_code exists_ec;
  if (read_only && fs::exists(catalog_file, exists_ec)) {
    // Read-only (works on a full disk); a catalog to migrate is opened to write.
    auto reader = Catalog::OpenReader(catalog_file);
    if (!reader.ok() && reader.status().code() != StatusCode::kInvalid) return reader.status();
    if (reader.ok()) h.catalog = std::move(*reader);
  }
  if (!h.catalog) {
    ALAMBIC_ASSIGN_OR_RETURN(h.catalog, Catalog::Open(catalog_file));
  }
  ALAMBIC_ASSIGN_OR_RETURN(h.store, OpenEnvironmentStore(lw.workspace.config, h.env, h.root));
  return h;
}

}  // namespace alambic
