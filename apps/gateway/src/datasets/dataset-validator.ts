import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { DatasetFormat } from '@cvp/contracts';
import sharp from 'sharp';

// js-yaml ships with @nestjs/swagger (a runtime dependency); v4's load() is safe (no custom types).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const yaml = require('js-yaml') as {
  load(src: string, opts?: { schema?: unknown; json?: boolean }): unknown;
  CORE_SCHEMA: unknown;
};

export interface DatasetProblem {
  file: string;
  line?: number;
  message: string;
}

export interface SplitCounts {
  images: number;
  /** YOLO: label files; imagefolder: images (every image is labelled by its folder). */
  labels: number;
  /** YOLO: boxes per class; imagefolder: images per class. */
  perClass: Record<string, number>;
}

export interface ValidationReport {
  format: DatasetFormat;
  valid: boolean;
  classes: string[];
  splits: Record<string, SplitCounts>;
  images: number;
  problems: DatasetProblem[];
  warnings: DatasetProblem[];
  /** Problems beyond the cap are counted, not listed (the report must stay bounded). */
  problemsTruncated: number;
  /** Folder (relative to the extraction root) holding data.yaml or the split folders. */
  root: string;
}

/** Thrown for images over the pixel cap: an image bomb refuses the whole upload (413). */
export class ImageBombError extends Error {
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(`image ${file} exceeds the pixel limit (image bomb?): ${detail}`);
    this.name = 'ImageBombError';
  }
}

const IMAGE_EXT = new Set(['.jpg', '.jpeg', '.png', '.webp', '.tif', '.tiff', '.gif']);
const MAX_PROBLEMS = 1000;
const MAX_LABEL_BYTES = 4 * 1024 * 1024;
const SPLITS = ['train', 'val', 'valid', 'test'];

class Collector {
  problems: DatasetProblem[] = [];
  warnings: DatasetProblem[] = [];
  truncated = 0;
  problem(file: string, message: string, line?: number) {
    if (this.problems.length >= MAX_PROBLEMS) this.truncated++;
    else this.problems.push({ file, ...(line ? { line } : {}), message });
  }
  warn(file: string, message: string) {
    if (this.warnings.length < MAX_PROBLEMS) this.warnings.push({ file, message });
  }
}

async function listDir(dir: string): Promise<{ name: string; dir: boolean }[]> {
  const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => !e.name.startsWith('.') && e.name !== '__MACOSX')
    .map((e) => ({ name: e.name, dir: e.isDirectory() }));
}

async function walkFiles(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await listDir(dir)) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.dir) out.push(...(await walkFiles(path.join(dir, e.name), r)));
    else out.push(r);
  }
  return out;
}

/** An archive of one folder (dataset/...) is unwrapped: the data set's root is that folder. */
async function findRoot(extracted: string, marker: (dir: string) => Promise<boolean>): Promise<string> {
  let rel = '';
  for (let depth = 0; depth < 3; depth++) {
    const dir = path.join(extracted, rel);
    if (await marker(dir)) return rel;
    const entries = await listDir(dir);
    // Only a wrapper folder is unwrapped, never a split or data folder of the set itself.
    if (entries.length !== 1 || !entries[0].dir || [...SPLITS, 'images', 'labels'].includes(entries[0].name))
      return rel;
    rel = rel ? `${rel}/${entries[0].name}` : entries[0].name;
  }
  return rel;
}

/**
 * Decodes every image fully (sharp, limitInputPixels = pixel cap) — a header can lie, a decode
 * cannot. Over the cap: ImageBombError; undecodable: a problem naming the file.
 */
async function checkImage(abs: string, rel: string, maxPixels: number, c: Collector): Promise<boolean> {
  try {
    await sharp(abs, { limitInputPixels: maxPixels, failOn: 'error', sequentialRead: true })
      .resize(16, 16, { fit: 'inside' })
      .raw()
      .toBuffer();
    return true;
  } catch (e) {
    const msg = (e as Error).message;
    if (/pixel limit/i.test(msg)) throw new ImageBombError(rel, msg);
    c.problem(rel, `image cannot be decoded: ${msg}`);
    return false;
  }
}

/** Runs fn over items with at most `limit` in flight (decoding is CPU-bound; 2 cores here). */
async function eachLimited<T>(items: T[], limit: number, fn: (t: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (i < items.length) await fn(items[i++]);
    }),
  );
}

