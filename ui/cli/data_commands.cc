#include "ui/cli/data_commands.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "catalog/catalog.h"
#include "core/table/csv.h"
#include "recipes/export.h"
#include "ui/common/progress.h"
#include "ui/common/text_table.h"

namespace fs = std::filesystem;

namespace alambic {
namespace {

Result<DatasetVersionRecord> ResolveVersion(History& h, const std::string& dataset,
                                            const std::string& version) {
  if (!version.empty()) {
    ALAMBIC_ASSIGN_OR_RETURN(auto v, h.catalog->FindVersion(h.env, dataset, version));
    if (!v)
      return Status::NotFound(
          fmt::format("dataset {} has no version '{}' in {}", dataset, version, h.env));
    return *v;
  }
  ALAMBIC_ASSIGN_OR_RETURN(auto current, h.catalog->CurrentVersions(h.env));
  for (const auto& c : current)
    if (c.dataset == dataset) {
      ALAMBIC_ASSIGN_OR_RETURN(auto v, h.catalog->FindVersion(h.env, dataset, c.version_id));
      if (v) return *v;
    }
  return Status::NotFound(fmt::format(
      "dataset {} has no version in {} (unknown dataset, or never built: run `alambic run`)",
      dataset, h.env));
}

// A table holding rows [0, n) of `t`.
Table Head(const Table& t, int64_t n) {
  if (n <= 0 || n >= t.num_rows()) return t;
  std::vector<ColumnPtr> cols;
  for (const auto& c : t.columns()) {
    ColumnBuilder b(c->type);
    b.Reserve(n);
    for (int64_t i = 0; i < n; ++i) b.AppendFrom(*c, i);
    cols.push_back(b.Finish());
  }
  return *Table::Make(t.schema(), std::move(cols), n);
}

nlohmann::json CellJson(const Column& c, int64_t i) {
  if (c.IsNull(i)) return nullptr;
  switch (c.type) {
    case TypeId::kInt64:
      return c.Int64(i);
    case TypeId::kFloat64: {
      double d = c.Double(i);
      if (!std::isfinite(d)) return FormatCell(c, i);  // JSON has no NaN or infinity
      return d;
    }
    case TypeId::kBool:
      return c.Bool(i);
    default:
      return FormatCell(c, i);
  }
}

int CmdShow(const Globals& g, const std::string& dataset, int64_t head, const std::string& version,
            const std::string& format) {
  auto h = OpenHistory(g, /*read_only=*/true);
  if (!h.ok()) return Fail(h.status());
  auto v = ResolveVersion(*h, dataset, version);
  if (!v.ok()) return Fail(v.status());
  auto full = h->store->Read(dataset, v->id);
  if (!full.ok()) return Fail(full.status());
  Table t = Head(*full, head);
  if (format == "csv") {
    Status st = WriteCsv(t, std::cout);
    std::cout.flush();
    return st.ok() ? kExitOk : Fail(st);
  }
  if (format == "json") {
    // ordered_json: the keys keep the columns' order.
    OJson rows = OJson::array();
    for (int64_t i = 0; i < t.num_rows(); ++i) {
      OJson row = OJson::object();
      for (int c = 0; c < t.num_columns(); ++c)
        row[t.schema().fields[static_cast<size_t>(c)].name] = CellJson(*t.column(c), i);
      rows.push_back(std::move(row));
    }
    std::cout << rows.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return kExitOk;
  }
  std::vector<std::string> header;
  for (const auto& f : t.schema().fields) header.push_back(f.name);
  TextTable table(header, 40);
  for (int c = 0; c < t.num_columns(); ++c) {
    TypeId type = t.schema().fields[static_cast<size_t>(c)].type;
    if (type == TypeId::kInt64 || type == TypeId::kFloat64)
      table.AlignRight(static_cast<size_t>(c));
  }
  for (int64_t i = 0; i < t.num_rows(); ++i) {
    std::vector<std::string> row;
    for (int c = 0; c < t.num_columns(); ++c)
      row.push_back(t.column(c)->IsNull(i) ? "null" : FormatCell(*t.column(c), i));
    table.AddRow(std::move(row));
  }
  std::fputs(table.Render().c_str(), stdout);
  std::printf("(%s of %s rows; %s version %s; %s)\n", FormatCount(t.num_rows()).c_str(),
              FormatCount(full->num_rows()).c_str(), Printable(dataset).c_str(),
              v->id.substr(0, kVersionDisplayLength).c_str(),
              Printable(full->schema().ToString()).c_str());
  return kExitOk;
}

int CmdExport(const Globals& g, const std::string& dataset, const std::string& file,
              const std::string& version, const std::string& decimal) {
  auto h = OpenHistory(g);
  if (!h.ok()) return Fail(h.status());
  auto v = ResolveVersion(*h, dataset, version);
  if (!v.ok()) return Fail(v.status());
  auto t = h->store->Read(dataset, v->id);
  if (!t.ok()) return Fail(t.status());
  // Written beside the target, then renamed: the target is whole or untouched.
  fs::path target = fs::path(g.dir) / file;
  if (target.has_parent_path()) {
    std::error_code mk;
    fs::create_directories(target.parent_path(), mk);
    if (mk)
      return Fail(Status::IoError(fmt::format("{}: cannot create folder: {}",
                                              target.parent_path().string(), mk.message())));
  }
  fs::path temp = target;
  temp += fmt::format(".tmp-{}", ::getpid());
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    if (!out) return Fail(Status::IoError(fmt::format("{}: cannot write", temp.string())));
    // A decimal comma goes with semicolon-separated cells, as in the export kind.
    Status st = decimal == "," ? WriteCsvWithDecimal(*t, out, CsvWriteOptions{';', true}, ',')
                               : WriteCsv(*t, out);
    out.close();
    if (st.ok() && !out) st = Status::IoError(fmt::format("{}: write failed", temp.string()));
    if (!st.ok()) {
      std::error_code ec;
      fs::remove(temp, ec);
      return Fail(st);
    }
  }
  std::error_code ec;
  fs::rename(temp, target, ec);
  if (ec) {
    fs::remove(temp, ec);
    return Fail(Status::IoError(fmt::format("{}: {}", target.string(), ec.message())));
  }
  std::printf("exported %s rows of %s (version %s) to %s\n", FormatCount(t->num_rows()).c_str(),
              dataset.c_str(), v->id.substr(0, kVersionDisplayLength).c_str(), file.c_str());
  return kExitOk;
}

}  // namespace

