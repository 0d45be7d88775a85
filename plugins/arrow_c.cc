#include "plugins/arrow_c.h"

#include <cstring>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace alambic {
namespace {

// Stands in for empty buffers, which the interface wants non-null.
const uint64_t kEmpty[2] = {0, 0};

struct SchemaPrivate {
  std::string format, name;
  std::vector<ArrowSchema*> children;
  ArrowSchema* dictionary = nullptr;
};

void ReleaseSchema(ArrowSchema* s) {
  auto* p = static_cast<SchemaPrivate*>(s->private_data);
  for (ArrowSchema* c : p->children) {
    if (c->release) c->release(c);
    delete c;
  }
  if (p->dictionary) {
    if (p->dictionary->release) p->dictionary->release(p->dictionary);
    delete p->dictionary;
  }
  delete p;
  s->release = nullptr;
}

void FillSchema(ArrowSchema* s, std::string format, std::string name, int64_t flags,
                std::vector<ArrowSchema*> children, ArrowSchema* dictionary) {
  auto* p = new SchemaPrivate{std::move(format), std::move(name), std::move(children), dictionary};
  s->format = p->format.c_str();
  s->name = p->name.c_str();
  s->metadata = nullptr;
  s->flags = flags;
  s->n_children = static_cast<int64_t>(p->children.size());
  s->children = p->children.empty() ? nullptr : p->children.data();
  s->dictionary = dictionary;
  s->release = ReleaseSchema;
  s->private_data = p;
}

struct ArrayPrivate {
  std::shared_ptr<const void> keep_alive;  // a column or the table
  std::vector<const void*> buffers;
  std::vector<ArrowArray*> children;
  ArrowArray* dictionary = nullptr;
};

void ReleaseArray(ArrowArray* a) {
  auto* p = static_cast<ArrayPrivate*>(a->private_data);
  for (ArrowArray* c : p->children) {
    if (c->release) c->release(c);
    delete c;
  }
  if (p->dictionary) {
    if (p->dictionary->release) p->dictionary->release(p->dictionary);
    delete p->dictionary;
  }
  delete p;
  a->release = nullptr;
}

const void* Buf(const void* data, size_t size) { return size ? data : kEmpty; }

const char* FormatOf(TypeId t) {
  switch (t) {
    case TypeId::kInt64:
      return "l";
    case TypeId::kFloat64:
      return "g";
    case TypeId::kBool:
      return "b";
    case TypeId::kUtf8:
      return "u";
    case TypeId::kDate32:
      return "tdD";
    case TypeId::kTimestamp:
      return "tsu:UTC";
  }
  return "";
}

void ExportColumn(const ColumnPtr& col, const std::string& name, ArrowSchema* s, ArrowArray* a) {
  ArrowSchema* dict_schema = nullptr;
  ArrowArray* dict_array = nullptr;
  if (col->is_dictionary()) {
    dict_schema = new ArrowSchema();
    dict_array = new ArrowArray();
    ExportColumn(col->dictionary, "", dict_schema, dict_array);
  }
  FillSchema(s, col->is_dictionary() ? "i" : FormatOf(col->type), name, ARROW_FLAG_NULLABLE, {},
             dict_schema);
  auto* p = new ArrayPrivate();
  p->keep_alive = col;
  p->dictionary = dict_array;
  p->buffers.push_back(col->null_count ? col->validity.data() : nullptr);
  if (col->type == TypeId::kUtf8 && !col->is_dictionary())
    p->buffers.push_back(Buf(col->offsets.data(), col->offsets.size()));
  p->buffers.push_back(Buf(col->data.data(), col->data.size()));
  a->length = col->length;
  a->null_count = col->null_count;
  a->offset = 0;
  a->n_buffers = static_cast<int64_t>(p->buffers.size());
  a->n_children = 0;
  a->buffers = p->buffers.data();
  a->children = nullptr;
  a->dictionary = dict_array;
  a->release = ReleaseArray;
  a->private_data = p;
}

bool BitAt(const void* bits, int64_t i) {
  return (static_cast<const uint8_t*>(bits)[i >> 3] >> (i & 7)) & 1;
}

// Copies one child array into a column of our own.
Result<ColumnPtr> ImportColumn(const ArrowSchema& s, const ArrowArray& a,
                               const std::string& where) {
  const std::string_view format = s.format ? s.format : "";
  auto fail = [&](const std::string& what) {
    return Status::Invalid(fmt::format("{} (format '{}'): {}", where, format, what));
  };
  if (a.length < 0 || a.offset < 0) return fail("negative length or offset");
  auto buffer = [&](int64_t k) -> const void* {
    return k < a.n_buffers && a.buffers ? a.buffers[k] : nullptr;
  };
  const void* validity = buffer(0);
  if (a.null_count != 0 && !validity && a.n_buffers < 1) return fail("missing validity buffer");
  auto valid = [&](int64_t i) { return !validity || BitAt(validity, a.offset + i); };

  if (s.dictionary) {
    if (!a.dictionary) return fail("dictionary type without a dictionary array");
    if (format != "i" && format != "l") return fail("dictionary indices must be int32 or int64");
    ALAMBIC_ASSIGN_OR_RETURN(ColumnPtr dict,
                             ImportColumn(*s.dictionary, *a.dictionary, where + " dictionary"));
    if (dict->type != TypeId::kUtf8) return fail("only utf8 dictionaries are supported");
    const void* idx = buffer(1);
    if (!idx && a.length) return fail("missing index buffer");
    ColumnBuilder b(TypeId::kUtf8);
    b.Reserve(a.length);
    for (int64_t i = 0; i < a.length; ++i) {
      if (!valid(i)) {
        b.AppendNull();
        continue;
      }
      const int64_t k = format == "i" ? static_cast<const int32_t*>(idx)[a.offset + i]
                                      : static_cast<const int64_t*>(idx)[a.offset + i];
      if (k < 0 || k >= dict->length)
        return fail(fmt::format("row {}: index {} is outside the dictionary", i, k));
      b.AppendFrom(*dict, k);
    }
    return ColumnPtr(b.Finish());
  }

  TypeId type;
  int64_t unit = 1;  // divisor for temporal units
  if (format == "l") {
    type = TypeId::kInt64;
  } else if (format == "g") {
    type = TypeId::kFloat64;
  } else if (format == "b") {
    type = TypeId::kBool;
  } else if (format == "u") {
    type = TypeId::kUtf8;
  } else if (format == "tdD") {
    type = TypeId::kDate32;
  } else if (format == "tdm") {
    type = TypeId::kDate32;
    unit = 86'400'000;
  } else if (format.substr(0, 4) == "tsu:") {
    type = TypeId::kTimestamp;
  } else {
    return fail("unsupported type (supported: l, g, b, u, tdD, tdm, tsu:, dictionary of u)");
  }
  const void* data = buffer(type == TypeId::kUtf8 ? 2 : 1);
  const void* offsets = type == TypeId::kUtf8 ? buffer(1) : nullptr;
  if (a.length > 0 && (!data || (type == TypeId::kUtf8 && !offsets)))
    return fail("missing data buffer");
  ColumnBuilder b(type);
  b.Reserve(a.length);
  for (int64_t i = 0; i < a.length; ++i) {
    if (!valid(i)) {
      b.AppendNull();
      continue;
    }
    const int64_t r = a.offset + i;
    switch (type) {
      case TypeId::kInt64:
        b.AppendInt64(static_cast<const int64_t*>(data)[r]);
        break;
      case TypeId::kFloat64:
        b.AppendDouble(static_cast<const double*>(data)[r]);
        break;
      case TypeId::kBool:
        b.AppendBool(BitAt(data, r));
        break;
      case TypeId::kUtf8: {
        const int32_t lo = static_cast<const int32_t*>(offsets)[r];
        const int32_t hi = static_cast<const int32_t*>(offsets)[r + 1];
        if (lo < 0 || hi < lo) return fail(fmt::format("row {}: bad offsets {}..{}", i, lo, hi));
        b.AppendString(
            std::string_view(static_cast<const char*>(data) + lo, static_cast<size_t>(hi - lo)));
        break;
      }
      case TypeId::kDate32:
        if (unit == 1) {
          b.AppendDate32(static_cast<const int32_t*>(data)[r]);
        } else {
          const int64_t ms = static_cast<const int64_t*>(data)[r];
          b.AppendDate32(static_cast<int32_t>(ms >= 0 ? ms / unit : -((-ms + unit - 1) / unit)));
        }
        break;
      case TypeId::kTimestamp:
        b.AppendTimestamp(static_cast<const int64_t*>(data)[r]);
        break;
    }
  }
  return ColumnPtr(b.Finish());
}

}  // namespace

