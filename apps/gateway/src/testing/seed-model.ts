import { randomUUID } from 'node:crypto';
import { copyFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { ModelFormat, ModelTask } from '@cvp/contracts';
import { DataSource } from 'typeorm';
import { ModelEntity, ModelVersionEntity } from '../models/model.entity';
import type { GatewayTestApp } from './gateway-test-app';

export interface SeedModelOptions {
  /** ONNX file copied to models/<id>/v1/model.onnx under the gateway's data dir. */
  onnx: string;
  task: ModelTask;
  /** Defaults to `m-<first 6 chars of the id>`. */
  name?: string;
  sourceFormat?: ModelFormat;
  preset?: string | null;
  labels?: string[] | null;
  trained?: boolean;
  metadata?: Record<string, unknown> | null;
}

/**
 * A model row as a finished conversion leaves it (version 1, its ONNX inside the model's folder,
 * owned by the seeded engineer), for suites that start past the upload and convert steps.
 * Returns the model id.
 */
export async function seedConvertedModel(gw: GatewayTestApp, o: SeedModelOptions): Promise<string> {
  const id = randomUUID();
  const dir = path.join(gw.dataDir, 'models', id, 'v1');
  mkdirSync(dir, { recursive: true });
  const onnx = path.join(dir, 'model.onnx');
  copyFileSync(o.onnx, onnx);
  const ds = gw.app.get(DataSource);
  const ts = new Date().toISOString();
  const sourceFormat = o.sourceFormat ?? 'onnx';
  await ds.getRepository(ModelEntity).save({
    id,
    name: o.name ?? `m-${id.slice(0, 6)}`,
    task: o.task,
    sourceFormat,
    preset: o.preset ?? null,
    labels: o.labels ?? null,
    ownerId: gw.userIds.engineer,
    latestVersion: 1,
    createdAt: ts,
    updatedAt: ts,
  });
  await ds.getRepository(ModelVersionEntity).save({
    modelId: id,
    version: 1,
    sourcePath: onnx,
    sourceSha256: null,
    sourceSize: null,
    sourceFormat,
    onnxPath: onnx,
    trained: o.trained ?? false,
    metadata: o.metadata ?? null,
    metrics: null,
    jobId: null,
    createdAt: ts,
  });
  return id;
}
