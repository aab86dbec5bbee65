/**
 * Letterbox geometry, the same rule as the native core (native/src/image.cpp) and Ultralytics:
 * scale = min(S/w, S/h), resized size rounded, padding centred with round(d -/+ 0.1), pad value 114.
 */
export interface Letterbox {
  srcW: number;
  srcH: number;
  dstW: number;
  dstH: number;
  /** Scale from source pixels to network pixels. */
  r: number;
  newW: number;
  newH: number;
  left: number;
  top: number;
}

/** C's lround: halves round away from zero (Math.round rounds them up). */
export function lround(v: number): number {
  return v < 0 ? -Math.round(-v) || 0 : Math.round(v); // `|| 0`: never -0
}

/** Float32 arithmetic as the C++ core computes it, so both sides agree on every pixel offset. */
const f32 = Math.fround;

export function computeLetterbox(srcW: number, srcH: number, dstW: number, dstH: number): Letterbox {
  const r = Math.min(f32(dstH / srcH), f32(dstW / srcW));
  let newW = Math.max(1, lround(f32(srcW * r)));
  let newH = Math.max(1, lround(f32(srcH * r)));
  newW = Math.min(newW, dstW);
  newH = Math.min(newH, dstH);
  const dw = f32((dstW - newW) / 2);
  const dh = f32((dstH - newH) / 2);
  return { srcW, srcH, dstW, dstH, r, newW, newH, left: lround(f32(dw - 0.1)), top: lround(f32(dh - 0.1)) };
}

const clamp = (v: number, lo: number, hi: number) => (v < lo ? lo : v > hi ? hi : v);

/** Maps a box from network (letterboxed) coordinates back to the original image, clamped to it. */
export function unletterboxBox(lb: Letterbox, box: [number, number, number, number]): [number, number, number, number] {
  const fx = (v: number) => clamp((v - lb.left) / lb.r, 0, lb.srcW);
  const fy = (v: number) => clamp((v - lb.top) / lb.r, 0, lb.srcH);
  return [fx(box[0]), fy(box[1]), fx(box[2]), fy(box[3])];
}

/** Maps a box from original coordinates into the letterboxed network input. */
export function letterboxBox(lb: Letterbox, box: [number, number, number, number]): [number, number, number, number] {
  return [box[0] * lb.r + lb.left, box[1] * lb.r + lb.top, box[2] * lb.r + lb.left, box[3] * lb.r + lb.top];
}

/**
 * Writes a resized RGB (HWC uint8) image into a CHW float32 network input of dstW x dstH,
 * scaled to [0, 1], padded with 114/255. `out` is reused between requests by the caller.
 */
export function letterboxToChw(resizedRgb: Uint8Array, lb: Letterbox, out: Float32Array): Float32Array {
  const plane = lb.dstW * lb.dstH;
  if (out.length < 3 * plane) throw new RangeError(`output holds ${out.length} floats, needs ${3 * plane}`);
  out.fill(114 / 255, 0, 3 * plane);
  const inv = 1 / 255;
  for (let y = 0; y < lb.newH; y++) {
    const base = (y + lb.top) * lb.dstW + lb.left;
    let src = y * lb.newW * 3;
    for (let x = 0; x < lb.newW; x++, src += 3) {
      const o = base + x;
      out[o] = resizedRgb[src] * inv;
      out[plane + o] = resizedRgb[src + 1] * inv;
      out[2 * plane + o] = resizedRgb[src + 2] * inv;
    }
  }
  return out;
}

export const IMAGENET_MEAN: readonly [number, number, number] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: readonly [number, number, number] = [0.229, 0.224, 0.225];

/** Resized RGB (HWC uint8, w x h) -> CHW float32 normalised by (x/255 - mean) / std. */
export function normalizeToChw(
  resizedRgb: Uint8Array,
  w: number,
  h: number,
  mean: readonly number[] = IMAGENET_MEAN,
  std: readonly number[] = IMAGENET_STD,
  out = new Float32Array(3 * w * h),
): Float32Array {
  const plane = w * h;
  for (let i = 0, src = 0; i < plane; i++, src += 3) {
    for (let c = 0; c < 3; c++) out[c * plane + i] = (resizedRgb[src + c] / 255 - mean[c]) / std[c];
  }
  return out;
}
