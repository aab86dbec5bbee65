'use strict';
// onnxruntime-node creates output tensors from typed arrays of the outer Node realm, and
// onnxruntime-common checks them with `instanceof` in jest's sandbox realm, which fails. This
// environment shares the outer realm's typed-array constructors with the sandbox.
const { TestEnvironment } = require('jest-environment-node');

const SHARED = [
  'ArrayBuffer',
  'SharedArrayBuffer',
  'Uint8Array',
  'Int8Array',
  'Uint16Array',
  'Int16Array',
  'Uint32Array',
  'Int32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
  'Uint8ClampedArray',
];

class OrtEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of SHARED) this.global[name] = globalThis[name];
  }
}
module.exports = OrtEnvironment;
