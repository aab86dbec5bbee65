// ONNX models exported by the python CLI, for tests of the native core, as `@cvp/native-client/testing`.
// Production code never imports this entry point (lint refuses it outside tests).
export { exportPythonPreset, type PresetExport, PYTHON, REPO_ROOT } from './python-preset';
