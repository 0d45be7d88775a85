// Reading alambic.yaml and flows/*.yaml into the flow model.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "core/flow/flow.h"

namespace alambic {

struct LoadedWorkspace {
  Workspace workspace;
  std::vector<Diagnostic> diagnostics;  // syntax and shape problems, in file order
  bool ok() const { return diagnostics.empty(); }
};

// Loads the workspace at `root` (which must hold alambic.yaml). Shape problems
// (unknown keys, wrong types, duplicate keys, missing names) are collected, not
// fatal; what could be read is still returned. Semantic checks (kinds, params,
// inputs, cycles) are in validate.h.
LoadedWorkspace LoadWorkspace(const std::filesystem::path& root);

// Parses one flow from YAML text; `file` is used in locations.
Flow ParseFlow(const std::string& text, const std::string& file, std::vector<Diagnostic>* diags);

// Finds the workspace root: `start` or its nearest ancestor holding alambic.yaml.
std::filesystem::path FindWorkspaceRoot(const std::filesystem::path& start);

}  // namespace alambic
