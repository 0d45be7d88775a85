// Arrow IPC interoperability between Alambic (core/table/arrow_ipc.cc, driven
// through arrow_tool) and the independent apache-arrow JS implementation.
//
//   node check.mjs PATH/TO/arrow_tool
//
// 1. Files Alambic writes (`arrow_tool write`) are read with apache-arrow's
//    tableFromIPC and compared, cell by cell, with the deterministic table
//    recomputed here from its definition (see arrow_tool.cc): schema types,
//    nullability, null positions, values, number of record batches. Special
//    dates and instants are derived with JS's own Date, not with our code.
// 2. Files apache-arrow writes (tableToIPC(..., 'file')), covering its types,
//    with nulls, several record batches (one empty), delta dictionaries, no
//    batch at all, are read with `arrow_tool read` and compared with what JS
//    wrote, converted as arrow_ipc.h and ReadColumn in arrow_ipc.cc say:
//    narrow and unsigned ints and Float32 widened, LargeUtf8 -> utf8,
//    Date(MILLISECOND) -> days (floor), timestamps of any unit and time zone
//    -> microseconds since the epoch (nanoseconds floored).
// 3. Files Alambic must refuse cleanly (exit 1, a one-line message, no crash,
//    no sanitizer report): the stream format, unsupported types, timestamps
//    out of range, truncated files, and a few thousand corrupted files.
//
// Prints one line per check and "N passed, N failed"; exits 1 on any failure.
// ALAMBIC_INTEROP_KEEP=1 keeps the files it wrote (the path is printed).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as A from 'apache-arrow';

const tool = process.argv[2];
if (!tool) {
  console.error('usage: node check.mjs PATH/TO/arrow_tool');
  process.exit(2);
}
const arrowVersion = JSON.parse(
  readFileSync(new URL('./node_modules/apache-arrow/package.json', import.meta.url), 'utf8'),
).version;
console.log(`apache-arrow ${arrowVersion}, node ${process.version}, tool ${tool}`);
const dir = mkdtempSync(join(tmpdir(), 'alambic-interop-'));
const keep = process.env.ALAMBIC_INTEROP_KEEP === '1';

let passed = 0;
let failed = 0;
function check(name, fn) {
  try {
    fn();
    passed++;
    console.log(`ok    ${name}`);
  } catch (e) {
    failed++;
    // Assertion messages say what differs; other errors keep their origin.
    const text = e instanceof assert.AssertionError ? e.message : String(e && e.stack ? e.stack : e);
    console.log(`FAIL  ${name}\n${text.replace(/^/gm, '      ')}`);
  }
}

// ---- Running arrow_tool ------------------------------------------------------

