#include "core/exec/run_record.h"

#include <algorithm>
#include <set>
#include <unordered_map>

#include "core/base/secrets.h"
#include "core/flow/connections.h"

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

std::set<std::string> RecipeSecretNames(const WorkspaceConfig& config,
                                        const std::string& environment, const RecipeSpec& recipe) {
  std::set<std::string> names;
  CollectSecretNames(recipe.params, &names);
  if (auto it = recipe.params.find("connection"); it != recipe.params.end() && it->is_string())
    if (auto c = ResolveConnection(config.connections, it->get<std::string>(), environment);
        c.ok() && IsSecretRef(c->postgres.password))
      names.insert(c->postgres.password.substr(kSecretPrefix.size()));
  return names;
}

std::vector<std::string> RecipeSecretEnv(const WorkspaceConfig& config,
                                         const std::string& environment, const RecipeSpec& recipe) {
  std::set<std::string> vars;
  for (const std::string& name : RecipeSecretNames(config, environment, recipe)) {
    if (auto s = config.secrets.secrets.find(name);
        s != config.secrets.secrets.end() && !s->second.env_var.empty())
      vars.insert(s->second.env_var);
    if (auto e = config.secrets.environments.find(environment);
        e != config.secrets.environments.end())
      if (auto s = e->second.find(name); s != e->second.end() && !s->second.env_var.empty())
        vars.insert(s->second.env_var);
  }
  return {vars.begin(), vars.end()};
}

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
    for (const auto& n :
         RecipeSecretNames(session.workspace().config, session.environment(), *node.recipe))
      users[n].push_back(&node);
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

namespace {

// The up-to-date recipes of `plan` appended to batch.up_to_date, as copies.
void AppendUpToDateCopies(Session& session, const Plan& plan, CatalogBatch& batch) {
  batch.up_to_date.reserve(batch.up_to_date.size() + plan.recipes.size());
  for (const auto& rp : plan.recipes) {
    if (rp.decision != Decision::kUpToDate) continue;
    const RecipeNode& node = session.graph().node(rp.node);
    const RecipeSpec& spec = *node.recipe;
    UpToDateRecipe& rec = batch.up_to_date.emplace_back();
    rec.flow = node.flow->name;
    rec.recipe = spec.name;
    rec.kind = spec.kind;
    rec.reason = rp.explanation;
    const size_t ins = std::min(spec.inputs.size(), rp.input_versions.size());
    rec.inputs.reserve(ins);
    for (size_t k = 0; k < ins; ++k) rec.inputs.emplace_back(spec.inputs[k], rp.input_versions[k]);
    const size_t outs = std::min(spec.outputs.size(), rp.output_versions.size());
    rec.outputs.reserve(outs);
    for (size_t k = 0; k < outs; ++k)
      rec.outputs.emplace_back(spec.outputs[k], rp.output_versions[k]);
  }
}

}  // namespace

Status AddUpToDate(Session& session, const Plan& plan, const RunRecord& run, CatalogBatch& batch) {
  batch.up_to_date_run = run.id;
  // A batch that lists up-to-date recipes already gets these as copies beside them.
  if (!batch.up_to_date.empty() || !batch.up_to_date_row.empty()) {
    if (!batch.up_to_date_row.empty())
      return Status::Internal("AddUpToDate: the batch's up-to-date recipes are already encoded");
    AppendUpToDateCopies(session, plan, batch);
    return Status::Ok();
  }
  // Else their row, encoded from views of the plan and the flows (nothing copied).
  std::vector<UpToDateRecipeRef> refs;
  refs.reserve(plan.recipes.size());
  for (const auto& rp : plan.recipes) {
    if (rp.decision != Decision::kUpToDate) continue;
    const RecipeNode& node = session.graph().node(rp.node);
    const RecipeSpec& spec = *node.recipe;
    UpToDateRecipeRef& ref = refs.emplace_back();
    ref.flow = node.flow->name;
    ref.recipe = spec.name;
    ref.kind = spec.kind;
    ref.reason = rp.explanation;
    ref.inputs = spec.inputs;
    ref.input_versions = rp.input_versions;
    ref.outputs = spec.outputs;
    ref.output_versions = rp.output_versions;
  }
  if (!refs.empty()) batch.up_to_date_row = EncodeUpToDateRecipes(refs);
  return Status::Ok();
}

Status AddRestoredVersions(Session& session, const Plan& plan, const std::string& run_id,
                           const std::string& now, CatalogBatch& batch) {
  const std::string& env = session.environment();
  ALAMBIC_ASSIGN_OR_RETURN(const CurrentVersionIds current, session.CurrentVersions());
  for (const auto& rp : plan.recipes) {
    if (rp.decision != Decision::kUpToDate) continue;
    const RecipeNode& node = session.graph().node(rp.node);
    const RecipeSpec& spec = *node.recipe;
    bool changed = false;
    for (size_t k = 0; k < spec.outputs.size() && k < rp.output_versions.size(); ++k) {
      const std::string* id = current.Find(spec.outputs[k]);
      if (id && *id == rp.output_versions[k]) continue;
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
  return Status::Ok();
}

}  // namespace alambic
