// The SQL translations of the built-in kinds for push-down to a PostgreSQL
// store (core/recipe/pushdown.h): each gives the query that computes what the
// kind computes locally, with the same columns, types, row order, null and
// collation rules (text compares byte-wise, as the local engine: COLLATE "C").
//
// Translated: sort, distinct, top, group (count, count_distinct, sum, mean,
// min, max, stddev, median, first, last over columns; not expr/where), filter
// and formula (their expressions through ToPostgresSql, core/table/expr.h:
// literals bound as parameters; an expression it cannot write exactly makes
// the recipe run locally), join (not normalize, one output) and window (not
// sum/mean over float64).
// Everything else runs in the local engine, its inputs moved through it; WhyNot
// says why. Differences that remain are documented in docs/deployment.md.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <limits>
#include <set>

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

// The position after the last character of `sql` that is neither a space
// nor in a comment (quoted text, quoted names and dollar quotes are skipped
// whole, whatever they hold).
size_t CodeEnd(const std::string& sql) {
  auto word = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' ||
           static_cast<unsigned char>(c) >= 0x80;
  };
  const size_t n = sql.size();
  size_t end = 0, i = 0;
  while (i < n) {
    const char c = sql[i];
    if (c == '-' && i + 1 < n && sql[i + 1] == '-') {
      const size_t eol = sql.find('\n', i);
      i = eol == std::string::npos ? n : eol + 1;
    } else if (c == '/' && i + 1 < n && sql[i + 1] == '*') {
      const size_t close = sql.find("*/", i + 2);
      i = close == std::string::npos ? n : close + 2;
    } else if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (c == '\'' || c == '"') {
      // To the closing quote; a doubled quote stands for itself.
      size_t k = i + 1;
      while (k < n && (sql[k] != c || (k + 1 < n && sql[k + 1] == c))) k += sql[k] == c ? 2 : 1;
      i = end = std::min(n, k + 1);
    } else if (c == '$' && (i == 0 || !word(sql[i - 1])) && i + 1 < n &&
               !std::isdigit(static_cast<unsigned char>(sql[i + 1]))) {
      size_t k = i + 1;
      while (k < n && word(sql[k])) ++k;
      if (k < n && sql[k] == '$') {  // $tag$ ... $tag$
        const std::string tag = sql.substr(i, k - i + 1);
        const size_t close = sql.find(tag, k + 1);
        i = end = close == std::string::npos ? n : close + tag.size();
      } else {
        i = end = i + 1;
      }
    } else {
      i = end = i + 1;
    }
  }
  return end;
}

class PostgresPushdown final : public SqlPushdown {
 public:
  std::string WhyNot(const RecipeSpec& r) const override {
    const std::string& k = r.kind;
    if (k == "sql") {
      if (r.params.is_object() && r.params.value("dialect", "") == "postgres") {
        if (r.inputs.empty() || r.outputs.size() != 1) return "sql with no input or two outputs";
        return "";
      }
      return "sql: the query is SQLite's dialect; it runs in the local engine (dialect: "
             "postgres runs a PostgreSQL query inside the store)";
    }
    if (k != "sort" && k != "distinct" && k != "top" && k != "group" && k != "filter" &&
        k != "formula" && k != "join" && k != "window")
      return fmt::format("kind {} has no SQL translation", k);
    if (k == "join") return JoinWhyNot(r);
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
    if (r.kind == "join") return Join(r, inputs, q, row);
    if (r.kind == "sql") return Sql(r, inputs, q, row);
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
    if (k == "window") return Window(r, in, q, R);
    if (k == "filter") return Filter(r, in, q, R);
    if (k == "formula") return Formula(r, in, q, R);
    ALAMBIC_ASSIGN_OR_RETURN(std::string group, Group(r, in, q, R));
    return SqlQuery{std::move(group), {}};
  }

