"""The streamed path's per-image transforms: sizes, determinism per (seed, epoch, index), torchvision's
RandomResizedCrop and Resize + CenterCrop reproduced exactly; the settings that choose them."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import dsl
from dsl.errors import NetError
from dsl.settings import SettingsError, TrainSettings
from dsl.train import transforms


def _image(w: int, h: int, mode: str = "RGB", seed: int = 0) -> Image.Image:
    g = np.random.default_rng(seed)
    a = g.integers(0, 256, (h, w, 3) if mode == "RGB" else (h, w), dtype=np.uint8)
    return Image.fromarray(a)


@pytest.mark.parametrize("w,h", [(96, 64), (50, 120), (7, 5), (300, 40)])
@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_imagenet_crops_have_the_network_size_and_depend_only_on_seed_epoch_index(w, h, mode):
    im = _image(w, h, mode)
    c = len(mode)
    make = lambda seed, epoch, i: transforms.imagenet(  # noqa: E731
        im, (24, 32), (0.08, 1.0), (0.75, 4 / 3), None, transforms.sample_rng(seed, epoch, i)
    )
    a = make(0, 1, 5)
    assert a.shape == (c, 24, 32) and a.dtype == np.uint8
    assert np.array_equal(a, make(0, 1, 5))
    others = [make(1, 1, 5), make(0, 2, 5), make(0, 1, 6)]
    assert sum(np.array_equal(a, o) for o in others) <= 1  # a tiny image may repeat a crop by chance
    ev = transforms.evaluate(im, (24, 32), 0.875)
    assert ev.shape == (c, 24, 32) and np.array_equal(ev, transforms.evaluate(im, (24, 32), 0.875))


def test_the_crop_box_stays_inside_and_within_its_scale_and_ratio():
    g = transforms.sample_rng(0, 0, 0)
    for w, h in [(100, 80), (64, 64), (10, 300)]:
        for _ in range(200):
            top, left, ch, cw = transforms.resized_crop_box(w, h, (0.25, 0.5), (0.5, 2.0), g)
            assert top >= 0 and top + ch <= h and left >= 0 and left + cw <= w and ch > 0 and cw > 0
    # a tall image beyond the ratio: the fallback is the centre crop at the largest allowed ratio
    assert transforms.resized_crop_box(10, 300, (0.99, 1.0), (1.0, 1.0), g) == (145, 0, 10, 10)


def test_resize_and_centre_crop_equal_torchvision_v2():
    from torchvision.transforms import v2

    for w, h, size, crop in [(320, 240, 224, 0.875), (97, 151, 64, 0.875), (64, 64, 56, 1.0), (500, 375, 32, 0.5)]:
        im = _image(w, h, seed=w)
        ref = v2.Compose([v2.Resize(round(size / crop)), v2.CenterCrop(size)])(im)
        ours = transforms.evaluate(im, (size, size), crop)
        assert np.array_equal(ours, np.asarray(ref).transpose(2, 0, 1)), (w, h)


def test_random_resized_crop_equals_torchvision_for_the_same_box():
    from torchvision.transforms.v2 import functional as TF

    im = _image(200, 150, seed=3)
    box = transforms.resized_crop_box(200, 150, (0.08, 1.0), (0.75, 4 / 3), transforms.sample_rng(7, 0, 1))
    ours = transforms.imagenet(im, (48, 48), (0.08, 1.0), (0.75, 4 / 3), False, transforms.sample_rng(7, 0, 1))
    ref = TF.resized_crop(im, *box, size=[48, 48], interpolation=TF.InterpolationMode.BILINEAR, antialias=True)
    assert np.array_equal(ours, np.asarray(ref).transpose(2, 0, 1))
    flipped = transforms.imagenet(im, (48, 48), (0.08, 1.0), (0.75, 4 / 3), True, transforms.sample_rng(7, 0, 1))
    assert np.array_equal(flipped, ours[:, :, ::-1])


def test_the_article_transform_crops_flips_and_places_the_cutout_inside():
    img = np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)
    out, box = transforms.article(img, 0, False, 0, transforms.sample_rng(0, 0, 0))
    assert np.array_equal(out, img.transpose(2, 0, 1)) and box == (-1, -1)
    out, box = transforms.article(img, 0, True, 3, transforms.sample_rng(0, 0, 0))
    assert np.array_equal(out, img[:, ::-1].transpose(2, 0, 1)) and min(box) >= 0 and max(box) <= 5
    padded = np.pad(img, ((2, 2), (2, 2), (0, 0)), mode="reflect")
    crops = {transforms.article(img, 2, False, 0, transforms.sample_rng(0, 0, i))[0].tobytes() for i in range(60)}
    every = {padded[y : y + 8, x : x + 8].transpose(2, 0, 1).tobytes() for y in range(5) for x in range(5)}
    assert crops <= every and len(crops) > 10


def test_augmentation_settings_refuse_what_would_do_nothing():
    assert TrainSettings(augment="imagenet", crop_scale=[0.2, 1]).crop_scale == (0.2, 1.0)
    with pytest.raises(SettingsError, match="cutout = 4 must be left out: it applies only with augment = article"):
        TrainSettings(augment="imagenet", cutout=4)
    with pytest.raises(
        SettingsError, match="eval_crop = 0.9 must be left out: it applies only with augment = imagenet"
    ):
        TrainSettings(eval_crop=0.9)
    with pytest.raises(SettingsError, match="data_path = 'device' must be stream"):
        TrainSettings(augment="imagenet", data_path="device")
    with pytest.raises(SettingsError, match="crop_scale"):
        TrainSettings(augment="imagenet", crop_scale=(0.5, 0.2))
    with pytest.raises(NetError, match="unknown training setting 'augmentation'"):
        dsl.loads("input 3x8x8\nrelu -> gmp -> fc\ntrain { augmentation = imagenet }")


def test_a_resolution_the_network_does_not_take_points_at_its_input_line(tmp_path, capsys):
    from train_fixtures import write_class_folder, write_stream_net

    from dsl.cli import main

    data = write_class_folder(tmp_path / "imgs", classes=2, per_train=2, per_test=1, size=16)
    net = write_stream_net(
        tmp_path / "n.net", epochs=1, size=32, classes=2, extra="  augment = imagenet\n  resolution = 48\n"
    )
    assert main(["train", str(net), "--data", str(data), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "n.net:1:1: error: setting resolution = 48 but 'n' takes 32x32 images" in err
    assert not (tmp_path / "r").exists()  # refused before the run folder is made
