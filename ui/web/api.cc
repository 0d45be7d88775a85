#include "ui/web/api.h"

#include <algorithm>
#include <charconv>
#include <set>

#include <fmt/format.h>
#include <httplib.h>

#include "catalog/usecase.h"

namespace alambic {

using json = nlohmann::json;

namespace {

ApiResponse Ok(json body, int status = 200) {
  ApiResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

ApiResponse Error(int status, std::string code, std::string message) {
  ApiResponse r;
  r.status = status;
  r.error_code = std::move(code);
  r.body = std::move(message);
  return r;
}

// A service's failure as an answer: not found, bad input, or an internal
// error whose message (which may name files or SQL) only goes to the log.
ApiResponse FromStatus(const Status& st) {
  switch (st.code()) {
    case StatusCode::kNotFound:
      return Error(404, "not_found", st.message());
    case StatusCode::kInvalid:
      if (st.message().rfind("bad cursor", 0) == 0)
        return Error(400, "bad_cursor", "the cursor is not one of this list");
      return Error(400, "bad_param", st.message());
    default: {
      ApiResponse r = Error(500, "internal", "internal error");
      r.internal = st.message();
      return r;
    }
  }
}

ApiResponse FromResult(const Result<json>& r) { return r.ok() ? Ok(*r) : FromStatus(r.status()); }

std::string Param(const ApiRequest& r, const char* name) {
  return r.http.has_param(name) ? r.http.get_param_value(name) : "";
}

std::vector<std::string> Params(const ApiRequest& r, const char* name) {
  std::vector<std::string> out;
  auto range = r.http.params.equal_range(name);
  for (auto it = range.first; it != range.second; ++it)
    if (!it->second.empty()) out.push_back(it->second);
  return out;
}

// An integer query parameter in [lo, hi], `dflt` when absent.
Result<int> IntParam(const ApiRequest& r, const char* name, int dflt, int lo, int hi) {
  const std::string v = Param(r, name);
  if (v.empty()) return dflt;
  int out = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc() || p != v.data() + v.size() || out < lo || out > hi)
    return Status::Invalid(fmt::format("{} must be an integer between {} and {}", name, lo, hi));
  return out;
}

Result<Page> PageParam(const ApiRequest& r) {
  ALAMBIC_ASSIGN_OR_RETURN(int limit, IntParam(r, "limit", kDefaultPageLimit, 1, kMaxPageLimit));
  Page p;
  p.limit = limit;
  p.cursor = Param(r, "cursor");
  return p;
}

std::string BodyString(const ApiRequest& r, const char* key) {
  if (!r.body.is_object() || !r.body.contains(key) || !r.body[key].is_string()) return "";
  return r.body[key].get<std::string>();
}

json TokenJson(const ApiToken& t) {
  return json{{"id", t.id},
              {"name", t.name},
              {"user", t.user},
              {"role", RoleName(t.role)},
              {"usecases", t.usecases.empty() ? json(nullptr) : json(t.usecases)},
              {"created_at", t.created_at},
              {"last_used_at", t.last_used_at},
              {"revoked", !t.revoked_at.empty()}};
}

// ---- handlers ----

ApiResponse GetConfig(WebServer::Impl& s, ApiRequest&) {
  return Ok(json{{"theme", Ui(s).theme},
                 {"languages", {"fr", "en"}},
                 {"default_language", "fr"},
                 {"workspace", Views(s).name()},
                 {"version", ALAMBIC_VERSION},
                 {"sso", Ui(s).trusted_header.has_value()}});
}

ApiResponse PostLogin(WebServer::Impl& s, ApiRequest& r) {
  const std::string user = BodyString(r, "user"), password = BodyString(r, "password");
  if (user.empty() || password.empty())
    return Error(400, "bad_request", "user and password are required");
  WebSession session;
  int64_t retry_after = 0;
  auto id = Login(s, user, password, r.http.remote_addr, &session, &retry_after);
  if (!id.ok()) {
    if (retry_after > 0) {
      ApiResponse e = Error(429, "rate_limited", "too many failed logins; try again later");
      e.headers.emplace_back("Retry-After", std::to_string(retry_after));
      return e;
    }
    if (id.status().code() == StatusCode::kNotFound)
      return Error(401, "bad_credentials", "wrong user or password");
    return FromStatus(id.status());
  }
  ApiResponse ok = Ok(
      json{{"user", session.user}, {"role", RoleName(session.role)}, {"csrf_token", session.csrf}});
  ok.headers.emplace_back("Set-Cookie", SessionCookie(s, *id, false));
  return ok;
}

ApiResponse PostLogout(WebServer::Impl& s, ApiRequest& r) {
  if (r.who->auth == "session")
    if (Status st = Users(s).RevokeSession(r.who->session_id); !st.ok()) return FromStatus(st);
  ApiResponse ok = Ok(json{{"ok", true}});
  ok.headers.emplace_back("Set-Cookie", SessionCookie(s, "", true));
  return ok;
}

ApiResponse GetMe(WebServer::Impl&, ApiRequest& r) {
  const Principal& p = *r.who;
  return Ok(json{{"user", p.user},
                 {"role", RoleName(p.role)},
                 {"csrf_token", p.auth == "token" ? json(nullptr) : json(p.csrf)},
                 {"auth", p.auth},
                 {"usecases", p.usecases.empty() ? json(nullptr) : json(p.usecases)}});
}

ApiResponse GetUseCases(WebServer::Impl& s, ApiRequest& r) {
  UseCaseQuery q;
  q.status = Params(r, "status");
  for (const auto& st : q.status) {
    bool known = false;
    for (const char* k : kUseCaseStatuses) known = known || st == k;
    if (!known) return Error(400, "bad_param", fmt::format("unknown status '{}'", st));
  }
  q.direction = Params(r, "direction");
  q.tag = Params(r, "tag");
  q.owner = Params(r, "owner");
  q.q = Param(r, "q");
  q.sort = Param(r, "sort").empty() ? "title" : Param(r, "sort");
  static const std::set<std::string> kSorts = {"title",     "status",  "owner",
                                               "direction", "updated", "health"};
  if (!kSorts.count(q.sort)) return Error(400, "bad_param", "unknown sort");
  const std::string order = Param(r, "order");
  if (!order.empty() && order != "asc" && order != "desc")
    return Error(400, "bad_param", "order must be asc or desc");
  q.descending = order == "desc";
  if (!r.who || r.who->usecases.empty()) {
    // Everyone who may see every use case gets the same answer: cached.
    auto text = Views(s).UseCasesJson(q);
    if (!text.ok()) return FromStatus(text.status());
    ApiResponse out;
    out.raw = *text;
    return out;
  }
  auto res = Views(s).UseCases(q);
  if (!res.ok()) return FromStatus(res.status());
  json out = *res;
  // A token limited to use cases sees only those.
  if (r.who && !r.who->usecases.empty()) {
    json items = json::array();
    for (const auto& i : out["items"])
      if (std::find(r.who->usecases.begin(), r.who->usecases.end(), i["id"].get<std::string>()) !=
          r.who->usecases.end())
        items.push_back(i);
    out["items"] = items;
    out["total"] = items.size();
  }
  return Ok(out);
}

ApiResponse GetSearch(WebServer::Impl& s, ApiRequest& r) {
  auto limit = IntParam(r, "limit", 20, 1, kMaxPageLimit);
  if (!limit.ok()) return FromStatus(limit.status());
  return FromResult(Views(s).Search(Param(r, "q"), *limit));
}

ApiResponse GetUseCase(WebServer::Impl& s, ApiRequest& r) {
  return FromResult(Views(s).UseCase(r.params[0]));
}

ApiResponse GetUseCaseAudit(WebServer::Impl& s, ApiRequest& r) {
  auto page = PageParam(r);
  if (!page.ok()) return FromStatus(page.status());
  return FromResult(Views(s).UseCaseAudit(r.params[0], *page));
}

ApiResponse GetFlow(WebServer::Impl& s, ApiRequest& r) {
  return FromResult(Views(s).FlowGraph(r.params[0], Param(r, "env")));
}

ApiResponse GetNeighbourhood(WebServer::Impl& s, ApiRequest& r) {
  auto depth = IntParam(r, "depth", 2, 0, 10);
  if (!depth.ok()) return FromStatus(depth.status());
  auto limit = IntParam(r, "limit", 300, 1, kMaxNeighbourhoodNodes);
  if (!limit.ok()) return FromStatus(limit.status());
  return FromResult(
      Views(s).FlowNeighbourhood(r.params[0], Params(r, "node"), *depth, *limit, Param(r, "env")));
}

ApiResponse GetRecipe(WebServer::Impl& s, ApiRequest& r) {
  return FromResult(Views(s).Recipe(r.params[0], r.params[1], Param(r, "env")));
}

ApiResponse GetFlowRuns(WebServer::Impl& s, ApiRequest& r) {
  auto page = PageParam(r);
  if (!page.ok()) return FromStatus(page.status());
  return FromResult(Views(s).FlowRuns(r.params[0], Param(r, "env"), Param(r, "status"), *page));
}

ApiResponse PostFlowRun(WebServer::Impl& s, ApiRequest& r) {
  const std::string flow = r.params[0];
  if (!Views(s).HasFlow(flow)) return Error(404, "not_found", fmt::format("no flow '{}'", flow));
  auto env = Views(s).Env(BodyString(r, "env"));
  if (!env.ok()) return FromStatus(env.status());
  auto id = StartRun(s, flow, *env, r.who->user);
  if (!id.ok() && id.status().code() == StatusCode::kInvalid)
    return Error(409, "conflict", id.status().message());
  if (!id.ok()) return FromStatus(id.status());
  return Ok(json{{"run_id", *id}, {"accepted", true}, {"flow", flow}, {"environment", *env}}, 202);
}

ApiResponse GetRun(WebServer::Impl& s, ApiRequest& r) {
  return FromResult(Views(s).Run(r.params[0]));
}

ApiResponse GetRunLogs(WebServer::Impl& s, ApiRequest& r) {
  auto page = PageParam(r);
  if (!page.ok()) return FromStatus(page.status());
  return FromResult(Views(s).RunLogs(r.params[0], Param(r, "recipe"), *page));
}

ApiResponse GetDataset(WebServer::Impl& s, ApiRequest& r) {
  return FromResult(Views(s).Dataset(r.params[0], Param(r, "env")));
}

ApiResponse GetDatasetVersions(WebServer::Impl& s, ApiRequest& r) {
  auto page = PageParam(r);
  if (!page.ok()) return FromStatus(page.status());
  return FromResult(Views(s).DatasetVersions(r.params[0], Param(r, "env"), *page));
}

ApiResponse GetPreview(WebServer::Impl& s, ApiRequest& r) {
  auto limit = IntParam(r, "limit", kDefaultPageLimit, 1, kMaxPageLimit);
  if (!limit.ok()) return FromStatus(limit.status());
  return FromResult(Views(s).Preview(r.params[0], Param(r, "env"), Param(r, "version"), *limit));
}

ApiResponse GetStats(WebServer::Impl& s, ApiRequest& r) {
  auto bins = IntParam(r, "bins", 10, 2, 50);
  if (!bins.ok()) return FromStatus(bins.status());
  return FromResult(Views(s).Stats(r.params[0], Param(r, "env"), Param(r, "version"), *bins));
}

ApiResponse GetChecks(WebServer::Impl& s, ApiRequest& r) {
  auto page = PageParam(r);
  if (!page.ok()) return FromStatus(page.status());
  return FromResult(Views(s).Checks(r.params[0], Param(r, "env"), *page));
}

ApiResponse GetLineage(WebServer::Impl& s, ApiRequest& r) {
  auto depth = IntParam(r, "depth", 1, 1, 10);
  if (!depth.ok()) return FromStatus(depth.status());
  const std::string dir = Param(r, "direction").empty() ? "both" : Param(r, "direction");
  return FromResult(Views(s).Lineage(r.params[0], Param(r, "env"), *depth, dir));
}

ApiResponse GetColumnLineage(WebServer::Impl& s, ApiRequest& r) {
  auto depth = IntParam(r, "depth", 1, 1, 10);
  if (!depth.ok()) return FromStatus(depth.status());
  return FromResult(Views(s).ColumnLineage(r.params[0], r.params[1], Param(r, "env"), *depth));
}

ApiResponse GetWhyStale(WebServer::Impl& s, ApiRequest& r) {
  return FromResult(Views(s).WhyStale(r.params[0], Param(r, "env")));
}

ApiResponse GetProduction(WebServer::Impl& s, ApiRequest& r) {
  return FromResult(Views(s).Production(Param(r, "env")));
}

ApiResponse SetPaused(WebServer::Impl& s, ApiRequest& r, bool paused) {
  Actor who = Actor::Current();
  who.user = r.who->user;
  auto c = Views(s).SetSchedulePaused(r.params[0], BodyString(r, "env"), paused, who);
  if (!c.ok()) {
    if (c.status().code() == StatusCode::kInvalid &&
        c.status().message().find("already") != std::string::npos)
      return Error(409, "conflict", c.status().message());
    return FromStatus(c.status());
  }
  return Ok(json{{"flow", c->flow}, {"environment", c->environment}, {"paused", c->paused}});
}

ApiResponse GetTokens(WebServer::Impl& s, ApiRequest& r) {
  auto list = Users(s).ListTokens(r.who->role == Role::kAdmin ? "" : r.who->user);
  if (!list.ok()) return FromStatus(list.status());
  json items = json::array();
  for (const auto& t : *list) items.push_back(TokenJson(t));
  return Ok(json{{"items", items}});
}

ApiResponse PostToken(WebServer::Impl& s, ApiRequest& r) {
  const std::string name = BodyString(r, "name");
  const std::string role_name = BodyString(r, "role").empty() ? "viewer" : BodyString(r, "role");
  auto role = ParseRole(role_name);
  if (!role) return Error(400, "bad_param", fmt::format("unknown role '{}'", role_name));
  if (*role > r.who->role) return Error(403, "forbidden", "a token cannot have a role above yours");
  std::vector<std::string> usecases;
  if (r.body.contains("usecases") && !r.body["usecases"].is_null()) {
    if (!r.body["usecases"].is_array())
      return Error(400, "bad_param", "usecases must be a list of use case ids");
    for (const auto& u : r.body["usecases"]) {
      if (!u.is_string()) return Error(400, "bad_param", "usecases must be a list of use case ids");
      usecases.push_back(u.get<std::string>());
    }
  }
  // A limited token makes only tokens limited to (some of) its own use cases.
  if (!r.who->usecases.empty()) {
    if (usecases.empty()) usecases = r.who->usecases;
    for (const auto& u : usecases)
      if (std::find(r.who->usecases.begin(), r.who->usecases.end(), u) == r.who->usecases.end())
        return Error(403, "forbidden", "this token is limited to other use cases");
  }
  auto t = Users(s).AddToken(r.who->user, name, *role, usecases);
  if (!t.ok()) return FromStatus(t.status());
  json out = TokenJson(t->token);
  out["secret"] = t->secret;
  return Ok(out, 201);
}

ApiResponse DeleteToken(WebServer::Impl& s, ApiRequest& r) {
  Status st = Users(s).RevokeToken(r.params[0], r.who->role == Role::kAdmin ? "" : r.who->user);
  if (!st.ok()) return FromStatus(st);
  return Ok(json{{"ok", true}});
}

// ---- scopes: the use case a request is about ----

std::string ScopeUseCase(CatalogViews&, const ApiRequest& r) { return r.params[0]; }
std::string ScopeFlow(CatalogViews& v, const ApiRequest& r) { return v.UseCaseOfFlow(r.params[0]); }
std::string ScopeDataset(CatalogViews& v, const ApiRequest& r) {
  return v.UseCaseOfDataset(r.params[0]);
}
std::string ScopeRun(CatalogViews& v, const ApiRequest& r) {
  auto run = v.Run(r.params[0]);
  if (!run.ok() || (*run)["flows"].empty()) return "";
  return v.UseCaseOfFlow((*run)["flows"][0].get<std::string>());
}

}  // namespace

std::vector<ApiRoute> BuildRoutes() {
  using H = std::function<ApiResponse(WebServer::Impl&, ApiRequest&)>;
  using S = std::function<std::string(CatalogViews&, const ApiRequest&)>;
  const std::optional<Role> kPublic;
  const auto V = Role::kViewer, E = Role::kEngineer;
  struct Row {
    const char* method;
    const char* pattern;
    std::optional<Role> role;
    H handler;
    S scope;
    bool unscoped_ok;
  };
  // THE route table: every API route, its least role, its handler and what
  // a token limited to use cases is checked against. docs/api.md lists it.
  const std::vector<Row> rows = {
      {"GET", "/api/config", kPublic, GetConfig, {}, true},
      {"POST", "/api/login", kPublic, PostLogin, {}, true},
      {"POST", "/api/logout", V, PostLogout, {}, true},
      {"GET", "/api/me", V, GetMe, {}, true},
      {"GET", "/api/usecases", V, GetUseCases, {}, true},
      {"GET", "/api/search", V, GetSearch, {}, false},
      {"GET", "/api/usecases/{id}", V, GetUseCase, ScopeUseCase, false},
      {"GET", "/api/usecases/{id}/audit", V, GetUseCaseAudit, ScopeUseCase, false},
      {"GET", "/api/flows/{flow}", V, GetFlow, ScopeFlow, false},
      {"GET", "/api/flows/{flow}/neighbourhood", V, GetNeighbourhood, ScopeFlow, false},
      {"GET", "/api/flows/{flow}/recipes/{recipe}", V, GetRecipe, ScopeFlow, false},
      {"GET", "/api/flows/{flow}/runs", V, GetFlowRuns, ScopeFlow, false},
      {"POST", "/api/flows/{flow}/runs", E, PostFlowRun, ScopeFlow, false},
      {"GET", "/api/runs/{id}", V, GetRun, ScopeRun, false},
      {"GET", "/api/runs/{id}/logs", V, GetRunLogs, ScopeRun, false},
      {"GET", "/api/datasets/{dataset}", V, GetDataset, ScopeDataset, false},
      {"GET", "/api/datasets/{dataset}/versions", V, GetDatasetVersions, ScopeDataset, false},
      {"GET", "/api/datasets/{dataset}/preview", V, GetPreview, ScopeDataset, false},
      {"GET", "/api/datasets/{dataset}/stats", V, GetStats, ScopeDataset, false},
      {"GET", "/api/datasets/{dataset}/checks", V, GetChecks, ScopeDataset, false},
      {"GET", "/api/datasets/{dataset}/lineage", V, GetLineage, ScopeDataset, false},
      {"GET", "/api/datasets/{dataset}/columns/{column}/lineage", V, GetColumnLineage, ScopeDataset,
       false},
      {"GET", "/api/datasets/{dataset}/why-stale", V, GetWhyStale, ScopeDataset, false},
      {"GET", "/api/production", V, GetProduction, {}, false},
      {"POST", "/api/schedules/{flow}/pause", E,
       [](WebServer::Impl& s, ApiRequest& r) { return SetPaused(s, r, true); }, ScopeFlow, false},
      {"POST", "/api/schedules/{flow}/resume", E,
       [](WebServer::Impl& s, ApiRequest& r) { return SetPaused(s, r, false); }, ScopeFlow, false},
      {"GET", "/api/tokens", V, GetTokens, {}, true},
      {"POST", "/api/tokens", V, PostToken, {}, true},
      {"DELETE", "/api/tokens/{id}", V, DeleteToken, {}, true},
  };
  // Answers that depend only on the workspace and its catalogs (and the
  // clock, within kAnswerTtl: next runs, lateness). Not: the home page (its
  // own cache, filtered for scoped tokens), a recipe (its code file is read
  // live), anything about the caller.
  static const std::set<std::string> kCacheable = {
      "/api/search",
      "/api/usecases/{id}",
      "/api/usecases/{id}/audit",
      "/api/flows/{flow}",
      "/api/flows/{flow}/neighbourhood",
      "/api/flows/{flow}/runs",
      "/api/runs/{id}",
      "/api/runs/{id}/logs",
      "/api/datasets/{dataset}",
      "/api/datasets/{dataset}/versions",
      "/api/datasets/{dataset}/preview",
      "/api/datasets/{dataset}/stats",
      "/api/datasets/{dataset}/checks",
      "/api/datasets/{dataset}/lineage",
      "/api/datasets/{dataset}/columns/{column}/lineage",
      "/api/datasets/{dataset}/why-stale",
      "/api/production",
  };
  std::vector<ApiRoute> out;
  for (const auto& row : rows) {
    ApiRoute r;
    r.method = row.method;
    r.pattern = row.pattern;
    std::string p = r.pattern.substr(1);
    size_t pos = 0;
    while (pos <= p.size()) {
      size_t end = p.find('/', pos);
      if (end == std::string::npos) end = p.size();
      r.segments.push_back(p.substr(pos, end - pos));
      pos = end + 1;
    }
    r.min_role = row.role;
    r.handler = row.handler;
    r.scope = row.scope;
    r.unscoped_ok = row.unscoped_ok;
    r.cacheable = r.method == "GET" && kCacheable.count(r.pattern) > 0;
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace alambic
