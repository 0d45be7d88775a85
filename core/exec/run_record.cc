#include "core/exec/run_record.h"

#include <set>
#include <unordered_map>

#include "core/base/secrets.h"

namespace alambic {

namespace {

// Adds the NAME of every "secret:NAME" string in `j`, at any depth.
void CollectSecretNames(const nlohmann::json& j, std::set<std::string>* names) {
  if (j.is_string()) {
    const auto& s = j.get_ref<const std::string&>();
    if (IsSecretRef(s)) names->insert(s.substr(kSecretPrefix.size()));
  } else if (j.is_structured()) {
    for (const auto& v : j) CollectSecretNames(v, names);
  }
}

}  // namespace

std::string SchemaJson(const Schema& s) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& f : s.fields)
    j.push_back({{"name", f.name}, {"type", TypeName(f.type)}, {"nullable", f.nullable}});
  return j.dump();
}

std::string RecipeRunStatus(TaskState s) {
  // A task still running when the run is recorded has no outcome yet.
  return s == TaskState::kRunning ? "pending" : TaskStateName(s);
}

std::vector<ColumnLineageEdge> LineageEdges(
    const Schema& schema, const std::map<std::string, std::vector<ColumnSource>>* lineage,
    const std::vector<std::string>& inputs) {
  std::vector<ColumnLineageEdge> edges;
  for (const auto& f : schema.fields) {
    const std::vector<ColumnSource>* sources = nullptr;
    if (lineage) {
      auto it = lineage->find(f.name);
      if (it != lineage->end()) sources = &it->second;
    }
    if (sources) {
      for (const auto& src : *sources)
        edges.push_back({f.name, src.dataset, src.column,
                         src.transform.empty() ? kTransformTransformation : src.transform});
      continue;
    }
    for (const auto& in : inputs) edges.push_back({f.name, in, "", kTransformOpaque});
  }
  return edges;
}

Status AuditSecretUse(Session& session, const Plan& plan, const RunRecord& run) {
  std::map<std::string, std::vector<const RecipeNode*>> users;  // secret -> recipes
  for (const auto& rp : plan.recipes) {
    if (rp.decision != Decision::kRun) continue;
    const RecipeNode& node = session.graph().node(rp.node);
    std::set<std::string> names;
    CollectSecretNames(node.recipe->params, &names);
    for (const auto& n : names) users[n].push_back(&node);
  }
  for (const auto& [secret, nodes] : users) {
    AuditEntry e;
    e.user = run.user;
    e.host = run.host;
    e.action = kAuditSecretUse;
    e.environment = run.environment;
    std::set<std::string> flows;
    nlohmann::json recipes = nlohmann::json::array();
    for (const RecipeNode* n : nodes) {
      flows.insert(n->flow->name);
      recipes.push_back(n->flow->name + "/" + n->recipe->name);
    }
    for (const auto& f : flows) e.flow += (e.flow.empty() ? "" : ",") + f;
    e.target = run.id;
    e.outcome = kAuditOk;
    e.detail = {{"secret", secret}, {"recipes", std::move(recipes)}};
    ALAMBIC_RETURN_IF_ERROR(session.catalog().AppendAudit(std::move(e)));
  }
  return Status::Ok();
}

Status AuditRun(Session& session, const RunSummary& summary) {
  const RunRecord& run = summary.run;
  AuditEntry e;
  e.user = run.user;
  e.host = run.host;
  e.action = kAuditRun;
  e.environment = run.environment;
  e.flow = run.flows;
  e.target = run.id;
  e.outcome = run.status;
  e.detail = {{"commit", run.git_commit},
              {"dirty", run.git_dirty},
              {"release", run.release},
              {"trigger", run.trigger},
              {"recipes",
               {{"succeeded", summary.succeeded},
                {"failed", summary.failed},
                {"cancelled", summary.cancelled},
                {"skipped", summary.skipped},
                {"up_to_date", summary.up_to_date}}}};
  if (!run.error.empty()) e.detail["error"] = run.error;
  return session.catalog().AppendAudit(std::move(e));
}

