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

// The query with each column in the store's own type for its column type
// (bigint, double precision, boolean, text, date, timestamptz): a user's
// query (sql, dialect: postgres) may give int4, numeric, varchar, json or
// timestamp columns, which later push-downs must not meet. The types come
// from a temporary view of the query.
Result<std::string> WithStoreTypes(PgConnection& c, const SqlQuoter& q, const std::string& sql) {
  const std::string view = "pg_temp.alambic_probe";
  ALAMBIC_RETURN_IF_ERROR(c.Exec("DROP VIEW IF EXISTS " + view));
  // One statement (bound-parameter protocol): the query cannot end this one and start another.
  ALAMBIC_RETURN_IF_ERROR(
      c.Query(fmt::format("CREATE TEMP VIEW alambic_probe AS {}", sql)).status());
  auto cols = c.Query(
      "SELECT attname, atttypid::bigint FROM pg_attribute WHERE attrelid = $1::regclass AND "
      "attnum > 0 AND NOT attisdropped ORDER BY attnum",
      {view});
  (void)c.Exec("DROP VIEW IF EXISTS " + view);
  if (!cols.ok()) return cols.status();
  std::string select;
  for (const auto& r : *cols) {
    if (!r[0] || !r[1]) continue;
    const std::string name = q.Ident(*r[0]);
    const unsigned oid = static_cast<unsigned>(std::stoul(*r[1]));
    const TypeId type = PgTypeToColumnType(oid);
    // timestamp without time zone: read as UTC, as the store reads timestamps.
    const std::string e = oid == pg_oid::kTimestamp
                              ? fmt::format("z.{} AT TIME ZONE 'UTC'", name)
                              : fmt::format("z.{}::{}", name, ColumnTypeToPg(type));
    select += fmt::format("{}{} AS {}", select.empty() ? "" : ", ", e, name);
  }
  return fmt::format("SELECT {} FROM ({}) AS z", select, sql);
}

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
        if (recipe.kind == "sql") {
          ALAMBIC_ASSIGN_OR_RETURN(query.sql, WithStoreTypes(c, q, query.sql));
        }
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
