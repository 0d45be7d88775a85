// The flow loader (core/flow/loader.h) and validator (core/flow/validate.h) on one flow file:
// the fast YAML reader and yaml-cpp agree on every text both accept, parsing never throws,
// and a flow that parses validates against the built-in kinds.
#include <unistd.h>
#include <filesystem>

#include "core/flow/loader.h"
#include "core/flow/validate.h"
#include "core/flow/yaml_reader.h"
#include "core/recipe/recipe.h"
#include "fuzz/fuzz_target.h"
#include "recipes/builtin_kinds.h"

ALAMBIC_FUZZ_TARGET(flow) {
  using namespace alambic;
  static const RecipeRegistry* kinds = [] {
    auto* r = new RecipeRegistry();
    Status s = RegisterBuiltinKinds(*r);
    FUZZ_CHECK(s.ok(), s.message());
    return r;
  }();
  static const std::filesystem::path root = [] {
    auto p = std::filesystem::temp_directory_path() /
             ("alambic_fuzz_flow_" + std::to_string(::getpid()));
    std::filesystem::create_directories(p / "flows");
    static std::filesystem::path cleanup = p;
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(cleanup, ec);
    });
    return p;
  }();
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto fast = DumpYamlTree(text, YamlReader::kAuto);
  auto reference = DumpYamlTree(text, YamlReader::kYamlCpp);
  if (fast && reference)
    FUZZ_CHECK(*fast == *reference, "fast:\n" + *fast + "\nyaml-cpp:\n" + *reference);
  std::vector<Diagnostic> diags;
  Flow flow = ParseFlow(text, "flows/fuzz.yaml", &diags);
  for (const auto& d : diags) (void)d.ToString();
  if (!diags.empty()) return 0;
  Workspace ws;
  ws.root = root;
  ws.config.name = "fuzz";
  ws.flows.push_back(std::move(flow));
  for (const auto& d : ValidateWorkspace(ws, *kinds)) (void)d.ToString();
  return 0;
}
