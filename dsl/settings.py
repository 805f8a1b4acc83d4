"""Training settings: one typed object, `TrainSettings`, with its defaults, checks and JSON form.

The defaults are the article's 24-epoch recipe for Residual:L1+L3 (docs/language.md). A
`train { ... }` section overrides them (`from_file`, errors located in the file), `netc train`
/ `netc search` flags override the file (`with_overrides`), and run folders store them as JSON
(`to_json` / `from_json`). Every way in goes through the same field checks and `problems()`,
so a new setting is one new field here (with its default, check and doc) and nothing else;
declare it `added_later=True` so that run folders written before it still load (with its default).
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, get_args, get_origin

from dsl.errors import NetError, Span, did_you_mean, show_value
from dsl.front import ast
from dsl.records import MAX_EPOCHS

Knots = tuple[tuple[float, float], ...]
Check = Callable[[Any], "str | None"]  # a complaint ("an integer >= 1"), or None when fine

DEFAULT_TARGET = 0.94


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _int(lo: int, hi: int) -> Check:
    def check(v: Any) -> str | None:
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            return f"an integer in [{lo}, {hi:,}]"
        return None

    return check


def _float(lo: float, hi: float) -> Check:
    def check(v: Any) -> str | None:
        if not _is_num(v) or not lo <= v <= hi:
            return f"a number in [{lo:g}, {hi:g}]"
        return None

    return check


def _epochs(v: Any) -> str | None:
    if not _is_num(v) or not 0 < v <= MAX_EPOCHS or (isinstance(v, int) and v < 1):
        return (
            f"an integer in [1, {MAX_EPOCHS:,}], or a fractional number of epochs above 0 "
            "(e.g. 9.9: the last epoch cut short)"
        )
    return None


def _bool(v: Any) -> str | None:
    return None if isinstance(v, bool) else "true or false"


def _knots(v: Any) -> str | None:
    want = (
        "a list of at least two (epoch, lr) pairs with epochs >= 0 increasing, the last one after epoch 0, "
        "and lr >= 0, e.g. [(0, 0), (5, 0.4), (24, 0)]"
    )
    if not isinstance(v, (list, tuple)) or len(v) < 2 or len(v) > 1000:
        return want
    last = -1.0
    for pair in v:
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2 and all(_is_num(x) for x in pair)):
            return want
        epoch, lr = pair
        if epoch < 0 or epoch <= last or epoch > MAX_EPOCHS or not 0 <= lr <= 1e3:
            return want
        last = epoch
    if not any(lr > 0 for _, lr in v):
        return "a schedule whose learning rate is above 0 somewhere (all knots are 0: nothing would train)"
    return None


def _choice(*options: str) -> Check:
    def check(v: Any) -> str | None:
        return None if isinstance(v, str) and v in options else "one of " + ", ".join(options)

    return check


def _betas(v: Any) -> str | None:
    if isinstance(v, (list, tuple)) and len(v) == 2 and all(_is_num(x) and 0 <= x < 1 for x in v):
        return None
    return "a pair (beta1, beta2) of numbers in [0, 1), e.g. (0.9, 0.999)"


def _range_pair(lo: float, hi: float, example: str) -> Check:
    def check(v: Any) -> str | None:
        if (
            isinstance(v, (list, tuple))
            and len(v) == 2
            and all(_is_num(x) and lo < x <= hi for x in v)
            and v[0] <= v[1]
        ):
            return None
        return f"a pair (low, high) of numbers in ({lo:g}, {hi:g}] with low <= high, e.g. {example}"

    return check


def _eps(v: Any) -> str | None:
    return None if _is_num(v) and 0 < v <= 1 else "a number in (0, 1]"


def _channels(positive: bool) -> Check:
    def check(v: Any) -> str | None:
        if (
            isinstance(v, (list, tuple))
            and 1 <= len(v) <= 64
            and all(_is_num(x) for x in v)
            and (not positive or all(x > 0 for x in v))
            and all(abs(x) <= 1e6 for x in v)
        ):
            return None
        return (
            "a list of numbers above 0, one per channel (or one for all)"
            if positive
            else "a list of numbers, one per channel (or one for all)"
        )

    return check


def setting(
    default: Any,
    check: Check,
    doc: str,
    *,
    added_later: bool = False,
    only: tuple[str, str] | None = None,
    needs: str | None = None,
) -> Any:
    """Declare one training setting: its default, its check and a line of documentation.

    `added_later`: the setting is newer than the first run folders, so a stored recipe that lacks
    it means its default (and `key()` leaves it out at its default). `only=(setting, value)`: it
    does something only when that other setting has that value (`("optimizer", "sgd")`,
    `("augment", "imagenet")`); `needs=setting`: only when that other setting is not 0. Set where
    it would do nothing, it is refused rather than silently ignored."""
    meta = {"check": check, "doc": doc, "added_later": added_later, "only": only, "needs": needs}
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class TrainSettings:
    """The recipe of one training run. Build with `from_file`, `with_overrides` or `from_json`;
    the constructor checks every field."""

    epochs: int | float = setting(
        24,
        _epochs,
        "training epochs; a fraction (9.9) trains ceil(steps per epoch * epochs) steps, the last epoch cut short",
    )
    batch_size: int = setting(512, _int(1, 1 << 20), "training batch size")
    drop_last: bool = setting(
        False,
        _bool,
        "drop each epoch's last partial batch (false: keep it, as the article's recipe does)",
        added_later=True,
    )
    eval_batch_size: int = setting(512, _int(1, 1 << 20), "test batch size")
    lr: Knots = setting(
        ((0, 0.0), (5, 0.4), (24, 0.0)),
        _knots,
        "learning-rate knots (epoch, lr), set every step; for mean loss",
    )
    lr_curve: str = setting(
        "linear",
        _choice("linear", "cosine"),
        "lr between knots: linear, or cosine (a half cosine on falling segments, rising ones linear)",
        added_later=True,
    )
    optimizer: str = setting(
        "sgd", _choice("sgd", "adamw"), "sgd (torch.optim.SGD) or adamw (torch.optim.AdamW)", added_later=True
    )
    momentum: float = setting(0.9, _float(0.0, 1.0), "SGD momentum", only=("optimizer", "sgd"))
    nesterov: bool = setting(True, _bool, "Nesterov momentum", only=("optimizer", "sgd"))
    betas: tuple[float, float] = setting(
        (0.9, 0.999), _betas, "AdamW's (beta1, beta2)", added_later=True, only=("optimizer", "adamw")
    )
    adam_eps: float = setting(1e-8, _eps, "AdamW's epsilon", added_later=True, only=("optimizer", "adamw"))
    weight_decay: float = setting(
        5e-4, _float(0.0, 1.0), "weight decay (SGD: L2 per mean loss; AdamW: decoupled, times lr)"
    )
    decay_all: bool = setting(
        True,
        _bool,
        "weight decay on every parameter (false: only on weights with >= 2 dimensions outside "
        "modules marked no_weight_decay)",
        added_later=True,
    )
    norm_bias_lr: float = setting(
        1.0,
        _float(0.0, 1e4),
        "learning-rate multiplier for the biases of normalisation layers (their own parameter group)",
        added_later=True,
    )
    norm_bias_decay: float = setting(
        1.0,
        _float(0.0, 1e4),
        "weight-decay multiplier for the biases of normalisation layers (their own parameter group)",
        added_later=True,
    )
    ema_every: int = setting(
        0,
        _int(0, 1_000_000),
        "every this many steps, average the weights into an EMA and copy it back (lookahead); 0: off",
        added_later=True,
    )
    ema_start: int = setting(
        0,
        _int(0, MAX_EPOCHS),
        "the epoch (0-based) from which the EMA runs (ema_every > 0)",
        added_later=True,
        needs="ema_every",
    )
    ema_decay: float = setting(
        0.95**5,
        _float(0.0, 1.0),
        "the EMA's decay at the end of training; at step k of K it is ema_decay * (k/K)**ema_power",
        added_later=True,
        needs="ema_every",
    )
    ema_power: float = setting(
        3.0,
        _float(0.0, 100.0),
        "how the EMA's decay grows over training (see ema_decay)",
        added_later=True,
        needs="ema_every",
    )
    pad: int = setting(4, _int(0, 64), "reflect padding before random crops (0: no crop)", only=("augment", "article"))
    flip: bool = setting(True, _bool, "horizontal flips (how: flip_mode)")
    flip_mode: str = setting(
        "random",
        _choice("random", "alternate"),
        "random: each image flipped with p=0.5 each epoch; alternate: a fixed random flip per image, "
        "all mirrored in odd epochs",
        added_later=True,
    )
    cutout: int = setting(
        8, _int(0, 4096), "cutout square side, zero-filled after normalisation (0: off)", only=("augment", "article")
    )
    augment: str = setting(
        "article",
        _choice("article", "imagenet"),
        "training augmentation: article (pad-crop, flip, cutout) or imagenet (random-resized crop and flip; "
        "evaluation resizes and centre-crops)",
        added_later=True,
    )
    resolution: int = setting(
        0,
        _int(0, 8192),
        "side of the images the network is fed (0: the network's input size); must match the network's input",
        added_later=True,
    )
    crop_scale: tuple[float, float] = setting(
        (0.08, 1.0),
        _range_pair(0.0, 1.0, "(0.08, 1)"),
        "augment = imagenet: the random crop's share of the image's area, drawn in [low, high]",
        added_later=True,
        only=("augment", "imagenet"),
    )
    crop_ratio: tuple[float, float] = setting(
        (0.75, 4 / 3),
        _range_pair(0.0, 100.0, "(0.75, 1.3333)"),
        "augment = imagenet: the random crop's aspect ratio (width / height), drawn log-uniformly in [low, high]",
        added_later=True,
        only=("augment", "imagenet"),
    )
    eval_crop: float = setting(
        0.875,
        _float(0.01, 1.0),
        "augment = imagenet: evaluation resizes the shorter side to round(resolution / eval_crop), then "
        "takes the centre resolution x resolution",
        added_later=True,
        only=("augment", "imagenet"),
    )
    data_path: str = setting(
        "auto",
        _choice("auto", "device", "stream"),
        "device: the whole dataset on the device (the article's); stream: batches decoded and augmented by "
        "DataLoader workers; auto: device when the data is one image size and fits, else stream",
        added_later=True,
    )
    mean: tuple[float, ...] = setting(
        (0.4914, 0.4822, 0.4465), _channels(False), "per-channel normalisation mean (on [0,1] pixels)"
    )
    std: tuple[float, ...] = setting(
        (0.2471, 0.2435, 0.2616), _channels(True), "per-channel normalisation std (on [0,1] pixels), above 0"
    )
    label_smoothing: float = setting(0.0, _float(0.0, 1.0), "cross-entropy label smoothing")
    calibration_images: int = setting(
        5000,
        _int(1, 1 << 24),
        "how many training images (the first, normalised, not augmented) modules with a calibrate method see",
        added_later=True,
    )
    tta: int = setting(
        0,
        _int(0, 2),
        "test-time augmentation: 0 none, 1 mirror, 2 mirror and 1-pixel diagonal translations",
        added_later=True,
    )
    eval_every_epoch: bool = setting(
        True, _bool, "evaluate on the test set after every epoch (false: only after the last)", added_later=True
    )
    target: float = setting(DEFAULT_TARGET, _float(0.0, 1.0), "accuracy target reported as 'fraction >= target'")

    def __post_init__(self) -> None:
        # Normalise types (ints where a float is declared, lists where tuples are kept) so equal
        # recipes compare and hash equal, then refuse anything out of range.
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, _normalise(f.name, getattr(self, f.name)))
        problems = self.problems()
        if problems:
            name, complaint = problems[0]
            raise SettingsError(
                name, f"training setting {name} = {show_value(getattr(self, name))} must be {complaint}"
            )

    # ------------------------------------------------------------------ checks
    def problems(self) -> list[tuple[str, str]]:
        """(setting, complaint) for every value that is out of range."""
        out = []
        for f in dataclasses.fields(self):
            complaint = f.metadata["check"](getattr(self, f.name))
            if complaint:
                out.append((f.name, complaint))
        if not out:
            out += self._idle_problems(("optimizer",))
        end = self.epoch_count if not out else 0
        if not out and self.lr[-1][0] > end:
            # the schedule would be cut off mid-way: almost always a forgotten lr after changing epochs
            out.append(
                (
                    "lr",
                    f"knots that end by epoch {end} (epochs = {self.epochs:g}), but they run to "
                    f"epoch {self.lr[-1][0]:g}; stretch them, or leave lr out to stretch the default",
                )
            )
        if not out:
            out += self._idle_problems(("augment",)) or self._augment_problems()
        if not out and self.flip_mode != "random" and not self.flip:
            out.append(("flip_mode", "left out: flip = false turns flips off"))
        if not out:
            out += self._idle_problems(None)
        return out

    def _idle_problems(self, only: tuple[str, ...] | None) -> list[tuple[str, str]]:
        """A setting changed from its default where it would do nothing (its `only` setting has another
        value, or its `needs` setting is 0): refused. `only` picks which `only` settings to look at;
        None looks at `needs`."""
        for f in dataclasses.fields(self):
            if getattr(self, f.name) == f.default:
                continue
            cond, needs = f.metadata["only"], f.metadata["needs"]
            if only is not None and cond is not None and cond[0] in only and getattr(self, cond[0]) != cond[1]:
                return [(f.name, "left out: it " + _not_for(f.name, cond, getattr(self, cond[0])))]
            if only is None and needs is not None and not getattr(self, needs):
                return [(f.name, f"left out: it applies only with {needs} > 0 (it is 0)")]
        return []

    def _augment_problems(self) -> list[tuple[str, str]]:
        """The imagenet recipe's crops are made per image by the streamed path."""
        if self.augment == "imagenet" and self.data_path == "device":
            return [
                (
                    "data_path",
                    "stream (or auto) with augment = imagenet: its crops are made per image by the streamed path",
                )
            ]
        return []

    @property
    def epoch_count(self) -> int:
        """How many (possibly partial) epochs a run has: `epochs` rounded up."""
        return math.ceil(self.epochs)

    def steps_per_epoch(self, n_train: int) -> int:
        """Optimizer steps in a full epoch of `n_train` images (0 when drop_last leaves no batch)."""
        return n_train // self.batch_size if self.drop_last else -(-n_train // self.batch_size)

    def total_steps(self, n_train: int) -> int:
        """Optimizer steps of a whole run: ceil(steps_per_epoch * epochs), computed exactly from
        the decimal `epochs` is written as (48 * 1.1 is 52.8, not 52.800000000000004)."""
        steps = self.steps_per_epoch(n_train)
        if isinstance(self.epochs, int):
            return steps * self.epochs
        return math.ceil(Fraction(repr(float(self.epochs))) * steps)

    def check_data(self, image_shape: tuple[int, ...], source: str = "", n_train: int | None = None) -> None:
        """Checks that need the data: padding, cutout and normalisation against the image size,
        and (given `n_train`) that drop_last leaves at least one batch."""
        from dsl.errors import DataError

        c, h, w = image_shape
        if n_train is not None and self.steps_per_epoch(n_train) == 0:
            raise DataError(
                f"drop_last = true with batch_size = {self.batch_size} leaves no batch: the training set has "
                f"{n_train} images",
                file=source,
                hint=f"use batch_size <= {n_train}, or drop_last = false",
            )
        if self.tta == 2 and min(h, w) < 2:
            raise DataError(
                f"setting tta = 2 translates by one pixel with reflect padding, which needs images of at least 2x2 "
                f"(these are {h}x{w})",
                file=source,
                hint="use tta = 1 or 0",
            )
        if self.augment == "article" and self.pad >= min(h, w):
            raise DataError(
                f"setting pad = {self.pad} needs images larger than {h}x{w} (reflect padding)",
                file=source,
                hint=f"use pad <= {min(h, w) - 1} (0 turns cropping off)",
            )
        if self.augment == "article" and self.cutout > min(h, w):
            raise DataError(
                f"setting cutout = {self.cutout} is larger than the {h}x{w} images",
                file=source,
                hint=f"use cutout <= {min(h, w)} (0 turns it off)",
            )
        for name in ("mean", "std"):
            n = len(getattr(self, name))
            if n not in (1, c):
                raise DataError(
                    f"setting {name} has {n} values but the images have {c} channels",
                    file=source,
                    hint=f"give {c} values, one per channel, or one for all",
                )

    # ------------------------------------------------------------------ ways in
    @classmethod
    def names(cls) -> list[str]:
        """Every setting's name, in declaration order."""
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def docs(cls) -> dict[str, tuple[Any, str]]:
        """name -> (default, doc), for documentation and help texts."""
        return {f.name: (f.default, f.metadata["doc"]) for f in dataclasses.fields(cls)}

    @classmethod
    def check_options(cls, sections: Iterable[list[ast.Setting]]) -> None:
        """Check every setting and every option of every choice (not their combinations)."""
        cls._read(sections, None)

    @classmethod
    def _read(
        cls, sections: Iterable[list[ast.Setting]], choose: Callable[[ast.Choice], Any] | None
    ) -> tuple[dict[str, Any], dict[str, Span]]:
        """The settings the sections write (choices resolved by `choose`), each checked, and where each is."""
        known = cls.names()
        values: dict[str, Any] = {}
        spans: dict[str, Span] = {}
        for items in sections:
            seen: dict[str, Span] = {}
            for s in items:
                if s.key not in known:
                    raise NetError(
                        f"unknown training setting '{s.key}'",
                        s.span,
                        hint=did_you_mean(s.key, known) or "known settings: " + ", ".join(known),
                    )
                if s.key in seen:
                    raise NetError(
                        f"training setting '{s.key}' is set twice", s.span, notes=[("first set here", seen[s.key])]
                    )
                seen[s.key] = s.span
                for option in _options(s.value):
                    problem = _field_check(s.key)(_normalise(s.key, option))
                    if problem:
                        raise NetError(
                            f"training setting '{s.key}' must be {problem}, got {show_value(option)}", s.span
                        )
                values[s.key] = resolve_setting(s.value, choose)
                spans[s.key] = s.span
        return values, spans

    @classmethod
    def from_file(
        cls, sections: Iterable[list[ast.Setting]], choose: Callable[[ast.Choice], Any] | None = None
    ) -> TrainSettings:
        """The settings of `train { }` sections, one list per file, later files overriding earlier
        ones (a file's own section overrides what it imports). Errors point at the setting.

        A setting written as a search-space choice (`lr = a | b`, `epochs = 10..30 step 10`) has
        every option checked; it takes the option `choose(node)` gives (a `Literal`), else the
        first. Setting `epochs` without `lr` stretches the default schedule to the new length,
        exactly as `--epochs` does."""
        values, spans = cls._read(sections, choose)
        optimizer = values.get("optimizer", cls.optimizer)
        for name, only in _ONLY.items():
            if name in values and only != optimizer:
                raise NetError(
                    f"training setting '{name}' {_not_for(name, ('optimizer', only), optimizer)}",
                    spans[name],
                    hint=f"remove it; the settings of optimizer = {optimizer} are "
                    + ", ".join(n for n, o in _ONLY.items() if o == optimizer),
                )
        if "epochs" in values and "lr" not in values:
            values["lr"] = scaled_knots(cls().lr, values["epochs"])
        try:
            return cls(**values)
        except SettingsError as err:
            raise NetError(err.message, spans.get(err.setting)) from None

    @classmethod
    def assignments(cls, texts: Iterable[str]) -> dict[str, Any]:
        """`--set key=value` flags as {key: value}: each value written as in a `train { }` section
        (numbers, true/false, names, tuples, lists), read by the same parser and checked like it;
        errors name the flag. Later flags of one key are refused, not silently preferred."""
        from dsl.front.parser import parse

        known = cls.names()
        out: dict[str, Any] = {}
        for text in texts:
            key, eq, value = text.partition("=")
            key = key.strip()
            if not eq or not key or not value.strip():
                raise NetError(f"--set {text!r} is not key=value", file="--set", hint="e.g. --set label_smoothing=0.1")
            if key not in known:
                raise NetError(
                    f"--set {key}: unknown training setting '{key}'",
                    file="--set",
                    hint=did_you_mean(key, known) or "known settings: " + ", ".join(known),
                )
            if key in out:
                raise NetError(f"--set {key} is given twice", file="--set")
            head, value = f"train {{ {key} = ", value.strip()
            one = not any(c in value for c in "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
            module = parse(f"{head}{value} }}\n", f"--set {key}") if one else None
            # the one setting must span exactly the value given: nothing smuggled after it (`1 } input ... #`)
            if (
                module is None
                or len(module.settings) != 1
                or module.defs
                or module.net is not None
                or module.uses
                or module.input is not None
                or (module.settings[0].span.end_line, module.settings[0].span.end_col)
                != (1, len(head) + len(value) + 1)
            ):
                raise NetError(f"--set {text!r}: the value must be one value", file="--set")
            got = module.settings[0].value
            problem = _field_check(key)(_normalise(key, got))
            if problem:
                raise NetError(
                    f"--set {key}: training setting '{key}' must be {problem}, got {show_value(got)}", file="--set"
                )
            out[key] = got
        return out

    def with_overrides(self, epochs: int | float | None = None, **overrides: Any) -> TrainSettings:
        """These settings with flag values replacing some (None keeps the value); a new `epochs`
        also stretches the lr knots to it. Raises SettingsError naming a bad value."""
        changes = {k: v for k, v in overrides.items() if v is not None}
        unknown = set(changes) - set(self.names())
        if unknown:
            raise SettingsError(sorted(unknown)[0], f"unknown training setting {sorted(unknown)[0]}")
        if epochs is not None:
            changes["epochs"] = epochs
            knots = _normalise("lr", changes.get("lr", self.lr))
            if not _knots(knots):
                changes["lr"] = scaled_knots(knots, epochs)
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples as lists)."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_json(cls, data: Any, where: str = "config.json") -> TrainSettings:
        """Settings stored by `to_json`; anything missing, unknown or malformed is refused with
        a NetError naming `where` (never silently replaced by a default). Only settings declared
        `added_later` may be missing: a netc older than them wrote the file, so they were at their
        defaults."""
        if not isinstance(data, Mapping):
            raise NetError(f"'{where}': the training settings are not a JSON object", file=where)
        later = {f.name for f in dataclasses.fields(cls) if f.metadata["added_later"]}
        missing = [n for n in cls.names() if n not in data and n not in later]  # older netc: defaults
        unknown = [k for k in data if k not in cls.names()]
        if missing or unknown:
            what = (
                (f"lacks {', '.join(missing)}" if missing else "")
                + ("; " if missing and unknown else "")
                + (f"has unknown {', '.join(map(str, unknown))}" if unknown else "")
            )
            raise NetError(
                f"'{where}': the training settings {what}",
                file=where,
                hint="the run folder was written by another netc version or edited by hand",
            )
        try:
            return cls(**dict(data))
        except SettingsError as err:
            raise NetError(f"'{where}': {err.message}", file=where) from None
        except (TypeError, ValueError) as err:
            raise NetError(f"'{where}': the training settings are malformed ({err})", file=where) from None

    def key(self) -> dict[str, Any]:
        """What decides the outcome of a run (everything but the reporting-only `target`).

        Settings added later are left out while at their default, so the key of a recipe that
        existed before them (e.g. `netc search`'s resume key) did not change when they came."""
        at_default = {
            f.name for f in dataclasses.fields(self) if f.metadata["added_later"] and getattr(self, f.name) == f.default
        }
        return {k: v for k, v in self.to_json().items() if k != "target" and k not in at_default}

    def differences(self, other: TrainSettings) -> list[str]:
        """`name: a -> b` for every setting that differs."""
        return [
            f"{f.name}: {show_value(getattr(self, f.name))} -> {show_value(getattr(other, f.name))}"
            for f in dataclasses.fields(self)
            if getattr(self, f.name) != getattr(other, f.name)
        ]


