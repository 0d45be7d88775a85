// The JSON API's route table and what its handlers share (server.cc applies
// authentication, roles, CSRF and token scopes from the table; api.cc holds
// the table and the handlers). Internal to ui/web.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/base/status.h"
#include "services/catalog_views.h"
#include "services/users.h"
#include "ui/web/server.h"

namespace httplib {
struct Request;
}

namespace alambic {

// Who makes a request.
struct Principal {
  std::string user;
  Role role = Role::kViewer;
  std::string auth;  // session | token | sso
  std::string session_id, csrf, token_id;
  std::vector<std::string> usecases;  // a token's scope; empty: all
};

struct ApiRequest {
  const httplib::Request& http;
  std::vector<std::string> params;  // the {x} of the pattern, decoded, in order
  std::optional<Principal> who;
  nlohmann::json body;  // a state-changing request's JSON object
};

struct ApiResponse {
  int status = 200;
  nlohmann::json body;  // the answer, or the error message (a string)
  // The answer already serialized (a cached one); when set, `body` is unused.
  std::shared_ptr<const std::string> raw;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string error_code;  // "" : success
  std::string internal;    // what the log says of a 500 (never sent)
};

struct ApiRoute {
  std::string method, pattern;
  std::vector<std::string> segments;  // of the pattern, after the leading '/'
  std::optional<Role> min_role;       // nullopt: public
  std::function<ApiResponse(WebServer::Impl&, ApiRequest&)> handler;
  // The use case a request is about, checked against a token's scope; unset
  // when the route is about no single use case.
  std::function<std::string(CatalogViews&, const ApiRequest&)> scope;
  // Whether a token limited to use cases may call the route when it has no scope.
  bool unscoped_ok = false;
  // Whether its answer (the same for everyone allowed to ask) may be kept
  // until the catalog views' Generation() changes, for kAnswerTtl at most.
  bool cacheable = false;
};

// The route table.
std::vector<ApiRoute> BuildRoutes();

// What handlers need of the server (server.cc).
CatalogViews& Views(WebServer::Impl& s);
UserStore& Users(WebServer::Impl& s);
const UiConfig& Ui(WebServer::Impl& s);
const ServerOptions& Options(WebServer::Impl& s);
// Checks the rate limits, the password, and opens a session: its id. On
// "rate limited" (Invalid) `retry_after` is set; NotFound for bad credentials.
Result<std::string> Login(WebServer::Impl& s, const std::string& user, const std::string& password,
                          const std::string& address, WebSession* session, int64_t* retry_after);
// The Set-Cookie value for session `id` (or one that clears it).
std::string SessionCookie(WebServer::Impl& s, const std::string& id, bool clear);
// Starts a run of `flow` in `env` as `user` in the background: the id the
// run will have (GET /api/runs/{id} answers once it is recorded, moments
// later; a run that cannot start is never recorded). Invalid while one
// started here is going.
Result<std::string> StartRun(WebServer::Impl& s, const std::string& flow, const std::string& env,
                             const std::string& user);

}  // namespace alambic
