import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type BundleFile, byPath } from './bundle-file';

export const MANIFEST_NAME = 'MANIFEST.sha256';

export async function sha256Of(file: BundleFile): Promise<string> {
  const h = createHash('sha256');
  if (file.source.kind === 'bytes') return h.update(file.source.data).digest('hex');
  for await (const chunk of createReadStream(file.source.path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/**
 * `sha256sum` text format ("<hex>  <path>", sorted by path, one per line), so
 * `sha256sum -c MANIFEST.sha256` verifies an extracted bundle with nothing but coreutils.
 */
export async function buildManifest(files: BundleFile[]): Promise<string> {
  const lines: string[] = [];
  for (const f of [...files].sort(byPath)) {
    if (f.path === MANIFEST_NAME) continue;
    lines.push(`${await sha256Of(f)}  ${f.path}`);
  }
  return `${lines.join('\n')}\n`;
}
