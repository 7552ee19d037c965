"""The version-matrix harness, in three folders that import one way (run/ ← verdicts/ ← releases/):

    run/        one cell: its pins, installing them (a virtualenv or a Docker image), the propagation suite, reading
                its JUnit XML into a status and breaks, the result files and their fingerprint
    verdicts/   the expected verdicts (constraints/expected.toml), the report built from the result files, GitHub glue
    releases/   what the package index has: floating cells, discover, drift, the atlas, bisect

and definition.py (constraints/matrix.toml → cells), inputs.py (the harness's own inputs), sessions.py (what each nox
session does: noxfile.py only names them), progress.py and mutation.py (mutation testing of PTBR). Only run/ decides a
verdict, so only run/ (with PTBR and the suite) is an input of a cell's fingerprint: editing the rest reruns nothing.
PTBR is run through its command line (``ptbr prove``: in a cell's own pytest run, harness/run/cell_plugin.py, or in a
process of its own), never through its private functions. tests/harness
exercises the harness without real installs.
"""
