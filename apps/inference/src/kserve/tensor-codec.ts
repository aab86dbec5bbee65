import {
  DATATYPE_BYTES,
  DATATYPES,
  type DataType,
  elementCount,
  type OutputTensor,
  type Tensor,
} from '../engines/engine';

/**
 * KServe v2 / Open Inference Protocol tensor (de)serialisation, JSON and the binary-tensor
 * extension (Triton's): with `Inference-Header-Content-Length: N` the first N body bytes are the
 * JSON header and the rest are raw little-endian tensors in input order, each sized by its
 * `parameters.binary_data_size`. Binary tensors are sliced out of the body without copies.
 */
export class KserveRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KserveRequestError';
  }
}

export const INFERENCE_HEADER = 'inference-header-content-length';

export interface InferRequest {
  id?: string;
  inputs: Tensor[];
  /** Requested output names; undefined = all. */
  outputs?: string[];
  /** Per output name (or '*' default) whether to answer in binary. */
  binaryOutputs: Map<string, boolean>;
  binaryDefault: boolean;
}

interface JsonInput {
  name?: unknown;
  shape?: unknown;
  datatype?: unknown;
  data?: unknown;
  parameters?: { binary_data_size?: unknown; [k: string]: unknown };
}

function isDataType(v: unknown): v is DataType {
  return typeof v === 'string' && (DATATYPES as readonly string[]).includes(v);
}

function flatten(data: unknown, out: unknown[]): void {
  if (Array.isArray(data)) for (const d of data) flatten(d, out);
  else out.push(data);
}

/** Numbers (or booleans) from JSON into the datatype's little-endian bytes. */
export function encodeJsonData(datatype: DataType, values: unknown[]): Buffer {
  const n = values.length;
  const buf = Buffer.allocUnsafe(n * DATATYPE_BYTES[datatype]);
  const num = (v: unknown, i: number): number => {
    if (typeof v === 'number' && Number.isFinite(v)) return v;
    if (typeof v === 'boolean') return v ? 1 : 0;
    if (typeof v === 'number') return v; // NaN/Inf allowed for floats below
    throw new KserveRequestError(`element ${i} is not a number`);
  };
  for (let i = 0; i < n; i++) {
    const v = num(values[i], i);
    if (datatype !== 'FP32' && datatype !== 'FP64' && datatype !== 'FP16' && !Number.isInteger(v))
      throw new KserveRequestError(`element ${i} (${v}) is not an integer for ${datatype}`);
    switch (datatype) {
      case 'BOOL':
        buf.writeUInt8(v ? 1 : 0, i);
        break;
      case 'UINT8':
        buf.writeUInt8(v, i);
        break;
      case 'INT8':
        buf.writeInt8(v, i);
        break;
      case 'UINT16':
        buf.writeUInt16LE(v, i * 2);
        break;
      case 'INT16':
        buf.writeInt16LE(v, i * 2);
        break;
      case 'UINT32':
        buf.writeUInt32LE(v, i * 4);
        break;
      case 'INT32':
        buf.writeInt32LE(v, i * 4);
        break;
      case 'UINT64':
        buf.writeBigUInt64LE(BigInt(v), i * 8);
        break;
      case 'INT64':
        buf.writeBigInt64LE(BigInt(v), i * 8);
        break;
      case 'FP16':
        buf.writeUInt16LE(toHalf(v), i * 2);
        break;
      case 'FP32':
        buf.writeFloatLE(v, i * 4);
        break;
      case 'FP64':
        buf.writeDoubleLE(v, i * 8);
        break;
    }
  }
  return buf;
}