 private:
  // --- join: recipes/join.cc's semantics. A null key never matches (SQL's =);
  // float64 keys: -0.0 = 0.0 and NaN = NaN in both engines; text keys compare
  // byte by byte (PostgreSQL's = on text is byte equality).

  static std::string JoinWhyNot(const RecipeSpec& r) {
    if (r.inputs.size() != 2) return "join needs two inputs";
    if (r.outputs.size() != 1)
      return "join with a second output (the left rows without a match) runs in the local "
             "engine: a push-down writes one output";
    if (r.params.is_object() && r.params.contains("normalize"))
      return "join with normalize: keys are compared after Alambic's own normalisation "
             "(trim, lower, strip_accents, name), which PostgreSQL does not compute alike";
    return "";
  }

  Result<SqlQuery> Join(const RecipeSpec& r, const std::vector<SqlInputTable>& inputs,
                        const SqlQuoter& q, const std::string& row) const {
    if (inputs.size() != 2) return Status::Invalid("two inputs expected");
    const SqlInputTable& L = inputs[0];
    const SqlInputTable& Rt = inputs[1];
    // The local kind's own reading of its params (recipes/relational.h).
    ALAMBIC_ASSIGN_OR_RETURN(JoinParams jp, ParseJoinParams(r.params));
    const JoinType type = jp.type;
    const std::vector<std::string>& left_on = jp.left_on;
    const std::vector<std::string>& right_on = jp.right_on;
    const bool same_names = jp.same_names;
    const ClashNaming& naming = jp.naming;
    const std::string& right_prefix = jp.right_prefix;
    // Keys: positions in each input, equal types (as the local engine demands).
    std::vector<int> lkeys, rkeys;
    std::string cond;
    for (size_t k = 0; k < left_on.size(); ++k) {
      ALAMBIC_ASSIGN_OR_RETURN(const Field* lf, Need(L, left_on[k]));
      ALAMBIC_ASSIGN_OR_RETURN(const Field* rf, Need(Rt, right_on[k]));
      if (lf->type != rf->type)
        return Status::Invalid(fmt::format(
            "key '{}' is {} in input '{}' but key '{}' is {} in "
            "input '{}'",
            lf->name, TypeName(lf->type), L.dataset, rf->name, TypeName(rf->type), Rt.dataset));
      lkeys.push_back(static_cast<int>(lf - L.schema.fields.data()));
      rkeys.push_back(static_cast<int>(rf - Rt.schema.fields.data()));
      cond += fmt::format("{}l.{} = r.{}", cond.empty() ? "" : " AND ", q.Ident(lf->name),
                          q.Ident(rf->name));
    }
    const bool with_right = type != JoinType::kAnti && type != JoinType::kSemi;
    auto left_key_of = [&](int li) {  // the right key paired with an `on` key, or -1
      if (!same_names) return -1;
      for (size_t k = 0; k < lkeys.size(); ++k)
        if (lkeys[k] == li) return rkeys[k];
      return -1;
    };
    auto right_is_on_key = [&](int ri) {
      return same_names && std::find(rkeys.begin(), rkeys.end(), ri) != rkeys.end();
    };
    // The output columns, named as the local engine names them.
    struct OutCol {
      std::string name;
      int left = -1, right = -1;
    };
    std::vector<OutCol> outs;
    std::set<std::string> left_names, right_names;
    for (const auto& f : L.schema.fields) left_names.insert(f.name);
    std::vector<std::string> rnames(Rt.schema.fields.size());
    if (with_right)
      for (size_t j = 0; j < Rt.schema.fields.size(); ++j) {
        if (right_is_on_key(static_cast<int>(j))) continue;
        rnames[j] = right_prefix + Rt.schema.fields[j].name;
        right_names.insert(rnames[j]);
      }
    for (size_t i = 0; i < L.schema.fields.size(); ++i) {
      OutCol o{L.schema.fields[i].name, static_cast<int>(i), left_key_of(static_cast<int>(i))};
      if (o.right < 0 && right_names.count(o.name)) o.name = naming.Left(o.name);
      outs.push_back(o);
    }
    if (with_right)
      for (size_t j = 0; j < Rt.schema.fields.size(); ++j) {
        if (rnames[j].empty()) continue;
        OutCol o{rnames[j], -1, static_cast<int>(j)};
        if (left_names.count(o.name)) o.name = naming.Right(o.name);
        outs.push_back(o);
      }
    std::set<std::string> seen;
    for (const auto& o : outs)
      if (!seen.insert(o.name).second || o.name == row)
        return Status::Invalid(fmt::format("column name '{}' occurs twice", o.name));
    const std::string R = q.Ident(row);
    // Right and full joins have rows without a left row: an `on` key then
    // holds the right value.
    const bool right_rows = type == JoinType::kRight || type == JoinType::kFull;
    std::string select;
    for (const auto& o : outs) {
      std::string e;
      if (o.left >= 0 && o.right >= 0 && right_rows)
        e = fmt::format("CASE WHEN l.{0} IS NOT NULL THEN l.{1} ELSE r.{2} END", R,
                        q.Ident(L.schema.fields[static_cast<size_t>(o.left)].name),
                        q.Ident(Rt.schema.fields[static_cast<size_t>(o.right)].name));
      else if (o.left >= 0)
        e = "l." + q.Ident(L.schema.fields[static_cast<size_t>(o.left)].name);
      else
        e = "r." + q.Ident(Rt.schema.fields[static_cast<size_t>(o.right)].name);
      select += fmt::format("{} AS {}, ", e, q.Ident(o.name));
    }
    if (!with_right)
      // The left rows with (semi) or without (anti) a match, once each, in order.
      return SqlQuery{
          fmt::format("SELECT {}l.{} AS {} FROM {} AS l WHERE {}EXISTS (SELECT 1 "
                      "FROM {} AS r WHERE {})",
                      select, R, R, L.table, type == JoinType::kAnti ? "NOT " : "", Rt.table, cond),
          {}};
    // Left rows in order, each followed by its matches in right order; a right
    // join goes by right rows; a full join appends the unmatched right rows.
    // The output's row positions come from the pair of input positions (outer
    // * m + inner + 1, where m exceeds every inner position + 1; 0 for no inner
    // row), so no sort is needed: gaps are allowed, order is what counts. A
    // position beyond int64 makes PostgreSQL fail and the join run locally.
    auto span = [&](const std::string& table) {
      return fmt::format("(SELECT coalesce(max({}), -1) + 2 FROM {})", R, table);
    };
    auto pair = [&](const char* outer, const char* inner, const std::string& m) {
      return fmt::format("{0}.{2} * {3} + coalesce({1}.{2} + 1, 0)", outer, inner, R, m);
    };
    std::string position;
    if (type == JoinType::kRight) {
      position = pair("r", "l", span(L.table));
    } else if (type == JoinType::kFull) {
      // Unmatched right rows after every left row's positions.
      position = fmt::format("CASE WHEN l.{0} IS NULL THEN {1} * {2} + r.{0} ELSE {3} END", R,
                             span(L.table), span(Rt.table), pair("l", "r", span(Rt.table)));
    } else {
      position = pair("l", "r", span(Rt.table));
    }
    const char* join = type == JoinType::kInner   ? "INNER"
                       : type == JoinType::kLeft  ? "LEFT"
                       : type == JoinType::kRight ? "RIGHT"
                                                  : "FULL";
    return SqlQuery{fmt::format("SELECT {}{} AS {} FROM {} AS l {} JOIN {} AS r ON {}", select,
                                position, R, L.table, join, Rt.table, cond),
                    {}};
  }

