import { open } from 'node:fs/promises';

/**
 * The key/value metadata of an ONNX file (ModelProto.metadata_props, field 14), read without
 * loading the graph: the top-level protobuf fields are walked by their lengths and only the
 * metadata entries are read, so a model of any size costs a few small reads. onnxruntime-node
 * does not expose these; Ultralytics writes `imgsz` and `names` there.
 */
const METADATA_PROPS = 14;
/** Bounds against a malformed or hostile file: entry count, one entry's size, total bytes read. */
const MAX_ENTRIES = 1024;
const MAX_ENTRY_BYTES = 1 << 20;
const MAX_TOTAL_BYTES = 8 << 20;

export class OnnxMetadataError extends Error {
  override name = 'OnnxMetadataError';
}

function varint(buf: Uint8Array, at: number): [value: number, next: number] {
  let v = 0;
  let mul = 1;
  for (let i = at; i < buf.length && i < at + 10; i++) {
    v += (buf[i] & 0x7f) * mul;
    if ((buf[i] & 0x80) === 0) return [v, i + 1];
    mul *= 128;
  }
  throw new OnnxMetadataError('truncated or oversized varint');
}

/** Decodes one StringStringEntryProto {1: key, 2: value}. */
function entry(buf: Uint8Array): [string, string] {
  let key = '';
  let value = '';
  for (let at = 0; at < buf.length;) {
    const [tag, p] = varint(buf, at);
    const wire = tag & 7;
    if (wire !== 2) {
      if (wire !== 0) throw new OnnxMetadataError(`unexpected wire type ${wire} in a metadata entry`);
      at = varint(buf, p)[1];
      continue;
    }
    const [len, q] = varint(buf, p);
    if (q + len > buf.length) throw new OnnxMetadataError('metadata entry runs past its end');
    const text = Buffer.from(buf.buffer, buf.byteOffset + q, len).toString('utf8');
    if (tag >>> 3 === 1) key = text;
    else if (tag >>> 3 === 2) value = text;
    at = q + len;
  }
  return [key, value];
}

export async function readOnnxMetadata(file: string): Promise<Record<string, string>> {
  const fh = await open(file, 'r');
  try {
    const size = (await fh.stat()).size;
    const head = Buffer.alloc(20);
    const props: Record<string, string> = {};
    let entries = 0;
    let total = 0;
    for (let pos = 0; pos < size;) {
      const { bytesRead } = await fh.read(head, 0, head.length, pos);
      const [tag, p] = varint(head.subarray(0, bytesRead), 0);
      const field = tag >>> 3;
      const wire = tag & 7;
      if (wire === 0) {
        pos += varint(head.subarray(0, bytesRead), p)[1];
      } else if (wire === 1) {
        pos += p + 8;
      } else if (wire === 5) {
        pos += p + 4;
      } else if (wire === 2) {
        const [len, q] = varint(head.subarray(0, bytesRead), p);
        if (pos + q + len > size) throw new OnnxMetadataError(`field ${field} runs past the end of the file`);
        if (field === METADATA_PROPS) {
          if (++entries > MAX_ENTRIES || len > MAX_ENTRY_BYTES || (total += len) > MAX_TOTAL_BYTES)
            throw new OnnxMetadataError('metadata larger than this reader accepts');
          const buf = Buffer.alloc(len);
          await fh.read(buf, 0, len, pos + q);
          const [k, v] = entry(buf);
          props[k] = v;
        }
        pos += q + len;
      } else {
        throw new OnnxMetadataError(`not an ONNX model: wire type ${wire} at byte ${pos}`);
      }
    }
    return props;
  } finally {
    await fh.close();
  }
}

/** What the data plane takes from an ONNX file's metadata: its input size and class names. */
export interface ModelFacts {
  /** Square input side the model was made for (Ultralytics `imgsz`, the larger side when not square). */
  imgsz?: number;
  /** Class names by class id; absent when the file has none, or only placeholders ("0", "1", ...). */
  names?: string[];
}

/** Ultralytics writes names as a Python dict literal: {0: 'person', 1: "it's"}. */
function parseNames(text: string): string[] | undefined {
  const names: string[] = [];
  const re = /(\d+)\s*:\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")/g;
  for (const m of text.matchAll(re)) {
    const id = Number(m[1]);
    if (id >= 10_000) return undefined;
    names[id] = (m[2] ?? m[3]).replace(/\\(.)/g, '$1');
  }
  if (names.length === 0) return undefined;
  for (let i = 0; i < names.length; i++) if (names[i] === undefined) return undefined; // ids with gaps
  // An untrained preset's names are its class ids: they say nothing the id does not.
  if (names.every((n, i) => n === String(i))) return undefined;
  return names;
}

function parseImgsz(text: string): number | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  const sides = (Array.isArray(v) ? v : [v]).filter((x): x is number => Number.isInteger(x) && x >= 16 && x <= 8192);
  return sides.length ? Math.max(...sides) : undefined;
}

export function modelFacts(props: Record<string, string>): ModelFacts {
  const facts: ModelFacts = {};
  const imgsz = props.imgsz === undefined ? undefined : parseImgsz(props.imgsz);
  if (imgsz) facts.imgsz = imgsz;
  const names = props.names === undefined ? undefined : parseNames(props.names);
  if (names) facts.names = names;
  return facts;
}
