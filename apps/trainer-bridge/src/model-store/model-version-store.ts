import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Artifacts, LocalArtifactStore } from '@cvp/artifacts';
import { PermanentJobError } from '@cvp/jobs';

/** Written inside every version folder this service makes: which job made it and what it returned. */
export const JOB_MARKER = '.cvp-job.json';
const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

export interface NewVersion {
  version: number;
  /** Final folder (models/<id>/v<version>). */
  dir: string;
  /** Temporary folder to fill; renamed onto `dir` by commit(). */
  tmpDir: string;
}

/**
 * Version folders under CVP_DATA_DIR/models/<modelId>/. A new version is claimed by an exclusive
 * mkdir and, when several hosts share an artifact store, by a claim in the store (two jobs on one
 * model never share a number, on one host or many), filled in a temp folder, then renamed in place;
 * a redelivered job finds its committed version by the marker and does not make another. An
 * abandoned number stays claimed by its job (its retry takes it again), so numbers can have gaps.
 */
export class ModelVersionStore {
  readonly artifacts: Artifacts;
  /** Without the service's store (handler tests), the data dir itself is the store. */
  constructor(
    readonly dataDir: string,
    artifacts?: Artifacts | null,
  ) {
    this.artifacts = artifacts ?? new Artifacts(new LocalArtifactStore(dataDir), dataDir);
  }

  modelDir(modelId: string): string {
    if (!SAFE_ID.test(modelId))
      throw new PermanentJobError(`model id ${JSON.stringify(modelId)} is not a safe folder name`);
    return path.join(this.dataDir, 'models', modelId);
  }

  jobDir(jobId: string): string {
    if (!SAFE_ID.test(jobId)) throw new PermanentJobError(`job id ${JSON.stringify(jobId)} is not a safe folder name`);
    return path.join(this.dataDir, 'jobs', jobId);
  }

  /** The result a previous delivery of this job committed, if any. */
  async findCommitted(modelId: string, jobId: string): Promise<Record<string, unknown> | undefined> {
    const root = this.modelDir(modelId);
    const entries = await fs.readdir(root).catch(() => [] as string[]);
    for (const name of entries.filter((n) => /^v\d+$/.test(n))) {
      const marker = await fs.readFile(path.join(root, name, JOB_MARKER), 'utf8').catch(() => undefined);
      if (!marker) continue;
      try {
        const m = JSON.parse(marker) as { jobId?: string; result?: Record<string, unknown> };
        if (m.jobId === jobId && m.result) return m.result;
      } catch {
        // a foreign or damaged marker is not ours
      }
    }
    return undefined;
  }

  /** Claims the next free version >= minVersion and a temp folder beside it. */
  async claim(modelId: string, minVersion: number, jobId: string): Promise<NewVersion> {
    const root = this.modelDir(modelId);
    await fs.mkdir(root, { recursive: true });
    const onDisk = (await fs.readdir(root))
      .map((n) => /^v(\d+)$/.exec(n))
      .filter((m): m is RegExpExecArray => !!m)
      .map((m) => Number(m[1]));
    // With a shared store, other hosts' numbers are not on this disk: walk up from minVersion, so a
    // redelivered job meets the number it claimed before (one create-only write per number passed).
    const shared = this.artifacts.kind !== 'local';
    let version = shared ? Math.max(minVersion, 1) : Math.max(minVersion, ...onDisk.map((v) => v + 1), 1);
    // Bounded: at most a handful of concurrent claimers can race us.
    for (let tries = 0; tries < 1000; tries++, version++) {
      const dir = path.join(root, `v${version}`);
      try {
        await fs.mkdir(dir);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue;
        throw e;
      }
      // Other hosts do not see this disk: the store decides which job a number belongs to. A number
      // this job claimed before (a redelivery, here or on another host) is its own again.
      const owner = await this.artifacts.store.claim(`models/${modelId}/v${version}`, jobId).catch(async (e) => {
        await fs.rmdir(dir).catch(() => undefined);
        throw e;
      });
      if (owner !== jobId) {
        await fs.rmdir(dir);
        continue;
      }
      const tmpDir = path.join(root, `.tmp-${jobId}-${randomBytes(4).toString('hex')}`);
      await fs.mkdir(tmpDir);
      return { version, dir, tmpDir };
    }
    throw new Error(`no free version folder under ${root}`);
  }

  /**
   * Writes the marker, moves the filled temp folder onto the claimed (empty) version folder, then
   * publishes every file of the version, so other hosts can open the references in `result`.
   */
  async commit(v: NewVersion, jobId: string, result: Record<string, unknown>): Promise<void> {
    await fs.writeFile(
      path.join(v.tmpDir, JOB_MARKER),
      JSON.stringify({ jobId, result, committedAt: new Date().toISOString() }, null, 2),
    );
    // rename(2) replaces an empty directory atomically.
    await fs.rename(v.tmpDir, v.dir);
    await this.artifacts.publishDir(v.dir);
  }

  /** Undoes a claim that will not be committed (failure, cancel). */
  async abandon(v: NewVersion): Promise<void> {
    await fs.rm(v.tmpDir, { recursive: true, force: true });
    await fs.rmdir(v.dir).catch(() => undefined);
  }

  /** Path of a file in the final folder for a file currently in the temp folder. */
  finalPath(v: NewVersion, tmpFile: string): string {
    return path.join(v.dir, path.relative(v.tmpDir, tmpFile));
  }

  /** What a job result carries for that file (its path, or its key when artifacts move through a store). */
  finalRef(v: NewVersion, tmpFile: string): string {
    return this.artifacts.refOfFile(this.finalPath(v, tmpFile));
  }
}
