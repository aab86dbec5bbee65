// Tiny real ONNX models and data sets, and a trained detector with its labelled data set, for other
// projects' tests, as `@cvp/measure/testing`. Production code never imports this entry point (lint
// refuses it outside tests).
export { type CellObject, tinyDetectorOnnx, tinyIdentityOnnx, writeCellDataset } from './tiny-onnx';
export { type TrainedDetector, trainedDetector } from './trained-detector';
