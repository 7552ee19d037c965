"""What a user installs, checked: the package (wheel and sdist), the pre-commit hook and the documentation site
(`nox -s build`, `nox -s hook`, `nox -s docs`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness import definition
from harness.run import sources
from harness.sessions import TORCH, default_environment

DIST = Path("dist")
SDIST_HOLDS = ("pyproject.toml", "README.md", "src/ptbr/cli.py", "src/ptbr/releases.json", "src/ptbr/py.typed")
SDIST_LACKS = ("harness/", "reports/", "tests/", "constraints/", "wheelhouse/", ".github/")
# The tools these checks run: pinned, like the linters, so that a release of theirs changes nothing until it is taken
TWINE, PRE_COMMIT, SITE = "twine==7.0.0", "pre-commit==4.7.0", ("mkdocs==1.6.1", "mkdocs-material==9.8.2")


def build(session: Any, python: str) -> None:
    """Wheel and sdist (uv builds the wheel from the sdist: the sdist holds what a rebuild needs), ``twine check
    --strict``, the sdist's contents, then the wheel installed into a new virtualenv, where ``ptbr --version`` and
    ``ptbr validate examples/tiny.yaml`` must work."""
    import shutil
    import tarfile

    shutil.rmtree(DIST, ignore_errors=True)
    session.run(*sources.uv(), "build", "--out-dir", str(DIST), external=True, env=sources.installer_env())
    (sdist,), (wheel,) = DIST.glob("ptbr-*.tar.gz"), DIST.glob("ptbr-*.whl")
    session.install(TWINE)
    session.run("twine", "check", "--strict", str(sdist), str(wheel))
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    missing = [n for n in SDIST_HOLDS if n not in names]
    extra = sorted({n for n in names for lack in SDIST_LACKS if n.startswith(lack)})
    if missing or extra:
        session.error(f"{sdist.name}: " + (f"lacks {', '.join(missing)}" if missing else "")
                      + (f"; holds {', '.join(extra[:5])}" if extra else ""))
    session.log(f"{sdist.name}: {len(names)} files, none of the harness, its reports or the tests")
    venv = Path(session.create_tmp()) / "clean"
    session.run(*sources.uv(), "venv", "--quiet", "--clear", "--python", python, str(venv), external=True,
                env=sources.installer_env())
    torch = sources.torch_source(TORCH, python)
    # what the wheel's dependencies leave open, as of the definition's date: the same on any day
    session.run(*sources.uv(), "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), str(wheel),
                *torch.options, torch.requirement, *definition.as_of(), external=True,
                env=sources.installer_env())
    session.run(str(venv / "bin" / "ptbr"), "--version", external=True)
    session.run(str(venv / "bin" / "ptbr"), "validate", "examples/tiny.yaml", external=True,
                env={"HF_HUB_OFFLINE": "1"})


HOOK_CELL = "torch2.13.0-tf5.16.1-gliner0.2.29"
"""The cell whose lock file pins what the hook's own environment installs (pre-commit installs it with pip)."""


def hook(session: Any) -> None:
    """``pre-commit try-repo`` of this checkout's ``ptbr-validate`` hook in a scratch repository shaped like a
    team's (configs and data only): a good config passes, a bad one fails naming ``bad.yaml:<line>``."""
    import shutil
    import subprocess

    session.install(PRE_COMMIT)
    team = Path(session.create_tmp()) / "team"
    shutil.rmtree(team, ignore_errors=True)
    shutil.copytree("examples", team / "examples")
    good = Path("examples/tiny.yaml").read_text(encoding="utf-8")
    (team / "good.yaml").write_text(good, encoding="utf-8")
    (team / "bad.yaml").write_text(good.replace("num_steps: 20", "num_steps: twenty"), encoding="utf-8")
    line = next(n for n, text in enumerate(good.splitlines(), 1) if "num_steps" in text)
    for argv in (["init", "-q"], ["add", "-A"]):
        subprocess.run(["git", *argv], cwd=team, check=True, capture_output=True)
    # pip installs the hook's environment: the cell's full pins (the local CPU torch where the machine has it)
    env = {"PIP_CONSTRAINT": str(definition.Cell.parse(HOOK_CELL).lock.resolve()), "HF_HUB_OFFLINE": "1",
           "PRE_COMMIT_HOME": str(Path(session.create_tmp()) / "pre-commit-home")}
    try_repo = ["pre-commit", "try-repo", str(Path.cwd()), "ptbr-validate", "--verbose", "--files"]
    with session.chdir(team):
        session.run(*try_repo, "good.yaml", env=env)
        said = session.run(*try_repo, "bad.yaml", env=env, success_codes=[1], silent=True)
    if f"bad.yaml:{line}:" not in (said or ""):
        session.error(f"the hook's failure does not name bad.yaml:{line}:\n{said}")
    session.log("\n".join(text for text in said.splitlines() if "bad.yaml" in text or text.startswith("  hint")))
    session.log(f"ptbr-validate: good.yaml passes; bad.yaml fails at bad.yaml:{line}")


