#include "catalog/openlineage.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <thread>

#include <fmt/format.h>
#include <httplib.h>

namespace alambic {

namespace {

using json = nlohmann::json;

constexpr const char* kRunEventSchema =
    "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";
constexpr const char* kSchemaFacet =
    "https://openlineage.io/spec/facets/1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet";
constexpr const char* kVersionFacet =
    "https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json#/$defs/"
    "DatasetVersionDatasetFacet";
constexpr const char* kColumnLineageFacet =
    "https://openlineage.io/spec/facets/1-2-0/ColumnLineageDatasetFacet.json#/$defs/"
    "ColumnLineageDatasetFacet";
constexpr const char* kAssertionsFacet =
    "https://openlineage.io/spec/facets/1-1-0/DataQualityAssertionsDatasetFacet.json#/$defs/"
    "DataQualityAssertionsDatasetFacet";
constexpr const char* kParentFacet =
    "https://openlineage.io/spec/facets/1-2-0/ParentRunFacet.json#/$defs/ParentRunFacet";
constexpr const char* kNominalTimeFacet =
    "https://openlineage.io/spec/facets/1-0-1/NominalTimeRunFacet.json#/$defs/NominalTimeRunFacet";
constexpr const char* kErrorFacet =
    "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/"
    "ErrorMessageRunFacet";

json Facet(const OpenLineageOptions& o, const char* schema_url) {
  return {{"_producer", o.producer}, {"_schemaURL", schema_url}};
}

json SchemaFacet(const OpenLineageOptions& o, const std::string& schema_json) {
  json facet = Facet(o, kSchemaFacet);
  json fields = json::array();
  auto schema = json::parse(schema_json, nullptr, false);
  if (schema.is_array())
    for (const auto& f : schema) {
      if (!f.is_object() || !f.contains("name") || !f["name"].is_string()) continue;
      json field = {{"name", f["name"]}};
      if (f.contains("type") && f["type"].is_string()) field["type"] = f["type"];
      fields.push_back(std::move(field));
    }
  facet["fields"] = std::move(fields);
  return facet;
}

// OpenLineage's transformation (type, subtype, masking) for one of our
// transform names (core/recipe/recipe.h).
struct Transformation {
  const char* type;
  const char* subtype;
  bool masking;
};
Transformation TransformationOf(const std::string& t) {
  if (t == "identity") return {"DIRECT", "IDENTITY", false};
  if (t == "aggregation") return {"DIRECT", "AGGREGATION", false};
  if (t == "join_key") return {"INDIRECT", "JOIN", false};
  if (t == "filter") return {"INDIRECT", "FILTER", false};
  if (t == "masking") return {"DIRECT", "TRANSFORMATION", true};
  return {"DIRECT", "TRANSFORMATION", false};
}

json ColumnLineageFacet(const OpenLineageOptions& o, const DatasetVersionRecord& v) {
  json fields = json::object();
  for (const auto& e : v.column_lineage) {
    if (!fields.contains(e.column)) fields[e.column] = {{"inputFields", json::array()}};
    if (e.input_column.empty()) continue;  // opaque: no field to name
    const Transformation t = TransformationOf(e.transform);
    fields[e.column]["inputFields"].push_back(
        {{"namespace", o.dataset_namespace},
         {"name", e.input_dataset},
         {"field", e.input_column},
         {"transformations",
          json::array({{{"type", t.type}, {"subtype", t.subtype}, {"masking", t.masking}}})}});
  }
  // Columns whose every edge is opaque say nothing: leave them out.
  std::map<std::string, bool> opaque_only;
  for (const auto& e : v.column_lineage) {
    auto [it, fresh] = opaque_only.emplace(e.column, true);
    (void)fresh;
    if (!e.input_column.empty() || e.transform != "opaque") it->second = false;
  }
  for (const auto& [column, opaque] : opaque_only)
    if (opaque) fields.erase(column);
  if (fields.empty()) return nullptr;
  json facet = Facet(o, kColumnLineageFacet);
  facet["fields"] = std::move(fields);
  return facet;
}

// The check kind's results as OpenLineage assertions.
json AssertionsFacet(const OpenLineageOptions& o, const json& metrics) {
  if (!metrics.is_object() || !metrics.contains("checks") || !metrics["checks"].is_array())
    return nullptr;
  json assertions = json::array();
  for (const auto& c : metrics["checks"]) {
    if (!c.is_object()) continue;
    json a = {{"assertion", c.value("check", std::string("check"))},
              {"success", c.value("passed", false)}};
    if (c.contains("column") && c["column"].is_string()) a["column"] = c["column"];
    if (c.contains("severity") && c["severity"].is_string()) a["severity"] = c["severity"];
    if (c.contains("name") && c["name"].is_string()) a["name"] = c["name"];
    if (c.contains("message") && c["message"].is_string() &&
        !c["message"].get<std::string>().empty())
      a["description"] = c["message"];
    assertions.push_back(std::move(a));
  }
  json facet = Facet(o, kAssertionsFacet);
  facet["assertions"] = std::move(assertions);
  return facet;
}

std::string EventTypeOf(const std::string& status) {
  if (status == "succeeded") return "COMPLETE";
  if (status == "cancelled") return "ABORT";
  return "FAIL";
}

}  // namespace

Result<std::vector<json>> OpenLineageEvents(Catalog& catalog, const std::string& run_id,
                                            const OpenLineageOptions& o) {
  ALAMBIC_ASSIGN_OR_RETURN(RunRecord run, catalog.FindRun(run_id));
  ALAMBIC_ASSIGN_OR_RETURN(auto recipes, catalog.RecipeRuns(run.id));
  ALAMBIC_ASSIGN_OR_RETURN(auto produced, catalog.VersionsOfRun(run.id));
  for (auto& v : produced) ALAMBIC_RETURN_IF_ERROR(catalog.LoadLineage(&v));

  std::vector<std::pair<std::string, json>> timed;  // (event time, event)
  for (const auto& r : recipes) {
    if (r.attempts == 0) continue;  // skipped: never started
    json inputs = json::array();
    for (const auto& [ds, version] : r.inputs) {
      json in = {{"namespace", o.dataset_namespace}, {"name", ds}};
      json facets = json::object();
      ALAMBIC_ASSIGN_OR_RETURN(auto v, catalog.FindVersion(run.environment, ds, version));
      if (v && v->id == version) facets["schema"] = SchemaFacet(o, v->schema);
      facets["version"] = Facet(o, kVersionFacet);
      facets["version"]["datasetVersion"] = version;
      in["facets"] = std::move(facets);
      if (json a = AssertionsFacet(o, r.metrics); !a.is_null())
        in["inputFacets"] = {{"dataQualityAssertions", std::move(a)}};
      inputs.push_back(std::move(in));
    }
    // A source (collect) names what it read in its metrics: an input dataset outside the store.
    if (auto src = r.metrics.find("source"); src != r.metrics.end() && src->is_object() &&
                                             src->contains("namespace") && src->contains("name")) {
      const json& ns = (*src)["namespace"];
      const json& name = (*src)["name"];
      if (ns.is_string() && name.is_string() && !ns.get_ref<const std::string&>().empty() &&
          !name.get_ref<const std::string&>().empty()) {
        json in = {{"namespace", ns}, {"name", name}};
        if (auto fp = src->find("version"); fp != src->end() && fp->is_string()) {
          json facets = json::object();
          facets["version"] = Facet(o, kVersionFacet);
          facets["version"]["datasetVersion"] = *fp;
          in["facets"] = std::move(facets);
        }
        inputs.push_back(std::move(in));
      }
    }
    json outputs = json::array();
    for (const auto& v : produced) {
      if (v.flow != r.flow || v.recipe != r.recipe) continue;
      json facets = {{"schema", SchemaFacet(o, v.schema)}, {"version", Facet(o, kVersionFacet)}};
      facets["version"]["datasetVersion"] = v.id;
      if (json cl = ColumnLineageFacet(o, v); !cl.is_null()) facets["columnLineage"] = cl;
      outputs.push_back(
          {{"namespace", o.dataset_namespace}, {"name", v.dataset}, {"facets", std::move(facets)}});
    }
    json parent = Facet(o, kParentFacet);
    parent["run"] = {{"runId", run.id}};
    parent["job"] = {{"namespace", o.job_namespace}, {"name", r.flow}};
    json nominal = Facet(o, kNominalTimeFacet);
    nominal["nominalStartTime"] = run.started_at;
    const json job = {{"namespace", o.job_namespace}, {"name", r.flow + "." + r.recipe}};
    const std::string start_time = r.started_at.empty() ? run.started_at : r.started_at;

    json start = {
        {"eventType", "START"},
        {"eventTime", start_time},
        {"producer", o.producer},
        {"schemaURL", kRunEventSchema},
        {"run", {{"runId", r.uuid}, {"facets", {{"parent", parent}, {"nominalTime", nominal}}}}},
        {"job", job},
        {"inputs", inputs},
        {"outputs", json::array()}};
    timed.emplace_back(start_time, std::move(start));

    const std::string type = EventTypeOf(r.status);
    json run_facets = {{"parent", parent}, {"nominalTime", nominal}};
    if (type == "FAIL") {
      json error = Facet(o, kErrorFacet);
      error["message"] = r.error.empty() ? r.status : r.error;
      error["programmingLanguage"] = "C++";
      run_facets["errorMessage"] = std::move(error);
    }
    const std::string end_time = r.finished_at.empty() ? start_time : r.finished_at;
    json end = {{"eventType", type},
                {"eventTime", end_time},
                {"producer", o.producer},
                {"schemaURL", kRunEventSchema},
                {"run", {{"runId", r.uuid}, {"facets", std::move(run_facets)}}},
                {"job", job},
                {"inputs", std::move(inputs)},
                {"outputs", std::move(outputs)}};
    timed.emplace_back(end_time, std::move(end));
  }
  // ISO-8601 UTC strings of one width sort in time order; a START before its end.
  std::stable_sort(timed.begin(), timed.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<json> events;
  for (auto& [t, e] : timed) events.push_back(std::move(e));
  return events;
}

Result<int> PostOpenLineageEvents(const OpenLineageEndpoint& endpoint,
                                  const std::vector<json>& events,
                                  const std::function<void(const std::string&)>& warn) {
  std::string url = endpoint.url;
  while (!url.empty() && url.back() == '/') url.pop_back();
  // Split scheme://host[:port] from a base path.
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos ||
      (url.compare(0, scheme_end, "http") != 0 && url.compare(0, scheme_end, "https") != 0))
    return Status::Invalid(
        fmt::format("openlineage url '{}': expected http://host[:port][/path]", endpoint.url));
  const size_t path_start = url.find('/', scheme_end + 3);
  const std::string origin = url.substr(0, path_start);
  const std::string base = path_start == std::string::npos ? "" : url.substr(path_start);
  httplib::Client client(origin);
  if (!client.is_valid())
    return Status::Invalid(fmt::format("openlineage url '{}': unusable", endpoint.url));
  const auto timeout =
      std::chrono::milliseconds(static_cast<int64_t>(endpoint.timeout_seconds * 1000));
  client.set_connection_timeout(timeout);
  client.set_read_timeout(timeout);
  client.set_write_timeout(timeout);
  const std::string path = base + "/api/v1/lineage";
  int accepted = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    const json& event = events[i];
    double delay = endpoint.retry_backoff_seconds;
    bool unreachable = false;
    for (int attempt = 1; attempt <= endpoint.retries + 1; ++attempt) {
      auto res = client.Post(path, event.dump(), "application/json");
      if (res && res->status >= 200 && res->status < 300) {
        ++accepted;
        break;
      }
      const std::string why =
          res ? fmt::format("HTTP {}", res->status) : httplib::to_string(res.error());
      const bool last = attempt == endpoint.retries + 1;
      unreachable = !res;
      if (warn)
        warn(fmt::format(
            "openlineage: POST {}{}: {}{}", origin, path, why,
            last ? "; giving up on this event" : fmt::format("; retrying in {:.3g}s", delay)));
      if (last) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int64_t>(delay * 1000)));
      delay *= 2;
    }
    // An endpoint that cannot be reached now will not be for the next event either.
    if (unreachable && i + 1 < events.size()) {
      if (warn)
        warn(fmt::format("openlineage: endpoint unreachable, {} more event(s) not sent",
                         events.size() - i - 1));
      break;
    }
  }
  return accepted;
}

}  // namespace alambic
