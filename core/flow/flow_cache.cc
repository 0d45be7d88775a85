#include "core/flow/flow_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <random>
#include <set>

#include <fmt/format.h>

#include "core/base/hash.h"

namespace alambic {

namespace {

constexpr char kMagic[8] = {'A', 'L', 'F', 'L', 'O', 'W', 'C', '\n'};
constexpr size_t kHexDigest = 64;  // SHA-256 in hex
constexpr size_t kHeaderSize = sizeof kMagic + 4 + 8 + 2 * kHexDigest;
constexpr size_t kMaxEntrySize = size_t{1} << 30;
constexpr int kMaxJsonDepth = 512;
// Reserving for a count read from an entry: at most what the rest of the
// entry can hold (the fewest bytes one encoded RecipeSpec / SourceLoc takes),
// and for lists, at most kMaxReserve (longer ones grow as they are read).
constexpr size_t kMinRecipeBytes = 25;
constexpr size_t kMinLocBytes = 3;
constexpr size_t kMaxReserve = 4096;
constexpr size_t kMaxReservedRecipes = size_t{1} << 17;
// A temporary file older than this was left by a writer that died.
constexpr auto kStaleTemporary = std::chrono::minutes(1);

// ---- Encoding: LEB128 varints, zigzag for signed, length-prefixed strings ----

class Encoder {
 public:
  explicit Encoder(std::string* out) : out_(out) {}

  void Varint(uint64_t v) {
    while (v >= 0x80) {
      out_->push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    out_->push_back(static_cast<char>(v));
  }
  void Signed(int64_t v) {
    Varint((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63));
  }
  void Byte(uint8_t b) { out_->push_back(static_cast<char>(b)); }
  void Double(double d) {
    uint64_t bits;
    std::memcpy(&bits, &d, sizeof bits);
    for (int i = 0; i < 8; ++i) Byte(static_cast<uint8_t>(bits >> (8 * i)));
  }
  void String(std::string_view s) {
    Varint(s.size());
    out_->append(s);
  }
  void Strings(const std::vector<std::string>& v) {
    Varint(v.size());
    for (const auto& s : v) String(s);
  }
  // The file of most locations is the flow's own: written as a 0.
  void Loc(const SourceLoc& loc, const std::string& flow_file) {
    if (loc.file == flow_file) {
      Varint(0);
    } else {
      Varint(loc.file.size() + 1);
      out_->append(loc.file);
    }
    Signed(loc.line);
    Signed(loc.column);
  }
  void Locs(const std::vector<SourceLoc>& v, const std::string& flow_file) {
    Varint(v.size());
    for (const auto& l : v) Loc(l, flow_file);
  }
  void Policy(const ExecPolicy& p) {
    Byte(p.timeout_seconds.has_value());
    if (p.timeout_seconds) Double(*p.timeout_seconds);
    Byte(p.retries.has_value());
    if (p.retries) Signed(*p.retries);
    Byte(p.retry_backoff_seconds.has_value());
    if (p.retry_backoff_seconds) Double(*p.retry_backoff_seconds);
  }
  bool Json(const nlohmann::json& j, int depth) {
    if (depth > kMaxJsonDepth) return false;
    using T = nlohmann::json::value_t;
    switch (j.type()) {
      case T::null:
        Byte(0);
        return true;
      case T::boolean:
        Byte(j.get<bool>() ? 2 : 1);
        return true;
      case T::number_integer:
        Byte(3);
        Signed(j.get<int64_t>());
        return true;
      case T::number_unsigned:
        Byte(4);
        Varint(j.get<uint64_t>());
        return true;
      case T::number_float:
        Byte(5);
        Double(j.get<double>());
        return true;
      case T::string:
        Byte(6);
        String(j.get_ref<const std::string&>());
        return true;
      case T::array:
        Byte(7);
        Varint(j.size());
        for (const auto& e : j)
          if (!Json(e, depth + 1)) return false;
        return true;
      case T::object:
        Byte(8);
        Varint(j.size());
        for (const auto& [k, v] : j.items()) {
          String(k);
          if (!Json(v, depth + 1)) return false;
        }
        return true;
      case T::binary:
      case T::discarded:
        return false;
    }
    return false;
  }

 private:
  std::string* out_;
};

class Decoder {
 public:
  explicit Decoder(std::string_view in) : p_(in.data()), end_(in.data() + in.size()) {}
  bool ok() const { return ok_; }
  bool AtEnd() const { return p_ == end_; }
  size_t Remaining() const { return static_cast<size_t>(end_ - p_); }

