/**
 * A few-line protobuf writer that builds real ONNX files for tests without python: an Identity
 * (or Add-with-initializer) graph. Valid for onnx.checker and ONNX Runtime; optional external data.
 */
function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  while (v > 127) {
    out.push((v % 128) | 128);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}
const tag = (field: number, wire: number) => varint(field * 8 + wire);
const int = (field: number, v: number) => Buffer.concat([tag(field, 0), varint(v)]);
const bytes = (field: number, b: Buffer | string) => {
  const buf = typeof b === 'string' ? Buffer.from(b) : b;
  return Buffer.concat([tag(field, 2), varint(buf.length), buf]);
};

function valueInfo(name: string, dims: (number | string)[]): Buffer {
  const shape = Buffer.concat(dims.map((d) => bytes(1, typeof d === 'number' ? int(1, d) : bytes(2, d))));
  const tensorType = Buffer.concat([int(1, 1 /* FLOAT */), bytes(2, shape)]);
  return Buffer.concat([bytes(1, name), bytes(2, bytes(1, tensorType))]);
}

export interface OnnxBuildOptions {
  /** Adds a float initializer "bias" of this many elements (Add node) stored externally at this location. */
  externalDataLocation?: string;
  dims?: (number | string)[];
}

export function buildOnnx(opts: OnnxBuildOptions = {}): Buffer {
  const dims = opts.dims ?? ['batch', 4];
  let nodes: Buffer;
  const inits: Buffer[] = [];
  if (opts.externalDataLocation) {
    const tensor = Buffer.concat([
      int(1, 4), // dims: [4]
      int(2, 1), // FLOAT
      bytes(8, 'bias'),
      bytes(13, Buffer.concat([bytes(1, 'location'), bytes(2, opts.externalDataLocation)])),
      bytes(13, Buffer.concat([bytes(1, 'length'), bytes(2, '16')])),
      int(14, 1), // EXTERNAL
    ]);
    inits.push(bytes(5, tensor));
    nodes = bytes(1, Buffer.concat([bytes(1, 'x'), bytes(1, 'bias'), bytes(2, 'y'), bytes(3, 'add'), bytes(4, 'Add')]));
  } else {
    nodes = bytes(1, Buffer.concat([bytes(1, 'x'), bytes(2, 'y'), bytes(3, 'id'), bytes(4, 'Identity')]));
  }
  const graph = Buffer.concat([
    nodes,
    bytes(2, 'g'),
    ...inits,
    bytes(11, valueInfo('x', dims)),
    bytes(12, valueInfo('y', dims)),
  ]);
  return Buffer.concat([
    int(1, 8), // ir_version
    bytes(2, 'cvp-test'),
    bytes(7, graph),
    bytes(8, Buffer.concat([bytes(1, ''), int(2, 13)])), // opset_import ai.onnx 13
  ]);
}
