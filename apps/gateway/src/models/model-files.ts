import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Injectable, type OnModuleInit } from '@nestjs/common';
import { Artifacts } from '@cvp/artifacts';
import { InjectConfig, InjectLogger } from '@cvp/platform';
import type { Logger } from 'pino';
import type { GatewayConfig } from '../config';

/**
 * Model files under CVP_DATA_DIR. Uploaded sources are content-addressed: the bytes live once in
 * blobs/sha256/<hex> and each version folder (models/<id>/v<n>/) holds a hard link to them, so
 * the same file uploaded twice is stored once and a blob is removed with its last link.
 */
@Injectable()
export class ModelFiles implements OnModuleInit {
  readonly dataDir: string;
  constructor(
    @InjectConfig() config: GatewayConfig,
    private readonly artifacts: Artifacts,
    @InjectLogger() private readonly logger: Logger,
  ) {
    this.dataDir = path.resolve(config.CVP_DATA_DIR);
  }

  get uploadTmpDir(): string {
    return path.join(this.dataDir, 'tmp', 'uploads');
  }
  get blobDir(): string {
    return path.join(this.dataDir, 'blobs', 'sha256');
  }
  modelDir(id: string): string {
    return path.join(this.dataDir, 'models', id);
  }
  versionDir(id: string, version: number): string {
    return path.join(this.modelDir(id), `v${version}`);
  }

  /** Leftovers of uploads cut short by a crash are removed at start-up. */
  async onModuleInit(): Promise<void> {
    await fs.rm(this.uploadTmpDir, { recursive: true, force: true });
    await fs.mkdir(this.uploadTmpDir, { recursive: true });
    await fs.mkdir(this.blobDir, { recursive: true });
  }

  /**
   * Is the reference (a key, or a path) inside the data dir's models/<id>/ folder? Worker results
   * are checked before they are trusted.
   */
  insideModel(id: string, ref: string): boolean {
    try {
      return this.artifacts.keyOf(ref).startsWith(`models/${id}/`);
    } catch {
      return false;
    }
  }

  /**
   * Moves a staged upload into the blob store (or drops it when the blob exists), links it into a
   * new version folder and publishes it; returns its reference (the path, or its key with a store).
   */
  async storeSource(
    tmpPath: string,
    sha256: string,
    modelId: string,
    version: number,
    fileName: string,
  ): Promise<string> {
    const blob = path.join(this.blobDir, sha256);
    try {
      await fs.link(tmpPath, blob); // exclusive: fails when the content is already stored
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    await fs.rm(tmpPath, { force: true });
    const modelDir = this.modelDir(modelId);
    await fs.mkdir(modelDir, { recursive: true });
    // Fill a temp folder, then rename it into place: a reader never sees a half-made version.
    const tmpDir = await fs.mkdtemp(path.join(modelDir, '.tmp-upload-'));
    try {
      await fs.link(blob, path.join(tmpDir, fileName));
      await fs.rename(tmpDir, this.versionDir(modelId, version));
    } catch (e) {
      await fs.rm(tmpDir, { recursive: true, force: true });
      await this.collectBlob(sha256);
      throw e;
    }
    return this.artifacts.publishFile(path.join(this.versionDir(modelId, version), fileName));
  }

  /** Removes one version's folder (a version a worker made but the gateway refused to record). */
  async removeVersion(modelId: string, version: number): Promise<void> {
    await fs.rm(this.versionDir(modelId, version), { recursive: true, force: true });
  }

  /** Removes a model's folder, every blob it held the last link to, and its artifacts in the store. */
  async removeModel(modelId: string, blobShas: string[]): Promise<void> {
    await fs.rm(this.modelDir(modelId), { recursive: true, force: true });
    await this.artifacts.discardTree(`models/${modelId}`, this.logger);
    for (const sha of new Set(blobShas)) await this.collectBlob(sha);
  }

  /** A blob with one link left is referenced by nobody but the store. */
  async collectBlob(sha256: string): Promise<void> {
    if (!/^[0-9a-f]{64}$/.test(sha256)) return;
    const blob = path.join(this.blobDir, sha256);
    const st = await fs.stat(blob).catch(() => undefined);
    if (st && st.nlink <= 1) await fs.rm(blob, { force: true });
  }
}
