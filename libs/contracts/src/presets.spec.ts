import { readFileSync } from 'node:fs';
import path from 'node:path';
import { isUltralyticsPreset, PRESET_CATALOG, presetArchitecture, presetCatalogJson, PRESETS } from './presets';

describe('preset catalog', () => {
  it('python/cvp_ml/presets.json is what scripts/generate-preset-catalog.js writes from it (not stale)', () => {
    const file = path.resolve(__dirname, '../../../python/cvp_ml/presets.json');
    const committed = readFileSync(file, 'utf8');
    if (committed !== presetCatalogJson())
      throw new Error(`${file} is stale: run node scripts/generate-preset-catalog.js and commit it`);
    expect(Object.keys(JSON.parse(committed).presets)).toEqual([...PRESETS]);
  });

  it('has one entry per preset name, with a definition a python builder can load', () => {
    expect(Object.keys(PRESET_CATALOG).sort()).toEqual([...PRESETS].sort());
    for (const name of PRESETS) {
      const p = PRESET_CATALOG[name];
      expect(p.sourceFormat).toBe(p.family === 'ultralytics' ? 'ultralytics' : 'torchscript');
      if (p.family === 'ultralytics') expect(p.definition).toMatch(/\.yaml$/);
      expect(p.imgsz % 32).toBe(0);
    }
    expect(presetArchitecture('yolov8n')).toBe('Ultralytics yolov8n.yaml');
    expect(presetArchitecture('resnet50')).toBe('torchvision resnet50(weights=None)');
  });

  it('tells which presets Ultralytics can train', () => {
    expect(isUltralyticsPreset('yolov8s')).toBe(true);
    expect(isUltralyticsPreset('efficientnet_b0')).toBe(false);
    expect(isUltralyticsPreset('toString')).toBe(false);
    expect(isUltralyticsPreset(null)).toBe(false);
  });
});
