// The `alambic` command (CLI11): the global options, one command group per
// file (workspace_commands.cc, run_commands.cc, inspect_commands.cc, ...), and
// the dispatch. Every command works on the workspace found from -C DIR (or the
// current directory) upward; see docs/cli.md. The groups parse and print; what
// they decide is in services/ (docs/architecture.md).
//
// Exit status: 0 success; 1 a run failed, validation found problems or bad
// input; 2 wrong command line; 130 the run was stopped (Ctrl-C).
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>

#include "core/base/actor.h"
#include "plugins/host.h"
#include "services/workspace.h"
#include "ui/cli/catalog_commands.h"
#include "ui/cli/cli.h"
#include "ui/cli/cli_docs.h"
#include "ui/cli/daemon_commands.h"
#include "ui/cli/data_commands.h"
#include "ui/cli/exec_task_commands.h"
#include "ui/cli/inspect_commands.h"
#include "ui/cli/lineage_commands.h"
#include "ui/cli/model_commands.h"
#include "ui/cli/promote_commands.h"
#include "ui/cli/release_commands.h"
#include "ui/cli/run_commands.h"
#include "ui/cli/schedule_commands.h"
#include "ui/cli/serve_commands.h"
#include "ui/cli/vcs_commands.h"
#include "ui/cli/workspace_commands.h"
#include "ui/common/text_table.h"

namespace alambic {
namespace {

int Main(int argc, char** argv) {
  CLI::App app{"Alambic: data-lab workflow orchestrator", "alambic"};
  app.require_subcommand(1);
  app.fallthrough();
  app.set_version_flag("--version", std::string("alambic ") + ALAMBIC_VERSION);
  Globals g;
  app.add_option("-C", g.dir, "Run as if started in DIR")->type_name("DIR");
  app.add_option("--env", g.env, "Environment (default: the workspace's default_environment)")
      ->type_name("ENV");

  // In the order of `alambic --help`.
  WorkspaceCommands workspace;  // init, validate, gc, plugin
  RunCommands runs;             // plan, run
  InspectCommands inspect;      // runs, log, status
  DataCommands data;            // show, export
  LineageCommands lineage;      // lineage, impact, openlineage
  CatalogCommands catalog;      // usecase, catalog
  PromoteCommand promote;
  ModelCommands model;
  workspace.AddInit(app);
  workspace.AddValidate(app);
  runs.AddPlan(app);
  runs.AddRun(app);
  inspect.AddRuns(app);
  inspect.AddLog(app);
  inspect.AddStatus(app);
  data.AddShow(app);
  data.AddExport(app);
  workspace.AddGc(app);
  lineage.AddLineage(app);
  lineage.AddImpact(app);
  lineage.AddOpenLineage(app);
  catalog.AddUsecase(app);
  catalog.AddCatalog(app);
  promote.Add(app);
  workspace.AddPlugin(app);
  model.Add(app);
  VcsCommands vcs(app);                   // history, diff
  ReleaseCommands release_commands(app);  // releases, rollback, audit
  ScheduleCommands schedule_commands(app);
  DaemonCommands daemon_commands(app);  // daemon, trigger
  ServeCommands serve_commands(app);    // serve, user, token, secret

  // Hidden (group ""): the build writes the completion script and the man page with them.
  std::string docs_shell, docs_output;
  auto* completion = app.add_subcommand("completion", "Print the shell completion script");
  completion->group("");
  completion->add_option("shell", docs_shell)->required()->check(CLI::IsMember({"bash"}));
  completion->add_option("-o", docs_output, "Write to FILE")->type_name("FILE");
  ExecTaskCommand exec_task;
  exec_task.Add(app);
  auto* man = app.add_subcommand("man", "Print the man page (roff)");
  man->group("");
  man->add_option("-o", docs_output, "Write to FILE")->type_name("FILE");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  if (*completion || *man) {
    const std::string text = *man ? ManPage(app, ALAMBIC_VERSION) : BashCompletion(app);
    if (docs_output.empty()) {
      std::fwrite(text.data(), 1, text.size(), stdout);
      return kExitOk;
    }
    Status st = WriteNewFile(docs_output, text);
    return st.ok() ? kExitOk : Fail(st);
  }
  // Refused plugins are reported on stderr once, when the kinds are loaded.
  SetPluginRefusedHandler([](const PluginRefusal& r) {
    std::fprintf(stderr, "alambic: plugin refused: %s\n", Printable(r.ToString()).c_str());
  });
  if (exec_task.parsed()) return exec_task.Run();
  if (workspace.parsed()) return workspace.Run(g);
  if (runs.parsed()) return runs.Run(g);
  if (inspect.parsed()) return inspect.Run(g);
  if (data.parsed()) return data.Run(g);
  if (lineage.parsed()) return lineage.Run(g);
  if (catalog.parsed()) return catalog.Run(g);
  if (promote.parsed()) return promote.Run(g);
  if (model.parsed()) return model.Run(g);
  if (schedule_commands.parsed()) return schedule_commands.Run(g.dir, g.env);
  if (serve_commands.parsed()) return serve_commands.Run(g.dir, g.env);
  if (daemon_commands.parsed()) return daemon_commands.Run(g.dir, g.env);
  if (vcs.Selected()) {
    auto root = WorkspaceRoot(g);
    Status st = root.ok() ? vcs.Run(*root) : root.status();
    return st.ok() ? kExitOk : Fail(st);
  }
  if (release_commands.parsed())
    return release_commands.Run(
        g.env,
        [&](const std::string& env) -> Result<std::unique_ptr<Catalog>> {
          Globals ge = g;
          ge.env = env;
          ALAMBIC_ASSIGN_OR_RETURN(History h, OpenHistory(ge));
          return std::move(h.catalog);
        },
        Actor::Current());
  return kExitUsage;
}

}  // namespace
}  // namespace alambic

int main(int argc, char** argv) {
  if (alambic::plugin_host::IsHostInvocation(argc, argv))
    alambic::plugin_host::HostMain(argc, argv);
  return alambic::Main(argc, argv);
}
