#include "core/net/http_client.h"

#include <cmath>

#include <fmt/format.h>
#include <httplib.h>

namespace alambic {
namespace {

struct UrlParts {
  std::string scheme_host_port;  // "https://host:port", without user info
  std::string target;            // "/path?query", "/" at least
};

Result<UrlParts> Split(const std::string& url) {
  const size_t sep = url.find("://");
  if (sep == std::string::npos) return Status::Invalid("expected an http:// or https:// URL");
  const std::string scheme = url.substr(0, sep);
  if (scheme != "http" && scheme != "https")
    return Status::Invalid(fmt::format("unsupported scheme '{}' (expected http or https)", scheme));
  size_t host_begin = sep + 3;
  const size_t path_begin = url.find_first_of("/?#", host_begin);
  std::string authority = url.substr(
      host_begin, path_begin == std::string::npos ? std::string::npos : path_begin - host_begin);
  if (auto at = authority.rfind('@'); at != std::string::npos) authority = authority.substr(at + 1);
  if (authority.empty()) return Status::Invalid("the URL has no host");
  UrlParts p;
  p.scheme_host_port = scheme + "://" + authority;
  p.target = path_begin == std::string::npos ? "/" : url.substr(path_begin);
  if (auto hash = p.target.find('#'); hash != std::string::npos) p.target.resize(hash);
  if (p.target.empty() || p.target[0] == '?') p.target.insert(0, "/");
  return p;
}

// What went wrong, for people: httplib's names are terse ("Read").
std::string Describe(httplib::Error e, double timeout) {
  switch (e) {
    case httplib::Error::Connection:
      return "cannot connect";
    case httplib::Error::ConnectionTimeout:
      return fmt::format("no connection within {}s", timeout);
    case httplib::Error::Read:
      return fmt::format("no complete answer within {}s (read failed)", timeout);
    case httplib::Error::Write:
      return "could not send the request";
    case httplib::Error::ExceedRedirectCount:
      return "too many redirects";
    case httplib::Error::SSLConnection:
      return "TLS error: the handshake failed";
    case httplib::Error::SSLLoadingCerts:
      return "TLS error: cannot load the trusted certificates";
    case httplib::Error::SSLServerVerification:
      return "TLS error: the server's certificate is not trusted or not for this host";
    default:
      return "request failed (" + httplib::to_string(e) + ")";
  }
}

// " Not Found" for 404, ... ("" for codes without a common phrase).
const char* ReasonPhrase(int status) {
  switch (status) {
    case 400:
      return " Bad Request";
    case 401:
      return " Unauthorized";
    case 403:
      return " Forbidden";
    case 404:
      return " Not Found";
    case 410:
      return " Gone";
    case 429:
      return " Too Many Requests";
    case 500:
      return " Internal Server Error";
    case 502:
      return " Bad Gateway";
    case 503:
      return " Service Unavailable";
    case 504:
      return " Gateway Timeout";
    default:
      return "";
  }
}

std::unique_ptr<httplib::Client> MakeClient(const UrlParts& parts, const HttpOptions& opts) {
  auto cli = std::make_unique<httplib::Client>(parts.scheme_host_port);
  const double t = opts.timeout_seconds > 0 ? opts.timeout_seconds : 30;
  const auto sec = static_cast<time_t>(std::floor(t));
  const auto usec = static_cast<time_t>((t - std::floor(t)) * 1e6);
  cli->set_connection_timeout(sec, usec);
  cli->set_read_timeout(sec, usec);
  cli->set_write_timeout(sec, usec);
  cli->set_follow_location(true);
  return cli;
}

Result<HttpResponse> Do(const std::string& url, const HttpOptions& opts, bool head) {
  const std::string shown = RedactedUrl(url);
  auto parts = Split(url);
  if (!parts.ok()) return Status::Invalid(fmt::format("{}: {}", shown, parts.status().message()));
  auto cli = MakeClient(*parts, opts);
  if (!cli->is_valid()) return Status::Invalid(fmt::format("{}: not a valid URL", shown));
  auto res = head ? cli->Head(parts->target) : cli->Get(parts->target);
  const char* verb = head ? "HEAD" : "GET";
  if (!res) {
    return Status::IoError(
        fmt::format("{} {}: {}", verb, shown, Describe(res.error(), opts.timeout_seconds)));
  }
  HttpResponse out;
  out.status = res->status;
  out.etag = res->get_header_value("ETag");
  out.last_modified = res->get_header_value("Last-Modified");
  if (!head) {
    if (res->status < 200 || res->status > 299)
      return Status::IoError(
          fmt::format("GET {}: HTTP {}{}", shown, res->status, ReasonPhrase(res->status)));
    out.body = std::move(res->body);
  }
  return out;
}

}  // namespace

Status CheckHttpUrl(const std::string& url) { return Split(url).status(); }

std::string RedactedUrl(const std::string& url) {
  std::string out = url;
  const size_t sep = out.find("://");
  const size_t host_begin = sep == std::string::npos ? 0 : sep + 3;
  const size_t path_begin = out.find_first_of("/?#", host_begin);
  const size_t at = out.rfind('@', path_begin == std::string::npos ? out.size() : path_begin);
  if (at != std::string::npos && at >= host_begin) out.erase(host_begin, at + 1 - host_begin);
  const size_t q = out.find_first_of("?#", host_begin);
  if (q != std::string::npos) out = out.substr(0, q) + "?…";
  return out;
}

Result<HttpResponse> HttpGet(const std::string& url, const HttpOptions& opts) {
  return Do(url, opts, false);
}

Result<HttpResponse> HttpHead(const std::string& url, const HttpOptions& opts) {
  return Do(url, opts, true);
}

}  // namespace alambic
