import type { Tensor } from '../engines/engine';
import {
  decodeToJson,
  encodeInferResponse,
  encodeJsonData,
  fromHalf,
  KserveRequestError,
  parseInferRequest,
  toHalf,
} from './tensor-codec';

describe('KServe v2 tensor codec', () => {
  it('converts FP16 both ways (normals, subnormals, limits, specials)', () => {
    for (const v of [0, 1, -2, 0.5, 65504, 6.103515625e-5, 5.960464477539063e-8, -0.333251953125])
      expect(fromHalf(toHalf(v))).toBe(v);
    expect(fromHalf(toHalf(1e6))).toBe(Infinity);
    expect(Number.isNaN(fromHalf(toHalf(NaN)))).toBe(true);
    expect(fromHalf(toHalf(-Infinity))).toBe(-Infinity);
    expect(fromHalf(toHalf(1e-9))).toBe(0);
    expect(toHalf(1.0009765625 + 0.00048828125)).toBe(0x3c02); // tie rounds to even
  });

  it.each([
    ['BOOL', [true, false, 1], [true, false, true]],
    ['UINT8', [0, 255], [0, 255]],
    ['INT8', [-128, 127], [-128, 127]],
    ['UINT16', [65535], [65535]],
    ['INT16', [-32768], [-32768]],
    ['UINT32', [4294967295], [4294967295]],
    ['INT32', [-5, 7], [-5, 7]],
    ['UINT64', [2 ** 40], [2 ** 40]],
    ['INT64', [-(2 ** 40), 3], [-(2 ** 40), 3]],
    ['FP16', [1.5, -2], [1.5, -2]],
    ['FP32', [0.25, -1e10], [0.25, -1e10]],
    ['FP64', [Math.PI], [Math.PI]],
  ] as const)('%s survives JSON -> bytes -> JSON', (dt, input, output) => {
    const data = encodeJsonData(dt, [...input]);
    expect(decodeToJson({ name: 'x', datatype: dt, shape: [input.length], data })).toEqual(output);
  });

  it('refuses non-numbers and non-integers for integer types', () => {
    expect(() => encodeJsonData('INT32', [1.5])).toThrow(KserveRequestError);
    expect(() => encodeJsonData('FP32', ['a'])).toThrow(/not a number/);
  });

  it('slices binary inputs out of the body without copying', () => {
    const header = Buffer.from(
      JSON.stringify({
        inputs: [
          { name: 'a', datatype: 'FP32', shape: [2], parameters: { binary_data_size: 8 } },
          { name: 'b', datatype: 'INT32', shape: [1], data: [7] },
        ],
      }),
    );
    const bin = Buffer.from(new Float32Array([1, 2]).buffer);
    const body = Buffer.concat([header, bin]);
    const r = parseInferRequest(body, header.length);
    expect(r.inputs[0].data.buffer).toBe(body.buffer); // a view, not a copy
    expect([r.inputs[0].data.readFloatLE(0), r.inputs[0].data.readFloatLE(4)]).toEqual([1, 2]);
    expect(r.inputs[1].data.readInt32LE(0)).toBe(7);
  });

  it.each([
    ['not json', undefined, /not JSON/],
    ['{"inputs":[]}', undefined, /1 to 64 inputs/],
    ['{"inputs":[{"datatype":"FP32","shape":[1],"data":[1]}]}', undefined, /name is required/],
    ['{"inputs":[{"name":"a","datatype":"STR","shape":[1],"data":[1]}]}', undefined, /not supported/],
    ['{"inputs":[{"name":"a","datatype":"FP32","shape":[-1],"data":[1]}]}', undefined, /non-negative/],
    ['{"inputs":[{"name":"a","datatype":"FP32","shape":[2]}]}', undefined, /data is required/],
    [
      '{"inputs":[{"name":"a","datatype":"FP32","shape":[1],"parameters":{"binary_data_size":4}}]}',
      undefined,
      /without Inference-Header/,
    ],
    ['{"inputs":[{"name":"a","datatype":"FP32","shape":[1],"data":[1]}],"outputs":[{}]}', undefined, /output 0: name/],
  ])('refuses %s', (body, hl, re) => {
    expect(() => parseInferRequest(Buffer.from(body), hl)).toThrow(re);
  });

  it('refuses binary sizes that do not fit the body or the shape, and trailing bytes', () => {
    const h = (size: number, shape = [1]) =>
      Buffer.from(
        JSON.stringify({ inputs: [{ name: 'a', datatype: 'FP32', shape, parameters: { binary_data_size: size } }] }),
      );
    const a = h(8);
    expect(() => parseInferRequest(Buffer.concat([a, Buffer.alloc(4)]), a.length)).toThrow(/runs past/);
    const b = h(4, [2]);
    expect(() => parseInferRequest(Buffer.concat([b, Buffer.alloc(4)]), b.length)).toThrow(/needs 8/);
    const c = h(4);
    expect(() => parseInferRequest(Buffer.concat([c, Buffer.alloc(6)]), c.length)).toThrow(/unused bytes/);
    expect(() => parseInferRequest(Buffer.from('{}'), 99)).toThrow(/does not fit/);
  });

  it('answers JSON or binary per output, with the header length for binary', () => {
    const y: Tensor = { name: 'y', datatype: 'FP32', shape: [2], data: Buffer.from(new Float32Array([1.5, 2]).buffer) };
    const z: Tensor = { name: 'z', datatype: 'INT64', shape: [1], data: Buffer.from(new BigInt64Array([5n]).buffer) };
    const joined = (parts: (Buffer | string)[]) => Buffer.concat(parts.map((p) => Buffer.from(p)));
    const json = encodeInferResponse('m', { id: 'q', binaryOutputs: new Map(), binaryDefault: false }, [y, z]);
    expect(json.headerLength).toBeUndefined();
    expect(JSON.parse(joined(json.parts).toString())).toEqual({
      model_name: 'm',
      model_version: '1',
      id: 'q',
      outputs: [
        { name: 'y', datatype: 'FP32', shape: [2], data: [1.5, 2] },
        { name: 'z', datatype: 'INT64', shape: [1], data: [5] },
      ],
    });
    const bin = encodeInferResponse('m', { binaryOutputs: new Map([['z', false]]), binaryDefault: true }, [y, z]);
    const body = joined(bin.parts);
    const head = JSON.parse(body.subarray(0, bin.headerLength).toString());
    expect(head.outputs[0].parameters.binary_data_size).toBe(8);
    expect(head.outputs[1].data).toEqual([5]);
    expect(body.subarray(bin.headerLength!).equals(y.data)).toBe(true);
    // The tensor leaves as the engine's own buffer, not a copy joined into a new body.
    expect(bin.parts.at(-1)).toBe(y.data);
    // An output the engine already encoded as JSON text goes out as that text.
    const pre = encodeInferResponse('m', { binaryOutputs: new Map(), binaryDefault: false }, [
      { ...y, data: Buffer.alloc(0), json: '[1.5,2]' },
    ]);
    expect(JSON.parse(joined(pre.parts).toString()).outputs[0].data).toEqual([1.5, 2]);
    const parsed = parseInferRequest(
      Buffer.from(
        JSON.stringify({
          inputs: [{ name: 'a', datatype: 'FP32', shape: [1], data: [1] }],
          outputs: [{ name: 'y', parameters: { binary_data: true } }],
          parameters: { binary_data_output: false },
        }),
      ),
      undefined,
    );
    expect(parsed.binaryOutputs.get('y')).toBe(true);
    expect(parsed.binaryDefault).toBe(false);
    expect(parsed.outputs).toEqual(['y']);
  });
});
