#include "ui/cli/daemon_commands.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "catalog/catalog.h"
#include "core/base/actor.h"
#include "core/base/clock.h"
#include "core/base/crash_point.h"
#include "core/base/secrets.h"
#include "core/flow/loader.h"
#include "core/vcs/git_paths.h"
#include "services/catalog_path.h"
#include "services/scheduler/engine_launcher.h"
#include "services/scheduler/scheduled_flows.h"
#include "services/scheduler/scheduler.h"
#include "services/scheduler/triggers.h"
#include "services/workspace.h"
#include "ui/common/text_table.h"

#ifdef ALAMBIC_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

namespace alambic {

namespace {

namespace fs = std::filesystem;

constexpr const char* kDaemonDefaultEnv = "warehouse";
// The longest the loop sleeps: how soon a signal or a watchdog ping is seen.
constexpr std::chrono::milliseconds kMaxSleep{250};

std::atomic<bool> g_daemon_stop{false};

void DaemonOnSignal(int) { g_daemon_stop.store(true); }

// One "alambic: " line per line of the message (a workspace's diagnostics).
int DaemonFail(const Status& st) {
  const std::string& m = st.message();
  for (size_t start = 0; start <= m.size();) {
    size_t eol = m.find('\n', start);
    std::string line = m.substr(start, eol == std::string::npos ? eol : eol - start);
    std::fprintf(stderr, "alambic: %s\n", Printable(line).c_str());
    if (eol == std::string::npos) break;
    start = eol + 1;
  }
  return 1;
}

// sd_notify: through libsystemd when built with it, else the same datagram
// to $NOTIFY_SOCKET (the protocol of sd_notify(3)); nothing outside systemd.
void Notify(const char* state) {
#ifdef ALAMBIC_HAVE_SYSTEMD
  sd_notify(0, state);
#else
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (!path || (path[0] != '/' && path[0] != '@')) return;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const size_t len = std::strlen(path);
  if (len >= sizeof(addr.sun_path)) return;
  std::memcpy(addr.sun_path, path, len);
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';  // abstract namespace
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  (void)::sendto(fd, state, std::strlen(state), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr),
                 static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len));
  ::close(fd);
#endif
}

bool WatchdogEnabled() { return std::getenv("WATCHDOG_USEC") != nullptr; }

// TESTS ONLY (--clock-file): "now" is the ISO 8601 UTC time written in the
// file, re-read at each call, so that a test moves the daemon's time without
// waiting. A file that cannot be read or parsed (a test rewriting it in place
// may leave it empty for a moment) keeps the last time read; the real clock
// is used only until the file has been read once.
class FileClock final : public Clock {
 public:
  explicit FileClock(fs::path path) : path_(std::move(path)) {}
  std::chrono::system_clock::time_point Now() override {
    std::ifstream in(path_);
    std::string text;
    std::lock_guard lock(mu_);
    if (in >> text)
      if (auto t = sched::ParseUtc(text)) last_ = *t;
    return last_ ? *last_ : std::chrono::system_clock::now();
  }

 private:
  fs::path path_;
  std::mutex mu_;
  std::optional<std::chrono::system_clock::time_point> last_;
};

struct DaemonWorkspace {
  fs::path root;
  std::string env, name;
  bool releases_only = false;
  WorkspaceConfig config;
  std::vector<Flow> flows;  // the working tree's
};

Result<DaemonWorkspace> OpenDaemonWorkspace(const std::string& dir, const std::string& env) {
  DaemonWorkspace w;
  std::error_code ec;
  w.root = FindWorkspaceRoot(fs::absolute(dir, ec));
  if (w.root.empty())
    return Status::NotFound(
        fmt::format("not an Alambic workspace: no alambic.yaml in {} or its parents", dir));
  LoadedWorkspace lw = LoadWorkspace(w.root);
  if (!lw.ok()) {
    std::string msg;
    for (const auto& d : lw.diagnostics) msg += (msg.empty() ? "" : "\n") + d.ToString();
    return Status::Invalid(msg);
  }
  w.env = env.empty() ? kDaemonDefaultEnv : env;
  if (!lw.workspace.config.environments.count(w.env))
    return Status::Invalid(fmt::format("unknown environment '{}'", w.env));
  w.releases_only = RunsReleasesOnly(lw.workspace.config, w.env);
  w.name = lw.workspace.config.name.empty() ? w.root.string() : lw.workspace.config.name;
  w.flows = std::move(lw.workspace.flows);
  w.config = std::move(lw.workspace.config);
  return w;
}

std::string Holder() {
  const Actor who = Actor::Current();
  return fmt::format("{}:{}", who.host.empty() ? "localhost" : who.host, ::getpid());
}

