// Reading alambic.yaml and flows/*.yaml into the flow model.
//
// YAML is read by core/flow/yaml_reader.h: a fast reader for the subset of
// YAML that flow files use, and yaml-cpp for the rest; both give the same
// nodes, marks and so the same Flow and diagnostics.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/flow/flow.h"
#include "core/flow/yaml_reader.h"

namespace alambic {

struct LoadedWorkspace {
  Workspace workspace;
  std::vector<Diagnostic> diagnostics;  // syntax and shape problems, in file order
  bool ok() const { return diagnostics.empty(); }
};

struct LoadOptions {
  // Reuse and record parsed flows in <state root>/.alambic/cache/flows
  // (flow_cache.h). The cache is best effort: an unwritable workspace just
  // parses every file.
  bool flow_cache = true;
  // The workspace whose .alambic/ holds the state, when the code is loaded from
  // another directory (a release's checkout); "": the root loaded. Environments'
  // stores default to <state root>/.alambic/store/<name>, and relative `store:`
  // paths resolve against it.
  std::filesystem::path state_root;
  // Called by LoadWorkspace() once alambic.yaml is read, before the flows are
  // (for work that needs only the configuration, started early). May be empty.
  std::function<void(const LoadedWorkspace& config)> on_config;
};

// Loads the workspace at `root` (which must hold alambic.yaml). Shape problems
// (unknown keys, wrong types, duplicate keys, missing names) are collected, not
// fatal; what could be read is still returned. Semantic checks (kinds, params,
// inputs, cycles) are in validate.h.
LoadedWorkspace LoadWorkspace(const std::filesystem::path& root, const LoadOptions& options = {});

// Reads only alambic.yaml, as LoadWorkspace does first: workspace.root and
// workspace.config (no flows), and the problems of alambic.yaml.
LoadedWorkspace LoadWorkspaceConfig(const std::filesystem::path& root,
                                    const LoadOptions& options = {});

// Parses one flow from YAML text; `file` is used in locations.
Flow ParseFlow(const std::string& text, const std::string& file, std::vector<Diagnostic>* diags,
               YamlReader reader = YamlReader::kAuto);

// Finds the workspace root: `start` or its nearest ancestor holding alambic.yaml.
std::filesystem::path FindWorkspaceRoot(const std::filesystem::path& start);

}  // namespace alambic
