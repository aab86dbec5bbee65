import { existsSync } from 'node:fs';
import path from 'node:path';

/**
 * Maps the core's shared-memory regions into this process, when the addon native/node/region_map.cpp
 * is built (native/build/cvp_region_map.node; `CVP_REGION_MAP_ADDON` names another path). With a
 * mapping, a tensor moves into or out of a region with one memcpy; without, with one pwrite(2) or
 * pread(2), which copies through the kernel (yolov8n's 4.9 MB input, warm: 0.87 ms of pwrite
 * against 0.50 ms of memcpy here). Either way the bytes are the same.
 */
export interface RegionMapAddon {
  map(fd: number, byteLength: number): ArrayBuffer;
  unmap(buffer: ArrayBuffer): void;
}

const ADDON = 'cvp_region_map.node';
/** How far up from this file the repository root may be (src/ and dist/libs/.../src/). */
const MAX_LEVELS = 6;

let loaded: { addon: RegionMapAddon | null; off: string | null } | null = null;

/** The addon, or why there is none (decided once per process). */
export function regionMapAddon(): { addon: RegionMapAddon | null; off: string | null } {
  if (loaded) return loaded;
  const file = process.env.CVP_REGION_MAP_ADDON || findBuilt();
  if (!file) {
    loaded = { addon: null, off: `${ADDON} is not built (native/scripts/build.sh builds it)` };
    return loaded;
  }
  try {
    const mod = { exports: {} as RegionMapAddon };
    process.dlopen(mod, file);
    loaded = { addon: mod.exports, off: null };
  } catch (e) {
    loaded = { addon: null, off: `cannot load ${file}: ${(e as Error).message}` };
  }
  return loaded;
}

function findBuilt(): string | null {
  let dir = __dirname;
  for (let i = 0; i < MAX_LEVELS; i++) {
    const file = path.join(dir, 'native', 'build', ADDON);
    if (existsSync(file)) return file;
    dir = path.dirname(dir);
  }
  return null;
}

/** Copies src into dst at `at` with memcpy: Buffer#fill given a value exactly as long as the range. */
export function copyInto(dst: Buffer, at: number, src: Uint8Array): void {
  if (src.byteLength > 0) dst.fill(src, at, at + src.byteLength);
}
