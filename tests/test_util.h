// Helpers shared by the test files: temporary directories and table builders.
#pragma once

#include <filesystem>
#include <string>

namespace alambic::testing {

// A fresh directory under the system temp dir, removed on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

void WriteFile(const std::filesystem::path& p, const std::string& content);
std::string ReadFile(const std::filesystem::path& p);

}  // namespace alambic::testing
