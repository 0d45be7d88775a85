#include "core/exec/pushdown_run.h"

#include <fmt/format.h>

#include "core/net/postgres.h"
#include "core/recipe/pushdown.h"
#include "core/store/pg_store.h"

namespace alambic {

namespace {

class ConnQuoter final : public SqlQuoter {
 public:
  explicit ConnQuoter(PgConnection& c) : c_(c) {}
  std::string Ident(std::string_view name) const override {
    auto q = c_.QuoteIdent(name);
    if (q.ok()) return *q;
    // PQescapeIdentifier fails only on invalid encoding or memory: quote by hand.
    std::string out = "\"";
    for (char ch : name) out += ch == '"' ? std::string("\"\"") : std::string(1, ch);
    return out + "\"";
  }
  std::string Literal(std::string_view value) const override {
    auto q = c_.QuoteLiteral(value);
    return q.ok() ? *q : "NULL";
  }

 private:
  PgConnection& c_;
};

PgTableStore* PgStore(const DatasetStore& store) {
  return dynamic_cast<PgTableStore*>(store.backend());
}

}  // namespace

const char* EngineName(Engine e) {
  switch (e) {
    case Engine::kLocal:
      return "local";
    case Engine::kPushdown:
      return "postgres push-down";
    case Engine::kLocalMoved:
      return "local, data moved";
  }
  return "local";
}

EngineChoice ChooseEngine(const DatasetStore& store, const RecipeRegistry& kinds,
                          const RecipeSpec& recipe) {
  PgTableStore* pg = PgStore(store);
  if (!pg) return {Engine::kLocal, ""};
  const RecipeKind* kind = kinds.Find(recipe.kind);
  if (recipe.inputs.empty() || (kind && kind->is_source()))
    return {Engine::kLocalMoved,
            fmt::format("{} reads its source locally; its output goes to PostgreSQL with COPY",
                        recipe.kind)};
  const SqlPushdown* p = kinds.pushdown();
  std::string why = p ? p->WhyNot(recipe) : "no SQL translations are registered";
  if (why.empty())
    return {Engine::kPushdown,
            fmt::format("runs as SQL inside PostgreSQL (schema {})", pg->schema())};
  return {Engine::kLocalMoved,
          why + "; inputs read from PostgreSQL with COPY, output written back with COPY"};
}

Result<PushedOutput> RunPushdown(const DatasetStore& store, const RecipeRegistry& kinds,
                                 const RecipeSpec& recipe,
                                 const std::vector<std::string>& input_versions,
                                 const std::string& output_version) {
  PgTableStore* pg = PgStore(store);
  const SqlPushdown* p = kinds.pushdown();
  if (!pg || !p || recipe.outputs.size() != 1)
    return Status::Invalid("push-down needs a PostgreSQL store and one output");
  auto staged = pg->StageQuery(
      recipe.outputs[0], input_versions, output_version,
      [&](const std::vector<PgTableStore::Input>& ins,
          PgConnection& c) -> Result<PgTableStore::BoundQuery> {
        std::vector<SqlInputTable> tables;
        for (size_t k = 0; k < ins.size() && k < recipe.inputs.size(); ++k)
          tables.push_back({recipe.inputs[k], ins[k].table, ins[k].schema});
        ConnQuoter q(c);
        ALAMBIC_ASSIGN_OR_RETURN(SqlQuery query, p->Translate(recipe, tables, q, kPgRowColumn));
        return PgTableStore::BoundQuery{std::move(query.sql), std::move(query.params)};
      });
  if (!staged.ok()) return staged.status();
  PushedOutput out;
  out.staged = {recipe.outputs[0], output_version, staged->staged, staged->bytes};
  out.rows = staged->rows;
  out.schema = std::move(staged->schema);
  return out;
}

}  // namespace alambic