  // --- sql with dialect: postgres: the user's query, as PostgreSQL's SQL,
  // over the inputs named after their datasets (CTEs over the version tables);
  // the output's row order is the query's (its ORDER BY).
  static Result<SqlQuery> Sql(const RecipeSpec& r, const std::vector<SqlInputTable>& inputs,
                              const SqlQuoter& q, const std::string& row) {
    auto it = r.params.find("query");
    if (it == r.params.end() || !it->is_string())
      return Status::Invalid("param 'query': is required with dialect: postgres");
    std::string query = it->get<std::string>();
    // Without its trailing semicolons, spaces and comments.
    for (;;) {
      query.resize(CodeEnd(query));
      if (query.empty() || query.back() != ';') break;
      query.pop_back();
    }
    if (query.empty()) return Status::Invalid("param 'query': is empty");
    std::string with;
    for (const auto& in : inputs)
      with += fmt::format("{}{} AS (SELECT {} FROM {})", with.empty() ? "WITH " : ", ",
                          q.Ident(in.dataset), AllColumns(q, in.schema), in.table);
    const std::string R = q.Ident(row);
    return SqlQuery{fmt::format("{} SELECT q.*, row_number() OVER () - 1 AS {} FROM (\n{}\n) AS q",
                                with, R, query),
                    {}};
  }

