"""A CRNN-style text recognizer for the native-vs-onnxruntime benchmark: the "large output" model.

Input 1x3x48x320 (a text line, as PP-OCR's recognizers take), a convolutional backbone that folds
the height away, a bidirectional LSTM over the 40 columns and a per-column softmax over 6625
characters: one FP32 output [batch, 40, 6625] of 1,060,000 bytes per image. Weights are seeded
random values (no weights can be downloaded here); the benchmark measures speed, not accuracy.

    python/.venv/bin/python native/bench/make_text_recognizer.py --out DIR [--seed 0]
    -> DIR/model.onnx (opset 17, dynamic batch axis), one JSON line on stdout
"""

import argparse
import json
import os
import tempfile

import torch
from torch import nn

HEIGHT, WIDTH, COLUMNS, CLASSES = 48, 320, 40, 6625


def conv(cin: int, cout: int, stride=1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class TextRecognizer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(
            conv(3, 32, 2),  # 24 x 160
            conv(32, 64),
            nn.MaxPool2d(2),  # 12 x 80
            conv(64, 128),
            conv(128, 128),
            nn.MaxPool2d(2),  # 6 x 40
            conv(128, 256),
            conv(256, 256),
            nn.MaxPool2d((2, 1)),  # 3 x 40
            nn.Conv2d(256, 256, (3, 1), bias=False),  # 1 x 40: one feature vector per column
            nn.BatchNorm2d(256),
            nn.ReLU(inplace=True),
        )
        self.rnn = nn.LSTM(256, 128, batch_first=True, bidirectional=True)
        self.head = nn.Linear(256, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.backbone(x).squeeze(2).permute(0, 2, 1)  # [batch, 40, 256]
        f, _ = self.rnn(f)
        return torch.softmax(self.head(f), dim=-1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    model = TextRecognizer().eval()
    # random but not degenerate batch-norm statistics, so activations neither vanish nor explode
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    os.makedirs(a.out, exist_ok=True)
    dst = os.path.join(a.out, "model.onnx")
    x = torch.rand(1, 3, HEIGHT, WIDTH)
    fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=a.out)
    os.close(fd)
    try:
        torch.onnx.export(
            model,
            (x,),
            tmp,
            input_names=["x"],
            output_names=["probs"],
            dynamic_axes={"x": {0: "batch"}, "probs": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
        os.replace(tmp, dst)  # nothing half-written
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    out_bytes = COLUMNS * CLASSES * 4
    print(json.dumps({"onnx": dst, "input": [1, 3, HEIGHT, WIDTH], "output": [1, COLUMNS, CLASSES], "output_bytes": out_bytes}))


if __name__ == "__main__":
    main()
