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
  const graph = Buffer.concat([
    node,
    bytes(2, 'g'),
    bytes(11, valueInfo('images', dims)),
    bytes(12, valueInfo('output0', dims)),
  ]);
  return Buffer.concat([
    int(1, 8),
    bytes(2, 'cvp-test'),
    bytes(7, graph),
    bytes(8, Buffer.concat([bytes(1, ''), int(2, 13)])),
  ]);
}

function tensor(name: string, dims: number[], type: 'float' | 'int64', values: number[]): Buffer {
  const raw = Buffer.alloc(values.length * (type === 'float' ? 4 : 8));
  values.forEach((v, i) => (type === 'float' ? raw.writeFloatLE(v, i * 4) : raw.writeBigInt64LE(BigInt(v), i * 8)));
  return Buffer.concat([
    ...dims.map((d) => int(1, d)),
    int(2, type === 'float' ? 1 : 7),
    bytes(8, name),
    bytes(9, raw),
  ]);
}
const node = (inputs: string[], output: string, name: string, op: string, attrs: Buffer[] = []) =>
  bytes(
    1,
    Buffer.concat([
      ...inputs.map((i) => bytes(1, i)),
      bytes(2, output),
      bytes(3, name),
      bytes(4, op),
      ...attrs.map((a) => bytes(5, a)),
    ]),
  );

/**
 * A real ONNX "detector" with a YOLOv8 head, for mAP tests without python: input [1, 3, g, g],
 * output0 [1, 4 + 2, g*g]. Anchor k is the grid cell (row k / g, column k % g) with a fixed 1x1
 * box around its centre; class 0 scores that cell's red value, class 1 its green value. So an
 * image with a red square filling cell (r, c), resized to g x g, is a class-0 detection there.
 * `shift` moves every box right by that many pixels (a detector that localises worse).
 */
export function tinyDetectorOnnx(grid = 8, shift = 0): Buffer {
  const n = grid * grid;
  const boxes: number[] = [];
  for (const f of [
    (k: number) => (k % grid) + 0.5 + shift,
    (k: number) => Math.floor(k / grid) + 0.5,
    () => 1,
    () => 1,
  ])
    for (let k = 0; k < n; k++) boxes.push(f(k));
  const inits = [
    tensor('flat_shape', [3], 'int64', [1, 3, n]),
    tensor('boxes', [1, 4, n], 'float', boxes),
    tensor('starts', [1], 'int64', [0]),
    tensor('ends', [1], 'int64', [2]),
    tensor('axes', [1], 'int64', [1]),
  ];
  const axis = Buffer.concat([bytes(1, 'axis'), int(3, 1), int(20, 2 /* INT */)]);
  const nodes = [
    node(['images', 'flat_shape'], 'flat', 'reshape', 'Reshape'),
    node(['flat', 'starts', 'ends', 'axes'], 'scores', 'slice', 'Slice'),
    node(['boxes', 'scores'], 'output0', 'concat', 'Concat', [axis]),
  ];
  const graph = Buffer.concat([
    ...nodes,
    bytes(2, 'g'),
    ...inits.map((t) => bytes(5, t)),
    bytes(11, valueInfo('images', [1, 3, grid, grid])),
    bytes(12, valueInfo('output0', [1, 6, n])),
  ]);
  return Buffer.concat([
    int(1, 8),
    bytes(2, 'cvp-test'),
    bytes(7, graph),
    bytes(8, Buffer.concat([bytes(1, ''), int(2, 13)])),
  ]);
}

/** One object of a generated labelled image: grid cell and class (0 red, 1 green). */
export interface CellObject {
  row: number;
  col: number;
  cls: 0 | 1;
}

/**
 * Writes a YOLO detection data set for tinyDetectorOnnx: data.yaml, images/val/*.png (black,
 * each drawn object a red or green square filling its grid cell) and labels/val/*.txt. `labels`
 * may differ from what is drawn (a wrong class, a box nothing was drawn for) to make a set the
 * detector does not score perfectly on. Returns the data set folder.
 */
export async function writeCellDataset(
  dir: string,
  images: { drawn: CellObject[]; labels: CellObject[] }[],
  grid = 8,
  cellPx = 8,
): Promise<string> {
  // Loaded lazily so the ONNX builders above stay free of native modules.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const sharp = require('sharp') as typeof import('sharp');
  const { mkdirSync, writeFileSync } = await import('node:fs');
  const path = await import('node:path');
  mkdirSync(path.join(dir, 'images', 'val'), { recursive: true });
  mkdirSync(path.join(dir, 'labels', 'val'), { recursive: true });
  writeFileSync(path.join(dir, 'data.yaml'), 'names:\n  0: red\n  1: green\n');
  const size = grid * cellPx;
  for (const [i, im] of images.entries()) {
    const raw = Buffer.alloc(size * size * 3);
    for (const o of im.drawn) {
      for (let y = o.row * cellPx; y < (o.row + 1) * cellPx; y++)
        for (let x = o.col * cellPx; x < (o.col + 1) * cellPx; x++) raw[(y * size + x) * 3 + o.cls] = 255;
    }
    const name = `img${String(i).padStart(3, '0')}`;
    await sharp(raw, { raw: { width: size, height: size, channels: 3 } })
      .png()
      .toFile(path.join(dir, 'images', 'val', `${name}.png`));
    const lines = im.labels.map(
      (o) => `${o.cls} ${(o.col + 0.5) / grid} ${(o.row + 0.5) / grid} ${1 / grid} ${1 / grid}`,
    );
    writeFileSync(path.join(dir, 'labels', 'val', `${name}.txt`), lines.join('\n') + '\n');
  }
  return dir;
}
