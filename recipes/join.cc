// kind: join — equi-join of two inputs (left = first, right = second) on one
// or more key columns, SQL semantics: a null key never matches.
//
// Types: inner, left, right, full, anti (left rows without a match), semi
// (left rows with at least one match, once each). Output order is
// deterministic: left rows in input order, each followed by its matches in
// right input order; a right join goes by right rows instead; a full join
// adds the unmatched right rows, in order, after the left join's rows.
//
// Keys: `on` (same names on both sides: one output column, holding the left
// value, or the right one where there is no left row) or `left_on` /
// `right_on` (both sides' columns are kept). `normalize` (trim, lower,
// strip_accents, name: similarity.h NormaliseKey, name being fuzzy_join's own
// normalisation) compares utf8 keys after normalising them; the output keeps
// the original values. Other columns keep their names; a name on both sides
// is renamed by the convention every two-input kind shares (relational.h
// ClashNaming: `suffixes`, default ["", "_right"], and `prefixes`);
// `right_prefix` prefixes every right column that is not an `on` key.
//
// The hash tables hold the distinct keys of the smaller input only; the other
// input is looked up (in parallel when large). A second output, when declared,
// receives the left rows without a match (left columns only).
#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "core/table/keys.h"
#include "core/table/parallel.h"
#include "core/table/similarity.h"
#include "recipes/builtin_kinds.h"
#include "recipes/relational.h"

