#include "core/base/diagnostic.h"

#include <fmt/format.h>

namespace alambic {

std::string SourceLoc::ToString() const {
  if (line <= 0) return file;
  return fmt::format("{}:{}:{}", file, line, column);
}

}  // namespace alambic
