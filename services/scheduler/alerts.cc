#include "services/scheduler/alerts.h"

#include <chrono>
#include <thread>

#include <fmt/format.h>
#include <httplib.h>

namespace alambic {

nlohmann::json Alert::ToJson() const {
  return {{"kind", kind},       {"flow", flow},         {"environment", environment},
          {"nominal", nominal}, {"timezone", timezone}, {"run_id", run_id},
          {"message", message}};
}

Status WebhookAlertSink::Send(const Alert& alert) {
  const std::string& url = options_.url;
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos ||
      (url.compare(0, scheme_end, "http") != 0 && url.compare(0, scheme_end, "https") != 0))
    return Status::Invalid(
        fmt::format("alert webhook '{}': expected http[s]://host[:port][/path]", url));
  const size_t path_start = url.find('/', scheme_end + 3);
  const std::string origin = url.substr(0, path_start);
  const std::string path = path_start == std::string::npos ? "/" : url.substr(path_start);
  httplib::Client client(origin);
  if (!client.is_valid()) return Status::Invalid(fmt::format("alert webhook '{}': unusable", url));
  const auto timeout =
      std::chrono::milliseconds(static_cast<int64_t>(options_.timeout_seconds * 1000));
  client.set_connection_timeout(timeout);
  client.set_read_timeout(timeout);
  client.set_write_timeout(timeout);
  const std::string body = alert.ToJson().dump();
  double delay = options_.retry_backoff_seconds;
  std::string why;
  for (int attempt = 1; attempt <= options_.retries + 1; ++attempt) {
    auto res = client.Post(path, body, "application/json");
    if (res && res->status >= 200 && res->status < 300) return Status::Ok();
    why = res ? fmt::format("HTTP {}", res->status) : httplib::to_string(res.error());
    if (attempt == options_.retries + 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int64_t>(delay * 1000)));
    delay *= 2;
  }
  return Status::Failed(fmt::format("alert webhook {}{}: {} after {} attempt(s)", origin, path, why,
                                    options_.retries + 1));
}

}  // namespace alambic
