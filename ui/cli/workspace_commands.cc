#include "ui/cli/workspace_commands.h"

#include <cstdio>
#include <filesystem>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "catalog/usecase.h"
#include "core/flow/loader.h"
#include "core/flow/validate.h"
#include "core/vcs/git.h"
#include "services/gc.h"
#include "services/workspace.h"
#include "ui/common/progress.h"
#include "ui/common/text_table.h"

namespace fs = std::filesystem;

namespace alambic {
namespace {

int CmdInit(const Globals& g, const std::string& dir_arg, std::string name) {
  fs::path dir = fs::path(g.dir) / dir_arg;
  std::error_code ec;
  if (fs::exists(dir / "alambic.yaml", ec))
    return Fail(Status::Invalid(
        fmt::format("{} is already an Alambic workspace (alambic.yaml exists)", dir.string())));
  fs::create_directories(dir, ec);
  if (ec) return Fail(Status::IoError(fmt::format("{}: {}", dir.string(), ec.message())));
  if (name.empty()) name = fs::absolute(dir, ec).lexically_normal().filename().string();
  if (name.empty()) name = "workspace";
  std::vector<std::string> files = {"alambic.yaml", ".gitignore"};
  std::string yaml = fmt::format(
      "# Alambic workspace: flows in flows/*.yaml, scripts in recipes/, use cases in usecases/.\n"
      "name: {}\n"
      "default_environment: datalab\n"
      "environments:\n"
      "  datalab: {{}}\n"
      "  warehouse: {{}}\n"
      "# Directories outside the workspace that recipes may read.\n"
      "data_roots: []\n"
      "gc:\n"
      "  keep_runs: 10\n",
      nlohmann::json(name).dump());
  Status st = WriteNewFile(dir / "alambic.yaml", yaml);
  if (st.ok() && !fs::exists(dir / ".gitignore", ec))
    st = WriteNewFile(dir / ".gitignore",
                      "# Alambic's runtime state: catalog, store, lock.\n.alambic/\n");
  for (const char* sub : {"flows", "recipes", "usecases", "data"}) {
    if (!st.ok()) break;
    fs::create_directories(dir / sub, ec);
    if (ec) {
      st = Status::IoError(fmt::format("{}: {}", (dir / sub).string(), ec.message()));
      break;
    }
    // git keeps no empty directory.
    if (fs::is_empty(dir / sub, ec)) {
      st = WriteNewFile(dir / sub / ".gitkeep", "");
      files.push_back(std::string(sub) + "/.gitkeep");
    }
  }
  if (st.ok()) st = GitInitWithCommit(dir, files, "Create Alambic workspace " + name);
  if (!st.ok()) return Fail(st);
  std::printf("created workspace %s in %s\n", name.c_str(),
              fs::absolute(dir, ec).lexically_normal().c_str());
  return kExitOk;
}

// Outside a workspace: the plugins beside the binary and in the install prefix.
int CmdPluginList(const Globals& g, const std::string& format) {
  auto root = WorkspaceRoot(g);
  SetPluginRefusedHandler({});  // listed below, not warned about
  const KindSet& set = CliKinds(root.ok() ? *root : fs::path());
  if (format == "json") {
    OJson plugins = OJson::array(), refused = OJson::array();
    for (const auto& p : set.report.loaded) {
      OJson kinds = OJson::array();
      for (const RecipeKind* k : p.kinds) {
        OJson params = OJson::array();
        for (const auto& ps : k->params())
          params.push_back(
              {{"name", ps.name},
               {"type", ParamTypeName(ps.type)},
               {"required", ps.required},
               {"default",
                ps.default_json.empty() ? OJson() : OJson::parse(ps.default_json, nullptr, false)},
               {"doc", ps.doc}});
        kinds.push_back({{"name", k->name()},
                         {"min_inputs", k->min_inputs()},
                         {"min_outputs", k->min_outputs()},
                         {"params", std::move(params)}});
      }
      plugins.push_back({{"name", p.name},
                         {"version", p.version},
                         {"path", p.path.string()},
                         {"kinds", std::move(kinds)}});
    }
    for (const auto& r : set.report.refused) refused.push_back(r.ToString());
    PrintJson({{"plugins", std::move(plugins)}, {"refused", std::move(refused)}});
    return kExitOk;
  }
  if (set.report.loaded.empty() && set.report.refused.empty()) std::printf("no plugins found\n");
  for (const auto& p : set.report.loaded) {
    std::printf("%s %s  %s\n", Printable(p.name).c_str(), Printable(p.version).c_str(),
                Printable(p.path.string()).c_str());
    for (const RecipeKind* k : p.kinds) {
      std::printf("  kind %s: inputs %d, outputs %d\n", k->name().c_str(), k->min_inputs(),
                  k->min_outputs());
      for (const auto& ps : k->params())
        std::printf("    %s (%s%s%s)%s%s\n", ps.name.c_str(), ParamTypeName(ps.type),
                    ps.required ? ", required" : "",
                    ps.default_json.empty() ? "" : (", default " + ps.default_json).c_str(),
                    ps.doc.empty() ? "" : ": ", Printable(ps.doc).c_str());
    }
  }
  for (const auto& r : set.report.refused)
    std::printf("refused %s\n", Printable(r.ToString()).c_str());
  return kExitOk;
}

int CmdValidate(const Globals& g, const std::string& format) {
  auto root = WorkspaceRoot(g);
  if (!root.ok()) return Fail(root.status());
  LoadedWorkspace lw = LoadWorkspace(*root);
  std::vector<Diagnostic> diags = lw.diagnostics;
  // Semantic checks need a readable workspace; shape problems come first.
  if (diags.empty())
    diags = ValidateWorkspace(lw.workspace, *CliKinds(*root).registry,
                              CurrentSchemasOf(lw.workspace, g.env));
  for (auto& d : LoadUseCases(*root).diagnostics) diags.push_back(std::move(d));
  if (format == "json") {
    // Every diagnostic, on stdout; the exit status says whether there were any.
    OJson out = OJson::array();
    for (const auto& d : diags) {
      OJson j = {{"file", d.loc.file}, {"line", d.loc.line}};
      if (d.loc.column > 0) j["column"] = d.loc.column;
      j["severity"] = "error";
      j["message"] = d.message;
      out.push_back(std::move(j));
    }
    PrintJson(out);
    return diags.empty() ? kExitOk : kExitFailed;
  }
  for (const auto& d : diags) std::fprintf(stderr, "%s\n", Printable(d.ToString()).c_str());
  if (!diags.empty()) {
    std::fprintf(stderr, "%zu problem%s found\n", diags.size(), diags.size() == 1 ? "" : "s");
    return kExitFailed;
  }
  size_t recipes = 0, datasets = 0;
  for (const auto& f : lw.workspace.flows) {
    recipes += f.recipes.size();
    for (const auto& r : f.recipes) datasets += r.outputs.size();
  }
  std::printf("ok: %zu flow%s, %zu recipes, %zu datasets\n", lw.workspace.flows.size(),
              lw.workspace.flows.size() == 1 ? "" : "s", recipes, datasets);
  return kExitOk;
}

int CmdGc(const Globals& g, int keep_runs, bool dry_run) {
  auto root = WorkspaceRoot(g);
  if (!root.ok()) return Fail(root.status());
  auto gc = GarbageCollection::Plan(*root, g.env, keep_runs);
  if (!gc.ok()) return Fail(gc.status());
  for (const auto& v : gc->versions())
    std::printf("%s %s %s (%s rows, %s bytes, run %s)\n", dry_run ? "would delete" : "delete",
                v.dataset.c_str(), v.id.substr(0, kVersionDisplayLength).c_str(),
                FormatCount(v.rows).c_str(), FormatCount(v.bytes).c_str(),
                v.run_id.substr(0, kShortIdLength).c_str());
  for (const auto& f : gc->unrecorded())
    std::printf("%s unrecorded %s (%s bytes)\n", dry_run ? "would delete" : "delete",
                f.where.c_str(), FormatCount(f.bytes).c_str());
  int orphans = static_cast<int>(gc->unrecorded().size());
  if (!dry_run) {
    auto removed = gc->Apply();
    if (!removed.ok()) return Fail(removed.status());
    orphans = *removed;
  }
  std::printf("%s %zu version%s%s, %s bytes\n", dry_run ? "would delete" : "deleted",
              gc->versions().size(), gc->versions().size() == 1 ? "" : "s",
              orphans ? fmt::format(" and {} unrecorded file(s)", orphans).c_str() : "",
              FormatCount(gc->bytes()).c_str());
  return kExitOk;
}

}  // namespace

void WorkspaceCommands::AddInit(CLI::App& app) {
  init_ = app.add_subcommand("init", "Create a workspace (a git repository)");
  init_->add_option("dir", init_dir_, "Directory to create")->required();
  init_->add_option("--name", init_name_, "Workspace name (default: the directory's name)");
}

void WorkspaceCommands::AddValidate(CLI::App& app) {
  validate_ = app.add_subcommand("validate", "Report every problem in the flows");
  AddFormat(validate_, &validate_format_);
}

void WorkspaceCommands::AddGc(CLI::App& app) {
  gc_ = app.add_subcommand("gc", "Delete dataset versions nothing references");
  gc_->add_option("--keep-runs", keep_runs_,
                  "Keep what the last N runs made or read (default: gc.keep_runs)")
      ->check(CLI::NonNegativeNumber);
  gc_->add_flag("--dry-run", dry_run_, "Only list what would be deleted");
}

void WorkspaceCommands::AddPlugin(CLI::App& app) {
  auto* plugin = app.add_subcommand("plugin", "C++ plugins");
  plugin->require_subcommand(1);
  plugin_list_ = plugin->add_subcommand("list", "Plugins found, with their kinds and params");
  AddFormat(plugin_list_, &plugin_format_);
}

bool WorkspaceCommands::parsed() const { return *init_ || *validate_ || *gc_ || *plugin_list_; }

int WorkspaceCommands::Run(const Globals& g) const {
  if (*init_) return CmdInit(g, init_dir_, init_name_);
  if (*validate_) return CmdValidate(g, validate_format_);
  if (*gc_) return CmdGc(g, keep_runs_, dry_run_);
  if (*plugin_list_) return CmdPluginList(g, plugin_format_);
  return kExitUsage;
}

}  // namespace alambic
