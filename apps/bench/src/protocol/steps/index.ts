import { baselineStep } from './baseline.step';
import { batchSizesStep } from './batch-sizes.step';
import { concurrencyStep } from './concurrency.step';
import { gpuProvidersStep } from './gpu-providers.step';
import { graphLevelsStep } from './graph-levels.step';
import { memoryStep } from './memory.step';
import { stabilityStep } from './stability.step';
import { timeSplitStep } from './time-split.step';
import { variantsStep } from './variants.step';

export {
  baselineStep,
  batchSizesStep,
  concurrencyStep,
  gpuProvidersStep,
  graphLevelsStep,
  memoryStep,
  stabilityStep,
  timeSplitStep,
  variantsStep,
};

/** Steps 2-5 and 7: measure configurations and judge them, after the baseline and before selection. */
export const MEASURING_STEPS = [graphLevelsStep, variantsStep, gpuProvidersStep, batchSizesStep, memoryStep] as const;

/** Steps 6, 8 and 9: the selected configuration (and the fastest of each engine) through the serving path, after selection. */
export const SERVING_STEPS = [timeSplitStep, concurrencyStep, stabilityStep] as const;