// A promotion or a rollback since the last look: the schedules of the active
// releases replace the running ones (the scheduler goes on: runs going and
// slots waiting carry on, a changed schedule fires from now on). A release
// that does not load is logged and the schedules running are kept.
void ReloadOnActivation(const DaemonWorkspace& w, Catalog& catalog, ReleaseWatch& watch,
                        Scheduler& scheduler, const std::function<void(const std::string&)>& log) {
  auto changed = watch.Changed();
  if (!changed.ok()) {
    log("error: " + changed.status().message());
    return;
  }
  if (!*changed) return;
  CrashPoint("release_reload");
  auto scheduled = LoadDaemonSchedules(w.root, catalog, w.env);
  if (!scheduled.ok()) {
    log("active releases changed, but their schedules do not load (the running ones are kept): " +
        scheduled.status().message());
    return;
  }
  log(fmt::format("active releases changed in {}: {} schedule(s) now", w.env,
                  scheduled->flows.size()));
  for (const auto& note : scheduled->notes) log(note);
  if (Status st = scheduler.SetFlows(std::move(scheduled->flows)); !st.ok())
    log("error: " + st.message());
}

// Where the daemon sends alerts (its --alert-* options).
struct AlertFlags {
  std::string webhook, smtp, mail_from;
  std::vector<std::string> mail_to;
  bool starttls = false;
  std::string ca_file, user, password_ref;
};

// The SMTP options of `a` for the workspace `w`: the password is read from
// the secret named (never given on the command line).
Result<SmtpOptions> SmtpOf(const DaemonWorkspace& w, const AlertFlags& a) {
  SmtpOptions so;
  const size_t colon = a.smtp.rfind(':');
  so.host = a.smtp.substr(0, colon);
  if (colon != std::string::npos) {
    try {
      so.port = std::stoi(a.smtp.substr(colon + 1));
    } catch (const std::exception&) {
      so.port = 0;
    }
  }
  if (so.host.empty() || so.port <= 0 || so.port > 65535)
    return Status::Invalid(fmt::format("--alert-smtp '{}': expected HOST[:PORT]", a.smtp));
  if (a.mail_from.empty() || a.mail_to.empty())
    return Status::Invalid("--alert-smtp needs --alert-mail-from and --alert-mail-to");
  so.from = a.mail_from;
  so.to = a.mail_to;
  so.starttls = a.starttls;
  so.ca_file = a.ca_file;
  if (!a.ca_file.empty() && !a.starttls)
    return Status::Invalid("--alert-smtp-ca-file needs --alert-smtp-starttls");
  if (!a.user.empty() || !a.password_ref.empty()) {
    if (a.user.empty() || a.password_ref.empty())
      return Status::Invalid(
          "--alert-smtp-user and --alert-smtp-password go together (AUTH needs both)");
    if (!a.starttls)
      return Status::Invalid(
          "--alert-smtp-user needs --alert-smtp-starttls (the password would cross the network "
          "in clear)");
    if (!IsSecretRef(a.password_ref))
      return Status::Invalid(
          "--alert-smtp-password must name a secret of alambic.yaml, secret:NAME (a password is "
          "never given on the command line)");
    auto pw = ResolveSecret(w.config.secrets, a.password_ref, w.env, w.root, GitTracksPath);
    if (!pw.ok()) return pw.status().WithContext("--alert-smtp-password");
    so.username = a.user;
    so.password = std::move(*pw);
  }
  return so;
}