  uint64_t Varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ == end_) return Fail();
      const auto b = static_cast<uint8_t>(*p_++);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    return Fail();
  }
  int64_t Signed() {
    uint64_t u = Varint();
    return static_cast<int64_t>((u >> 1) ^ (~(u & 1) + 1));
  }
  int Int() {
    int64_t v = Signed();
    if (v < INT32_MIN || v > INT32_MAX) return static_cast<int>(Fail());
    return static_cast<int>(v);
  }
  uint8_t Byte() {
    if (p_ == end_) return static_cast<uint8_t>(Fail());
    return static_cast<uint8_t>(*p_++);
  }
  bool Bool() {
    uint8_t b = Byte();
    if (b > 1) Fail();
    return b == 1;
  }
  double Double() {
    if (end_ - p_ < 8) return static_cast<double>(Fail());
    uint64_t bits = 0;
    for (int i = 0; i < 8; ++i)
      bits |= static_cast<uint64_t>(static_cast<uint8_t>(p_[i])) << (8 * i);
    p_ += 8;
    double d;
    std::memcpy(&d, &bits, sizeof d);
    return d;
  }
  // A count of elements that take at least one byte each.
  size_t Count() {
    uint64_t n = Varint();
    if (n > static_cast<uint64_t>(end_ - p_)) return Fail();
    return static_cast<size_t>(n);
  }
  std::string String() {
    size_t n = Count();
    if (!ok_) return {};
    std::string s(p_, n);
    p_ += n;
    return s;
  }
  std::vector<std::string> Strings() {
    std::vector<std::string> v;
    const size_t n = Count();
    v.reserve(std::min(n, kMaxReserve));
    for (size_t i = 0; i < n && ok_; ++i) v.push_back(String());
    return v;
  }
  SourceLoc Loc(const std::string& flow_file) {
    SourceLoc loc;
    uint64_t tag = Varint();
    if (tag == 0) {
      loc.file = flow_file;
    } else if (tag - 1 <= static_cast<uint64_t>(end_ - p_)) {
      loc.file.assign(p_, tag - 1);
      p_ += tag - 1;
    } else {
      Fail();
    }
    loc.line = Int();
    loc.column = Int();
    return loc;
  }
  std::vector<SourceLoc> Locs(const std::string& flow_file) {
    std::vector<SourceLoc> v;
    const size_t n = Count();
    v.reserve(std::min({n, Remaining() / kMinLocBytes, kMaxReserve}));
    for (size_t i = 0; i < n && ok_; ++i) v.push_back(Loc(flow_file));
    return v;
  }
  ExecPolicy Policy() {
    ExecPolicy p;
    if (Bool()) p.timeout_seconds = Double();
    if (Bool()) p.retries = Int();
    if (Bool()) p.retry_backoff_seconds = Double();
    return p;
  }
  nlohmann::json Json(int depth) {
    if (depth > kMaxJsonDepth) return Fail();
    switch (Byte()) {
      case 0:
        return nullptr;
      case 1:
        return false;
      case 2:
        return true;
      case 3:
        return Signed();
      case 4:
        return Varint();
      case 5:
        return Double();
      case 6:
        return String();
      case 7: {
        nlohmann::json arr = nlohmann::json::array();
        const size_t n = Count();
        auto& v = arr.get_ref<nlohmann::json::array_t&>();
        for (size_t i = 0; i < n && ok_; ++i) v.push_back(Json(depth + 1));
        return arr;
      }
      case 8: {
        nlohmann::json obj = nlohmann::json::object();
        const size_t n = Count();
        auto& m = obj.get_ref<nlohmann::json::object_t&>();
        for (size_t i = 0; i < n && ok_; ++i) {
          std::string key = String();
          // Keys come sorted and unique, as an object holds them.
          if (!m.empty() && !(m.rbegin()->first < key)) return Fail();
          m.emplace_hint(m.end(), std::move(key), Json(depth + 1));
        }
        return obj;
      }
      default:
        return Fail();
    }
  }

 private:
  // Marks the input unsound; returns a zero for the caller to return.
  uint64_t Fail() {
    ok_ = false;
    p_ = end_;
    return 0;
  }
  const char* p_;
  const char* end_;
  bool ok_ = true;
};

std::string EntryKey(const std::string& file, std::string_view content) {
  Hasher h;
  h.Field(std::to_string(kFlowCacheFormat)).Field(ALAMBIC_VERSION).Field(file).Field(content);
  return h.HexDigest();
}

void PutU32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}
void PutU64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}
uint64_t GetLE(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return v;
}

// The whole content of `path`, if it is a regular file of at most `max` bytes.
bool ReadSmallFile(const std::filesystem::path& path, size_t max, std::string* out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st;
  bool ok =
      ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) <= max;
  if (ok) {
    out->resize(static_cast<size_t>(st.st_size));
    size_t done = 0;
    while (done < out->size()) {
      ssize_t n = ::read(fd, out->data() + done, out->size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    ok = done == out->size();
  }
  ::close(fd);
  return ok;
}

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

}  // namespace

