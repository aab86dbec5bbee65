/**
 * Builds a real ONNX file (an Identity graph over NCHW float input) with a few lines of
 * protobuf, so measurement tests need neither python nor fixtures. Valid for ONNX Runtime.
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
  return Buffer.concat([bytes(1, name), bytes(2, bytes(1, Buffer.concat([int(1, 1), bytes(2, shape)])))]);
}

export function tinyIdentityOnnx(dims: (number | string)[] = ['batch', 3, 8, 8]): Buffer {
  const node = bytes(1, Buffer.concat([bytes(1, 'images'), bytes(2, 'output0'), bytes(3, 'id'), bytes(4, 'Identity')]));
  const graph = Buffer.concat([node, bytes(2, 'g'), bytes(11, valueInfo('images', dims)), bytes(12, valueInfo('output0', dims))]);
  return Buffer.concat([int(1, 8), bytes(2, 'cvp-test'), bytes(7, graph), bytes(8, Buffer.concat([bytes(1, ''), int(2, 13)]))]);
}
