"""The memoir for real (slow): LaTeX compiled by latexmk, the HTML opened in headless Chromium.

Chromium is driven over the DevTools protocol on a pipe (--remote-debugging-pipe, no port): every
request the page makes is seen through Network.requestWillBeSent, console errors and uncaught
exceptions through Runtime/Log events, and screenshots come from Page.captureScreenshot. A
control page that does make a request and log an error proves the checks can fail.
Needs: texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended latexmk
poppler-utils chromium (Debian package names).
"""

from __future__ import annotations

import base64
import fcntl
import io
import itertools
import json
import os
import re
import select
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from PIL import Image

from dlcompare.errors import UserError
from dlcompare.report import courses
from test_report import HOSTILE, PLAIN, ROOT, make_project

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
needs_tex = pytest.mark.skipif(not (shutil.which("latexmk") and shutil.which("pdflatex")
                                    and shutil.which("pdfinfo")),
                               reason="TeX Live, latexmk and poppler-utils (pdfinfo) are not installed")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")


def build(root: Path, monkeypatch, classes=PLAIN, **kwargs) -> Path:
    monkeypatch.chdir(root)
    params = make_project(root, classes, **kwargs)
    from dlcompare.report import build_report
    if kwargs.get("skip") == NO_RUN:   # the memoir is built, and says so; the command fails
        with pytest.raises(UserError, match="no expected run finished"):
            build_report(params, lambda msg: None)
    else:
        build_report(params, lambda msg: None)
    return root / "reports" / "build"


def pdf_pages(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))


def check_figures(out: Path) -> list[str]:
    tex = (out / "memoir.tex").read_text(encoding="utf-8")
    refs = re.findall(r"\\includegraphics(?:\[[^]]*\])?\{([^}]*)\}", tex)
    assert refs, "memoir.tex includes no figure"
    missing = [r for r in refs if not (out / r).is_file()]
    assert not missing, f"figures referenced but not built: {missing}"
    return refs


ALL_FIGURES = {"figures/dataset.pdf", "figures/overview.pdf", "figures/lr-find.pdf", "figures/own-losses.pdf",
               "figures/curves-resnet18.pdf", "figures/confusion-resnet18.pdf"}
NO_RUN = set(itertools.product(("torch", "fastai", "keras"), ("resnet18",), (0, 1)))


@needs_tex
@pytest.mark.parametrize("classes, kwargs, figures", [
    (PLAIN, {"skip": {("keras", "resnet18", 1)}}, ALL_FIGURES),
    (HOSTILE, {"skip": {("keras", "resnet18", 1)}}, ALL_FIGURES),
    (PLAIN, {"libraries": ("mylib",), "seeds": (0,)}, ALL_FIGURES - {"figures/lr-find.pdf", "figures/own-losses.pdf"}),
    (PLAIN, {"skip": NO_RUN}, {"figures/dataset.pdf"}),
], ids=["plain", "hostile", "one-library", "no-run"])
def test_latex_compiles_to_a_pdf(tmp_path, monkeypatch, classes, kwargs, figures):
    out = build(tmp_path, monkeypatch, classes, **kwargs)
    assert pdf_pages(out / "memoir.pdf") > 5
    assert set(check_figures(out)) == figures
    text = subprocess.run(["pdftotext", "-layout", str(out / "memoir.pdf"), "-"], capture_output=True,
                          text=True, check=True).stdout
    assert "Course-content matrix" in text and "Discussion" in text
    assert "Spanish-English terminology" in text and "ajuste fino" in text          # Appendix B
    if classes is HOSTILE:
        assert "nævus_&_co" in text and "50%$ure#1 {x}" in text and "50%_{x}#$~^\\" in text
    if kwargs.get("skip") == NO_RUN:
        assert "No run finished, so there are no results to discuss yet." in text
    assert not list(out.glob("*.aux")), "latexmk -c should leave only the PDF"


