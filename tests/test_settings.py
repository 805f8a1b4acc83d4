"""Training settings: one typed object; file values, flags and JSON all checked the same way."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

import dsl
from dsl.errors import DataError, NetError
from dsl.settings import SettingsError, TrainSettings, scaled_knots

ARTICLE = ((0, 0.0), (5, 0.4), (24, 0.0))


@pytest.mark.parametrize(
    "epochs,expected",
    [
        (24, ARTICLE),
        (20, ((0, 0.0), (4, 0.4), (20, 0.0))),  # the article's 20-epoch runs
        (22, ((0, 0.0), (5, 0.4), (22, 0.0))),
        (48, ((0, 0.0), (10, 0.4), (48, 0.0))),
        (1, ((0, 0.0), (5 / 24, 0.4), (1, 0.0))),  # rounding would merge knots: keep the exact epoch
    ],
)
def test_scaled_knots(epochs, expected):
    assert scaled_knots(ARTICLE, epochs) == expected


def test_defaults_are_the_article_recipe_in_one_place():
    s = TrainSettings()
    assert (s.epochs, s.batch_size, s.lr, s.momentum, s.weight_decay, s.cutout, s.target) == (
        24,
        512,
        ARTICLE,
        0.9,
        5e-4,
        8,
        0.94,
    )


def test_epochs_in_the_file_stretch_the_default_schedule_like_the_flag():
    """Regression: `train { epochs = 4 }` kept the 24-epoch knots (lr never annealed)."""
    from_file = dsl.loads_job("relu -> gmp -> fc\ntrain { epochs = 4 }").settings
    from_flag = TrainSettings().with_overrides(epochs=4)
    assert from_file == from_flag
    assert from_file.lr[-1] == (4, 0.0) and from_file.lr[1][1] == 0.4


def test_overrides_validate_and_stretch():
    s = TrainSettings().with_overrides(20, batch_size=128, cutout=None)
    assert (s.epochs, s.batch_size, s.cutout, s.lr[-1]) == (20, 128, 8, (20, 0.0))
    with pytest.raises(SettingsError, match="batch_size = 0 must be an integer"):
        TrainSettings().with_overrides(batch_size=0)
    with pytest.raises(SettingsError, match="unknown training setting colour"):
        TrainSettings().with_overrides(colour="red")


@pytest.mark.parametrize(
    "text,message,where",
    [
        ("train { epochs = 4, epochs = 5 }", "'epochs' is set twice", "2:21"),
        ("train { epochs = 4 }\ntrain { epochs = 5 }", "'epochs' is set twice", "3:9"),
        ("train { lr = [(-4, 0), (0, 0.4)] }", "'lr' must be a list of at least two", "2:9"),
        ("train { lr = [(0, 0), (0, 0.4)] }", "'lr' must be a list of at least two", "2:9"),
        ("train { lr = [(0, 0), (5, 0)] }", "learning rate is above 0 somewhere", "2:9"),
        ("train { std = [0, 0, 0] }", "'std' must be a list of numbers above 0", "2:9"),
        ("train { mean = [] }", "'mean' must be a list of numbers", "2:9"),
        ("train { epochs = 4, lr = [(0, 0), (5, 0.4), (24, 0)] }", "knots that end by epoch 4", "2:21"),
        ("train { epochs = four }", "'epochs' must be an integer", "2:9"),
        ("train { epoch = 4 }", "unknown training setting 'epoch'", "2:9"),
        ("train { momentum = true }", "'momentum' must be a number", "2:9"),
        ("train { lr = [[[[[[[[[[1]]]]]]]]]] }", "nests more than 8 brackets", "2:"),
    ],
)
def test_nonsense_in_the_file_is_refused_where_it_is_written(text, message, where):
    with pytest.raises(NetError) as e:
        dsl.loads("relu -> gmp -> fc\n" + text, filename="s.net")
    assert message in str(e.value) and f"s.net:{where}" in str(e.value), str(e.value)


def test_an_imported_file_may_set_what_the_main_file_overrides(write):
    write("lib.net", "train { epochs = 10, cutout = 4 }")
    s = dsl.load_job(write("main.net", 'use "lib.net"\nrelu -> gmp -> fc\ntrain { epochs = 12 }')).settings
    assert (s.epochs, s.cutout, s.lr[-1]) == (12, 4, (12, 0.0))


def test_json_round_trip_and_refusals():
    s = TrainSettings().with_overrides(epochs=7, batch_size=64)
    assert TrainSettings.from_json(json.loads(json.dumps(s.to_json()))) == s
    with pytest.raises(NetError, match="lacks epochs"):
        TrainSettings.from_json({k: v for k, v in s.to_json().items() if k != "epochs"})
    with pytest.raises(NetError, match="epochs = 'four' must be"):
        TrainSettings.from_json(dict(s.to_json(), epochs="four"))
    with pytest.raises(NetError, match="not a JSON object"):
        TrainSettings.from_json([1, 2])
    with pytest.raises(NetError, match="unknown colour"):
        TrainSettings.from_json(dict(s.to_json(), colour=1))


def test_data_dependent_checks():
    s = TrainSettings()
    s.check_data((3, 32, 32))
    with pytest.raises(DataError, match="pad = 4 needs images larger than 4x4"):
        s.check_data((3, 4, 4))
    with pytest.raises(DataError, match="cutout = 8 is larger than the 6x6"):
        TrainSettings(pad=0).check_data((3, 6, 6))
    with pytest.raises(DataError, match="mean has 3 values but the images have 1 channels"):
        s.check_data((1, 32, 32))


@hsettings(max_examples=200, deadline=None)
@given(st.integers(1, 2000), st.lists(st.tuples(st.integers(0, 100), st.floats(0, 2)), min_size=2, max_size=6))
def test_stretched_schedules_are_valid_and_end_on_the_new_length(epochs, raw):
    knots = tuple(sorted({e: lr for e, lr in raw}.items()))
    if len(knots) < 2 or knots[-1][0] == 0 or not any(lr > 0 for _, lr in knots):
        return
    s = TrainSettings(epochs=knots[-1][0], lr=knots).with_overrides(epochs=epochs)
    assert s.lr[-1][0] == epochs and [lr for _, lr in s.lr] == [lr for _, lr in knots]
    assert all(a[0] < b[0] for a, b in zip(s.lr, s.lr[1:]))


def test_limit_takes_a_fixed_random_subset_not_the_first_images(tmp_path):
    from dsl.data import load_dataset

    y = np.repeat(np.arange(10), 20)  # sorted by class, like the decoded JPEG copy
    x = np.zeros((200, 8, 8, 3), np.uint8)
    np.savez(tmp_path / "d.npz", train_x=x, train_y=y, test_x=x, test_y=y)
    a = load_dataset(tmp_path / "d.npz", limit=50, limit_test=30)
    b = load_dataset(tmp_path / "d.npz", limit=50, limit_test=30)
    assert len(a.train_y) == 50 and len(a.test_y) == 30
    assert len(set(a.train_y.tolist())) >= 8  # most classes present
    assert np.array_equal(a.train_y, b.train_y)  # and the same subset every time
    assert np.all(np.diff(a.train_y) >= 0)  # original order kept


def test_every_setting_is_in_both_documentation_tables():
    from train_fixtures import REPO

    language = (REPO / "docs/language.md").read_text().split("## Training settings")[1].split("\n## ")[0]
    training = (REPO / "docs/training.md").read_text().split("## Recipe")[1].split("\n## ")[0]
    for text in (language, training):
        table = [line for line in text.splitlines() if line.startswith("| `")]
        named = {n for line in table for n in line.split("|")[1].replace("`", "").replace(" ", "").split(",")}
        assert named == set(TrainSettings.names()), sorted(named ^ set(TrainSettings.names()))


def test_fractional_epochs_and_their_steps():
    s = dsl.loads_job("relu -> gmp -> fc\ntrain { epochs = 9.9 }").settings
    assert s.epochs == 9.9 and s.epoch_count == 10 and s.lr[-1] == (9.9, 0.0)  # the default stretched
    ten = TrainSettings().with_overrides(epochs=10.0)
    assert ten.epochs == 10 and isinstance(ten.epochs, int) and ten == TrainSettings().with_overrides(epochs=10)
    s = TrainSettings(epochs=9.9, batch_size=1024, drop_last=True, lr=[(0, 0.3), (109 / 48, 1.5), (476 / 48, 0.1)])
    assert (s.steps_per_epoch(50_000), s.total_steps(50_000)) == (48, 476)  # the knots may end by epoch 10
    assert TrainSettings(batch_size=1024).steps_per_epoch(50_000) == 49  # the partial batch kept by default
    assert TrainSettings(epochs=1.1, lr=[(0, 1), (1, 0)], batch_size=1).total_steps(10) == 11  # not 12
    assert TrainSettings(epochs=0.25, lr=[(0, 1), (1, 0)], batch_size=1).total_steps(10) == 3
    assert TrainSettings.from_json(json.loads(json.dumps(s.to_json()))) == s
    for bad in (0, 0.0, -1.5, True, 1e9):
        with pytest.raises(SettingsError, match="epochs = .* must be an integer in"):
            TrainSettings(epochs=bad)
    with pytest.raises(SettingsError, match="knots that end by epoch 10 .epochs = 9.9."):
        TrainSettings(epochs=9.9, lr=[(0, 0.0), (10.5, 0.1)])


def test_airbench_settings_default_to_todays_recipe_and_old_run_folders_still_load():
    new = [
        "drop_last",
        "norm_bias_lr",
        "norm_bias_decay",
        "ema_every",
        "ema_start",
        "ema_decay",
        "ema_power",
        "flip_mode",
        "calibration_images",
        "tta",
        "eval_every_epoch",
    ]
    s = TrainSettings()
    assert (s.drop_last, s.norm_bias_lr, s.norm_bias_decay, s.ema_every, s.flip_mode, s.tta, s.eval_every_epoch) == (
        False,
        1.0,
        1.0,
        0,
        "random",
        0,
        True,
    )
    old = {k: v for k, v in s.to_json().items() if k not in new}  # a config.json written before them
    assert TrainSettings.from_json(old) == s
    assert not set(new) & set(s.key())  # netc search's resume keys did not change
    changed = TrainSettings(tta=2, drop_last=True, ema_every=5, flip_mode="alternate").key()
    assert {k for k in new if k in changed} == {"tta", "drop_last", "ema_every", "flip_mode"}


@pytest.mark.parametrize(
    "text,message",
    [
        ("train { flip = false, flip_mode = alternate }", "flip_mode = 'alternate' must be left out: flip = false"),
        ("train { ema_decay = 0.5 }", "ema_decay = 0.5 must be left out: it applies only with ema_every > 0"),
        ("train { ema_every = 5, ema_start = -1 }", "'ema_start' must be an integer"),
        ("train { tta = 3 }", "'tta' must be an integer in [0, 2]"),
        ("train { flip_mode = sometimes }", "'flip_mode' must be one of random, alternate"),
        ("train { norm_bias_lr = -1 }", "'norm_bias_lr' must be a number in [0, 10000]"),
        ("train { drop_last = 1 }", "'drop_last' must be true or false"),
    ],
)
def test_airbench_settings_are_checked_where_they_are_written(text, message):
    with pytest.raises(NetError) as e:
        dsl.loads("relu -> gmp -> fc\n" + text, filename="s.net")
    assert message in str(e.value).replace("training setting ", "") and "s.net:2:" in str(e.value), str(e.value)


def test_data_dependent_checks_of_the_airbench_settings():
    with pytest.raises(DataError, match="drop_last = true with batch_size = 512 leaves no batch"):
        TrainSettings(drop_last=True).check_data((3, 32, 32), "d", 100)
    TrainSettings(drop_last=True).check_data((3, 32, 32), "d", 512)
    with pytest.raises(DataError, match="tta = 2"):
        TrainSettings(tta=2, pad=0, cutout=0).check_data((3, 1, 1))