/** Little-endian bytes back to JSON values (bools as booleans, 64-bit ints as numbers). */
export function decodeToJson(t: Tensor): (number | boolean)[] {
  const b = t.data;
  const n = b.length / DATATYPE_BYTES[t.datatype];
  const out = new Array<number | boolean>(n);
  for (let i = 0; i < n; i++) {
    switch (t.datatype) {
      case 'BOOL':
        out[i] = b[i] !== 0;
        break;
      case 'UINT8':
        out[i] = b[i];
        break;
      case 'INT8':
        out[i] = b.readInt8(i);
        break;
      case 'UINT16':
        out[i] = b.readUInt16LE(i * 2);
        break;
      case 'INT16':
        out[i] = b.readInt16LE(i * 2);
        break;
      case 'UINT32':
        out[i] = b.readUInt32LE(i * 4);
        break;
      case 'INT32':
        out[i] = b.readInt32LE(i * 4);
        break;
      case 'UINT64':
        out[i] = Number(b.readBigUInt64LE(i * 8));
        break;
      case 'INT64':
        out[i] = Number(b.readBigInt64LE(i * 8));
        break;
      case 'FP16':
        out[i] = fromHalf(b.readUInt16LE(i * 2));
        break;
      case 'FP32':
        out[i] = b.readFloatLE(i * 4);
        break;
      case 'FP64':
        out[i] = b.readDoubleLE(i * 8);
        break;
    }
  }
  return out;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
/** IEEE 754 binary32 -> binary16, round to nearest even. */
export function toHalf(v: number): number {
  f32[0] = v;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  e = h >>> 10;
  return sign | h;
}

export function fromHalf(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 0x1f) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

function parseShape(v: unknown, name: string): number[] {
  if (!Array.isArray(v) || v.length > 16 || !v.every((d) => Number.isInteger(d) && d >= 0))
    throw new KserveRequestError(`input ${name}: shape must be an array of non-negative integers`);
  return v as number[];
}

/** Parses a v2 infer request body; `headerLength` comes from Inference-Header-Content-Length. */
export function parseInferRequest(body: Buffer, headerLength: number | undefined): InferRequest {
  if (headerLength !== undefined && (!Number.isInteger(headerLength) || headerLength < 0 || headerLength > body.length))
    throw new KserveRequestError(
      `Inference-Header-Content-Length ${headerLength} does not fit the ${body.length}-byte body`,
    );
  const jsonEnd = headerLength ?? body.length;
  let header: { id?: unknown; inputs?: unknown; outputs?: unknown; parameters?: Record<string, unknown> };
  try {
    header = JSON.parse(body.toString('utf8', 0, jsonEnd));
  } catch (e) {
    throw new KserveRequestError(`request is not JSON: ${(e as Error).message}`);
  }
  if (!header || typeof header !== 'object') throw new KserveRequestError('request must be a JSON object');
  if (!Array.isArray(header.inputs) || header.inputs.length === 0 || header.inputs.length > 64)
    throw new KserveRequestError('request needs 1 to 64 inputs');
  let offset = jsonEnd;
  const inputs: Tensor[] = (header.inputs as JsonInput[]).map((inp, idx) => {
    const name = typeof inp?.name === 'string' && inp.name ? inp.name : undefined;
    if (!name) throw new KserveRequestError(`input ${idx}: name is required`);
    if (!isDataType(inp.datatype))
      throw new KserveRequestError(`input ${name}: datatype ${String(inp.datatype)} is not supported`);
    const shape = parseShape(inp.shape, name);
    let count: number;
    try {
      count = elementCount(shape);
    } catch (e) {
      throw new KserveRequestError((e as Error).message);
    }
    const expected = count * DATATYPE_BYTES[inp.datatype];
    const binSize = inp.parameters?.binary_data_size;
    let data: Buffer;
    if (binSize !== undefined) {
      if (headerLength === undefined)
        throw new KserveRequestError(`input ${name}: binary_data_size given without Inference-Header-Content-Length`);
      if (!Number.isInteger(binSize) || (binSize as number) < 0 || offset + (binSize as number) > body.length)
        throw new KserveRequestError(`input ${name}: binary_data_size ${String(binSize)} runs past the body`);
      data = body.subarray(offset, offset + (binSize as number));
      offset += binSize as number;
    } else {
      if (inp.data === undefined) throw new KserveRequestError(`input ${name}: data is required`);
      const flat: unknown[] = [];
      flatten(inp.data, flat);
      if (flat.length !== count)
        throw new KserveRequestError(
          `input ${name}: ${flat.length} elements for shape [${shape.join(',')}] (needs ${count})`,
        );
      data = encodeJsonData(inp.datatype, flat);
    }
    if (data.length !== expected)
      throw new KserveRequestError(
        `input ${name}: ${data.length} bytes for shape [${shape.join(',')}] ${inp.datatype} (needs ${expected})`,
      );
    return { name, datatype: inp.datatype, shape, data };
  });
  if (headerLength !== undefined && offset !== body.length)
    throw new KserveRequestError(`${body.length - offset} unused bytes after the binary inputs`);
  const binaryDefault = header.parameters?.binary_data_output === true;
  const binaryOutputs = new Map<string, boolean>();
  let outputs: string[] | undefined;
  if (header.outputs !== undefined) {
    if (!Array.isArray(header.outputs) || header.outputs.length > 64)
      throw new KserveRequestError('outputs must be an array of at most 64 entries');
    outputs = (header.outputs as { name?: unknown; parameters?: { binary_data?: unknown } }[]).map((o, i) => {
      if (typeof o?.name !== 'string' || !o.name) throw new KserveRequestError(`output ${i}: name is required`);
      if (o.parameters?.binary_data !== undefined) binaryOutputs.set(o.name, o.parameters.binary_data === true);
      return o.name;
    });
  }
  return { id: typeof header.id === 'string' ? header.id : undefined, inputs, outputs, binaryOutputs, binaryDefault };
}

export interface EncodedResponse {
  /**
   * The body in order: JSON text pieces (outputs' JSON data arrays stay separate pieces, never
   * joined into one string), then the binary tensors as the engine returned them (not copied).
   */
  parts: (Buffer | string)[];
  /** Set when the body carries binary tensors after the JSON header: the header's byte length. */
  headerLength?: number;
}

/** Whether the client asked for this output in binary (the binary-tensor extension). */
export function wantsBinary(req: Pick<InferRequest, 'binaryOutputs' | 'binaryDefault'>, name: string): boolean {
  return req.binaryOutputs.get(name) ?? req.binaryDefault;
}

/** Builds the v2 response: JSON data for JSON outputs, raw bytes appended for binary ones. */
export function encodeInferResponse(
  modelName: string,
  req: Pick<InferRequest, 'id' | 'binaryOutputs' | 'binaryDefault'>,
  outputs: OutputTensor[],
): EncodedResponse {
  const binaries: Buffer[] = [];
  const json: string[] = [
    `{"model_name":${JSON.stringify(modelName)},"model_version":"1"${req.id !== undefined ? `,"id":${JSON.stringify(req.id)}` : ''},"outputs":[`,
  ];
  outputs.forEach((t, i) => {
    const head = `${i ? ',' : ''}{"name":${JSON.stringify(t.name)},"datatype":"${t.datatype}","shape":${JSON.stringify(t.shape)},`;
    if (wantsBinary(req, t.name) && t.json === undefined) {
      binaries.push(t.data);
      json.push(`${head}"parameters":{"binary_data_size":${t.data.length}}}`);
    } else {
      json.push(`${head}"data":`, t.json ?? JSON.stringify(decodeToJson(t)), '}');
    }
  });
  json.push(']}');
  if (binaries.length === 0) return { parts: json };
  const headerLength = json.reduce((n, p) => n + Buffer.byteLength(p), 0);
  return { parts: [...json, ...binaries], headerLength };
}
