// The parsed-flow cache (a hit is the Flow a fresh parse gives, in every field;
// edits, corruption and unwritable workspaces only cost a parse), and the fast
// YAML reader that parses a changed flow (the same tree as yaml-cpp).
#include "core/flow/flow_cache.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <random>

#include <gtest/gtest.h>

#include "core/base/hash.h"
#include "core/flow/loader.h"
#include "tests/test_util.h"

namespace alambic::flow_cache_test {
namespace {

namespace fs = std::filesystem;
using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;

// ---- Comparing flows field by field ----------------------------------------------

// Strict JSON equality: same types (the integer 1 is not the float 1.0, nor the
// unsigned 1), same values, object keys in the same order.
bool SameJson(const nlohmann::json& a, const nlohmann::json& b) {
  using T = nlohmann::json::value_t;
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case T::array:
      if (a.size() != b.size()) return false;
      for (size_t i = 0; i < a.size(); ++i)
        if (!SameJson(a[i], b[i])) return false;
      return true;
    case T::object: {
      if (a.size() != b.size()) return false;
      for (auto ia = a.begin(), ib = b.begin(); ia != a.end(); ++ia, ++ib)
        if (ia.key() != ib.key() || !SameJson(ia.value(), ib.value())) return false;
      return true;
    }
    case T::number_float: {
      const double x = a.get<double>(), y = b.get<double>();
      return std::memcmp(&x, &y, sizeof x) == 0;
    }
    default:
      return a == b;
  }
}

void ExpectSameLoc(const SourceLoc& a, const SourceLoc& b, const std::string& what) {
  EXPECT_EQ(a.file, b.file) << what;
  EXPECT_EQ(a.line, b.line) << what;
  EXPECT_EQ(a.column, b.column) << what;
}

void ExpectSameLocs(const std::vector<SourceLoc>& a, const std::vector<SourceLoc>& b,
                    const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t i = 0; i < a.size(); ++i)
    ExpectSameLoc(a[i], b[i], what + "[" + std::to_string(i) + "]");
}

void ExpectSamePolicy(const ExecPolicy& a, const ExecPolicy& b, const std::string& what) {
  EXPECT_EQ(a.timeout_seconds, b.timeout_seconds) << what;
  EXPECT_EQ(a.retries, b.retries) << what;
  EXPECT_EQ(a.retry_backoff_seconds, b.retry_backoff_seconds) << what;
}

// Every field of the flow model, locations and params included.
void ExpectSameFlow(const Flow& a, const Flow& b) {
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.file, b.file);
  EXPECT_EQ(a.usecase, b.usecase);
  EXPECT_EQ(a.description, b.description);
  ASSERT_EQ(a.schedule.has_value(), b.schedule.has_value());
  if (a.schedule) {
    EXPECT_EQ(a.schedule->cron, b.schedule->cron);
    EXPECT_EQ(a.schedule->timezone, b.schedule->timezone);
    EXPECT_EQ(a.schedule->catchup, b.schedule->catchup);
    ExpectSameLoc(a.schedule->loc, b.schedule->loc, "schedule");
  }
  ASSERT_EQ(a.partitioning.has_value(), b.partitioning.has_value());
  if (a.partitioning) {
    EXPECT_EQ(a.partitioning->by, b.partitioning->by);
    EXPECT_EQ(a.partitioning->values, b.partitioning->values);
    ExpectSameLoc(a.partitioning->loc, b.partitioning->loc, "partitions");
  }
  ExpectSamePolicy(a.policy, b.policy, "flow policy");
  ASSERT_EQ(a.datasets.size(), b.datasets.size());
  for (auto ia = a.datasets.begin(), ib = b.datasets.begin(); ia != a.datasets.end(); ++ia, ++ib) {
    const std::string what = "dataset " + ia->first;
    EXPECT_EQ(ia->first, ib->first);
    EXPECT_EQ(ia->second.name, ib->second.name) << what;
    EXPECT_EQ(ia->second.description, ib->second.description) << what;
    ExpectSameLoc(ia->second.loc, ib->second.loc, what);
    ASSERT_EQ(ia->second.columns.size(), ib->second.columns.size()) << what;
    for (size_t c = 0; c < ia->second.columns.size(); ++c) {
      const ColumnSpec& x = ia->second.columns[c];
      const ColumnSpec& y = ib->second.columns[c];
      EXPECT_EQ(x.name, y.name) << what;
      EXPECT_EQ(x.tags, y.tags) << what;
      EXPECT_EQ(x.description, y.description) << what;
      ExpectSameLoc(x.loc, y.loc, what + " column " + x.name);
    }
  }
  ASSERT_EQ(a.recipes.size(), b.recipes.size());
  for (size_t i = 0; i < a.recipes.size(); ++i) {
    const RecipeSpec& x = a.recipes[i];
    const RecipeSpec& y = b.recipes[i];
    const std::string what = "recipe " + x.name;
    EXPECT_EQ(x.name, y.name);
    EXPECT_EQ(x.kind, y.kind) << what;
    EXPECT_EQ(x.inputs, y.inputs) << what;
    EXPECT_EQ(x.outputs, y.outputs) << what;
    EXPECT_TRUE(SameJson(x.params, y.params))
        << what << ": " << x.params.dump() << " vs " << y.params.dump();
    ASSERT_EQ(x.param_locs.size(), y.param_locs.size()) << what;
    for (auto px = x.param_locs.begin(), py = y.param_locs.begin(); px != x.param_locs.end();
         ++px, ++py) {
      EXPECT_EQ(px->first, py->first) << what;
      ExpectSameLoc(px->second, py->second, what + " param " + px->first);
    }
    EXPECT_EQ(x.script, y.script) << what;
    EXPECT_EQ(x.description, y.description) << what;
    ExpectSamePolicy(x.policy, y.policy, what);
    ExpectSameLoc(x.loc, y.loc, what);
    ExpectSameLoc(x.kind_loc, y.kind_loc, what + " kind");
    ExpectSameLoc(x.params_loc, y.params_loc, what + " params");
    ExpectSameLocs(x.input_locs, y.input_locs, what + " inputs");
    ExpectSameLocs(x.output_locs, y.output_locs, what + " outputs");
  }
  ExpectSameLoc(a.loc, b.loc, "flow");
  // The defaulted operator== covers every field, including any added later.
  EXPECT_TRUE(a == b);
}

