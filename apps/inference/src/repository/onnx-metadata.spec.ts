import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { modelFacts, OnnxMetadataError, readOnnxMetadata } from './onnx-metadata';

const FIXTURES = path.resolve(__dirname, '../../test/fixtures');
const dir = mkdtempSync(path.join(process.env.CVP_TEST_DIR ?? os.tmpdir(), 'onnx-metadata-'));

/** A protobuf length-delimited field (tag + length + bytes), lengths < 2^14. */
function lenField(field: number, bytes: Buffer): Buffer {
  const len = bytes.length < 128 ? [bytes.length] : [(bytes.length & 0x7f) | 0x80, bytes.length >> 7];
  return Buffer.concat([Buffer.from([(field << 3) | 2, ...len]), bytes]);
}
const prop = (k: string, v: string) =>
  lenField(14, Buffer.concat([lenField(1, Buffer.from(k)), lenField(2, Buffer.from(v))]));

describe('ONNX metadata (metadata_props read without loading the graph)', () => {
  it('reads the key/value pairs of a file written by onnx, and of entries appended to one', async () => {
    expect(await readOnnxMetadata(path.join(FIXTURES, 'size_probe.onnx'))).toEqual({
      imgsz: '[64, 64]',
      names: "{0: 'probe'}",
      task: 'detect',
    });
    expect(await readOnnxMetadata(path.join(FIXTURES, 'mlp.onnx'))).toEqual({});
    // Protobuf fields may come in any order: an entry after the graph counts too.
    const file = path.join(dir, 'appended.onnx');
    writeFileSync(file, Buffer.concat([readFileSync(path.join(FIXTURES, 'tiny_cls.onnx')), prop('imgsz', '224')]));
    expect(await readOnnxMetadata(file)).toEqual({ imgsz: '224' });
  });

  it('refuses a file that is not protobuf, or whose field runs past its end', async () => {
    const junk = path.join(dir, 'junk.onnx');
    writeFileSync(junk, Buffer.from([0x0f, 1, 2, 3])); // wire type 7
    await expect(readOnnxMetadata(junk)).rejects.toThrow(OnnxMetadataError);
    const cut = path.join(dir, 'cut.onnx');
    writeFileSync(cut, prop('names', "{0: 'a'}").subarray(0, 6));
    await expect(readOnnxMetadata(cut)).rejects.toThrow(/runs past/);
  });

  it("takes Ultralytics' imgsz and names, and ignores placeholder names", () => {
    expect(modelFacts({ imgsz: '[640, 640]', names: `{0: 'person', 1: "it's", 2: 'a\\'b'}` })).toEqual({
      imgsz: 640,
      names: ['person', "it's", "a'b"],
    });
    expect(modelFacts({ imgsz: '[320, 480]' })).toEqual({ imgsz: 480 });
    expect(modelFacts({ imgsz: '128' })).toEqual({ imgsz: 128 });
    expect(modelFacts({ names: "{0: '0', 1: '1', 2: '2'}" })).toEqual({}); // an untrained preset's
    expect(modelFacts({ names: "{0: 'a', 2: 'c'}" })).toEqual({}); // gaps: not a list of classes
    expect(modelFacts({ imgsz: 'big', names: 'nothing' })).toEqual({});
  });
});
