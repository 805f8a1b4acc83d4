#!/usr/bin/env python3
"""`netc lsp` responsiveness on a generated 1,000-block file: the re-check after an edit,
(1) in the analysis library (the check `netc check` does, plus the index hover reads, a hover
and the inlay hints) and (2) end to end over stdio: a `didChange` sent by pygls's client to
a `netc lsp` subprocess until its `publishDiagnostics` arrives (that includes the server's
debounce, reported separately), and a hover answered while a check is pending.

    .venv/bin/python bench/bench_lsp.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lsprotocol import types as t  # noqa: E402
from pygls.lsp.client import LanguageClient  # noqa: E402
from pygls.uris import from_fs_path  # noqa: E402

from dsl.lsp.analysis import analyze  # noqa: E402
from dsl.lsp.hover import hover  # noqa: E402
from dsl.lsp.index import index_of  # noqa: E402
from dsl.lsp.outline import inlay_hints  # noqa: E402
from dsl.lsp.server import DEBOUNCE_S  # noqa: E402


def thousand_blocks(width: int) -> str:
    """1,000 distinct definitions (half of them residual) chained in one network, as bench_language.py."""
    lines = ["# generated for bench_lsp.py", "input 3x32x32"]
    for i in range(1000):
        body = "add(identity, conv_bn -> conv_bn)" if i % 2 else f"conv_bn({width}, k=3) -> bn"
        lines.append(f"blk{i} = {body}")
    lines.append("net = prep -> " + " -> ".join(f"blk{i}" for i in range(1000)) + " -> gmp -> fc*0.125")
    return "\n".join(lines) + "\n"


def library_seconds(path: str, repeat: int) -> tuple[list[float], list[float], int]:
    """(analysis times, analysis + index + hover + inlay hints times, ops) after edits."""
    checks, full, ops = [], [], 0
    for i in range(repeat):
        text = thousand_blocks(64 + i % 2)  # an edit: one width changes
        start = time.perf_counter()
        a = analyze(text, path)
        checks.append(time.perf_counter() - start)
        index_of(a)
        line = text.split("\n").index(
            "blk500 = conv_bn(64, k=3) -> bn" if i % 2 == 0 else "blk500 = conv_bn(65, k=3) -> bn"
        )
        assert hover(a, (line, 10)) is not None
        inlay_hints(a)
        full.append(time.perf_counter() - start)
        assert a.ok and a.graph is not None
        ops = len(a.graph.nodes)
    return checks, full, ops


def stdio_seconds(path: Path, repeat: int) -> tuple[list[float], int]:
    """Seconds from `didChange` to `publishDiagnostics` over stdio; and hovers answered while checks were pending."""
    loop = asyncio.new_event_loop()
    client = LanguageClient("bench", "1")
    published: list[float] = []

    @client.feature(t.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def got(params: t.PublishDiagnosticsParams) -> None:
        published.append(time.perf_counter())

    async def run() -> tuple[list[float], int]:
        await client.start_io(str(Path(sys.executable).parent / "netc"), "lsp")
        await client.initialize_async(t.InitializeParams(capabilities=t.ClientCapabilities()))
        client.initialized(t.InitializedParams())
        uri = from_fs_path(str(path))
        doc = t.TextDocumentItem(uri, "net", 1, thousand_blocks(64))
        client.text_document_did_open(t.DidOpenTextDocumentParams(doc))
        while not published:
            await asyncio.sleep(0.001)
        times, answered = [], 0
        for i in range(repeat):
            n = len(published)
            start = time.perf_counter()
            change = t.TextDocumentContentChangeWholeDocument(thousand_blocks(65 + i % 2))
            ident = t.VersionedTextDocumentIdentifier(version=i + 2, uri=uri)
            client.text_document_did_change(t.DidChangeTextDocumentParams(ident, [change]))
            h = await client.text_document_hover_async(
                t.HoverParams(t.TextDocumentIdentifier(uri), t.Position(1002, len("net = prep -> bl")))
            )
            answered += (
                h is not None and "blk0" in h.contents.value and len(published) == n
            )  # before the check's result
            while len(published) == n:
                await asyncio.sleep(0.001)
            times.append(published[-1] - start)
        await client.shutdown_async(None)
        client.exit(None)
        return times, answered

    try:
        return loop.run_until_complete(run())
    finally:
        loop.close()


def show(name: str, xs: list[float]) -> None:
    print(f"{name}: median {statistics.median(xs):.3f} s (min {min(xs):.3f}, max {max(xs):.3f}, {len(xs)} runs)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "thousand.net"
        path.write_text(thousand_blocks(64), encoding="utf-8")
        checks, full, ops = library_seconds(str(path), args.repeat)
        print(f"1,000-block file, {ops:,} ops")
        show("re-check (analysis library: netc check's checks)", checks)
        show("re-check + index + hover + inlay hints", full)
        times, answered = stdio_seconds(path, args.repeat)
        show(f"didChange -> publishDiagnostics over stdio (includes the {DEBOUNCE_S:g} s debounce)", times)
        show("  the same without the debounce", [x - DEBOUNCE_S for x in times])
        print(f"hovers answered while the check was pending: {answered} of {args.repeat}")


if __name__ == "__main__":
    main()
