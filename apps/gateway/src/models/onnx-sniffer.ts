import { promises as fs } from 'node:fs';

/** Why an uploaded model file was refused before anything was queued. */
export class ModelFileRejected extends Error {
  constructor(
    readonly status: 400 | 413 | 415 | 422,
    message: string,
  ) {
    super(message);
    this.name = 'ModelFileRejected';
  }
}

/** Positional reads through a small block cache: walks big files without loading them. */
class BlockReader {
  private cache = new Map<number, Buffer>();
  private static readonly BLOCK = 64 * 1024;
  constructor(
    private readonly fh: fs.FileHandle,
    readonly size: number,
  ) {}

  async byte(pos: number): Promise<number> {
    const b = Math.floor(pos / BlockReader.BLOCK);
    let block = this.cache.get(b);
    if (!block) {
      if (this.cache.size > 64) this.cache.clear();
      block = Buffer.alloc(Math.min(BlockReader.BLOCK, this.size - b * BlockReader.BLOCK));
      await this.fh.read(block, 0, block.length, b * BlockReader.BLOCK);
      this.cache.set(b, block);
    }
    return block[pos - b * BlockReader.BLOCK];
  }

  async bytes(pos: number, len: number): Promise<Buffer> {
    const out = Buffer.alloc(len);
    await this.fh.read(out, 0, len, pos);
    return out;
  }
}

interface Field {
  field: number;
  wire: number;
  /** varint value for wire 0 */
  value: number;
  start: number;
  end: number;
}

const truncated = (what: string) => new ModelFileRejected(422, `ONNX file is truncated or corrupt: ${what}`);

async function varint(r: BlockReader, pos: number, end: number): Promise<[number, number]> {
  let v = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) throw truncated('varint runs past the end');
    const b = await r.byte(pos++);
    v += (b & 0x7f) * mul;
    if (!(b & 0x80)) return [v, pos];
    mul *= 128;
  }
  throw truncated('varint longer than 10 bytes');
}

/** Iterates the fields of one protobuf message between start and end, checking every length. */
async function* fields(r: BlockReader, start: number, end: number): AsyncGenerator<Field> {
  let pos = start;
  while (pos < end) {
    const [tag, p1] = await varint(r, pos, end);
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === 0) throw truncated(`field number 0 at byte ${pos}`);
    let value = 0;
    let vEnd: number;
    switch (wire) {
      case 0:
        [value, vEnd] = await varint(r, p1, end);
        break;
      case 1:
        vEnd = p1 + 8;
        break;
      case 5:
        vEnd = p1 + 4;
        break;
      case 2: {
        const [len, p2] = await varint(r, p1, end);
        vEnd = p2 + len;
        if (vEnd > end)
          throw truncated(`field ${field} at byte ${pos} declares ${len} bytes but only ${end - p2} remain`);
        yield { field, wire, value: len, start: p2, end: vEnd };
        pos = vEnd;
        continue;
      }
      default:
        throw truncated(`unsupported wire type ${wire} at byte ${pos}`);
    }
    if (vEnd > end) throw truncated(`field ${field} at byte ${pos} runs past the end`);
    yield { field, wire, value, start: p1, end: vEnd };
    pos = vEnd;
  }
}

// ModelProto fields and their wire types (onnx.proto3): anything else means "not ONNX".
const MODEL_FIELDS: Record<number, number> = {
  1: 0,
  2: 2,
  3: 2,
  4: 2,
  5: 0,
  6: 2,
  7: 2,
  8: 2,
  14: 2,
  20: 2,
  25: 2,
  26: 2,
};

export interface OnnxSniff {
  irVersion: number;
  opsets: number;
  /** external-data locations found (refused for single-file uploads). */
  externalData: string[];
}

