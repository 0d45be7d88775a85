// The SQL translations of the built-in kinds for push-down to a PostgreSQL
// store (core/recipe/pushdown.h): each gives the query that computes what the
// kind computes locally, with the same columns, types, row order, null and
// collation rules (text compares byte-wise, as the local engine: COLLATE "C").
//
// Translated: sort, distinct, top, group (count, count_distinct, sum, mean,
// min, max, stddev, median, first, last over columns; not expr/where), filter
// and formula (their expressions through ToPostgresSql, core/table/expr.h:
// literals bound as parameters; an expression it cannot write exactly makes
// the recipe run locally).
// Everything else runs in the local engine, its inputs moved through it; WhyNot
// says why. Differences that remain are documented in docs/deployment.md.
#include <fmt/format.h>

#include "core/recipe/pushdown.h"
#include "core/table/expr.h"
#include "recipes/builtin_kinds.h"
#include "recipes/relational.h"

namespace alambic {
namespace {

const Field* FindField(const Schema& s, const std::string& name) {
  for (const auto& f : s.fields)
    if (f.name == name) return &f;
  return nullptr;
}

Result<const Field*> Need(const SqlInputTable& in, const std::string& column) {
  const Field* f = FindField(in.schema, column);
  if (!f)
    return Status::Invalid(fmt::format("column '{}' not in input '{}' (columns: {})", column,
                                       in.dataset, ColumnNames(in.schema)));
  return f;
}

// A column reference that orders like the local engine: text byte-wise.
std::string OrderRef(const SqlQuoter& q, const Field& f, const std::string& prefix = "") {
  std::string ref = prefix + q.Ident(f.name);
  if (f.type == TypeId::kUtf8) ref += " COLLATE \"C\"";
  return ref;
}

std::string AllColumns(const SqlQuoter& q, const Schema& s, const std::string& prefix = "") {
  std::string out;
  for (const auto& f : s.fields) out += (out.empty() ? "" : ", ") + prefix + q.Ident(f.name);
  return out;
}

// "ORDER BY" terms of order params.
Result<std::string> OrderTerms(const SqlInputTable& in, const SqlQuoter& q,
                               const std::vector<OrderTerm>& terms) {
  std::string out;
  for (const auto& t : terms) {
    ALAMBIC_ASSIGN_OR_RETURN(const Field* f, Need(in, t.column));
    out += fmt::format("{}{} {} NULLS {}", out.empty() ? "" : ", ", OrderRef(q, *f),
                       t.descending ? "DESC" : "ASC", t.nulls_first ? "FIRST" : "LAST");
  }
  return out;
}

class PostgresPushdown final : public SqlPushdown {
 public:
  std::string WhyNot(const RecipeSpec& r) const override {
    const std::string& k = r.kind;
    if (k == "sql")
      return "an sql recipe's query is in SQLite's dialect, which is not translated to "
             "PostgreSQL's";
    if (k != "sort" && k != "distinct" && k != "top" && k != "group" && k != "filter" &&
        k != "formula")
      return fmt::format("kind {} has no SQL translation", k);
    if (r.inputs.size() != 1 || r.outputs.size() != 1)
      return fmt::format("{} with {} inputs and {} outputs has no SQL translation", k,
                         r.inputs.size(), r.outputs.size());
    if (k == "filter") {
      auto w = r.params.find("where");
      if (w == r.params.end() || !w->is_string()) return "";  // Translate reports it
      auto e = ParseExpr(w->get<std::string>());
      if (!e.ok()) return "";
      if (std::string why = SqlRefusedCall(*e); !why.empty()) return "filter condition: " + why;
    }
    if (k == "formula") {
      if (r.params.contains("functions"))
        return "formula calls Lua functions, which run in the local engine only";
      auto cols = FormulaColumns(r.params);
      if (!cols.ok()) return "";
      for (const auto& [name, e] : *cols)
        if (std::string why = SqlRefusedCall(e); !why.empty())
          return fmt::format("formula column '{}': {}", name, why);
    }
    if (k == "group") {
      auto aggs = r.params.find("aggregates");
      if (aggs != r.params.end() && aggs->is_array())
        for (const auto& a : *aggs) {
          if (!a.is_object()) continue;
          if (a.contains("expr"))
            return fmt::format(
                "group aggregate '{}' computes an expr, which has no SQL "
                "translation",
                a.value("name", ""));
          if (a.contains("where"))
            return fmt::format(
                "group aggregate '{}' has a where condition, which has no SQL "
                "translation",
                a.value("name", ""));
        }
    }
    return "";
  }