// ---- Flows to cache ------------------------------------------------------------

// Every part of the model; a block scalar, so yaml-cpp reads it.
constexpr const char* kRichFlow = R"(flow: permis
usecase: fraude-examens-permis
description: Taux de réussite des centres d'examen du permis
schedule: {cron: "0 3 * * 1", timezone: Europe/Paris, catchup: latest}
partitions: {by: month, values: ["2025-01", "2025-02"]}
timeout: 30.5
retries: 2
retry_backoff: 1.5
datasets:
  exams_raw:
    description: One row per exam
    columns:
      candidate_id: {tags: [personal, pseudonymised], description: the candidate}
      centre_id:
  centres:
recipes:
  - name: collect_exams
    kind: collect
    outputs: [exams_raw]
    params: {path: data/exams.csv, delimiter: ";", header: true, skip: 0, ratio: 0.25, big: 9007199254740993, neg: -12, nothing: null, list: [1, "2", 3.5, [a, b], {k: v}], nested: {a: {b: {c: [true, false, ~]}}}}
    timeout: 600
    retries: 0
  - name: clean
    kind: sql
    inputs: exams_raw
    outputs: [exams]
    script: recipes/clean.sql
    description: Cleans
    params:
      query: |
        select *
        from exams_raw
      "quoted key": 'single ''quoted'''
      unicode: "é\t\"x\""
  - {name: c, kind: sync, inputs: [exams], outputs: [c_out], retry_backoff: 0.5}
)";

// The shape of generated and hand-written flows: the fast reader's.
std::string ChainFlow(int n, const std::string& name = "chain") {
  std::string s = "flow: " + name + "\nrecipes:\n";
  s += "  - {name: s0, kind: collect, outputs: [d0], params: {path: data/seed.csv}}\n";
  for (int i = 1; i < n; ++i)
    s += "  - {name: s" + std::to_string(i) + ", kind: sql, inputs: [d" + std::to_string(i - 1) +
         "], outputs: [d" + std::to_string(i) + "], params: {query: 'select " + std::to_string(i) +
         " as k'}}\n";
  return s;
}

