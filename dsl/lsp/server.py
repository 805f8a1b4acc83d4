"""The pygls adapter: LSP messages <-> `analysis`, `hover`, `index`, `outline`, `complete`.

Checks run on worker threads, debounced after edits, each document on its own (a small file is
never queued behind a big one); a newer edit cancels the pending check and stops a running one
at its next checkpoint (`dsl.front.deep.cancellable`), so the event loop keeps answering requests.
Formatting runs off the event loop too, on a thread of its own: each finished check formats the
same text in the background, so that format-on-save is answered at once from it. A check that
fails inside netc is logged and the last good results are kept; diagnostics are kept per
document and per file they point at, so an error found while checking one document never hides
or overwrites another document's. Features that read positions (hover, definition) answer from
an older analysis only where the text before the position is unchanged since.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from typing import Any, TypeVar

from lsprotocol import types as t
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from dsl.front.deep import Cancelled, cancellable
from dsl.front.loader import STRING_FILE
from dsl.lsp.analysis import Analysis, Diagnostic, analyze
from dsl.lsp.complete import completions
from dsl.lsp.hover import hover
from dsl.lsp.index import block_stats, index_of
from dsl.lsp.outline import Symbol, inlay_hints, symbols
from dsl.lsp.positions import Lines, Range

R = TypeVar("R")
DEBOUNCE_S = 0.2  # quiet time after an edit before the check starts
CHECK_WORKERS = 4  # documents checked at the same time (beyond, a check waits for a free thread)
PREFORMAT_MAX = 4 << 20  # characters: a larger document is formatted only when asked
log = logging.getLogger("netc.lsp")

_SYMBOL_KINDS = {
    "file": t.SymbolKind.File,
    "constant": t.SymbolKind.Constant,
    "function": t.SymbolKind.Function,
    "network": t.SymbolKind.Module,
    "section": t.SymbolKind.Struct,
    "setting": t.SymbolKind.Property,
}
_COMPLETION_KINDS = {
    "op": t.CompletionItemKind.Function,
    "definition": t.CompletionItemKind.Class,
    "parameter": t.CompletionItemKind.Property,
    "setting": t.CompletionItemKind.Field,
    "keyword": t.CompletionItemKind.Keyword,
}


def _range(r: Range) -> t.Range:
    return t.Range(t.Position(*r.start), t.Position(*r.end))


def _version() -> str:
    try:
        return metadata.version("netc")
    except metadata.PackageNotFoundError:
        return "0"


class NetcServer(LanguageServer):
    """`netc lsp`: diagnostics, hover, definition, symbols, completion and inlay hints for .net files."""

    def __init__(self) -> None:
        super().__init__("netc", _version(), text_document_sync_kind=t.TextDocumentSyncKind.Incremental)
        self.latest: dict[str, Analysis] = {}  # uri -> the newest analysis of that document
        self.parsed: dict[str, Analysis] = {}  # uri -> the newest analysis whose text parsed
        self.shown: dict[str, dict[str, list[Diagnostic]]] = {}  # target uri -> {document uri: its diagnostics}
        self.pending: dict[str, asyncio.Task[None]] = {}
        self.running: dict[str, threading.Event] = {}  # uri -> the cancel flag of its check in flight
        self.worker = ThreadPoolExecutor(max_workers=CHECK_WORKERS, thread_name_prefix="netc-check")
        self.formatter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="netc-format")
        self.formatted: dict[str, tuple[str, str | None]] = {}  # uri -> (text, its formatting; None: it did not parse)
        self.shutdown_requested = False
        self.exit_requested = False

    # ------------------------------------------------------------ documents
    def path_of(self, uri: str) -> str:
        """A document's file path, or `<string>` for a buffer that is not a file."""
        path = to_fs_path(uri) if uri.startswith("file:") else None
        return os.path.abspath(path) if path else STRING_FILE

    def uri_of(self, path: str, doc_uri: str) -> str:
        """The URI of a file an analysis names (an open document keeps its own spelling)."""
        if path == STRING_FILE:
            return doc_uri
        for uri in self.workspace.text_documents:
            if uri.startswith("file:") and self.path_of(uri) == path:
                return uri
        return from_fs_path(path) or path

    def encoding(self) -> str:
        """The position encoding agreed with the client (`utf-16` unless it asked otherwise)."""
        enc = self.server_capabilities.position_encoding
        return str(getattr(enc, "value", enc) or "utf-16")

    def schedule(self, uri: str, delay: float) -> None:
        """(Re)start the check of one open document after `delay` seconds of quiet; a check of it
        still running is cancelled (its result would be stale)."""
        old = self.pending.pop(uri, None)
        if old is not None:
            old.cancel()
        running = self.running.pop(uri, None)
        if running is not None:
            running.set()
        self.pending[uri] = asyncio.get_running_loop().create_task(self._check(uri, delay))

    def dependents(self, uri: str) -> list[str]:
        """The other open documents whose last check read this document's file."""
        path = self.path_of(uri)
        return [u for u, a in self.latest.items() if u != uri and path in a.files]

    def affected(self, paths: set[str]) -> list[str]:
        """The open documents to check again after files at `paths` changed on disk: those whose last
        check read one of them, and those with errors (a missing `use`d file may now be there). An
        open document's own text wins over the disk, so it is not rechecked for its own file."""
        return [u for u, a in self.latest.items() if (paths & set(a.files)) - {self.path_of(u)} or not a.ok]

    async def _check(self, uri: str, delay: float) -> None:
        await asyncio.sleep(delay)
        try:
            doc = self.workspace.get_text_document(uri)
        except Exception:  # closed meanwhile
            return
        version, text, path = doc.version, doc.source, self.path_of(uri)
        others = {
            self.path_of(u): d.source
            for u, d in self.workspace.text_documents.items()
            if u != uri and u.startswith("file:")
        }
        loop = asyncio.get_running_loop()
        cancel = self.running[uri] = threading.Event()
        try:
            result = await loop.run_in_executor(self.worker, _safe_analyze, text, path, others, self.encoding(), cancel)
        finally:
            if self.running.get(uri) is cancel:
                del self.running[uri]
        if cancel.is_set() or result is _CANCELLED:
            return  # a newer check replaced it
        if uri not in self.workspace.text_documents or self.workspace.get_text_document(uri).version != version:
            return  # edited or closed while checking: a newer check is on its way
        if self.pending.get(uri) is asyncio.current_task():
            del self.pending[uri]
        if not isinstance(result, Analysis):
            self.window_log_message(t.LogMessageParams(t.MessageType.Error, f"netc lsp: checking {uri} failed"))
            return
        self.latest[uri] = result
        if result.module is not None:
            self.parsed[uri] = result
        self.publish(uri, {self.uri_of(p, uri): ds for p, ds in result.diagnostics.items()})
        if result.module is not None and len(text) <= PREFORMAT_MAX and self.formatted.get(uri, ("",))[0] != text:
            loop.run_in_executor(self.formatter, self._preformat, uri, text)

    def _preformat(self, uri: str, text: str) -> None:
        """Format `text` ahead of a request (on the formatter thread), unless the document moved on."""
        try:
            current = self.workspace.get_text_document(uri).source
        except Exception:  # closed meanwhile
            return
        if current == text:
            self.formatted[uri] = (text, _format_or_none(text, self.path_of(uri)))

    async def format_document(self, uri: str) -> str | None:
        """The formatted text of a document (None when it does not parse), off the event loop: from
        the background formatting of this very text when there is one, else computed now."""
        text = self.workspace.get_text_document(uri).source
        done = self.formatted.get(uri)
        if done is not None and done[0] == text:
            return done[1]
        new = await asyncio.get_running_loop().run_in_executor(self.formatter, _format_or_none, text, self.path_of(uri))
        self.formatted[uri] = (text, new)
        return new

    def publish(self, source: str, found: dict[str, list[Diagnostic]]) -> None:
        """Replace what document `source` says about each file, and publish every file it touches."""
        touched = {target for target, by in self.shown.items() if source in by} | set(found) | {source}
        for target in touched:
            by = self.shown.setdefault(target, {})
            by.pop(source, None)
            if found.get(target):
                by[source] = found[target]
            seen: set[tuple[object, str]] = set()
            out: list[t.Diagnostic] = []
            for ds in by.values():
                for d in ds:
                    if (d.range, d.message) not in seen:
                        seen.add((d.range, d.message))
                        out.append(self._diagnostic(d, source))
            self.text_document_publish_diagnostics(t.PublishDiagnosticsParams(uri=target, diagnostics=out))

    def _diagnostic(self, d: Diagnostic, doc_uri: str) -> t.Diagnostic:
        related = [
            t.DiagnosticRelatedInformation(t.Location(self.uri_of(r.path, doc_uri), _range(r.range)), r.message)
            for r in d.related
        ]
        return t.Diagnostic(
            range=_range(d.range),
            message=d.message,
            severity=t.DiagnosticSeverity.Warning if d.severity == "warning" else t.DiagnosticSeverity.Error,
            source="netc",
            related_information=related or None,
        )

    def closed(self, uri: str) -> None:
        """Forget a closed document: its pending check, its results, what it published."""
        task = self.pending.pop(uri, None)
        if task is not None:
            task.cancel()
        running = self.running.pop(uri, None)
        if running is not None:
            running.set()
        self.latest.pop(uri, None)
        self.parsed.pop(uri, None)
        self.formatted.pop(uri, None)
        self.publish(uri, {})

    def analysis(self, uri: str) -> Analysis | None:
        """What features read: the newest analysis whose text parsed (positions may lag an edit)."""
        return self.parsed.get(uri) or self.latest.get(uri)

    def analysis_at(self, uri: str, line: int, character: int) -> Analysis | None:
        """The analysis to answer a question about a position: the newest that parsed, only if the
        document's text up to and a little past the position is still what that analysis read
        (after an edit that breaks parsing, positions after the edit would point at other text)."""
        a = self.analysis(uri)
        if a is None:
            return None
        try:
            text = self.workspace.get_text_document(uri).source
        except Exception:
            return None
        if a.text == text:
            return a
        lines = Lines(text, self.encoding())
        offset = lines.offset(line, character)
        same = len(os.path.commonprefix([a.text, text]))
        # the word under the cursor must lie wholly in the unchanged part
        end = offset
        while end < len(text) and (text[end].isalnum() or text[end] == "_"):
            end += 1
        return a if end < same else None


