export * from './agreement';
export * from './environment';
export * from './images';
export * from './load';
export * from './ort-measure';
export * from './postprocess';
export * from './rng';
export * from './stats';
