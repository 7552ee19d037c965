"""Commands the Docker image and the GitHub workflows run (people use nox):

    python -m harness in-image [pytest args]     the image's entry point: run the cell it was built for
    python -m harness github cells               the workflow's cell list (see harness/verdicts/github.py)
    python -m harness github annotate|gate REPORT
    python -m harness github news REPORT DIR     the nightly's issues: news the rules do not predict, one per release
    python -m harness atlas [--verify N]         the compatibility atlas (what `nox -s atlas` runs)

`in-image` (harness/run/image.py) runs the cell's lifecycle on the image's own Python, writes its result under
reports/ (mounted from the host) and prints what broke. With pytest arguments it is a repro run
(reports/cells/<id>/repro/), which never replaces the cell's full result. Exit 0 when the cell passes, 1 otherwise
(2: the image holds other code than the report was made from)."""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    if argv[:1] == ["in-image"]:
        from harness import definition
        from harness.run import image

        ids = {c.id for c in definition.cells(floating=False)}
        this = image.cell_of_image()
        return image.in_image(argv[1:], this.id in ids)
    if argv[:1] == ["atlas"]:
        from harness.releases import atlas

        return atlas.main(argv[1:])
    if argv[:1] == ["github"]:
        from harness.verdicts import github

        return github.main(argv[1:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    from harness import inputs

    try:
        sys.exit(main(sys.argv[1:]))
    except inputs.Invalid as e:
        print(e, file=sys.stderr)
        sys.exit(2)