namespace alambic {
namespace {

// --- key normalisation: the shared NormaliseKey (core/table/similarity.h).

ColumnPtr NormaliseColumn(const Column& c, unsigned how) {
  if (c.is_dictionary()) {
    auto out = std::make_shared<Column>(c);
    out->dictionary = NormaliseColumn(*c.dictionary, how);
    return out;
  }
  ColumnBuilder b(TypeId::kUtf8);
  b.Reserve(c.length);
  for (int64_t i = 0; i < c.length; ++i)
    c.IsNull(i) ? b.AppendNull() : b.AppendString(NormaliseKey(c.String(i), how));
  return b.Finish();
}

// Rows grouped by code: rows of code c are rows[start[c] .. start[c+1]), in order.
struct RowsByCode {
  std::vector<int64_t> start, rows;
};
RowsByCode GroupRows(const std::vector<int32_t>& codes, int32_t count) {
  RowsByCode g;
  g.start.assign(static_cast<size_t>(count) + 1, 0);
  for (int32_t c : codes)
    if (c >= 0) ++g.start[static_cast<size_t>(c) + 1];
  for (size_t c = 0; c < static_cast<size_t>(count); ++c) g.start[c + 1] += g.start[c];
  g.rows.resize(static_cast<size_t>(g.start.back()));
  std::vector<int64_t> fill(g.start.begin(), g.start.end() - 1);
  for (size_t i = 0; i < codes.size(); ++i)
    if (codes[i] >= 0)
      g.rows[static_cast<size_t>(fill[static_cast<size_t>(codes[i])]++)] = static_cast<int64_t>(i);
  return g;
}

// Matching row pairs; -1 on one side: no row there (outer rows).
struct Pairs {
  std::vector<int64_t> outer, inner;
};

// For each `outer` row in order, its `inner` matches in order (or, with
// keep_unmatched, one pair with -1). Chunks run in parallel when large.
Pairs JoinMatch(const std::vector<int32_t>& outer_codes, const RowsByCode& inner,
                bool keep_unmatched) {
  const auto n = static_cast<int64_t>(outer_codes.size());
  const bool parallel = n >= kParallelRowThreshold;
  const int64_t chunks = parallel ? MaxThreads() * 4 : 1;
  auto matches = [&](int64_t i) -> int64_t {
    const int32_t c = outer_codes[static_cast<size_t>(i)];
    const int64_t m =
        c < 0 ? 0 : inner.start[static_cast<size_t>(c) + 1] - inner.start[static_cast<size_t>(c)];
    return m == 0 && keep_unmatched ? 1 : m;
  };
  std::vector<int64_t> offset(static_cast<size_t>(chunks) + 1, 0);
  ParallelFor(chunks, parallel, [&](int64_t k) {
    int64_t total = 0;
    for (int64_t i = ChunkBegin(n, chunks, k), e = ChunkBegin(n, chunks, k + 1); i < e; ++i)
      total += matches(i);
    offset[static_cast<size_t>(k) + 1] = total;
  });
  for (size_t k = 0; k < static_cast<size_t>(chunks); ++k) offset[k + 1] += offset[k];
  Pairs p;
  p.outer.resize(static_cast<size_t>(offset.back()));
  p.inner.resize(p.outer.size());
  ParallelFor(chunks, parallel, [&](int64_t k) {
    auto at = static_cast<size_t>(offset[static_cast<size_t>(k)]);
    for (int64_t i = ChunkBegin(n, chunks, k), e = ChunkBegin(n, chunks, k + 1); i < e; ++i) {
      const int32_t c = outer_codes[static_cast<size_t>(i)];
      const int64_t b = c < 0 ? 0 : inner.start[static_cast<size_t>(c)];
      const int64_t end = c < 0 ? 0 : inner.start[static_cast<size_t>(c) + 1];
      if (b == end) {
        if (keep_unmatched) {
          p.outer[at] = i;
          p.inner[at++] = -1;
        }
        continue;
      }
      for (int64_t j = b; j < end; ++j) {
        p.outer[at] = i;
        p.inner[at++] = inner.rows[static_cast<size_t>(j)];
      }
    }
  });
  return p;
}

// Left value where there is a left row, else the right value.
ColumnPtr Coalesce(const Column& left, const std::vector<int64_t>& lrows, const Column& right,
                   const std::vector<int64_t>& rrows) {
  ColumnBuilder b(left.type);
  b.Reserve(static_cast<int64_t>(lrows.size()));
  for (size_t i = 0; i < lrows.size(); ++i) {
    if (lrows[i] >= 0)
      b.AppendFrom(left, lrows[i]);
    else if (rrows[i] >= 0)
      b.AppendFrom(right, rrows[i]);
    else
      b.AppendNull();
  }
  return b.Finish();
}

class JoinKind final : public RecipeKind {
 public:
  std::string name() const override { return "join"; }
  const std::vector<ParamSpec>& params() const override {
    static const std::vector<ParamSpec> kParams = {
        {"type", ParamType::kString, false, "inner (default), left, right, full, anti, semi"},
        {"on", ParamType::kAny, false, "key column(s), same name in both inputs"},
        {"left_on", ParamType::kAny, false, "key column(s) of the left (first) input"},
        {"right_on", ParamType::kAny, false, "key column(s) of the right (second) input"},
        {"normalize", ParamType::kAny, false,
         "compare utf8 keys after: trim, lower, strip_accents, name (fuzzy_join's)"},
        {"suffixes", ParamType::kStringList, false,
         "[left, right] suffixes for a column name in both inputs (default [\"\", \"_right\"])"},
        {"prefixes", ParamType::kStringList, false,
         "[left, right] prefixes for a column name in both inputs (default none)"},
        {"right_prefix", ParamType::kString, false, "prefix for the right input's columns"}};
    return kParams;
  }
  int min_inputs() const override { return 2; }
  int max_inputs() const override { return 2; }
  int max_outputs() const override { return 2; }
  Status CheckParams(const nlohmann::json& params) const override {
    return ParseJoinParams(params).status();
  }

