"""`nox -s atlas`: a verdict for every gliner release with `train_model` × every final transformers release from
4.51.0, on both paths, predicted from the static drift scan (harness/releases/drift.py) and verified by real cells.

Prediction (whether the pair can train; what it trains is for real cells to tell):
- **gliner's own path** (`train_model(output_dir=..., **kwargs)`): gliner builds TrainingArguments with the keywords
  its `create_training_args` passes; one the release has no field for (and gliner's own subclass does not declare)
  breaks it. Then it builds `Trainer(...)` with its keywords (those whose version condition holds for the release);
  one the release neither takes nor maps through a deprecation shim breaks it.
- **PTBR's path**: PTBR builds the TrainingArguments itself (ptbr.compat translates names), so only gliner's
  `Trainer(...)` keywords and the fields PTBR sets decide.
- Each pair also says whether it is inside the gliner release's declared transformers range; yanked releases are
  flagged (an exact pin still installs them).

Verification: every current result in reports/cells (matrix, bisect, `--verify`) is a real verdict for its pair:
**cannot train** when a cause stopped the training tests (or PTBR refused the versions), else it trains, with its
other findings (a moved loss trace is **behaviour drift**). `--verify N` runs, as ordinary cells, the pairs where
the prediction changes along the transformers axis (the boundaries) plus N random ones. A real verdict that differs
from the prediction is a defect of the scan, listed with both.

Writes reports/atlas.json, reports/atlas.md and reports/atlas.svg (gliner down, transformers across; each pair split
into PTBR's path above and gliner's below; the reason on hover).
"""

from __future__ import annotations

import html
import itertools
import json
import random
from collections.abc import Callable
from typing import Any

from harness import inputs
from harness.releases import drift
from harness.run import cell as cells
from harness.run import junit, options, results, runners
from harness.run.results import REPORTS, write_atomic
from harness.verdicts import expected, report
from packaging.specifiers import SpecifierSet
from packaging.version import Version

SCHEMA_VERSION = 1
FIRST = "4.51.0"
COLOURS = {"works": "#2e7d32", "breaks": "#c62828", "drift": "#ef6c00"}


def _applies(when: list | tuple | None, version: str) -> bool:
    return when is None or Version(version) in SpecifierSet(f"{when[0]}{when[1]}")


def _trainer_problems(g: dict[str, Any], t: dict[str, Any], version: str) -> list[str]:
    accepted = set(t["trainer_params"]) | set(t["trainer_aliases"])
    return [f"Trainer({k['keyword']}=) is not a parameter of transformers {version}'s Trainer"
            for k in g["trainer_keywords"] if _applies(k["when"], version) and k["keyword"] not in accepted
            and not t["trainer_kwargs"]]


def ptbr_fields() -> set[str]:
    """The TrainingArguments fields PTBR sets, by their canonical names (ptbr.compat.RENAMED: older names)."""
    from ptbr import forwarding

    return {r.name for r in forwarding.ROUTES if r.kind == "args"}


def predict(g: dict[str, Any], t: dict[str, Any], version: str, ptbr: set[str]) -> dict[str, dict[str, Any]]:
    """The predicted verdict of each path for one pair."""
    from ptbr import compat

    fields = set(t["fields"]) | set(g["subclass_fields"])
    trainer = _trainer_problems(g, t, version)
    own = [f"TrainingArguments has no field {k!r} in transformers {version} (gliner passes it)"
           for k in g["args_keywords"] if k not in fields]
    missing = sorted(f for f in ptbr if f not in fields and compat.RENAMED.get(f) not in fields)
    theirs = [f"TrainingArguments has no field {f!r} in transformers {version} (PTBR sets it)" for f in missing]
    return {"ptbr": {"verdict": "breaks" if trainer or theirs else "works", "reasons": trainer + theirs},
            "gliner": {"verdict": "breaks" if own or trainer else "works", "reasons": own + trainer}}


