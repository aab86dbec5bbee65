import sharp from 'sharp';
import { computeLetterbox, type Letterbox, letterboxToChw, normalizeToChw } from './letterbox';

/** Raised for bodies that are not a decodable JPEG/PNG within the caps: a client error (400/413/415). */
export class ImageInputError extends Error {
  constructor(
    message: string,
    readonly status: 400 | 413 | 415 = 400,
  ) {
    super(message);
    this.name = 'ImageInputError';
  }
}

export interface ImageLimits {
  maxBytes: number;
  maxPixels: number;
}

export type ImageKind = 'jpeg' | 'png';

/** Content sniffing: the bytes decide, never the declared content type. */
export function sniffImage(buf: Uint8Array): ImageKind | undefined {
  if (buf.length >= 3 && buf[0] === 0xff && buf[1] === 0xd8 && buf[2] === 0xff) return 'jpeg';
  if (
    buf.length >= 8 &&
    buf[0] === 0x89 &&
    buf[1] === 0x50 &&
    buf[2] === 0x4e &&
    buf[3] === 0x47 &&
    buf[4] === 0x0d &&
    buf[5] === 0x0a &&
    buf[6] === 0x1a &&
    buf[7] === 0x0a
  )
    return 'png';
  return undefined;
}

async function checkedImage(
  buf: Buffer,
  limits: ImageLimits,
): Promise<{ img: sharp.Sharp; width: number; height: number }> {
  if (buf.length > limits.maxBytes)
    throw new ImageInputError(`image is ${buf.length} bytes; the limit is ${limits.maxBytes}`, 413);
  if (!sniffImage(buf)) throw new ImageInputError('unsupported image type: expected JPEG or PNG', 415);
  // limitInputPixels makes libvips refuse image bombs from the header, before decoding them.
  const img = sharp(buf, { limitInputPixels: limits.maxPixels, failOn: 'error', sequentialRead: true });
  let meta: sharp.Metadata;
  try {
    meta = await img.metadata();
  } catch (e) {
    throw new ImageInputError(`image could not be read: ${(e as Error).message}`);
  }
  const { width, height } = meta;
  if (!width || !height) throw new ImageInputError('image has no dimensions');
  if (width * height > limits.maxPixels)
    throw new ImageInputError(`image has ${width * height} pixels; the limit is ${limits.maxPixels}`, 413);
  // EXIF orientation is ignored, as the native core does, so both engines see the same pixels.
  return { img: img.removeAlpha().toColourspace('srgb'), width, height };
}

async function rawRgb(img: sharp.Sharp, w: number, h: number, resize: boolean): Promise<Uint8Array> {
  try {
    const pipeline = resize ? img.resize(w, h, { fit: 'fill', kernel: 'linear' }) : img;
    const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded ${info.channels} channels, expected 3`);
    return data;
  } catch (e) {
    throw new ImageInputError(`image could not be decoded: ${(e as Error).message}`);
  }
}

/** A decoded image resized for a detector: RGB (HWC uint8) of lb.newW x lb.newH, and the letterbox geometry. */
export interface DetectorImage {
  rgb: Uint8Array;
  lb: Letterbox;
  width: number;
  height: number;
}

/**
 * Decodes and resizes for a dstW x dstH detector input (libuv's thread pool, off the event loop).
 * The letterbox padding and the CHW float conversion are the engine's (a worker thread's) job.
 */
export async function detectorImage(
  buf: Buffer,
  dstW: number,
  dstH: number,
  limits: ImageLimits,
): Promise<DetectorImage> {
  const { img, width, height } = await checkedImage(buf, limits);
  const lb = computeLetterbox(width, height, dstW, dstH);
  const rgb = await rawRgb(img, lb.newW, lb.newH, lb.newW !== width || lb.newH !== height);
  return { rgb, lb, width, height };
}

export interface DetectorInput {
  tensor: Float32Array;
  lb: Letterbox;
  width: number;
  height: number;
}

/** detectorImage, then the letterbox into a CHW float input of dstW x dstH. */
export async function detectorInput(
  buf: Buffer,
  dstW: number,
  dstH: number,
  limits: ImageLimits,
): Promise<DetectorInput> {
  const { rgb, lb, width, height } = await detectorImage(buf, dstW, dstH, limits);
  const tensor = letterboxToChw(rgb, lb, new Float32Array(3 * dstW * dstH));
  return { tensor, lb, width, height };
}

export type Normalization = 'imagenet' | 'unit';

/** Decodes and resizes to w x h (no letterbox, as torchvision/Ultralytics-cls evaluation): RGB HWC uint8. */
export async function classifierImage(buf: Buffer, w: number, h: number, limits: ImageLimits): Promise<Uint8Array> {
  const { img, width, height } = await checkedImage(buf, limits);
  return rawRgb(img, w, h, w !== width || h !== height);
}

/** classifierImage, then normalised to a CHW float input. */
export async function classifierInput(
  buf: Buffer,
  w: number,
  h: number,
  normalization: Normalization,
  limits: ImageLimits,
): Promise<Float32Array> {
  const rgb = await classifierImage(buf, w, h, limits);
  return normalization === 'unit' ? normalizeToChw(rgb, w, h, [0, 0, 0], [1, 1, 1]) : normalizeToChw(rgb, w, h);
}