_CANCELLED = object()  # what a check stopped by a newer one returns


def _safe_analyze(
    text: str, path: str, others: dict[str, str], encoding: str, cancel: threading.Event
) -> Analysis | object | None:
    """`analyze`, stopped when `cancel` is set, with a failure inside netc logged instead of ending
    the server (None)."""
    try:
        with cancellable(cancel):
            result = analyze(text, path, others, encoding)
            index_of(result)  # built here, off the event loop, so that the first hover is quick
            if result.graph is not None:
                block_stats(result, "")
        return result
    except Cancelled:
        return _CANCELLED
    except Exception:  # a bug in netc must not take the editor's server down
        log.error("netc lsp: internal error while checking %s:\n%s", path, traceback.format_exc())
        return None


def _format_or_none(text: str, path: str) -> str | None:
    """`netc fmt`'s layout of `text`; None for a text that does not parse (left as it is)."""
    from dsl.fmt import format_text

    try:
        return format_text(text, path)
    except Exception as err:  # a file that does not parse is left as it is
        log.info("netc lsp: not formatting %s: %s", path, err)
        return None


def _guard(fn: Callable[[NetcServer, Any], R]) -> Callable[[NetcServer, Any], R | None]:
    """A feature handler that answers None instead of failing on a bug (logged)."""

    def wrapped(ls: NetcServer, params: Any) -> R | None:
        try:
            return fn(ls, params)
        except Exception:
            log.error("netc lsp: internal error in %s:\n%s", fn.__name__, traceback.format_exc())
            return None

    wrapped.__name__ = fn.__name__
    return wrapped