def real_verdict(result: results.CellResult) -> dict[str, dict[str, Any]] | None:
    """A current result's verdict per path, or None when it says nothing about the versions."""
    if not expected.judgeable(result) or result["status"] not in ("pass", "broken"):
        return None
    out = {}
    for path, found in (("ptbr", result["breaks"]), ("gliner", result["gliner_path"]["breaks"])):
        # a cause that stopped the training tests (several of them), or PTBR refusing the versions up front
        stopped = [k for k in junit.causes(found) if len(k["tests"]) > 3
                   or (junit.CANNOT_TRAIN in k["cause"] and len(k["tests"]) > 1)
                   or "installed versions: training:" in k["cause"]]
        findings = expected.findings({**result, "breaks": found, "gliner_path": {"breaks": []}})
        if stopped:
            out[path] = {"verdict": "breaks", "reasons": [expected.one_line(k["cause"]) for k in stopped]}
        elif any(f.startswith("loss trace") for f in findings):
            out[path] = {"verdict": "drift", "reasons": findings}
        else:
            out[path] = {"verdict": "works", "reasons": findings}
    return out


def build(drift_data: dict[str, Any], real: list[results.CellResult], ptbr: set[str] | None = None
          ) -> dict[str, Any]:
    """Every pair, predicted and (where a current result exists) verified. ``ptbr``: the TrainingArguments fields
    PTBR sets (default: the forwarding table's)."""
    tf = {v: t for v, t in drift_data["releases"]["transformers"].items() if Version(v) >= Version(FIRST)}
    glin = drift_data["releases"]["gliner"]
    ptbr = ptbr_fields() if ptbr is None else ptbr
    verified: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in real:
        v = real_verdict(r)
        if v is not None:
            verified.setdefault((r["requested"]["gliner"], r["requested"]["transformers"]), []).append(
                {"id": r["id"], **v})
    pairs, defects = [], []
    for gv in sorted(glin, key=Version):
        g = glin[gv]
        for tv in sorted(tf, key=Version):
            t = tf[tv]
            predicted = predict(g, t, tv, ptbr)
            entry = {"gliner": gv, "transformers": tv, "yanked": t["yanked"],
                     "inside_declared_range": Version(tv) in SpecifierSet(g["requires_transformers"] or ""),
                     "predicted": predicted, "verified": verified.get((gv, tv), [])}
            for run in entry["verified"]:
                for path in ("ptbr", "gliner"):
                    said, real_ = predicted[path]["verdict"], run[path]["verdict"]
                    if (said == "breaks") != (real_ == "breaks"):
                        defects.append({"gliner": gv, "transformers": tv, "path": path, "cell": run["id"],
                                        "predicted": predicted[path], "real": run[path]})
            pairs.append(entry)
    return {"schema_version": SCHEMA_VERSION, "pairs": pairs, "scan_defects": defects,
            "gliner": sorted(glin, key=Version), "transformers": sorted(tf, key=Version),
            "declared": {gv: g["requires_transformers"] for gv, g in glin.items()}}


def shown(pair: dict[str, Any], path: str) -> tuple[str, bool, list[str]]:
    """(verdict, verified, reasons) to show for a pair's path: the real one where a cell ran."""
    if pair["verified"]:
        run = pair["verified"][0]
        return run[path]["verdict"], True, run[path]["reasons"]
    return pair["predicted"][path]["verdict"], False, pair["predicted"][path]["reasons"]


def boundaries(atlas: dict[str, Any]) -> list[tuple[str, str]]:
    """Both sides of each place where a path's prediction changes from one transformers release to the next (same
    gliner; yanked releases skipped)."""
    out = []
    by_gliner: dict[str, list[dict[str, Any]]] = {}
    for p in atlas["pairs"]:
        by_gliner.setdefault(p["gliner"], []).append(p)
    for row in by_gliner.values():
        live = [p for p in row if not p["yanked"]]
        for before, after in itertools.pairwise(live):
            if any(before["predicted"][k]["verdict"] != after["predicted"][k]["verdict"] for k in ("ptbr", "gliner")):
                out += [(p["gliner"], p["transformers"]) for p in (before, after)
                        if (p["gliner"], p["transformers"]) not in out]
    return out


