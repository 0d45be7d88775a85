// HTTP(S) GET for source recipes, through cpp-httplib's client.
//
// Contract: a transport failure (connection refused, timeout, TLS) or a
// status outside 2xx is an error whose message names the URL as Redacted()
// gives it — never its user, password or query string, which may hold
// credentials. Redirects are followed. Reentrant: each call has its own
// connection.
#pragma once

#include <string>

#include "core/base/status.h"

namespace alambic {

struct HttpResponse {
  int status = 0;
  std::string body;                 // empty for HEAD
  std::string etag, last_modified;  // "" when the server sent none
};

struct HttpOptions {
  double timeout_seconds = 30;  // connection and each read
};

// Whether `url` is an absolute http:// or https:// URL with a host.
Status CheckHttpUrl(const std::string& url);

// `url` with any user:password@ removed and the query (and fragment) replaced by "?…", for
// messages: "https://api.example.org/exams?…".
std::string RedactedUrl(const std::string& url);

Result<HttpResponse> HttpGet(const std::string& url, const HttpOptions& opts);
// As HttpGet without the body; a status outside 2xx is returned, not an error (servers
// that do not support HEAD answer 405 and the caller falls back to GET).
Result<HttpResponse> HttpHead(const std::string& url, const HttpOptions& opts);

}  // namespace alambic
