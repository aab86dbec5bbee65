import { existsSync } from 'node:fs';
import path from 'node:path';
import {
  DescribeDatasetReply,
  DescribeDatasetRequest,
  DescribeModelReply,
  DescribeModelRequest,
  Registry,
} from '@cvp/contracts';
import { MessageBus } from '@cvp/platform';
import { type GatewayTestApp, startGatewayTestApp } from '../testing/gateway-test-app';
import { filesUnder, png, uploadMultipart } from '../testing/upload-helpers';
import { buildZip, type ZipEntrySpec } from '../testing/zip-writer';

describe('data sets: upload, validation report, registry describe over NATS (e2e)', () => {
  let gw: GatewayTestApp;
  let token: string;
  let bus: MessageBus;

  beforeAll(async () => {
    gw = await startGatewayTestApp();
    token = await gw.login('engineer');
    bus = gw.app.get(MessageBus);
  });
  afterAll(() => gw?.close());

  const yolo = async (extra: ZipEntrySpec[] = [], labels?: Record<string, string>): Promise<Buffer> => {
    const entries: ZipEntrySpec[] = [
      { name: 'ds/data.yaml', data: 'path: .\ntrain: images/train\nval: images/val\nnames:\n  0: cat\n  1: dog\n' },
    ];
    for (const split of ['train', 'val']) {
      for (let i = 0; i < 3; i++) {
        entries.push({ name: `ds/images/${split}/img${i}.png`, data: await png(16, 12, [i * 40, 100, 50]) });
        entries.push({
          name: `ds/labels/${split}/img${i}.txt`,
          data: labels?.[`${split}/img${i}`] ?? `${i % 2} 0.5 0.5 0.2 0.3\n0 0.1 0.1 0.05 0.05\n`,
        });
      }
    }
    return buildZip([...entries, ...extra]);
  };

  it('accepts a valid YOLO set: 201, split and per-class counts, files under datasets/<id>/data, describe answers', async () => {
    const r = await uploadMultipart(
      `${gw.api}/datasets`,
      token,
      { format: 'yolo', name: 'pets' },
      { name: 'pets.zip', data: await yolo() },
    );
    expect(r.status).toBe(201);
    const report = r.body.report as {
      valid: boolean;
      splits: Record<string, { images: number; labels: number; perClass: Record<string, number> }>;
      problems: unknown[];
    };
    expect(r.body).toMatchObject({ valid: true, classes: ['cat', 'dog'], format: 'yolo' });
    expect(report.problems).toEqual([]);
    expect(report.splits.train).toEqual({ images: 3, labels: 3, perClass: { cat: 5, dog: 1 } });
    const id = r.body.id as string;
    const reply = await bus.request(
      DescribeDatasetRequest,
      DescribeDatasetReply,
      Registry.describeDataset,
      { datasetId: id },
      3000,
    );
    expect(reply.found).toBe(true);
    expect(reply.dataset).toMatchObject({ id, format: 'yolo', valid: true, classes: ['cat', 'dog'] });
    expect(existsSync(path.join(reply.dataset!.path, 'data.yaml'))).toBe(true);
    expect(
      (
        await bus.request(
          DescribeDatasetRequest,
          DescribeDatasetReply,
          Registry.describeDataset,
          { datasetId: 'nope' },
          3000,
        )
      ).found,
    ).toBe(false);
    const list = (await (
      await fetch(`${gw.api}/datasets?valid=true`, { headers: { authorization: `Bearer ${token}` } })
    ).json()) as { items: { id: string }[]; total: number };
    expect(list.items.map((d) => d.id)).toContain(id);
  });

  it('rejects a YOLO set with bad labels and images: 422 naming file and line; kept with its report, no data, not trainable', async () => {
    const before = filesUnder(gw.dataDir).length;
    const zip = await yolo([{ name: 'ds/images/train/broken.png', data: 'not a png' }], {
      'train/img0': '0 0.5 0.5 0.2 0.3\n7 0.5 0.5 0.1 0.1\n',
      'train/img1': '1 1.5 0.5 0.2 0.3\n',
      'val/img2': '0 0.5 0.5\n',
    });
    const r = await uploadMultipart(`${gw.api}/datasets`, token, { format: 'yolo' }, { name: 'bad.zip', data: zip });
    expect(r.status).toBe(422);
    expect(r.contentType).toContain('application/problem+json');
    const report = r.body.report as { valid: boolean; problems: { file: string; line?: number; message: string }[] };
    expect(report.valid).toBe(false);
    expect(report.problems).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          file: 'ds/labels/train/img0.txt',
          line: 2,
          message: expect.stringMatching(/class id 7 out of range/),
        }),
        expect.objectContaining({
          file: 'ds/labels/train/img1.txt',
          line: 1,
          message: expect.stringMatching(/normalised/),
        }),
        expect.objectContaining({ file: 'ds/labels/val/img2.txt', line: 1 }),
        expect.objectContaining({
          file: 'ds/images/train/broken.png',
          message: expect.stringMatching(/cannot be decoded/),
        }),
      ]),
    );
    const id = r.body.datasetId as string;
    const got = (await (
      await fetch(`${gw.api}/datasets/${id}`, { headers: { authorization: `Bearer ${token}` } })
    ).json()) as { valid: boolean; report: { problems: unknown[] } };
    expect(got.valid).toBe(false);
    expect(got.report.problems.length).toBe(report.problems.length);
    // only the report is kept
    expect(filesUnder(gw.dataDir).length).toBe(before + 1);
    expect(filesUnder(gw.dataDir)).toContain(`datasets/${id}/report.json`);
    const reply = await bus.request(
      DescribeDatasetRequest,
      DescribeDatasetReply,
      Registry.describeDataset,
      { datasetId: id },
      3000,
    );
    expect(reply.dataset?.valid).toBe(false);
    // training on it is refused by the worker (valid=false); deleting removes the report too
    expect(
      (await fetch(`${gw.api}/datasets/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } }))
        .status,
    ).toBe(204);
    expect(filesUnder(gw.dataDir).length).toBe(before);
  });

  it('accepts an imagefolder set and rejects one with a missing train split', async () => {
    const entries: ZipEntrySpec[] = [];
    for (const split of ['train', 'val'])
      for (const cls of ['ants', 'bees'])
        for (let i = 0; i < 2; i++) entries.push({ name: `${split}/${cls}/${i}.png`, data: await png(10, 10) });
    const ok = await uploadMultipart(
      `${gw.api}/datasets`,
      token,
      { format: 'imagefolder' },
      { name: 'insects.zip', data: buildZip(entries) },
    );
    expect(ok.status).toBe(201);
    expect(ok.body).toMatchObject({ valid: true, classes: ['ants', 'bees'] });
    expect((ok.body.report as { splits: Record<string, unknown> }).splits.val).toEqual({
      images: 4,
      labels: 4,
      perClass: { ants: 2, bees: 2 },
    });
    const bad = await uploadMultipart(
      `${gw.api}/datasets`,
      token,
      { format: 'imagefolder' },
      { name: 'bad.zip', data: buildZip([{ name: 'val/ants/0.png', data: await png(4, 4) }]) },
    );
    expect(bad.status).toBe(422);
    expect((bad.body.report as { problems: { file: string }[] }).problems[0].file).toBe('train/');
  });

  it('viewers cannot upload; the model describe responder answers for unknown ids', async () => {
    const viewer = await gw.login('viewer');
    expect(
      (await uploadMultipart(`${gw.api}/datasets`, viewer, { format: 'yolo' }, { name: 'x.zip', data: await yolo() }))
        .status,
    ).toBe(403);
    const reply = await bus.request(
      DescribeModelRequest,
      DescribeModelReply,
      Registry.describeModel,
      { modelId: 'missing' },
      3000,
    );
    expect(reply).toMatchObject({ found: false });
  });
});
