import hashlib
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from cvp_ml.synth import class_color


def test_yolo_labels_match_drawn_shapes(cli, tmp_path):
    r = cli("synth-dataset", "--kind", "yolo", "--out", tmp_path, "--images", 12, "--classes", 3, "--imgsz", 64,
            "--seed", 7, check=0).result
    assert r["splits"] == {"train": 9, "val": 3}
    assert all(n > 0 for n in r["instances_per_class"])
    data = yaml.safe_load((tmp_path / "data.yaml").read_text())
    assert "download" not in data
    for k in ("path", "train", "val"):
        assert data[k].startswith("/")
    # names say what each class looks like, so detections read as what they are
    assert data["names"] == {0: "red rectangle", 1: "green circle", 2: "blue rectangle"}
    assert r["names"] == ["red rectangle", "green circle", "blue rectangle"]
    checked = 0
    for split in ("train", "val"):
        for img_path in sorted((tmp_path / "images" / split).glob("*.png")):
            img = np.asarray(Image.open(img_path).convert("RGB")).astype(int)
            lines = (tmp_path / "labels" / split / (img_path.stem + ".txt")).read_text().split("\n")
            labels = [l.split() for l in lines if l.strip()]
            assert labels
            # the last drawn object is never occluded: its box must be filled with its colour
            k, cx, cy, w, h = int(labels[-1][0]), *map(float, labels[-1][1:])
            assert 0 <= k < 3 and all(0 < v <= 1 for v in (cx, cy, w, h))
            x0, y0 = round((cx - w / 2) * 64), round((cy - h / 2) * 64)
            x1, y1 = round((cx + w / 2) * 64), round((cy + h / 2) * 64)
            assert 0 <= x0 < x1 <= 64 and 0 <= y0 < y1 <= 64
            color = np.array(class_color(k, 3))
            centre = img[(y0 + y1) // 2, (x0 + x1) // 2]
            assert np.abs(centre - color).max() <= 1, (img_path, centre, color)
            # the box is tight: rows/cols just outside hold no pixel of this colour from this shape's edge
            inside = (np.abs(img[y0:y1, x0:x1] - color).max(axis=2) <= 1)
            assert inside.any(axis=0)[0] and inside.any(axis=0)[-1] and inside.any(axis=1)[0] and inside.any(axis=1)[-1]
            checked += 1
    assert checked == 12


def test_synth_is_deterministic_and_imagefolder_layout(cli, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        cli("synth-dataset", "--kind", "imagefolder", "--out", d, "--images", 8, "--classes", 2, "--imgsz", 32,
            "--seed", 5, check=0)
    def digest(root):
        return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*.png")}
    da, db = digest(a), digest(b)
    assert da == db and len(da) == 8
    assert {p.split("/")[0] for p in da} == {"train", "val"}
    assert {p.split("/")[1] for p in da} == {"class0", "class1"}


def test_synth_bad_input(cli, tmp_path):
    r = cli("synth-dataset", "--kind", "yolo", "--out", tmp_path, "--images", 1, "--classes", 1)
    assert r.rc == 2 and r.final["code"] == "bad_input"


def test_yolo_zip_is_portable_and_deterministic(cli, tmp_path):
    import zipfile

    zips = []
    for d in ("a", "b"):
        r = cli("synth-dataset", "--kind", "yolo", "--out", tmp_path / d, "--images", 6, "--classes", 4, "--imgsz", 32,
                "--seed", 2, "--zip", tmp_path / f"{d}.zip", check=0).result
        zips.append(Path(r["zip"]).read_bytes())
    assert zips[0] == zips[1]  # same data set, same bytes
    with zipfile.ZipFile(tmp_path / "a.zip") as z:
        names = z.namelist()
        cfg = yaml.safe_load(z.read("data.yaml"))
    # relative splits and no path: valid wherever the upload is extracted; no download key
    assert cfg == {"train": "images/train", "val": "images/val", "nc": 4,
                   "names": {0: "red rectangle", 1: "chartreuse circle", 2: "cyan rectangle", 3: "violet circle"}}
    assert names[0] == "data.yaml"
    assert sum(n.startswith("images/") for n in names) == 6 and sum(n.startswith("labels/") for n in names) == 6
    assert not any(n.startswith("/") or ".." in n for n in names)
    r = cli("synth-dataset", "--kind", "imagefolder", "--out", tmp_path / "c", "--zip", tmp_path / "c.zip")
    assert r.rc == 2 and "--zip" in r.final["message"]