void ExportTable(std::shared_ptr<const Table> table, ArrowSchema* schema, ArrowArray* array) {
  std::vector<ArrowSchema*> child_schemas;
  auto* p = new ArrayPrivate();
  for (int c = 0; c < table->num_columns(); ++c) {
    auto* cs = new ArrowSchema();
    auto* ca = new ArrowArray();
    ExportColumn(table->column(c), table->schema().fields[static_cast<size_t>(c)].name, cs, ca);
    child_schemas.push_back(cs);
    p->children.push_back(ca);
  }
  FillSchema(schema, "+s", "", 0, std::move(child_schemas), nullptr);
  p->buffers.push_back(nullptr);
  array->length = table->num_rows();
  array->null_count = 0;
  array->offset = 0;
  array->n_buffers = 1;
  array->n_children = static_cast<int64_t>(p->children.size());
  array->buffers = p->buffers.data();
  array->children = p->children.empty() ? nullptr : p->children.data();
  array->dictionary = nullptr;
  array->release = ReleaseArray;
  p->keep_alive = std::move(table);
  array->private_data = p;
}

Result<Table> ImportTable(ArrowSchema* schema, ArrowArray* array) {
  struct Releaser {
    ArrowSchema* s;
    ArrowArray* a;
    ~Releaser() {
      if (a && a->release) a->release(a);
      if (s && s->release) s->release(s);
    }
  } releaser{schema, array};
  if (!schema || !array || !schema->release || !array->release)
    return Status::Invalid("table: missing or already released schema or array");
  if (!schema->format || std::strcmp(schema->format, "+s") != 0)
    return Status::Invalid(fmt::format("table: expected a struct array (format '+s'), got '{}'",
                                       schema->format ? schema->format : "(null)"));
  if (schema->n_children != array->n_children)
    return Status::Invalid(fmt::format("table: schema has {} columns but the array has {}",
                                       schema->n_children, array->n_children));
  Schema out_schema;
  std::vector<ColumnPtr> cols;
  for (int64_t c = 0; c < schema->n_children; ++c) {
    const ArrowSchema& cs = *schema->children[c];
    const ArrowArray& ca = *array->children[c];
    const std::string name = cs.name ? cs.name : fmt::format("column{}", c + 1);
    if (ca.length < array->length + array->offset)
      return Status::Invalid(fmt::format("table: column '{}' has {} rows, the table {}", name,
                                         ca.length, array->length + array->offset));
    ALAMBIC_ASSIGN_OR_RETURN(ColumnPtr col,
                             ImportColumn(cs, ca, fmt::format("table: column '{}'", name)));
    if (array->offset > 0 || col->length != array->length) {
      std::vector<int64_t> rows;
      for (int64_t r = 0; r < array->length; ++r) rows.push_back(array->offset + r);
      ColumnBuilder b(col->type);
      for (int64_t r : rows) b.AppendFrom(*col, r);
      col = b.Finish();
    }
    out_schema.fields.push_back({name, col->type});
    cols.push_back(std::move(col));
  }
  return Table::Make(std::move(out_schema), std::move(cols), array->length);
}

}  // namespace alambic
