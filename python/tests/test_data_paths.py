"""data.yaml may not point a training run at files outside its own data set folder."""
import pytest

from cvp_ml.wire import CvpError
from cvp_ml.train import check_data


def _yolo(tmp_path, yaml_text):
    ds = tmp_path / "ds"
    (ds / "images" / "train").mkdir(parents=True)
    (ds / "images" / "val").mkdir(parents=True)
    for split in ("train", "val"):
        (ds / "images" / split / "a.jpg").write_bytes(b"\xff\xd8\xff")
    (ds / "data.yaml").write_text(yaml_text)
    return ds


def test_relative_splits_inside_the_folder_are_accepted(tmp_path):
    ds = _yolo(tmp_path, "train: images/train\nval: images/val\nnames: [a]\n")
    assert check_data(str(ds), "detect") == str((ds / "data.yaml").resolve())


@pytest.mark.parametrize(
    "yaml_text",
    [
        "path: /etc\ntrain: images/train\nval: images/val\nnames: [a]\n",
        "train: ../../outside\nval: images/val\nnames: [a]\n",
        "train: /tmp\nval: images/val\nnames: [a]\n",
    ],
)
def test_splits_escaping_the_folder_are_refused(tmp_path, yaml_text):
    outside = tmp_path / "outside"
    (outside / "x").mkdir(parents=True)
    ds = _yolo(tmp_path, yaml_text)
    with pytest.raises(CvpError) as e:
        check_data(str(ds), "detect")
    assert e.value.code == "data_error"
    assert "outside the data set folder" in str(e.value)


def test_a_missing_split_inside_the_folder_is_named(tmp_path):
    ds = _yolo(tmp_path, "train: images/train\nval: images/nowhere\nnames: [a]\n")
    with pytest.raises(CvpError) as e:
        check_data(str(ds), "detect")
    assert "val split" in str(e.value) and "missing" in str(e.value)