function classNames(raw: unknown): string[] | string {
  if (Array.isArray(raw))
    return raw.every((x) => typeof x === 'string' || typeof x === 'number')
      ? raw.map(String)
      : 'names: list items must be strings';
  if (raw && typeof raw === 'object') {
    const entries = Object.entries(raw as Record<string, unknown>);
    const ids = entries.map(([k]) => Number(k));
    if (ids.some((k) => !Number.isInteger(k) || k < 0)) return 'names: map keys must be class ids 0..n-1';
    const out: string[] = [];
    for (const [k, v] of entries) out[Number(k)] = String(v);
    if (out.length !== entries.length || out.some((x) => x === undefined))
      return 'names: class ids must be contiguous from 0';
    return out;
  }
  return 'names: missing (a list or a map of class names)';
}

async function validateYolo(
  extracted: string,
  maxPixels: number,
  c: Collector,
): Promise<Omit<ValidationReport, 'format' | 'valid' | 'problems' | 'warnings' | 'problemsTruncated'>> {
  const exists = (p: string) =>
    fs.stat(p).then(
      () => true,
      () => false,
    );
  const root = await findRoot(extracted, (d) => exists(path.join(d, 'data.yaml')));
  const base = path.join(extracted, root);
  const rel = (p: string) => (root ? `${root}/${p}` : p);
  let classes: string[] = [];
  const yamlText = await fs.readFile(path.join(base, 'data.yaml'), 'utf8').catch(() => undefined);
  if (yamlText === undefined)
    c.problem(rel('data.yaml'), 'missing: a YOLO data set needs data.yaml with the class names');
  else if (yamlText.length > 1024 * 1024) c.problem(rel('data.yaml'), 'larger than 1 MiB');
  else {
    try {
      const doc = yaml.load(yamlText, { schema: yaml.CORE_SCHEMA }) as Record<string, unknown> | null;
      const names = classNames(doc?.names);
      if (typeof names === 'string') c.problem(rel('data.yaml'), names);
      else classes = names;
      if (doc && typeof doc.nc === 'number' && doc.nc !== classes.length)
        c.problem(rel('data.yaml'), `nc is ${doc.nc} but names lists ${classes.length} classes`);
      if (doc && 'download' in doc) c.warn(rel('data.yaml'), 'download: key ignored (nothing is downloaded here)');
    } catch (e) {
      c.problem(
        rel('data.yaml'),
        `not valid YAML: ${(e as Error).message.split('\n')[0]}`,
        (e as { mark?: { line?: number } }).mark?.line !== undefined
          ? (e as { mark: { line: number } }).mark.line + 1
          : undefined,
      );
    }
  }
  if (classes.length === 0 && yamlText !== undefined) c.problem(rel('data.yaml'), 'no classes');

  const splits: Record<string, SplitCounts> = {};
  const splitDirs = (await listDir(path.join(base, 'images'))).filter((e) => e.dir).map((e) => e.name);
  if (splitDirs.length === 0) c.problem(rel('images/'), 'missing: expected images/<split>/ folders (train, val)');
  if (splitDirs.length && !splitDirs.includes('train')) c.problem(rel('images/train/'), 'missing: no train split');
  if (splitDirs.length && !splitDirs.some((s) => s === 'val' || s === 'valid'))
    c.warn(rel('images/val/'), 'no val split: training will validate on train');
  let images = 0;
  for (const split of splitDirs) {
    if (!SPLITS.includes(split)) c.warn(rel(`images/${split}/`), 'unknown split name');
    const counts: SplitCounts = { images: 0, labels: 0, perClass: Object.fromEntries(classes.map((n) => [n, 0])) };
    splits[split] = counts;
    const imgFiles = (await walkFiles(path.join(base, 'images', split))).filter((f) => {
      const ok = IMAGE_EXT.has(path.extname(f).toLowerCase());
      if (!ok) c.warn(rel(`images/${split}/${f}`), 'not an image; ignored');
      return ok;
    });
    const labelFiles = new Set((await walkFiles(path.join(base, 'labels', split))).filter((f) => f.endsWith('.txt')));
    await eachLimited(imgFiles, 2, async (f) => {
      const imgRel = rel(`images/${split}/${f}`);
      if (!(await checkImage(path.join(base, 'images', split, f), imgRel, maxPixels, c))) return;
      counts.images++;
      images++;
      const labelName = f.slice(0, f.length - path.extname(f).length) + '.txt';
      if (!labelFiles.has(labelName)) return; // background image: allowed
      labelFiles.delete(labelName);
      counts.labels++;
      const labelRel = rel(`labels/${split}/${labelName}`);
      const labelAbs = path.join(base, 'labels', split, labelName);
      const st = await fs.stat(labelAbs);
      if (st.size > MAX_LABEL_BYTES) return c.problem(labelRel, `label file larger than ${MAX_LABEL_BYTES} bytes`);
      const lines = (await fs.readFile(labelAbs, 'utf8')).split(/\r?\n/);
      lines.forEach((line, i) => {
        const t = line.trim();
        if (!t) return;
        const parts = t.split(/\s+/);
        const nums = parts.map(Number);
        if (nums.some((n) => !Number.isFinite(n)))
          return c.problem(labelRel, `not numbers: ${JSON.stringify(t.slice(0, 80))}`, i + 1);
        const [cls, ...coords] = nums;
        if (!Number.isInteger(cls) || cls < 0 || cls >= classes.length)
          return c.problem(labelRel, `class id ${parts[0]} out of range 0..${classes.length - 1}`, i + 1);
        const isBox = coords.length === 4;
        const isPolygon = coords.length >= 6 && coords.length % 2 === 0;
        if (!isBox && !isPolygon)
          return c.problem(
            labelRel,
            `expected "class cx cy w h" (5 values) or a polygon, got ${parts.length} values`,
            i + 1,
          );
        if (coords.some((v) => v < 0 || v > 1))
          return c.problem(labelRel, 'coordinates must be normalised to 0..1', i + 1);
        if (isBox && (coords[2] <= 0 || coords[3] <= 0))
          return c.problem(labelRel, 'box width and height must be > 0', i + 1);
        const name = classes[cls];
        counts.perClass[name] = (counts.perClass[name] ?? 0) + 1;
      });
    });
    for (const orphan of labelFiles) c.warn(rel(`labels/${split}/${orphan}`), 'label file without an image');
    if (counts.images === 0) c.problem(rel(`images/${split}/`), 'no decodable images');
  }
  return { classes, splits, images, root };
}