void DataCommands::AddShow(CLI::App& app) {
  show_ = app.add_subcommand("show", "Print a dataset's rows");
  show_->add_option("dataset", show_ds_)->required();
  show_->add_option("--head", show_head_, "Rows to print (0: all)")->check(CLI::NonNegativeNumber);
  show_->add_option("--version", show_version_, "A version id or unique prefix (default: current)");
  show_->add_option("--format", show_format_)->check(CLI::IsMember({"table", "csv", "json"}));
}

void DataCommands::AddExport(CLI::App& app) {
  export_ = app.add_subcommand("export", "Write a dataset to a CSV file");
  export_->add_option("dataset", export_ds_)->required();
  export_->add_option("--csv", export_csv_, "Target file (missing folders are created)")
      ->required()
      ->type_name("FILE");
  export_->add_option("--version", export_version_,
                      "A version id or unique prefix (default: current)");
  export_
      ->add_option("--decimal", export_decimal_,
                   "Decimal separator of floats, . or , (with , cells are separated by ;)")
      ->check(CLI::IsMember({".", ","}));
}

bool DataCommands::parsed() const { return *show_ || *export_; }

int DataCommands::Run(const Globals& g) const {
  if (*show_) return CmdShow(g, show_ds_, show_head_, show_version_, show_format_);
  if (*export_) return CmdExport(g, export_ds_, export_csv_, export_version_, export_decimal_);
  return kExitUsage;
}

}  // namespace alambic