def docs(session: Any) -> None:
    """The site, strictly (a broken link or a missing page fails), with the pages harness/docs.py generates;
    ``-- --browser``: then every page in headless Chromium (``browse``)."""
    import shutil

    default_environment(session, *SITE)
    browser = "--browser" in session.posargs
    session.run("mkdocs", "build", "--strict", *(a for a in session.posargs if a != "--browser"),
                env={"HF_HUB_OFFLINE": "1", "NO_MKDOCS_2_WARNING": "1",
                     "PYTHONPATH": str(Path.cwd())})  # harness/docs.py, the hooks, read the harness
    if not browser:
        return
    chromium = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
    if chromium is None:
        session.error("--browser: no Chromium on PATH (Debian: apt-get install chromium)")
    problems = browse(Path("site"), chromium, session.log)
    if problems:
        session.error("the site in a browser:\n" + "\n".join(problems))
    session.log("every page renders in Chromium, every picture loads, no link is broken")


def browse(site: Path, chromium: str, log: Any = print) -> list[str]:
    """The built site in a real browser (headless Chromium, served over HTTP from 127.0.0.1): each page renders with
    its title, every picture a page shows is fetched by the browser and found, and no internal link or asset is
    missing. Returns the problems (none: the site is whole)."""
    import functools
    import http.server
    import re
    import subprocess
    import threading
    import urllib.parse

    served: list[tuple[str, int]] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_request(self, code: Any = "-", size: Any = "-") -> None:
            served.append((urllib.parse.urlsplit(self.path).path, int(code) if str(code).isdigit() else 0))

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    problems, pages = [], sorted(p.relative_to(site) for p in site.rglob("index.html") if "search" not in p.parts)
    try:
        for page in pages:
            url = f"{base}/{page.parent.as_posix()}/".replace("/./", "/")
            before = len(served)
            dom = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=3000",
                                  "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
            title = re.search(r"<h1[^>]*>(.*?)</h1>", (site / page).read_text(encoding="utf-8"), re.S)
            if 'class="md-content"' not in dom or (title and title[1].split("<")[0].strip() not in dom):
                problems.append(f"{url}: did not render (no content or title in the browser's DOM)")
            images = re.findall(r'<img[^>]+src="([^"]+)"', dom)
            fetched = {path for path, code in served[before:] if code == 200}
            for src in images:
                path = urllib.parse.urlsplit(urllib.parse.urljoin(url, src)).path
                if path not in fetched:
                    problems.append(f"{url}: the picture {src} was not loaded")
            for href in re.findall(r'(?:href|src)="([^"#?]+)', dom):
                target = urllib.parse.urlsplit(urllib.parse.urljoin(url, href))
                if target.netloc == urllib.parse.urlsplit(base).netloc and not _exists(site, target.path):
                    problems.append(f"{url}: broken link {href}")
            log(f"browser: {url}: {len(dom)} characters, {len(images)} picture(s)")
        missing = sorted({path for path, code in served if code == 404})
        problems += [f"the browser asked for {path}: not in the site" for path in missing]
    finally:
        server.shutdown()
    return problems


def _exists(site: Path, path: str) -> bool:
    import urllib.parse

    local = site / urllib.parse.unquote(path).lstrip("/")
    return local.is_file() or (local / "index.html").is_file()