def markdown(atlas: dict[str, Any]) -> str:
    pairs = atlas["pairs"]
    verified = sum(1 for p in pairs if p["verified"])
    lines = ["# Compatibility atlas: gliner × transformers", "",
             f"{len(pairs)} pairs ({len(atlas['gliner'])} gliner releases with train_model × "
             f"{len(atlas['transformers'])} transformers releases from {FIRST}), each for PTBR's path and gliner's "
             f"own path: {verified} verified by real cells, the rest predicted from the static scan "
             "(reports/drift.md). Picture: reports/atlas.svg.", ""]
    if atlas["scan_defects"]:
        lines += ["## Defects of the scan (a real cell disagrees with the prediction)", ""]
        lines += [f"- gliner {d['gliner']} × transformers {d['transformers']}, {d['path']} path: predicted "
                  f"{d['predicted']['verdict']} ({'; '.join(d['predicted']['reasons']) or 'no reason'}), real "
                  f"{d['real']['verdict']} ({'; '.join(d['real']['reasons'][:2]) or 'no finding'}) in {d['cell']}"
                  for d in atlas["scan_defects"]]
        lines.append("")
    for gv in atlas["gliner"]:
        row = [p for p in pairs if p["gliner"] == gv]
        lines += [f"## gliner {gv} (declares transformers `{atlas['declared'][gv] or 'any'}`)", ""]
        for path, name in (("ptbr", "PTBR's path"), ("gliner", "gliner's own path")):
            first = next((p for p in row if not p["yanked"] and shown(p, path)[0] == "breaks"), None)
            lines.append(f"- {name}: " + (f"first release that cannot train: **{first['transformers']}** "
                                           f"({'; '.join(shown(first, path)[2][:1])})" if first
                                           else "every release trains"))
            for start, end, verdict, reasons in _runs(row, path):
                span = start if start == end else f"{start}–{end}"
                lines.append(f"  - {span}: {verdict}" + (f" ({'; '.join(reasons[:1])})" if reasons else ""))
        for p in (p for p in row if p["verified"]):
            said = "; ".join(f"{name}: {WORDS[shown(p, path)[0]]}" + (f" ({', '.join(shown(p, path)[2][:2])})"
                                                                      if shown(p, path)[2] else "")
                             for path, name in (("ptbr", "PTBR's path"), ("gliner", "gliner's")))
            lines.append(f"- verified {p['transformers']} ({p['verified'][0]['id']}): {said}")
        lines.append("")
    return "\n".join(lines)


WORDS = {"works": "trains", "breaks": "cannot train", "drift": "behaviour drift"}


def _runs(row: list[dict[str, Any]], path: str) -> list[tuple[str, str, str, list[str]]]:
    """Consecutive releases with one verdict (verified where a cell ran, else predicted) and one predicted reason
    (release numbers left out), as ranges."""
    out: list[list[Any]] = []
    for p in row:
        verdict = shown(p, path)[0]
        reasons = p["predicted"][path]["reasons"]
        key = WORDS[verdict] + ("" if p["inside_declared_range"] else " (outside the declared range)")
        general = [r.replace(p["transformers"], "…") for r in reasons[:1]]
        if out and out[-1][2:] == [key, general]:
            out[-1][1] = p["transformers"]
        else:
            out.append([p["transformers"], p["transformers"], key, general])
    return [tuple(run) for run in out]


