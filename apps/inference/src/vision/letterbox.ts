// The letterbox lives in libs/measure, so bench's step 6 times the same code the data plane runs.
export {
  computeLetterbox,
  IMAGENET_MEAN,
  IMAGENET_STD,
  type Letterbox,
  letterboxBox,
  letterboxToChw,
  lround,
  normalizeToChw,
  unletterboxBox,
} from '@cvp/measure';
