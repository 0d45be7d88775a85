#include "core/table/keys.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <string_view>

#include "core/table/parallel.h"

namespace alambic {
namespace {

// Largest product of two code counts combined through a flat array rather
// than a hash table (4 MiB of int32).
constexpr uint64_t kDirectCombineLimit = 1u << 20;
// Probe rows per parallel chunk.
constexpr int64_t kProbeChunkRows = 1 << 16;

uint64_t Mix(uint64_t x) {  // splitmix64's finaliser
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

size_t CapacityFor(size_t expected) {
  size_t cap = 16;
  while (cap < expected * 2) cap <<= 1;
  return cap;
}

// Open addressing, linear probing: uint64 key -> int32 code.
class U64Map {
 public:
  explicit U64Map(size_t expected) { Resize(CapacityFor(expected)); }
  int32_t FindOrInsert(uint64_t key, int32_t code_if_new) {
    if ((size_ + 1) * 2 > vals_.size()) Resize(vals_.size() * 2);
    size_t i = Mix(key) & mask_;
    while (vals_[i] >= 0) {
      if (keys_[i] == key) return vals_[i];
      i = (i + 1) & mask_;
    }
    keys_[i] = key;
    vals_[i] = code_if_new;
    ++size_;
    return code_if_new;
  }
  int32_t Find(uint64_t key) const {
    size_t i = Mix(key) & mask_;
    while (vals_[i] >= 0) {
      if (keys_[i] == key) return vals_[i];
      i = (i + 1) & mask_;
    }
    return -1;
  }

 private:
  void Resize(size_t cap) {
    std::vector<uint64_t> keys(cap);
    std::vector<int32_t> vals(cap, -1);
    const size_t mask = cap - 1;
    for (size_t j = 0; j < vals_.size(); ++j) {
      if (vals_[j] < 0) continue;
      size_t i = Mix(keys_[j]) & mask;
      while (vals[i] >= 0) i = (i + 1) & mask;
      keys[i] = keys_[j];
      vals[i] = vals_[j];
    }
    keys_ = std::move(keys);
    vals_ = std::move(vals);
    mask_ = mask;
  }
  std::vector<uint64_t> keys_;
  std::vector<int32_t> vals_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

// Open addressing: string -> int32 code. Strings are views into the columns,
// which outlive the map.
class StrMap {
 public:
  explicit StrMap(size_t expected) { Resize(CapacityFor(expected)); }
  int32_t FindOrInsert(std::string_view s, int32_t code_if_new) {
    if ((strings_.size() + 1) * 2 > slots_.size()) Resize(slots_.size() * 2);
    const uint64_t h = Hash(s);
    size_t i = h & mask_;
    while (slots_[i] >= 0) {
      if (hashes_[i] == h && strings_[static_cast<size_t>(slots_[i])].first == s)
        return strings_[static_cast<size_t>(slots_[i])].second;
      i = (i + 1) & mask_;
    }
    slots_[i] = static_cast<int32_t>(strings_.size());
    hashes_[i] = h;
    strings_.emplace_back(s, code_if_new);
    return code_if_new;
  }
  int32_t Find(std::string_view s) const {
    const uint64_t h = Hash(s);
    size_t i = h & mask_;
    while (slots_[i] >= 0) {
      if (hashes_[i] == h && strings_[static_cast<size_t>(slots_[i])].first == s)
        return strings_[static_cast<size_t>(slots_[i])].second;
      i = (i + 1) & mask_;
    }
    return -1;
  }

 private:
  static uint64_t Hash(std::string_view s) { return Mix(std::hash<std::string_view>{}(s)); }
  void Resize(size_t cap) {
    std::vector<int32_t> slots(cap, -1);
    std::vector<uint64_t> hashes(cap);
    const size_t mask = cap - 1;
    for (size_t j = 0; j < slots_.size(); ++j) {
      if (slots_[j] < 0) continue;
      size_t i = hashes_[j] & mask;
      while (slots[i] >= 0) i = (i + 1) & mask;
      slots[i] = slots_[j];
      hashes[i] = hashes_[j];
    }
    slots_ = std::move(slots);
    hashes_ = std::move(hashes);
    mask_ = mask;
  }
  std::vector<int32_t> slots_;  // index into strings_, -1: empty
  std::vector<uint64_t> hashes_;
  std::vector<std::pair<std::string_view, int32_t>> strings_;
  size_t mask_ = 0;
};

// The hashable bits of a fixed-width cell: -0.0 is 0.0, all NaNs are one.
uint64_t FixedKey(const Column& c, int64_t i) {
  switch (c.type) {
    case TypeId::kInt64:
    case TypeId::kTimestamp:
      return static_cast<uint64_t>(c.Int64(i));
    case TypeId::kFloat64: {
      double v = c.Double(i);
      if (v == 0) v = 0;
      if (std::isnan(v)) v = std::numeric_limits<double>::quiet_NaN();
      uint64_t bits;
      std::memcpy(&bits, &v, sizeof bits);
      return bits;
    }
    case TypeId::kDate32:
      return static_cast<uint64_t>(static_cast<int64_t>(c.Date32(i)));
    case TypeId::kBool:
      return c.Bool(i) ? 1 : 0;
    case TypeId::kUtf8:
      break;
  }
  return 0;
}

// Codes one column with `map` (FindOrInsert) for a build side.
template <typename Map, typename KeyFn>
KeyCodes BuildColumn(const Column& c, bool nulls_match, Map& map, KeyFn key) {
  KeyCodes out;
  out.codes.resize(static_cast<size_t>(c.length));
  int32_t null_code = -1;
  for (int64_t i = 0; i < c.length; ++i) {
    int32_t code;
    if (c.IsNull(i)) {
      if (nulls_match && null_code < 0) null_code = out.count++;
      code = null_code;
    } else {
      code = map.FindOrInsert(key(i), out.count);
      if (code == out.count) ++out.count;
    }
    out.codes[static_cast<size_t>(i)] = code;
  }
  return out;
}

// Looks the rows of `c` up in `map` (Find), in parallel chunks when large.
template <typename Map, typename KeyFn>
std::vector<int32_t> ProbeColumn(const Column& c, const Map& map, KeyFn key) {
  std::vector<int32_t> codes(static_cast<size_t>(c.length));
  const int64_t chunks = std::max<int64_t>(1, c.length / kProbeChunkRows);
  ParallelFor(chunks, c.length >= kParallelRowThreshold, [&](int64_t k) {
    const int64_t end = ChunkBegin(c.length, chunks, k + 1);
    for (int64_t i = ChunkBegin(c.length, chunks, k); i < end; ++i)
      codes[static_cast<size_t>(i)] = c.IsNull(i) ? -1 : map.Find(key(i));
  });
  return codes;
}

// A dictionary column's rows through per-entry codes, renumbered in order of
// first appearance among the rows.
KeyCodes ThroughDictionary(const Column& c, const std::vector<int32_t>& entry_codes,
                           bool nulls_match) {
  KeyCodes out;
  out.codes.resize(static_cast<size_t>(c.length));
  std::vector<int32_t> renumber(entry_codes.size() + 1, -1);
  const int32_t* idx = c.Int32Data();
  int32_t null_code = -1;
  for (int64_t i = 0; i < c.length; ++i) {
    int32_t code;
    if (c.IsNull(i)) {
      if (nulls_match && null_code < 0) null_code = out.count++;
      code = null_code;
    } else {
      int32_t& r = renumber[static_cast<size_t>(entry_codes[static_cast<size_t>(idx[i])])];
      if (r < 0) r = out.count++;
      code = r;
    }
    out.codes[static_cast<size_t>(i)] = code;
  }
  return out;
}

KeyCodes EncodeColumn(const Column& c, bool nulls_match) {
  if (c.type == TypeId::kUtf8) {
    if (c.is_dictionary()) {
      const Column& dict = *c.dictionary;
      StrMap map(static_cast<size_t>(dict.length));
      KeyCodes entries = BuildColumn(dict, false, map, [&](int64_t i) { return dict.String(i); });
      return ThroughDictionary(c, entries.codes, nulls_match);
    }
    StrMap map(64);
    return BuildColumn(c, nulls_match, map, [&](int64_t i) { return c.String(i); });
  }
  if (c.type == TypeId::kBool) {
    // Two values: no table needed.
    KeyCodes out;
    out.codes.resize(static_cast<size_t>(c.length));
    int32_t code_of[3] = {-1, -1, -1};  // false, true, null
    for (int64_t i = 0; i < c.length; ++i) {
      const int v = c.IsNull(i) ? 2 : (c.Bool(i) ? 1 : 0);
      if (v == 2 && !nulls_match) {
        out.codes[static_cast<size_t>(i)] = -1;
        continue;
      }
      if (code_of[v] < 0) code_of[v] = out.count++;
      out.codes[static_cast<size_t>(i)] = code_of[v];
    }
    return out;
  }
  U64Map map(64);
  return BuildColumn(c, nulls_match, map, [&](int64_t i) { return FixedKey(c, i); });
}

}  // namespace

KeyCodes CombineCodes(const KeyCodes& a, const KeyCodes& b) {
  KeyCodes out;
  const size_t n = a.codes.size();
  out.codes.resize(n);
  const auto width = static_cast<uint64_t>(b.count);
  const uint64_t product = static_cast<uint64_t>(a.count) * width;
  if (product <= kDirectCombineLimit) {
    std::vector<int32_t> table(product, -1);
    for (size_t i = 0; i < n; ++i) {
      const int32_t x = a.codes[i], y = b.codes[i];
      if (x < 0 || y < 0) {
        out.codes[i] = -1;
        continue;
      }
      int32_t& slot = table[static_cast<uint64_t>(x) * width + static_cast<uint64_t>(y)];
      if (slot < 0) slot = out.count++;
      out.codes[i] = slot;
    }
    return out;
  }
  U64Map map(static_cast<size_t>(std::max(a.count, b.count)));
  for (size_t i = 0; i < n; ++i) {
    const int32_t x = a.codes[i], y = b.codes[i];
    if (x < 0 || y < 0) {
      out.codes[i] = -1;
      continue;
    }
    const int32_t code =
        map.FindOrInsert(static_cast<uint64_t>(x) * width + static_cast<uint64_t>(y), out.count);
    if (code == out.count) ++out.count;
    out.codes[i] = code;
  }
  return out;
}

KeyCodes EncodeKeys(const std::vector<const Column*>& keys, bool nulls_match) {
  if (keys.empty()) return KeyCodes{};
  std::vector<KeyCodes> per(keys.size());
  const bool parallel = keys.size() > 1 && keys[0]->length >= kParallelRowThreshold;
  ParallelFor(static_cast<int64_t>(keys.size()), parallel, [&](int64_t k) {
    per[static_cast<size_t>(k)] = EncodeColumn(*keys[static_cast<size_t>(k)], nulls_match);
  });
  KeyCodes acc = std::move(per[0]);
  for (size_t k = 1; k < per.size(); ++k) acc = CombineCodes(acc, per[k]);
  return acc;
}

JoinCodes EncodeJoinKeys(const std::vector<const Column*>& build,
                         const std::vector<const Column*>& probe) {
  JoinCodes out;
  std::vector<KeyCodes> build_codes(build.size());
  std::vector<std::vector<int32_t>> probe_codes(build.size());
  for (size_t k = 0; k < build.size(); ++k) {
    const Column& b = *build[k];
    const Column& p = *probe[k];
    KeyCodes& bc = build_codes[k];
    if (b.type == TypeId::kUtf8) {
      StrMap map(64);
      if (b.is_dictionary()) {
        const Column& dict = *b.dictionary;
        KeyCodes entries = BuildColumn(dict, false, map, [&](int64_t i) { return dict.String(i); });
        bc = ThroughDictionary(b, entries.codes, false);
        // Entry codes -> row-order codes, for the probe side's lookups.
        std::vector<int32_t> renumbered(static_cast<size_t>(entries.count), -1);
        for (int64_t i = 0; i < b.length; ++i)
          if (b.IsValid(i))
            renumbered[static_cast<size_t>(entries.codes[static_cast<size_t>(b.Int32Data()[i])])] =
                bc.codes[static_cast<size_t>(i)];
        auto raw = p.is_dictionary() ? std::vector<int32_t>()
                                     : ProbeColumn(p, map, [&](int64_t i) { return p.String(i); });
        if (p.is_dictionary()) {
          const Column& pd = *p.dictionary;
          std::vector<int32_t> entry(static_cast<size_t>(pd.length));
          for (int64_t j = 0; j < pd.length; ++j) {
            const int32_t e = map.Find(pd.String(j));
            entry[static_cast<size_t>(j)] = e < 0 ? -1 : renumbered[static_cast<size_t>(e)];
          }
          raw.resize(static_cast<size_t>(p.length));
          for (int64_t i = 0; i < p.length; ++i)
            raw[static_cast<size_t>(i)] =
                p.IsNull(i) ? -1 : entry[static_cast<size_t>(p.Int32Data()[i])];
        } else {
          for (auto& c : raw)
            if (c >= 0) c = renumbered[static_cast<size_t>(c)];
        }
        probe_codes[k] = std::move(raw);
      } else {
        bc = BuildColumn(b, false, map, [&](int64_t i) { return b.String(i); });
        if (p.is_dictionary()) {
          const Column& pd = *p.dictionary;
          std::vector<int32_t> entry(static_cast<size_t>(pd.length));
          for (int64_t j = 0; j < pd.length; ++j)
            entry[static_cast<size_t>(j)] = map.Find(pd.String(j));
          std::vector<int32_t> raw(static_cast<size_t>(p.length));
          for (int64_t i = 0; i < p.length; ++i)
            raw[static_cast<size_t>(i)] =
                p.IsNull(i) ? -1 : entry[static_cast<size_t>(p.Int32Data()[i])];
          probe_codes[k] = std::move(raw);
        } else {
          probe_codes[k] = ProbeColumn(p, map, [&](int64_t i) { return p.String(i); });
        }
      }
    } else {
      U64Map map(64);
      bc = BuildColumn(b, false, map, [&](int64_t i) { return FixedKey(b, i); });
      probe_codes[k] = ProbeColumn(p, map, [&](int64_t i) { return FixedKey(p, i); });
    }
  }
  if (build.empty()) return out;
  out.build = std::move(build_codes[0]);
  out.probe = std::move(probe_codes[0]);
  for (size_t k = 1; k < build.size(); ++k) {
    const KeyCodes& b = build_codes[k];
    const auto width = static_cast<uint64_t>(b.count);
    U64Map map(static_cast<size_t>(std::max(out.build.count, b.count)));
    KeyCodes next;
    next.codes.resize(out.build.codes.size());
    for (size_t i = 0; i < next.codes.size(); ++i) {
      const int32_t x = out.build.codes[i], y = b.codes[i];
      if (x < 0 || y < 0) {
        next.codes[i] = -1;
        continue;
      }
      const int32_t code =
          map.FindOrInsert(static_cast<uint64_t>(x) * width + static_cast<uint64_t>(y), next.count);
      if (code == next.count) ++next.count;
      next.codes[i] = code;
    }
    const std::vector<int32_t>& py = probe_codes[k];
    std::vector<int32_t>& px = out.probe;
    const auto n = static_cast<int64_t>(px.size());
    const int64_t chunks = std::max<int64_t>(1, n / kProbeChunkRows);
    ParallelFor(chunks, n >= kParallelRowThreshold, [&](int64_t c) {
      const int64_t end = ChunkBegin(n, chunks, c + 1);
      for (int64_t i = ChunkBegin(n, chunks, c); i < end; ++i) {
        const auto u = static_cast<size_t>(i);
        px[u] = (px[u] < 0 || py[u] < 0)
                    ? -1
                    : map.Find(static_cast<uint64_t>(px[u]) * width + static_cast<uint64_t>(py[u]));
      }
    });
    out.build = std::move(next);
  }
  return out;
}

std::vector<int64_t> FirstRows(const KeyCodes& codes) {
  std::vector<int64_t> first(static_cast<size_t>(codes.count), -1);
  for (size_t i = 0; i < codes.codes.size(); ++i) {
    const int32_t c = codes.codes[i];
    if (c >= 0 && first[static_cast<size_t>(c)] < 0)
      first[static_cast<size_t>(c)] = static_cast<int64_t>(i);
  }
  return first;
}

namespace {
template <typename T>
int Cmp(T a, T b) {
  return a < b ? -1 : (b < a ? 1 : 0);
}
int CmpDouble(double a, double b) {
  const bool na = std::isnan(a), nb = std::isnan(b);
  if (na || nb) return na == nb ? 0 : (na ? 1 : -1);
  return Cmp(a, b);
}
// Compares two valid cells.
int CompareValues(const Column& col, int64_t a, int64_t b) {
  switch (col.type) {
    case TypeId::kInt64:
    case TypeId::kTimestamp:
      return Cmp(col.Int64(a), col.Int64(b));
    case TypeId::kFloat64:
      return CmpDouble(col.Double(a), col.Double(b));
    case TypeId::kBool:
      return Cmp(col.Bool(a), col.Bool(b));
    case TypeId::kDate32:
      return Cmp(col.Date32(a), col.Date32(b));
    case TypeId::kUtf8: {
      const int c = col.String(a).compare(col.String(b));
      return c < 0 ? -1 : (c > 0 ? 1 : 0);
    }
  }
  return 0;
}
}  // namespace

int CompareCells(const Column& col, int64_t a, int64_t b) {
  const bool va = col.IsValid(a), vb = col.IsValid(b);
  if (!va || !vb) return va == vb ? 0 : (va ? 1 : -1);
  return CompareValues(col, a, b);
}

int CompareRows(const std::vector<SortKey>& keys, int64_t a, int64_t b) {
  for (const SortKey& k : keys) {
    const Column& col = *k.column;
    const bool va = col.IsValid(a), vb = col.IsValid(b);
    if (!va || !vb) {
      if (va == vb) continue;
      return (va ? 1 : -1) * (k.nulls_first ? 1 : -1);
    }
    const int c = CompareValues(col, a, b);
    if (c != 0) return k.descending ? -c : c;
  }
  return 0;
}

void SortRows(const std::vector<SortKey>& keys, std::vector<int64_t>& rows) {
  if (keys.size() == 1 && keys[0].column->type == TypeId::kUtf8 &&
      keys[0].column->is_dictionary()) {
    // Rank the dictionary once, then sort by integer rank.
    const Column& col = *keys[0].column;
    const Column& dict = *col.dictionary;
    std::vector<int64_t> order(static_cast<size_t>(dict.length));
    for (int64_t i = 0; i < dict.length; ++i) order[static_cast<size_t>(i)] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t b) { return dict.String(a) < dict.String(b); });
    std::vector<int64_t> rank(order.size());
    for (size_t r = 0; r < order.size(); ++r) {
      const bool tie = r > 0 && dict.String(order[r]) == dict.String(order[r - 1]);
      rank[static_cast<size_t>(order[r])] =
          tie ? rank[static_cast<size_t>(order[r - 1])] : static_cast<int64_t>(r);
    }
    const SortKey& k = keys[0];
    const int64_t null_rank =
        k.nulls_first != k.descending ? -1 : static_cast<int64_t>(order.size());
    auto key_of = [&](int64_t row) {
      return col.IsNull(row) ? null_rank : rank[static_cast<size_t>(col.Int32Data()[row])];
    };
    std::stable_sort(rows.begin(), rows.end(), [&](int64_t a, int64_t b) {
      const int64_t ka = key_of(a), kb = key_of(b);
      return k.descending ? ka > kb : ka < kb;
    });
    return;
  }
  std::stable_sort(rows.begin(), rows.end(),
                   [&](int64_t a, int64_t b) { return CompareRows(keys, a, b) < 0; });
}

namespace {
// dst[i] = src[rows[i]] for W-byte values (memcpy with a constant size: one move each).
template <size_t W>
void GatherRowsFixed(const uint8_t* src, const std::vector<int64_t>& rows, uint8_t* dst) {
  for (size_t i = 0; i < rows.size(); ++i)
    std::memcpy(dst + i * W, src + static_cast<size_t>(rows[i]) * W, W);
}
}  // namespace

ColumnPtr GatherRows(const Column& col, const std::vector<int64_t>& rows) {
  const auto n = static_cast<int64_t>(rows.size());
  auto out = std::make_shared<Column>();
  out->type = col.type;
  out->length = n;
  int64_t nulls = 0;
  for (int64_t r : rows)
    if (r < 0 || col.IsNull(r)) ++nulls;
  if (nulls > 0) out->validity.assign(static_cast<size_t>((n + 7) / 8), 0);
  auto set_valid = [&](int64_t i) {
    if (nulls > 0)
      out->validity[static_cast<size_t>(i >> 3)] |= static_cast<uint8_t>(1u << (i & 7));
  };
  out->null_count = nulls;
  auto valid = [&](int64_t r) { return r >= 0 && col.IsValid(r); };
  if (col.is_dictionary()) {
    out->dictionary = col.dictionary;
    out->data.assign(static_cast<size_t>(n) * 4, 0);
    auto* idx = reinterpret_cast<int32_t*>(out->data.data());
    for (int64_t i = 0; i < n; ++i) {
      const int64_t r = rows[static_cast<size_t>(i)];
      if (!valid(r)) continue;
      idx[i] = col.Int32Data()[r];
      set_valid(i);
    }
    return out;
  }
  switch (col.type) {
    case TypeId::kUtf8: {
      out->offsets.assign(static_cast<size_t>(n) + 1, 0);
      size_t bytes = 0;
      for (int64_t i = 0; i < n; ++i) {
        const int64_t r = rows[static_cast<size_t>(i)];
        if (valid(r)) bytes += col.String(r).size();
      }
      out->data.resize(bytes);
      size_t pos = 0;
      for (int64_t i = 0; i < n; ++i) {
        const int64_t r = rows[static_cast<size_t>(i)];
        if (valid(r)) {
          const std::string_view s = col.String(r);
          if (!s.empty()) std::memcpy(out->data.data() + pos, s.data(), s.size());
          pos += s.size();
          set_valid(i);
        }
        out->offsets[static_cast<size_t>(i) + 1] = static_cast<int32_t>(pos);
      }
      return out;
    }
    case TypeId::kBool: {
      out->data.assign(static_cast<size_t>((n + 7) / 8), 0);
      for (int64_t i = 0; i < n; ++i) {
        const int64_t r = rows[static_cast<size_t>(i)];
        if (!valid(r)) continue;
        if (col.Bool(r))
          out->data[static_cast<size_t>(i >> 3)] |= static_cast<uint8_t>(1u << (i & 7));
        set_valid(i);
      }
      return out;
    }
    default: {
      const auto w = static_cast<size_t>(FixedWidth(col.type));
      out->data.assign(static_cast<size_t>(n) * w, 0);
      if (nulls == 0 && (w == 8 || w == 4)) {  // every row valid: a plain gather
        if (w == 8)
          GatherRowsFixed<8>(col.data.data(), rows, out->data.data());
        else
          GatherRowsFixed<4>(col.data.data(), rows, out->data.data());
        return out;
      }
      for (int64_t i = 0; i < n; ++i) {
        const int64_t r = rows[static_cast<size_t>(i)];
        if (!valid(r)) continue;
        std::memcpy(out->data.data() + static_cast<size_t>(i) * w,
                    col.data.data() + static_cast<size_t>(r) * w, w);
        set_valid(i);
      }
      return out;
    }
  }
}

}  // namespace alambic