  Result<RecipeOutput> Run(RecipeContext& ctx) const override {
    auto p = ParseJoinParams(*ctx.params);
    if (!p.ok()) return InRecipe(ctx, p.status());
    const NamedTable& left = ctx.inputs.at(0);
    const NamedTable& right = ctx.inputs.at(1);
    const Table& lt = *left.table;
    const Table& rt = *right.table;

    const std::string lparam = p->same_names ? "param 'on'" : "param 'left_on'";
    const std::string rparam = p->same_names ? "param 'on'" : "param 'right_on'";
    std::vector<int> lkeys, rkeys;
    std::vector<ColumnPtr> lcols, rcols;  // key columns as compared (maybe normalised)
    for (size_t k = 0; k < p->left_on.size(); ++k) {
      auto li = FindColumn(left, lparam, p->left_on[k]);
      if (!li.ok()) return InRecipe(ctx, li.status());
      auto ri = FindColumn(right, rparam, p->right_on[k]);
      if (!ri.ok()) return InRecipe(ctx, ri.status());
      const TypeId lt_type = lt.schema().fields[static_cast<size_t>(*li)].type;
      const TypeId rt_type = rt.schema().fields[static_cast<size_t>(*ri)].type;
      if (lt_type != rt_type)
        return Status::Invalid(fmt::format(
            "recipe {}: {}: key '{}' is {} in input '{}' but key '{}' is {} in input '{}'",
            ctx.recipe, lparam, p->left_on[k], TypeName(lt_type), left.name, p->right_on[k],
            TypeName(rt_type), right.name));
      lkeys.push_back(*li);
      rkeys.push_back(*ri);
      ColumnPtr lc = lt.column(*li), rc = rt.column(*ri);
      if (p->normalize && lt_type == TypeId::kUtf8) {
        lc = NormaliseColumn(*lc, p->normalize);
        rc = NormaliseColumn(*rc, p->normalize);
      }
      lcols.push_back(lc);
      rcols.push_back(rc);
    }
    if (p->normalize && std::none_of(lcols.begin(), lcols.end(),
                                     [](const ColumnPtr& c) { return c->type == TypeId::kUtf8; }))
      return Status::Invalid(fmt::format(
          "recipe {}: param 'normalize': no key column is utf8, there is nothing to normalise",
          ctx.recipe));

    // Output columns and their names, checked before the work.
    struct OutCol {
      std::string name;
      int left = -1, right = -1;  // source column in each input; both: a coalesced `on` key
    };
    std::vector<OutCol> outs;
    const bool with_right = p->type != JoinType::kAnti && p->type != JoinType::kSemi;
    std::set<std::string> right_names, left_names;
    for (const auto& f : lt.schema().fields) left_names.insert(f.name);
    auto is_on_key = [&](int li, int ri) {
      if (!p->same_names) return false;
      for (size_t k = 0; k < lkeys.size(); ++k)
        if ((li >= 0 && lkeys[k] == li) || (ri >= 0 && rkeys[k] == ri)) return true;
      return false;
    };
    std::vector<std::string> rnames(rt.schema().fields.size());
    if (with_right)
      for (size_t j = 0; j < rt.schema().fields.size(); ++j) {
        if (is_on_key(-1, static_cast<int>(j))) continue;
        rnames[j] = p->right_prefix + rt.schema().fields[j].name;
        right_names.insert(rnames[j]);
      }
    for (size_t i = 0; i < lt.schema().fields.size(); ++i) {
      OutCol o{lt.schema().fields[i].name, static_cast<int>(i), -1};
      if (is_on_key(static_cast<int>(i), -1)) {
        for (size_t k = 0; k < lkeys.size(); ++k)
          if (lkeys[k] == static_cast<int>(i)) o.right = rkeys[k];
      } else if (right_names.count(o.name)) {
        o.name = p->naming.Left(o.name);
      }
      outs.push_back(o);
    }
    if (with_right)
      for (size_t j = 0; j < rt.schema().fields.size(); ++j) {
        if (rnames[j].empty()) continue;
        OutCol o{rnames[j], -1, static_cast<int>(j)};
        if (left_names.count(o.name)) o.name = p->naming.Right(o.name);
        outs.push_back(o);
      }
    for (size_t a = 0; a < outs.size(); ++a)
      for (size_t b = a + 1; b < outs.size(); ++b)
        if (outs[a].name == outs[b].name)
          return Status::Invalid(fmt::format(
              "recipe {}: param 'suffixes': column name '{}' still occurs twice after renaming the "
              "columns on both sides; choose other suffixes or prefixes",
              ctx.recipe, outs[a].name));
    if (ctx.cancel && ctx.cancel->cancelled()) return ctx.cancel->AsStatus();

    // Codes: the smaller input builds the hash tables.
    std::vector<const Column*> lk, rk;
    for (const auto& c : lcols) lk.push_back(c.get());
    for (const auto& c : rcols) rk.push_back(c.get());
    std::vector<int32_t> lcodes, rcodes;
    int32_t count = 0;
    const bool build_left = lt.num_rows() < rt.num_rows();
    {
      JoinCodes jc = build_left ? EncodeJoinKeys(lk, rk) : EncodeJoinKeys(rk, lk);
      count = jc.build.count;
      (build_left ? lcodes : rcodes) = std::move(jc.build.codes);
      (build_left ? rcodes : lcodes) = std::move(jc.probe);
    }
    if (ctx.cancel && ctx.cancel->cancelled()) return ctx.cancel->AsStatus();

    std::vector<int64_t> lrows, rrows;
    std::vector<uint8_t> right_matched;
    switch (p->type) {
      case JoinType::kInner:
      case JoinType::kLeft:
      case JoinType::kFull: {
        Pairs pairs = JoinMatch(lcodes, GroupRows(rcodes, count), p->type != JoinType::kInner);
        lrows = std::move(pairs.outer);
        rrows = std::move(pairs.inner);
        if (p->type == JoinType::kFull) {
          std::vector<uint8_t> code_in_left(static_cast<size_t>(count), 0);
          for (int32_t c : lcodes)
            if (c >= 0) code_in_left[static_cast<size_t>(c)] = 1;
          for (size_t j = 0; j < rcodes.size(); ++j)
            if (rcodes[j] < 0 || !code_in_left[static_cast<size_t>(rcodes[j])]) {
              lrows.push_back(-1);
              rrows.push_back(static_cast<int64_t>(j));
            }
        }
        break;
      }
      case JoinType::kRight: {
        Pairs pairs = JoinMatch(rcodes, GroupRows(lcodes, count), true);
        lrows = std::move(pairs.inner);
        rrows = std::move(pairs.outer);
        break;
      }
      case JoinType::kAnti:
      case JoinType::kSemi: {
        std::vector<uint8_t> code_in_right(static_cast<size_t>(count), 0);
        for (int32_t c : rcodes)
          if (c >= 0) code_in_right[static_cast<size_t>(c)] = 1;
        const bool want = p->type == JoinType::kSemi;
        for (size_t i = 0; i < lcodes.size(); ++i) {
          const bool matched = lcodes[i] >= 0 && code_in_right[static_cast<size_t>(lcodes[i])];
          if (matched == want) lrows.push_back(static_cast<int64_t>(i));
        }
        break;
      }
    }
    if (ctx.cancel && ctx.cancel->cancelled()) return ctx.cancel->AsStatus();

    // Gather the output columns (in parallel when large).
    const bool right_side_rows =
        p->type == JoinType::kRight || p->type == JoinType::kFull;  // lrows may hold -1
    Schema schema;
    std::vector<ColumnPtr> cols(outs.size());
    std::map<std::string, std::vector<ColumnSource>> lineage;
    for (const auto& o : outs) {
      const TypeId type = o.left >= 0 ? lt.schema().fields[static_cast<size_t>(o.left)].type
                                      : rt.schema().fields[static_cast<size_t>(o.right)].type;
      schema.fields.push_back({o.name, type});
      auto& src = lineage[o.name];
      if (o.left >= 0 && o.right >= 0) {
        src = {
            {left.name, lt.schema().fields[static_cast<size_t>(o.left)].name, kTransformJoinKey},
            {right.name, rt.schema().fields[static_cast<size_t>(o.right)].name, kTransformJoinKey}};
      } else if (o.left >= 0) {
        const auto& n = lt.schema().fields[static_cast<size_t>(o.left)].name;
        const bool key = std::find(lkeys.begin(), lkeys.end(), o.left) != lkeys.end();
        src = {{left.name, n, key ? kTransformJoinKey : kTransformIdentity}};
      } else {
        const auto& n = rt.schema().fields[static_cast<size_t>(o.right)].name;
        const bool key = std::find(rkeys.begin(), rkeys.end(), o.right) != rkeys.end();
        src = {{right.name, n, key ? kTransformJoinKey : kTransformIdentity}};
      }
    }
    const auto rows = static_cast<int64_t>(lrows.size());
    // Every left row once and in order (each matched one right row, as a fact table joined
    // to its dimension): the left columns are the output's as they are, shared, not copied.
    bool left_whole = !right_side_rows && rows == lt.num_rows();
    for (int64_t i = 0; left_whole && i < rows; ++i)
      left_whole = lrows[static_cast<size_t>(i)] == i;
    ParallelFor(static_cast<int64_t>(outs.size()), rows >= kParallelRowThreshold, [&](int64_t k) {
      const OutCol& o = outs[static_cast<size_t>(k)];
      ColumnPtr& c = cols[static_cast<size_t>(k)];
      if (o.left >= 0 && o.right >= 0 && right_side_rows)
        c = Coalesce(*lt.column(o.left), lrows, *rt.column(o.right), rrows);
      else if (o.left >= 0)
        c = left_whole ? lt.column(o.left) : GatherRows(*lt.column(o.left), lrows);
      else
        c = GatherRows(*rt.column(o.right), rrows);
    });
    ALAMBIC_ASSIGN_OR_RETURN(Table t, Table::Make(std::move(schema), std::move(cols), rows));

    RecipeOutput out;
    out.metrics["rows_left"] = lt.num_rows();
    out.metrics["rows_right"] = rt.num_rows();
    out.metrics["rows"] = rows;
    int64_t unmatched = 0;
    std::vector<int64_t> unmatched_rows;
    {
      std::vector<uint8_t> code_in_right(static_cast<size_t>(count), 0);
      for (int32_t c : rcodes)
        if (c >= 0) code_in_right[static_cast<size_t>(c)] = 1;
      for (size_t i = 0; i < lcodes.size(); ++i)
        if (lcodes[i] < 0 || !code_in_right[static_cast<size_t>(lcodes[i])])
          unmatched_rows.push_back(static_cast<int64_t>(i));
      unmatched = static_cast<int64_t>(unmatched_rows.size());
    }
    out.metrics["left_unmatched"] = unmatched;
    out.tables.push_back(std::move(t));
    out.column_lineage.push_back(std::move(lineage));
    if (ctx.outputs.size() > 1) {
      ALAMBIC_ASSIGN_OR_RETURN(Table u, TakeTable(lt, unmatched_rows));
      out.tables.push_back(std::move(u));
      out.column_lineage.push_back(IdentityLineage(lt, left.name));
    }
    if (ctx.progress) ctx.progress(lt.num_rows() + rt.num_rows());
    if (ctx.log)
      ctx.log->Info(fmt::format("{} rows ({} join; {} of {} left rows without a match)", rows,
                                ctx.params->value("type", "inner"), unmatched, lt.num_rows()));
    return out;
  }
};

}  // namespace

Status RegisterJoinKind(RecipeRegistry& r) { return r.Register(std::make_unique<JoinKind>()); }

}  // namespace alambic
