"""Executed notebook → leadership PDF, offline.

Route (see DESIGN.md, "Leadership PDFs"): nbconvert's HTML exporter with the
``userops_pdf`` template (lab template without CDN scripts, A4 print CSS, CJK
font, no code, no prompts, no stderr) → headless Chromium ``--print-to-pdf``.

Cells tagged ``parameters``, ``injected-parameters`` or ``remove-cell`` are
dropped entirely; stderr output (warnings, logging) is dropped too.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import html as html_lib
import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter
from nbconvert.exporters.templateexporter import TemplateExporter
from nbconvert.filters.highlight import Highlight2HTML
from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter
from nbconvert.preprocessors import Preprocessor
from traitlets.config import Config

TEMPLATES_DIR = Path(__file__).parent / "templates"
TEMPLATE_NAME = "userops_pdf"
REMOVE_CELL_TAGS = {"parameters", "injected-parameters", "remove-cell"}
BROWSER_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_TIMEOUT_S = 180


class ExportError(RuntimeError):
    """The notebook could not be turned into HTML or PDF."""


class _DropNoise(Preprocessor):
    """Remove stderr streams, then code cells left with nothing to show."""

    def preprocess(self, nb, resources):
        kept = []
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs = [
                    o
                    for o in cell.get("outputs", [])
                    if not (o.output_type == "stream" and o.name == "stderr")
                ]
                if not cell.outputs:
                    continue
            kept.append(cell)
        nb.cells = kept
        return nb, resources


# What a report output may contain once rendered: text structure, tables and the inline styles of
# our own tiles and pandas Stylers. Anything else (img, script, iframe, svg, event handlers, links
# to javascript:) is shown as literal text: markup injected by data values never renders.
SAFE_TAGS = frozenset(
    [
        "a",
        "abbr",
        "b",
        "blockquote",
        "br",
        "caption",
        "code",
        "col",
        "colgroup",
        "del",
        "div",
        "em",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "i",
        "li",
        "ol",
        "p",
        "pre",
        "small",
        "span",
        "strong",
        "style",
        "sub",
        "sup",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "u",
        "ul",
    ]
)
SAFE_ATTRIBUTES = {"*": ["class", "id", "style", "colspan", "rowspan", "align", "title"], "a": ["href"]}
SAFE_CSS = [
    "align-items",
    "background",
    "background-color",
    "border",
    "border-bottom",
    "border-collapse",
    "border-left",
    "border-radius",
    "border-right",
    "border-top",
    "color",
    "display",
    "font-family",
    "font-size",
    "font-style",
    "font-weight",
    "gap",
    "grid-template-columns",
    "height",
    "line-height",
    "margin",
    "margin-bottom",
    "margin-left",
    "margin-right",
    "margin-top",
    "max-width",
    "min-width",
    "padding",
    "padding-bottom",
    "padding-left",
    "padding-right",
    "padding-top",
    "text-align",
    "vertical-align",
    "white-space",
    "width",
]


class _SanitizeOutputs(Preprocessor):
    """Render markdown outputs to HTML, then clean every HTML output with an allowlist.

    Data values (channel names, store names, messages) reach the report through markdown and
    tables; a value holding markup must read as text in the PDF, never run or render.
    """

    def preprocess(self, nb, resources):
        import bleach
        from bleach.css_sanitizer import CSSSanitizer
        from nbconvert.filters.markdown_mistune import markdown2html_mistune

        css = CSSSanitizer(allowed_css_properties=SAFE_CSS)

        def clean(html_text: str) -> str:
            return bleach.clean(
                html_text,
                tags=SAFE_TAGS,
                attributes=SAFE_ATTRIBUTES,
                protocols={"http", "https", "mailto"},
                css_sanitizer=css,
                strip=False,
                strip_comments=True,
            )

        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            for out in cell.get("outputs", []):
                data = out.get("data")
                if not data:
                    continue
                if "text/markdown" in data:
                    data["text/html"] = clean(markdown2html_mistune(_text(data.pop("text/markdown"))))
                elif "text/html" in data:
                    data["text/html"] = clean(_text(data["text/html"]))
                for key in [k for k in data if "javascript" in k or k.startswith("application/vnd")]:
                    del data[key]
        return nb, resources


SUMMARY_TAG = "summary"
PAGE_BREAK = '<div style="break-after: page; page-break-after: always;"></div>'


class _SummaryFirst(Preprocessor):
    """Move cells tagged ``summary`` (a play's one-page summary) to the front of the PDF.

    The analyst's notebook keeps its summary at the end, where its numbers are computed; the reader
    of the PDF gets it first, right after the notebook's title cell, then a page break.
    """

    def preprocess(self, nb, resources):
        summary = [c for c in nb.cells if SUMMARY_TAG in c.get("metadata", {}).get("tags", [])]
        if not summary:
            return nb, resources
        rest = [c for c in nb.cells if c not in summary]
        head = 1 if rest and _is_title(rest[0]) else 0
        brk = nbformat.v4.new_markdown_cell(PAGE_BREAK)
        nb.cells = rest[:head] + summary + [brk] + rest[head:]
        return nb, resources


def _is_title(cell) -> bool:
    """A markdown cell, or a code cell whose first output is a level-1 heading (a play that prints its
    title in the report language): the summary goes right after it."""
    if cell.cell_type == "markdown":
        return True
    outs = cell.get("outputs", [])
    data = outs[0].get("data", {}) if outs else {}
    return _text(data.get("text/markdown", "")).lstrip().startswith("# ")


def _text(value) -> str:
    return value if isinstance(value, str) else "".join(value)


class _PrintExporter(HTMLExporter):
    """nbconvert's HTML exporter without its final accessibility pass (alt text and keyboard focus
    for a page read in a browser): that pass parses the whole page again with BeautifulSoup, charts
    included, about 40% of the export's time, and changes nothing a printed page shows."""

    def from_notebook_node(self, nb, resources=None, **kw):
        langinfo = nb.metadata.get("language_info", {})
        lexer = langinfo.get("pygments_lexer", langinfo.get("name", None))
        self.register_filter(
            "highlight_code",
            self.filters.get("highlight_code", Highlight2HTML(pygments_lexer=lexer, parent=self)),
        )
        resources = self._init_resources(resources)
        self.register_filter(
            "filter_data_type",
            WidgetsDataTypeFilter(notebook_metadata=self._nb_metadata, parent=self, resources=resources),
        )
        body, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
        # markdown cells come out with their non-ASCII text as character references (&#25289;);
        # the characters themselves, as BeautifulSoup's pass left them (never <, >, &, quotes: < 128)
        return re.sub(r"&#(\d{3,7});", _non_ascii_char, body), resources