// The scheduler loop until `stop` (SIGTERM/SIGINT set it when own_signals).
int RunDaemon(const DaemonWorkspace& w, double grace, double lease_ttl, int max_runs,
              const std::string& clock_file, const AlertFlags& alert_flags,
              const std::atomic<bool>& stop, bool own_signals) {
  if (lease_ttl < 3) return DaemonFail(Status::Invalid("--lease-ttl must be at least 3 seconds"));
  if (grace < 0) return DaemonFail(Status::Invalid("--grace must not be negative"));
  if (max_runs < 1) return DaemonFail(Status::Invalid("--max-runs must be at least 1"));
  auto catalog = Catalog::Open(RunCatalogPath(w.root));
  if (!catalog.ok()) return DaemonFail(catalog.status());
  // In the warehouse, the schedules of the active releases (never the working
  // tree's), read again whenever a release is promoted or rolled back.
  ReleaseWatch watch(RunCatalogPath(w.root), w.env);
  if (auto seen = watch.Changed(); !seen.ok()) return DaemonFail(seen.status());
  auto scheduled = LoadDaemonSchedules(w.root, **catalog, w.env);
  if (!scheduled.ok()) return DaemonFail(scheduled.status());
  std::vector<FlowSchedule> flows = std::move(scheduled->flows);
  SystemClock system_clock;
  std::unique_ptr<FileClock> file_clock;
  if (!clock_file.empty()) file_clock = std::make_unique<FileClock>(clock_file);
  Clock& clock = file_clock ? static_cast<Clock&>(*file_clock) : system_clock;
  SchedulerOptions o;
  o.workspace = w.name;
  o.environment = w.env;
  o.holder = Holder();
  o.lease_ttl = std::chrono::seconds(static_cast<int64_t>(lease_ttl));
  o.max_active_runs = max_runs;
  AlertSinks alerts;
  if (!alert_flags.webhook.empty()) {
    WebhookOptions wo;
    wo.url = alert_flags.webhook;
    alerts.Add(std::make_unique<WebhookAlertSink>(wo));
  }
  if (!alert_flags.smtp.empty()) {
    auto so = SmtpOf(w, alert_flags);
    if (!so.ok()) return DaemonFail(so.status());
    alerts.Add(std::make_unique<SmtpAlertSink>(std::move(*so)));
  }
  if (!alerts.empty()) o.alerts = &alerts;
  // Data triggers read the live sources: the workspace, its data roots, its
  // connections in this environment, the catalog's current versions.
  TriggerSources sources;
  sources.root = w.root;
  sources.data_roots = w.config.data_roots;
  if (auto e = w.config.environments.find(w.env); e != w.config.environments.end())
    sources.data_roots.insert(sources.data_roots.end(), e->second.data_roots.begin(),
                              e->second.data_roots.end());
  sources.connections = &w.config.connections;
  sources.environment = w.env;
  sources.catalog = catalog->get();
  o.poll = [&sources](const ChangeTrigger& t) { return PollTrigger(t, sources); };
  o.log = [&clock](const std::string& line) {
    const auto now = std::chrono::floor<std::chrono::seconds>(clock.Now());
    std::printf("%s %s\n", sched::FormatUtc(now).c_str(), Printable(line).c_str());
    std::fflush(stdout);
  };
  if (own_signals) {
    struct sigaction sa {};
    sa.sa_handler = DaemonOnSignal;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGTERM, &sa, nullptr);
    ::sigaction(SIGINT, &sa, nullptr);
  }
  o.log(fmt::format("alambic daemon: {} schedule(s) in {} of {}{}, holder {}", flows.size(), w.env,
                    w.name, w.releases_only ? " (active releases)" : "", o.holder));
  for (const auto& note : scheduled->notes) o.log(note);
  EngineLauncher launcher(w.root, o.log);
  Scheduler scheduler(**catalog, clock, launcher, std::move(flows), o);
  bool ready = false;
  const bool watchdog = WatchdogEnabled();
  while (!stop.load()) {
    if (w.releases_only) ReloadOnActivation(w, **catalog, watch, scheduler, o.log);
    if (Status st = scheduler.Tick(); !st.ok()) o.log("error: " + st.message());
    if (!ready) {
      Notify("READY=1");
      ready = true;
      if (!scheduler.has_lease()) o.log("standby: another scheduler holds the lease");
    }
    if (watchdog) Notify("WATCHDOG=1");
    auto sleep = kMaxSleep;
    if (auto wake = scheduler.NextWake()) {
      const auto until = std::chrono::duration_cast<std::chrono::milliseconds>(*wake - clock.Now());
      sleep = std::clamp(until, std::chrono::milliseconds(0), kMaxSleep);
    }
    scheduler.WaitForEvent(std::chrono::steady_clock::now() + sleep);
  }
  Notify("STOPPING=1");
  scheduler.StopLaunching();
  o.log(fmt::format("stopping: {} run(s) going, grace {}s", scheduler.active_runs(), grace));
  const auto grace_end = std::chrono::steady_clock::now() +
                         std::chrono::milliseconds(static_cast<int64_t>(grace * 1000));
  while (scheduler.active_runs() > 0 && std::chrono::steady_clock::now() < grace_end) {
    scheduler.WaitForEvent(std::min(grace_end, std::chrono::steady_clock::now() + kMaxSleep));
    if (Status st = scheduler.Tick(); !st.ok()) o.log("error: " + st.message());
    if (watchdog) Notify("WATCHDOG=1");
  }
  if (scheduler.active_runs() > 0) {
    o.log(fmt::format("grace over: cancelling {} run(s)", scheduler.active_runs()));
    scheduler.CancelRunning();
  }
  Status st = scheduler.WaitRuns();
  if (!st.ok()) o.log("error: " + st.message());
  if (Status rel = scheduler.ReleaseLease(); !rel.ok()) o.log("error: " + rel.message());
  o.log("stopped");
  return 0;
}

}  // namespace

