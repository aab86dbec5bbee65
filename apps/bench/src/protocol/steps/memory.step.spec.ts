import { fixtureCandidate } from '../../testing/report-fixture';
import { testProtocolContext } from '../../testing/protocol-context';
import { runStep } from '../protocol-step';
import { memoryStep } from './memory.step';

describe('step 7: memory', () => {
  it('records the peak RSS of every candidate; without a GPU, VRAM is skipped with the host reason', async () => {
    const gpu = { present: false, name: null, reason: 'no NVIDIA GPU on this host (/dev/nvidia0 absent)' };
    const ctx = await testProtocolContext({ parts: { host: { gpu, providers: ['cpu'] } } });
    ctx.candidates.push(
      fixtureCandidate('ort-node/cpu/fp32/all/t1/b1', 10, { peakRssMb: 180 }),
      fixtureCandidate('native/cpu/fp32/all/t1/b1', 12, { peakRssMb: 90 }),
    );
    expect(await runStep(ctx, memoryStep)).toMatchObject({
      status: 'done',
      candidateIds: ['ort-node/cpu/fp32/all/t1/b1', 'native/cpu/fp32/all/t1/b1'],
      reasons: [`VRAM: skipped: ${gpu.reason}`],
      details: {
        peakRssMb: { 'ort-node/cpu/fp32/all/t1/b1': 180, 'native/cpu/fp32/all/t1/b1': 90 },
        method: expect.stringMatching(/fresh process/),
      },
    });
  });

  it('records the peak VRAM of the GPU candidates', async () => {
    const gpu = { present: true, name: 'NVIDIA stand-in', reason: null };
    const ctx = await testProtocolContext({ parts: { host: { gpu, providers: ['cpu', 'cuda'] } } });
    ctx.candidates.push(
      fixtureCandidate('ort-node/cpu/fp32/all/t1/b1', 10),
      fixtureCandidate('ort-node/cuda/fp32/all/t0/b1', 2, { peakVramMb: 700 }),
    );
    const step = await runStep(ctx, memoryStep);
    expect(step.reasons).toEqual([]);
    expect(step.details.peakVramMb).toEqual({ 'ort-node/cuda/fp32/all/t0/b1': 700 });

    const none = await testProtocolContext({ parts: { host: { gpu, providers: ['cpu', 'cuda'] } } });
    none.candidates.push(fixtureCandidate('ort-node/cpu/fp32/all/t1/b1', 10));
    expect((await runStep(none, memoryStep)).reasons).toEqual(['VRAM: skipped: no GPU engine was measured']);
  });
});
