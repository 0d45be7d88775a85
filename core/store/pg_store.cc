#include "core/store/pg_store.h"

#include <fmt/format.h>

#include "core/base/fs.h"

namespace alambic {

namespace {
constexpr size_t kVersionChars = 61;  // "v_" + 61 = 63, PostgreSQL's longest identifier
constexpr const char* kTempPrefix = "tmp_";
}  // namespace

PgTableStore::PgTableStore(Connector connect, std::string schema, std::string label)
    : connect_(std::move(connect)), schema_(std::move(schema)), label_(std::move(label)) {}

std::string PgTableStore::TableName(const std::string& version) {
  return "v_" + version.substr(0, kVersionChars);
}

std::string PgTableStore::Locate(const std::string&, const std::string& version) const {
  return fmt::format("pg:{}.{}", schema_, TableName(version));
}

Result<PgConnection*> PgTableStore::Conn() {
  if (!conn_) {
    auto c = connect_();
    if (!c.ok()) return c.status().WithContext(label_);
    ALAMBIC_ASSIGN_OR_RETURN(quoted_schema_, (*c)->QuoteIdent(schema_));
    Status st = (*c)->Exec("CREATE SCHEMA IF NOT EXISTS " + quoted_schema_);
    if (!st.ok()) return st.WithContext(fmt::format("{}: schema {}", label_, schema_));
    conn_ = std::move(*c);
  }
  return conn_.get();
}

Result<std::string> PgTableStore::TableOf(PgConnection& c, const std::string& version) const {
  auto it = staged_.find(version);
  return Qualified(c, it != staged_.end() ? it->second : TableName(version));
}

Result<std::string> PgTableStore::Qualified(PgConnection& c, const std::string& table) const {
  ALAMBIC_ASSIGN_OR_RETURN(std::string t, c.QuoteIdent(table));
  return quoted_schema_ + "." + t;
}

Result<Schema> PgTableStore::Columns(PgConnection& c, const std::string& qualified,
                                     bool* has_row) const {
  ALAMBIC_ASSIGN_OR_RETURN(
      auto rows, c.Query("SELECT attname, atttypid::int8 FROM pg_attribute WHERE attrelid = "
                         "$1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
                         {qualified}));
  Schema schema;
  *has_row = false;
  for (const auto& r : rows) {
    if (!r[0] || !r[1]) continue;
    if (*r[0] == kPgRowColumn) {
      *has_row = true;
      continue;
    }
    schema.fields.push_back(
        Field{*r[0], PgTypeToColumnType(static_cast<unsigned>(std::stoul(*r[1]))), true});
  }
  return schema;
}

Result<PgTableStore::StagedQuery> PgTableStore::StageQuery(
    const std::string& dataset, const std::vector<std::string>& input_versions,
    const std::string& output_version, const QueryMaker& make_query) {
  std::lock_guard l(mu_);
  ALAMBIC_ASSIGN_OR_RETURN(PgConnection * c, Conn());
  const std::string context = fmt::format("{}: writing dataset {}", label_, dataset);
  std::vector<Input> inputs;
  for (const auto& v : input_versions) {
    Input in;
    ALAMBIC_ASSIGN_OR_RETURN(in.table, TableOf(*c, v));
    bool has_row = false;
    ALAMBIC_ASSIGN_OR_RETURN(in.schema, Columns(*c, in.table, &has_row));
    if (!has_row)
      return Status::Invalid(
          fmt::format("{}: input table {} has no {} column", context, in.table, kPgRowColumn));
    inputs.push_back(std::move(in));
  }
  ALAMBIC_ASSIGN_OR_RETURN(BoundQuery query, make_query(inputs, *c));
  StagedQuery out;
  out.staged =
      fmt::format("{}{}_{}", kTempPrefix, output_version.substr(0, 16), TempSuffix().substr(0, 16));
  ALAMBIC_ASSIGN_OR_RETURN(std::string q, Qualified(*c, out.staged));
  std::vector<std::optional<std::string>> params(query.params.begin(), query.params.end());
  Status st = c->Query(fmt::format("CREATE TABLE {} AS {}", q, query.sql), params).status();
  bool has_row = false;
  if (st.ok()) {
    auto schema = Columns(*c, q, &has_row);
    if (!schema.ok()) st = schema.status();
    if (st.ok()) out.schema = std::move(*schema);
    if (st.ok() && !has_row)
      st = Status::Internal(fmt::format("the query has no {} column", kPgRowColumn));
  }
  if (st.ok()) {
    auto n = c->Query(
        fmt::format("SELECT count(*), pg_total_relation_size($1::regclass) FROM {}", q), {q});
    if (!n.ok()) st = n.status();
    if (st.ok() && !n->empty() && (*n)[0][0] && (*n)[0][1]) {
      out.rows = std::stoll(*(*n)[0][0]);
      out.bytes = std::stoll(*(*n)[0][1]);
    }
  }
  if (!st.ok()) {
    (void)c->Exec("DROP TABLE IF EXISTS " + q);
    return st.WithContext(context);
  }
  staged_[output_version] = out.staged;
  return out;
}

Result<std::pair<std::string, int64_t>> PgTableStore::Stage(const std::string& dataset,
                                                            const std::string& version,
                                                            const Table& table) {
  std::lock_guard l(mu_);
  ALAMBIC_ASSIGN_OR_RETURN(PgConnection * c, Conn());
  const std::string context = fmt::format("{}: writing dataset {}", label_, dataset);
  const std::string name =
      fmt::format("{}{}_{}", kTempPrefix, version.substr(0, 16), TempSuffix().substr(0, 16));
  ALAMBIC_ASSIGN_OR_RETURN(std::string q, Qualified(*c, name));
  std::string cols;
  for (const auto& f : table.schema().fields) {
    if (f.name == kPgRowColumn)
      return Status::Invalid(fmt::format(
          "{}: column '{}' is reserved by the PostgreSQL store (it keeps the row order); "
          "rename it",
          context, f.name));
    ALAMBIC_ASSIGN_OR_RETURN(std::string col, c->QuoteIdent(f.name));
    cols += fmt::format(", {} {}", col, ColumnTypeToPg(f.type));
  }
  // The rows, and their position in the table (the row order survives the heap).
  ColumnBuilder pos(TypeId::kInt64);
  for (int64_t i = 0; i < table.num_rows(); ++i) pos.AppendInt64(i);
  Schema schema = table.schema();
  schema.fields.push_back(Field{kPgRowColumn, TypeId::kInt64, false});
  std::vector<ColumnPtr> columns = table.columns();
  columns.push_back(pos.Finish());
  ALAMBIC_ASSIGN_OR_RETURN(Table with_rows,
                           Table::Make(std::move(schema), std::move(columns), table.num_rows()));
  Status st = c->Exec(fmt::format("CREATE TABLE {} ({} bigint NOT NULL{})", q, kPgRowColumn, cols));
  if (st.ok()) st = c->CopyIn(q, with_rows, nullptr);
  if (st.ok()) staged_[version] = name;
  if (!st.ok()) {
    (void)c->Exec("DROP TABLE IF EXISTS " + q);
    return st.WithContext(context);
  }
  int64_t bytes = 0;
  auto size = c->Query("SELECT pg_total_relation_size($1::regclass)", {q});
  if (size.ok() && !size->empty() && (*size)[0][0]) bytes = std::stoll(*(*size)[0][0]);
  return std::make_pair(name, bytes);
}

Status PgTableStore::Publish(const std::vector<Item>& batch) {
  if (batch.empty()) return Status::Ok();
  std::lock_guard l(mu_);
  ALAMBIC_ASSIGN_OR_RETURN(PgConnection * c, Conn());
  std::string sql = "BEGIN;\n";
  for (const auto& it : batch) {
    ALAMBIC_ASSIGN_OR_RETURN(std::string from, Qualified(*c, it.staged));
    const std::string table = TableName(it.version);
    ALAMBIC_ASSIGN_OR_RETURN(std::string to, Qualified(*c, table));
    ALAMBIC_ASSIGN_OR_RETURN(std::string to_name, c->QuoteIdent(table));
    ALAMBIC_ASSIGN_OR_RETURN(
        std::string comment,
        c->QuoteLiteral(fmt::format("alambic dataset {} version {}", it.dataset, it.version)));
    // The same version id is the same content: a table already there is replaced.
    sql +=
        fmt::format("DROP TABLE IF EXISTS {};\nALTER TABLE {} RENAME TO {};\n", to, from, to_name);
    sql += fmt::format("COMMENT ON TABLE {} IS {};\n", to, comment);
  }
  sql += "COMMIT;";
  Status st = c->Exec(sql);
  if (!st.ok()) {
    (void)c->Exec("ROLLBACK");
    return st.WithContext(fmt::format("{}: publishing {} version(s)", label_, batch.size()));
  }
  for (const auto& it : batch) staged_.erase(it.version);
  return Status::Ok();
}

void PgTableStore::Discard(const std::string& staged) {
  std::lock_guard l(mu_);
  for (auto it = staged_.begin(); it != staged_.end();) {
    if (it->second == staged)
      it = staged_.erase(it);
    else
      ++it;
  }
  auto c = Conn();
  if (!c.ok()) return;
  auto q = Qualified(**c, staged);
  if (q.ok()) (void)(*c)->Exec("DROP TABLE IF EXISTS " + *q);
}

Result<Table> PgTableStore::Read(const std::string& dataset, const std::string& version) {
  std::lock_guard l(mu_);
  const std::string context = fmt::format("dataset {} version {} ({})", dataset,
                                          version.substr(0, 12), Locate(dataset, version));
  auto c = Conn();
  if (!c.ok()) return c.status().WithContext(context);
  ALAMBIC_ASSIGN_OR_RETURN(std::string q, TableOf(**c, version));
  // Every column but the row position, in the row order.
  auto cols = (*c)->Query(
      "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute "
      "WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped AND attname <> $2",
      {q, std::string(kPgRowColumn)});
  if (!cols.ok()) return cols.status().WithContext(context);
  if (cols->empty() || !(*cols)[0][0])
    return Status::Invalid(fmt::format("{}: the table has no columns", context));
  PgReadOptions o;
  auto r = (*c)->ReadQuery(
      fmt::format("SELECT {} FROM {} ORDER BY {}", *(*cols)[0][0], q, kPgRowColumn), o);
  if (!r.ok()) return r.status().WithContext(context);
  return std::move(r->table);
}

bool PgTableStore::Exists(const std::string&, const std::string& version) {
  std::lock_guard l(mu_);
  auto c = Conn();
  if (!c.ok()) return false;
  auto q = TableOf(**c, version);
  if (!q.ok()) return false;
  auto r = (*c)->Query("SELECT to_regclass($1) IS NOT NULL", {*q});
  return r.ok() && !r->empty() && (*r)[0][0] && *(*r)[0][0] == "t";
}

Status PgTableStore::Remove(const std::string& dataset, const std::string& version) {
  std::lock_guard l(mu_);
  ALAMBIC_ASSIGN_OR_RETURN(PgConnection * c, Conn());
  ALAMBIC_ASSIGN_OR_RETURN(std::string q, Qualified(*c, TableName(version)));
  return c->Exec("DROP TABLE IF EXISTS " + q)
      .WithContext(fmt::format("{}: removing dataset {} version {}", label_, dataset,
                               version.substr(0, 12)));
}

Result<std::vector<TableBackend::Stored>> PgTableStore::List() {
  std::lock_guard l(mu_);
  ALAMBIC_ASSIGN_OR_RETURN(PgConnection * c, Conn());
  ALAMBIC_ASSIGN_OR_RETURN(
      auto rows,
      c->Query("SELECT c.relname, obj_description(c.oid, 'pg_class'), "
               "pg_total_relation_size(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = "
               "c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r' AND "
               "starts_with(c.relname, 'v_')",
               {schema_}));
  std::vector<Stored> out;
  constexpr std::string_view kHead = "alambic dataset ", kVersion = " version ";
  for (const auto& row : rows) {
    if (!row[0] || !row[1]) continue;
    const std::string& comment = *row[1];
    const size_t v = comment.rfind(kVersion);
    if (!comment.starts_with(kHead) || v == std::string::npos || v < kHead.size()) continue;
    Stored s;
    s.dataset = comment.substr(kHead.size(), v - kHead.size());
    s.version = comment.substr(v + kVersion.size());
    // The table must be the one its comment names (not a renamed copy).
    if (s.version.empty() || TableName(s.version) != *row[0]) continue;
    s.bytes = row[2] ? std::stoll(*row[2]) : 0;
    out.push_back(std::move(s));
  }
  return out;
}

int PgTableStore::CleanTemporaries() {
  std::lock_guard l(mu_);
  auto c = Conn();
  if (!c.ok()) return 0;
  auto rows = (*c)->Query(
      "SELECT tablename FROM pg_tables WHERE schemaname = $1 AND starts_with(tablename, $2)",
      {schema_, std::string(kTempPrefix)});
  if (!rows.ok()) return 0;
  int n = 0;
  for (const auto& row : *rows) {
    if (!row[0]) continue;
    auto q = Qualified(**c, *row[0]);
    if (q.ok() && (*c)->Exec("DROP TABLE IF EXISTS " + *q).ok()) ++n;
  }
  return n;
}

}  // namespace alambic
