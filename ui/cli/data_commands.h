// `alambic show` and `alambic export`: a dataset version's rows, on the terminal
// (table, CSV, JSON) or into a CSV file.
#pragma once

#include <cstdint>
#include <string>

#include "ui/cli/cli.h"

namespace alambic {

class DataCommands {
 public:
  void AddShow(CLI::App& app);
  void AddExport(CLI::App& app);
  bool parsed() const;
  int Run(const Globals& g) const;

 private:
  CLI::App* show_ = nullptr;
  CLI::App* export_ = nullptr;
  std::string show_ds_, show_version_, show_format_ = "table";
  int64_t show_head_ = 20;
  std::string export_ds_, export_csv_, export_version_, export_decimal_ = ".";
};

}  // namespace alambic