  Result<SqlQuery> Translate(const RecipeSpec& r, const std::vector<SqlInputTable>& inputs,
                             const SqlQuoter& q, const std::string& row) const override {
    if (std::string why = WhyNot(r); !why.empty()) return Status::Invalid(why);
    if (inputs.size() != 1) return Status::Invalid("one input expected");
    const SqlInputTable& in = inputs[0];
    const std::string R = q.Ident(row);
    const std::string cols = AllColumns(q, in.schema);
    const nlohmann::json& p = r.params;
    const std::string& k = r.kind;
    if (k == "sort") {
      ALAMBIC_ASSIGN_OR_RETURN(auto terms, OrderParam(p, "by", true));
      ALAMBIC_ASSIGN_OR_RETURN(std::string order, OrderTerms(in, q, terms));
      // Stable: ties keep the input order.
      return SqlQuery{
          fmt::format("SELECT {}, row_number() OVER (ORDER BY {}, {}) - 1 AS {} FROM {}", cols,
                      order, R, R, in.table),
          {}};
    }
    if (k == "distinct") {
      ALAMBIC_ASSIGN_OR_RETURN(auto names, ColumnListParam(p, "columns", false));
      if (names.empty())
        for (const auto& f : in.schema.fields) names.push_back(f.name);
      std::string part;
      for (const auto& n : names) {
        ALAMBIC_ASSIGN_OR_RETURN(const Field* f, Need(in, n));
        part += (part.empty() ? "" : ", ") + q.Ident(f->name);
      }
      // The first row of each combination, in input order.
      return SqlQuery{
          fmt::format("SELECT {0}, {1} FROM (SELECT {0}, {1}, row_number() OVER (PARTITION BY "
                      "{2} ORDER BY {1}) AS alambic_n FROM {3}) s WHERE alambic_n = 1",
                      cols, R, part, in.table),
          {}};
    }
    if (k == "top") {
      auto n = p.find("n");
      if (n == p.end() || !n->is_number_integer() || n->get<int64_t>() < 1)
        return Status::Invalid("param 'n': must be an integer of at least 1");
      ALAMBIC_ASSIGN_OR_RETURN(auto terms, OrderParam(p, "by", true));
      ALAMBIC_ASSIGN_OR_RETURN(auto keys, ColumnListParam(p, "keys", false));
      ALAMBIC_ASSIGN_OR_RETURN(std::string order, OrderTerms(in, q, terms));
      std::string part, key_order;
      for (const auto& name : keys) {
        ALAMBIC_ASSIGN_OR_RETURN(const Field* f, Need(in, name));
        part += (part.empty() ? "" : ", ") + q.Ident(f->name);
        key_order += OrderRef(q, *f) + " ASC NULLS FIRST, ";
      }
      return SqlQuery{
          fmt::format("SELECT {0}, row_number() OVER (ORDER BY {1}{2}, {3}) - 1 AS {3} FROM "
                      "(SELECT {0}, {3}, "
                      "row_number() OVER ({4}ORDER BY {2}, {3}) AS alambic_n FROM {5}) s WHERE "
                      "alambic_n <= "
                      "{6}",
                      cols, key_order, order, R, part.empty() ? "" : "PARTITION BY " + part + " ",
                      in.table, n->get<int64_t>()),
          {}};
    }
    if (k == "filter") return Filter(r, in, q, R);
    if (k == "formula") return Formula(r, in, q, R);
    ALAMBIC_ASSIGN_OR_RETURN(std::string group, Group(r, in, q, R));
    return SqlQuery{std::move(group), {}};
  }