function run(args) {
  const r = spawnSync(tool, args, { encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.error) throw r.error;
  return r;
}
const SANITIZER = /Sanitizer|runtime error:|Segmentation|core dumped/;
function toolOk(args) {
  const r = run(args);
  assert.ok(
    r.status === 0 && r.signal === null,
    `arrow_tool ${args.join(' ')}: exit ${r.status} signal ${r.signal}\n${r.stderr}`,
  );
  assert.doesNotMatch(r.stderr, SANITIZER);
  return r.stdout;
}
function readWithTool(file) {
  return JSON.parse(toolOk(['read', file]));
}
// A clean refusal: exit status 1 (not a signal), our own one-line message.
function assertCleanFailure(file, messagePattern) {
  const r = run(['read', file]);
  assert.equal(r.signal, null, `arrow_tool read ${file} died of ${r.signal}\n${r.stderr}`);
  assert.doesNotMatch(r.stderr, SANITIZER, `sanitizer report for ${file}`);
  assert.equal(r.status, 1, `arrow_tool read ${file}: exit ${r.status}\n${r.stderr}`);
  assert.match(r.stderr, /^arrow_tool: .*arrow file: \S/, `message for ${file}: ${r.stderr}`);
  assert.equal(r.stdout, '', 'nothing on stdout on failure');
  if (messagePattern) assert.match(r.stderr, messagePattern);
  return r.stderr;
}

// ---- Value helpers -----------------------------------------------------------

const DAY_MS = 86400000;
const isoToDays = (iso) => {
  const ms = Date.parse(`${iso}T00:00:00Z`);
  assert.ok(Number.isFinite(ms) && ms % DAY_MS === 0, iso);
  return ms / DAY_MS;
};
// "YYYY-MM-DD" by JS's own calendar (valid for years 0001..9999).
const daysToIso = (days) => new Date(days * DAY_MS).toISOString().slice(0, 10);
const floorDiv = (a, b) => a / b - (a % b < 0n ? 1n : 0n);
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

// Renders an expected value the way `arrow_tool read` documents it.
function render(kind, v) {
  if (v === null) return null;
  switch (kind) {
    case 'int64':
    case 'timestamp':
      assert.equal(typeof v, 'bigint');
      return v.toString();
    case 'float64':
      if (Number.isNaN(v)) return 'NaN';
      if (v === Infinity) return 'Infinity';
      if (v === -Infinity) return '-Infinity';
      return v;
    case 'date32':
      return daysToIso(v);
    default:
      return v;
  }
}
const sameCell = (a, b) => (typeof a === 'number' && typeof b === 'number' ? Object.is(a, b) : a === b);
const show = (v) => (typeof v === 'bigint' ? `${v}n` : Object.is(v, -0) ? '-0' : JSON.stringify(v));
function assertColumn(label, actual, expected) {
  assert.equal(actual.length, expected.length, `${label}: ${actual.length} rows, expected ${expected.length}`);
  const bad = [];
  for (let i = 0; i < expected.length; i++) {
    if (!sameCell(actual[i], expected[i])) {
      bad.push(`row ${i}: got ${show(actual[i])}, expected ${show(expected[i])}`);
      if (bad.length >= 5) break;
    }
  }
  assert.equal(bad.length, 0, `${label}:\n  ${bad.join('\n  ')}`);
}

// ---- 1. Alambic writes, apache-arrow reads -----------------------------------

// The deterministic table of arrow_tool.cc, recomputed from its definition.
const ROWS = 1237;
const NAMES = [
  '',
  'plain ascii',
  '\u00e9',
  'na\u00efve caf\u00e9',
  '\u00c7a va ? \u{1F680}',
  '\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8',
  '\u{1F469}\u200d\u{1F469}\u200d\u{1F467} family',
  'tab\tquote"backslash\\',
  'e\u0301',
  'nul\u0000inside',
];
const CITIES = ['Paris', 'Lyon', 'Marseille', 'Saint-\u00c9tienne', '', 'Besan\u00e7on \u{1F3D4}'];
const DEPTS = ['75', '2A', '971', '13'];
const I64_SPECIAL = [INT64_MIN, INT64_MAX, 0n, -1n, -9007199254740993n];
const F64_SPECIAL = [-0, 1e308, -1e308, 5e-324, NaN, Infinity, -Infinity, 0.1, 2.2250738585072014e-308];
const DAY_SPECIAL = ['0001-01-01', '1969-12-31', '1970-01-01', '9999-12-31', '1900-02-28', '2000-02-29'];
const TS_SPECIAL = [
  0n,
  -1n,
  1700000000123456n,
  BigInt(Date.parse('1900-01-01T00:00:00Z')) * 1000n,
  BigInt(Date.parse('9999-12-31T23:59:59.999Z')) * 1000n + 999n,
];
const OURS = [
  // name, kind, nullable, JS type string, JS type predicate, expected value of row i
  ['id', 'int64', false, 'Int64', (t) => t.typeId === A.Type.Int && t.bitWidth === 64 && t.isSigned,
    (i) => BigInt(i)],
  ['i64', 'int64', true, 'Int64', (t) => t.typeId === A.Type.Int && t.bitWidth === 64 && t.isSigned,
    (i) => (i % 7 === 5 ? null : i < 5 ? I64_SPECIAL[i] : BigInt.asIntN(64, BigInt(i) * 6364136223846793005n))],
  ['f64', 'float64', true, 'Float64', (t) => t.typeId === A.Type.Float && t.precision === A.Precision.DOUBLE,
    (i) => (i % 11 === 10 ? null : i < 9 ? F64_SPECIAL[i] : (i - 600) / 7)],
  ['flag', 'bool', true, 'Bool', (t) => t.typeId === A.Type.Bool,
    (i) => (i % 13 === 0 ? null : (i % 3 === 0) !== (i % 5 === 0))],
  ['name', 'utf8', true, 'Utf8', (t) => t.typeId === A.Type.Utf8,
    (i) => (i % 17 === 9 ? null : i === 42 ? 'x'.repeat(3000) + '\u00e9' : NAMES[i % 10] + (i % 3 === 1 ? `#${i}` : ''))],
  ['category', 'utf8', true, 'Dictionary<Int32, Utf8>', isDictInt32Utf8,
    (i) => (i % 19 === 2 ? null : CITIES[(i * 5 + Math.floor(i / 6)) % 6])],
  ['dept', 'utf8', true, 'Dictionary<Int32, Utf8>', isDictInt32Utf8,
    (i) => DEPTS[Math.floor(i / 50) % 4]],
  ['day', 'date32', true, 'Date32<DAY>', (t) => t.typeId === A.Type.Date && t.unit === A.DateUnit.DAY,
    (i) => (i % 23 === 8 ? null : i < 6 ? isoToDays(DAY_SPECIAL[i]) : i * 37 - 20000)],
  ['ts', 'timestamp', true, 'Timestamp<MICROSECOND, UTC>',
    (t) => t.typeId === A.Type.Timestamp && t.unit === A.TimeUnit.MICROSECOND && t.timezone === 'UTC',
    (i) => (i % 29 === 6 ? null : i < 5 ? TS_SPECIAL[i] : BigInt(i - 600) * 86400000001n * 13n + BigInt(i))],
];
function isDictInt32Utf8(t) {
  return t.typeId === A.Type.Dictionary && t.indices.typeId === A.Type.Int && t.indices.bitWidth === 32 &&
    t.indices.isSigned && t.dictionary.typeId === A.Type.Utf8 && !t.isOrdered;
}

// The value JS sees in row k of a one-chunk vector: its own interpretation
// (get) for most types; raw storage for timestamps, whose get() is lossy
// milliseconds (checked separately below), and for date32 both agree.
function jsCell(vec, k, kind) {
  if (!vec.isValid(k)) return null;
  const data = vec.data[0];
  switch (kind) {
    case 'date32': {
      const ms = vec.get(k);
      assert.equal(ms, data.values[data.offset + k] * DAY_MS);
      return ms / DAY_MS;
    }
    case 'timestamp':
      return data.values[data.offset + k];
    default:
      return vec.get(k);
  }
}

function checkOurFile(file, rows, batchRows) {
  const bytes = readFileSync(file);
  const table = A.tableFromIPC(bytes);
  check(`${file}: apache-arrow reads the schema`, () => {
    assert.deepEqual(table.schema.fields.map((f) => f.name), OURS.map((c) => c[0]));
    for (const [name, , nullable, typeString, isType] of OURS) {
      const f = table.schema.fields.find((x) => x.name === name);
      assert.ok(isType(f.type), `${name}: type ${f.type}`);
      assert.equal(String(f.type), typeString, name);
      assert.equal(f.nullable, nullable, `${name}: nullable`);
    }
  });
  check(`${file}: ${rows} rows in record batches of at most ${batchRows}`, () => {
    assert.equal(table.numRows, rows);
    const expected = [];
    for (let s = 0; s < rows; s += batchRows) expected.push(Math.min(batchRows, rows - s));
    if (rows === 0) expected.push(0);
    assert.deepEqual(table.batches.map((b) => b.numRows), expected);
    // Reading batch by batch with the file reader (random access through the footer).
    const reader = A.RecordBatchReader.from(bytes);
    assert.ok(reader.isFile(), 'apache-arrow sees an IPC file, not a stream');
    assert.equal([...reader].length, expected.length);
  });
  for (const [name, kind, , , , expect] of OURS) {
    check(`${file}: column ${name} values and nulls, as apache-arrow reads them`, () => {
      const actual = [];
      for (const b of table.batches) {
        const vec = b.getChild(name);
        for (let k = 0; k < vec.length; k++) actual.push(jsCell(vec, k, kind));
      }
      const expected = Array.from({ length: rows }, (_, i) => expect(i));
      assertColumn(name, actual, expected);
      assert.equal(table.getChild(name).nullCount, expected.filter((v) => v === null).length, 'null count');
    });
  }
  if (rows > 42) {
    check(`${file}: a few cells as JS renders them`, () => {
      const ts = table.getChild('ts');
      assert.equal(new Date(ts.get(2)).toISOString(), '2023-11-14T22:13:20.123Z');
      assert.equal(ts.get(1), -0.001);
      const day = table.getChild('day');
      assert.equal(new Date(day.get(4)).toISOString(), '1900-02-28T00:00:00.000Z');
      assert.equal(new Date(day.get(0)).toISOString(), '0001-01-01T00:00:00.000Z');
      assert.equal(table.getChild('i64').get(0), -9223372036854775808n);
      assert.ok(Object.is(table.getChild('f64').get(0), -0));
      assert.equal(table.getChild('name').get(14), 'Ça va ? 🚀');
      assert.equal(table.getChild('name').get(42).length, 3001);
      assert.equal(table.getChild('category').get(0), 'Paris');
      assert.equal(table.getChild('flag').get(0), null);
      // The dictionary holds each value once.
      const dict = table.getChild('category').data[0].dictionary;
      const values = dict.toArray();
      assert.equal(new Set(values).size, values.length);
      assert.equal(values.length, CITIES.length);
    });
  }
  check(`${file}: arrow_tool read gives the same table`, () => {
    const out = readWithTool(file);
    assert.equal(out.rows, rows);
    assert.deepEqual(out.schema, OURS.map(([name, kind, nullable, typeString]) => ({
      name, type: kind, nullable, dictionary: typeString.startsWith('Dictionary'),
    })));
    for (const [name, kind, , , , expect] of OURS) {
      const expected = Array.from({ length: rows }, (_, i) => render(kind, expect(i)));
      assertColumn(`arrow_tool read: ${name}`, out.columns[name], expected);
    }
  });
}

const ours = join(dir, 'alambic.arrow');
check('arrow_tool write', () => toolOk(['write', ours]));
checkOurFile(ours, ROWS, 100);
for (const batchRows of [7, 8, 5000]) {
  const f = join(dir, `alambic-${batchRows}.arrow`);
  check(`arrow_tool write (batches of ${batchRows})`, () => toolOk(['write', f, String(batchRows)]));
  checkOurFile(f, ROWS, batchRows);
}
const empty = join(dir, 'alambic-empty.arrow');
check('arrow_tool write-empty', () => toolOk(['write-empty', empty]));
checkOurFile(empty, 0, 100);

// ---- 2. apache-arrow writes, Alambic reads -----------------------------------

const CHUNKS = [9, 0, 17, 6]; // rows per record batch (one empty)
const N = CHUNKS.reduce((a, b) => a + b, 0);
const pick = (special, k, f) => (k < special.length ? special[k] : f(k));
const WORDS = ['alpha', 'b\u00eata', '', 'gamma \u{1F984}', 'd\u00e9lta', '\u03b5psilon', 'zeta', 'eta'];

function bitmap(valid) {
  const bits = new Uint8Array(Math.ceil(valid.length / 8));
  valid.forEach((v, i) => { if (v) bits[i >> 3] |= 1 << (i & 7); });
  return bits;
}
// Raw fixed-width data (exact storage values, e.g. BigInt64Array for timestamps).
function rawData(type, values) {
  const valid = values.map((v) => v !== null);
  const nullCount = valid.filter((v) => !v).length;
  const arr = new type.ArrayType(values.length);
  values.forEach((v, i) => { if (v !== null) arr[i] = v; });
  return A.makeData({ type, length: values.length, nullCount, nullBitmap: nullCount ? bitmap(valid) : undefined, data: arr });
}
// One dictionary vector per column, shared by all its batches (apache-arrow
// then writes it once: the file format allows no replacement dictionaries).
const sharedDicts = new Map();
function sharedDictData(type, dictValues, indices) {
  if (!sharedDicts.has(dictValues)) sharedDicts.set(dictValues, A.vectorFromArray(dictValues, new A.Utf8()));
  const dictionary = sharedDicts.get(dictValues);
  const valid = indices.map((v) => v !== null);
  const nullCount = valid.filter((v) => !v).length;
  const arr = new type.indices.ArrayType(indices.length);
  indices.forEach((v, i) => { if (v !== null) arr[i] = v; });
  return A.makeData({ type, length: indices.length, nullCount, nullBitmap: nullCount ? bitmap(valid) : undefined, data: arr, dictionary });
}

// Each JS column: JS type, values (JS's own representation, null for null),
// how to build one chunk, our type and the value arrow_tool must print.
const DICT_I8 = ['rouge', 'vert', 'bleu', '', '\u00f1and\u00fa'];
const DICT_U16 = ['Corse-du-Sud', 'Haute-Corse', 'Guadeloupe'];
const JS_COLS = [
  { name: 'id', type: new A.Int32(), nullable: false, values: (k) => k, kind: 'int64', to: (v) => BigInt(v) },
  { name: 'i64', type: new A.Int64(), values: (k) => (k % 5 === 2 ? null : pick([INT64_MIN, INT64_MAX, 0n, -1n], k, (j) => BigInt(j) * -123456789012345n)), kind: 'int64' },
  { name: 'i32', type: new A.Int32(), values: (k) => (k % 6 === 3 ? null : pick([-2147483648, 2147483647], k, (j) => j * -1000003)), kind: 'int64', to: BigInt },
  { name: 'i16', type: new A.Int16(), values: (k) => (k % 7 === 4 ? null : pick([-32768, 32767], k, (j) => j * -1000)), kind: 'int64', to: BigInt },
  { name: 'i8', type: new A.Int8(), values: (k) => (k % 4 === 2 ? null : pick([-128, 127], k, (j) => j - 16)), kind: 'int64', to: BigInt },
  { name: 'u8', type: new A.Uint8(), values: (k) => (k % 9 === 5 ? null : pick([255, 0], k, (j) => j * 7)), kind: 'int64', to: BigInt },
  { name: 'u16', type: new A.Uint16(), values: (k) => (k % 9 === 6 ? null : pick([65535, 0], k, (j) => j * 2000)), kind: 'int64', to: BigInt },
  { name: 'u32', type: new A.Uint32(), values: (k) => (k % 9 === 7 ? null : pick([4294967295, 0], k, (j) => j * 100000000)), kind: 'int64', to: BigInt },
  { name: 'f64', type: new A.Float64(), values: (k) => (k % 5 === 4 ? null : pick([-0, NaN, Infinity, -Infinity, 1e308, 5e-324, 0.1], k, (j) => j / 3 - 5)), kind: 'float64' },
  { name: 'f32', type: new A.Float32(), values: (k) => (k % 8 === 7 ? null : pick([Math.fround(0.1), -0, NaN, 3.4028234663852886e38, -Infinity, 1.401298464324817e-45], k, (j) => Math.fround(j * 0.3))), kind: 'float64' },
  { name: 'flag', type: new A.Bool(), values: (k) => (k % 5 === 1 ? null : k % 3 === 0), kind: 'bool' },
  { name: 'utf8', type: new A.Utf8(), values: (k) => (k % 4 === 2 ? null : `${WORDS[k % WORDS.length]}${k % 3 ? k : ''}`), kind: 'utf8' },
  { name: 'large_utf8', type: new A.LargeUtf8(), values: (k) => (k % 6 === 0 ? null : WORDS[(k * 3) % WORDS.length]), kind: 'utf8' },
  // Built with one DictionaryBuilder flushed per batch: the dictionary grows, so
  // apache-arrow writes an initial dictionary batch and then delta batches.
  { name: 'dict_delta', type: new A.Dictionary(new A.Utf8(), new A.Int32()), values: (k) => (k % 7 === 6 ? null : WORDS[k % (2 + Math.floor(k / 8))]), kind: 'utf8', build: 'builder' },
  { name: 'dict_i8', type: new A.Dictionary(new A.Utf8(), new A.Int8()), values: (k) => (k % 6 === 1 ? null : DICT_I8[(k * 2) % DICT_I8.length]), kind: 'utf8', build: 'shared', dict: DICT_I8 },
  { name: 'dict_u16', type: new A.Dictionary(new A.Utf8(), new A.Uint16()), values: (k) => DICT_U16[k % 3], nullable: false, kind: 'utf8', build: 'shared', dict: DICT_U16 },
  { name: 'date_day', type: new A.DateDay(), values: (k) => (k % 5 === 3 ? null : pick([isoToDays('0001-01-01'), -1, 0, isoToDays('9999-12-31')], k, (j) => j * 1000 - 12000)), kind: 'date32', build: 'raw' },
  { name: 'date_ms', type: new A.DateMillisecond(), values: (k) => (k % 7 === 2 ? null : pick([0n, -1n, 129600000n, -129600000n, BigInt(Date.parse('2024-02-29T23:59:59.999Z')), BigInt(Date.parse('0001-01-01T00:00:00Z'))], k, (j) => BigInt(j) * 86400000n * 30n - 1n)), kind: 'date32', build: 'raw', to: (ms) => Number(floorDiv(ms, 86400000n)) },
  { name: 'ts_s', type: new A.TimestampSecond('UTC'), values: (k) => (k % 5 === 0 ? null : pick([0n, -1n, 1700000000n, -2208988800n], k, (j) => BigInt(j) * 1000003n - 5000000n)), kind: 'timestamp', build: 'raw', to: (s) => s * 1000000n },
  { name: 'ts_ms', type: new A.TimestampMillisecond(), values: (k) => (k % 4 === 3 ? null : pick([0n, -1n, 1700000000123n, -1001n], k, (j) => BigInt(j) * 86399999n - 1000000000n)), kind: 'timestamp', build: 'raw', to: (ms) => ms * 1000n },
  { name: 'ts_us', type: new A.TimestampMicrosecond('Europe/Paris'), values: (k) => (k % 6 === 5 ? null : pick([0n, -1n, 1700000000123456n, INT64_MAX, INT64_MIN], k, (j) => BigInt(j) * 1234567891n - 10n ** 15n)), kind: 'timestamp', build: 'raw' },
  { name: 'ts_ns', type: new A.TimestampNanosecond('UTC'), values: (k) => (k % 8 === 5 ? null : pick([0n, -1n, -1000n, -1001n, 999n, 1700000000123456789n, INT64_MIN, INT64_MAX], k, (j) => BigInt(j) * 987654321987n - 10n ** 16n - 1n)), kind: 'timestamp', build: 'raw', to: (ns) => floorDiv(ns, 1000n) },
];

function chunkData(col, values, builder) {
  switch (col.build) {
    case 'raw':
      return rawData(col.type, values);
    case 'shared':
      return sharedDictData(col.type, col.dict, values.map((v) => (v === null ? null : col.dict.indexOf(v))));
    case 'builder':
      for (const v of values) builder.append(v);
      return builder.flush();
    default:
      return A.vectorFromArray(values, col.type).data[0];
  }
}
function jsTable(cols, chunks) {
  const fields = cols.map((c) => new A.Field(c.name, c.type, c.nullable ?? true));
  const builders = cols.map((c) => (c.build === 'builder' ? A.makeBuilder({ type: c.type, nullValues: [null] }) : null));
  const batches = [];
  let start = 0;
  for (const len of chunks) {
    const children = cols.map((c, j) => {
      const values = Array.from({ length: len }, (_, i) => c.values(start + i));
      return chunkData(c, values, builders[j]);
    });
    batches.push(new A.RecordBatch(new A.Schema(fields),
      A.makeData({ type: new A.Struct(fields), length: len, nullCount: 0, children })));
    start += len;
  }
  return batches.length ? new A.Table(batches) : new A.Table(new A.Schema(fields));
}
function expectedFromJs(col, rows) {
  return Array.from({ length: rows }, (_, k) => {
    const v = col.values(k);
    return render(col.kind, v === null ? null : col.to ? col.to(v) : v);
  });
}
// `deltas`: the file must hold more dictionary batches than dictionary columns
// (apache-arrow wrote delta dictionaries), so that reading them is tested.
function checkJsFile(label, cols, chunks, { deltas = false } = {}) {
  const rows = chunks.reduce((a, b) => a + b, 0);
  const file = join(dir, `${label}.arrow`);
  let ok = false;
  check(`apache-arrow writes ${label} (${cols.length} columns, batches ${JSON.stringify(chunks)})`, () => {
    const bytes = A.tableToIPC(jsTable(cols, chunks), 'file');
    writeFileSync(file, bytes);
    // Sanity: JS reads back what it wrote, in as many batches.
    const back = A.tableFromIPC(bytes);
    assert.equal(back.numRows, rows);
    // (A file with no record batch reads back as one empty batch.)
    assert.equal(back.batches.length, Math.max(chunks.length, 1));
    if (deltas) {
      const reader = A.RecordBatchReader.from(bytes);
      reader.open();
      const dictColumns = cols.filter((c) => c.type.typeId === A.Type.Dictionary).length;
      assert.ok(reader.footer.numDictionaries > dictColumns,
        `${reader.footer.numDictionaries} dictionary batches for ${dictColumns} columns: no delta`);
    }
    for (const c of cols) {
      const vec = back.getChild(c.name);
      assert.equal(vec.nullCount, Array.from({ length: rows }, (_, k) => c.values(k)).filter((v) => v === null).length, c.name);
    }
    ok = true;
  });
  if (!ok) return;
  check(`arrow_tool reads ${label}: schema`, () => {
    const out = readWithTool(file);
    assert.equal(out.rows, rows);
    assert.deepEqual(out.schema, cols.map((c) => ({
      name: c.name, type: c.kind, nullable: c.nullable ?? true, dictionary: c.type.typeId === A.Type.Dictionary,
    })));
  });
  const out = (() => { try { return readWithTool(file); } catch { return null; } })();
  for (const c of cols) {
    check(`arrow_tool reads ${label}: ${c.name} (${c.type})`, () => {
      assert.ok(out, 'arrow_tool read failed');
      assertColumn(c.name, out.columns[c.name], expectedFromJs(c, rows));
    });
  }
}
checkJsFile('js-types', JS_COLS, CHUNKS, { deltas: true });
checkJsFile('js-one-batch', JS_COLS, [N]);
checkJsFile('js-no-batch', JS_COLS.filter((c) => c.build !== 'builder'), []);
checkJsFile('js-empty-batch', JS_COLS, [0]);

// ---- 3. Refused cleanly ------------------------------------------------------

check('the stream format is refused with a clear error', () => {
  const f = join(dir, 'js-stream.arrows');
  writeFileSync(f, A.tableToIPC(jsTable(JS_COLS, CHUNKS), 'stream'));
  assertCleanFailure(f, /not an Arrow IPC file/);
  const ourStream = join(dir, 'alambic-as-stream.arrows');
  // Our own file's embedded stream (without the magic and footer) is a stream too.
  const bytes = readFileSync(ours);
  writeFileSync(ourStream, bytes.subarray(8, bytes.length - 10 - bytes.readInt32LE(bytes.length - 10)));
  assert.equal(A.tableFromIPC(readFileSync(ourStream)).numRows, ROWS, 'apache-arrow reads it as a stream');
  assertCleanFailure(ourStream, /not an Arrow IPC file/);
});
for (const [name, type, values, pattern] of [
  ['u64', new A.Uint64(), [1n, 2n ** 64n - 1n], /u64.*UInt64/],
  ['f16', new A.Float16(), [1.5, null], /f16.*Float16/],
  ['list', new A.List(new A.Field('item', new A.Int32(), true)), [[1, 2], null], /list/],
]) {
  check(`an unsupported type (${type}) is refused with its column named`, () => {
    const f = join(dir, `js-unsupported-${name}.arrow`);
    writeFileSync(f, A.tableToIPC(new A.Table({ [name]: A.vectorFromArray(values, type) }), 'file'));
    assertCleanFailure(f, pattern);
  });
}
check('timestamps out of the microsecond range are refused, not wrapped', () => {
  const f = join(dir, 'js-ts-overflow.arrow');
  const col = { name: 'ts_s', type: new A.TimestampSecond('UTC'), values: (k) => [1n, 9223372036855n][k], build: 'raw' };
  writeFileSync(f, A.tableToIPC(jsTable([col], [2]), 'file'));
  assertCleanFailure(f, /ts_s/);
});
check('a truncated file (our file cut in half) is refused cleanly', () => {
  const bytes = readFileSync(ours);
  const f = join(dir, 'alambic-half.arrow');
  writeFileSync(f, bytes.subarray(0, bytes.length >> 1));
  assertCleanFailure(f, /truncated|too short|outside/);
  // Cut in half but with the original trailer (footer length + magic) put back.
  writeFileSync(f, Buffer.concat([bytes.subarray(0, bytes.length >> 1), bytes.subarray(bytes.length - 10)]));
  assertCleanFailure(f);
  writeFileSync(f, Buffer.alloc(0));
  assertCleanFailure(f, /too short/);
  writeFileSync(f, bytes.subarray(0, 6));
  assertCleanFailure(f, /too short/);
});
check('corrupted files are refused cleanly or read, never crash', () => {
  // Deterministic mutations of our file and of a JS file: every cut of the
  // tail, and bytes of the metadata overwritten with extreme values.
  // The mutants are read by one `arrow_tool probe` per batch: a crash, a sanitizer
  // report or a wrong line count fails the test; each refusal carries a message.
  let refused = 0;
  let accepted = 0;
  const mutants = join(dir, 'mutants');
  mkdirSync(mutants, { recursive: true });
  let pending = [];
  const flush = () => {
    if (pending.length === 0) return;
    const r = run(['probe', ...pending]);
    assert.equal(r.signal, null, `died of ${r.signal}\n${r.stderr}`);
    assert.doesNotMatch(r.stderr, SANITIZER);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.split('\n').filter((l) => l !== '');
    assert.equal(lines.length, pending.length, r.stdout);
    for (const line of lines) {
      if (line === 'read') accepted++;
      else {
        assert.match(line, /^refused: \S/);
        refused++;
      }
    }
    for (const p of pending) rmSync(p);
    pending = [];
  };
  const probe = (bytes) => {
    const f = join(mutants, `m${pending.length}.arrow`);
    writeFileSync(f, bytes);
    pending.push(f);
    if (pending.length === 200) flush();
  };
  const small = join(dir, 'mutant-src.arrow');
  toolOk(['write', small, '400']);
  for (const src of [readFileSync(small), readFileSync(join(dir, 'js-types.arrow'))]) {
    const footerLen = src.readInt32LE(src.length - 10);
    const footerStart = src.length - 10 - footerLen;
    // 150 places spread over the footer and its length: offsets, lengths,
    // vtables, type ids of the schema and the blocks.
    const span = src.length - 6 - footerStart;
    for (let j = 0; j < 150; j++) {
      const at = footerStart + Math.floor((j * span) / 150);
      for (const v of [0xff, 0x80]) {
        const m = Buffer.from(src);
        m[at] = m[at] === v ? 0 : v;
        probe(m);
      }
    }
    // The messages at the start (schema, dictionaries, first batch).
    for (let at = 8; at < Math.min(src.length, 608); at += 10) {
      const m = Buffer.from(src);
      m[at] ^= 0xa5;
      probe(m);
    }
    // Every 8-byte word of the metadata of the first dictionary and the first
    // two record batches (located through apache-arrow's footer) made huge or
    // negative: field node lengths and null counts, buffer offsets and lengths.
    const reader = A.RecordBatchReader.from(src);
    reader.open();
    const { footer } = reader;
    const blocks = [footer.getDictionaryBatch(0), footer.getRecordBatch(0), footer.getRecordBatch(1)];
    for (const b of blocks.filter(Boolean)) {
      const offset = Number(b.offset);
      for (let at = offset + 8; at + 8 <= offset + b.metaDataLength; at += 8) {
        for (const [byte, v] of [[6, 0x01], [7, 0x80]]) {
          const m = Buffer.from(src);
          m[at + byte] ^= v;
          probe(m);
        }
      }
    }
  }
  flush();
  assert.ok(refused > 200, `only ${refused} refused (${accepted} read)`);
  console.log(`      (${refused} mutants refused, ${accepted} read)`);
});

if (!keep) rmSync(dir, { recursive: true, force: true });
else console.log(`files kept in ${dir}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
