"""The version-matrix harness: definition (constraints/matrix.toml) → one cell's run → result files → report.

noxfile.py's sessions are thin wrappers over these modules; the tests in tests/harness exercise them without real
installs.
"""
