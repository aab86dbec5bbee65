import type { ModelFormat, ModelTask } from './enums';

/**
 * The preset catalog: models built from their architecture definition, since no weights can be
 * downloaded here. Declared once: the gateway validates POST /models/presets/:name and words its
 * note from it, trainer-bridge decides what it can train from it, and python/cvp_ml reads the same
 * entries from presets.json (generated from this file by scripts/generate-preset-catalog.js; a
 * test fails when that file is stale). The builders themselves stay in python.
 */
export const PRESETS = ['yolov8n', 'yolov8s', 'resnet50', 'efficientnet_b0'] as const;
export type PresetName = (typeof PRESETS)[number];

export interface PresetSpec {
  task: ModelTask;
  /** Which builder of python/cvp_ml/presets.py makes it. */
  family: 'ultralytics' | 'torchvision';
  /** What that builder loads: an Ultralytics model yaml, or a torchvision constructor called with weights=None. */
  definition: string;
  /** Format of the source file the builder saves beside the ONNX. */
  sourceFormat: ModelFormat;
  /** Default square input size of the exported ONNX. */
  imgsz: number;
  description: string;
}

export const PRESET_CATALOG: Readonly<Record<PresetName, PresetSpec>> = {
  yolov8n: {
    task: 'detect',
    family: 'ultralytics',
    definition: 'yolov8n.yaml',
    sourceFormat: 'ultralytics',
    imgsz: 640,
    description: 'YOLOv8 nano object detector, 80 classes, about 3.2 M parameters',
  },
  yolov8s: {
    task: 'detect',
    family: 'ultralytics',
    definition: 'yolov8s.yaml',
    sourceFormat: 'ultralytics',
    imgsz: 640,
    description: 'YOLOv8 small object detector, 80 classes, about 11.2 M parameters',
  },
  resnet50: {
    task: 'classify',
    family: 'torchvision',
    definition: 'resnet50',
    sourceFormat: 'torchscript',
    imgsz: 224,
    description: 'ResNet-50 image classifier, 1000 classes, about 25.6 M parameters',
  },
  efficientnet_b0: {
    task: 'classify',
    family: 'torchvision',
    definition: 'efficientnet_b0',
    sourceFormat: 'torchscript',
    imgsz: 224,
    description: 'EfficientNet-B0 image classifier, 1000 classes, about 5.3 M parameters',
  },
};

/** Said with every preset (REST answer, the version's note): a preset has random weights. */
export const UNTRAINED_PRESET_NOTE =
  'Presets are built from their architecture definition with random weights (no weights can be downloaded here): the model is UNTRAINED and its outputs are meaningless until you train it (POST /jobs/train) or upload trained weights.';

/** The definition in words, e.g. "Ultralytics yolov8n.yaml" or "torchvision resnet50(weights=None)". */
export function presetArchitecture(name: PresetName): string {
  const p = PRESET_CATALOG[name];
  return p.family === 'ultralytics' ? `Ultralytics ${p.definition}` : `torchvision ${p.definition}(weights=None)`;
}

/** Can Ultralytics train this preset (train and tune start from its yaml)? */
export function isUltralyticsPreset(name: string | null | undefined): boolean {
  return !!name && Object.hasOwn(PRESET_CATALOG, name) && PRESET_CATALOG[name as PresetName].family === 'ultralytics';
}

/** python/cvp_ml/presets.json: the catalog as python reads it. */
export function presetCatalogJson(): string {
  const doc = {
    generatedFrom: 'libs/contracts/src/presets.ts by scripts/generate-preset-catalog.js; edit that file and rerun',
    untrainedNote: UNTRAINED_PRESET_NOTE,
    presets: Object.fromEntries(PRESETS.map((n) => [n, PRESET_CATALOG[n]])),
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}
