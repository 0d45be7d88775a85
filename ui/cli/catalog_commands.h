// `alambic catalog sync|search` and `alambic usecase list|show`: the lab catalog
// shared by workspaces (services/catalog_sync.h registers the workspace in it).
#pragma once

#include <string>

#include "catalog/lab_catalog.h"
#include "ui/cli/cli.h"

namespace alambic {

class CatalogCommands {
 public:
  void AddUsecase(CLI::App& app);
  void AddCatalog(CLI::App& app);
  bool parsed() const;
  int Run(const Globals& g) const;

 private:
  CLI::App* usecase_list_ = nullptr;
  CLI::App* usecase_show_ = nullptr;
  CLI::App* catalog_sync_ = nullptr;
  CLI::App* catalog_search_ = nullptr;
  std::string usecase_id_, usecase_format_ = "text";
  UseCaseFilter usecase_filter_;
  std::string search_text_, search_format_ = "text";
};

}  // namespace alambic