async function validateImagefolder(
  extracted: string,
  maxPixels: number,
  c: Collector,
): Promise<Omit<ValidationReport, 'format' | 'valid' | 'problems' | 'warnings' | 'problemsTruncated'>> {
  const root = await findRoot(extracted, async (d) => (await listDir(d)).some((e) => e.dir && e.name === 'train'));
  const base = path.join(extracted, root);
  const rel = (p: string) => (root ? `${root}/${p}` : p);
  const top = await listDir(base);
  const splitNames = top.filter((e) => e.dir && SPLITS.includes(e.name)).map((e) => e.name);
  if (!splitNames.includes('train'))
    c.problem(rel('train/'), 'missing: imagefolder data sets need train/<class>/ (and val/<class>/) folders');
  for (const e of top)
    if (!splitNames.includes(e.name)) c.warn(rel(e.name), 'not a split folder (train, val, test); ignored');
  const classSet = new Set<string>();
  for (const s of splitNames) for (const e of await listDir(path.join(base, s))) if (e.dir) classSet.add(e.name);
  const classes = [...classSet].sort();
  if (splitNames.includes('train') && classes.length < 2)
    c.problem(rel('train/'), `needs at least 2 class folders, found ${classes.length}`);
  const splits: Record<string, SplitCounts> = {};
  let images = 0;
  for (const s of splitNames) {
    const counts: SplitCounts = { images: 0, labels: 0, perClass: Object.fromEntries(classes.map((n) => [n, 0])) };
    splits[s] = counts;
    for (const e of await listDir(path.join(base, s)))
      if (!e.dir) c.warn(rel(`${s}/${e.name}`), 'file outside a class folder; ignored');
    const work: { cls: string; f: string }[] = [];
    for (const cls of classes) {
      for (const f of await walkFiles(path.join(base, s, cls))) {
        if (IMAGE_EXT.has(path.extname(f).toLowerCase())) work.push({ cls, f });
        else c.warn(rel(`${s}/${cls}/${f}`), 'not an image; ignored');
      }
    }
    await eachLimited(work, 2, async ({ cls, f }) => {
      if (!(await checkImage(path.join(base, s, cls, f), rel(`${s}/${cls}/${f}`), maxPixels, c))) return;
      counts.images++;
      counts.labels++;
      images++;
      counts.perClass[cls]++;
    });
    if (s === 'train')
      for (const cls of classes)
        if (!counts.perClass[cls]) c.problem(rel(`train/${cls}/`), 'class has no training images');
  }
  return { classes, splits, images, root };
}

/** Validates an extracted data set; names every problem with its file (and line for labels). */
export async function validateDataset(
  format: DatasetFormat,
  extracted: string,
  maxPixels: number,
): Promise<ValidationReport> {
  const c = new Collector();
  const r =
    format === 'yolo'
      ? await validateYolo(extracted, maxPixels, c)
      : await validateImagefolder(extracted, maxPixels, c);
  if (r.images === 0 && !c.problems.some((p) => p.message.includes('no decodable')))
    c.problem(r.root || '.', 'no images found');
  return {
    format,
    valid: c.problems.length === 0 && c.truncated === 0,
    ...r,
    problems: c.problems,
    warnings: c.warnings,
    problemsTruncated: c.truncated,
  };
}