def make_server() -> NetcServer:
    """A server with every feature registered."""
    server = NetcServer()

    @server.feature(t.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: NetcServer, params: t.DidOpenTextDocumentParams) -> None:
        ls.schedule(params.text_document.uri, 0)
        for u in ls.dependents(params.text_document.uri):
            ls.schedule(u, DEBOUNCE_S)

    @server.feature(t.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: NetcServer, params: t.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.schedule(uri, DEBOUNCE_S)
        for u in ls.dependents(uri):
            ls.schedule(u, DEBOUNCE_S)

    @server.feature(t.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: NetcServer, params: t.DidSaveTextDocumentParams) -> None:
        for u in ls.dependents(params.text_document.uri):
            ls.schedule(u, 0)

    @server.feature(t.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: NetcServer, params: t.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        deps = ls.dependents(uri)
        ls.closed(uri)
        for u in deps:  # they read the editor's text of this file; now the disk's
            ls.schedule(u, 0)

    @server.feature(t.INITIALIZED)
    def on_initialized(ls: NetcServer, params: t.InitializedParams) -> None:
        # ask the editor to report .net files changed outside it (a `use`d file edited in another
        # program, a git checkout), when it can watch files for a server
        caps = ls.client_capabilities.workspace
        watch = caps.did_change_watched_files if caps else None
        if watch is not None and watch.dynamic_registration:
            options = t.DidChangeWatchedFilesRegistrationOptions([t.FileSystemWatcher(glob_pattern="**/*.net")])
            ls.client_register_capability(
                t.RegistrationParams([t.Registration("netc-watch", t.WORKSPACE_DID_CHANGE_WATCHED_FILES, options)])
            )

    @server.feature(t.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def on_files_changed(ls: NetcServer, params: t.DidChangeWatchedFilesParams) -> None:
        for uri in ls.affected({ls.path_of(c.uri) for c in params.changes}):
            ls.schedule(uri, DEBOUNCE_S)

    @server.feature(t.SHUTDOWN)
    def on_shutdown(ls: NetcServer, params: Any) -> None:
        ls.shutdown_requested = True
        for event in ls.running.values():
            event.set()

    @server.feature(t.EXIT)
    def on_exit(ls: NetcServer, params: Any) -> None:
        ls.exit_requested = True

    @server.feature(t.TEXT_DOCUMENT_HOVER)
    @_guard
    def on_hover(ls: NetcServer, params: t.HoverParams) -> t.Hover | None:
        a = ls.analysis_at(params.text_document.uri, params.position.line, params.position.character)
        got = hover(a, (params.position.line, params.position.character)) if a else None
        if got is None:
            return None
        text, rng = got
        return t.Hover(t.MarkupContent(t.MarkupKind.Markdown, text), _range(rng))

    @server.feature(t.TEXT_DOCUMENT_DEFINITION)
    @_guard
    def on_definition(ls: NetcServer, params: t.DefinitionParams) -> t.Location | None:
        uri = params.text_document.uri
        a = ls.analysis_at(uri, params.position.line, params.position.character)
        got = index_of(a).definition((params.position.line, params.position.character)) if a else None
        if got is None:
            return None
        return t.Location(ls.uri_of(got[0], uri), _range(got[1]))

    @server.feature(t.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    @_guard
    def on_symbols(ls: NetcServer, params: t.DocumentSymbolParams) -> list[t.DocumentSymbol]:
        a = ls.analysis(params.text_document.uri)

        def conv(s: Symbol) -> t.DocumentSymbol:
            return t.DocumentSymbol(
                name=s.name,
                kind=_SYMBOL_KINDS[s.kind],
                range=_range(s.range),
                selection_range=_range(s.selection),
                detail=s.detail or None,
                children=[conv(c) for c in s.children] or None,
            )

        return [conv(s) for s in symbols(a)] if a else []

    @server.feature(t.TEXT_DOCUMENT_COMPLETION, t.CompletionOptions(trigger_characters=["(", ",", "{"]))
    @_guard
    def on_completion(ls: NetcServer, params: t.CompletionParams) -> t.CompletionList:
        uri = params.text_document.uri
        a = ls.analysis(uri)
        if a is None:
            return t.CompletionList(is_incomplete=False, items=[])
        text = ls.workspace.get_text_document(uri).source
        lines = Lines(text, ls.encoding())
        offset = lines.offset(params.position.line, params.position.character)
        items = [
            t.CompletionItem(
                label=i.label,
                kind=_COMPLETION_KINDS[i.kind],
                detail=i.detail or None,
                documentation=t.MarkupContent(t.MarkupKind.Markdown, i.doc) if i.doc else None,
                insert_text=i.insert,
            )
            for i in completions(a, lines.text, offset)
        ]
        return t.CompletionList(is_incomplete=False, items=items)

    @server.feature(t.TEXT_DOCUMENT_INLAY_HINT)
    @_guard
    def on_inlay(ls: NetcServer, params: t.InlayHintParams) -> list[t.InlayHint]:
        a = ls.latest.get(params.text_document.uri)
        r = params.range
        within = Range((r.start.line, r.start.character), (r.end.line, r.end.character))
        return (
            [
                t.InlayHint(t.Position(*h.position), h.label, kind=t.InlayHintKind.Type, padding_left=True)
                for h in inlay_hints(a, within)
            ]
            if a
            else []
        )

    _formatting(server)
    return server


def _formatting(server: NetcServer) -> None:
    """textDocument/formatting through `dsl.fmt.format_text`, off the event loop."""

    @server.feature(t.TEXT_DOCUMENT_FORMATTING)
    async def on_format(ls: NetcServer, params: t.DocumentFormattingParams) -> list[t.TextEdit] | None:
        uri = params.text_document.uri
        try:
            text = ls.workspace.get_text_document(uri).source
            new = await ls.format_document(uri)
        except Exception:
            log.error("netc lsp: internal error in formatting:\n%s", traceback.format_exc())
            return None
        if new is None:
            return None
        if new == text:
            return []
        lines = Lines(text, ls.encoding())
        return [t.TextEdit(t.Range(t.Position(0, 0), t.Position(*lines.end())), new)]