def _non_ascii_char(m: re.Match) -> str:
    """A character reference of a non-ASCII character as the character (markup-free: >= 128)."""
    n = int(m.group(1))
    return chr(n) if 128 <= n <= 0x10FFFF and not 0xD800 <= n <= 0xDFFF else m.group(0)


_EXPORTERS = threading.local()  # one per thread: its compiled templates serve every later PDF


def _exporter() -> HTMLExporter:
    cached = getattr(_EXPORTERS, "exporter", None)
    if cached is not None:
        return cached
    c = Config()
    c.HTMLExporter.extra_template_basedirs = [str(TEMPLATES_DIR)]
    c.HTMLExporter.template_name = TEMPLATE_NAME
    c.HTMLExporter.theme = "light"
    c.HTMLExporter.exclude_input = True
    c.HTMLExporter.exclude_input_prompt = True
    c.HTMLExporter.exclude_output_prompt = True
    c.HTMLExporter.embed_images = True
    c.TagRemovePreprocessor.enabled = True
    c.TagRemovePreprocessor.remove_cell_tags = set(REMOVE_CELL_TAGS)
    exporter = _PrintExporter(config=c)
    exporter.register_preprocessor(_SummaryFirst(), enabled=True)
    exporter.register_preprocessor(_DropNoise(), enabled=True)
    exporter.register_preprocessor(_SanitizeOutputs(), enabled=True)
    _EXPORTERS.exporter = exporter
    return exporter


