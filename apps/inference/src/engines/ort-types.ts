import type { DataType } from './engine';
import type { OrtType } from './ort-worker-protocol';

/** KServe datatypes and onnxruntime-node's tensor types, both ways. */
export const TO_ORT: Record<DataType, OrtType> = {
  BOOL: 'bool',
  UINT8: 'uint8',
  UINT16: 'uint16',
  UINT32: 'uint32',
  UINT64: 'uint64',
  INT8: 'int8',
  INT16: 'int16',
  INT32: 'int32',
  INT64: 'int64',
  FP16: 'float16',
  FP32: 'float32',
  FP64: 'float64',
};

export const FROM_ORT = Object.fromEntries(Object.entries(TO_ORT).map(([k, v]) => [v, k])) as Partial<
  Record<OrtType, DataType>
>;
