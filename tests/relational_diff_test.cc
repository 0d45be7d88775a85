// Differential tests: the relational kinds (group, join, sort, distinct, top,
// window) against SQLite's answer to the equivalent SQL, on random tables with
// nulls, empty strings, unicode, duplicates, extreme int64 and float values and
// skewed keys, over many seeds. SQLite runs through the sql kind, so both sides
// see the same typed inputs.
#include <cmath>
#include <limits>
#include <random>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "tests/kind_test_util.h"
#include "tests/test_util.h"

namespace alambic::relational_diff_test {
namespace {

using nlohmann::json;
using testing::DiffTables;
using testing::RunKind;
using testing::SqliteAnswer;

constexpr int kSeeds = 40;
constexpr int kMaxRows = 160;

class Random {
 public:
  explicit Random(uint64_t seed) : gen_(seed) {}
  int64_t Int(int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(gen_);
  }
  bool Chance(double p) { return std::uniform_real_distribution<double>(0, 1)(gen_) < p; }
  // Skewed: index 0 is the most frequent.
  size_t Skewed(size_t n) {
    const double u = std::uniform_real_distribution<double>(1e-12, 1)(gen_);
    return std::min(n - 1, static_cast<size_t>(-std::log(u) * 1.3));
  }

 private:
  std::mt19937_64 gen_;
};

const std::vector<std::string> kKeys = {"a", "é", "", "日本", "A", " a", "b", "ab", "Zoë"};
const std::vector<std::string> kStrings = {"",    "x", "reussite", "échec", "😀",
                                           "a b", "A", "zz",       "Ω",     "x\ny"};
const std::vector<int64_t> kBig = {
    0, 1, -1, std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min(), 42};
const std::vector<double> kExtreme = {0.0, -0.0, 1.5, 1e308, -1e308, 5e-324, -2.5, 1e-300};

ColumnPtr MaybeDictionary(Random& r, ColumnPtr c) {
  return r.Chance(0.5) ? ColumnPtr(DictionaryEncode(*c)) : c;
}

// Left-hand random table: _i, k, g, x, f, e, s, d, b.
NamedTable RandomTable(Random& r, const std::string& name, int64_t rows) {
  ColumnBuilder i(TypeId::kInt64), k(TypeId::kUtf8), g(TypeId::kInt64), x(TypeId::kInt64),
      f(TypeId::kFloat64), e(TypeId::kFloat64), s(TypeId::kUtf8), d(TypeId::kDate32),
      b(TypeId::kBool);
  for (int64_t row = 0; row < rows; ++row) {
    i.AppendInt64(row);
    r.Chance(0.1) ? k.AppendNull() : k.AppendString(kKeys[r.Skewed(kKeys.size())]);
    r.Chance(0.1) ? g.AppendNull() : g.AppendInt64(kBig[r.Skewed(kBig.size())]);
    r.Chance(0.15) ? x.AppendNull() : x.AppendInt64(r.Int(-1000, 1000));
    r.Chance(0.15) ? f.AppendNull()
                   : f.AppendDouble(static_cast<double>(r.Int(-100000, 100000)) / 64);
    r.Chance(0.1) ? e.AppendNull() : e.AppendDouble(kExtreme[static_cast<size_t>(r.Int(0, 7))]);
    r.Chance(0.1) ? s.AppendNull() : s.AppendString(kStrings[r.Skewed(kStrings.size())]);
    r.Chance(0.1) ? d.AppendNull() : d.AppendDate32(static_cast<int32_t>(18000 + r.Int(0, 6)));
    r.Chance(0.1) ? b.AppendNull() : b.AppendBool(r.Chance(0.5));
  }
  return testing::MakeInput(name, {{"_i", i.Finish()},
                                   {"k", MaybeDictionary(r, k.Finish())},
                                   {"g", g.Finish()},
                                   {"x", x.Finish()},
                                   {"f", f.Finish()},
                                   {"e", e.Finish()},
                                   {"s", MaybeDictionary(r, s.Finish())},
                                   {"d", d.Finish()},
                                   {"b", b.Finish()}});
}

// Right-hand random table: _j, k, g, d, b, y, t.
NamedTable RandomRight(Random& r, const std::string& name, int64_t rows) {
  ColumnBuilder j(TypeId::kInt64), k(TypeId::kUtf8), g(TypeId::kInt64), d(TypeId::kDate32),
      b(TypeId::kBool), y(TypeId::kInt64), t(TypeId::kUtf8);
  for (int64_t row = 0; row < rows; ++row) {
    j.AppendInt64(row);
    r.Chance(0.1) ? k.AppendNull() : k.AppendString(kKeys[r.Skewed(kKeys.size())]);
    r.Chance(0.1) ? g.AppendNull() : g.AppendInt64(kBig[r.Skewed(kBig.size())]);
    r.Chance(0.1) ? d.AppendNull() : d.AppendDate32(static_cast<int32_t>(18000 + r.Int(0, 6)));
    r.Chance(0.1) ? b.AppendNull() : b.AppendBool(r.Chance(0.5));
    r.Chance(0.2) ? y.AppendNull() : y.AppendInt64(r.Int(-5, 5));
    r.Chance(0.2) ? t.AppendNull() : t.AppendString(kStrings[r.Skewed(kStrings.size())]);
  }
  return testing::MakeInput(name, {{"_j", j.Finish()},
                                   {"k", MaybeDictionary(r, k.Finish())},
                                   {"g", g.Finish()},
                                   {"d", d.Finish()},
                                   {"b", b.Finish()},
                                   {"y", y.Finish()},
                                   {"t", t.Finish()}});
}

std::string Quoted(const std::vector<std::string>& cols, const std::string& prefix = "") {
  std::string s;
  for (const auto& c : cols) s += (s.empty() ? "" : ", ") + prefix + "\"" + c + "\"";
  return s;
}

// A copy of `t` where column `name` is replaced by its squares (stddev -> variance).
Table Squared(const Table& t, const std::string& name) {
  std::vector<ColumnPtr> cols = t.columns();
  const int at = t.schema().FieldIndex(name);
  const Column& c = *t.column(at);
  ColumnBuilder b(TypeId::kFloat64);
  for (int64_t i = 0; i < c.length; ++i)
    c.IsNull(i) ? b.AppendNull() : b.AppendDouble(c.Double(i) * c.Double(i));
  cols[static_cast<size_t>(at)] = b.Finish();
  return *Table::Make(t.schema(), cols, t.num_rows());
}

TEST(RelationalDiffTest, GroupEqualsSqlite) {
  const std::vector<std::vector<std::string>> key_sets = {{}, {"k"}, {"g"}, {"k", "b"}, {"d", "s"}};
  for (int seed = 0; seed < kSeeds; ++seed) {
    Random r(static_cast<uint64_t>(seed));
    NamedTable t = RandomTable(r, "t", r.Int(0, kMaxRows));
    for (const auto& keys : key_sets) {
      json aggs = json::array({
          {{"name", "n"}, {"fn", "count"}},
          {{"name", "cx"}, {"fn", "count"}, {"column", "x"}},
          {{"name", "ds"}, {"fn", "count_distinct"}, {"column", "s"}},
          {{"name", "de"}, {"fn", "count_distinct"}, {"column", "e"}},
          {{"name", "sx"}, {"fn", "sum"}, {"column", "x"}},
          {{"name", "sf"}, {"fn", "sum"}, {"column", "f"}},
          {{"name", "mf"}, {"fn", "mean"}, {"column", "f"}},
          {{"name", "mins"}, {"fn", "min"}, {"column", "s"}},
          {{"name", "maxd"}, {"fn", "max"}, {"column", "d"}},
          {{"name", "ming"}, {"fn", "min"}, {"column", "g"}},
          {{"name", "maxe"}, {"fn", "max"}, {"column", "e"}},
          {{"name", "sxb"}, {"fn", "sum"}, {"column", "x"}, {"where", "b"}},
          {{"name", "rate"}, {"fn", "mean"}, {"expr", "x > 0"}},
          {{"name", "nempty"}, {"fn", "count"}, {"where", "s = ''"}},
          {{"name", "vf"}, {"fn", "stddev"}, {"column", "f"}},
      });
      auto ours = RunKind("group", {{"keys", keys}, {"aggregates", aggs}}, {t});
      ASSERT_TRUE(ours.ok()) << ours.status().message();
      const std::string k = Quoted(keys);
      const std::string query = fmt::format(
          "select {}{} count(*) as n, count(x) as cx, count(distinct s) as ds, count(distinct e) "
          "as de, sum(x) as sx, sum(f) as sf, avg(f) as mf, min(s) as mins, max(d) as maxd, "
          "min(g) as ming, max(e) as maxe, sum(x) filter (where b) as sxb, avg(x > 0) as rate, "
          "count(*) filter (where s = '') as nempty, "
          "(sum(f * f) - sum(f) * sum(f) / count(f)) / (count(f) - 1) as vf from t {} {}",
          k, keys.empty() ? "" : ",", keys.empty() ? "" : "group by " + k,
          keys.empty() ? "" : "order by " + k);
      Table oracle = SqliteAnswer(query, {t});
      EXPECT_EQ(DiffTables(Squared(ours->tables[0], "vf"), oracle, 1e-7), "")
          << "seed " << seed << " keys " << k;
    }
  }
}

TEST(RelationalDiffTest, GroupMedianFirstLastEqualSqlite) {
  for (int seed = 0; seed < kSeeds; ++seed) {
    Random r(static_cast<uint64_t>(seed) + 1000);
    NamedTable t = RandomTable(r, "t", r.Int(0, kMaxRows));
    json aggs = json::array(
        {{{"name", "med"}, {"fn", "median"}, {"column", "f"}},
         {{"name", "medx"}, {"fn", "median"}, {"column", "x"}, {"where", "b or b is null"}},
         {{"name", "fs"}, {"fn", "first"}, {"column", "s"}},
         {{"name", "lx"}, {"fn", "last"}, {"column", "x"}}});
    auto ours = RunKind("group", {{"keys", "k"}, {"aggregates", aggs}}, {t});
    ASSERT_TRUE(ours.ok()) << ours.status().message();
    const std::string query = R"(
      with rf as (select k, f, row_number() over (partition by k order by f) as rn,
                         count(*) over (partition by k) as c from t where f is not null),
           rx as (select k, x, row_number() over (partition by k order by x) as rn,
                         count(*) over (partition by k) as c from t
                  where x is not null and (b or b is null))
      select g.k as k,
        (select avg(f) from rf where rf.k is g.k and rn in ((c + 1) / 2, (c + 2) / 2)) as med,
        (select avg(x) from rx where rx.k is g.k and rn in ((c + 1) / 2, (c + 2) / 2)) as medx,
        (select s from t where t.k is g.k and s is not null order by _i limit 1) as fs,
        (select x from t where t.k is g.k and x is not null order by _i desc limit 1) as lx
      from (select distinct k from t) g order by g.k)";
    Table oracle = SqliteAnswer(query, {t});
    EXPECT_EQ(DiffTables(ours->tables[0], oracle), "") << "seed " << seed;
  }
}

struct JoinCase {
  std::vector<std::string> on;
  std::string type;
};

// The SQL for a join of l and r on `on`, naming columns as the join kind does.
std::string JoinSql(const JoinCase& c, const Table& l, const Table& rt) {
  std::string cond;
  for (const auto& k : c.on)
    cond += (cond.empty() ? "" : " and ") + fmt::format("l.{0} = r.{0}", k);
  auto is_key = [&](const std::string& n) {
    return std::find(c.on.begin(), c.on.end(), n) != c.on.end();
  };
  std::string cols;
  auto add = [&](const std::string& s) { cols += (cols.empty() ? "" : ", ") + s; };
  const bool right_cols = c.type != "anti" && c.type != "semi";
  for (const auto& f : l.schema().fields) {
    if (is_key(f.name) && (c.type == "right" || c.type == "full"))
      add(fmt::format("coalesce(l.\"{0}\", r.\"{0}\") as \"{0}\"", f.name));
    else
      add(fmt::format("l.\"{0}\" as \"{0}\"", f.name));
  }
  if (right_cols)
    for (const auto& f : rt.schema().fields) {
      if (is_key(f.name)) continue;
      const bool clash = l.schema().FieldIndex(f.name) >= 0;
      add(fmt::format("r.\"{}\" as \"{}{}\"", f.name, f.name, clash ? "_right" : ""));
    }
  if (c.type == "semi" || c.type == "anti")
    return fmt::format("select {} from l where {} exists (select 1 from r where {}) order by _i",
                       cols, c.type == "anti" ? "not" : "", cond);
  const std::string order = c.type == "right"  ? "r._j, l._i"
                            : c.type == "full" ? "l._i is null, l._i, r._j"
                                               : "l._i, r._j";
  return fmt::format("select {} from l {} join r on {} order by {}", cols, c.type, cond, order);
}

TEST(RelationalDiffTest, JoinEqualsSqliteForEveryType) {
  const std::vector<std::vector<std::string>> keys = {{"k"}, {"g"}, {"k", "b"}, {"d"}};
  const std::vector<std::string> types = {"inner", "left", "right", "full", "anti", "semi"};
  for (int seed = 0; seed < kSeeds; ++seed) {
    Random r(static_cast<uint64_t>(seed) + 2000);
    NamedTable l = RandomTable(r, "l", r.Int(0, kMaxRows));
    NamedTable rt = RandomRight(r, "r", r.Int(0, kMaxRows / 2));
    for (const auto& on : keys)
      for (const auto& type : types) {
        JoinCase c{on, type};
        auto ours = RunKind("join", {{"on", on}, {"type", type}}, {l, rt}, {"out", "unmatched"});
        ASSERT_TRUE(ours.ok()) << ours.status().message();
        Table oracle = SqliteAnswer(JoinSql(c, *l.table, *rt.table), {l, rt});
        EXPECT_EQ(DiffTables(ours->tables[0], oracle), "")
            << "seed " << seed << " " << type << " on " << Quoted(on);
        // The second output: the left rows without a match, as an anti join.
        Table anti = SqliteAnswer(JoinSql({on, "anti"}, *l.table, *rt.table), {l, rt});
        EXPECT_EQ(DiffTables(ours->tables[1], anti), "") << "seed " << seed << " unmatched";
      }
  }
}

std::vector<json> RandomOrder(Random& r, std::string* sql) {
  const std::vector<std::string> cols = {"k", "g", "x", "f", "e", "s", "d", "b"};
  std::vector<json> terms;
  std::vector<std::string> used;
  const int n = static_cast<int>(r.Int(1, 3));
  for (int t = 0; t < n; ++t) {
    std::string c = cols[static_cast<size_t>(r.Int(0, 7))];
    if (std::find(used.begin(), used.end(), c) != used.end()) continue;
    used.push_back(c);
    const bool desc = r.Chance(0.5);
    const bool nulls_first = r.Chance(0.5);
    terms.push_back({{"column", c}, {"desc", desc}, {"nulls", nulls_first ? "first" : "last"}});
    *sql += fmt::format("\"{}\" {} nulls {}, ", c, desc ? "desc" : "asc",
                        nulls_first ? "first" : "last");
  }
  return terms;
}

TEST(RelationalDiffTest, SortDistinctAndTopEqualSqlite) {
  const std::string all = "_i, k, g, x, f, e, s, d, b";
  for (int seed = 0; seed < kSeeds; ++seed) {
    Random r(static_cast<uint64_t>(seed) + 3000);
    NamedTable t = RandomTable(r, "t", r.Int(0, kMaxRows));
    std::string order;
    std::vector<json> by = RandomOrder(r, &order);
    auto sorted = RunKind("sort", {{"by", by}}, {t});
    ASSERT_TRUE(sorted.ok()) << sorted.status().message();
    EXPECT_EQ(DiffTables(sorted->tables[0],
                         SqliteAnswer("select * from t order by " + order + "_i", {t})),
              "")
        << "seed " << seed << " sort by " << order;

    for (const std::vector<std::string>& cols :
         {std::vector<std::string>{"k"}, {"k", "b"}, {"s", "e"}, {"g", "d", "x"}}) {
      auto distinct = RunKind("distinct", {{"columns", cols}}, {t});
      ASSERT_TRUE(distinct.ok()) << distinct.status().message();
      EXPECT_EQ(DiffTables(distinct->tables[0],
                           SqliteAnswer(fmt::format("select * from t where _i in (select min(_i) "
                                                    "from t group by {}) order by _i",
                                                    Quoted(cols)),
                                        {t})),
                "")
          << "seed " << seed << " distinct " << Quoted(cols);
    }

    const int64_t n = r.Int(1, 4);
    for (const std::vector<std::string>& keys : {std::vector<std::string>{}, {"k"}, {"b", "d"}}) {
      auto top = RunKind("top", {{"n", n}, {"by", by}, {"keys", keys}}, {t});
      ASSERT_TRUE(top.ok()) << top.status().message();
      const std::string k = Quoted(keys);
      const std::string query = fmt::format(
          "select {0} from (select *, row_number() over ({1} order by {2}_i) as rn from t) "
          "where rn <= {3} order by {4}{2}_i",
          all, keys.empty() ? "" : "partition by " + k, order, n, keys.empty() ? "" : k + ", ");
      EXPECT_EQ(DiffTables(top->tables[0], SqliteAnswer(query, {t})), "")
          << "seed " << seed << " top " << n << " by " << order << " per " << k;
    }
  }
}

TEST(RelationalDiffTest, WindowEqualsSqlite) {
  for (int seed = 0; seed < kSeeds; ++seed) {
    Random r(static_cast<uint64_t>(seed) + 4000);
    NamedTable t = RandomTable(r, "t", r.Int(0, kMaxRows));
    for (const std::vector<std::string>& part : {std::vector<std::string>{}, {"k"}, {"b", "d"}}) {
      json columns = json::array({
          {{"name", "rn"}, {"fn", "row_number"}},
          {{"name", "rk"}, {"fn", "rank"}},
          {{"name", "drk"}, {"fn", "dense_rank"}},
          {{"name", "lg"}, {"fn", "lag"}, {"column", "s"}, {"offset", 2}},
          {{"name", "ld"}, {"fn", "lead"}, {"column", "f"}},
          {{"name", "rs"}, {"fn", "sum"}, {"column", "x"}},
          {{"name", "am"},
           {"fn", "mean"},
           {"column", "f"},
           {"frame", {{"preceding", 2}, {"following", 1}}}},
          {{"name", "rc"}, {"fn", "count"}, {"column", "s"}},
          {{"name", "mn"},
           {"fn", "min"},
           {"column", "s"},
           {"frame", {{"preceding", 1}, {"following", 1}}}},
          {{"name", "tail"},
           {"fn", "sum"},
           {"column", "f"},
           {"frame", {{"preceding", 0}, {"following", "unbounded"}}}},
      });
      auto ours =
          RunKind("window", {{"partition_by", part}, {"order_by", "x"}, {"columns", columns}}, {t});
      ASSERT_TRUE(ours.ok()) << ours.status().message();
      const std::string p = part.empty() ? "" : "partition by " + Quoted(part);
      const std::string w = p + " order by x, _i";
      const std::string query = fmt::format(
          "select *, row_number() over ({0}) as rn, rank() over ({1} order by x) as rk, "
          "dense_rank() over ({1} order by x) as drk, lag(s, 2) over ({0}) as lg, "
          "lead(f) over ({0}) as ld, "
          "sum(x) over ({0} rows between unbounded preceding and current row) as rs, "
          "avg(f) over ({0} rows between 2 preceding and 1 following) as am, "
          "count(s) over ({0} rows between unbounded preceding and current row) as rc, "
          "min(s) over ({0} rows between 1 preceding and 1 following) as mn, "
          "sum(f) over ({0} rows between current row and unbounded following) as tail "
          "from t order by _i",
          w, p);
      EXPECT_EQ(DiffTables(ours->tables[0], SqliteAnswer(query, {t})), "")
          << "seed " << seed << " partition " << p;
    }
  }
}

TEST(RelationalDiffTest, SqlTakesThreeAndMoreInputs) {
  Random r(7);
  NamedTable a = RandomTable(r, "a", 50), b = RandomTable(r, "b", 40), c = RandomTable(r, "c", 30),
             d = RandomRight(r, "d", 20);
  auto out = RunKind("sql",
                     {{"query",
                       "select (select count(*) from a) as na, (select count(*) from b) as nb, "
                       "(select count(*) from c) as nc, (select count(*) from d) as nd"}},
                     {a, b, c, d});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(testing::Cells(out->tables[0], "na"), std::vector<std::string>{"50"});
  EXPECT_EQ(testing::Cells(out->tables[0], "nb"), std::vector<std::string>{"40"});
  EXPECT_EQ(testing::Cells(out->tables[0], "nc"), std::vector<std::string>{"30"});
  EXPECT_EQ(testing::Cells(out->tables[0], "nd"), std::vector<std::string>{"20"});
  EXPECT_EQ(alambic::testing::BuiltinKinds().Find("sql")->max_inputs(), -1);
}

}  // namespace
}  // namespace alambic::relational_diff_test
