"""`netc lsp`: one real server subprocess driven over stdio by pygls's client (diagnostics,
hover, definition, completion, closing, hostile documents), and the analysis library directly
for the rest (positions, related information, symbols, completion contexts, hints)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from lsprotocol import types as t
from pygls.lsp.client import LanguageClient
from pygls.uris import from_fs_path

from dsl.front.loader import PRELUDE
from dsl.lsp.analysis import analyze
from dsl.lsp.complete import completions, context
from dsl.lsp.hover import hover
from dsl.lsp.index import index_of
from dsl.lsp.outline import inlay_hints, symbols
from dsl.lsp.positions import Lines

ROOT = Path(__file__).resolve().parents[1]
NETC = str(Path(sys.executable).parent / "netc")
RESNET = ROOT / "nets" / "residual_l1_l3.net"
WAIT_S = 60  # only a guard against a hung server; never a timing assertion


class Session:
    """A running `netc lsp` and the diagnostics it published, on an event loop of our own."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.client = LanguageClient("netc-tests", "1")
        self.diagnostics: dict[str, list[t.Diagnostic]] = {}
        self.publishes = 0

        @self.client.feature(t.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def published(params: t.PublishDiagnosticsParams) -> None:
            self.diagnostics[params.uri] = list(params.diagnostics)
            self.publishes += 1

    def run(self, coro):  # noqa: ANN001, ANN201
        return self.loop.run_until_complete(asyncio.wait_for(coro, WAIT_S))

    def start(self) -> None:
        async def go() -> None:
            await self.client.start_io(NETC, "lsp")
            await self.client.initialize_async(t.InitializeParams(capabilities=t.ClientCapabilities()))
            self.client.initialized(t.InitializedParams())

        self.run(go())

    def stop(self) -> int | None:
        async def go() -> int | None:
            await self.client.shutdown_async(None)
            self.client.exit(None)
            server = self.client._server
            return await server.wait() if server is not None else None

        try:
            return self.run(go())
        finally:
            self.loop.close()

    def wait_for(self, uri: str, check) -> list[t.Diagnostic]:  # noqa: ANN001
        """Wait until the diagnostics published for `uri` satisfy `check`."""

        async def go() -> list[t.Diagnostic]:
            while uri not in self.diagnostics or not check(self.diagnostics[uri]):
                await asyncio.sleep(0.01)
            return self.diagnostics[uri]

        return self.run(go())

    def open(self, path: Path, text: str | None = None, version: int = 1) -> str:
        uri = from_fs_path(str(path))
        self.diagnostics.pop(uri, None)
        body = path.read_text(encoding="utf-8") if text is None else text
        self.client.text_document_did_open(t.DidOpenTextDocumentParams(t.TextDocumentItem(uri, "net", version, body)))
        return uri

    def change(self, uri: str, text: str, version: int) -> None:
        self.client.text_document_did_change(
            t.DidChangeTextDocumentParams(
                t.VersionedTextDocumentIdentifier(version=version, uri=uri),
                [t.TextDocumentContentChangeWholeDocument(text)],
            )
        )

    def close(self, uri: str) -> None:
        self.client.text_document_did_close(t.DidCloseTextDocumentParams(t.TextDocumentIdentifier(uri)))

    def hover(self, uri: str, line: int, col: int) -> t.Hover | None:
        doc = t.TextDocumentIdentifier(uri)
        return self.run(self.client.text_document_hover_async(t.HoverParams(doc, t.Position(line, col))))


@pytest.fixture(scope="module")
def lsp():
    s = Session()
    s.start()
    yield s
    assert s.stop() == 0  # shutdown + exit end the process cleanly


def _pos(text: str, needle: str, offset: int = 0) -> tuple[int, int]:
    """(line, UTF-16 column) of the first `needle` in `text`, plus `offset` characters."""
    i = text.index(needle) + offset
    line = text.count("\n", 0, i)
    start = text.rfind("\n", 0, i) + 1
    return line, len(text[start:i].encode("utf-16-le")) // 2


# ------------------------------------------------------------------ over stdio (a real client)
def test_mistake_gives_a_diagnostic_at_its_range_and_fixing_it_clears_it(lsp, tmp_path):
    bad = "input 3x32x32\nprep -> layr1 -> gmp -> fc\n"
    uri = lsp.open(tmp_path / "typo.net", bad)
    (d,) = lsp.wait_for(uri, lambda ds: len(ds) > 0)
    assert (d.range.start.line, d.range.start.character) == _pos(bad, "layr1")
    assert (d.range.end.line, d.range.end.character) == _pos(bad, "layr1", len("layr1"))
    assert "layr1" in d.message and "layer1" in d.message  # the front end's own message, its hint too
    assert d.severity == t.DiagnosticSeverity.Error
    lsp.change(uri, bad.replace("layr1", "layer1"), 2)
    assert lsp.wait_for(uri, lambda ds: ds == []) == []


def test_hover_on_layer1_shows_its_shape_and_parameter_count(lsp):
    text = RESNET.read_text(encoding="utf-8")
    uri = lsp.open(RESNET)
    lsp.wait_for(uri, lambda ds: True)
    h = lsp.hover(uri, *_pos(text, "layer1(res)", 2))
    assert h is not None and h.contents.kind == t.MarkupKind.Markdown
    assert "128×16×16" in h.contents.value
    assert "369,408 params" in h.contents.value  # 73,728 + 256 + 2 × (147,456 + 256)
    line, col = _pos(text, "layer1(res)")
    assert (h.range.start.line, h.range.start.character, h.range.end.character) == (line, col, col + 6)


def test_definition_of_res_is_its_prelude_line(lsp):
    text = RESNET.read_text(encoding="utf-8")
    uri = lsp.open(RESNET)
    lsp.wait_for(uri, lambda ds: True)
    doc = t.TextDocumentIdentifier(uri)
    pos = t.Position(*_pos(text, "res)", 1))
    loc = lsp.run(lsp.client.text_document_definition_async(t.DefinitionParams(doc, pos)))
    assert isinstance(loc, t.Location) and loc.uri == from_fs_path(str(PRELUDE))
    prelude = PRELUDE.read_text(encoding="utf-8").split("\n")
    assert prelude[loc.range.start.line].startswith('res "Residual" = ')
    assert (loc.range.start.character, loc.range.end.character) == (0, 3)


def test_completion_after_con_offers_conv_and_conv_bn(lsp, tmp_path):
    text = "input 3x32x32\nprep -> con"
    uri = lsp.open(tmp_path / "typing.net", text)
    lsp.wait_for(uri, lambda ds: True)
    params = t.CompletionParams(t.TextDocumentIdentifier(uri), t.Position(1, len("prep -> con")))
    got = lsp.run(lsp.client.text_document_completion_async(params))
    labels = {i.label for i in (got.items if isinstance(got, t.CompletionList) else got)}
    assert {"conv", "conv_bn"} <= labels


def test_an_unsaved_imported_file_is_checked_and_its_mistake_shown_in_both(lsp, tmp_path):
    (tmp_path / "lib.net").write_text("blk = conv_bn(32)\n", encoding="utf-8")
    main = 'use "lib.net"\ninput 3x32x32\nblk -> gmp -> fc\n'
    main_uri = lsp.open(tmp_path / "main.net", main)
    assert lsp.wait_for(main_uri, lambda ds: True) == []
    lib_uri = lsp.open(tmp_path / "lib.net", "blk = conv_bn(32) ->\n")  # unsaved: the disk copy is fine
    lsp.change(lib_uri, "blk = conv_bn(32) ->\n", 2)  # (an edit re-checks the files that import it)
    (d,) = lsp.wait_for(main_uri, lambda ds: len(ds) == 1)
    assert d.range.start.line == 0 and "unexpected end of file" in d.message  # at the `use` line
    assert d.related_information and d.related_information[0].location.uri == lib_uri
    (own,) = lsp.wait_for(lib_uri, lambda ds: len(ds) == 1)
    assert own.range.start.line == 0 and "unexpected end of file" in own.message
    lsp.close(lib_uri)  # closed unsaved: the disk copy, which is fine, counts again
    assert lsp.wait_for(main_uri, lambda ds: ds == []) == []
    assert lsp.wait_for(lib_uri, lambda ds: ds == []) == []


def test_an_imported_file_changed_on_disk_is_checked_again_when_the_editor_says_so(lsp, tmp_path):
    lib = tmp_path / "disk_lib.net"
    lib.write_text("blk = conv_bn(32) ->\n", encoding="utf-8")  # broken on disk, never opened
    main_uri = lsp.open(tmp_path / "disk_main.net", 'use "disk_lib.net"\ninput 3x32x32\nblk -> gmp -> fc\n')
    lsp.wait_for(main_uri, lambda ds: len(ds) == 1)
    lib.write_text("blk = conv_bn(32)\n", encoding="utf-8")  # fixed in another program
    changed = t.FileEvent(from_fs_path(str(lib)), t.FileChangeType.Changed)
    lsp.client.workspace_did_change_watched_files(t.DidChangeWatchedFilesParams([changed]))
    assert lsp.wait_for(main_uri, lambda ds: ds == []) == []
    lsp.close(main_uri)


def test_closing_a_document_clears_its_diagnostics(lsp, tmp_path):
    uri = lsp.open(tmp_path / "closing.net", "input 3x32x32\nprep -> nope\n")
    lsp.wait_for(uri, lambda ds: len(ds) == 1)
    lsp.close(uri)
    assert lsp.wait_for(uri, lambda ds: ds == []) == []


def test_hostile_documents_never_stop_the_server(lsp, tmp_path):
    hostile = {
        "empty.net": "",
        "junk.net": "\x00\x01\xff\ufffd\x7f" * 200,
        "number.net": "input 3x32x32\nconv(" + "9" * 5000 + ")\n",
        "deep.net": "input 3x32x32\n" + "[" * 5000 + "relu" + "]" * 5000 + "\n",
        "surrogate.net": "input 3x32x32\nrelu # \ud800\n",
        "huge.net": "input 3x32x32\n" + "relu -> " * 200_000 + "relu\n",
    }
    uris = [lsp.open(tmp_path / name, text) for name, text in hostile.items()]
    for uri in uris:
        lsp.wait_for(uri, lambda ds: True)
    assert lsp.diagnostics[uris[1]] and "NUL" in lsp.diagnostics[uris[1]][0].message
    assert lsp.diagnostics[uris[2]] and "out of range" in lsp.diagnostics[uris[2]][0].message
    assert lsp.diagnostics[uris[3]]  # nesting beyond the parser's bound: refused, located
    for uri in uris:
        lsp.hover(uri, 0, 0)  # answered (a hover or None), not an error response
        lsp.close(uri)
    # still serving: a fresh document is checked
    uri = lsp.open(tmp_path / "after.net", "input 3x32x32\nprep -> nope\n")
    assert len(lsp.wait_for(uri, lambda ds: len(ds) == 1)) == 1


def test_requests_are_answered_while_a_check_is_pending(lsp, tmp_path):
    text = RESNET.read_text(encoding="utf-8")
    uri = lsp.open(tmp_path / "pending.net", text)
    lsp.wait_for(uri, lambda ds: ds == [])
    before = lsp.publishes
    lsp.change(uri, text.replace("layer2", "layer2(64)"), 2)  # a check is now debounced
    h = lsp.hover(uri, *_pos(text, "layer1(res)", 2))  # answered from the last analysis
    assert h is not None and "128×16×16" in h.contents.value
    lsp.wait_for(uri, lambda ds: len(ds) == 1)
    assert lsp.publishes > before


def test_formatting_and_inlay_hints_over_stdio(lsp, tmp_path):
    fmt = pytest.importorskip("dsl.fmt")
    if not hasattr(fmt, "format_text"):
        pytest.skip("dsl.fmt.format_text is not there yet")
    text = "input   3x32x32\nprep->layer1 ->  gmp->fc\n"
    uri = lsp.open(tmp_path / "layout.net", text)
    lsp.wait_for(uri, lambda ds: ds == [])
    doc = t.TextDocumentIdentifier(uri)
    edits = lsp.run(
        lsp.client.text_document_formatting_async(t.DocumentFormattingParams(doc, t.FormattingOptions(2, True)))
    )
    (edit,) = edits
    assert edit.new_text == fmt.format_text(text, str(tmp_path / "layout.net")) != text
    whole = t.Range(t.Position(0, 0), t.Position(2, 0))
    hints = lsp.run(lsp.client.text_document_inlay_hint_async(t.InlayHintParams(doc, whole)))
    assert [(h.position.line, h.position.character, h.label) for h in hints] == [
        (1, 4, "64×32×32"),
        (1, 12, "128×16×16"),
        (1, 20, "128"),
        (1, 24, "10"),
    ]


def test_netc_lsp_does_not_import_torch():
    code = (
        "import sys\n"
        "from dsl.commands.lsp import command\n"
        "from dsl.lsp.server import make_server\n"
        "from dsl.lsp.analysis import analyze\n"
        "from dsl.lsp.hover import hover\n"
        "make_server()\n"
        f"a = analyze(open({str(RESNET)!r}).read(), {str(RESNET)!r})\n"
        "assert a.graph is not None and hover(a, (5, 9))\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# ------------------------------------------------------------------ the analysis library
def _analyze(tmp_path: Path, text: str, name: str = "doc.net", **files: str):
    for f, body in files.items():
        (tmp_path / f).write_text(body, encoding="utf-8")
    return analyze(text, str(tmp_path / name))


def test_notes_become_related_information(tmp_path):
    text = "input 3x32x32\nblk = relu\nblk = gelu\nprep -> blk -> gmp -> fc\n"
    a = _analyze(tmp_path, text)
    (d,) = a.diagnostics[a.path]
    assert d.range.start == _pos(text, "blk = gelu") and "defined twice" in d.message
    (r,) = d.related
    assert r.path == a.path and r.range.start == _pos(text, "blk = relu") and r.message == "first definition"
    # a note in the prelude points there
    b = _analyze(tmp_path, "input 3x32x32\nprep -> layer2(64) -> gmp -> fc\n")
    (d,) = b.diagnostics[b.path]
    assert d.related[0].path == str(PRELUDE) and "defined here" in d.related[0].message


def test_independent_mistakes_are_all_reported(tmp_path):
    text = "input 3x32x32\nprep -> gmp -> fc\ntrain {\n  epochs = -1\n  flop = true\n  lr = 0.1\n}\n"
    a = _analyze(tmp_path, text)
    ds = a.diagnostics[a.path]
    assert [d.range.start for d in ds] == [_pos(text, "epochs"), _pos(text, "flop"), _pos(text, "lr")]
    assert "did you mean 'flip'" in ds[1].message
    assert a.graph is not None  # the network itself still checked: hover keeps its shapes


def test_non_ascii_text_maps_to_utf16_columns(tmp_path):
    text = 'input 3x32x32\nblk "Größe 🚀 ü" = conv_bn(32) -> nope\nprep -> blk -> gmp -> fc\n'
    a = _analyze(tmp_path, text)
    (d,) = a.diagnostics[a.path]
    line, col = _pos(text, "nope")
    assert d.range.start == (line, col) and d.range.end == (line, col + 4)
    assert col == text.split("\n")[1].index("nope") + 1  # the emoji is two UTF-16 units
    lines = Lines(text, "utf-8")
    assert lines.to_units(2, text.split("\n")[1].index("nope") + 1)[1] == text.split("\n")[1].encode().index(b"nope")
    crlf = text.replace("\n", "\r\n")  # Windows line ends (and old Mac ones) count one line each
    assert analyze(crlf, a.path).diagnostics[a.path][0].range == d.range
    assert analyze(text.replace("\n", "\r"), a.path).diagnostics[a.path][0].range == d.range
    for enc in ("utf-8", "utf-16", "utf-32"):
        ls = Lines(text, enc)
        for ch in range(len(text.split("\n")[1]) + 1):
            assert ls.to_chars(1, ls.to_units(2, ch + 1)[1]) == ch


def test_hover_on_an_op_shows_shape_params_and_macs_for_each_use(tmp_path):
    text = "input 3x32x32\n# two convs\nblk(c) = conv(c) -> relu\nblk(16) -> blk(32) -> gmp -> fc\n"
    a = _analyze(tmp_path, text)
    got = hover(a, _pos(text, "conv(c)", 1))
    assert got is not None
    body, rng = got
    assert rng.start == _pos(text, "conv(c)")
    assert "`blk_1/conv`: output **16×32×32**, 448 params, 442,368 MACs" in body
    assert "`blk_2/conv`: output **32×32×32**, 4,640 params, 4,718,592 MACs" in body
    assert "conv(c=auto, k=3" in body  # its signature
    body, _ = hover(a, _pos(text, "blk(c)"))
    assert "two convs" in body and "2 uses" in body  # the definition's comment, each use's shape
    body, _ = hover(a, _pos(text, "blk(32)"))
    assert "`blk_2` (c=32): output **32×32×32**" in body


def test_hover_on_a_choice_lists_its_variants(tmp_path):
    text = "input 3x32x32\nprep -> (relu | gelu) -> gmp -> fc\n"
    a = _analyze(tmp_path, text)
    body, _ = hover(a, _pos(text, " | ", 1))
    assert "2 options" in body and "2 variants" in body and "relu" in body and "gelu" in body


def test_symbols_list_definitions_network_and_train(tmp_path):
    text = 'use "lib.net"\ninput 3x32x32\nblk(c=8) "B" = conv_bn(c)\nprep -> blk -> gmp -> fc\ntrain { epochs = 2 }\n'
    a = _analyze(tmp_path, text, **{"lib.net": "other = relu\n"})
    got = [(s.name, s.kind) for s in symbols(a)]
    assert got == [
        ("lib.net", "file"),
        ("input", "constant"),
        ("blk(c)", "function"),
        ("network", "network"),
        ("train", "section"),
    ]
    assert symbols(a)[-1].children[0].name == "epochs"


def test_completion_of_parameters_with_defaults_and_of_settings(tmp_path):
    checked = "input 3x32x32\nblk(c, k=3) = conv(c, k)\nprep -> blk(8) -> gmp -> fc\n"
    a = _analyze(tmp_path, checked)  # what the server keeps: the last text that parsed
    typing = checked + "x = conv_bn(64, ) -> blk(8, \ntrain {\n  ep\n}\n"  # mid-edit, does not parse

    def at(needle: str, offset: int, text: str = typing) -> dict[str, str]:
        return {i.label: i.detail for i in completions(a, text, text.index(needle) + offset)}

    inside_def = at("conv_bn(64, )", len("conv_bn(64, "))
    assert inside_def["c="] == "default auto" and inside_def["k="] == "default 3"
    assert "conv" in inside_def and "blk" in inside_def  # blocks and values can be arguments too
    inside_user = at("blk(8, ", len("blk(8, "))
    assert inside_user["c="] == "required" and inside_user["k="] == "default 3"
    inside_op = at("conv(", 5, "conv(")
    assert inside_op["stride="].endswith("default 1") and "bias=" in inside_op
    settings = at("  ep", 4)
    assert settings["epochs"] == "default 24" and "lr" in settings and "conv" not in settings
    after_equals = at("k=3)", 2, checked)  # a value position: names, no parameter names
    assert "conv" in after_equals and "c=" not in after_equals
    assert context("train { epochs = 2", 18).at_name is False
    # a text that does not parse at all still completes the prelude's definitions
    broken = analyze("prep -> (", str(tmp_path / "broken.net"))
    assert "conv_bn" in {i.label for i in completions(broken, "prep -> (con", 12)}


def test_inlay_hints_show_each_blocks_output_shape(tmp_path):
    text = RESNET.read_text(encoding="utf-8")
    a = analyze(text, str(RESNET))
    hints = {h.label.strip() for h in inlay_hints(a)}
    assert {"64×32×32", "128×16×16", "256×8×8", "512×4×4", "512", "10"} <= hints


def test_a_library_file_without_a_network_is_not_an_error(tmp_path):
    a = _analyze(tmp_path, "# helpers\nblk(c) = conv_bn(c) -> relu\n", name="lib.net")
    assert a.ok and index_of(a).definition(_pos("# helpers\nblk(c) = conv_bn(c) -> relu\n", "conv_bn"))


def test_definition_of_a_parameter_and_of_an_import(tmp_path):
    text = 'use "lib.net"\ninput 3x32x32\nblk(width) = conv(width)\nprep -> blk(8) -> other -> gmp -> fc\n'
    a = _analyze(tmp_path, text, **{"lib.net": "# lib\nother = relu\n"})
    assert a.ok
    path, rng = index_of(a).definition(_pos(text, "conv(width)", 5))
    assert path == a.path and rng.start == _pos(text, "width)")
    path, rng = index_of(a).definition(_pos(text, "other ->"))
    assert path == str(tmp_path / "lib.net") and rng.start == (1, 0)
    assert "lib" in hover(a, _pos(text, "other ->"))[0]


# ------------------------------------------------------------------ work per document, cancelled when stale
def _big(n: int = 6_000) -> str:
    """A valid network whose check takes seconds (a long chain of definitions)."""
    lines = ["input 3x32x32", "b0 = relu"]
    lines += [f"b{i} = b{i - 1} -> relu" for i in range(1, n)]
    lines.append(f"conv(8) -> b{n - 1} -> gmp -> linear(2)")
    return "\n".join(lines) + "\n"


def test_a_small_file_is_not_queued_behind_a_big_one(lsp, tmp_path):
    order = []
    big = lsp.open(tmp_path / "big.net", _big())
    small = lsp.open(tmp_path / "small.net", "input 3x32x32\nprep -> nope\n")

    async def first_done() -> str:
        while True:
            for uri in (small, big):
                if uri in lsp.diagnostics and uri not in order:
                    order.append(uri)
            if small in order:
                return order[0]
            await asyncio.sleep(0.005)

    assert lsp.run(first_done()) == small  # the small file's error came first
    lsp.wait_for(big, lambda ds: True)
    lsp.close(big)
    lsp.close(small)


def test_a_stale_check_is_cancelled_and_never_published(lsp, tmp_path):
    uri = lsp.open(tmp_path / "stale.net", _big())  # its check starts after the debounce
    lsp.change(uri, "input 3x32x32\nprep -> nope2\n", 2)  # replaces the text: the long check is stale
    ds = lsp.wait_for(uri, lambda ds: len(ds) == 1)
    assert "nope2" in ds[0].message
    before = lsp.publishes

    async def settle() -> None:
        await asyncio.sleep(1.0)

    lsp.run(settle())
    assert lsp.diagnostics[uri] == ds  # no late result of the long check replaced it
    assert lsp.publishes == before
    lsp.close(uri)


def test_formatting_is_answered_off_the_event_loop(lsp, tmp_path):
    """A format request on a big file does not hold up a hover on another file."""
    big_text = (
        "input   3x32x32\n" + "".join(f"b{i} = conv_bn(64)->relu   # {i}\n" for i in range(1500)) + "prep->gmp->fc\n"
    )
    big = lsp.open(tmp_path / "bigfmt.net", big_text)
    small = lsp.open(tmp_path / "hover.net", RESNET.read_text(encoding="utf-8"))
    lsp.wait_for(small, lambda ds: ds == [])
    done = []

    async def both() -> None:
        doc = t.TextDocumentIdentifier(big)
        fmt = asyncio.ensure_future(
            lsp.client.text_document_formatting_async(t.DocumentFormattingParams(doc, t.FormattingOptions(4, True)))
        )
        fmt.add_done_callback(lambda _: done.append("format"))
        await asyncio.sleep(0.05)
        text = RESNET.read_text(encoding="utf-8")
        h = await lsp.client.text_document_hover_async(
            t.HoverParams(t.TextDocumentIdentifier(small), t.Position(*_pos(text, "layer1(res)", 2)))
        )
        done.append("hover" if h is not None else "no hover")
        edits = await fmt
        assert edits and edits[0].new_text.startswith("input 3x32x32\n")

    lsp.run(both())
    assert done[0] == "hover", done
    lsp.close(big)
    lsp.close(small)


# ------------------------------------------------------------------ protocol hygiene and stale positions
@pytest.mark.parametrize(
    "body",
    [
        b'{"garbage}',
        b"[1,2",
        b'{"jsonrpc":"2.0","id":1,"method":"textDocument/hover","params":{"x":1}}',
        b'{"jsonrpc":"2.0","id":1,"method":"nonexistent/thing","params":{}}',
    ],
    ids=["unterminated", "truncated", "bad-params", "unknown-method"],
)
def test_malformed_json_rpc_is_said_in_one_line_not_a_traceback(body):
    message = b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    r = subprocess.run([NETC, "lsp"], input=message, capture_output=True, timeout=WAIT_S)
    err = r.stderr.decode()
    assert "Traceback" not in err and 'File "' not in err, err
    assert all(line.startswith("netc lsp: ") for line in err.splitlines()), err


@pytest.mark.parametrize("shutdown", [True, False])
def test_exit_without_shutdown_ends_with_status_1(shutdown):
    def msg(obj: str) -> bytes:
        return b"Content-Length: %d\r\n\r\n%s" % (len(obj), obj.encode())

    init = '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{}}}'
    stream = msg(init) + (msg('{"jsonrpc":"2.0","id":2,"method":"shutdown"}') if shutdown else b"")
    stream += msg('{"jsonrpc":"2.0","method":"exit"}')
    r = subprocess.run([NETC, "lsp"], input=stream, capture_output=True, timeout=WAIT_S)
    assert r.returncode == (0 if shutdown else 1), r.stderr.decode()


def test_hover_after_an_edit_that_breaks_parsing_answers_only_where_the_text_is_unchanged(lsp, tmp_path):
    text = RESNET.read_text(encoding="utf-8")
    uri = lsp.open(tmp_path / "broken.net", text)
    lsp.wait_for(uri, lambda ds: ds == [])
    line, col = _pos(text, "layer1(res)", 2)
    broken = text.replace("prep -> layer1(res)", "prep -> ((( -> layer1(res)")  # before layer1: it moves
    lsp.change(uri, broken, 2)
    lsp.wait_for(uri, lambda ds: len(ds) >= 1)
    assert lsp.hover(uri, line, col) is None  # the old analysis's `layer1` is no longer at this position
    top = lsp.hover(uri, *_pos(broken, "input", 1))  # before the edit: unchanged, still answered
    assert top is None or "input" in top.contents.value
    lsp.close(uri)


def test_a_misspelt_name_in_an_unused_definition_is_a_warning(lsp, tmp_path):
    text = "input 3x32x32\nblk = conv_bn(64) -> layr1 -> relu\nprep -> gmp -> fc\n"
    uri = lsp.open(tmp_path / "unused.net", text)
    (d,) = lsp.wait_for(uri, lambda ds: len(ds) == 1)
    assert d.severity == t.DiagnosticSeverity.Warning
    assert "unknown name 'layr1' in 'blk'" in d.message and "did you mean 'layer1'" in d.message
    assert (d.range.start.line, d.range.start.character) == (1, 21)
    lsp.close(uri)


def test_messages_never_say_a_a(tmp_path):
    from dsl.lsp.analysis import analyze

    (tmp_path / "lib.net").mkdir()  # `use`d, but a folder
    a = analyze('use "lib.net"\nrelu\n', str(tmp_path / "x.net"), {}, "utf-16")
    messages = [d.message for ds in a.diagnostics.values() for d in ds]
    assert any("is a folder, not a .net file" in m for m in messages), messages
    assert not any("a a " in m for m in messages)


def test_a_network_that_doubles_at_every_level_gets_its_error_and_blocks_no_other_document(lsp, tmp_path):
    lines = ["input 3x8x8", "x0 = conv(4)"] + [f"x{i} = add(x{i - 1}, x{i - 1})" for i in range(1, 37)]
    doubling = lsp.open(tmp_path / "doubling.net", "\n".join(lines) + "\nnet = x36 -> gmp -> fc\n")
    small = lsp.open(tmp_path / "beside.net", "input 3x32x32\nprep -> nope3\n")
    assert "nope3" in lsp.wait_for(small, lambda ds: len(ds) == 1)[0].message
    (d,) = lsp.wait_for(doubling, lambda ds: len(ds) == 1)
    assert "expands to more than" in d.message and d.range.start.line == 38
    lsp.close(doubling)
    lsp.close(small)


def test_hover_on_a_choice_shows_each_options_shape_params_and_macs(tmp_path):
    text = "input 3x32x32\nprep -> conv(16 | 32) -> (maxpool | conv(8, stride=2)?) -> gap -> fc\n"
    a = _analyze(tmp_path, text)
    body, _ = hover(a, _pos(text, " | ", 1))
    # conv(16) on 64 channels at 32x32: 64*16*9 weights and 16 biases; 9,216 MACs per position
    assert "- `16` → 16×32×32, 9,232 params, 9,437,184 MACs (its op)" in body, body
    assert "- `32` → 32×32×32, 18,464 params, 18,874,368 MACs (its op)" in body, body
    body, _ = hover(a, _pos(text, "| conv(8"))
    assert "- `maxpool` → 16×16×16, 0 params, 0 MACs" in body, body
    assert "- `conv(8, stride=2)?` → 8×16×16, 1,160 params, 294,912 MACs" in body and "3 options" not in body, body


def test_hover_on_a_large_range_shows_spaced_values_and_the_count(tmp_path):
    text = "input 3x32x32\nprep -> conv(8..4096 step 8) -> gmp -> fc\n"
    a = _analyze(tmp_path, text)
    body, _ = hover(a, _pos(text, ".."))
    assert "512 options" in body and "- `8` → 8×32×32" in body and "- `4096` → 4096×32×32" in body, body
    assert "(12 of its 512 values shown)" in body and "512 variants in the space" in body
