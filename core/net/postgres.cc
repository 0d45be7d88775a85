#include "core/net/postgres.h"

#include <libpq-fe.h>

#include <charconv>
#include <cmath>
#include <cstring>
#include <set>

#include <fmt/format.h>

#include "core/base/hash.h"

namespace alambic {
namespace {

constexpr int64_t kProgressRows = 8192;
constexpr size_t kCopyInBatchBytes = 1 << 20;

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

// The server's message of a failed result: primary, detail, hint, context.
std::string ResultMessage(const PGresult* r) {
  auto field = [&](int code) {
    const char* v = PQresultErrorField(r, code);
    return v ? std::string(v) : std::string();
  };
  std::string msg = field(PG_DIAG_MESSAGE_PRIMARY);
  if (msg.empty()) {
    msg = PQresultErrorMessage(r);
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  }
  if (auto d = field(PG_DIAG_MESSAGE_DETAIL); !d.empty()) msg += " (" + d + ")";
  if (auto h = field(PG_DIAG_MESSAGE_HINT); !h.empty()) msg += "; hint: " + h;
  if (auto c = field(PG_DIAG_CONTEXT); !c.empty()) msg += "; " + c;
  return msg;
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

// Undoes COPY's text escapes in place (\b \f \n \r \t \v \\ \ooo \xhh).
void Unescape(std::string_view in, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c != '\\' || i + 1 >= in.size()) {
      out->push_back(c);
      continue;
    }
    char e = in[++i];
    switch (e) {
      case 'b':
        out->push_back('\b');
        break;
      case 'f':
        out->push_back('\f');
        break;
      case 'n':
        out->push_back('\n');
        break;
      case 'r':
        out->push_back('\r');
        break;
      case 't':
        out->push_back('\t');
        break;
      case 'v':
        out->push_back('\v');
        break;
      case 'x': {
        int v = 0, n = 0;
        while (n < 2 && i + 1 < in.size() && std::isxdigit(static_cast<unsigned char>(in[i + 1]))) {
          const char h = in[++i];
          v = v * 16 + (std::isdigit(static_cast<unsigned char>(h)) ? h - '0'
                                                                    : (std::tolower(h) - 'a' + 10));
          ++n;
        }
        if (n == 0)
          out->push_back('x');
        else
          out->push_back(static_cast<char>(v));
        break;
      }
      default:
        if (e >= '0' && e <= '7') {
          int v = e - '0', n = 1;
          while (n < 3 && i + 1 < in.size() && in[i + 1] >= '0' && in[i + 1] <= '7') {
            v = v * 8 + (in[++i] - '0');
            ++n;
          }
          out->push_back(static_cast<char>(v));
        } else {
          out->push_back(e);
        }
    }
  }
}

bool ParseFixed(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

// "YYYY-MM-DD" (DateStyle ISO, no BC, no infinity) -> days since the epoch.
bool ParseDate(std::string_view s, int32_t* days) {
  int y, m, d;
  if (s.size() != 10 || s[4] != '-' || s[7] != '-' || !ParseFixed(s, 0, 4, &y) ||
      !ParseFixed(s, 5, 2, &m) || !ParseFixed(s, 8, 2, &d))
    return false;
  *days = DaysFromCivil(y, static_cast<unsigned>(m), static_cast<unsigned>(d));
  return true;
}

// "YYYY-MM-DD HH:MM:SS[.ffffff][+HH[:MM[:SS]]]" -> microseconds since the epoch, UTC.
bool ParsePgTimestamp(std::string_view s, int64_t* micros) {
  int32_t days;
  int hh, mi, ss;
  if (s.size() < 19 || s[10] != ' ' || !ParseDate(s.substr(0, 10), &days) ||
      !ParseFixed(s, 11, 2, &hh) || s[13] != ':' || !ParseFixed(s, 14, 2, &mi) || s[16] != ':' ||
      !ParseFixed(s, 17, 2, &ss))
    return false;
  size_t i = 19;
  int64_t frac = 0;
  if (i < s.size() && s[i] == '.') {
    int digits = 0;
    ++i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      if (digits < 6) frac = frac * 10 + (s[i] - '0');
      ++digits;
      ++i;
    }
    if (digits == 0) return false;
    for (; digits < 6; ++digits) frac *= 10;
  }
  int64_t offset = 0;
  if (i < s.size()) {
    if (s[i] != '+' && s[i] != '-') return false;
    const int sign = s[i] == '-' ? -1 : 1;
    int oh = 0, om = 0, os = 0;
    if (!ParseFixed(s, i + 1, 2, &oh)) return false;
    i += 3;
    if (i < s.size()) {
      if (s[i] != ':' || !ParseFixed(s, i + 1, 2, &om)) return false;
      i += 3;
    }
    if (i < s.size()) {
      if (s[i] != ':' || !ParseFixed(s, i + 1, 2, &os)) return false;
      i += 3;
    }
    if (i != s.size()) return false;
    offset = sign * (oh * 3600 + om * 60 + os);
  }
  const int64_t secs = static_cast<int64_t>(days) * 86400 + hh * 3600 + mi * 60 + ss - offset;
  *micros = secs * 1000000 + frac;
  return true;
}

bool ParseDouble(std::string_view s, double* out) {
  if (s == "NaN") {
    *out = std::nan("");
    return true;
  }
  if (s == "Infinity") {
    *out = HUGE_VAL;
    return true;
  }
  if (s == "-Infinity") {
    *out = -HUGE_VAL;
    return true;
  }
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

// Appends one field's text to `b` as the column's type; false when it does not parse.
bool AppendValue(ColumnBuilder& b, TypeId type, unsigned oid, const std::string& v) {
  switch (type) {
    case TypeId::kInt64: {
      int64_t x;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
      if (ec != std::errc() || p != v.data() + v.size()) return false;
      b.AppendInt64(x);
      return true;
    }
    case TypeId::kFloat64: {
      double x;
      if (!ParseDouble(v, &x)) return false;
      if (oid == pg_oid::kFloat4 && !std::isnan(x) && !std::isinf(x)) {
        // float4's shortest text, read as float then widened: 0.1::float4 -> 0.1f.
        x = static_cast<double>(static_cast<float>(x));
      }
      b.AppendDouble(x);
      return true;
    }
    case TypeId::kBool:
      if (v == "t")
        b.AppendBool(true);
      else if (v == "f")
        b.AppendBool(false);
      else
        return false;
      return true;
    case TypeId::kDate32: {
      int32_t d;
      if (!ParseDate(v, &d)) return false;
      b.AppendDate32(d);
      return true;
    }
    case TypeId::kTimestamp: {
      int64_t t;
      if (!ParsePgTimestamp(v, &t)) return false;
      b.AppendTimestamp(t);
      return true;
    }
    case TypeId::kUtf8:
      b.AppendString(v);
      return true;
  }
  return false;
}

// COPY text escaping of one cell.
void EscapeText(std::string_view v, std::string* out) {
  for (char c : v) {
    switch (c) {
      case '\\':
        out->append("\\\\");
        break;
      case '\t':
        out->append("\\t");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      default:
        out->push_back(c);
    }
  }
}

std::string FormatDouble(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  return fmt::format("{}", d);
}

std::string StripQuery(std::string q) {
  while (!q.empty() && (std::isspace(static_cast<unsigned char>(q.back())) || q.back() == ';'))
    q.pop_back();
  return q;
}

}  // namespace

TypeId PgTypeToColumnType(unsigned oid) {
  switch (oid) {
    case pg_oid::kInt2:
    case pg_oid::kInt4:
    case pg_oid::kInt8:
    case pg_oid::kOid:
      return TypeId::kInt64;
    case pg_oid::kFloat4:
    case pg_oid::kFloat8:
    case pg_oid::kNumeric:
      return TypeId::kFloat64;
    case pg_oid::kBool:
      return TypeId::kBool;
    case pg_oid::kDate:
      return TypeId::kDate32;
    case pg_oid::kTimestamp:
    case pg_oid::kTimestamptz:
      return TypeId::kTimestamp;
    default:
      return TypeId::kUtf8;
  }
}

const char* ColumnTypeToPg(TypeId type) {
  switch (type) {
    case TypeId::kInt64:
      return "bigint";
    case TypeId::kFloat64:
      return "double precision";
    case TypeId::kBool:
      return "boolean";
    case TypeId::kUtf8:
      return "text";
    case TypeId::kDate32:
      return "date";
    case TypeId::kTimestamp:
      return "timestamptz";
  }
  return "text";
}

Result<std::unique_ptr<PgConnection>> PgConnection::Connect(const PgConnectOptions& o) {
  std::vector<const char*> keys, values;
  const std::string timeout = std::to_string(o.connect_timeout_seconds);
  auto add = [&](const char* k, const std::string& v) {
    if (v.empty()) return;
    keys.push_back(k);
    values.push_back(v.c_str());
  };
  add("host", o.host);
  add("port", o.port);
  add("dbname", o.dbname);
  add("user", o.user);
  add("password", o.password);
  add("sslmode", o.sslmode);
  add("sslrootcert", o.sslrootcert);
  add("sslcert", o.sslcert);
  add("sslkey", o.sslkey);
  add("connect_timeout", timeout);
  static const std::string kApp = "alambic";
  static const std::string kOptions =
      "-c client_encoding=UTF8 -c DateStyle=ISO -c TimeZone=UTC -c extra_float_digits=3 "
      "-c IntervalStyle=iso_8601 -c client_min_messages=warning";
  add("application_name", kApp);
  add("options", kOptions);
  keys.push_back(nullptr);
  values.push_back(nullptr);
  PGconn* conn = PQconnectdbParams(keys.data(), values.data(), 0);
  if (!conn) return Status::IoError(fmt::format("{}: out of memory connecting", o.label));
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string msg = Trim(PQerrorMessage(conn));
    PQfinish(conn);
    // libpq's messages name the host and port, never the password; be sure.
    if (!o.password.empty())
      for (size_t at; (at = msg.find(o.password)) != std::string::npos;)
        msg.replace(at, o.password.size(), "***");
    return Status::IoError(fmt::format("{}: cannot connect: {}", o.label, msg));
  }
  return std::unique_ptr<PgConnection>(new PgConnection(conn, o.label));
}