class FlowCacheTest : public ::testing::Test {
 protected:
  void SetUp() override { WriteFile(ws() / "alambic.yaml", "name: t\n"); }
  fs::path ws() const { return dir_.path() / "ws"; }
  fs::path cache_dir() const { return ws() / ".alambic" / "cache" / "flows"; }
  FlowCache Cache() const { return FlowCache(cache_dir()); }
  void Flow(const std::string& file, const std::string& text) {
    WriteFile(ws() / "flows" / file, text);
  }
  LoadedWorkspace Load(bool cache = true) {
    LoadOptions options;
    options.flow_cache = cache;
    return LoadWorkspace(ws(), options);
  }
  // The flows and diagnostics of a load without the cache.
  LoadedWorkspace Fresh() { return Load(false); }
  static void ExpectSameLoad(const LoadedWorkspace& a, const LoadedWorkspace& b) {
    EXPECT_EQ(a.diagnostics, b.diagnostics);
    ASSERT_EQ(a.workspace.flows.size(), b.workspace.flows.size());
    for (size_t i = 0; i < a.workspace.flows.size(); ++i)
      ExpectSameFlow(a.workspace.flows[i], b.workspace.flows[i]);
  }
  std::vector<std::string> CacheFiles() const {
    std::vector<std::string> out;
    std::error_code ec;
    for (auto it = fs::directory_iterator(cache_dir(), ec); !ec && it != fs::directory_iterator();
         it.increment(ec))
      out.push_back(it->path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }
  bool Hit(const std::string& file) const {
    ::alambic::Flow f;
    return Cache().Lookup(file, ReadFile(ws() / file), &f);
  }
  TempDir dir_;
};

TEST_F(FlowCacheTest, EncodeDecodeKeepsEveryField) {
  std::vector<Diagnostic> diags;
  ::alambic::Flow flow = ParseFlow(kRichFlow, "flows/permis.yaml", &diags);
  ASSERT_TRUE(diags.empty()) << diags[0].ToString();
  // What YAML does not produce, but the model holds.
  flow.recipes[0].params["unsigned"] = nlohmann::json(uint64_t{18446744073709551615u});
  flow.recipes[0].params["min"] = nlohmann::json(int64_t{INT64_MIN});
  flow.recipes[0].param_locs["elsewhere"] = {"flows/other.yaml", 7, 9};
  flow.recipes[1].input_locs.push_back({"", 0, 0});
  flow.datasets["extra"].name = "not its key";
  flow.loc = {"flows/permis.yaml", -1, 2147483647};
  std::string bytes;
  ASSERT_TRUE(EncodeFlow(flow, &bytes));
  ::alambic::Flow back;
  ASSERT_TRUE(DecodeFlow(bytes, &back));
  ExpectSameFlow(flow, back);

  // A truncated payload never decodes; a damaged one never crashes.
  ::alambic::Flow junk;
  for (size_t n = 0; n < bytes.size(); ++n)
    EXPECT_FALSE(DecodeFlow(std::string_view(bytes).substr(0, n), &junk)) << n;
  EXPECT_FALSE(DecodeFlow(bytes + "x", &junk));
  std::mt19937 rng(1);
  for (int i = 0; i < 3000; ++i) {
    std::string damaged = bytes;
    for (int k = 0; k < 1 + i % 3; ++k)
      damaged[rng() % damaged.size()] = static_cast<char>(rng() & 0xff);
    (void)DecodeFlow(damaged, &junk);
  }
}

TEST_F(FlowCacheTest, EncodingRefusesWhatYamlCannotProduce) {
  ::alambic::Flow flow;
  flow.recipes.emplace_back().params["blob"] = nlohmann::json::binary({1, 2, 3});
  std::string bytes;
  EXPECT_FALSE(EncodeFlow(flow, &bytes));
  flow.recipes[0].params = nlohmann::json::object();
  nlohmann::json deep = 1;
  for (int i = 0; i < 600; ++i) deep = nlohmann::json::array({deep});
  flow.recipes[0].params["deep"] = deep;
  EXPECT_FALSE(EncodeFlow(flow, &bytes));
}

TEST_F(FlowCacheTest, AHitIsTheFlowAFreshParseGives) {
  Flow("permis.yaml", kRichFlow);
  Flow("chain.yaml", ChainFlow(300));
  LoadedWorkspace fresh = Fresh();
  ASSERT_TRUE(fresh.ok()) << fresh.diagnostics[0].ToString();
  EXPECT_TRUE(CacheFiles().empty()) << "a load without the cache writes nothing";

  LoadedWorkspace cold = Load();
  ExpectSameLoad(cold, fresh);
  EXPECT_EQ(CacheFiles().size(), 2u);
  EXPECT_TRUE(Hit("flows/permis.yaml"));
  EXPECT_TRUE(Hit("flows/chain.yaml"));

  LoadedWorkspace warm = Load();
  ExpectSameLoad(warm, fresh);
  for (const auto& f : fresh.workspace.flows) {
    ::alambic::Flow cached;
    ASSERT_TRUE(Cache().Lookup(f.file, ReadFile(ws() / f.file), &cached));
    ExpectSameFlow(cached, f);
  }
  for (const auto& name : CacheFiles()) EXPECT_EQ(name.find(".tmp."), std::string::npos);
}

TEST_F(FlowCacheTest, EditingTheFileInvalidatesEvenWithTheSameSizeAndTime) {
  Flow("f.yaml", ChainFlow(20, "aa"));
  ASSERT_TRUE(Load().ok());
  ASSERT_TRUE(Hit("flows/f.yaml"));
  const auto mtime = fs::last_write_time(ws() / "flows/f.yaml");
  std::string edited = ChainFlow(20, "aa");
  edited.replace(edited.find("select 7 as k"), 13, "select 8 as k");
  Flow("f.yaml", edited);
  fs::last_write_time(ws() / "flows/f.yaml", mtime);
  ASSERT_EQ(fs::file_size(ws() / "flows/f.yaml"), ChainFlow(20, "aa").size());

  LoadedWorkspace lw = Load();
  ASSERT_TRUE(lw.ok());
  EXPECT_EQ(lw.workspace.flows.at(0).recipes.at(7).params["query"], "select 8 as k");
  ExpectSameLoad(lw, Fresh());
  EXPECT_TRUE(Hit("flows/f.yaml")) << "the entry now holds the edited flow";
  ::alambic::Flow old;
  EXPECT_FALSE(Cache().Lookup("flows/f.yaml", ChainFlow(20, "aa"), &old));
}

TEST_F(FlowCacheTest, ARenamedFileIsNotReadFromTheOldEntry) {
  Flow("a.yaml", ChainFlow(5));
  ASSERT_TRUE(Load().ok());
  fs::rename(ws() / "flows/a.yaml", ws() / "flows/b.yaml");
  LoadedWorkspace lw = Load();
  ASSERT_TRUE(lw.ok());
  EXPECT_EQ(lw.workspace.flows.at(0).file, "flows/b.yaml");
  EXPECT_EQ(lw.workspace.flows.at(0).recipes.at(1).loc.file, "flows/b.yaml");
  ExpectSameLoad(lw, Fresh());
  EXPECT_EQ(CacheFiles(), std::vector<std::string>{Sha256Hex("flows/b.yaml")})
      << "the old file's entry is pruned when the cache changes";
}

// The documented entry layout, for tests that forge entries.
std::string Entry(const std::string& file, const std::string& content, const std::string& payload,
                  uint32_t format = kFlowCacheFormat) {
  std::string e = "ALFLOWC\n";
  for (int i = 0; i < 4; ++i) e.push_back(static_cast<char>(format >> (8 * i)));
  for (int i = 0; i < 8; ++i) e.push_back(static_cast<char>(uint64_t{payload.size()} >> (8 * i)));
  Hasher key;
  key.Field(std::to_string(format)).Field(ALAMBIC_VERSION).Field(file).Field(content);
  e += key.HexDigest();
  e += Sha256Hex(payload);
  return e + payload;
}

TEST_F(FlowCacheTest, AForgedEntryInTheDocumentedLayoutIsUsed) {
  Flow("f.yaml", ChainFlow(3));
  std::vector<Diagnostic> diags;
  ::alambic::Flow flow = ParseFlow(ChainFlow(3), "flows/f.yaml", &diags);
  flow.description = "from the cache";
  std::string payload;
  ASSERT_TRUE(EncodeFlow(flow, &payload));
  WriteFile(Cache().EntryPath("flows/f.yaml"), Entry("flows/f.yaml", ChainFlow(3), payload));
  EXPECT_EQ(Load().workspace.flows.at(0).description, "from the cache");
}

TEST_F(FlowCacheTest, CorruptOrOldEntriesAreIgnoredAndReplaced) {
  const std::string text = ChainFlow(50);
  Flow("f.yaml", text);
  ASSERT_TRUE(Load().ok());
  const fs::path entry = Cache().EntryPath("flows/f.yaml");
  const std::string good = ReadFile(entry);
  ASSERT_GT(good.size(), 200u);
  std::vector<Diagnostic> diags;
  std::string payload;
  ASSERT_TRUE(EncodeFlow(ParseFlow(text, "flows/f.yaml", &diags), &payload));
  const LoadedWorkspace fresh = Fresh();

  const std::vector<std::pair<std::string, std::string>> damaged = {
      {"empty", ""},
      {"magic only", good.substr(0, 8)},
      {"header only", good.substr(0, 148)},
      {"truncated", good.substr(0, good.size() / 2)},
      {"one byte short", good.substr(0, good.size() - 1)},
      {"one byte more", good + "x"},
      {"payload byte flipped",
       [&] {
         std::string s = good;
         s[s.size() - 10] ^= 0x20;
         return s;
       }()},
      {"magic changed", "ALFLOWX\n" + good.substr(8)},
      {"key changed",
       [&] {
         std::string s = good;
         s[20] = s[20] == 'a' ? 'b' : 'a';
         return s;
       }()},
      {"older format", Entry("flows/f.yaml", text, payload, kFlowCacheFormat - 1)},
      {"checksum of garbage", Entry("flows/f.yaml", text, "\x05garbage")},
      {"another file's entry", Entry("flows/g.yaml", text, payload)},
      {"zeros", std::string(good.size(), '\0')},
  };
  for (const auto& [what, bytes] : damaged) {
    SCOPED_TRACE(what);
    WriteFile(entry, bytes);
    ::alambic::Flow f;
    EXPECT_FALSE(Cache().Lookup("flows/f.yaml", text, &f));
    ExpectSameLoad(Load(), fresh);
    EXPECT_EQ(ReadFile(entry), good) << "replaced by a sound entry";
  }
  // An entry that cannot be read or replaced (a directory) only costs a parse.
  fs::remove(entry);
  fs::create_directories(entry / "sub");
  ExpectSameLoad(Load(), fresh);
  EXPECT_TRUE(fs::is_directory(entry));
}

TEST_F(FlowCacheTest, FlowsWithProblemsAreNotCached) {
  Flow("f.yaml", "flow: f\nschedul: x\nrecipes: []\n");
  LoadedWorkspace first = Load();
  ASSERT_EQ(first.diagnostics.size(), 1u);
  EXPECT_EQ(first.diagnostics[0].ToString(),
            "flows/f.yaml:2:1: unknown key 'schedul' in flow (expected one of: flow, usecase, "
            "description, schedule, partitions, datasets, recipes, timeout, retries, "
            "retry_backoff)");
  EXPECT_TRUE(CacheFiles().empty());
  ExpectSameLoad(Load(), first);
}

TEST_F(FlowCacheTest, AFreshWorkspaceGetsItsCacheDirectory) {
  Flow("f.yaml", ChainFlow(3));
  ASSERT_FALSE(fs::exists(ws() / ".alambic"));
  ASSERT_TRUE(Load().ok());
  EXPECT_EQ(CacheFiles(), std::vector<std::string>{Sha256Hex("flows/f.yaml")});
}

TEST_F(FlowCacheTest, AStateDirectoryThatIsAFileOnlyCostsAParse) {
  Flow("f.yaml", ChainFlow(30));
  const LoadedWorkspace fresh = Fresh();
  // Nothing can be created below a file (even by root).
  WriteFile(ws() / ".alambic", "not a directory");
  ExpectSameLoad(Load(), fresh);
  ExpectSameLoad(Load(), fresh);
  EXPECT_EQ(ReadFile(ws() / ".alambic"), "not a directory");
}

TEST_F(FlowCacheTest, EntriesOfRemovedFlowsArePrunedWhenTheCacheChanges) {
  Flow("a.yaml", ChainFlow(3, "a"));
  Flow("b.yaml", ChainFlow(3, "b"));
  ASSERT_TRUE(Load().ok());
  ASSERT_EQ(CacheFiles().size(), 2u);
  fs::remove(ws() / "flows/a.yaml");
  WriteFile(cache_dir() / (Sha256Hex("flows/b.yaml") + ".tmp.1.2"), "a writer's leftover");
  fs::last_write_time(cache_dir() / (Sha256Hex("flows/b.yaml") + ".tmp.1.2"),
                      fs::file_time_type::clock::now() - std::chrono::hours(1));
  ASSERT_TRUE(Load().ok());
  EXPECT_EQ(CacheFiles().size(), 3u) << "nothing written, nothing pruned";
  Flow("b.yaml", ChainFlow(4, "b"));
  ASSERT_TRUE(Load().ok());
  EXPECT_EQ(CacheFiles(), std::vector<std::string>{Sha256Hex("flows/b.yaml")});
}

// ---- The fast YAML reader against yaml-cpp ------------------------------------------

void ExpectSameTree(const std::string& doc) {
  auto fast = DumpYamlTree(doc, YamlReader::kAuto);
  auto reference = DumpYamlTree(doc, YamlReader::kYamlCpp);
  ASSERT_TRUE(fast.has_value()) << "the fast reader should read:\n" << doc;
  ASSERT_TRUE(reference.has_value()) << doc;
  EXPECT_EQ(*fast, *reference) << doc;
}

void ExpectSameFlowBothReaders(const std::string& doc) {
  std::vector<Diagnostic> fast_diags, ref_diags;
  ::alambic::Flow fast = ParseFlow(doc, "flows/f.yaml", &fast_diags, YamlReader::kAuto);
  ::alambic::Flow ref = ParseFlow(doc, "flows/f.yaml", &ref_diags, YamlReader::kYamlCpp);
  EXPECT_EQ(fast_diags, ref_diags) << doc;
  ExpectSameFlow(fast, ref);
}

TEST(YamlReaderTest, FastReaderReadsWhatYamlCppReads) {
  const std::vector<std::string> docs = {
      "a: 1\n",
      "a: 1",
      "flow: f\nrecipes:\n  - {name: a, kind: src, outputs: [x], params: {query: q}}\n",
      "a:\n  b:\nc: 1\n",
      "a:\n  b:",
      "a:\n  b:   ",
      "a:\n  b:\n\n\n",
      "a:\n  b:\n  # c\n",
      "x: 1\na:\n  b:  # c",
      "a:\n  - b:\n",
      "a:\n  - b:",
      "a:\n  -",
      "a:\n  -\nb: 1",
      "a:\n        b: 1\n      \n ",
      "list:\n- a\n- \"b\"\n- 'c'\nn: null\ne:\n",
      "a:\n- name: x\n  kind: y\n- z\nb: 1\n",
      "a:\n  - name: x\n    params:\n      k: [1, 2]\n    inputs:\n    - d1\n    - d2\n",
      "a:\n  -   k: v\n      w: x\n",
      "a: b # c\n  # d\nb: 1\n",
      "a: x#y\nb: a, b [c] {d}\nc: 10:30\nd: http://x.y/z\n",
      "\"k k\": 1\n'q': \"a\\\"b\\\\c\\/d\\n\\t\\r\"\nr: 'it''s'\n",
      "a: réussite\nb: [é, x]\nc: {é: ü}\n",
      "a: {x: 1, y: [1, 2], z: \"q\", w: {}, v: []}\n",
      "a: [ a b , c  ]\nb: { k : v }\n",
      "a: [-1, -x, 1.5, 007, 0x1F, .5, 1e3, true, ~, Null]\n",
      "null: 1\n~: 2\nNULL:\n",
      "a:  x  \nb: y   # c\n",
      "# leading comment\n\n  # indented\na: 1\n",
      "a: \"&x *y !z |w >v\"\n",
      "a: -b-\n",
  };
  for (const auto& doc : docs) ExpectSameTree(doc);
}

TEST(YamlReaderTest, EverythingElseGoesToYamlCpp) {
  const std::vector<std::string> docs = {
      "",
      "# only a comment\n",
      "- a\n- b\n",
      "{a: 1}\n",
      "a: &x 1\nb: *x\n",
      "a: !!str 3\n",
      "a: |\n  text\n",
      "a: >-\n  folded\n",
      "a: multi\n  line\n",
      "a: [1,\n  2]\n",
      "a: \"multi\n  line\"\n",
      "a:\tb\n",
      "a: b\r\nc: d\r\n",
      "\xEF\xBB\xBF"
      "a: 1\n",
      "a: 1\n---\nb: 2\n",
      "%YAML 1.2\n---\na: 1\n",
      "? complex\n: key\n",
      "a: \"\\u00e9\"\n",
      "a: \xff\n",
      "a:b: c\n",
      "a: b: c\n",
      "a: {q: b?c}\n",
      "a: {b, c}\n",
      "a: [b, ]\n",
      "a: {b: }\n",
      "a:\n  - - b\n",
      "<<: {a: 1}\n",
      "a: 1\n b: 2\n",
      "a: 1\n  b: 2\n",
      "a: [unclosed\n",
      "a: 'unclosed\n",
  };
  for (const auto& doc : docs) {
    EXPECT_FALSE(DumpYamlTree(doc, YamlReader::kAuto).has_value()) << doc;
    ExpectSameFlowBothReaders(doc);
  }
}

TEST(YamlReaderTest, AnAliasInsideItsOwnAnchorIsADiagnostic) {
  std::vector<Diagnostic> diags;
  ::alambic::Flow f = ParseFlow(
      "flow: f\nrecipes:\n  - {name: a, kind: src, outputs: [x], params: &p {self: *p}}\n",
      "flows/f.yaml", &diags);
  ASSERT_FALSE(diags.empty());
  EXPECT_EQ(diags[0].ToString(),
            "flows/f.yaml:1:1: YAML too deeply nested or too large (an alias loop?)");
}

// Random documents in the subset's grammar, with random damage: whatever the
// fast reader accepts, yaml-cpp reads into the same tree.
class RandomYaml {
 public:
  explicit RandomYaml(uint32_t seed) : rng_(seed) {}
  std::string Document() {
    std::string doc;
    Block(&doc, 0, 0, true);
    if (R(3) == 0) doc = Damage(doc);
    if (R(10) == 0 && !doc.empty() && doc.back() == '\n') doc.pop_back();
    return doc;
  }

