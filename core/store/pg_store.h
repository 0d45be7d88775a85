// The PostgreSQL store of an environment (`store: {kind: postgres, connection:
// NAME, schema: S}` in alambic.yaml): each dataset version is a table of schema
// S named from its version id, "v_" and the id's first 61 hex digits (tables
// are immutable once published, like the file store's Arrow files), with a
// comment naming the dataset and the whole id. Columns are typed as the
// postgres connection writes them (core/net/postgres.h: bigint, double
// precision, boolean, text, date, timestamptz) and read back to the same types.
//
//   Stage    CREATE TABLE S."tmp_<id>_<random>" and COPY the rows in;
//   Publish  renames each staged table to its version's name, all in one
//            transaction (a version is there whole or not at all);
//   Read     COPY (SELECT ... ORDER BY _alambic_row) TO STDOUT, streamed into a
//            table (a version table's rows carry their position: see kPgRowColumn);
//            a version staged by this process and not yet published is read
//            from its staged table;
//   CleanTemporaries drops the staged tables left by interrupted runs.
//
// One schema per environment: gc and CleanTemporaries drop what the catalog of
// this workspace's environment does not reference there. The connection is
// opened on first use (commands that do not read data never connect) and
// shared under a mutex: the store is thread-safe, its calls serialised.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "core/net/postgres.h"
#include "core/store/store.h"

namespace alambic {

// The column of every version table that holds each row's position (heap
// tables have no order): reads are ORDER BY it; a dataset column may not use it.
inline constexpr const char* kPgRowColumn = "_alambic_row";

class PgTableStore final : public TableBackend {
 public:
  using Connector = std::function<Result<std::unique_ptr<PgConnection>>()>;
  // `label` names the store in messages ("store of environment warehouse").
  PgTableStore(Connector connect, std::string schema, std::string label);

  // The table name of a version ("v_" + its first 61 characters).
  static std::string TableName(const std::string& version);
  const std::string& schema() const { return schema_; }

  Result<std::pair<std::string, int64_t>> Stage(const std::string& dataset,
                                                const std::string& version,
                                                const Table& table) override;
  Status Publish(const std::vector<Item>& batch) override;
  void Discard(const std::string& staged) override;
  Result<Table> Read(const std::string& dataset, const std::string& version) override;
  bool Exists(const std::string& dataset, const std::string& version) override;
  Status Remove(const std::string& dataset, const std::string& version) override;
  int CleanTemporaries() override;
  // The version tables of the schema (named by their comment; a table without
  // one was not made by a store and is left alone).
  Result<std::vector<Stored>> List() override;
  std::string Locate(const std::string& dataset, const std::string& version) const override;

  // Push-down: stages `output_version` of `dataset` as CREATE TABLE ... AS the
  // query (with its parameters) `make_query` builds from the tables of `input_versions` (qualified
  // names and schemas, staged or published). The query's last column must be
  // kPgRowColumn. Returns the staged name, its rows, bytes and schema.
  struct Input {
    std::string table;  // qualified, quoted
    Schema schema;      // without kPgRowColumn
  };
  struct StagedQuery {
    std::string staged;
    int64_t rows = 0, bytes = 0;
    Schema schema;
  };
  // A query and its text parameters ($1, $2, ...), bound by libpq.
  struct BoundQuery {
    std::string sql;
    std::vector<std::string> params;
  };
  using QueryMaker =
      std::function<Result<BoundQuery>(const std::vector<Input>& inputs, PgConnection& conn)>;
  Result<StagedQuery> StageQuery(const std::string& dataset,
                                 const std::vector<std::string>& input_versions,
                                 const std::string& output_version, const QueryMaker& make_query);

 private:
  // The connection (opened, and the schema created, on first use); lock held.
  Result<PgConnection*> Conn();
  Result<std::string> Qualified(PgConnection& c, const std::string& table) const;
  // The table holding `version`: staged in this process, else published.
  Result<std::string> TableOf(PgConnection& c, const std::string& version) const;
  // The columns of a table (without kPgRowColumn); lock held.
  Result<Schema> Columns(PgConnection& c, const std::string& qualified, bool* has_row) const;

  Connector connect_;
  std::string schema_, label_;
  std::mutex mu_;
  std::unique_ptr<PgConnection> conn_;
  std::string quoted_schema_;
  std::map<std::string, std::string> staged_;  // version -> its staged table, until published
};

}  // namespace alambic