@needs_tex
def test_pdf_page_one_side_by_side_numbers_and_vector_fonts(tmp_path, monkeypatch):
    """What a reader of the PDF checks first: page one says what ran (and that it is not the
    thesis's profile), the thesis sits next to the re-run, numbers match the HTML's, and no font
    is a Type 3 bitmap."""
    out = build(tmp_path, monkeypatch, PLAIN)
    pdf = out / "memoir.pdf"
    page_one = subprocess.run(["pdftotext", "-f", "1", "-l", "1", "-layout", str(pdf), "-"],
                              capture_output=True, text=True, check=True).stdout
    for label in ("Profile", "Dataset", "Initial weights", "Epochs (phase 1 +", "Seeds", "Hardware", "GPU",
                  "Library versions", "Built", "Git commit", "Reproduce"):
        assert label in page_one, label
    assert "Not comparable to the thesis" in " ".join(page_one.split())
    text = " ".join(subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                                   check=True).stdout.split())
    assert "The thesis side by side" in text and "Chance level (1 / classes)" in text
    html = (out / "memoir.html").read_text(encoding="utf-8")
    for label, thesis in (("Table 2.1", "Tabla 4.1"), ("Table 3.1", "Tabla 4.2"), ("Figure 1.1", "Figura 4.1")):
        assert f"{label}: (= {thesis})" in text, label
        assert f"<strong>{label}</strong> <span class=\"thesis-ref\">(= {thesis})</span>" in html, label
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
    kinds = [line.split()[-6] if len(line.split()) > 6 else "" for line in fonts.splitlines()[2:]]
    assert "Type 3" not in fonts and kinds, fonts


HEADING = re.compile(r"\\(?:chapter|section)\*?\{([^}]*)\}")


@needs_tex
def test_spanish_edition_pdf_and_html(tmp_path, monkeypatch):
    """report.languages [en, es] (the default) builds both editions; the Spanish one has its
    headings, table numbers and Appendix B in Spanish (pdftotext and the HTML), babel's spanish
    names (Índice general), lang="es", and links to the English edition (and back)."""
    out = build(tmp_path, monkeypatch, PLAIN, languages=("en", "es"))
    for name in ("memoir.pdf", "memoir.html", "memoir.es.pdf", "memoir.es.html", "memoir.es.tex"):

        assert (out / name).is_file(), name
    print("pages: memoir.pdf", pdf_pages(out / "memoir.pdf"), "memoir.es.pdf", pdf_pages(out / "memoir.es.pdf"))
    tex_en = (out / "memoir.tex").read_text(encoding="utf-8")
    tex_es = (out / "memoir.es.tex").read_text(encoding="utf-8")
    english, spanish = set(HEADING.findall(tex_en)), set(HEADING.findall(tex_es))
    assert len(spanish) >= 12 and not english & spanish, english & spanish       # nothing English-only
    assert r"\usepackage[spanish," in tex_es and r"\usepackage[english]{babel}" in tex_en
    assert all((out / f).is_file() for f in re.findall(r"\\includegraphics(?:\[[^]]*\])?\{([^}]*)\}", tex_es))
    assert "figures/es/curves-resnet18.pdf" in tex_es and "figures/curves-resnet18.pdf" in tex_en
    text = " ".join(subprocess.run(["pdftotext", str(out / "memoir.es.pdf"), "-"], capture_output=True,
                                   text=True, check=True).stdout.split())
    assert "índice general" in text.lower()                   # babel spanish's \contentsname
    for heading in ("Qué se ejecutó",
 "Preparación", "Configuración", "Resultados",
                    "Curvas de entrenamiento e interpretación", "Comparación de los cursos",
                    "Matriz de contenidos de los cursos", "Discusión", "Traducción de la terminología",
                    "Perfil", "Conjunto de datos", "Pesos iniciales", "Reproducir", "No es comparable con los "
                    "números de la tesis", "Exactitud", "Entropía cruzada", "Semillas"):
        assert heading in text, heading
    assert "Tabla 2.1: (= Tabla 4.1)" in text and "Tabla 3.1: (= Tabla 4.2)" in text
    assert "Figura 1.1: (= Figura 4.1)" in text
    assert "ajuste fino" in text and "fine tuning" in text                       # Appendix B in Spanish too
    for english_only in ("Table of contents", "What ran", "Course-content matrix", "Training curves",
                         "Hardware and software", "Generated by dlcompare"):
        assert english_only not in text, english_only
    html_es = (out / "memoir.es.html").read_text(encoding="utf-8")
    assert '<html lang="es">' in html_es and '<html lang="en">' in (out / "memoir.html").read_text(encoding="utf-8")
    for heading in ("<h2>1 Preparación</h2>", "<h2>3 Resultados</h2>", "<h2>5 Comparación de los cursos</h2>",
                    "<h3>Matriz de contenidos de los cursos</h3>", "Traducción de la terminología</h2>",
                    "<strong>Tabla 2.1</strong>", "<th scope=\"col\">Tema</th>"):
        assert heading in html_es, heading
    def headings(page: str) -> set[str]:      # the glossary's initials (A, B, ...) are the same in both
        return {h for h in re.findall(r"<h[23][^>]*>([^<]*)</h[23]>", page) if len(h) > 2}
    assert len(headings(html_es)) >= 12
    assert not headings(html_es) & headings((out / "memoir.html").read_text(encoding="utf-8"))

    assert 'href="memoir.html" hreflang="en"' in html_es and 'href="memoir.pdf" hreflang="en"' in html_es
    assert 'href="memoir.es.html" hreflang="es"' in (out / "memoir.html").read_text(encoding="utf-8")
    assert "Programa Especializado Aprendizaje Profundo" in html_es              # Table 3.1 as the thesis has it


