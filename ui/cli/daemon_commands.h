// `alambic daemon`: the scheduler of one environment in the foreground (logs
// on stdout; SIGTERM or SIGINT: stop launching, wait --grace for the runs,
// then cancel them, recorded as cancelled; exit 0), with sd_notify READY,
// WATCHDOG and STOPPING for a systemd unit of Type=notify.
// `alambic trigger FLOW`: a manual production run, audited with who asked.
// See docs/operations.md.
#pragma once

#include <atomic>
#include <string>
#include <vector>

namespace CLI {
class App;
}  // namespace CLI

namespace alambic {

class DaemonCommands {
 public:
  explicit DaemonCommands(CLI::App& app);
  bool parsed() const;
  // Runs the parsed command in the workspace found from `dir`; `env` is the
  // --env option ("" : warehouse). Returns the exit status.
  int Run(const std::string& dir, const std::string& env) const;

 private:
  CLI::App* daemon_ = nullptr;
  CLI::App* trigger_ = nullptr;
  std::string flow_, reason_, clock_file_, webhook_, smtp_, mail_from_;
  std::vector<std::string> mail_to_;
  bool smtp_starttls_ = false;
  std::string smtp_ca_file_, smtp_user_, smtp_password_;
  double grace_ = 30, lease_ttl_ = 30;
  int max_runs_ = 4;
};

// The scheduler of `env` ("" : warehouse) for the workspace found from `dir`,
// as `alambic daemon` runs it with its defaults (active releases only in the
// warehouse), until `stop` is set; then the same grace and cancellation.
// Logs on stdout. For `alambic serve --scheduler`. Returns the exit status.
int RunSchedulerUntil(const std::string& dir, const std::string& env,
                      const std::atomic<bool>& stop);

}  // namespace alambic
