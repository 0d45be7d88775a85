// A problem found in a file the user wrote (a flow, alambic.yaml, a use-case
// card), with its place: what loaders and validators report instead of
// stopping at the first problem.
#pragma once

#include <string>

namespace alambic {

// A place in a YAML file; line and column are 1-based (0: unknown).
struct SourceLoc {
  std::string file;  // relative to the workspace root
  int line = 0;
  int column = 0;
  std::string ToString() const;  // "flows/permis.yaml:12:7"
  bool operator==(const SourceLoc&) const = default;
};

struct Diagnostic {
  SourceLoc loc;
  std::string message;
  std::string ToString() const { return loc.ToString() + ": " + message; }
  bool operator==(const Diagnostic&) const = default;
};

}  // namespace alambic