@needs_tex
def test_latex_failure_is_one_clear_error_with_the_log_tail(tmp_path, monkeypatch):

    monkeypatch.chdir(tmp_path)
    params = make_project(tmp_path, PLAIN, libraries=("torch",), seeds=(0,))
    template = tmp_path / "reports/templates/memoir.tex.j2"
    template.write_text(template.read_text(encoding="utf-8").replace(
        r"\begin{document}", r"\begin{document}\thisMacroDoesNotExist"), encoding="utf-8")
    from dlcompare.report import build_report
    with pytest.raises(UserError) as info:
        build_report(params, lambda msg: None)
    message = str(info.value)
    assert message.startswith("LaTeX could not build memoir.pdf (see reports/build/memoir.log)")
    assert "Undefined control sequence" in message
    assert (tmp_path / "reports/build/memoir.tex").is_file()        # kept for debugging
    assert (tmp_path / "reports/build/memoir.html").is_file()
    assert (tmp_path / "reports/build/memoir.log").is_file()


class Chromium:
    """A headless Chromium driven over the DevTools protocol on fds 3 (in) and 4 (out)."""

    def __init__(self, profile: Path):
        to_chrome_r, self._w = (self._high(fd) for fd in os.pipe())
        self._r, from_chrome_w = (self._high(fd) for fd in os.pipe())

        def wire():   # runs in the child: the protocol expects the pipes on fds 3 and 4
            os.dup2(to_chrome_r, 3)     # sources are >= 10, so never already 3 or 4 (where dup2
            os.dup2(from_chrome_w, 4)   # would leave close-on-exec set) and never overwritten

        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--no-default-browser-check",
             "--disable-extensions", "--hide-scrollbars", "--font-render-hinting=none",
             f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"],
            preexec_fn=wire, close_fds=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buf, self._id, self.events = b"", 0, []

    @staticmethod
    def _high(fd: int) -> int:
        """The same pipe end moved to a descriptor >= 10 (non-inheritable, like os.pipe's)."""
        high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(fd)
        return high

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            ready, _, _ = select.select([self._r], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError("chromium did not answer")
            chunk = os.read(self._r, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the pipe")
            self._buf += chunk
        message, self._buf = self._buf.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout=60):
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def wait_for(self, method: str, timeout=60) -> dict:
        deadline = time.monotonic() + timeout
        for i, event in enumerate(self.events):
            if event.get("method") == method:
                return self.events.pop(i)
        while True:
            event = self._read(deadline)
            if event.get("method") == method:
                return event
            self.events.append(event)

    def open(self, url: str, width: int, height: int, mobile: bool) -> str:
        """A fresh tab with the network, console and page domains on; returns its session."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Network", "Runtime", "Log", "Page"):
            self.send(f"{domain}.enable", session=session)
        self.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height,
                  "deviceScaleFactor": 1, "mobile": mobile}, session=session)
        self.events.clear()
        self.send("Page.navigate", {"url": url}, session=session)
        self.wait_for("Page.loadEventFired")
        time.sleep(0.3)      # let late console messages and requests arrive
        self.send("Runtime.evaluate", {"expression": "1"}, session=session)
        return session

    def evaluate(self, session: str, expression: str):
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                           session=session)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, session: str, path: Path) -> Path:
        data = self.send("Page.captureScreenshot", {"format": "png"}, session=session)["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def requests(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events
                if e.get("method") == "Network.requestWillBeSent"]

    def blocked(self) -> dict[str, str]:
        """{url: blockedReason} of requests Chromium refused to send (e.g. "csp")."""
        urls = {e["params"]["requestId"]: e["params"]["request"]["url"] for e in self.events
                if e.get("method") == "Network.requestWillBeSent"}
        return {urls.get(e["params"]["requestId"], "?"): e["params"]["blockedReason"] for e in self.events
                if e.get("method") == "Network.loadingFailed" and e["params"].get("blockedReason")}

    def errors(self) -> list[str]:
        found = []
        for e in self.events:
            method, p = e.get("method"), e.get("params", {})
            if method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                found.append(" ".join(str(a.get("value", a.get("description"))) for a in p.get("args", [])))
            elif method == "Runtime.exceptionThrown":
                found.append(p["exceptionDetails"].get("text", "exception"))
            elif method == "Log.entryAdded" and p["entry"].get("level") == "error":
                found.append(p["entry"].get("text", ""))
        return found

    def close(self):
        try:
            self.send("Browser.close", timeout=10)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._r)
        os.close(self._w)


@pytest.fixture
def chromium(tmp_path):
    browser = Chromium(tmp_path / "chromium-profile")
    yield browser
    browser.close()


def leaving(urls: list[str], page: Path) -> list[str]:
    """Requests other than the page itself and inline data: URLs."""
    return [u for u in urls if not (u.startswith("data:") or u == page.as_uri() or u == "about:blank")]


@needs_chromium
def test_the_network_and_console_checks_can_fail(tmp_path, chromium):
    page = tmp_path / "control.html"
    page.write_text('<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head><body>'
                    '<img src="http://127.0.0.1:9/pixel.png"><script>console.error("control")</script>'
                    "</body></html>", encoding="utf-8")
    chromium.open(page.as_uri(), 800, 600, False)
    assert "http://127.0.0.1:9/pixel.png" in leaving(chromium.requests(), page)
    assert "control" in chromium.errors()



def memoir_csp() -> str:
    """The Content-Security-Policy meta tag of the memoir's HTML template."""
    template = (ROOT / "reports/templates/memoir.html.j2").read_text(encoding="utf-8")
    return re.search(r'<meta http-equiv="Content-Security-Policy"[^>]*>', template).group(0)


@needs_chromium
def test_the_memoir_csp_blocks_requests_and_says_so(tmp_path, chromium):
    """The same control page under the memoir's CSP: the request is refused before it leaves, and
    the refusal is a console error (so a memoir that tried to load anything fails the test below
    both ways: a request seen, and an error logged)."""
    page = tmp_path / "control-csp.html"
    page.write_text(f'<!DOCTYPE html><html><head>{memoir_csp()}<link rel="icon" href="data:,"></head><body>'
                    '<img src="http://127.0.0.1:9/pixel.png"><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">'
                    "<script>document.title = 'inline ran'</script></body></html>", encoding="utf-8")
    session = chromium.open(page.as_uri(), 800, 600, False)
    # DevTools reports the attempt, then its refusal: the request never reaches the network
    assert leaving(chromium.requests(), page) == ["http://127.0.0.1:9/pixel.png"]
    assert chromium.blocked() == {"http://127.0.0.1:9/pixel.png": "csp"}
    assert any("violates the following Content Security Policy" in e for e in chromium.errors())
    assert chromium.evaluate(session, "document.title") == "inline ran"     # inline scripts still run


def _pixels(path: Path) -> tuple[tuple[int, int], int]:
    image = Image.open(io.BytesIO(path.read_bytes())).convert("L")
    lo, hi = image.getextrema()
    return image.size, hi - lo


@needs_chromium
def test_html_renders_offline_without_errors_on_laptop_and_phone(tmp_path, monkeypatch, chromium):
    monkeypatch.setattr("dlcompare.report.render.tex_available", lambda: False)   # PDF: tests above
    (tmp_path / "p").mkdir()
    out = build(tmp_path / "p", monkeypatch, HOSTILE, skip={("fastai", "resnet18", 0)})
    page = out / "memoir.html"
    html = page.read_text(encoding="utf-8")
    matrix = courses.load_matrix(ROOT / "reports" / "courses")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html), "an external resource"
    assert memoir_csp() in html
    for name, (width, height, mobile) in {"laptop": (1280, 900, False), "phone": (390, 844, True)}.items():
        session = chromium.open(page.as_uri(), width, height, mobile)
        assert leaving(chromium.requests(), page) == [], f"{name}: requests left the page"
        assert chromium.errors() == [], f"{name}: console errors"
        shot = chromium.screenshot(session, tmp_path / f"memoir-{name}.png")
        size, contrast = _pixels(shot)
        assert size == (width, height) and contrast > 100, f"{name}: blank screenshot"
        # no page-wide horizontal scrolling: wide tables scroll inside their own box
        assert chromium.evaluate(session, "document.documentElement.scrollWidth <= window.innerWidth + 1"), name
        for table in ("tab-results-valid", "tab-results-test", "tab-results-cost", "tab-matrix", "tab-moocs"):
            assert chromium.evaluate(session, f"!!document.getElementById('{table}')"), table
        assert chromium.evaluate(session, "document.querySelectorAll('#tab-matrix tbody tr').length") == len(matrix.topics)
        assert chromium.evaluate(session, "document.querySelectorAll('#tab-matrix thead th').length") == 1 + 6
        assert chromium.evaluate(session, "document.querySelectorAll('figure img').length") >= 4
        # captions sit outside the scroll boxes, inside the viewport; provenance and banner show
        assert chromium.evaluate(session, """Array.from(document.querySelectorAll('p.caption, figcaption'))
            .every(c => !c.closest('.scroll') && c.getBoundingClientRect().right <= window.innerWidth + 1)""")
        assert chromium.evaluate(session, """Array.from(document.querySelectorAll('.table-block table'))
            .every(t => t.closest('.scroll') && t.closest('.scroll').getBoundingClientRect().right
                        <= window.innerWidth + 1)""")
        assert chromium.evaluate(session, "document.querySelector('.banner').offsetHeight > 0")
        assert chromium.evaluate(session, "document.querySelectorAll('dl.provenance dt').length") == 12
        if mobile:   # a table wider than the phone shows the "scroll sideways" hint
            assert chromium.evaluate(session, "document.querySelectorAll('.table-block.overflowing').length") > 0
        zoom = """(() => { const img = document.querySelector('figure img'); const before = img.width;
            img.click(); const after = img.width; img.click(); return [before, after]; })()"""
        before, after = chromium.evaluate(session, zoom)
        assert after > before, f"{name}: a figure does not enlarge on click"
        assert chromium.evaluate(
            session, "Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
        # hostile class names are text, never markup
        assert chromium.evaluate(session, "document.querySelectorAll('b[onmouseover]').length") == 0
        assert chromium.evaluate(session, "document.body.innerText.includes('<b onmouseover=alert(1)>x')")
    # sorting: click "Accuracy" twice -> descending by the numeric sort keys
    sort = """(() => { const t = document.getElementById('tab-results-valid');
        const th = Array.from(t.tHead.rows[0].cells).find(c => c.textContent === 'Accuracy');
        th.click(); th.click();
        const col = Array.from(t.tHead.rows[0].cells).indexOf(th);
        return [th.getAttribute('aria-sort'),
                Array.from(t.tBodies[0].rows).map(r => parseFloat(r.cells[col].dataset.sort))]; })()"""
    state, keys = chromium.evaluate(session, sort)
    assert state == "descending" and keys == sorted(keys, reverse=True)
    # the course filter shows only one course's exclusive topics
    for course in ("howard", "ugr"):
        only = f"""(() => {{ document.querySelector('button[data-show="only-{course}"]').click();
            return Array.from(document.querySelectorAll('#tab-matrix tbody tr')).filter(r => !r.hidden).length; }})()"""
        assert chromium.evaluate(session, only) == matrix.exclusive(course) > 0
    assert chromium.errors() == []


def test_snakemake_report_includes_the_memoir(tmp_path, monkeypatch, venv_env):
    """`snakemake --report` after the report rule ran (on synthetic runs): the memoir's files are
    in Snakemake's own report, under the Memoir category with reports/caption.rst."""
    import yaml
    from conftest import exe

    monkeypatch.chdir(tmp_path)
    params = make_project(tmp_path, PLAIN, libraries=("torch", "fastai"), seeds=(0,))
    for name in ("Snakefile", "environment.yml", "reports/caption.rst"):
        shutil.copy(ROOT / name, tmp_path / name)
    for name in ("workflow", "configs"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    env = {**venv_env, "OMP_NUM_THREADS": "1"}
    # the entries' settings as the settings jobs write them, older than the runs they fed
    from dlcompare import glossary as G
    from dlcompare.host import entries
    before = (tmp_path / G.SPLIT_DIR).stat().st_mtime - 60
    for entry in G.entries(params["train"]):
        os.utime(entries.write_settings(params, entry, log=lambda _: None), (before, before))
    # the data and run artifacts are fixtures without Snakemake metadata: only mtimes say they are done
    run = subprocess.run([exe("snakemake"), "--cores", "1", "--rerun-triggers", "mtime"], cwd=tmp_path,
                         env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    log = run.stdout + run.stderr
    assert "(Rule: report)" in log and "(Rule: train)" not in log
    assert (tmp_path / "reports/build/memoir.html").is_file()
    out = subprocess.run([exe("snakemake"), "--report", "report.html"], cwd=tmp_path, env=env,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    report = (tmp_path / "report.html").read_text(encoding="utf-8", errors="replace")
    assert "Memoir" in report and "memoir.html" in report and "memoir.tex" in report
    assert "Adding memoir.html" in out.stdout + out.stderr
    assert ("memoir.pdf" in report) == (tmp_path / "reports/build/memoir.pdf").is_file()
