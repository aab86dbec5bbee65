"""cvp_ml: training, tuning, conversion and ONNX variants for the cvp platform."""
__version__ = "0.1.0"
