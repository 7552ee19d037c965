"""MkDocs hooks: the pages generated at build time, never committed (``nox -s docs``).

- ``<!-- ptbr: reference -->`` in a page becomes the config reference of the installed versions
  (``ptbr.reference.markdown``: the schema's keys and types, their destinations, the passthrough rules and options);
- ``<!-- ptbr: compatibility -->`` becomes the compatibility page: the matrix of the definition
  (constraints/matrix.toml) as one grid per gliner and Python, each cell's verdict as the committed rules of
  constraints/expected.toml predict it, then each finding with its why, and the atlas picture where `nox -s atlas`
  has drawn it (reports/atlas.svg, a file of the site).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROOT = Path(__file__).parents[1]
ATLAS = ROOT / "reports" / "atlas.svg"


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    if "<!-- ptbr: reference -->" in markdown:
        from ptbr import reference

        markdown = markdown.replace("<!-- ptbr: reference -->", reference.markdown(installed=True))
    if "<!-- ptbr: compatibility -->" in markdown:
        markdown = markdown.replace("<!-- ptbr: compatibility -->", compatibility())
    return markdown


def on_files(files: Any, config: Any, **_: Any) -> Any:
    """The atlas picture as a file of the site, where `nox -s atlas` has drawn it (links to it are then checked)."""
    if ATLAS.is_file():
        from mkdocs.structure.files import File

        files.append(File.generated(config, "atlas.svg", abs_src_path=str(ATLAS)))
    return files


def compatibility() -> str:
    from packaging.version import Version

    from harness import definition
    from harness.verdicts import expected, report

    rules = expected.load()
    cells = definition.cells(floating=False)
    lines = []
    if ATLAS.is_file():
        lines += ["## The atlas: every gliner × transformers pair", "",
                  "![The compatibility atlas: each gliner release against each transformers release](atlas.svg)", ""]
    else:
        lines += ["The atlas picture (every gliner × transformers pair) is drawn by `nox -s atlas`; build these pages "
                  "after it to see it here.", ""]
    lines += ["## The matrix, as the rules predict it", "",
              "Each pinned cell of `constraints/matrix.toml` with the verdict the rules of "
              "`constraints/expected.toml` give it: the status, and how many known findings it has (below).", ""]
    groups: dict[tuple[str, str], list[definition.Cell]] = {}
    for cell in cells:
        groups.setdefault((cell.gliner, cell.python), []).append(cell)
    for gliner, python in sorted(groups, key=lambda k: (Version(k[0]), Version(k[1]))):
        group = groups[(gliner, python)]
        tfs = sorted({c.transformers for c in group}, key=Version)
        torches = sorted({c.torch for c in group}, key=Version)
        lines += [f"### gliner {gliner} on Python {python}", "",
                  "| torch \\ transformers | " + " | ".join(tfs) + " |", "|---|" + "---|" * len(tfs)]
        for torch in torches:
            row = []
            for tf in tfs:
                cell = next((c for c in group if (c.torch, c.transformers) == (torch, tf)), None)
                if cell is None:
                    row.append("")
                    continue
                status, _ = rules.status(cell)
                found = len(rules.findings(cell)) if status in ("pass", "broken") else 0
                mark = report.MARK.get(status, status)
                row.append((status if mark == status else f"{mark} {status}")
                           + (f", {found} finding(s)" if found else "") + (" (override)" if cell.override else ""))
            lines.append(f"| {torch} | " + " | ".join(row) + " |")
        lines.append("")
    lines += ["## Each known finding, and why", "", "| kind | finding | where | why |", "|---|---|---|---|"]
    for rule in rules.rules:
        where = " or ".join(", ".join(f"{k} {v}" for k, v in alt.items()) for alt in rule.when) or "every cell"
        scope = f" (config {', '.join(rule.configs)})" if rule.configs else ""
        lines.append(f"| {rule.kind} | {_cell(rule.text)}{scope} | {_cell(where)} | {_cell(rule.why)} |")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")