bool EncodeFlow(const Flow& flow, std::string* out) {
  out->clear();
  Encoder e(out);
  const std::string& file = flow.file;
  e.String(flow.file);
  e.String(flow.name);
  e.String(flow.usecase);
  e.String(flow.description);
  e.Byte(flow.schedule.has_value());
  if (flow.schedule) {
    e.String(flow.schedule->cron);
    e.String(flow.schedule->timezone);
    e.String(flow.schedule->catchup);
    e.Varint(static_cast<uint64_t>(flow.schedule->catchup_max));
    e.String(flow.schedule->catchup_window);
    e.String(flow.schedule->start);
    e.String(flow.schedule->end);
    e.String(flow.schedule->dst_gap);
    e.String(flow.schedule->dst_overlap);
    e.Varint(static_cast<uint64_t>(flow.schedule->retries));
    e.String(flow.schedule->retry_delay);
    e.Varint(static_cast<uint64_t>(flow.schedule->max_active_runs));
    e.String(flow.schedule->overlap);
    e.String(flow.schedule->timeout);
    e.String(flow.schedule->late_after);
    e.Varint(flow.schedule->on_change.size());
    for (const auto& t : flow.schedule->on_change) {
      e.String(t.kind);
      e.String(t.target);
      e.String(t.connection);
      e.String(t.every);
      e.Loc(t.loc, file);
    }
    e.Loc(flow.schedule->loc, file);
  }
  e.Byte(flow.partitioning.has_value());
  if (flow.partitioning) {
    e.String(flow.partitioning->by);
    e.Strings(flow.partitioning->values);
    e.Loc(flow.partitioning->loc, file);
  }
  e.Policy(flow.policy);
  e.Varint(flow.datasets.size());
  for (const auto& [key, ds] : flow.datasets) {
    e.String(key);
    e.String(ds.name);
    e.String(ds.description);
    e.Varint(ds.columns.size());
    for (const auto& c : ds.columns) {
      e.String(c.name);
      e.Strings(c.tags);
      e.String(c.description);
      e.Loc(c.loc, file);
    }
    e.Loc(ds.loc, file);
  }
  e.Varint(flow.recipes.size());
  for (const auto& r : flow.recipes) {
    e.String(r.name);
    e.String(r.kind);
    e.Strings(r.inputs);
    e.Strings(r.outputs);
    if (!e.Json(r.params, 0)) return false;
    e.Varint(r.param_locs.size());
    for (const auto& [key, loc] : r.param_locs) {
      e.String(key);
      e.Loc(loc, file);
    }
    e.String(r.script);
    e.String(r.description);
    e.Policy(r.policy);
    e.Varint(static_cast<uint64_t>(r.resources.cpus));
    e.String(r.resources.mem);
    e.String(r.resources.time);
    e.Loc(r.loc, file);
    e.Loc(r.kind_loc, file);
    e.Loc(r.params_loc, file);
    e.Locs(r.input_locs, file);
    e.Locs(r.output_locs, file);
  }
  e.Loc(flow.loc, file);
  return true;
}