PgConnection::~PgConnection() {
  if (conn_) PQfinish(conn_);
}

Status PgConnection::Error(std::string_view what) const {
  return Status::IoError(fmt::format("{}: {}: {}", label_, what, Trim(PQerrorMessage(conn_))));
}

Status PgConnection::Exec(const std::string& sql) {
  ResultPtr r(PQexec(conn_, sql.c_str()));
  if (!r) return Error("query failed");
  const auto st = PQresultStatus(r.get());
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
    return Status::Failed(fmt::format("{}: {}", label_, ResultMessage(r.get())));
  return Status::Ok();
}

Result<std::vector<PgConnection::Row>> PgConnection::Query(
    const std::string& sql, const std::vector<std::optional<std::string>>& params) {
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  ResultPtr r(PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr,
                           values.data(), nullptr, nullptr, 0));
  if (!r) return Error("query failed");
  const auto st = PQresultStatus(r.get());
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
    return Status::Failed(fmt::format("{}: {}", label_, ResultMessage(r.get())));
  std::vector<Row> rows;
  const int n = PQntuples(r.get()), m = PQnfields(r.get());
  for (int i = 0; i < n; ++i) {
    Row row;
    for (int j = 0; j < m; ++j)
      row.push_back(PQgetisnull(r.get(), i, j)
                        ? std::nullopt
                        : std::optional<std::string>(PQgetvalue(r.get(), i, j)));
    rows.push_back(std::move(row));
  }
  return rows;
}

