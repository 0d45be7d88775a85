// The `alambic` command (CLI11). Every command works on the workspace found from
// -C DIR (or the current directory) upward; see docs/cli.md.
//
// Exit status: 0 success; 1 a run failed, validation found problems or bad
// input; 2 wrong command line; 130 the run was stopped (Ctrl-C).
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "catalog/catalog.h"
#include "catalog/lab_catalog.h"
#include "catalog/lineage.h"
#include "catalog/openlineage.h"
#include "core/exec/run.h"
#include "core/exec/session.h"
#include "core/flow/loader.h"
#include "core/flow/validate.h"
#include "core/table/csv.h"
#include "core/vcs/git.h"
#include "core/vcs/promotion.h"
#include "plugins/host.h"
#include "plugins/loader.h"
#include "recipes/builtin_kinds.h"
#include "recipes/export.h"
#include "ui/cli/cli_docs.h"
#include "ui/cli/daemon_commands.h"
#include "ui/cli/model_commands.h"
#include "ui/cli/promote_commands.h"
#include "ui/cli/release_commands.h"
#include "ui/cli/schedule_commands.h"
#include "ui/cli/vcs_commands.h"
#include "ui/common/lineage_view.h"
#include "ui/common/progress.h"
#include "ui/common/text_table.h"
#include "ui/common/workspace_snapshot.h"

namespace fs = std::filesystem;