 private:
  // A column of the input table, aliased t.
  static SqlColumnRef InputColumn(const SqlQuoter& q, const std::string& alias) {
    return [&q, alias](const std::string& name) { return alias + "." + q.Ident(name); };
  }

  Result<SqlQuery> Filter(const RecipeSpec& r, const SqlInputTable& in, const SqlQuoter& q,
                          const std::string& R) const {
    const nlohmann::json& p = r.params;
    auto w = p.find("where");
    if (w == p.end() || !w->is_string()) return Status::Invalid("param 'where': is required");
    ALAMBIC_ASSIGN_OR_RETURN(TypedExpr e, Compile(w->get<std::string>(), in.schema));
    if (e.type() != TypeId::kBool) return Status::Invalid("the condition must be bool");
    SqlQuery out;
    ALAMBIC_ASSIGN_OR_RETURN(std::string cond, ToPostgresSql(e, InputColumn(q, "t"), &out.params));
    std::vector<std::string> keep;
    if (auto k = p.find("keep"); k != p.end()) {
      ALAMBIC_ASSIGN_OR_RETURN(keep, ColumnListParam(p, "keep", false));
    } else {
      for (const auto& f : in.schema.fields) keep.push_back(f.name);
    }
    std::string cols;
    for (const auto& name : keep) {
      ALAMBIC_ASSIGN_OR_RETURN(const Field* f, Need(in, name));
      cols += "t." + q.Ident(f->name) + ", ";
    }
    // The kept rows keep their positions: the output's order is the input's.
    out.sql = fmt::format("SELECT {}t.{} FROM {} AS t WHERE {}", cols, R, in.table, cond);
    return out;
  }

  // One nested SELECT per computed column, each over the previous one.
  Result<SqlQuery> Formula(const RecipeSpec& r, const SqlInputTable& in, const SqlQuoter& q,
                           const std::string& R) const {
    ALAMBIC_ASSIGN_OR_RETURN(auto computed, FormulaColumns(r.params));
    SqlQuery out;
    Schema schema = in.schema;
    std::string from = in.table;
    for (const auto& [name, expr] : computed) {
      if (q.Ident(name) == R) return Status::Invalid(fmt::format("column name {} is reserved", R));
      ALAMBIC_ASSIGN_OR_RETURN(TypedExpr e, Compile(expr, schema));
      auto sql = ToPostgresSql(e, InputColumn(q, "t"), &out.params);
      if (!sql.ok()) return sql.status().WithContext(fmt::format("formula column '{}'", name));
      std::string select;
      bool replaced = false;
      for (auto& f : schema.fields) {
        if (f.name == name) {
          select += fmt::format("{} AS {}, ", *sql, q.Ident(name));
          f.type = e.type();
          replaced = true;
        } else {
          select += "t." + q.Ident(f.name) + ", ";
        }
      }
      if (!replaced) {
        select += fmt::format("{} AS {}, ", *sql, q.Ident(name));
        schema.fields.push_back({name, e.type()});
      }
      from = fmt::format("(SELECT {}t.{} FROM {} AS t)", select, R, from);
    }
    // The outermost SELECT, without its parentheses.
    out.sql = from.substr(1, from.size() - 2);
    return out;
  }

