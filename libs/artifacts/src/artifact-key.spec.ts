import path from 'node:path';
import { artifactKeyOf, assertArtifactKey, resolveArtifactKey } from './artifact-key';
import { InvalidArtifactKeyError } from './errors';

describe('artifact keys', () => {
  it.each(['models/abc/model.onnx', 'reports/r1/report.json', 'a', 'bundles/x_y-z.1.tar.gz'])('accepts %s', (k) => {
    expect(assertArtifactKey(k)).toBe(k);
  });

  it.each(['', '/etc/passwd', '../x', 'a/../../b', 'a//b', 'a/./b', 'a/', 'a b', 'a\\b', '.hidden', 'x'.repeat(513)])(
    'rejects %j',
    (k) => {
      expect(() => assertArtifactKey(k)).toThrow(InvalidArtifactKeyError);
    },
  );

  it('resolves under the data dir and back', () => {
    const full = resolveArtifactKey('/data', 'models/m1/model.onnx');
    expect(full).toBe(path.join('/data', 'models', 'm1', 'model.onnx'));
    expect(artifactKeyOf('/data', full)).toBe('models/m1/model.onnx');
  });

  it('refuses a file outside the data dir', () => {
    expect(() => artifactKeyOf('/data', '/other/file')).toThrow(InvalidArtifactKeyError);
    expect(() => artifactKeyOf('/data', '/data')).toThrow(InvalidArtifactKeyError);
  });
});