def _atomic_write(target: Path, write) -> Path:
    """Call ``write(tmp_path)`` for a temp file beside ``target``, then rename it into place."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}-", suffix=target.suffix + ".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)
    return target


@dataclass(frozen=True)
class Cover:
    """The cover page of a combined PDF (the monthly brief leadership reads)."""

    chain_name: str
    title: str  # e.g. "月度用户运营简报 · Monthly user-operations brief"
    month_label: str  # e.g. "October 2026 (2026-10)"
    run_date: str  # ISO date of the run
    notes: list[str] = field(default_factory=list)  # lines under the title (data as of, ...)
    contents: list[str] = field(default_factory=list)  # "In this pack" items
    # the cover's own words in the report language: {"run_date": "运行日期 2026-11-02", "contents": "本期内容"}
    labels: dict[str, str] = field(default_factory=dict)


COVER_CSS = """
@page :first { @bottom-center { content: none; } }
.uo-cover { break-after: page; page-break-after: always; height: 262mm; box-sizing: border-box;
  display: flex; flex-direction: column; justify-content: space-between; padding: 22mm 14mm 6mm 14mm;
  border-top: 3mm solid #3E6D8E; font-family: "Noto Sans CJK SC", "Noto Sans", sans-serif; color: #222; }
.uo-cover .uo-chain { font-size: 15pt; color: #3E6D8E; font-weight: 700; letter-spacing: 0.08em; }
.uo-cover h1 { font-size: 28pt; margin: 0 0 5mm 0; line-height: 1.25; border: none; }
.uo-cover .uo-month { font-size: 18pt; font-weight: 600; margin-bottom: 4mm; }
.uo-cover .uo-note { font-size: 10.5pt; color: #555; margin: 1mm 0; }
.uo-cover .uo-contents { border-top: 0.4mm solid #B8BEC6; padding-top: 4mm; }
.uo-cover h2 { font-size: 12pt; margin: 0 0 2mm 0; color: #3E6D8E; }
.uo-cover ul { font-size: 10.5pt; margin: 0; padding-left: 5mm; }
.uo-cover li { margin: 1.2mm 0; }
"""


def cover_html(cover: Cover) -> str:
    """The cover as an HTML fragment: a full A4 page without page number, the chain's name at the top,
    the title, month and notes in the middle and the contents at the foot (the page reads as full)."""
    e = html_lib.escape
    run_date = cover.labels.get("run_date", f"Run date {cover.run_date}")
    notes = "".join(f'<div class="uo-note">{e(n)}</div>' for n in [run_date, *cover.notes])
    items = "".join(f"<li>{e(c)}</li>" for c in cover.contents)
    heading = cover.labels.get("contents", "In this pack")
    contents = (
        f'<div class="uo-contents"><h2>{e(heading)}</h2><ul>{items}</ul></div>' if items else "<div></div>"
    )
    return (
        f"<style>{COVER_CSS}</style>"
        f'<section class="uo-cover"><div class="uo-chain">{e(cover.chain_name)}</div>'
        f'<div><h1>{e(cover.title)}</h1><div class="uo-month">{e(cover.month_label)}</div>{notes}</div>'
        f"{contents}</section>"
    )


def _with_cover(body: str, cover: Cover) -> str:
    """Insert the cover right after the opening <body> tag."""
    m = re.search(r"<body[^>]*>", body)
    if not m:
        raise ExportError("HTML export has no <body> tag to put a cover in")
    return body[: m.end()] + cover_html(cover) + body[m.end() :]


def render_html(ipynb: Path, title: str | None = None, cover: Cover | None = None) -> str:
    """The print-ready HTML of an executed notebook, as a string (no code, no CDN scripts).

    With ``cover``, a cover page (without page number) comes first.
    """
    ipynb = Path(ipynb)
    nb = nbformat.read(ipynb, as_version=4)
    name = title or ipynb.stem
    nb.metadata["title"] = name
    resources = {"metadata": {"name": name, "path": str(ipynb.parent.resolve())}}
    try:
        body, _ = _exporter().from_notebook_node(nb, resources=resources)
    except Exception as exc:
        raise ExportError(f"{ipynb.name}: HTML export failed: {type(exc).__name__}: {exc}") from exc
    return _with_cover(body, cover) if cover else body


def notebook_to_html(ipynb: Path, html: Path, title: str | None = None, cover: Cover | None = None) -> Path:
    """Write the print-ready HTML of ``ipynb`` to ``html`` (atomically). Returns ``html``."""
    body = render_html(ipynb, title=title, cover=cover)
    return _atomic_write(Path(html), lambda p: p.write_text(body, encoding="utf-8"))


def find_browser() -> str:
    """Path of a Chromium-family browser, or a clear error naming the package to install."""
    override = os.environ.get("USEROPS_CHROMIUM")
    if override:
        found = shutil.which(override)
        if found:
            return found
        raise ExportError(f"USEROPS_CHROMIUM={override!r} is not an executable")
    for name in BROWSER_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    raise ExportError(
        "no Chromium found for PDF export (looked for "
        + ", ".join(BROWSER_CANDIDATES)
        + "). Install it with `sudo apt-get install chromium fonts-noto-cjk`, "
        "or set USEROPS_CHROMIUM to a Chromium/Chrome binary."
    )


CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-quic",
)
# What `chromium --headless --print-to-pdf --no-pdf-header-footer` prints with (identical pages and
# text: the template's @page size A4, its margins and page numbers, the cover's colours).
PRINT_OPTIONS = {"printBackground": True, "preferCSSPageSize": True, "displayHeaderFooter": False}


class PdfBrowser:
    """One headless Chromium that prints many HTML files to PDF (DevTools protocol over a pipe).

    A Chromium launch costs about 1.3 CPU s and, on a loaded machine, 5-8 s of wall time before it
    prints anything (the whole browser profile starts); a run's seven PDFs share one launch. Each
    PDF is printed in a new tab (no network, fresh profile, the same print options as
    ``--print-to-pdf``). Thread-safe: one print at a time. Use as a context manager, or ``close()``.
    """

    def __init__(self, exe: str | None = None, timeout_s: float = CHROMIUM_TIMEOUT_S):
        self.exe = exe or find_browser()
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._start()

    def _start(self) -> None:
        """Launch the browser (again after a failure: a run's later PDFs still print)."""
        self._profile = tempfile.mkdtemp(prefix="userops-chromium-")
        self._log = open(Path(self._profile) / "stderr.log", "wb")  # noqa: SIM115 (closed in close())
        self._next_id, self._buf = 0, b""
        cmd_r, self._w = _high_pipe()  # we write commands, Chromium reads them on its fd 3
        self._r, res_w = _high_pipe()  # Chromium answers on its fd 4
        # a tiny launcher puts the pipe ends on fds 3 and 4 (both >= 5 before: none is overwritten),
        # then becomes the browser (no preexec_fn: the runner has threads)
        args = [self.exe, *CHROMIUM_FLAGS, "--remote-debugging-pipe", f"--user-data-dir={self._profile}"]
        launcher = [sys.executable, "-I", "-S", "-c", _LAUNCHER, str(cmd_r), str(res_w), *args]
        try:
            self._proc = subprocess.Popen(
                launcher,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self._log,
                cwd=self._profile,
                pass_fds=(cmd_r, res_w),
            )
        except OSError as exc:
            self.close()
            raise ExportError(f"could not start {self.exe}: {exc}") from exc
        finally:
            os.close(cmd_r)
            os.close(res_w)

    def __enter__(self) -> PdfBrowser:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _failed(self, what: str) -> ExportError:
        """The browser died or answered with an error: the error names it, with its stderr's tail."""
        code = self._proc.poll()
        log = Path(self._profile) / "stderr.log"
        text = log.read_bytes().decode(errors="replace") if log.is_file() else ""
        tail = "\n".join(text.strip().splitlines()[-15:])
        return ExportError(f"{self.exe} failed to print {what} to PDF (exit {code}):\n{tail}")

    def _message(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._r], [], [], left)[0]:
                raise TimeoutError
            chunk = os.read(self._r, 1 << 20)
            if not chunk:
                raise EOFError
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def _call(self, method: str, params: dict, session: str | None, deadline: float, until: str = "") -> dict:
        """Send one command; return its result once it (and the event ``until`` of the session) came."""
        self._next_id += 1
        msg = {"id": self._next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        data = json.dumps(msg).encode() + b"\0"
        while data:
            data = data[os.write(self._w, data) :]
        result, seen = None, not until
        while result is None or not seen:
            reply = self._message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error'].get('message')}")
                result = reply.get("result", {})
            elif until and reply.get("method") == until and reply.get("sessionId") == session:
                seen = True
        return result

    def _print(self, url: str, deadline: float) -> bytes:
        tab = self._call("Target.createTarget", {"url": "about:blank"}, None, deadline)["targetId"]
        try:
            session = self._call("Target.attachToTarget", {"targetId": tab, "flatten": True}, None, deadline)
            sid = session["sessionId"]
            self._call("Page.enable", {}, sid, deadline)
            self._call("Page.navigate", {"url": url}, sid, deadline, until="Page.loadEventFired")
            return base64.b64decode(self._call("Page.printToPDF", PRINT_OPTIONS, sid, deadline)["data"])
        finally:
            self._call("Target.closeTarget", {"targetId": tab}, None, deadline)

    def print_pdf(self, html: Path, pdf: Path) -> Path:
        """Print the HTML file ``html`` to ``pdf`` (atomic: temp file, then rename). Returns ``pdf``."""
        html = Path(html).resolve()
        with self._lock:
            if self._proc is None:  # closed after a failure
                self._start()
            deadline = time.monotonic() + self.timeout_s
            try:
                data = self._print(html.as_uri(), deadline)
            except TimeoutError:
                self.close()
                raise ExportError(
                    f"{self.exe} did not finish printing {html.name} in {self.timeout_s:.0f} s"
                ) from None
            except (OSError, EOFError, RuntimeError, ValueError, KeyError) as exc:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._proc.wait(timeout=2)  # a browser that died: its exit code for the message
                err = self._failed(f"{html.name} ({type(exc).__name__}: {exc})")
                self.close()
                raise err from exc
        if not data.startswith(b"%PDF"):
            raise ExportError(f"{self.exe} printed {html.name} to something that is not a PDF")
        return _atomic_write(Path(pdf), lambda p: p.write_bytes(data))

    def close(self) -> None:
        """Stop the browser (closing its pipe ends it) and remove its profile."""
        for fd in (self._w, self._r):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._w = self._r = -1  # never close a number another file got since
        if self._proc is not None and self._proc.poll() is None:
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
        self._log.close()
        shutil.rmtree(self._profile, ignore_errors=True)


_LAUNCHER = (
    "import os, sys; r, w = map(int, sys.argv[1:3]); os.dup2(r, 3); os.dup2(w, 4); os.close(r); os.close(w); "
    "os.execv(sys.argv[3], sys.argv[3:])"
)


def _high_pipe() -> tuple[int, int]:
    """os.pipe() with both ends moved to fds >= 5 (close-on-exec)."""
    ends = os.pipe()
    high = tuple(fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 5) for fd in ends)
    for fd in ends:
        os.close(fd)
    return high


def html_to_pdf(html: Path, pdf: Path, browser: str | PdfBrowser | None = None) -> Path:
    """Print an HTML file to PDF with headless Chromium (no network, fresh profile). Atomic.

    ``browser``: a running :class:`PdfBrowser` (reused), or the path of a Chromium binary (one is
    started for this PDF and stopped after)."""
    if isinstance(browser, PdfBrowser):
        return browser.print_pdf(html, pdf)
    with PdfBrowser(browser) as one:
        return one.print_pdf(html, pdf)


def notebook_to_pdf(
    ipynb: Path,
    pdf: Path,
    title: str | None = None,
    cover: Cover | None = None,
    browser: PdfBrowser | None = None,
) -> Path:
    """Executed notebook → A4 PDF without code (atomic: temp file, then rename). Returns ``pdf``.

    ``title`` becomes the PDF document title (default: the notebook's file stem); ``cover``
    adds a cover page (the combined monthly brief); ``browser``: a running :class:`PdfBrowser` to
    print with (a run's PDFs share one), else one is started for this PDF.
    """
    ipynb = Path(ipynb)
    exe = browser or find_browser()  # fail before the HTML work if there is no browser
    with tempfile.TemporaryDirectory(prefix="userops-export-") as tmp:
        html = Path(tmp) / f"{ipynb.stem}.html"
        notebook_to_html(ipynb, html, title=title, cover=cover)
        return html_to_pdf(html, pdf, browser=exe)


# --------------------------------------------------------------------------- reader-facing text checks

#: Latin words a Chinese report may use as they are (ops teams say them so), besides numbers and names
ALLOWED_LATIN = frozenset(
    [
        "GMV",
        "CAC",
        "LTV",
        "ROI",
        "AOV",
        "RFM",
        "KPI",
        "CRM",
        "App",
        "SMS",
        "pp",
        "CI",
        "Shapley",
        "p",
        "DAU",
        "WAU",
        "MAU",
    ]
) | {f"D{k}" for k in range(1, 91)}
SNAKE_CASE = re.compile(r"(?<![\w/.])[a-z][a-z0-9]*(?:_[a-z0-9]+)+(?![\w/])")
SQL_TEXT = re.compile(r"\bselect\b[^.]{0,200}?\bfrom\b|\bgroup by\b|\bwhere\b\s+\w+\s*=", re.IGNORECASE)
LIBRARY_NAMES = ("PyMC", "PyTensor", "pymc", "pandas", "DuckDB", "duckdb", "scikit", "sklearn", "lifetimes")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")


def pdf_text(pdf: Path, first: int | None = None, last: int | None = None) -> str:
    """The text of a PDF (pdftotext, UTF-8), optionally of pages ``first``..``last``."""
    pages = [*(["-f", str(first)] if first else []), *(["-l", str(last)] if last else [])]
    return subprocess.run(
        ["pdftotext", "-enc", "UTF-8", *pages, str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout


def pdf_pages(pdf: Path) -> int:
    """Page count of a PDF (pdfinfo)."""
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"Pages:\s+(\d+)", info).group(1))


def _without(text: str, names: tuple[str, ...]) -> str:
    for n in sorted(names, key=len, reverse=True):
        if n:
            text = text.replace(n, " ")
    return text


def cjk_share(text: str, names: tuple[str, ...] = ()) -> float:
    """Share of Chinese in the prose: CJK characters / (CJK characters + letters of Latin words).

    Numbers, the allowlist (:data:`ALLOWED_LATIN`: GMV, ROI, D7, App ...) and ``names`` (the chain's
    own: chain name, store names, vocabulary the data gave) do not count. 1.0 = nothing but Chinese.
    """
    text = _without(text, names)
    cjk = len(_CJK.findall(text))
    latin = sum(len(w) for w in _LATIN_WORD.findall(text) if w not in ALLOWED_LATIN)
    return cjk / (cjk + latin) if cjk + latin else 0.0


def code_on_page(text: str, names: tuple[str, ...] = ()) -> list[str]:
    """What reads as code in a report's text: snake_case identifiers, `$parameter`, SQL, library names.

    ``names``: words the chain's data gave (open vocabularies are shown as written, even with '_').
    """
    text = _without(text, names)
    found = [f"snake_case {m}" for m in sorted(set(SNAKE_CASE.findall(text)))]
    found += [f"parameter {m}" for m in sorted(set(re.findall(r"\$[A-Za-z_]\w*", text)))]
    found += [f"SQL {m.group(0)[:40]!r}" for m in SQL_TEXT.finditer(text)]
    found += [f"library {n}" for n in LIBRARY_NAMES if re.search(rf"\b{n}\b", text)]
    return found


def chinese_outside(text: str, names: tuple[str, ...] = ()) -> list[str]:
    """Chinese characters in an English report outside the names the chain gave (``names``)."""
    return sorted(set(_CJK.findall(_without(text, names))))


# --------------------------------------------------------------------------- layout checks

#: the print margins of the template (lib/userops/templates/userops_pdf: @page margin 14mm 12mm)
MARGIN_SIDE_MM = 12.0
MARGIN_BOTTOM_MM = 14.0
_PT_PER_MM = 72 / 25.4
_WORD = re.compile(
    r'<page width="([\d.]+)" height="([\d.]+)">|<word xMin="([\d.]+)" yMin="[\d.]+" xMax="([\d.]+)" '
    r'yMax="[\d.]+">([^<]*)</word>'
)


def beyond_margin(pdf: Path, tolerance_pt: float = 1.0) -> list[str]:
    """Words whose right edge passes the printable width (page width - the right margin), as
    'p<page>: <word>'; [] when every line fits the page (pdftotext -bbox)."""
    html = subprocess.run(
        ["pdftotext", "-bbox", "-enc", "UTF-8", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    found, page, limit = [], 0, 0.0
    for m in _WORD.finditer(html):
        if m.group(1):
            page += 1
            limit = float(m.group(1)) - MARGIN_SIDE_MM * _PT_PER_MM + tolerance_pt
        elif float(m.group(4)) > limit:
            found.append(f"p{page}: {html_lib.unescape(m.group(5))}")
    return found


def _pgm(path: Path):
    """A binary PGM or PPM (pdftoppm) as a 2-D uint8 array; a colour pixel counts as its darkest channel."""
    import numpy as np

    data = path.read_bytes()
    parts = re.match(rb"P([56])\s+(\d+)\s+(\d+)\s+(\d+)\s", data)
    channels = 3 if parts.group(1) == b"6" else 1
    width, height = int(parts.group(2)), int(parts.group(3))
    pixels = np.frombuffer(data[parts.end() : parts.end() + width * height * channels], np.uint8)
    return pixels.reshape(height, width, channels).min(axis=2)


#: a page's first line that opens a section: "1 · 新客从哪里来", "附录 · 指标定义", "Appendix · ..."
SECTION_START = re.compile(r"^\s*(\d+|附录|Appendix|本月要点|Summary)\s*·", re.IGNORECASE)


def page_fill(pdf: Path, dpi: int = 20) -> list[float]:
    """Per page, how far down the printable area its content reaches (0 = empty, 1 = full): the
    lowest non-white pixel row above the bottom margin (the page number below it is not content)."""
    import numpy as np

    with tempfile.TemporaryDirectory(prefix="userops-fill-") as tmp:
        # colour, not -gray: poppler's grey conversion of the charts' ICC images takes 3x as long
        subprocess.run(["pdftoppm", "-r", str(dpi), str(pdf), f"{tmp}/p"], check=True)
        fills = []
        for png in sorted(Path(tmp).glob("p-*.ppm"), key=lambda q: int(q.stem.split("-")[-1])):
            img = _pgm(png)
            height = img.shape[0]
            top = round(height * MARGIN_BOTTOM_MM / 297)
            body = img[top : height - top]
            rows = np.flatnonzero((body < 240).any(axis=1))
            fills.append(float((rows.max() + 1) / len(body)) if len(rows) else 0.0)
    return fills


def opens_section(text: str, sections: Sequence[str] | None = None) -> bool:
    """True when a page's text opens with a section heading: one of ``sections`` (headings as printed,
    e.g. the brief's, :func:`userops.brief.section_headings`), else a heading of the form
    :data:`SECTION_START`. Whitespace is ignored (pdftotext may wrap a long heading)."""
    if sections is None:
        first = text.strip().splitlines()
        return bool(first) and bool(SECTION_START.match(first[0]))
    squeezed = "".join(text.split())
    return any(h and squeezed.startswith("".join(h.split())) for h in sections)


def sparse_of(
    fills: Sequence[float], texts: Sequence[str], max_empty: float = 1 / 3, sections=None
) -> list[int]:
    """Pages (1-based) more than ``max_empty`` empty given each page's fill and text, except the last
    page of a section: the document's last page, and a page whose next page opens a section
    (:func:`opens_section`)."""
    found = []
    for i, fill in enumerate(fills[:-1], 1):
        if fill < 1 - max_empty and not opens_section(texts[i], sections):
            found.append(i)
    return found


def sparse_pages(pdf: Path, max_empty: float = 1 / 3, sections: Sequence[str] | None = None) -> list[int]:
    """Pages (1-based) more than ``max_empty`` empty, except the last page and the last page of a
    section (the next page opens with a section heading: one of ``sections``, else
    :data:`SECTION_START`)."""
    fills = page_fill(pdf)
    return sparse_of(fills, [pdf_text(pdf, i, i) for i in range(1, len(fills) + 1)], max_empty, sections)