class SettingsError(ValueError):
    """A setting out of range; callers turn it into a located NetError."""

    def __init__(self, setting: str, message: str):
        super().__init__(message)
        self.setting = setting
        self.message = message


def resolve_setting(v: Any, choose: Callable[[ast.Choice], Any] | None = None) -> Any:
    """A setting's value with its choices resolved: the option `choose(node)` gives (a `Literal`),
    else the first."""
    if isinstance(v, (ast.Alt, ast.Range)):
        picked = choose(v) if choose is not None else None
        if picked is None:
            picked = ast.Literal(v.value(0), v.span) if isinstance(v, ast.Range) else v.options[0]
        assert isinstance(picked, ast.Literal)
        return resolve_setting(picked.value, choose)
    if isinstance(v, list):
        return [resolve_setting(x, choose) for x in v]
    if isinstance(v, tuple):
        return tuple(resolve_setting(x, choose) for x in v)
    return v


def _options(v: Any) -> list[Any]:
    """The values to check of a setting with choices: the first of each, then each option of each
    choice in turn (a range's at its ends: the rest lie between), the others at their first."""
    choices = ast.setting_choices(v)
    out = [resolve_setting(v)]
    for c in choices:
        picks = [0, c.count - 1] if isinstance(c, ast.Range) else range(1, len(c.options))
        for i in picks:
            lit = ast.Literal(c.value(i), c.span) if isinstance(c, ast.Range) else c.options[i]

            def pick(node: ast.Choice, c: ast.Choice = c, lit: ast.Expr = lit) -> ast.Expr | None:
                return lit if node is c else None

            out.append(resolve_setting(v, pick))
    return out


