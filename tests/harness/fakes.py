"""Stand-ins for a cell's interpreter and for uv, and JUnit XML as pytest writes it."""

from __future__ import annotations

import textwrap

FAKE_PYTHON = textwrap.dedent('''\
    #!{python}
    """A stand-in for a cell's python: behaves as told by behaviour.json next to it."""
    import json, os, sys, time
    from pathlib import Path
    b = json.loads((Path(__file__).parent / "behaviour.json").read_text())
    args = sys.argv[1:]
    if args[:1] == ["-c"] and "importlib.metadata" in args[1]:
        print(json.dumps({{"resolved": b["resolved"], "gliner_requires": b.get("requires")}}))
        sys.exit(0)
    if args[:1] == ["-c"]:
        if b.get("import_error"):
            print("Traceback (most recent call last):", file=sys.stderr)
            print(b["import_error"], file=sys.stderr)
            sys.exit(1)
        sys.exit(0)
    if args[:2] == ["-m", "pytest"]:
        (Path(__file__).parent / "pytest.pid").write_text(str(os.getpid()))
        (Path(__file__).parent / "pytest.argv").write_text(json.dumps(args))
        if b.get("hang"):
            time.sleep(600)
        if b.get("crash"):
            os.kill(os.getpid(), 11)
        xml = next(a.split("=", 1)[1] for a in args if a.startswith("--junitxml="))
        if b.get("junit") is not None:
            Path(xml).write_text(b["junit"])
        sys.exit(b.get("pytest_exit", 0))
    sys.exit(99)
''')

FAKE_INSTALLER = textwrap.dedent('''\
    #!{python}
    import json, sys
    from pathlib import Path
    log = Path(sys.argv[0]).with_suffix(".calls")
    calls = log.read_text() if log.exists() else ""
    log.write_text(calls + json.dumps(sys.argv[1:]) + "\\n")
    fail = Path(sys.argv[0]).with_suffix(".fail")
    if fail.exists():
        print(fail.read_text(), file=sys.stderr)
        sys.exit(1)
''')


def junit_xml(*cases: tuple[str, str, str | None]) -> str:
    """JUnit as pytest writes it: (test name, layer, failure message or None)."""
    body = []
    for name, layer, failure in cases:
        props = (f'<properties><property name="layer" value="{layer}"/>'
                 f'<property name="fields" value="training.x"/></properties>')
        fail = f'<failure message="{failure}">{failure}</failure>' if failure else ""
        body.append(f'<testcase classname="tests.propagation.test_fake" name="{name}" time="0.1">{props}{fail}'
                    "</testcase>")
    n = sum(1 for c in cases if c[2])
    return (f'<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="0" failures="{n}" '
            f'skipped="0" tests="{len(cases)}">{"".join(body)}</testsuite></testsuites>')


FAKE_DOCKER = textwrap.dedent('''\
    #!{python}
    """A stand-in for the docker client and engine: behaves as told by docker.json next to it, logs its calls."""
    import json, sys, time
    from pathlib import Path
    here = Path(__file__).parent
    b = json.loads((here / "docker.json").read_text())
    args = sys.argv[1:]
    with open(here / "docker.calls", "a") as log:
        log.write(json.dumps(args) + "\\n")
    if args[:1] == ["info"]:
        sys.exit(0 if b.get("engine", True) else 1)
    if args[:1] == ["build"]:
        print(b.get("build_output", "#1 DONE 0.0s"))
        sys.exit(b.get("build_exit", 0))
    if args[:2] == ["image", "inspect"]:
        print(b.get("size", 1392900000))
        sys.exit(0)
    if args[:1] == ["run"]:
        if b.get("hang"):
            time.sleep(600)
        volume = args[args.index("--volume") + 1].split(":")[0]
        if b.get("result") is not None:  # what the runner in the image writes
            cell_dir = Path(volume) / b["result"]["id"]
            cell_dir.mkdir(parents=True, exist_ok=True)
            (cell_dir / "result.json").write_text(json.dumps(b["result"]))
        print("container output")
        sys.exit(b.get("run_exit", 0))
    sys.exit(0)
''')