  // --- window: recipes/window.cc's semantics. Rows ordered within their
  // partition by order_by, ties by input order (the row position column);
  // peers (rank, dense_rank) share equal order_by values; frames are ROWS
  // frames; the output keeps every input row in input order.
  Result<SqlQuery> Window(const RecipeSpec& r, const SqlInputTable& in, const SqlQuoter& q,
                          const std::string& R) const {
    // The local kind's own reading of its params (recipes/relational.h).
    ALAMBIC_ASSIGN_OR_RETURN(WindowParams wp, ParseWindowParams(r.params));
    const std::vector<std::string>& partition = wp.partition_by;
    const std::vector<OrderTerm>& order_terms = wp.order_by;
    std::string part;
    for (const auto& name : partition) {
      ALAMBIC_ASSIGN_OR_RETURN(const Field* f, Need(in, name));
      part += (part.empty() ? "PARTITION BY " : ", ") + q.Ident(f->name);
    }
    std::string order;
    if (!order_terms.empty()) {
      ALAMBIC_ASSIGN_OR_RETURN(order, OrderTerms(in, q, order_terms));
    }
    // Peers by order_by alone (rank); every other function by order_by, then input order.
    const std::string peers =
        part + (order.empty() ? "" : (part.empty() ? "" : " ") + ("ORDER BY " + order));
    const std::string ordered = fmt::format("{}{}ORDER BY {}{}", part, part.empty() ? "" : " ",
                                            order.empty() ? "" : order + ", ", R);
    std::string inner, outer;
    for (const auto& f : in.schema.fields) {
      inner += q.Ident(f.name) + ", ";
      outer += q.Ident(f.name) + ", ";
    }
    std::set<std::string> names;
    for (const auto& f : in.schema.fields) names.insert(f.name);
    // Names of the inner query's own columns: a prefix no input column starts with.
    std::string prefix = "alambic_w";
    for (bool clash = true; clash;) {
      clash = false;
      for (const auto& f : in.schema.fields)
        if (f.name.rfind(prefix, 0) == 0) clash = true;
      if (clash) prefix += "_";
    }
    const std::string pos = q.Ident(prefix + "pos");
    bool need_pos = false;
    for (size_t k = 0; k < wp.columns.size(); ++k) {
      const WinColumn& col = wp.columns[k];
      const std::string& name = col.name;
      const std::string& fn = col.fn_text;
      if (q.Ident(name) == R || !names.insert(name).second)
        return Status::Invalid(fmt::format("param 'columns': '{}': the name is taken", name));
      const std::string where = fmt::format("param 'columns': '{}'", name);
      const Field* f = nullptr;
      if (!col.column.empty()) {
        ALAMBIC_ASSIGN_OR_RETURN(f, Need(in, col.column));
      }
      const std::string c = f ? q.Ident(f->name) : "";
      const std::string alias = q.Ident(fmt::format("{}{}", prefix, k));
      std::string win, out = alias;
      // -1: unbounded.
      const int64_t preceding = col.preceding == kUnboundedFrame ? -1 : col.preceding;
      const int64_t following = col.following == kUnboundedFrame ? -1 : col.following;
      const std::string frame = fmt::format(
          "{} ROWS BETWEEN {} AND {}", ordered,
          preceding < 0 ? "UNBOUNDED PRECEDING" : fmt::format("{} PRECEDING", preceding),
          following < 0 ? "UNBOUNDED FOLLOWING" : fmt::format("{} FOLLOWING", following));
      if (fn == "row_number") {
        win = fmt::format("row_number() OVER ({})", ordered);
      } else if (fn == "rank" || fn == "dense_rank") {
        win = fmt::format("{}() OVER ({})", fn, peers);
      } else if (fn == "lag" || fn == "lead") {
        const int64_t offset = col.offset;
        if (offset > std::numeric_limits<int32_t>::max())
          return Status::Invalid(
              fmt::format("{}: not expressible: offset {} (PostgreSQL's "
                          "lag and lead take an int4)",
                          where, offset));
        win = fmt::format("{}({}, {}) OVER ({})", fn, c, offset, ordered);
      } else if (fn == "count") {
        win = fmt::format("count({}) OVER ({})", c, frame);
      } else if (fn == "sum" || fn == "mean") {
        if (f->type == TypeId::kFloat64)
          return Status::Invalid(fmt::format(
              "{}: not expressible: {} over float64 (the local engine sums in long double "
              "running totals, PostgreSQL in double per frame)",
              where, fn));
        if (f->type != TypeId::kInt64 && f->type != TypeId::kBool)
          return Status::Invalid(fmt::format("{}: {} needs numbers, but '{}' is {}", where, fn,
                                             f->name, TypeName(f->type)));
        const std::string num = f->type == TypeId::kBool ? c + "::int" : c;
        if (fn == "mean") {
          win = fmt::format("avg({}) OVER ({})", num, frame);
          out = alias + "::float8";
        } else {
          // Exact in numeric; null when the sum does not fit an int64, as locally.
          win = fmt::format("sum({}::numeric) OVER ({})", num, frame);
          out = fmt::format(
              "CASE WHEN {0} BETWEEN -9223372036854775808 AND 9223372036854775807 THEN "
              "{0}::bigint END",
              alias);
        }
      } else if (fn == "min" || fn == "max") {
        if (f->type == TypeId::kBool) {
          win = fmt::format("{}({}) OVER ({})", fn == "min" ? "bool_and" : "bool_or", c, frame);
        } else if (f->type == TypeId::kFloat64) {
          // The first of equal values in the frame, as locally: -0.0 and 0.0
          // are equal but differ. Pairs (value, position in the partition's
          // order) order by value, then position.
          win = fmt::format("{}(ARRAY[{}, {}{}::float8]) FILTER (WHERE {} IS NOT NULL) OVER ({})",
                            fn, c, fn == "min" ? "" : "-", pos, c, frame);
          out = alias + "[1]";
          need_pos = true;
        } else {
          win = fmt::format("{}({}{}) OVER ({})", fn, c,
                            f->type == TypeId::kUtf8 ? " COLLATE \"C\"" : "", frame);
        }
      } else {
        return Status::Invalid(fmt::format("{}: unknown fn '{}'", where, fn));
      }
      inner += fmt::format("{} AS {}, ", win, alias);
      outer += fmt::format("{} AS {}, ", out, q.Ident(name));
    }
    std::string from = in.table;
    if (need_pos)
      from = fmt::format("(SELECT {}, row_number() OVER ({}) AS {} FROM {}) b",
                         AllColumns(q, in.schema) + (in.schema.fields.empty() ? "" : ", ") + R,
                         ordered, pos, in.table);
    return SqlQuery{
        fmt::format("SELECT {}{} FROM (SELECT {}{} FROM {}) s", outer, R, inner, R, from), {}};
  }

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