  Result<std::string> Group(const RecipeSpec& r, const SqlInputTable& in, const SqlQuoter& q,
                            const std::string& R) const {
    const nlohmann::json& p = r.params;
    ALAMBIC_ASSIGN_OR_RETURN(auto keys, ColumnListParam(p, "keys", false));
    std::string select, group, order;
    for (const auto& name : keys) {
      ALAMBIC_ASSIGN_OR_RETURN(const Field* f, Need(in, name));
      select += (select.empty() ? "" : ", ") + q.Ident(f->name);
      group += (group.empty() ? "" : ", ") + q.Ident(f->name);
      order += (order.empty() ? "" : ", ") + OrderRef(q, *f) + " ASC NULLS FIRST";
    }
    auto aggs = p.find("aggregates");
    if (aggs != p.end() && aggs->is_array()) {
      for (const auto& a : *aggs) {
        if (!a.is_object() || !a.contains("name") || !a.contains("fn"))
          return Status::Invalid("malformed aggregate");
        const std::string name = a["name"].get<std::string>();
        const std::string fn = a["fn"].get<std::string>();
        const Field* f = nullptr;
        if (a.contains("column")) {
          ALAMBIC_ASSIGN_OR_RETURN(f, Need(in, a["column"].get<std::string>()));
        }
        const std::string c = f ? q.Ident(f->name) : "";
        const TypeId t = f ? f->type : TypeId::kInt64;
        const bool numeric = t == TypeId::kInt64 || t == TypeId::kFloat64 || t == TypeId::kBool;
        // Booleans count as 0 and 1 in sums and means, as locally.
        const std::string num = t == TypeId::kBool ? c + "::int" : c;
        std::string e;
        if (fn != "count" && !f) return Status::Invalid(fn + " needs a column");
        if (fn == "count") {
          e = f ? fmt::format("count({})", c) : "count(*)";
        } else if (fn == "count_distinct" || fn == "nunique") {
          e = fmt::format("count(DISTINCT {})", c);
        } else if (fn == "sum" && numeric) {
          // Exact in numeric; null when the sum does not fit an int64 (the local engine's
          // null on overflow).
          e = t == TypeId::kFloat64 ? fmt::format("sum({})", c)
                                    : fmt::format(
                                          "CASE WHEN sum({0}) BETWEEN -9223372036854775808 AND "
                                          "9223372036854775807 THEN sum({0})::bigint END",
                                          num);
        } else if ((fn == "mean" || fn == "avg") && numeric) {
          e = fmt::format("avg({})::float8", num);
        } else if ((fn == "stddev" || fn == "std") && numeric) {
          e = fmt::format("stddev_samp({})::float8", num);
        } else if (fn == "median" && numeric) {
          e = fmt::format("percentile_cont(0.5) WITHIN GROUP (ORDER BY {})::float8", num);
        } else if (fn == "min" || fn == "max") {
          if (t == TypeId::kBool)
            e = fmt::format("{}({})", fn == "min" ? "bool_and" : "bool_or", c);
          else
            e = fmt::format("{}({}{})", fn, c, t == TypeId::kUtf8 ? " COLLATE \"C\"" : "");
        } else if (fn == "first" || fn == "last") {
          e = fmt::format("(array_agg({0} ORDER BY {1} {2}) FILTER (WHERE {0} IS NOT NULL))[1]", c,
                          R, fn == "first" ? "ASC" : "DESC");
        } else {
          return Status::Invalid(fmt::format("fn {} over a {} column", fn, TypeName(t)));
        }
        select += fmt::format("{}{} AS {}", select.empty() ? "" : ", ", e, q.Ident(name));
      }
    }
    if (keys.empty()) return fmt::format("SELECT {}, 0::bigint AS {} FROM {}", select, R, in.table);
    return fmt::format("SELECT {}, row_number() OVER (ORDER BY {}) - 1 AS {} FROM {} GROUP BY {}",
                       select, order, R, in.table, group);
  }
};

}  // namespace

std::unique_ptr<SqlPushdown> MakePostgresPushdown() { return std::make_unique<PostgresPushdown>(); }

}  // namespace alambic
