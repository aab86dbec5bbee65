import { promises as fs } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { seededRandom } from './rng';

const IMAGE_EXT = new Set(['.jpg', '.jpeg', '.png', '.bmp', '.webp']);
/** Bound on how many files a data set walk looks at. */
const MAX_WALK = 20000;

/** Sorted image files under a data set folder (recursive, bounded, symlinks not followed). */
export async function listImages(dir: string, limit: number): Promise<string[]> {
  const found: string[] = [];
  const stack = [dir];
  let seen = 0;
  while (stack.length && seen < MAX_WALK) {
    const d = stack.pop()!;
    const entries = await fs.readdir(d, { withFileTypes: true });
    for (const e of entries) {
      seen++;
      const p = path.join(d, e.name);
      if (e.isDirectory()) stack.push(p);
      else if (e.isFile() && IMAGE_EXT.has(path.extname(e.name).toLowerCase())) found.push(p);
    }
  }
  return found.sort().slice(0, limit);
}

/** Held-out splits first: agreement and mAP look at images the model was not trained on when there are any. */
export const IMAGE_SPLITS = ['val', 'valid', 'test', 'train'] as const;

/**
 * Up to `count` images of a data set for accuracy agreement, in a fixed order: the held-out
 * splits first (images/val, valid, test), then the rest of the set; the description says where
 * they came from. Agreement compares two engines' outputs and needs no labels, so a set with few
 * held-out images is topped up from its other images.
 */
export async function agreementImages(
  datasetDir: string,
  count: number,
): Promise<{ files: string[]; description: string }> {
  const files: string[] = [];
  const parts: string[] = [];
  for (const split of IMAGE_SPLITS) {
    if (files.length >= count) break;
    const dir = path.join(datasetDir, 'images', split);
    const found = await listImages(dir, count - files.length).catch(() => []);
    if (found.length) parts.push(`${found.length} of split ${split}`);
    files.push(...found);
  }
  if (files.length < count) {
    const seen = new Set(files);
    const rest = (await listImages(datasetDir, MAX_WALK)).filter((f) => !seen.has(f)).slice(0, count - files.length);
    if (rest.length) parts.push(`${rest.length} ${parts.length ? 'other' : ''} image(s)`.replace('  ', ' '));
    files.push(...rest);
  }
  return { files, description: `${files.length} images of the attached data set (${parts.join(', ') || 'none'})` };
}

/** Encoded image -> float32 NCHW [1, c, h, w] in [0, 1] (resize to the model's input, RGB). */
export async function imageToTensor(image: Buffer, c: number, h: number, w: number): Promise<Float32Array> {
  const { data } = await sharp(image, { limitInputPixels: 64e6 })
    .removeAlpha()
    .resize(w, h, { fit: 'fill' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const plane = h * w;
  const out = new Float32Array(c * plane);
  for (let i = 0; i < plane; i++) {
    for (let ch = 0; ch < c; ch++) out[ch * plane + i] = data[i * 3 + Math.min(ch, 2)] / 255;
  }
  return out;
}

/** A seeded synthetic JPEG (smooth blobs plus noise) standing in for a camera frame. */
export async function seededJpeg(seed: number, width = 640, height = 480): Promise<Buffer> {
  const r = seededRandom(seed);
  const raw = Buffer.alloc(width * height * 3);
  const cx = r() * width;
  const cy = r() * height;
  const base = [r() * 255, r() * 255, r() * 255];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const d = Math.hypot(x - cx, y - cy) / Math.max(width, height);
      const o = (y * width + x) * 3;
      for (let ch = 0; ch < 3; ch++) raw[o + ch] = Math.max(0, Math.min(255, base[ch] * (1 - d) + r() * 40));
    }
  }
  return sharp(raw, { raw: { width, height, channels: 3 } })
    .jpeg({ quality: 85 })
    .toBuffer();
}