/** TensorProto: external_data (13) entries and data_location (14) = EXTERNAL (1). */
async function tensorExternal(r: BlockReader, start: number, end: number, out: string[]): Promise<void> {
  let external = false;
  for await (const f of fields(r, start, end)) {
    if (f.field === 14 && f.wire === 0 && f.value === 1) external = true;
    if (f.field === 13 && f.wire === 2) {
      let key = '';
      let value = '';
      for await (const kv of fields(r, f.start, f.end)) {
        if (kv.wire !== 2 || kv.end - kv.start > 4096) continue;
        const s = (await r.bytes(kv.start, kv.end - kv.start)).toString('utf8');
        if (kv.field === 1) key = s;
        if (kv.field === 2) value = s;
      }
      if (key === 'location') out.push(value);
    }
  }
  if (external && out.length === 0) out.push('(external data without a location)');
}

/** GraphProto: initializers (5), sparse initializers (15) and node attributes with tensors or subgraphs. */
async function graphExternal(r: BlockReader, start: number, end: number, out: string[], depth: number): Promise<void> {
  if (depth > 16) throw new ModelFileRejected(422, 'ONNX graph nesting deeper than 16 levels');
  for await (const f of fields(r, start, end)) {
    if (f.wire !== 2) continue;
    if (f.field === 5) await tensorExternal(r, f.start, f.end, out);
    if (f.field === 15) {
      for await (const s of fields(r, f.start, f.end))
        if (s.wire === 2 && (s.field === 1 || s.field === 2)) await tensorExternal(r, s.start, s.end, out);
    }
    if (f.field === 1) {
      // NodeProto.attribute (5) -> AttributeProto t (5), g (6), tensors (10), graphs (11)
      for await (const n of fields(r, f.start, f.end)) {
        if (n.field !== 5 || n.wire !== 2) continue;
        for await (const a of fields(r, n.start, n.end)) {
          if (a.wire !== 2) continue;
          if (a.field === 5 || a.field === 10) await tensorExternal(r, a.start, a.end, out);
          if (a.field === 6 || a.field === 11) await graphExternal(r, a.start, a.end, out, depth + 1);
        }
      }
    }
  }
}

/**
 * Structural check of an ONNX file without a protobuf library: every top-level field must be a
 * ModelProto field with its wire type (else it is not ONNX: 415), every length must fit the file
 * (else truncated: 422), a graph must be present, and every external-data reference is reported.
 * Full validation (onnx.checker, shape inference, ORT load) is the convert job's `inspect`.
 */
export async function sniffOnnx(file: string): Promise<OnnxSniff> {
  const fh = await fs.open(file, 'r');
  try {
    const size = (await fh.stat()).size;
    if (size === 0) throw new ModelFileRejected(400, 'empty file (0 bytes)');
    const r = new BlockReader(fh, size);
    let irVersion = -1;
    let graph: Field | undefined;
    let opsets = 0;
    let first = true;
    try {
      for await (const f of fields(r, 0, size)) {
        if (MODEL_FIELDS[f.field] !== f.wire) {
          if (first)
            throw new ModelFileRejected(415, 'content is not an ONNX model (first bytes are not a ModelProto field)');
          throw truncated(`unexpected field ${f.field} (wire type ${f.wire}) in ModelProto`);
        }
        first = false;
        if (f.field === 1) irVersion = f.value;
        if (f.field === 7) graph = f;
        if (f.field === 8) opsets += 1;
      }
    } catch (e) {
      if (first && !(e instanceof ModelFileRejected && e.status === 415))
        throw new ModelFileRejected(415, 'content is not an ONNX model');
      throw e;
    }
    if (irVersion < 1 || irVersion > 100) throw new ModelFileRejected(422, 'ONNX model has no valid ir_version');
    if (!graph) throw new ModelFileRejected(422, 'ONNX model has no graph');
    if (opsets === 0) throw new ModelFileRejected(422, 'ONNX model declares no opset');
    const externalData: string[] = [];
    await graphExternal(r, graph.start, graph.end, externalData, 0);
    return { irVersion, opsets, externalData };
  } finally {
    await fh.close();
  }
}