Status RecordUpToDate(Session& session, const Plan& plan, const RunRecord& run) {
  Catalog& catalog = session.catalog();
  CatalogBatch batch;
  batch.environment = run.environment;
  for (const auto& rp : plan.recipes) {
    if (rp.decision != Decision::kUpToDate) continue;
    const RecipeNode& node = session.graph().node(rp.node);
    const RecipeSpec& spec = *node.recipe;
    RecipeRunRecord rec;
    rec.run_id = run.id;
    rec.uuid = NewUuid();
    rec.flow = node.flow->name;
    rec.recipe = spec.name;
    rec.kind = spec.kind;
    rec.status = "up_to_date";
    rec.reason = rp.explanation;
    for (size_t k = 0; k < spec.inputs.size() && k < rp.input_versions.size(); ++k)
      rec.inputs[spec.inputs[k]] = rp.input_versions[k];
    for (size_t k = 0; k < spec.outputs.size() && k < rp.output_versions.size(); ++k)
      rec.outputs[spec.outputs[k]] = rp.output_versions[k];
    if (!spec.outputs.empty() && !rp.output_versions.empty()) {
      ALAMBIC_ASSIGN_OR_RETURN(
          auto v, catalog.FindVersion(run.environment, spec.outputs[0], rp.output_versions[0]));
      if (v && v->id == rp.output_versions[0]) {
        ALAMBIC_ASSIGN_OR_RETURN(auto built,
                                 catalog.FindRecipeRun(v->run_id, rec.flow, rec.recipe));
        if (built) rec.metrics = std::move(built->metrics);
      }
    }
    batch.recipe_runs.push_back(std::move(rec));
  }
  if (batch.recipe_runs.empty()) return Status::Ok();
  return catalog.Commit(batch);
}

Status RestoreBuiltVersions(Session& session, const Plan& plan, const std::string& run_id,
                            const std::string& now) {
  const std::string& env = session.environment();
  ALAMBIC_ASSIGN_OR_RETURN(auto current_list, session.catalog().CurrentVersions(env));
  std::unordered_map<std::string, std::string> current;
  for (const auto& c : current_list) current[c.dataset] = c.version_id;
  CatalogBatch batch;
  batch.environment = env;
  for (const auto& rp : plan.recipes) {
    if (rp.decision != Decision::kUpToDate) continue;
    const RecipeNode& node = session.graph().node(rp.node);
    const RecipeSpec& spec = *node.recipe;
    bool changed = false;
    for (size_t k = 0; k < spec.outputs.size() && k < rp.output_versions.size(); ++k) {
      auto it = current.find(spec.outputs[k]);
      if (it != current.end() && it->second == rp.output_versions[k]) continue;
      ALAMBIC_ASSIGN_OR_RETURN(
          auto v, session.catalog().FindVersion(env, spec.outputs[k], rp.output_versions[k]));
      if (!v) continue;
      v->created_at = now;  // becomes the current version's update time
      batch.versions.push_back(std::move(*v));
      changed = true;
    }
    if (!changed) continue;
    RecipeState state;
    state.params_hash = rp.params_hash;
    state.code_hash = rp.code_hash;
    state.source_fingerprint = rp.source_fingerprint;
    state.salt = rp.salt;
    state.run_id = run_id;
    for (size_t k = 0; k < spec.inputs.size() && k < rp.input_versions.size(); ++k)
      state.inputs[spec.inputs[k]] = rp.input_versions[k];
    for (size_t k = 0; k < spec.outputs.size() && k < rp.output_versions.size(); ++k)
      state.outputs[spec.outputs[k]] = rp.output_versions[k];
    batch.states.emplace_back(node.flow->name, spec.name, std::move(state));
  }
  if (batch.versions.empty()) return Status::Ok();
  return session.catalog().Commit(batch);
}

}  // namespace alambic