namespace alambic {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
constexpr int kExitStopped = 130;
constexpr int kShortIdLength = 8;
constexpr int kVersionDisplayLength = 12;

struct Globals {
  std::string dir = ".";
  std::string env;
};

int Fail(const Status& st) {
  // Multi-line messages (validation) keep one problem per line.
  std::string msg = st.message();
  size_t pos = 0;
  while (pos <= msg.size()) {
    size_t nl = msg.find('\n', pos);
    std::string line = msg.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    std::fprintf(stderr, "alambic: %s\n", PrintableLines(line, "").c_str());  // tabs expanded
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  return kExitFailed;
}

using OJson = nlohmann::ordered_json;

// JSON output (--format json): keys in the order given, invalid UTF-8 replaced;
// strings are escaped by construction, so nothing printed can drive the terminal.
void PrintJson(const OJson& j) {
  const std::string s = j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  std::fwrite(s.data(), 1, s.size(), stdout);
}

void AddFormat(CLI::App* cmd, std::string* format) {
  cmd->add_option("--format", *format, "Output: text (default) or json")
      ->check(CLI::IsMember({"text", "json"}));
}

Result<fs::path> WorkspaceRoot(const Globals& g) {
  std::error_code ec;
  if (!fs::is_directory(g.dir, ec))
    return Status::NotFound(fmt::format("{}: no such directory", g.dir));
  fs::path root = FindWorkspaceRoot(g.dir);
  if (!fs::exists(root / "alambic.yaml", ec))
    return Status::NotFound(fmt::format(
        "not an Alambic workspace: no alambic.yaml in {} or its parents (see `alambic init`)",
        fs::absolute(g.dir, ec).lexically_normal().string()));
  return root;
}

// The catalog and the store of one environment, without loading the flows:
// for commands that read history (runs, log, show, export) and must work even
// while a flow file is broken.
struct History {
  fs::path root;
  std::string env;
  std::unique_ptr<Catalog> catalog;
  std::unique_ptr<DatasetStore> store;
};

// `read_only`: for commands that only read (show, runs, log), which then work on a
// full disk.
Result<History> OpenHistory(const Globals& g, bool read_only = false) {
  History h;
  ALAMBIC_ASSIGN_OR_RETURN(h.root, WorkspaceRoot(g));
  LoadedWorkspace lw = LoadWorkspace(h.root);
  h.env = g.env.empty() ? lw.workspace.config.default_environment : g.env;
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
  auto env = lw.workspace.config.environments.find(h.env);
  h.store = std::make_unique<DatasetStore>(env != lw.workspace.config.environments.end()
                                               ? env->second.store
                                               : h.root / ".alambic" / "store" / h.env);
  return h;
}

// ---- init -------------------------------------------------------------------

Status WriteNewFile(const fs::path& p, const std::string& content) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << content;
  out.close();
  if (!out) return Status::IoError(fmt::format("{}: cannot write", p.string()));
  return Status::Ok();
}

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

// ---- plugins --------------------------------------------------------------------

struct KindSet {
  std::unique_ptr<RecipeRegistry> registry;
  PluginLoadReport report;
};

// Built-in kinds plus the plugins found for the workspace at `root`, loaded
// once per process (plugins stay loaded). Refused plugins are reported on
// stderr once, unless `quiet`.
KindSet& LoadKinds(const fs::path& root, bool quiet = false) {
  static KindSet* set = nullptr;
  if (!set) {
    set = new KindSet{std::make_unique<RecipeRegistry>(), {}};
    // A built-in kind that cannot be registered (two with one name) is a broken
    // build: stop before any command runs with half of them.
    if (Status st = RegisterBuiltinKinds(*set->registry); !st.ok()) {
      std::fprintf(stderr, "alambic: cannot register the built-in recipe kinds: %s\n",
                   Printable(st.message()).c_str());
      std::exit(kExitFailed);
    }
    std::vector<fs::path> configured;
    if (!root.empty()) configured = LoadWorkspaceConfig(root).workspace.config.plugin_dirs;
    set->report = LoadPluginDirs(PluginSearchPath(root, configured), *set->registry);
    if (!quiet)
      for (const auto& r : set->report.refused)
        std::fprintf(stderr, "alambic: plugin refused: %s\n", Printable(r.ToString()).c_str());
  }
  return *set;
}
const RecipeRegistry& Kinds(const fs::path& root) { return *LoadKinds(root).registry; }

// Outside a workspace: the plugins beside the binary and in the install prefix.
int CmdPluginList(const Globals& g, const std::string& format) {
  auto root = WorkspaceRoot(g);
  const KindSet& set = LoadKinds(root.ok() ? *root : fs::path(), /*quiet=*/true);
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

// ---- validate -----------------------------------------------------------------

int CmdValidate(const Globals& g, const std::string& format) {
  auto root = WorkspaceRoot(g);
  if (!root.ok()) return Fail(root.status());
  LoadedWorkspace lw = LoadWorkspace(*root);
  std::vector<Diagnostic> diags = lw.diagnostics;
  // Semantic checks need a readable workspace; shape problems come first.
  if (diags.empty())
    diags = ValidateWorkspace(lw.workspace, Kinds(*root), CurrentSchemasOf(lw.workspace, g.env));
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

// ---- plan and run ---------------------------------------------------------------

struct Selection {
  std::vector<std::string> flows, only, from, to;
  bool force = false;
  PlanOptions ToPlanOptions() const {
    PlanOptions o;
    o.flows = flows;
    o.only = only;
    o.from = from;
    o.to = to;
    o.force = force;
    return o;
  }
};

void AddSelection(CLI::App* cmd, Selection* sel) {
  cmd->add_option("flows", sel->flows, "Flows (all when none)");
  cmd->add_option("--only", sel->only, "Just these recipes (their inputs must be built)")
      ->type_name("RECIPE");
  cmd->add_option("--from", sel->from, "These recipes and everything downstream")
      ->type_name("RECIPE");
  cmd->add_option("--to", sel->to, "These recipes and everything upstream")->type_name("RECIPE");
  cmd->add_flag("--force", sel->force, "Rebuild the selection even when up to date");
}

Result<std::unique_ptr<Session>> OpenSession(const Globals& g, bool read_only = false) {
  ALAMBIC_ASSIGN_OR_RETURN(fs::path root, WorkspaceRoot(g));
  SessionOptions options;
  options.read_only = read_only;
  return Session::Open(root, g.env, Kinds(root), options);
}

// An environment that runs only releases (the warehouse) is planned and shown
// from each flow's active release, never from the working tree.
bool RunsReleasesOnly(const WorkspaceConfig& cfg, const std::string& env) {
  auto spec = cfg.environments.find(env);
  return spec != cfg.environments.end() && (env == kWarehouse || spec->second.releases_only);
}

struct ReleaseSession {
  std::string flow;
  ReleaseRecord release;
  std::unique_ptr<Session> session;
};

// One session per flow with an active release in the environment (those of
// `flows`, else every flow of the working tree that has one), each opened on
// its release's checkout; nothing when the environment runs the working tree.
Result<std::optional<std::vector<ReleaseSession>>> OpenReleaseSessions(
    const Globals& g, const std::vector<std::string>& flows) {
  ALAMBIC_ASSIGN_OR_RETURN(fs::path root, WorkspaceRoot(g));
  LoadedWorkspace config = LoadWorkspaceConfig(root);
  const WorkspaceConfig& cfg = config.workspace.config;
  const std::string env = g.env.empty() ? cfg.default_environment : g.env;
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
    SessionOptions so;
    so.code_root = checkout.code_root;
    auto session = Session::Open(root, env, Kinds(checkout.code_root), so);
    if (!session.ok()) return session.status().WithContext(checkout.release.tag);
    out.push_back({flow, std::move(checkout.release), std::move(*session)});
  }
  return std::optional<std::vector<ReleaseSession>>(std::move(out));
}

std::string ReleaseHeading(const ReleaseSession& rs) {
  return fmt::format("{}: release {} (commit {})\n", rs.flow, rs.release.number,
                     rs.release.git_commit.substr(0, 10));
}

struct PlanOutput {
  std::string format = "text";
  bool explain = false;
  bool exit_code = false;  // 2 when something is to run
  size_t to_run = 0;
  OJson recipes = OJson::array();  // --format json: every recipe, all releases
};

Status PrintPlan(Session& session, const PlanOptions& options, const std::string& release,
                 PlanOutput* po);

int CmdPlan(const Globals& g, const Selection& sel, PlanOutput po) {
  auto releases = OpenReleaseSessions(g, sel.flows);
  if (!releases.ok()) return Fail(releases.status());
  const bool json = po.format == "json";
  if (*releases) {
    for (auto& rs : **releases) {
      if (!json) std::fputs(ReleaseHeading(rs).c_str(), stdout);
      PlanOptions o = sel.ToPlanOptions();
      o.flows = {rs.flow};
      if (Status st = PrintPlan(*rs.session, o, rs.release.tag, &po); !st.ok()) return Fail(st);
    }
  } else {
    auto session = OpenSession(g);
    if (!session.ok()) return Fail(session.status());
    if (Status st = PrintPlan(**session, sel.ToPlanOptions(), "", &po); !st.ok()) return Fail(st);
  }
  if (json) PrintJson({{"to_run", po.to_run}, {"recipes", std::move(po.recipes)}});
  return po.exit_code && po.to_run > 0 ? kExitUsage : kExitOk;
}

Status PrintPlan(Session& session, const PlanOptions& options, const std::string& release,
                 PlanOutput* po) {
  ALAMBIC_ASSIGN_OR_RETURN(Plan plan_value, session.MakePlan(options));
  const Plan* plan = &plan_value;
  const FlowGraph& graph = session.graph();
  po->to_run += static_cast<size_t>(plan->to_run);
  if (po->format == "json") {
    for (const auto& rp : plan->recipes) {
      const RecipeNode& node = graph.node(rp.node);
      OJson j = {{"flow", node.flow->name},
                 {"recipe", node.recipe->name},
                 {"decision", DecisionName(rp.decision)},
                 {"reason", rp.explanation}};
      if (!release.empty()) j["release"] = release;
      po->recipes.push_back(std::move(j));
    }
    return Status::Ok();
  }
  const bool explain = po->explain;
  std::string out;
  if (explain) {
    TextTable table({"recipe", "decision", "reason"}, 200);
    for (const auto& rp : plan->recipes)
      table.AddRow({graph.node(rp.node).Label(), DecisionName(rp.decision), rp.explanation});
    out = table.Render();
  } else {
    for (const auto& rp : plan->recipes)
      if (rp.decision == Decision::kRun)
        out += fmt::format("{}  {}\n", Printable(graph.node(rp.node).Label()),
                           Printable(rp.explanation));
  }
  out += fmt::format("{} of {} recipes to run\n", plan->to_run, plan->recipes.size());
  std::fwrite(out.data(), 1, out.size(), stdout);
  return Status::Ok();
}

OpenLineageOptions LineageOptionsFor(const WorkspaceConfig& cfg, const std::string& env) {
  OpenLineageOptions o;
  const std::string name = cfg.name.empty() ? "alambic" : cfg.name;
  o.job_namespace = cfg.openlineage_namespace.empty() ? name : cfg.openlineage_namespace;
  o.dataset_namespace = fmt::format("alambic://{}/{}", name, env);
  return o;
}

// After a run: its OpenLineage events to the configured endpoint. A failure
// only warns: the run itself is recorded and its status stands.
void PostRunEvents(Session& s, const RunRecord& run) {
  const WorkspaceConfig& cfg = s.workspace().config;
  if (cfg.openlineage_url.empty()) return;
  auto warn = [](const std::string& m) {
    std::fprintf(stderr, "alambic: warning: %s\n", Printable(m).c_str());
  };
  auto events = OpenLineageEvents(s.catalog(), run.id, LineageOptionsFor(cfg, s.environment()));
  if (!events.ok()) return warn("openlineage: " + events.status().message());
  OpenLineageEndpoint endpoint;
  endpoint.url = cfg.openlineage_url;
  endpoint.retries = cfg.openlineage_retries;
  endpoint.retry_backoff_seconds = cfg.openlineage_retry_backoff_seconds;
  endpoint.timeout_seconds = cfg.openlineage_timeout_seconds;
  auto sent = PostOpenLineageEvents(endpoint, *events, warn);
  if (!sent.ok()) return warn(sent.status().message());
  if (*sent < static_cast<int>(events->size()))
    warn(fmt::format("openlineage: {} of {} events sent to {}", *sent, events->size(),
                     cfg.openlineage_url));
}

int ExitOf(const RunRecord& run) {
  if (run.status == "succeeded") return kExitOk;
  if (run.status == "cancelled") return kExitStopped;
  return kExitFailed;
}

// An environment that runs only releases (the warehouse): each selected flow
// runs from a clone of its active release, never from the working tree.
int CmdRunReleases(const fs::path& root, const std::string& env, const Selection& sel,
                   const RunOptions& base, bool verbose) {
  std::vector<std::string> flows = sel.flows;
  auto catalog = Catalog::Open(root / ".alambic" / "catalog.db");
  if (!catalog.ok()) return Fail(catalog.status());
  // A refused warehouse run is audited too: who tried to run what, and why not.
  auto refuse = [&](const std::string& flow, const std::string& target, const Status& why) {
    AuditEntry audit;
    const Actor who = Actor::Current();
    audit.user = who.user;
    audit.host = who.host;
    audit.action = "run";
    audit.environment = env;
    audit.flow = flow;
    audit.target = target;
    audit.outcome = "refused";
    audit.detail = {{"error", why.message()}};
    if (Status st = (*catalog)->AppendAudit(audit); !st.ok()) (void)Fail(st);
    return Fail(why);
  };
  if (flows.empty()) {
    LoadedWorkspace lw = LoadWorkspace(root);
    for (const auto& f : lw.workspace.flows) {
      auto active = (*catalog)->ActiveRelease(f.name, env);
      if (!active.ok()) return Fail(active.status());
      if (*active)
        flows.push_back(f.name);
      else
        std::printf("skipping flow %s: no release in the %s\n", f.name.c_str(), env.c_str());
    }
    if (flows.empty())
      return refuse(
          "", "",
          Status::NotFound(fmt::format(
              "no flow has a release in the {}: only released code runs there; promote one with "
              "`alambic promote FLOW --to {}`",
              env, env)));
  }
  int exit = kExitOk;
  for (const auto& flow : flows) {
    auto checkout = CheckoutActiveRelease(**catalog, root, flow, env);
    if (!checkout.ok()) return refuse(flow, "", checkout.status());
    const ReleaseRecord& rel = checkout->release;
    std::printf("%s: release %d (commit %s, promoted %s by %s)\n", flow.c_str(), rel.number,
                rel.git_commit.substr(0, 10).c_str(), rel.created_at.c_str(),
                Printable(rel.user).c_str());
    std::fflush(stdout);
    SessionOptions so;
    so.code_root = checkout->code_root;
    auto session = Session::Open(root, env, Kinds(checkout->code_root), so);
    if (!session.ok()) return refuse(flow, rel.tag, session.status().WithContext(rel.tag));
    RunOptions opts = base;
    opts.plan.flows = {flow};
    opts.release = fmt::format("{}/{}", flow, rel.number);
    bool tty = ::isatty(STDOUT_FILENO) != 0;
    TerminalProgress progress(stdout, tty, verbose);
    auto summary = RunFlows(**session, opts, &progress);
    if (!summary.ok()) return refuse(flow, rel.tag, summary.status().WithContext(rel.tag));
    PostRunEvents(**session, summary->run);
    if (int e = ExitOf(summary->run); e != kExitOk) {
      exit = e;
      if (e == kExitStopped) break;
    }
  }
  return exit;
}

int CmdRun(const Globals& g, const Selection& sel, int jobs, bool keep_going, bool verbose) {
  RunOptions opts;
  opts.plan = sel.ToPlanOptions();
  opts.exec.jobs = jobs;
  opts.exec.keep_going = keep_going;
  opts.exec.handle_signals = true;
  auto root = WorkspaceRoot(g);
  if (!root.ok()) return Fail(root.status());
  LoadedWorkspace config = LoadWorkspaceConfig(*root);
  const WorkspaceConfig& cfg = config.workspace.config;
  const std::string env = g.env.empty() ? cfg.default_environment : g.env;
  if (RunsReleasesOnly(cfg, env)) return CmdRunReleases(*root, env, sel, opts, verbose);
  auto session = OpenSession(g);
  if (!session.ok()) return Fail(session.status());
  bool tty = ::isatty(STDOUT_FILENO) != 0;
  TerminalProgress progress(stdout, tty, verbose);
  auto summary = RunFlows(**session, opts, &progress);
  if (!summary.ok()) return Fail(summary.status());
  PostRunEvents(**session, summary->run);
  return ExitOf(summary->run);
}

// ---- promote ----------------------------------------------------------------------

int CmdPromote(const Globals& g, const PromoteOptions& o, const std::string& format) {
  auto root = WorkspaceRoot(g);
  if (!root.ok()) return Fail(root.status());
  LoadedWorkspace config = LoadWorkspaceConfig(*root);
  const WorkspaceConfig& cfg = config.workspace.config;
  const std::string from = g.env.empty() ? cfg.default_environment : g.env;
  if (!cfg.environments.count(o.to))
    return Fail(Status::Invalid(fmt::format("unknown environment '{}'", o.to)));
  if (o.to == from)
    return Fail(Status::Invalid(
        fmt::format("cannot promote from {} to itself: name the target with --to", from)));
  auto catalog = Catalog::Open(*root / ".alambic" / "catalog.db");
  if (!catalog.ok()) return Fail(catalog.status());
  auto outcome = Promote(**catalog, *root, from, o, Actor::Current());
  if (!outcome.ok()) return Fail(outcome.status());
  if (format == "json")
    PrintJson(PromotionJson(o, *outcome));
  else
    std::fputs(RenderPromotion(o, *outcome).c_str(), stdout);
  return outcome->Admitted() ? kExitOk : kExitFailed;
}

// ---- history: runs, log -----------------------------------------------------------

std::string CommitLabel(const RunRecord& r) {
  if (r.git_commit.empty()) return "-";
  return r.git_commit.substr(0, 10) + (r.git_dirty ? "+" : "");
}

OJson RunJson(const RunRecord& r) {
  return {{"id", r.id},
          {"status", r.status},
          {"environment", r.environment},
          {"started_at", r.started_at},
          {"finished_at", r.finished_at.empty() ? OJson() : OJson(r.finished_at)},
          {"trigger", r.trigger},
          {"user", r.user},
          {"commit", r.git_commit.empty() ? OJson() : OJson(r.git_commit)},
          {"dirty", r.git_dirty},
          {"flows", r.flows},
          {"release", r.release.empty() ? OJson() : OJson(r.release)},
          {"error", r.error.empty() ? OJson() : OJson(r.error)}};
}

// With --env, only that environment's runs; else every environment's.
int CmdRuns(const Globals& g, int limit, const std::string& format) {
  auto h = OpenHistory(g, /*read_only=*/true);
  if (!h.ok()) return Fail(h.status());
  auto runs = h->catalog->ListRuns(g.env.empty() ? limit : std::numeric_limits<int>::max());
  if (!runs.ok()) return Fail(runs.status());
  if (!g.env.empty()) {
    std::erase_if(*runs, [&](const RunRecord& r) { return r.environment != h->env; });
    if (runs->size() > static_cast<size_t>(limit)) runs->resize(static_cast<size_t>(limit));
  }
  if (format == "json") {
    OJson out = OJson::array();
    for (const auto& r : *runs) out.push_back(RunJson(r));
    PrintJson(out);
    return kExitOk;
  }
  // The release column only when a run listed ran one.
  bool releases = false;
  for (const auto& r : *runs) releases = releases || !r.release.empty();
  std::vector<std::string> header = {"run",     "status", "env",  "started",
                                     "trigger", "commit", "flows"};
  if (releases) header.push_back("release");
  TextTable table(header);
  for (const auto& r : *runs) {
    std::vector<std::string> row = {r.id.substr(0, kShortIdLength),
                                    r.status,
                                    r.environment,
                                    r.started_at,
                                    r.trigger,
                                    CommitLabel(r),
                                    r.flows};
    if (releases) row.push_back(r.release.empty() ? "-" : r.release);
    table.AddRow(std::move(row));
  }
  std::fputs(table.Render().c_str(), stdout);
  return kExitOk;
}

std::string DurationOf(const RecipeRunRecord& r) {
  return r.attempts > 0 ? FormatDuration(r.duration_ms / 1000) : "-";
}

OJson RecipeRunJson(const RecipeRunRecord& r, bool with_log) {
  auto opt = [](const std::string& v) { return v.empty() ? OJson() : OJson(v); };
  OJson outputs = OJson::object(), inputs = OJson::object();
  for (const auto& [ds, id] : r.inputs) inputs[ds] = id;
  for (const auto& [ds, id] : r.outputs) outputs[ds] = id;
  OJson j = {{"flow", r.flow},
             {"recipe", r.recipe},
             {"kind", r.kind},
             {"status", r.status},
             {"reason", r.reason},
             {"attempts", r.attempts},
             {"started_at", opt(r.started_at)},
             {"finished_at", opt(r.finished_at)},
             {"duration_ms", r.duration_ms},
             {"rows_in", r.rows_in},
             {"rows_out", r.rows_out},
             {"bytes_out", r.bytes_out},
             {"error", opt(r.error)},
             {"metrics", r.metrics},
             {"inputs", std::move(inputs)},
             {"outputs", std::move(outputs)}};
  if (with_log) j["log"] = r.log;
  return j;
}

int CmdLog(const Globals& g, const std::string& run_id, const std::string& recipe,
           const std::string& format) {
  auto h = OpenHistory(g, /*read_only=*/true);
  if (!h.ok()) return Fail(h.status());
  auto run = h->catalog->FindRun(run_id);
  if (!run.ok()) return Fail(run.status());
  auto recipes = h->catalog->RecipeRuns(run->id);
  if (!recipes.ok()) return Fail(recipes.status());
  if (recipe.empty() && format == "json") {
    OJson list = OJson::array();
    for (const auto& r : *recipes) list.push_back(RecipeRunJson(r, false));
    OJson out = RunJson(*run);
    out["recipes"] = std::move(list);
    PrintJson(out);
    return kExitOk;
  }
  if (recipe.empty()) {
    std::printf(
        "run       %s\nstatus    %s\nflows     %s\nenv       %s\ntrigger   %s\nuser      %s\n"
        "commit    %s\nstarted   %s\nfinished  %s\n",
        run->id.c_str(), run->status.c_str(), run->flows.c_str(), run->environment.c_str(),
        run->trigger.c_str(), Printable(run->user).c_str(),
        run->git_commit.empty()
            ? "-"
            : (run->git_commit + (run->git_dirty ? " (dirty working tree)" : "")).c_str(),
        run->started_at.c_str(), run->finished_at.empty() ? "-" : run->finished_at.c_str());
    if (!run->release.empty()) std::printf("release   %s\n", Printable(run->release).c_str());
    if (!run->error.empty())
      std::printf("error     %s\n", PrintableLines(run->error, "          ").c_str());
    bool ran = false;
    for (const auto& r : *recipes) ran = ran || r.status != "up_to_date";
    if (!ran) std::printf("\nnothing was run: every selected recipe was up to date\n");
    TextTable table({"recipe", "status", "attempts", "rows in", "rows out", "duration", "reason"},
                    80);
    for (size_t i : {2, 3, 4, 5}) table.AlignRight(i);
    for (const auto& r : *recipes)
      table.AddRow({r.flow + "/" + r.recipe, r.status, std::to_string(r.attempts),
                    FormatCount(r.rows_in), FormatCount(r.rows_out), DurationOf(r), r.reason});
    if (table.rows() > 0) std::printf("\n%s", table.Render().c_str());
    return kExitOk;
  }
  const RecipeRunRecord* found = nullptr;
  for (const auto& r : *recipes)
    if (r.recipe == recipe || r.flow + "/" + r.recipe == recipe) {
      if (found)
        return Fail(Status::Invalid(fmt::format(
            "recipe '{}' is ambiguous in run {}: name it as FLOW/RECIPE", recipe, run->id)));
      found = &r;
    }
  if (!found)
    return Fail(Status::NotFound(fmt::format("run {} has no recipe '{}'", run->id, recipe)));
  const RecipeRunRecord& r = *found;
  if (format == "json") {
    PrintJson(RecipeRunJson(r, true));
    return kExitOk;
  }
  std::printf(
      "recipe    %s/%s (%s)\nrun       %s\nstatus    %s\nreason    %s\nattempts  %d\n"
      "started   %s\nfinished  %s\nduration  %s\nrows in   %s\nrows out  %s\nbytes out "
      "%s\n",
      Printable(r.flow).c_str(), Printable(r.recipe).c_str(), r.kind.c_str(), r.run_id.c_str(),
      r.status.c_str(), Printable(r.reason).c_str(), r.attempts,
      r.started_at.empty() ? "-" : r.started_at.c_str(),
      r.finished_at.empty() ? "-" : r.finished_at.c_str(), DurationOf(r).c_str(),
      FormatCount(r.rows_in).c_str(), FormatCount(r.rows_out).c_str(),
      FormatCount(r.bytes_out).c_str());
  if (!r.error.empty())
    std::printf("error     %s\n", PrintableLines(r.error, "          ").c_str());
  if (!r.metrics.empty())
    std::printf("metrics   %s\n",
                r.metrics.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  if (!r.outputs.empty()) {
    std::string outs;
    for (const auto& [ds, id] : r.outputs)
      outs += (outs.empty() ? "" : ", ") + ds + " " + id.substr(0, kVersionDisplayLength);
    std::printf("outputs   %s\n", Printable(outs).c_str());
  }
  std::printf("\n");
  // Log lines are untrusted text (they quote data): escape each line, keep the breaks.
  size_t pos = 0;
  const std::string& log = r.log;
  while (pos < log.size()) {
    size_t nl = log.find('\n', pos);
    if (nl == std::string::npos) nl = log.size();
    std::printf("%s\n", Printable(std::string_view(log).substr(pos, nl - pos)).c_str());
    pos = nl + 1;
  }
  return kExitOk;
}

// ---- status -----------------------------------------------------------------

struct StatusRow {
  std::string dataset, flow, version, state, stale_reason, updated_at, run, release;
  std::optional<int64_t> rows;
  bool built = false;
};

// Adds a row per dataset of `s` (of `flow` only, unless empty) to `rows`.
Status AddStatusRows(Session& s, const std::string& flow, std::vector<StatusRow>* rows);

void AddStatusRows(const std::vector<StatusRow>& rows, TextTable* table) {
  for (const auto& r : rows) {
    if (!r.built) {
      table->AddRow({r.dataset, r.flow, "-", "never built", "-", "-", "-"});
      continue;
    }
    std::string last_run = r.run.substr(0, kShortIdLength);
    if (!r.release.empty()) last_run += " (" + r.release + ")";
    table->AddRow({r.dataset, r.flow, r.version.substr(0, kVersionDisplayLength),
                   r.stale_reason.empty() ? r.state : r.state + ": " + r.stale_reason,
                   FormatCount(r.rows.value_or(0)), r.updated_at, last_run});
  }
}

int CmdStatus(const Globals& g, const std::string& format) {
  std::vector<StatusRow> rows;
  if (format == "json") {
    auto releases = OpenReleaseSessions(g, {});
    if (!releases.ok()) return Fail(releases.status());
    if (*releases) {
      for (auto& rs : **releases)
        if (Status st = AddStatusRows(*rs.session, rs.flow, &rows); !st.ok()) return Fail(st);
    } else {
      auto session = OpenSession(g);
      if (!session.ok()) return Fail(session.status());
      if (Status st = AddStatusRows(**session, "", &rows); !st.ok()) return Fail(st);
    }
    OJson out = OJson::array();
    auto opt = [](const std::string& v) { return v.empty() ? OJson() : OJson(v); };
    for (const auto& r : rows)
      out.push_back({{"dataset", r.dataset},
                     {"flow", r.flow},
                     {"version", opt(r.version)},
                     {"state", r.state},
                     {"reason", opt(r.stale_reason)},
                     {"rows", r.rows ? OJson(*r.rows) : OJson()},
                     {"updated_at", opt(r.updated_at)},
                     {"run", opt(r.run)},
                     {"release", opt(r.release)}});
    PrintJson(out);
    return kExitOk;
  }
  TextTable table({"dataset", "flow", "version", "state", "rows", "updated", "last run"}, 100);
  table.AlignRight(4);
  auto releases = OpenReleaseSessions(g, {});
  if (!releases.ok()) return Fail(releases.status());
  if (*releases) {
    for (auto& rs : **releases) {
      std::fputs(ReleaseHeading(rs).c_str(), stdout);
      rows.clear();
      if (Status st = AddStatusRows(*rs.session, rs.flow, &rows); !st.ok()) return Fail(st);
      AddStatusRows(rows, &table);
    }
  } else {
    auto session = OpenSession(g, /*read_only=*/true);
    if (!session.ok()) return Fail(session.status());
    if (Status st = AddStatusRows(**session, "", &rows); !st.ok()) return Fail(st);
    AddStatusRows(rows, &table);
  }
  std::fputs(table.Render().c_str(), stdout);
  return kExitOk;
}

Status AddStatusRows(Session& s, const std::string& flow, std::vector<StatusRow>* rows) {
  PlanOptions options;
  if (!flow.empty()) options.flows = {flow};
  ALAMBIC_ASSIGN_OR_RETURN(Plan plan_value, s.MakePlan(options));
  const Plan* plan = &plan_value;
  ALAMBIC_ASSIGN_OR_RETURN(auto current_value, s.catalog().CurrentVersions(s.environment()));
  const auto* current = &current_value;
  std::map<std::string, const CurrentVersion*> cur;
  for (const auto& c : *current) cur[c.dataset] = &c;
  std::map<int, const RecipePlan*> by_node;
  for (const auto& rp : plan->recipes) by_node[rp.node] = &rp;

  for (int i = 0; i < s.graph().size(); ++i) {
    const RecipeNode& node = s.graph().node(i);
    if (!flow.empty() && node.flow->name != flow) continue;
    auto pit = by_node.find(i);
    for (size_t k = 0; k < node.recipe->outputs.size(); ++k) {
      const std::string& ds = node.recipe->outputs[k];
      auto cit = cur.find(ds);
      StatusRow row;
      row.dataset = ds;
      row.flow = node.flow->name;
      if (cit == cur.end()) {
        row.state = "never built";
        rows->push_back(std::move(row));
        continue;
      }
      const CurrentVersion& c = *cit->second;
      row.built = true;
      row.state = "fresh";
      if (pit != by_node.end()) {
        const RecipePlan& rp = *pit->second;
        if (rp.decision == Decision::kRun) {
          row.state = "stale";
          row.stale_reason = rp.explanation;
        } else if (k < rp.output_versions.size() && rp.output_versions[k] != c.version_id) {
          row.state = "stale";
          row.stale_reason = "another built version matches the flow";
        }
      }
      row.version = c.version_id;
      row.rows = c.rows;
      row.updated_at = c.updated_at;
      row.run = c.run_id;
      row.release = c.release;
      rows->push_back(std::move(row));
    }
  }
  return Status::Ok();
}

// ---- show, export -------------------------------------------------------------

Result<DatasetVersionRecord> ResolveVersion(History& h, const std::string& dataset,
                                            const std::string& version) {
  if (!version.empty()) {
    ALAMBIC_ASSIGN_OR_RETURN(auto v, h.catalog->FindVersion(h.env, dataset, version));
    if (!v)
      return Status::NotFound(
          fmt::format("dataset {} has no version '{}' in {}", dataset, version, h.env));
    return *v;
  }
  ALAMBIC_ASSIGN_OR_RETURN(auto current, h.catalog->CurrentVersions(h.env));
  for (const auto& c : current)
    if (c.dataset == dataset) {
      ALAMBIC_ASSIGN_OR_RETURN(auto v, h.catalog->FindVersion(h.env, dataset, c.version_id));
      if (v) return *v;
    }
  return Status::NotFound(fmt::format(
      "dataset {} has no version in {} (unknown dataset, or never built: run `alambic run`)",
      dataset, h.env));
}

// A table holding rows [0, n) of `t`.
Table Head(const Table& t, int64_t n) {
  if (n <= 0 || n >= t.num_rows()) return t;
  std::vector<ColumnPtr> cols;
  for (const auto& c : t.columns()) {
    ColumnBuilder b(c->type);
    b.Reserve(n);
    for (int64_t i = 0; i < n; ++i) b.AppendFrom(*c, i);
    cols.push_back(b.Finish());
  }
  return *Table::Make(t.schema(), std::move(cols), n);
}

nlohmann::json CellJson(const Column& c, int64_t i) {
  if (c.IsNull(i)) return nullptr;
  switch (c.type) {
    case TypeId::kInt64:
      return c.Int64(i);
    case TypeId::kFloat64: {
      double d = c.Double(i);
      if (!std::isfinite(d)) return FormatCell(c, i);  // JSON has no NaN or infinity
      return d;
    }
    case TypeId::kBool:
      return c.Bool(i);
    default:
      return FormatCell(c, i);
  }
}

int CmdShow(const Globals& g, const std::string& dataset, int64_t head, const std::string& version,
            const std::string& format) {
  auto h = OpenHistory(g, /*read_only=*/true);
  if (!h.ok()) return Fail(h.status());
  auto v = ResolveVersion(*h, dataset, version);
  if (!v.ok()) return Fail(v.status());
  auto full = h->store->Read(dataset, v->id);
  if (!full.ok()) return Fail(full.status());
  Table t = Head(*full, head);
  if (format == "csv") {
    Status st = WriteCsv(t, std::cout);
    std::cout.flush();
    return st.ok() ? kExitOk : Fail(st);
  }
  if (format == "json") {
    // ordered_json: the keys keep the columns' order.
    OJson rows = OJson::array();
    for (int64_t i = 0; i < t.num_rows(); ++i) {
      OJson row = OJson::object();
      for (int c = 0; c < t.num_columns(); ++c)
        row[t.schema().fields[static_cast<size_t>(c)].name] = CellJson(*t.column(c), i);
      rows.push_back(std::move(row));
    }
    std::cout << rows.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return kExitOk;
  }
  std::vector<std::string> header;
  for (const auto& f : t.schema().fields) header.push_back(f.name);
  TextTable table(header, 40);
  for (int c = 0; c < t.num_columns(); ++c) {
    TypeId type = t.schema().fields[static_cast<size_t>(c)].type;
    if (type == TypeId::kInt64 || type == TypeId::kFloat64)
      table.AlignRight(static_cast<size_t>(c));
  }
  for (int64_t i = 0; i < t.num_rows(); ++i) {
    std::vector<std::string> row;
    for (int c = 0; c < t.num_columns(); ++c)
      row.push_back(t.column(c)->IsNull(i) ? "null" : FormatCell(*t.column(c), i));
    table.AddRow(std::move(row));
  }
  std::fputs(table.Render().c_str(), stdout);
  std::printf("(%s of %s rows; %s version %s; %s)\n", FormatCount(t.num_rows()).c_str(),
              FormatCount(full->num_rows()).c_str(), Printable(dataset).c_str(),
              v->id.substr(0, kVersionDisplayLength).c_str(),
              Printable(full->schema().ToString()).c_str());
  return kExitOk;
}

int CmdExport(const Globals& g, const std::string& dataset, const std::string& file,
              const std::string& version, const std::string& decimal) {
  auto h = OpenHistory(g);
  if (!h.ok()) return Fail(h.status());
  auto v = ResolveVersion(*h, dataset, version);
  if (!v.ok()) return Fail(v.status());
  auto t = h->store->Read(dataset, v->id);
  if (!t.ok()) return Fail(t.status());
  // Written beside the target, then renamed: the target is whole or untouched.
  fs::path target = fs::path(g.dir) / file;
  if (target.has_parent_path()) {
    std::error_code mk;
    fs::create_directories(target.parent_path(), mk);
    if (mk)
      return Fail(Status::IoError(fmt::format("{}: cannot create folder: {}",
                                              target.parent_path().string(), mk.message())));
  }
  fs::path temp = target;
  temp += fmt::format(".tmp-{}", ::getpid());
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    if (!out) return Fail(Status::IoError(fmt::format("{}: cannot write", temp.string())));
    // A decimal comma goes with semicolon-separated cells, as in the export kind.
    Status st = decimal == "," ? WriteCsvWithDecimal(*t, out, CsvWriteOptions{';', true}, ',')
                               : WriteCsv(*t, out);
    out.close();
    if (st.ok() && !out) st = Status::IoError(fmt::format("{}: write failed", temp.string()));
    if (!st.ok()) {
      std::error_code ec;
      fs::remove(temp, ec);
      return Fail(st);
    }
  }
  std::error_code ec;
  fs::rename(temp, target, ec);
  if (ec) {
    fs::remove(temp, ec);
    return Fail(Status::IoError(fmt::format("{}: {}", target.string(), ec.message())));
  }
  std::printf("exported %s rows of %s (version %s) to %s\n", FormatCount(t->num_rows()).c_str(),
              dataset.c_str(), v->id.substr(0, kVersionDisplayLength).c_str(), file.c_str());
  return kExitOk;
}

// ---- lineage, impact, openlineage ---------------------------------------------------

// DATASET or DATASET.COLUMN: a name recorded as a dataset wins; else the last dot splits.
std::pair<std::string, std::string> SplitDatasetColumn(History& h, const std::string& arg) {
  auto versions = h.catalog->Versions(h.env, arg);
  if (versions.ok() && !versions->empty()) return {arg, ""};
  size_t dot = arg.rfind('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == arg.size()) return {arg, ""};
  return {arg.substr(0, dot), arg.substr(dot + 1)};
}

int CmdLineage(const Globals& g, const std::string& target, bool downstream, int depth,
               const std::string& version, const std::string& format) {
  auto h = OpenHistory(g);
  if (!h.ok()) return Fail(h.status());
  LineageQuery q;
  q.environment = h->env;
  std::tie(q.dataset, q.column) = SplitDatasetColumn(*h, target);
  q.version = version;
  q.direction = downstream ? LineageDirection::kDownstream : LineageDirection::kUpstream;
  q.depth = depth;
  auto graph = TraceLineage(*h->catalog, q);
  if (!graph.ok()) return Fail(graph.status());
  // Across workspaces: datasets of the graph that read a file another workspace
  // of the lab catalog writes (as registered by `alambic catalog sync`).
  std::vector<SharedFileEdge> shared;
  LoadedWorkspace lw = LoadWorkspaceConfig(h->root);
  lw.workspace.root = h->root;
  const std::string ws_name =
      lw.workspace.config.name.empty() ? h->root.filename().string() : lw.workspace.config.name;
  if (auto lab = LabCatalog::Open(LabCatalogPath(lw.workspace)); lab.ok())
    if (auto edges = (*lab)->SharedFiles(); edges.ok())
      for (const auto& e : *edges) {
        const bool here = e.to_workspace == ws_name && !downstream;
        const bool there = e.from_workspace == ws_name && downstream;
        for (const auto& n : graph->nodes)
          if ((here && n.dataset == e.to_dataset) || (there && n.dataset == e.from_dataset)) {
            shared.push_back(e);
            break;
          }
      }
  std::string out;
  if (format == "json") {
    nlohmann::json j = LineageJson(*graph);
    j["across_workspaces"] = nlohmann::json::array();
    for (const auto& e : shared)
      j["across_workspaces"].push_back(
          {{"file", e.file},
           {"from", {{"workspace", e.from_workspace}, {"dataset", e.from_dataset}}},
           {"to", {{"workspace", e.to_workspace}, {"dataset", e.to_dataset}}}});
    out = j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  } else if (format == "dot") {
    out = LineageDot(*graph);
  } else {
    out = LineageText(*graph);
    for (const auto& e : shared)
      out += Printable(downstream
                           ? fmt::format("{} is written to {}, read by workspace {} as {}",
                                         e.from_dataset, e.file, e.to_workspace, e.to_dataset)
                           : fmt::format("{} is read from {}, written by workspace {} as {}",
                                         e.to_dataset, e.file, e.from_workspace, e.from_dataset)) +
             "\n";
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return kExitOk;
}

// What would become stale if DATASET changed: the recipes reading it, transitively,
// from the workspace's flows and from every recipe the catalog recorded in this
// environment (flows since removed or in other workspaces sharing the catalog).
int CmdImpact(const Globals& g, const std::string& target, int depth, const std::string& format) {
  auto h = OpenHistory(g);
  if (!h.ok()) return Fail(h.status());
  auto [dataset, column] = SplitDatasetColumn(*h, target);
  if (!column.empty()) {
    // Column level: the columns derived from it in the current versions downstream.
    LineageQuery q;
    q.environment = h->env;
    q.dataset = dataset;
    q.column = column;
    q.direction = LineageDirection::kDownstream;
    q.depth = depth;
    auto graph = TraceLineage(*h->catalog, q);
    if (!graph.ok()) return Fail(graph.status());
    if (format == "json") {
      std::cout << LineageJson(*graph).dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
                << "\n";
      return kExitOk;
    }
    TextTable table({"column", "flow/recipe", "depth", "via"});
    for (size_t i = 1; i < graph->nodes.size(); ++i) {
      const LineageNode& n = graph->nodes[i];
      std::string via;
      for (const auto& e : graph->edges)
        if (e.to == static_cast<int>(i)) {
          const LineageNode& from = graph->nodes[static_cast<size_t>(e.from)];
          via += (via.empty() ? "" : ", ") + from.dataset + "." + from.column + " [" + e.transform +
                 "]";
        }
      table.AddRow(
          {n.dataset + "." + n.column, n.flow + "/" + n.recipe, std::to_string(n.depth), via});
    }
    std::fputs(table.Render().c_str(), stdout);
    std::printf("%zu column%s derived from %s\n", graph->nodes.size() - 1,
                graph->nodes.size() == 2 ? "" : "s", Printable(target).c_str());
    return kExitOk;
  }
  std::vector<RecipeIo> recipes;
  std::set<std::string> known;
  LoadedWorkspace lw = LoadWorkspace(h->root);
  for (const auto& f : lw.workspace.flows)
    for (const auto& r : f.recipes) {
      recipes.push_back({f.name, r.name, r.inputs, r.outputs});
      known.insert(f.name + "/" + r.name);
    }
  auto states = h->catalog->RecipeStates(h->env);
  if (!states.ok()) return Fail(states.status());
  for (const auto& [key, st] : *states) {
    if (known.count(key)) continue;
    size_t slash = key.find('/');
    RecipeIo io{key.substr(0, slash), key.substr(slash + 1), {}, {}};
    for (const auto& [ds, v] : st.inputs) io.inputs.push_back(ds);
    for (const auto& [ds, v] : st.outputs) io.outputs.push_back(ds);
    recipes.push_back(std::move(io));
  }
  bool exists = false;
  for (const auto& r : recipes)
    for (const auto& o : r.outputs) exists = exists || o == dataset;
  if (!exists)
    return Fail(Status::NotFound(
        fmt::format("no recipe of this workspace or the catalog writes dataset '{}'", dataset)));
  auto impacted = ImpactOf(recipes, dataset, depth);
  if (format == "json") {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& r : impacted)
      j.push_back({{"flow", r.flow},
                   {"recipe", r.recipe},
                   {"outputs", r.outputs},
                   {"via", r.via},
                   {"depth", r.depth}});
    std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return kExitOk;
  }
  TextTable table({"recipe", "rebuilds", "depth", "because it reads"});
  for (const auto& r : impacted) {
    std::string outs;
    for (const auto& o : r.outputs) outs += (outs.empty() ? "" : ", ") + o;
    table.AddRow({r.flow + "/" + r.recipe, outs, std::to_string(r.depth), r.via});
  }
  std::fputs(table.Render().c_str(), stdout);
  std::printf("%zu recipe%s would become stale if %s changed\n", impacted.size(),
              impacted.size() == 1 ? "" : "s", Printable(dataset).c_str());
  return kExitOk;
}

int CmdOpenLineage(const Globals& g, const std::string& run_id, bool pretty) {
  auto h = OpenHistory(g);
  if (!h.ok()) return Fail(h.status());
  auto run = h->catalog->FindRun(run_id);
  if (!run.ok()) return Fail(run.status());
  LoadedWorkspace lw = LoadWorkspaceConfig(h->root);
  auto events = OpenLineageEvents(*h->catalog, run->id,
                                  LineageOptionsFor(lw.workspace.config, run->environment));
  if (!events.ok()) return Fail(events.status());
  for (const auto& e : *events)
    std::cout << e.dump(pretty ? 2 : -1, ' ', false, nlohmann::json::error_handler_t::replace)
              << "\n";
  return kExitOk;
}

// ---- use cases and the lab catalog ------------------------------------------------

// Registers the workspace's cards, flows and datasets in its lab catalog, which
// stays open for the caller. Invalid cards fail with every problem (file:line).
Result<std::unique_ptr<LabCatalog>> SyncLab(const Globals& g, std::string* summary) {
  ALAMBIC_ASSIGN_OR_RETURN(auto session, OpenSession(g));
  LoadedUseCases cards = LoadUseCases(session->root());
  if (!cards.ok()) {
    std::string all;
    for (const auto& d : cards.diagnostics) all += (all.empty() ? "" : "\n") + d.ToString();
    return Status::Invalid(all);
  }
  std::set<std::string> ids;
  for (const auto& c : cards.cards) ids.insert(c.id);
  ALAMBIC_ASSIGN_OR_RETURN(WorkspaceSnapshot snap,
                           SnapshotWorkspace(*session, std::move(cards.cards)));
  const fs::path path = LabCatalogPath(session->workspace());
  ALAMBIC_ASSIGN_OR_RETURN(auto lab, LabCatalog::Open(path));
  ALAMBIC_RETURN_IF_ERROR(lab->Sync(snap, NowIso()));
  if (summary) {
    *summary =
        fmt::format("registered workspace {} in {}: {} use case{}, {} flow{}, {} dataset{}",
                    snap.name, path.string(), snap.cards.size(), snap.cards.size() == 1 ? "" : "s",
                    snap.flows.size(), snap.flows.size() == 1 ? "" : "s", snap.datasets.size(),
                    snap.datasets.size() == 1 ? "" : "s");
    for (const auto& f : snap.flows) {
      if (f.usecase.empty())
        *summary += fmt::format("\nnote: flow {} names no use case", f.name);
      else if (auto known = lab->FindUseCase(f.usecase);
               !ids.count(f.usecase) && (!known.ok() || !*known))
        *summary += fmt::format("\nnote: flow {} names use case '{}', which has no card", f.name,
                                f.usecase);
    }
  }
  return lab;
}

int CmdCatalogSync(const Globals& g) {
  std::string summary;
  auto lab = SyncLab(g, &summary);
  if (!lab.ok()) return Fail(lab.status());
  std::printf("%s\n", Printable(summary).c_str());
  return kExitOk;
}

int CmdCatalogSearch(const Globals& g, const std::string& text, const std::string& format) {
  auto lab = SyncLab(g, nullptr);
  if (!lab.ok()) return Fail(lab.status());
  auto hits = (*lab)->Search(text, 50);
  if (!hits.ok()) return Fail(hits.status());
  if (format == "json") {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& h : *hits)
      j.push_back({{"kind", h.kind},
                   {"ref", h.ref},
                   {"workspace", h.workspace},
                   {"title", h.title},
                   {"snippet", h.snippet}});
    std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return kExitOk;
  }
  TextTable table({"kind", "name", "workspace", "match"}, 100);
  for (const auto& h : *hits) {
    std::string snippet = h.snippet;
    for (char& c : snippet)
      if (c == '\n') c = ' ';
    table.AddRow({h.kind, h.ref, h.workspace, snippet});
  }
  std::fputs(table.Render().c_str(), stdout);
  std::printf("%zu match%s\n", hits->size(), hits->size() == 1 ? "" : "es");
  return kExitOk;
}

std::string LastRunOf(const LabFlow& f) {
  if (f.last_runs.empty()) return "never run";
  const LabRun& r = f.last_runs.front();
  return fmt::format("{} {} ({})", r.id.substr(0, kShortIdLength), r.status, r.started_at);
}

int CmdUsecaseList(const Globals& g, const UseCaseFilter& filter, const std::string& format) {
  auto lab = SyncLab(g, nullptr);
  if (!lab.ok()) return Fail(lab.status());
  auto list = (*lab)->ListUseCases(filter);
  if (!list.ok()) return Fail(list.status());
  if (format == "json") {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& e : *list) {
      nlohmann::json card = UseCaseJson(e.card);
      card["workspace"] = e.workspace;
      card["health"] = e.health;
      j.push_back(std::move(card));
    }
    std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return kExitOk;
  }
  TextTable table({"id", "title", "status", "priority", "owner", "flows", "health"}, 100);
  for (const auto& e : *list)
    table.AddRow({e.card.id, e.card.title, e.card.status, e.card.priority, e.card.owner,
                  std::to_string(e.flows.size()), e.health});
  std::fputs(table.Render().c_str(), stdout);
  std::printf("%zu use case%s\n", list->size(), list->size() == 1 ? "" : "s");
  return kExitOk;
}

int CmdUsecaseShow(const Globals& g, const std::string& id, const std::string& format) {
  auto lab = SyncLab(g, nullptr);
  if (!lab.ok()) return Fail(lab.status());
  auto found = (*lab)->FindUseCase(id);
  if (!found.ok()) return Fail(found.status());
  if (!*found) {
    std::string known;
    if (auto all = (*lab)->ListUseCases({}); all.ok())
      for (const auto& e : *all) known += (known.empty() ? "" : ", ") + e.card.id;
    return Fail(Status::NotFound(fmt::format("no use case '{}' in the catalog (known: {})", id,
                                             known.empty() ? "none" : known)));
  }
  const UseCaseEntry& e = **found;
  const UseCaseCard& c = e.card;
  if (format == "json") {
    nlohmann::json j = UseCaseJson(c);
    j["workspace"] = e.workspace;
    j["health"] = e.health;
    j["history"] = nlohmann::json::array();
    for (const auto& h : e.history)
      j["history"].push_back({{"status", h.status},
                              {"reason", h.reason},
                              {"changed_at", h.changed_at},
                              {"git_commit", h.git_commit},
                              {"workspace", h.workspace}});
    j["flows"] = nlohmann::json::array();
    for (const auto& [w, f] : e.flows) {
      nlohmann::json runs = nlohmann::json::array();
      for (const auto& r : f.last_runs)
        runs.push_back({{"id", r.id},
                        {"status", r.status},
                        {"started_at", r.started_at},
                        {"finished_at", r.finished_at}});
      j["flows"].push_back({{"workspace", w}, {"flow", f.name}, {"last_runs", runs}});
    }
    j["datasets"] = nlohmann::json::array();
    for (const auto& [w, d] : e.datasets)
      j["datasets"].push_back({{"workspace", w},
                               {"dataset", d.name},
                               {"flow", d.flow},
                               {"version", d.version_id},
                               {"rows", d.rows},
                               {"updated_at", d.updated_at},
                               {"state", d.state}});
    std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return kExitOk;
  }
  std::string out = fmt::format("{}  {}\n", c.id, c.title);
  auto line = [&](const char* label, const std::string& v) {
    if (!v.empty()) out += fmt::format("{:<12} {}\n", label, v);
  };
  line("status:", c.status + (c.reason.empty() ? "" : " — " + c.reason));
  line("priority:", c.priority);
  line("owner:", c.owner + (c.team.empty() ? "" : " (" + c.team + ")"));
  line("direction:", c.direction);
  line("ministry:", c.ministry);
  std::string tags;
  for (const auto& t : c.tags) tags += (tags.empty() ? "" : ", ") + t;
  line("tags:", tags);
  line("workspace:", e.workspace + " (" + c.file + ")");
  line("health:", e.health);
  if (!c.description.empty())
    out += "\n" + c.description + (c.description.back() == '\n' ? "" : "\n");
  if (!c.expected_benefits.empty() || !c.measured_benefits.empty() || !c.kpis.empty()) {
    out += "\nbenefits\n";
    line("  expected:", c.expected_benefits);
    line("  measured:", c.measured_benefits);
    if (!c.kpis.empty()) {
      TextTable kpis({"kpi", "unit", "expected", "measured", "date"});
      auto num = [](const std::optional<double>& v) {
        return v ? fmt::format("{:g}", *v) : std::string("-");
      };
      for (const auto& k : c.kpis)
        kpis.AddRow({k.name, k.unit, num(k.expected), num(k.measured), k.date});
      out += kpis.Render();
    }
  }
  if (!c.links.empty()) {
    out += "\nlinks\n";
    for (const auto& l : c.links) out += fmt::format("  [{}] {} {}\n", l.type, l.title, l.url);
  }
  if (!c.sources.empty()) {
    out += "\ndata sources\n";
    for (const auto& s : c.sources)
      out += fmt::format("  {}{}{}\n", s.name, s.dataset.empty() ? "" : " -> " + s.dataset,
                         s.description.empty() ? "" : ": " + s.description);
  }
  out += "\nflows\n";
  if (e.flows.empty()) out += "  (no flow names this use case)\n";
  for (const auto& [w, f] : e.flows)
    out += fmt::format("  {}/{}  last run: {}{}\n", w, f.name, LastRunOf(f),
                       f.schedule.empty() ? "" : "  schedule: " + f.schedule);
  if (!e.datasets.empty()) {
    out += "\ndatasets\n";
    TextTable ds({"dataset", "flow", "version", "rows", "updated", "freshness"}, 100);
    ds.AlignRight(3);
    for (const auto& [w, d] : e.datasets)
      ds.AddRow({d.name, w + "/" + d.flow,
                 d.version_id.empty() ? "-" : d.version_id.substr(0, kVersionDisplayLength),
                 d.version_id.empty() ? "-" : FormatCount(d.rows),
                 d.updated_at.empty() ? "-" : d.updated_at, d.state});
    out += ds.Render();
  }
  out += "\nstatus history\n";
  for (const auto& h : e.history)
    out += fmt::format(
        "  {}  {}{}{}\n", h.changed_at, h.status, h.reason.empty() ? "" : " — " + h.reason,
        h.git_commit.empty() ? "" : "  (commit " + h.git_commit.substr(0, kShortIdLength) + ")");
  // Card text is untrusted: escape control characters, keep the lines.
  for (size_t pos = 0; pos < out.size();) {
    size_t nl = out.find('\n', pos);
    if (nl == std::string::npos) nl = out.size();
    std::printf("%s\n", Printable(std::string_view(out).substr(pos, nl - pos)).c_str());
    pos = nl + 1;
  }
  return kExitOk;
}

// ---- gc -------------------------------------------------------------------------

int CmdGc(const Globals& g, int keep_runs, bool dry_run) {
  auto h = OpenHistory(g);
  if (!h.ok()) return Fail(h.status());
  if (keep_runs < 0) keep_runs = LoadWorkspace(h->root).workspace.config.gc_keep_runs;
  auto lock = WorkspaceLock::Acquire(h->root / ".alambic");
  if (!lock.ok()) return Fail(lock.status());
  auto unused = h->catalog->VersionsNotReferenced(h->env, keep_runs);
  if (!unused.ok()) return Fail(unused.status());
  int64_t bytes = 0;
  for (const auto& v : *unused) {
    bytes += v.bytes;
    std::printf("%s %s %s (%s rows, %s bytes, run %s)\n", dry_run ? "would delete" : "delete",
                v.dataset.c_str(), v.id.substr(0, kVersionDisplayLength).c_str(),
                FormatCount(v.rows).c_str(), FormatCount(v.bytes).c_str(),
                v.run_id.substr(0, kShortIdLength).c_str());
  }
  // Files no catalog records (left by an interrupted gc) and temp files go too;
  // the dry run counts them the same way.
  struct Unrecorded {
    std::string dataset, id;
    int64_t bytes;
  };
  std::vector<Unrecorded> orphan_files;
  std::error_code ec;
  for (fs::directory_iterator d(h->store->root(), ec), end; !ec && d != end; d.increment(ec)) {
    std::error_code ec2;
    const std::string dataset = d->path().filename().string();
    if (dataset.empty() || dataset.front() == '.' || !d->is_directory(ec2)) continue;
    for (fs::directory_iterator f(d->path(), ec2); !ec2 && f != end; f.increment(ec2)) {
      if (f->path().extension() != ".arrow") continue;
      std::string id = f->path().stem().string();
      if (h->catalog->HasVersion(h->env, dataset, id)) continue;
      std::error_code ec3;
      const auto size = f->file_size(ec3);
      orphan_files.push_back({dataset, std::move(id), ec3 ? 0 : static_cast<int64_t>(size)});
    }
  }
  for (const auto& f : orphan_files) {
    std::printf("%s unrecorded file %s/%s.arrow (%s bytes)\n", dry_run ? "would delete" : "delete",
                f.dataset.c_str(), f.id.c_str(), FormatCount(f.bytes).c_str());
    bytes += f.bytes;
  }
  for (fs::directory_iterator t(h->store->root() / ".tmp", ec), end; !ec && t != end;
       t.increment(ec)) {
    std::error_code ec2;
    const auto size = t->file_size(ec2);
    if (!ec2) bytes += static_cast<int64_t>(size);
  }
  int orphans = static_cast<int>(orphan_files.size());
  if (!dry_run) {
    // The catalog forgets first: a crash between the two steps leaves files the
    // orphan sweep removes next time, never a recorded version without its file.
    Status st = h->catalog->DeleteVersions(h->env, *unused);
    if (!st.ok()) return Fail(st);
    for (const auto& v : *unused) (void)h->store->Remove(v.dataset, v.id);
    h->store->CleanTemporaries();
    orphans = 0;
    for (const auto& f : orphan_files)
      if (h->store->Remove(f.dataset, f.id).ok()) ++orphans;
  }
  std::printf("%s %zu version%s%s, %s bytes\n", dry_run ? "would delete" : "deleted",
              unused->size(), unused->size() == 1 ? "" : "s",
              orphans ? fmt::format(" and {} unrecorded file(s)", orphans).c_str() : "",
              FormatCount(bytes).c_str());
  return kExitOk;
}

// ---- model ----------------------------------------------------------------------

int CmdModel(const Globals& g, bool list, const std::string& name, const std::string& version,
             const std::string& format) {
  auto h = OpenHistory(g);
  if (!h.ok()) return Fail(h.status());
  const bool json = format == "json";
  Status st = list ? PrintModelList(*h->catalog, h->env, json)
                   : PrintModelShow(*h->catalog, h->env, name, version, json);
  return st.ok() ? kExitOk : Fail(st);
}

int Main(int argc, char** argv) {
  CLI::App app{"Alambic: data-lab workflow orchestrator", "alambic"};
  app.require_subcommand(1);
  app.fallthrough();
  app.set_version_flag("--version", std::string("alambic ") + ALAMBIC_VERSION);
  Globals g;
  app.add_option("-C", g.dir, "Run as if started in DIR")->type_name("DIR");
  app.add_option("--env", g.env, "Environment (default: the workspace's default_environment)")
      ->type_name("ENV");

  std::string init_dir, init_name;
  auto* init = app.add_subcommand("init", "Create a workspace (a git repository)");
  init->add_option("dir", init_dir, "Directory to create")->required();
  init->add_option("--name", init_name, "Workspace name (default: the directory's name)");

  auto* validate = app.add_subcommand("validate", "Report every problem in the flows");
  std::string validate_format = "text";
  AddFormat(validate, &validate_format);

  Selection plan_sel;
  bool explain = false;
  auto* plan = app.add_subcommand("plan", "What a run would build");
  AddSelection(plan, &plan_sel);
  plan->add_flag("--explain", explain, "Every recipe with its decision and reason");
  PlanOutput plan_out;
  AddFormat(plan, &plan_out.format);
  plan->add_flag("--exit-code", plan_out.exit_code,
                 "Exit 2 when something is to run, 0 when nothing is stale (1: error)");

  Selection run_sel;
  int jobs = 0;
  bool keep_going = false, verbose = false;
  auto* run = app.add_subcommand("run", "Build what is stale");
  AddSelection(run, &run_sel);
  run->add_option("-j,--jobs", jobs, "Recipes at once (default: the number of cores)")
      ->check(CLI::NonNegativeNumber);
  run->add_flag("-k,--keep-going", keep_going, "Go on with recipes not downstream of a failure");
  run->add_flag("-v,--verbose", verbose, "Print recipe log lines");

  int runs_limit = 20;
  auto* runs = app.add_subcommand("runs", "Recent runs, newest first");
  runs->add_option("-n", runs_limit, "How many")->check(CLI::PositiveNumber);
  std::string runs_format = "text";
  AddFormat(runs, &runs_format);

  std::string log_run, log_recipe;
  auto* log = app.add_subcommand("log", "A run and its recipes, or one recipe's log");
  log->add_option("run", log_run, "Run id or unique prefix")->required();
  log->add_option("recipe", log_recipe, "Recipe (or FLOW/RECIPE)");
  std::string log_format = "text";
  AddFormat(log, &log_format);

  auto* status = app.add_subcommand("status", "Every dataset: version, fresh or stale, last run");
  std::string status_format = "text";
  AddFormat(status, &status_format);

  std::string show_ds, show_version, show_format = "table";
  int64_t show_head = 20;
  auto* show = app.add_subcommand("show", "Print a dataset's rows");
  show->add_option("dataset", show_ds)->required();
  show->add_option("--head", show_head, "Rows to print (0: all)")->check(CLI::NonNegativeNumber);
  show->add_option("--version", show_version, "A version id or unique prefix (default: current)");
  show->add_option("--format", show_format)->check(CLI::IsMember({"table", "csv", "json"}));

  std::string export_ds, export_csv, export_version, export_decimal = ".";
  auto* exp = app.add_subcommand("export", "Write a dataset to a CSV file");
  exp->add_option("dataset", export_ds)->required();
  exp->add_option("--csv", export_csv, "Target file (missing folders are created)")
      ->required()
      ->type_name("FILE");
  exp->add_option("--version", export_version, "A version id or unique prefix (default: current)");
  exp->add_option("--decimal", export_decimal,
                  "Decimal separator of floats, . or , (with , cells are separated by ;)")
      ->check(CLI::IsMember({".", ","}));

  int keep_runs = -1;
  bool dry_run = false;
  auto* gc = app.add_subcommand("gc", "Delete dataset versions nothing references");
  gc->add_option("--keep-runs", keep_runs,
                 "Keep what the last N runs made or read (default: gc.keep_runs)")
      ->check(CLI::NonNegativeNumber);
  gc->add_flag("--dry-run", dry_run, "Only list what would be deleted");

  std::string lineage_target, lineage_version, lineage_format = "text";
  bool lineage_up = false, lineage_down = false;
  int lineage_depth = -1;
  auto* lineage = app.add_subcommand("lineage", "Where a dataset (or column) comes from, or goes");
  lineage->add_option("target", lineage_target, "DATASET or DATASET.COLUMN")->required();
  auto* up_flag = lineage->add_flag("--upstream", lineage_up, "What it was built from (default)");
  lineage->add_flag("--downstream", lineage_down, "What was built from it")->excludes(up_flag);
  lineage->add_option("--depth", lineage_depth, "Edges to follow (default: all)")
      ->check(CLI::NonNegativeNumber);
  lineage->add_option("--version", lineage_version,
                      "A version id or unique prefix (default: current)");
  lineage->add_option("--format", lineage_format)->check(CLI::IsMember({"text", "json", "dot"}));

  std::string impact_target, impact_format = "text";
  int impact_depth = -1;
  auto* impact = app.add_subcommand("impact", "What would become stale if a dataset changed");
  impact->add_option("target", impact_target, "DATASET or DATASET.COLUMN")->required();
  impact->add_option("--depth", impact_depth, "Steps to follow (default: all)")
      ->check(CLI::NonNegativeNumber);
  impact->add_option("--format", impact_format)->check(CLI::IsMember({"text", "json"}));

  std::string ol_run;
  bool ol_pretty = false;
  auto* openlineage =
      app.add_subcommand("openlineage", "A run's OpenLineage RunEvents, one JSON per line");
  openlineage->add_option("run", ol_run, "Run id or unique prefix")->required();
  openlineage->add_flag("--pretty", ol_pretty, "Indented JSON");

  std::string usecase_id, usecase_format = "text";
  UseCaseFilter usecase_filter;
  auto* usecase = app.add_subcommand("usecase", "The use-case catalog (usecases/*.yaml)");
  usecase->require_subcommand(1);
  auto* usecase_list = usecase->add_subcommand("list", "Use cases of the lab catalog");
  usecase_list->add_option("--status", usecase_filter.status, "Only this status")
      ->check(CLI::IsMember({"idea", "poc", "preprod", "production", "abandoned"}));
  usecase_list->add_option("--tag", usecase_filter.tag, "Only use cases with this tag");
  usecase_list->add_option("--search", usecase_filter.search,
                           "Full-text search (use cases, their datasets and columns)");
  usecase_list->add_option("--format", usecase_format)->check(CLI::IsMember({"text", "json"}));
  auto* usecase_show = usecase->add_subcommand("show", "A use case: card, flows, datasets, runs");
  usecase_show->add_option("id", usecase_id)->required();
  usecase_show->add_option("--format", usecase_format)->check(CLI::IsMember({"text", "json"}));

  std::string search_text, search_format = "text";
  auto* catalog = app.add_subcommand("catalog", "The lab catalog shared by workspaces");
  catalog->require_subcommand(1);
  auto* catalog_sync =
      catalog->add_subcommand("sync", "Register this workspace's use cases, flows and datasets");
  auto* catalog_search =
      catalog->add_subcommand("search", "Full-text search over use cases, datasets and columns");
  catalog_search->add_option("text", search_text)->required();
  catalog_search->add_option("--format", search_format)->check(CLI::IsMember({"text", "json"}));

  PromoteOptions promote_opts;
  auto* promote =
      app.add_subcommand("promote", "Release a flow to the warehouse if it passes every gate");
  promote->add_option("flow", promote_opts.flow)->required();
  promote->add_option("--to", promote_opts.to, "Target environment (default: warehouse)");
  promote->add_option("--commit", promote_opts.commit, "The commit to release (default: HEAD)")
      ->type_name("REV");
  promote->add_option("--note", promote_opts.note, "Why this release (kept with it)");
  promote->add_flag("--allow-breaking", promote_opts.allow_breaking,
                    "Release even if output columns are removed or retyped");
  std::string promote_format = "text";
  AddFormat(promote, &promote_format);

  auto* plugin = app.add_subcommand("plugin", "C++ plugins");
  plugin->require_subcommand(1);
  auto* plugin_list = plugin->add_subcommand("list", "Plugins found, with their kinds and params");
  std::string plugin_format = "text";
  AddFormat(plugin_list, &plugin_format);
  std::string model_name, model_version;
  auto* model = app.add_subcommand("model", "Trained models and their metrics");
  model->require_subcommand(1);
  auto* model_list = model->add_subcommand("list", "Each model: latest version, main metric");
  auto* model_show = model->add_subcommand("show", "A model version's metrics and evaluations");
  model_show->add_option("name", model_name, "The model (a train recipe's output)")->required();
  model_show->add_option("--version", model_version, "A version id or unique prefix");
  std::string model_format = "text";
  AddFormat(model_list, &model_format);
  AddFormat(model_show, &model_format);
  VcsCommands vcs(app);                   // history, diff
  ReleaseCommands release_commands(app);  // releases, rollback, audit
  ScheduleCommands schedule_commands(app);
  DaemonCommands daemon_commands(app);  // daemon, trigger

  // Hidden (group ""): the build writes the completion script and the man page with them.
  std::string docs_shell, docs_output;
  auto* completion = app.add_subcommand("completion", "Print the shell completion script");
  completion->group("");
  completion->add_option("shell", docs_shell)->required()->check(CLI::IsMember({"bash"}));
  completion->add_option("-o", docs_output, "Write to FILE")->type_name("FILE");
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
  if (*init) return CmdInit(g, init_dir, init_name);
  if (*validate) return CmdValidate(g, validate_format);
  plan_out.explain = explain;
  if (*plan) return CmdPlan(g, plan_sel, plan_out);
  if (*run) return CmdRun(g, run_sel, jobs, keep_going, verbose);
  if (*runs) return CmdRuns(g, runs_limit, runs_format);
  if (*log) return CmdLog(g, log_run, log_recipe, log_format);
  if (*status) return CmdStatus(g, status_format);
  if (*show) return CmdShow(g, show_ds, show_head, show_version, show_format);
  if (*exp) return CmdExport(g, export_ds, export_csv, export_version, export_decimal);
  if (*gc) return CmdGc(g, keep_runs, dry_run);
  if (*plugin_list) return CmdPluginList(g, plugin_format);
  if (*lineage)
    return CmdLineage(g, lineage_target, lineage_down, lineage_depth, lineage_version,
                      lineage_format);
  if (*impact) return CmdImpact(g, impact_target, impact_depth, impact_format);
  if (*openlineage) return CmdOpenLineage(g, ol_run, ol_pretty);
  if (*usecase_list) return CmdUsecaseList(g, usecase_filter, usecase_format);
  if (*usecase_show) return CmdUsecaseShow(g, usecase_id, usecase_format);
  if (*catalog_sync) return CmdCatalogSync(g);
  if (*catalog_search) return CmdCatalogSearch(g, search_text, search_format);
  if (*promote) return CmdPromote(g, promote_opts, promote_format);
  if (*model) return CmdModel(g, model_list->parsed(), model_name, model_version, model_format);
  if (schedule_commands.parsed()) return schedule_commands.Run(g.dir, g.env);
  if (daemon_commands.parsed()) return daemon_commands.Run(g.dir, g.env, Kinds);
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