def _field_check(name: str) -> Check:
    return {f.name: f.metadata["check"] for f in dataclasses.fields(TrainSettings)}[name]


# setting -> the one optimizer it applies to (what a train { } section is checked against, with spans)
_ONLY: dict[str, str] = {
    f.name: f.metadata["only"][1]
    for f in dataclasses.fields(TrainSettings)
    if f.metadata["only"] and f.metadata["only"][0] == "optimizer"
}


def _not_for(name: str, cond: tuple[str, str], current: Any) -> str:
    """Why setting `name`, which needs `cond` = (setting, value), does nothing with `current`."""
    setting_, value = cond
    if setting_ == "optimizer":
        return f"applies only to optimizer = {value}, and this recipe uses optimizer = {current}"
    return f"applies only with {setting_} = {value} (this recipe uses {current})"


# how each setting's values are normalised, from its declared type (so that equal recipes compare equal)
_TYPES = typing.get_type_hints(TrainSettings)


def _normalise(name: str, v: Any) -> Any:
    """One representation per value, from the setting's declared type: floats for a float (an int
    given for it), an int for a whole number of epochs, tuples for lists, floats inside a pair."""
    tp = _TYPES[name]
    if tp is float and isinstance(v, int) and not isinstance(v, bool):
        return float(v)
    if name == "epochs" and isinstance(v, float) and v.is_integer() and abs(v) <= MAX_EPOCHS:
        return int(v)  # 10.0 epochs is 10 (the one setting declared int | float)
    if get_origin(tp) is tuple and isinstance(v, (list, tuple)):
        args = get_args(tp)
        if args and args[-1] is Ellipsis and get_origin(args[0]) is tuple:  # knots: a tuple of pairs
            return tuple(tuple(p) if isinstance(p, (list, tuple)) else p for p in v)
        if args and args[-1] is not Ellipsis:  # a fixed-size tuple of floats: (0.9, 0.999)
            return tuple(float(x) if isinstance(x, int) and not isinstance(x, bool) else x for x in v)
        return tuple(v)
    return v


def _jsonable(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


def scaled_knots(knots: Knots, epochs: int | float) -> Knots:
    """Knots for a different training length: stretched so the last knot lands on `epochs`.

    Interior knots at whole epochs stay whole (rounded), as in the article's recipes (peak at
    epoch 5 of 24 becomes 4 of 20, as its 20-epoch runs used), unless rounding would make two
    knots meet; then the exact stretched epoch is kept."""
    last = knots[-1][0]
    if epochs == last or last <= 0:
        return tuple((e, v) for e, v in knots)
    exact = [e * epochs / last for e, _ in knots]
    out: list[tuple[float, float]] = []
    for i, ((e, v), x) in enumerate(zip(knots, exact)):
        if 0 < i < len(knots) - 1 and float(e).is_integer():
            r = max(1, round(x))
            if out[-1][0] < r < exact[i + 1]:
                x = r
        out.append((int(x) if float(x).is_integer() else x, v))
    return tuple(out)