def svg(atlas: dict[str, Any], size: int = 12) -> str:
    """gliner down, transformers across; each pair: PTBR's path (upper half) and gliner's (lower half), coloured
    works / breaks / behaviour drift, faded outside the declared range, outlined when verified, struck when yanked;
    the reason in each half's <title>."""
    tfs, gls = atlas["transformers"], atlas["gliner"]
    left, top = 70, 70
    width, height = left + size * len(tfs) + 10, top + size * len(gls) * 2 + 60
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
           'font-size="9">', '<title>PTBR compatibility atlas: gliner × transformers</title>']
    for i, tv in enumerate(tfs):
        x = left + i * size + size / 2
        out.append(f'<text x="{x}" y="{top - 4}" transform="rotate(-60 {x} {top - 4})">{tv}</text>')
    for j, gv in enumerate(gls):
        out.append(f'<text x="4" y="{top + j * 2 * size + size + 3}">gliner {gv}</text>')
    for p in atlas["pairs"]:
        i, j = tfs.index(p["transformers"]), gls.index(p["gliner"])
        for k, path in enumerate(("ptbr", "gliner")):
            verdict, real, reasons = shown(p, path)
            x, y = left + i * size, top + j * 2 * size + k * size
            title = (f"gliner {p['gliner']} × transformers {p['transformers']}, {path} path: {verdict} "
                     f"({'verified' if real else 'predicted'}"
                     f"{'' if p['inside_declared_range'] else ', outside the declared range'}"
                     f"{', yanked' if p['yanked'] else ''})" + (": " + "; ".join(reasons[:3]) if reasons else ""))
            opacity = 1.0 if p["inside_declared_range"] else 0.45
            stroke = ' stroke="#000" stroke-width="1.2"' if real else ""
            out.append(f'<rect x="{x}" y="{y}" width="{size - 1}" height="{size - 1}" fill="{COLOURS[verdict]}" '
                       f'fill-opacity="{opacity}"{stroke}><title>{html.escape(title)}</title></rect>')
            if p["yanked"]:
                out.append(f'<line x1="{x}" y1="{y}" x2="{x + size - 1}" y2="{y + size - 1}" stroke="#fff"/>')
    legend_y = top + size * len(gls) * 2 + 20
    for n, (name, colour) in enumerate(COLOURS.items()):
        x = left + n * 120
        label = WORDS[name]
        out.append(f'<rect x="{x}" y="{legend_y}" width="10" height="10" fill="{colour}"/>'
                   f'<text x="{x + 14}" y="{legend_y + 9}">{label}</text>')
    out.append(f'<text x="{left}" y="{legend_y + 26}">upper half: PTBR\'s path, lower: gliner\'s own · faded: outside '
               "gliner's declared range · outlined: verified by a real cell · struck: yanked</text>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write(atlas: dict[str, Any]) -> None:
    write_atomic(REPORTS / "atlas.json", json.dumps(atlas, indent=1) + "\n")
    write_atomic(REPORTS / "atlas.md", markdown(atlas))
    write_atomic(REPORTS / "atlas.svg", svg(atlas))


def current_results() -> list[results.CellResult]:
    fingerprints = report.current_fingerprints()
    return [r for r in results.load_all() if fingerprints.get(r["id"]) == r["fingerprint"]]


def to_verify(atlas: dict[str, Any], n: int, seed: int = 0, shard: tuple[int, int] = (1, 1)) -> list[tuple[str, str]]:
    """The boundaries, then ``n`` random other pairs (seeded; not yanked; not verified yet); this shard's share."""
    done = {(p["gliner"], p["transformers"]) for p in atlas["pairs"] if p["verified"]}
    edges = [b for b in boundaries(atlas) if b not in done]
    rest = [(p["gliner"], p["transformers"]) for p in atlas["pairs"]
            if not p["yanked"] and (p["gliner"], p["transformers"]) not in done and
            (p["gliner"], p["transformers"]) not in edges]
    chosen = edges + random.Random(seed).sample(rest, min(n, len(rest)))
    index, count = shard
    return chosen[index - 1::count]


def main(argv: list[str], log: Callable[[str], None] = print) -> int:
    parser = inputs.Parser(prog="nox -s atlas --", description=__doc__.split("\n\n")[0])
    parser.add_argument("--verify", type=int, metavar="N",
                        help="run the boundary pairs and N random pairs as real cells first")
    parser.add_argument("--torch", default="2.13.0", help="the torch of verification cells")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shard", default="1/1", help="I/K: run the I-th of K shares of the pairs to verify")
    parser.add_argument("--timeout", type=float, default=1200)
    parser.add_argument("--workers", default="auto")
    args = parser.parse_args(argv)
    scanned = drift.scan(log=log)
    drift.write(scanned)
    atlas = build(scanned, current_results())
    if args.verify is not None:
        from harness.releases import bisect

        index, count = (int(x) for x in args.shard.split("/"))
        chosen = to_verify(atlas, args.verify, args.seed, (index, count))
        log(f"verifying {len(chosen)} pairs (shard {index}/{count}) as real cells")
        opts = options.Options(timeout_s=args.timeout, workers=args.workers, log=log)
        for n, (gv, tv) in enumerate(chosen, 1):
            cell = bisect.probe_cell({"torch": args.torch, "gliner": gv}, "transformers", tv)
            log(f"pair {n} of {len(chosen)}: {cell.id}")
            cells.run(cell, runners.Venv(bisect.own_venv(cell)), opts)
        atlas = build(scanned, current_results())
    write(atlas)
    verified = sum(1 for p in atlas["pairs"] if p["verified"])
    log(f"atlas: {len(atlas['pairs'])} pairs, {verified} verified, {len(atlas['scan_defects'])} scan defect(s); "
        f"{REPORTS / 'atlas.md'}, {REPORTS / 'atlas.svg'}")
    for d in atlas["scan_defects"]:
        log(f"SCAN DEFECT gliner {d['gliner']} × transformers {d['transformers']} ({d['path']}): predicted "
            f"{d['predicted']['verdict']}, real {d['real']['verdict']} in {d['cell']}")
    return 0

