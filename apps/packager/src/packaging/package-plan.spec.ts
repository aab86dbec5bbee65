import { PermanentJobError } from '@cvp/jobs';
import { benchmarkFacts, modelFacts } from '../testing/fixtures';
import { planPackage } from './package-plan';
import { servingName } from './bundle-assembler.service';

const cfg = (provider: 'cpu' | 'cuda' | 'tensorrt') => ({
  engine: 'native' as const,
  options: { provider, precision: 'fp16' as const, graphOptimization: 'all' as const, threads: 0, maxBatch: 2 },
  modelPath: '/d/v.onnx',
});

describe('planPackage', () => {
  const model = modelFacts('m', '/d/model.onnx', {
    latestVersion: 2,
    versions: [
      {
        version: 1,
        onnxPath: '/d/v1.onnx',
        sourcePath: null,
        sourceFormat: 'onnx',
        trained: false,
        createdAt: 'x',
        metadata: null,
      },
      {
        version: 2,
        onnxPath: '/d/v2.onnx',
        sourcePath: null,
        sourceFormat: 'onnx',
        trained: true,
        createdAt: 'y',
        metadata: null,
      },
    ],
  });

  it('selected: takes the benchmark choice and the version it measured', () => {
    const p = planPackage(
      { modelId: 'm', engine: 'selected', variant: 'cuda' },
      model,
      benchmarkFacts('b', 'm', '/d/b', cfg('tensorrt')),
    );
    expect(p).toMatchObject({
      selected: true,
      variant: 'cuda',
      version: { version: 1 },
      engineConfig: { engine: 'native', modelPath: '/d/v.onnx' },
    });
  });

  it('selected: refuses without a selection, a vanished version, or a GPU engine in a CPU image', () => {
    expect(() =>
      planPackage({ modelId: 'm', engine: 'selected', variant: 'cpu' }, model, benchmarkFacts('b', 'm', '/d/b', null)),
    ).toThrow(/benchmark b selected no feasible engine/);
    const gone = { ...benchmarkFacts('b', 'm', '/d/b', cfg('cpu')), modelVersion: 9 };
    expect(() => planPackage({ modelId: 'm', engine: 'selected', variant: 'cpu' }, model, gone)).toThrow(
      PermanentJobError,
    );
    expect(() =>
      planPackage(
        { modelId: 'm', engine: 'selected', variant: 'cpu' },
        model,
        benchmarkFacts('b', 'm', '/d/b', cfg('cuda')),
      ),
    ).toThrow(/provider cuda/);
  });

  it('explicit engine: latest ONNX, provider from the variant, the benchmark only when it measured that version', () => {
    const p = planPackage(
      { modelId: 'm', engine: 'ort-node', variant: 'cuda' },
      model,
      benchmarkFacts('b', 'm', '/d/b', cfg('cpu')),
    );
    expect(p).toMatchObject({
      selected: false,
      benchmark: null,
      version: { version: 2 },
      engineConfig: { engine: 'ort-node', modelPath: '/d/v2.onnx', options: { provider: 'cuda', precision: 'fp32' } },
    });
    const same = planPackage({ modelId: 'm', engine: 'native', variant: 'cpu' }, model, {
      ...benchmarkFacts('b', 'm', '/d/b', cfg('cpu')),
      modelVersion: 2,
    });
    expect(same.benchmark?.id).toBe('b');
    const noOnnx = { ...model, versions: [{ ...model.versions[1], onnxPath: null }] };
    expect(() => planPackage({ modelId: 'm', engine: 'native', variant: 'cpu' }, noOnnx, null)).toThrow(
      /no ONNX file yet/,
    );
  });
});

describe('servingName', () => {
  it('makes a lower-case name the data plane and Docker accept, falling back to the id', () => {
    expect(servingName('Street Cams v8n!', 'm1')).toBe('street-cams-v8n');
    expect(servingName('--__', 'M_1')).toBe('m_1');
  });
});
