// The flow loader's YAML reader (ReadYaml: the fast reader, yaml-cpp for what it does not
// handle) against libfyaml 0.7 on one flow file: libfyaml's document (no marks on
// collections in 0.7's API) and its events built into the same YNode tree the loader walks.
// Best of N runs each. Build and run (ALAMBIC_BENCH_DEPS=1 scripts/setup-deps installs
// libfyaml-dev), after a build in build/:
//   g++ -O2 -std=c++20 -I. bench/orchestration/yaml_readers.cc \
//     build/CMakeFiles/alambic_engine.dir/core/flow/yaml_reader.cc.o \
//     build/CMakeFiles/alambic_base.dir/core/base/diagnostic.cc.o \
//     $(pkg-config --cflags --libs libfyaml) -lyaml-cpp -lfmt -o /tmp/yaml_readers
//   bench/orchestration/gen.py random 10000 /tmp/dag && /tmp/yaml_readers
//   /tmp/dag/alambic/flows/bench.yaml
#include <libfyaml.h>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <vector>
#include "core/flow/yaml_reader.h"
using namespace alambic;
using Clock = std::chrono::steady_clock;
// Builds YNodes from libfyaml's events (the only API of 0.7.12 with every node's mark).
static size_t events(const std::string& text, std::vector<YNode>* out) {
  struct fy_parse_cfg cfg = {};
  struct fy_parser* p = fy_parser_create(&cfg);
  fy_parser_set_string(p, text.data(), text.size());
  std::vector<int> stack, last;
  struct fy_event* e;
  while ((e = fy_parser_parse(p))) {
    YNode y;
    const struct fy_mark* m = fy_event_start_mark(e);
    if (m) {
      y.line = m->line + 1;
      y.column = m->column + 1;
    }
    bool push = false, node = true;
    switch (e->type) {
      case FYET_SCALAR: {
        size_t len;
        const char* s = fy_token_get_text(e->scalar.value, &len);
        y.type = YNode::Type::kScalar;
        y.scalar = std::string_view(s, len);
        y.plain = fy_token_scalar_style(e->scalar.value) == FYSS_PLAIN && !e->scalar.tag;
        break;
      }
      case FYET_SEQUENCE_START:
        y.type = YNode::Type::kSequence;
        push = true;
        break;
      case FYET_MAPPING_START:
        y.type = YNode::Type::kMap;
        push = true;
        break;
      case FYET_SEQUENCE_END:
      case FYET_MAPPING_END:
        stack.pop_back();
        last.pop_back();
        node = false;
        break;
      default:
        node = false;
    }
    if (node) {
      out->push_back(y);
      int id = static_cast<int>(out->size()) - 1;
      if (!stack.empty()) {
        int& l = last.back();
        if (l < 0)
          (*out)[static_cast<size_t>(stack.back())].first = id;
        else
          (*out)[static_cast<size_t>(l)].next = id;
        l = id;
      }
      if (push) {
        stack.push_back(id);
        last.push_back(-1);
      }
    }
    fy_parser_event_free(p, e);
  }
  bool err = fy_parser_get_stream_error(p);
  fy_parser_destroy(p);
  return err ? 0 : out->size();
}

int main(int argc, char** argv) {
  std::ifstream f(argv[1]);
  std::stringstream ss;
  ss << f.rdbuf();
  std::string text = ss.str();
  int reps = argc > 2 ? atoi(argv[2]) : 5;
  double best_fast = 1e9, best_fy = 1e9, best_fy_parse = 1e9;
  size_t nf = 0, ny = 0;
  for (int r = 0; r < reps; ++r) {
    auto t0 = Clock::now();
    YTree tree;
    std::vector<Diagnostic> d;
    int root = ReadYaml(text, "flows/bench.yaml", YamlReader::kAuto, &tree, &d);
    auto t1 = Clock::now();
    if (root < 0) {
      fprintf(stderr, "fast reader failed\n");
      return 1;
    }
    nf = tree.size();
    best_fast = std::min(best_fast, std::chrono::duration<double>(t1 - t0).count());
    t0 = Clock::now();
    struct fy_parse_cfg cfg = {};
    struct fy_document* doc = fy_document_build_from_string(&cfg, text.data(), text.size());
    auto tp = Clock::now();
    if (!doc) {
      fprintf(stderr, "libfyaml failed\n");
      return 1;
    }
    fy_document_destroy(doc);
    best_fy_parse = std::min(best_fy_parse, std::chrono::duration<double>(tp - t0).count());
    t0 = Clock::now();
    std::vector<YNode> nodes;
    nodes.reserve(nf);
    ny = events(text, &nodes);
    t1 = Clock::now();
    best_fy = std::min(best_fy, std::chrono::duration<double>(t1 - t0).count());
  }
  printf(
      "bytes %zu  fast reader %.1f ms (%zu nodes)  libfyaml %.1f ms document, %.1f ms events into "
      "YNodes (%zu nodes)\n",
      text.size(), best_fast * 1e3, nf, best_fy_parse * 1e3, best_fy * 1e3, ny);
}