int RunSchedulerUntil(const std::string& dir, const std::string& env,
                      const std::atomic<bool>& stop) {
  auto w = OpenDaemonWorkspace(dir, env);
  if (!w.ok()) return DaemonFail(w.status());
  return RunDaemon(*w, /*grace=*/30, /*lease_ttl=*/30, /*max_runs=*/4, "", AlertFlags{}, stop,
                   /*own_signals=*/false);
}

namespace {

int RunTrigger(const DaemonWorkspace& w, const std::string& flow, const std::string& reason) {
  bool known = false;
  for (const auto& f : w.flows) known = known || f.name == flow;
  if (!known) return DaemonFail(Status::NotFound(fmt::format("no flow named '{}'", flow)));
  auto catalog = Catalog::Open(RunCatalogPath(w.root));
  if (!catalog.ok()) return DaemonFail(catalog.status());
  EngineLauncher launcher(w.root, [](const std::string& m) {
    std::fprintf(stderr, "alambic: %s\n", Printable(m).c_str());
  });
  CancelToken cancel;
  struct sigaction sa {};
  sa.sa_handler = DaemonOnSignal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  std::atomic<bool> done{false};
  std::thread watch([&] {
    while (!done.load()) {
      if (g_daemon_stop.load()) cancel.Cancel();
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  const Actor who = Actor::Current();
  auto r = TriggerRun(**catalog, launcher, flow, w.env, reason, who, cancel);
  done.store(true);
  watch.join();
  if (!r.ok()) return DaemonFail(r.status());
  std::printf("%s: run %s %s in %s (triggered by %s)%s\n", Printable(flow).c_str(),
              r->run_id.c_str(), r->status.c_str(), w.env.c_str(), Printable(who.user).c_str(),
              r->error.empty() ? "" : (": " + Printable(r->error)).c_str());
  return r->status == "succeeded" ? 0 : r->status == "cancelled" ? 130 : 1;
}

}  // namespace

DaemonCommands::DaemonCommands(CLI::App& app) {
  daemon_ = app.add_subcommand(
      "daemon", "Run the schedules of an environment in the foreground (SIGTERM stops it)");
  daemon_->add_option("--grace", grace_,
                      "Seconds given to running runs after SIGTERM before they are cancelled "
                      "(default 30)");
  daemon_->add_option("--lease-ttl", lease_ttl_,
                      "Seconds a scheduler's lease lasts without a heartbeat (default 30)");
  daemon_->add_option("--max-runs", max_runs_, "Runs at once across flows (default 4)");
  daemon_->add_option(
      "--alert-webhook", webhook_,
      "POST failure, recovery, check-warning and lateness alerts as JSON to this URL");
  daemon_->add_option("--alert-smtp", smtp_,
                      "Also e-mail alerts through this SMTP relay, HOST[:PORT]");
  daemon_->add_option("--alert-mail-from", mail_from_, "The alerts' sender address");
  daemon_->add_option("--alert-mail-to", mail_to_, "An alert recipient (repeatable)");
  daemon_->add_flag("--alert-smtp-starttls", smtp_starttls_,
                    "Encrypt with STARTTLS, verifying the server's certificate");
  daemon_->add_option("--alert-smtp-ca-file", smtp_ca_file_,
                      "The CA certificate(s) (PEM) the SMTP server's certificate must chain to "
                      "(default: the system's)");
  daemon_->add_option("--alert-smtp-user", smtp_user_, "Log in to the SMTP server (AUTH) as USER");
  daemon_->add_option("--alert-smtp-password", smtp_password_,
                      "The SMTP password, as a secret of alambic.yaml: secret:NAME");
  daemon_->add_option("--clock-file", clock_file_,
                      "TESTS ONLY: read the current time (ISO 8601 UTC) from this file");
  trigger_ = app.add_subcommand("trigger", "Run a flow now in production, audited with who asked");
  trigger_->add_option("flow", flow_, "The flow")->required();
  trigger_->add_option("--reason", reason_, "Why (recorded in the audit log)");
}

bool DaemonCommands::parsed() const { return daemon_->parsed() || trigger_->parsed(); }

int DaemonCommands::Run(const std::string& dir, const std::string& env) const {
  auto w = OpenDaemonWorkspace(dir, env);
  if (!w.ok()) return DaemonFail(w.status());
  if (daemon_->parsed()) {
    AlertFlags a{webhook_,       smtp_,         mail_from_, mail_to_,
                 smtp_starttls_, smtp_ca_file_, smtp_user_, smtp_password_};
    return RunDaemon(*w, grace_, lease_ttl_, max_runs_, clock_file_, a, g_daemon_stop,
                     /*own_signals=*/true);
  }
  return RunTrigger(*w, flow_, reason_);
}

}  // namespace alambic
