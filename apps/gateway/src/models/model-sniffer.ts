import type { ModelFormat } from '@cvp/contracts';
import { ArchiveRejected, listZip, type ZipCaps } from '../common/safe-zip';
import type { StagedUpload } from '../common/upload/hashing-storage';
import { ModelFileRejected, sniffOnnx } from './onnx-sniffer';

const ZIP_MAGIC = Buffer.from([0x50, 0x4b, 0x03, 0x04]);
/** Caps for reading a model archive's directory (the worker extracts it with its own caps). */
const MODEL_ZIP_CAPS: ZipCaps = { maxEntries: 20_000, maxTotalBytes: 8 * 1024 ** 3, maxRatio: 1000 };

export interface SniffResult {
  format: ModelFormat;
  /** e.g. irVersion for ONNX, entries for archives */
  facts: Record<string, unknown>;
}

/**
 * Content sniffing per declared format, before anything is stored or queued:
 * onnx = ModelProto protobuf; torchscript = zip with code/ and constants.pkl;
 * ultralytics (.pt) = torch zip with data.pkl; tensorflow-savedmodel = zip with saved_model.pb.
 */
export async function sniffModelFile(format: ModelFormat, staged: StagedUpload): Promise<SniffResult> {
  if (staged.size === 0) throw new ModelFileRejected(400, 'empty file (0 bytes)');
  if (format === 'onnx') {
    if (staged.head.subarray(0, 4).equals(ZIP_MAGIC))
      throw new ModelFileRejected(415, 'content is a zip archive, not an ONNX protobuf (wrong format?)');
    const s = await sniffOnnx(staged.tmpPath);
    if (s.externalData.length > 0) {
      const outside = s.externalData.filter((l) => l.startsWith('/') || l.split(/[\\/]/).includes('..'));
      throw new ModelFileRejected(
        422,
        outside.length
          ? `ONNX external data points outside the model folder: ${outside.slice(0, 3).join(', ')}`
          : `ONNX model references external data files (${s.externalData.slice(0, 3).join(', ')}) that a single-file upload cannot carry`,
      );
    }
    return { format, facts: { irVersion: s.irVersion } };
  }
  if (!staged.head.subarray(0, 4).equals(ZIP_MAGIC)) {
    throw new ModelFileRejected(
      415,
      `content is not a zip archive (a ${format} upload must be ${format === 'tensorflow-savedmodel' ? 'a zip of the SavedModel folder' : 'a PyTorch zip file'})`,
    );
  }
  let entries: { name: string; dir: boolean }[];
  try {
    entries = await listZip(staged.tmpPath, MODEL_ZIP_CAPS);
  } catch (e) {
    if (e instanceof ArchiveRejected) throw new ModelFileRejected(e.status, e.message);
    throw e;
  }
  const names = entries.filter((e) => !e.dir).map((e) => e.name);
  const has = (re: RegExp) => names.some((n) => re.test(n));
  if (format === 'torchscript' && !(has(/(^|\/)constants\.pkl$/) || has(/(^|\/)code\//))) {
    throw new ModelFileRejected(
      422,
      'zip is not a TorchScript archive (no code/ or constants.pkl: a torch.save checkpoint? use format ultralytics)',
    );
  }
  if (format === 'ultralytics' && !has(/(^|\/)data\.pkl$/))
    throw new ModelFileRejected(422, 'zip is not a PyTorch checkpoint (no data.pkl)');
  if (format === 'tensorflow-savedmodel' && !has(/(^|\/)saved_model\.pb$/))
    throw new ModelFileRejected(422, 'zip holds no saved_model.pb');
  return { format, facts: { entries: names.length } };
}
