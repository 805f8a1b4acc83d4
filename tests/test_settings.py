"""Training settings: overrides, knot stretching, validation; --limit subsets."""
from __future__ import annotations

import numpy as np
import pytest

from dsl.settings import SettingsError, defaults, resolve, scaled_knots

ARTICLE = [(0, 0.0), (5, 0.4), (24, 0.0)]


@pytest.mark.parametrize("epochs,expected", [
    (24, ARTICLE),
    (20, [(0, 0.0), (4, 0.4), (20, 0.0)]),   # the article's 20-epoch runs
    (22, [(0, 0.0), (5, 0.4), (22, 0.0)]),
    (48, [(0, 0.0), (10, 0.4), (48, 0.0)]),
    (1, [(0, 0.0), (5 / 24, 0.4), (1, 0.0)]),  # rounding would merge knots: keep the exact epoch
])
def test_scaled_knots(epochs, expected):
    assert scaled_knots(ARTICLE, epochs) == expected


def test_resolve_applies_overrides_and_validates():
    s = resolve(defaults(), 20, batch_size=128, cutout=None)
    assert s["epochs"] == 20 and s["batch_size"] == 128 and s["cutout"] == 8
    assert s["lr"][-1] == (20, 0.0)
    with pytest.raises(SettingsError, match="batch_size = 0 must be an integer"):
        resolve(defaults(), batch_size=0)
    with pytest.raises(SettingsError, match="must be one of"):
        resolve(defaults(), colour="red")


def test_limit_takes_a_fixed_random_subset_not_the_first_images(tmp_path):
    from dsl.data import load_dataset

    y = np.repeat(np.arange(10), 20)                      # sorted by class, like the decoded JPEG copy
    x = np.zeros((200, 8, 8, 3), np.uint8)
    np.savez(tmp_path / "d.npz", train_x=x, train_y=y, test_x=x, test_y=y)
    a = load_dataset(tmp_path / "d.npz", limit=50, limit_test=30)
    b = load_dataset(tmp_path / "d.npz", limit=50, limit_test=30)
    assert len(a.train_y) == 50 and len(a.test_y) == 30
    assert len(set(a.train_y.tolist())) >= 8               # most classes present
    assert np.array_equal(a.train_y, b.train_y)            # and the same subset every time
    assert np.all(np.diff(a.train_y) >= 0)                 # original order kept
