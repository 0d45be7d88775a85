// alambic_fuzz_replay: every fuzz target over its seed corpus and its regression inputs
// (fuzz/corpus/<target>/*, fuzz/regressions/<target>/*), in the normal builds. A crash found
// by scripts/fuzz becomes a regression test by adding its input to fuzz/regressions/<target>/.
//
//   alambic_fuzz_replay FUZZ_DIR [TARGET...]   (no TARGET: every target)
//   alambic_fuzz_replay --file TARGET FILE...  (given inputs)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "fuzz/fuzz_target.h"

namespace alambic::fuzz {
namespace {

std::map<std::string, TargetFn>& Targets() {
  static std::map<std::string, TargetFn> targets;
  return targets;
}

std::string Slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

int RunOne(TargetFn fn, const std::filesystem::path& file) {
  // Named first, so that a crash's report says which input it was.
  std::fprintf(stderr, "%s\n", file.c_str());
  const std::string data = Slurp(file);
  fn(reinterpret_cast<const uint8_t*>(data.data()), data.size());
  return 1;
}

}  // namespace

Registrar::Registrar(const char* name, TargetFn fn) { Targets()[name] = fn; }

}  // namespace alambic::fuzz

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  using alambic::fuzz::Targets;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::fprintf(stderr,
                 "usage: alambic_fuzz_replay FUZZ_DIR [TARGET...] | --file TARGET FILE...\n");
    return 2;
  }
  if (args[0] == "--file") {
    if (args.size() < 3 || !Targets().count(args[1])) {
      std::fprintf(stderr, "unknown target\n");
      return 2;
    }
    for (size_t i = 2; i < args.size(); ++i) alambic::fuzz::RunOne(Targets()[args[1]], args[i]);
    return 0;
  }
  const fs::path dir = args[0];
  std::vector<std::string> names(args.begin() + 1, args.end());
  if (names.empty())
    for (const auto& [name, fn] : Targets()) names.push_back(name);
  int failures = 0;
  for (const auto& name : names) {
    auto it = Targets().find(name);
    if (it == Targets().end()) {
      std::fprintf(stderr, "unknown target %s\n", name.c_str());
      ++failures;
      continue;
    }
    std::vector<fs::path> files;
    for (const char* sub : {"corpus", "regressions"}) {
      const fs::path d = dir / sub / name;
      std::error_code ec;
      if (!fs::is_directory(d, ec)) continue;
      for (const auto& e : fs::directory_iterator(d))
        if (e.is_regular_file()) files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    if (files.empty()) {
      std::fprintf(stderr, "%s: no corpus in %s\n", name.c_str(), (dir / "corpus" / name).c_str());
      ++failures;
      continue;
    }
    const auto start = std::chrono::steady_clock::now();
    int ran = 0;
    for (const auto& f : files) ran += alambic::fuzz::RunOne(it->second, f);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - start)
                        .count();
    std::printf("%-10s %4d inputs  %6lld ms\n", name.c_str(), ran, static_cast<long long>(ms));
  }
  return failures == 0 ? 0 : 1;
}