bool DecodeFlow(std::string_view bytes, Flow* out) {
  Decoder d(bytes);
  Flow flow;
  flow.file = d.String();
  const std::string& file = flow.file;
  flow.name = d.String();
  flow.usecase = d.String();
  flow.description = d.String();
  if (d.Bool()) {
    Schedule s;
    s.cron = d.String();
    s.timezone = d.String();
    s.catchup = d.String();
    s.catchup_max = static_cast<int>(d.Varint());
    s.catchup_window = d.String();
    s.start = d.String();
    s.end = d.String();
    s.dst_gap = d.String();
    s.dst_overlap = d.String();
    s.retries = static_cast<int>(d.Varint());
    s.retry_delay = d.String();
    s.max_active_runs = static_cast<int>(d.Varint());
    s.overlap = d.String();
    s.timeout = d.String();
    s.late_after = d.String();
    const uint64_t triggers = d.Varint();
    for (uint64_t i = 0; i < triggers && d.ok(); ++i) {
      ChangeTrigger t;
      t.kind = d.String();
      t.target = d.String();
      t.connection = d.String();
      t.every = d.String();
      t.loc = d.Loc(file);
      s.on_change.push_back(std::move(t));
    }
    s.loc = d.Loc(file);
    flow.schedule = std::move(s);
  }
  if (d.Bool()) {
    Partitioning p;
    p.by = d.String();
    p.values = d.Strings();
    p.loc = d.Loc(file);
    flow.partitioning = std::move(p);
  }
  flow.policy = d.Policy();
  for (size_t n = d.Count(), i = 0; i < n && d.ok(); ++i) {
    std::string key = d.String();
    DatasetSpec ds;
    ds.name = d.String();
    ds.description = d.String();
    for (size_t m = d.Count(), j = 0; j < m && d.ok(); ++j) {
      ColumnSpec c;
      c.name = d.String();
      c.tags = d.Strings();
      c.description = d.String();
      c.loc = d.Loc(file);
      ds.columns.push_back(std::move(c));
    }
    ds.loc = d.Loc(file);
    if (!flow.datasets.emplace(std::move(key), std::move(ds)).second) return false;
  }
  const size_t recipes = d.Count();
  flow.recipes.reserve(std::min({recipes, d.Remaining() / kMinRecipeBytes, kMaxReservedRecipes}));
  for (size_t i = 0; i < recipes && d.ok(); ++i) {
    RecipeSpec& r = flow.recipes.emplace_back();
    r.name = d.String();
    r.kind = d.String();
    r.inputs = d.Strings();
    r.outputs = d.Strings();
    r.params = d.Json(0);
    for (size_t m = d.Count(), j = 0; j < m && d.ok(); ++j) {
      std::string key = d.String();
      SourceLoc loc = d.Loc(file);
      if (!r.param_locs.empty() && !(r.param_locs.rbegin()->first < key)) return false;
      r.param_locs.emplace_hint(r.param_locs.end(), std::move(key), std::move(loc));
    }
    r.script = d.String();
    r.description = d.String();
    r.policy = d.Policy();
    r.resources.cpus = static_cast<int>(std::min<uint64_t>(d.Varint(), 100000));
    r.resources.mem = d.String();
    r.resources.time = d.String();
    r.loc = d.Loc(file);
    r.kind_loc = d.Loc(file);
    r.params_loc = d.Loc(file);
    r.input_locs = d.Locs(file);
    r.output_locs = d.Locs(file);
  }
  flow.loc = d.Loc(file);
  if (!d.ok() || !d.AtEnd()) return false;
  *out = std::move(flow);
  return true;
}

FlowCache::FlowCache(std::filesystem::path dir) : dir_(std::move(dir)) {}

std::filesystem::path FlowCache::EntryPath(const std::string& file) const {
  return dir_ / Sha256Hex(file);
}

bool FlowCache::Lookup(const std::string& file, std::string_view content, Flow* out) const {
  std::string entry;
  if (!ReadSmallFile(EntryPath(file), kMaxEntrySize, &entry)) return false;
  if (entry.size() < kHeaderSize || std::memcmp(entry.data(), kMagic, sizeof kMagic) != 0)
    return false;
  const char* p = entry.data() + sizeof kMagic;
  if (GetLE(p, 4) != kFlowCacheFormat) return false;
  if (GetLE(p + 4, 8) != entry.size() - kHeaderSize) return false;
  std::string_view key(p + 12, kHexDigest), check(p + 12 + kHexDigest, kHexDigest);
  std::string_view payload = std::string_view(entry).substr(kHeaderSize);
  if (key != EntryKey(file, content) || check != Sha256Hex(payload)) return false;
  Flow flow;
  if (!DecodeFlow(payload, &flow) || flow.file != file) return false;
  *out = std::move(flow);
  return true;
}

bool FlowCache::Store(const std::string& file, std::string_view content, const Flow& flow) const {
  std::string payload;
  if (!EncodeFlow(flow, &payload)) return false;
  std::string entry(kMagic, sizeof kMagic);
  PutU32(&entry, kFlowCacheFormat);
  PutU64(&entry, payload.size());
  entry += EntryKey(file, content);
  entry += Sha256Hex(payload);
  entry += payload;

  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) return false;
  const std::filesystem::path final_path = EntryPath(file);
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  const std::filesystem::path temp =
      fmt::format("{}.tmp.{}.{:016x}", final_path.string(), ::getpid(), rng());
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  bool ok = WriteAll(fd, entry);
  ok = (::close(fd) == 0) && ok;
  if (ok) ok = ::rename(temp.c_str(), final_path.c_str()) == 0;
  if (!ok) ::unlink(temp.c_str());
  return ok;
}

void FlowCache::Prune(const std::vector<std::string>& files) const {
  std::set<std::string> keep;
  for (const auto& f : files) keep.insert(Sha256Hex(f));
  std::error_code ec;
  const auto now = std::filesystem::file_time_type::clock::now();
  for (auto it = std::filesystem::directory_iterator(dir_, ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (keep.count(name)) continue;
    std::error_code ignored;
    if (name.find(".tmp.") != std::string::npos) {
      // Another process may be about to rename it.
      auto mtime = std::filesystem::last_write_time(it->path(), ignored);
      if (ignored || now - mtime < kStaleTemporary) continue;
    }
    std::filesystem::remove(it->path(), ignored);
  }
}

}  // namespace alambic