 private:
  int R(int n) { return static_cast<int>(rng_() % static_cast<uint32_t>(n)); }
  template <size_t N>
  const char* Pick(const char* const (&v)[N]) {
    return v[R(static_cast<int>(N))];
  }
  std::string Scalar() {
    static const char* const kScalars[] = {"a",
                                           "x y",
                                           "select 1 as k",
                                           "data/seed.csv",
                                           "-1",
                                           "-x",
                                           "1.5",
                                           "007",
                                           "true",
                                           "null",
                                           "~",
                                           "10:30",
                                           "http://x.y/z",
                                           "a#b",
                                           "a, b",
                                           "a [b]",
                                           "{c}",
                                           "é",
                                           "d'examen",
                                           "q?",
                                           "a!b",
                                           "a&b",
                                           "a*b",
                                           "a|b",
                                           "a%b",
                                           "'q'",
                                           "'it''s'",
                                           "\"d\"",
                                           "\"a\\\"b\"",
                                           "\"t\\tx\"",
                                           "\"\\u00e9\"",
                                           "''",
                                           "\"\"",
                                           "- a",
                                           "? a",
                                           ": a",
                                           "a:",
                                           "a: b",
                                           "a :b",
                                           "#c",
                                           "a #c",
                                           "<<",
                                           "---",
                                           "%x",
                                           "!t a",
                                           "&a x",
                                           "*a",
                                           "|",
                                           "> x",
                                           "@x",
                                           "`x",
                                           "a  ",
                                           "0x1F",
                                           "-",
                                           "a-b"};
    return Pick(kScalars);
  }
  std::string Key() {
    static const char* const kKeys[] = {"a",     "b",   "name", "kind", "params", "x y",
                                        "\"q\"", "'s'", "null", "~",    "1",      "-k",
                                        "k-",    "é",   "a[0]", "a:b",  "k ",     "?k"};
    return Pick(kKeys);
  }
  std::string Spaces() { return std::string(R(6) == 0 ? R(3) : (R(3) == 0 ? 0 : 1), ' '); }
  std::string FlowNode(int depth) {
    std::string s;
    const int n = R(4);
    const bool map = R(2);
    s = (map ? "{" : "[") + Spaces();
    for (int i = 0; i < n; ++i) {
      if (i) s += "," + Spaces();
      if (map) s += Key() + ":" + Spaces();
      s += depth < 3 && R(4) == 0 ? FlowNode(depth + 1) : Scalar();
    }
    return s + Spaces() + (map ? "}" : "]");
  }
  std::string Comment() { return R(5) == 0 ? (R(2) ? " # c" : "  #x: y") : ""; }
  void Noise(std::string* out) {
    const int r = R(12);
    if (r == 0) *out += "\n";
    if (r == 1) *out += std::string(static_cast<size_t>(R(6)), ' ') + "# comment\n";
    if (r == 2) *out += std::string(static_cast<size_t>(R(4)), ' ') + "\n";
  }
  std::string Inline(int depth) { return R(4) == 0 ? FlowNode(depth) : Scalar(); }
  void Value(std::string* out, int indent, int depth) {
    const int r = R(depth > 3 ? 3 : 6);
    if (r <= 1) {
      *out += " " + Inline(depth) + Comment() + "\n";
      return;
    }
    *out += Comment() + "\n";
    if (r == 2) return;  // empty
    Noise(out);
    int step = R(5) == 0 ? R(5) : 2;
    const bool map = R(2);
    if (!map && R(3) == 0) step = 0;  // a sequence under its key's column
    Block(out, indent + step, depth + 1, map);
  }
  void Block(std::string* out, int indent, int depth, bool map) {
    const int n = 1 + R(3);
    for (int i = 0; i < n; ++i) {
      const std::string ind(static_cast<size_t>(indent), ' ');
      if (map) {
        *out += ind + Key() + Spaces() + ":";
        Value(out, indent, depth);
      } else {
        *out += ind + "-";
        const int r = R(5);
        if (r == 0) {
          Value(out, indent, depth);
        } else if (r == 1 && depth < 4) {  // a mapping in the item
          const int w = 1 + (R(4) == 0 ? R(3) : 0);
          *out += std::string(static_cast<size_t>(w), ' ') + Key() + ":";
          Value(out, indent + 1 + w, depth + 1);
          for (int j = R(3); j > 0; --j) {
            Noise(out);
            *out += std::string(static_cast<size_t>(indent + 1 + w), ' ') + Key() + ":";
            Value(out, indent + 1 + w, depth + 1);
          }
        } else {
          *out += " " + Inline(depth) + Comment() + "\n";
        }
      }
      Noise(out);
    }
  }
  std::string Damage(std::string s) {
    static const char kAlphabet[] = " \n-:#,[]{}'\"!&*?|>%@`\\~a1\t";
    for (int k = R(4); k > 0 && !s.empty(); --k) {
      const size_t at = rng_() % s.size();
      const char c = kAlphabet[R(static_cast<int>(sizeof kAlphabet) - 1)];
      const int op = R(3);
      if (op == 0)
        s.insert(s.begin() + static_cast<std::ptrdiff_t>(at), c);
      else if (op == 1)
        s.erase(at, 1);
      else
        s[at] = c;
    }
    return s;
  }
  std::mt19937 rng_;
};

TEST(YamlReaderTest, RandomDocumentsReadTheSameByBothReaders) {
  RandomYaml gen(20240611);
  int accepted = 0;
  const int kDocuments = 6000;
  for (int i = 0; i < kDocuments; ++i) {
    const std::string doc = gen.Document();
    auto fast = DumpYamlTree(doc, YamlReader::kAuto);
    if (!fast) continue;
    ++accepted;
    auto reference = DumpYamlTree(doc, YamlReader::kYamlCpp);
    ASSERT_TRUE(reference.has_value()) << "yaml-cpp rejects what the fast reader read:\n" << doc;
    ASSERT_EQ(*fast, *reference) << doc;
    if (i % 10 == 0) ExpectSameFlowBothReaders(doc);
  }
  EXPECT_GT(accepted, kDocuments / 5) << "the generator should mostly stay in the subset";
}

TEST(YamlReaderTest, FlowsAndDiagnosticsAreTheSameByBothReaders) {
  ExpectSameFlowBothReaders(kRichFlow);
  ExpectSameFlowBothReaders(ChainFlow(200));
  ExpectSameFlowBothReaders(
      ReadFile(fs::path(ALAMBIC_SOURCE_DIR) / "examples/permis/flows/permis.yaml"));
  // Shapes and problems (each reported with its place).
  const std::vector<std::string> docs = {
      "flow: f\nrecipes:\n  - name: a\n    kind: colect\n    outputs: [x]\n",
      "flow: f\nrecipes:\n  - name: a\n    kind: src\n    outputs: [x]\n    params:\n      rows: "
      "many\n      colour: red\n",
      "flow: f\nflow: g\nrecipes: []\n",
      "flow: f\nschedul: x\nrecipes:\n  - {name: a, kind: src, output: [x], params: {query: q}}\n",
      "flow: f\nschedule: {cron: \"0 3 * *\", catchup: sometimes}\nretries: -1\nrecipes: []\n",
      "flow: f\nusecase: fraude\ndatasets:\n  x:\n    columns: {candidate_id: {tags: "
      "[personal]}}\nrecipes:\n  - {name: a, kind: src, outputs: [x], params: {query: q}}\n",
      "flow: f\nrecipes:\n  - name: a\n    params:\n    kind: k\n",
      "flow: f\nrecipes:\n  - name: a\n    params: [1]\n  - just a string\n",
      "flow: f\nrecipes: {a: 1}\ndatasets: [x]\npartitions: {values: a}\n",
      "flow: f\ndatasets:\n  x:\n    columns:\n      c: {tags: [a, {b: c}]}\n      c:\n",
      "flow: [f]\ntimeout: -3\nretry_backoff: x\nrecipes:\n  - {timeout: 2, retries: 1001}\n",
      "flow: f\nrecipes:\n  - {name: a, kind: k, params: {a: 1, a: 2, b: {c: 1, c: 2}}}\n",
      "flow: f\nrecipes:\n  - {name: a, kind: src\n",
      "recipes: []\n",
  };
  for (const auto& doc : docs) ExpectSameFlowBothReaders(doc);
}

}  // namespace
}  // namespace alambic::flow_cache_test