Result<std::string> PgConnection::QuoteIdent(std::string_view name) const {
  char* q = PQescapeIdentifier(conn_, name.data(), name.size());
  if (!q) return Error(fmt::format("cannot quote identifier '{}'", name));
  std::string out(q);
  PQfreemem(q);
  return out;
}

Result<std::string> PgConnection::QuoteLiteral(std::string_view value) const {
  char* q = PQescapeLiteral(conn_, value.data(), value.size());
  if (!q) return Error("cannot quote a literal");
  std::string out(q);
  PQfreemem(q);
  return out;
}

Result<PgQueryResult> PgConnection::ReadQuery(const std::string& raw_query,
                                              const PgReadOptions& o) {
  const std::string query = StripQuery(raw_query);
  if (query.empty()) return Status::Invalid(fmt::format("{}: the query is empty", label_));
  ALAMBIC_RETURN_IF_ERROR(Exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"));
  struct Rollback {
    PgConnection* c;
    bool done = false;
    ~Rollback() {
      if (!done) (void)c->Exec("ROLLBACK");
    }
  } rollback{this};

  // The result's column names and types, from the unnamed prepared statement.
  {
    ResultPtr prep(PQprepare(conn_, "", query.c_str(), 0, nullptr));
    if (!prep || PQresultStatus(prep.get()) != PGRES_COMMAND_OK)
      return Status::Invalid(fmt::format("{}: the query does not prepare: {}", label_,
                                         prep ? ResultMessage(prep.get()) : "no result"));
  }
  ResultPtr desc(PQdescribePrepared(conn_, ""));
  if (!desc || PQresultStatus(desc.get()) != PGRES_COMMAND_OK)
    return Status::Invalid(fmt::format("{}: cannot describe the query: {}", label_,
                                       desc ? ResultMessage(desc.get()) : "no result"));
  const int ncols = PQnfields(desc.get());
  if (ncols == 0)
    return Status::Invalid(
        fmt::format("{}: the query returns no columns (collect needs a SELECT)", label_));
  Schema schema;
  std::vector<unsigned> oids;
  std::vector<ColumnBuilder> builders;
  Hasher h;
  h.Field("pg copy text v1");
  std::set<std::string> names;
  for (int j = 0; j < ncols; ++j) {
    std::string name = PQfname(desc.get(), j);
    const unsigned oid = PQftype(desc.get(), j);
    if (!names.insert(name).second)
      return Status::Invalid(
          fmt::format("{}: the query returns two columns named '{}' (give them distinct aliases)",
                      label_, name));
    const TypeId type = PgTypeToColumnType(oid);
    schema.fields.push_back(Field{name, type, true});
    oids.push_back(oid);
    builders.emplace_back(type);
    h.Field(name).Field(std::to_string(oid));
  }
  desc.reset();

  const std::string copy = "COPY (" + query + ") TO STDOUT";
  ResultPtr start(PQexec(conn_, copy.c_str()));
  if (!start || PQresultStatus(start.get()) != PGRES_COPY_OUT)
    return Status::Invalid(fmt::format("{}: the query cannot be read: {}", label_,
                                       start ? ResultMessage(start.get()) : "no result"));
  start.reset();

  PgQueryResult out;
  std::string cell;
  std::vector<std::string_view> fields;
  Status failure = Status::Ok();
  for (;;) {
    char* buf = nullptr;
    const int n = PQgetCopyData(conn_, &buf, 0);
    if (n == -1) break;  // done
    if (n == -2) return Error("reading the query's rows failed");
    std::string_view line(buf, static_cast<size_t>(n));
    out.bytes += n;
    h.Raw(buf, static_cast<size_t>(n));
    if (failure.ok() && o.build_table) {
      if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
      fields.clear();
      size_t pos = 0;
      for (;;) {
        const size_t tab = line.find('\t', pos);
        fields.push_back(line.substr(pos, tab == std::string_view::npos ? tab : tab - pos));
        if (tab == std::string_view::npos) break;
        pos = tab + 1;
      }
      if (static_cast<int>(fields.size()) != ncols) {
        failure = Status::Internal(fmt::format("{}: row {} has {} fields, expected {}", label_,
                                               out.rows + 1, fields.size(), ncols));
      } else {
        for (int j = 0; j < ncols; ++j) {
          if (fields[j] == "\\N") {
            builders[j].AppendNull();
            continue;
          }
          Unescape(fields[j], &cell);
          if (!AppendValue(builders[j], schema.fields[j].type, oids[j], cell)) {
            failure = Status::Invalid(fmt::format(
                "{}: column '{}' row {}: value '{}' does not fit a {} column (cast it in the "
                "query, e.g. to text)",
                label_, schema.fields[j].name, out.rows + 1, cell.substr(0, 40),
                TypeName(schema.fields[j].type)));
            break;
          }
        }
      }
    }
    PQfreemem(buf);
    ++out.rows;
    if (out.rows % kProgressRows == 0) {
      if (o.progress) o.progress(out.rows);
      if (o.cancel && o.cancel->cancelled()) {
        // Ask the server to stop, then drain what it already sent.
        if (PGcancel* c = PQgetCancel(conn_)) {
          char err[256];
          PQcancel(c, err, sizeof err);
          PQfreeCancel(c);
        }
        for (;;) {
          char* rest = nullptr;
          const int k = PQgetCopyData(conn_, &rest, 0);
          if (rest) PQfreemem(rest);
          if (k < 0) break;
        }
        while (PGresult* r = PQgetResult(conn_)) PQclear(r);
        return o.cancel->AsStatus();
      }
    }
  }
  ResultPtr end(PQgetResult(conn_));
  if (!end || PQresultStatus(end.get()) != PGRES_COMMAND_OK) {
    Status s = Status::Failed(fmt::format("{}: the query failed: {}", label_,
                                          end ? ResultMessage(end.get()) : "no result"));
    while (PGresult* r = PQgetResult(conn_)) PQclear(r);
    return s;
  }
  while (PGresult* r = PQgetResult(conn_)) PQclear(r);
  if (!failure.ok()) return failure;
  rollback.done = true;
  ALAMBIC_RETURN_IF_ERROR(Exec("COMMIT"));
  out.digest = h.HexDigest();
  if (o.build_table) {
    std::vector<ColumnPtr> cols;
    for (auto& b : builders) cols.push_back(b.Finish());
    ALAMBIC_ASSIGN_OR_RETURN(out.table, Table::Make(std::move(schema), std::move(cols), out.rows));
  }
  return out;
}

Status PgConnection::CopyIn(const std::string& qualified, const Table& t,
                            const CancelToken* cancel) {
  std::string cols;
  for (const auto& f : t.schema().fields) {
    ALAMBIC_ASSIGN_OR_RETURN(std::string q, QuoteIdent(f.name));
    cols += (cols.empty() ? "" : ", ") + q;
  }
  const std::string sql = fmt::format("COPY {} ({}) FROM STDIN", qualified, cols);
  ResultPtr start(PQexec(conn_, sql.c_str()));
  if (!start || PQresultStatus(start.get()) != PGRES_COPY_IN)
    return Status::Failed(fmt::format("{}: cannot load {}: {}", label_, qualified,
                                      start ? ResultMessage(start.get()) : "no result"));
  start.reset();
  auto abort = [&](const std::string& why) {
    PQputCopyEnd(conn_, why.c_str());
    while (PGresult* r = PQgetResult(conn_)) PQclear(r);
  };
  std::string buf;
  const int ncols = t.num_columns();
  for (int64_t i = 0; i < t.num_rows(); ++i) {
    for (int j = 0; j < ncols; ++j) {
      if (j) buf.push_back('\t');
      const Column& c = *t.column(j);
      if (c.IsNull(i)) {
        buf.append("\\N");
        continue;
      }
      switch (c.type) {
        case TypeId::kFloat64:
          buf.append(FormatDouble(c.Double(i)));
          break;
        case TypeId::kUtf8: {
          const std::string_view s = c.String(i);
          if (s.find('\0') != std::string_view::npos) {
            const std::string why = fmt::format(
                "column '{}' row {}: text holds a NUL character, which PostgreSQL cannot store",
                t.schema().fields[static_cast<size_t>(j)].name, i + 1);
            abort(why);
            return Status::Invalid(fmt::format("{}: {}", label_, why));
          }
          EscapeText(s, &buf);
          break;
        }
        case TypeId::kBool:
          buf.push_back(c.Bool(i) ? 't' : 'f');
          break;
        default:
          EscapeText(FormatCell(c, i), &buf);
      }
    }
    buf.push_back('\n');
    if (buf.size() >= kCopyInBatchBytes || i + 1 == t.num_rows()) {
      if (cancel && cancel->cancelled()) {
        abort("cancelled");
        return cancel->AsStatus();
      }
      if (PQputCopyData(conn_, buf.data(), static_cast<int>(buf.size())) != 1) {
        Status s = Error(fmt::format("loading {} failed", qualified));
        abort("send failed");
        return s;
      }
      buf.clear();
    }
  }
  if (PQputCopyEnd(conn_, nullptr) != 1) return Error(fmt::format("loading {} failed", qualified));
  ResultPtr end(PQgetResult(conn_));
  Status s = Status::Ok();
  if (!end || PQresultStatus(end.get()) != PGRES_COMMAND_OK)
    s = Status::Failed(fmt::format("{}: loading {} failed: {}", label_, qualified,
                                   end ? ResultMessage(end.get()) : "no result"));
  end.reset();
  while (PGresult* r = PQgetResult(conn_)) PQclear(r);
  return s;
}

}  // namespace alambic
