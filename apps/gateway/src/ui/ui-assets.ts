import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Injectable } from '@nestjs/common';

export interface UiAsset {
  body: Buffer;
  contentType: string;
  /** Content hash in the URL, so the file can be cached for a year and a new version is a new URL. */
  hash: string;
}

/**
 * The own CSS and script sit next to this file in the source tree; the compiled gateway (dist/)
 * reads them from there too, as it reads htmx from node_modules: the repository is its install.
 */
function ownAssetDir(): string {
  const here = path.join(__dirname, 'assets');
  if (existsSync(here)) return here;
  return path.join(__dirname.replace(`${path.sep}dist${path.sep}`, path.sep), 'assets');
}

const FILES: Record<string, { file: () => string; contentType: string }> = {
  'htmx.min.js': {
    file: () => require.resolve('htmx.org/dist/htmx.min.js'),
    contentType: 'text/javascript; charset=utf-8',
  },
  'sse.js': {
    file: () => require.resolve('htmx-ext-sse/dist/sse.min.js'),
    contentType: 'text/javascript; charset=utf-8',
  },
  'ui.css': { file: () => path.join(ownAssetDir(), 'ui.css'), contentType: 'text/css; charset=utf-8' },
  'ui.js': { file: () => path.join(ownAssetDir(), 'ui.js'), contentType: 'text/javascript; charset=utf-8' },
};

/** htmx and its SSE extension from the repository's node_modules, and the UI's own CSS and script: no CDN. */
@Injectable()
export class UiAssets {
  private readonly assets = new Map<string, UiAsset>();

  constructor() {
    for (const [name, f] of Object.entries(FILES)) {
      const body = readFileSync(f.file());
      this.assets.set(name, {
        body,
        contentType: f.contentType,
        hash: createHash('sha256').update(body).digest('hex').slice(0, 16),
      });
    }
  }

  get(name: string): UiAsset | undefined {
    return this.assets.get(name);
  }

  url(name: keyof typeof FILES & string): string {
    return `/ui/assets/${this.assets.get(name)!.hash}/${name}`;
  }
}
