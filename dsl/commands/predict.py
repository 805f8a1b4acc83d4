"""`netc predict RUN_DIR IMAGE...`: the most probable classes of image files under a trained run.

Each image is decoded with Pillow, converted to the network's channels (RGB or L), scaled keeping
its aspect ratio so that it just covers the input (the shorter side becomes the input size for a
square input), centre-cropped to the input H x W and normalised as in training (see `dsl.train.infer`).
Every image is read before anything is printed: one bad file stops the command with exit 2.
"""

from __future__ import annotations

import click

from dsl.commands.common import max_params_option, positive


@click.command("predict")
@click.argument("run_dir", type=click.Path())
@click.argument("images", nargs=-1, required=True, type=click.Path())
@click.option("--run", "run", type=click.IntRange(min=0), default=0, show_default=True, help="which run of RUN_DIR")
@click.option(
    "--top",
    "k",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="how many classes to show per image (at most the class count)",
)
@click.option("--json", "as_json", is_flag=True, help="print the predictions as JSON")
@click.option(
    "--batch-size", type=int, default=None, callback=positive, help="images per batch (default: eval_batch_size)"
)
@click.option("--device", default="auto", show_default=True, help="auto, cuda, cuda:N or cpu")
@max_params_option
def command(
    run_dir: str,
    images: tuple[str, ...],
    run: int,
    k: int,
    as_json: bool,
    batch_size: int | None,
    device: str,
    max_params: int,
) -> None:
    """Classify image files (PNG, JPEG, anything Pillow reads) with a trained run: the top classes
    of each and their softmax probabilities. Each image is converted to the net's channels, scaled
    keeping its aspect ratio until its shorter side fits the input, centre-cropped to the input size
    and normalised as in training."""
    import json

    import numpy as np

    from dsl.train.device import resolve_device
    from dsl.train.infer import image_input, predict, printable, read_image, top_k
    from dsl.train.trained import load_run

    trained = load_run(run_dir, run, max_params=max_params)
    graph = trained.graph
    image_input(graph.input_shape, graph.name, file=str(run_dir))
    dev = resolve_device(device)
    classes = trained.classes
    bs = batch_size or trained.settings.eval_batch_size
    tops = []
    for j in range(0, len(images), bs):
        chunk = images[j : j + bs]
        x = np.stack([read_image(p, graph.input_shape) for p in chunk])
        tops += top_k(predict(trained.model, x, trained.settings, device=dev, names=chunk), classes, k)
    if as_json:
        predictions = [{"file": p, "top": top} for p, top in zip(images, tops)]
        out = {"run_dir": str(run_dir), "run": run, "net": graph.name, "predictions": predictions}
        click.echo(json.dumps(out, indent=2, allow_nan=False))
        return
    for p, top in zip(images, tops):
        click.echo(printable(p))
        for t in top:
            click.echo(f"  {t['probability']:.4f}  {printable(t['class'])}")
