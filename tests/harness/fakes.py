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
        if b.get("probe_output") is not None:
            print(b["probe_output"])
            sys.exit(0)
        if b.get("probe_hang"):
            time.sleep(600)
        installed = b.get("installed", {{"torch": b["resolved"]["torch"], "ptbr": "0.1.0"}})
        damage = Path(__file__).parent / "damaged.json"  # files the environment lost (the installer mends them)
        damaged = json.loads(damage.read_text()) if damage.exists() else {{}}
        gone = damaged.pop("(uninstalled)", [])  # distributions whose metadata is gone: not installed at all
        resolved = {{k: None if k in gone else v for k, v in b["resolved"].items()}}
        print(json.dumps({{"resolved": resolved, "gliner_requires": b.get("requires"), "installed": installed,
                          "python": b.get("python", "3.11.7"), "damaged": damaged}}))
        sys.exit(0)
    if args[:1] == ["-c"] and "python_version()" in args[1]:
        print(b.get("python", "3.11.7"))
        sys.exit(0)
    def prove(chosen, out):
        """`ptbr prove --out`: each config's proof written as it is proven; fate_crash (an index) is the config
        during which the process dies, fate_hang (an index) one during which it hangs."""
        with open(Path(__file__).parent / "fate.calls", "a") as calls:
            calls.write(json.dumps(chosen) + "\\n")
        fate, proven = b.get("fate", {{}}), []
        for n, c in enumerate(chosen):
            if b.get("fate_crash") is not None and n == int(b["fate_crash"]):
                print("Traceback (most recent call last):\\nMemoryError", file=sys.stderr, flush=True)
                os.kill(os.getpid(), 9)
            if b.get("fate_hang") is not None and n == int(b["fate_hang"]):
                time.sleep(600)
            proven.append({{"config": c, "data": fate.get("data", {{}}).get(Path(c).name, []), "refused": [],
                           "warnings": [], "keys": fate.get("keys", []), "smoke": {{"status": "trained"}},
                           "findings": fate.get("findings", []), "seconds": 0.1}})
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps({{"schema_version": 2, "configs": proven}}))

    def valued(option):
        return [args[i + 1] for i, a in enumerate(args[:-1]) if a == option]

    if args[:3] == ["-m", "ptbr", "prove"]:
        rest = [a for a in args[3:] if a != "--json"]
        out = Path(valued("--out")[0])
        chosen = [a for i, a in enumerate(rest) if not a.startswith("--") and rest[i - 1] not in ("--out", "--work",
                                                                                                 "--base")]
        prove(chosen, out)
        sys.exit(0)
    if args[:2] == ["-m", "pytest"]:
        # the cell's one run, as harness/run/cell_plugin.py does it: a record per process, the import first, the
        # suite, then the configs
        (Path(__file__).parent / "pytest.pid").write_text(str(os.getpid()))
        (Path(__file__).parent / "pytest.argv").write_text(json.dumps(args))
        seen = ("OMP_NUM_THREADS", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
        (Path(__file__).parent / "pytest.env").write_text(json.dumps({{k: os.environ.get(k) for k in seen}}))
        with open(Path(__file__).parent / "pytest.calls", "a") as calls:
            calls.write(json.dumps(args) + "\\n")
        stage = Path(valued("--cell-record")[0])
        record = {{"role": "starting", "pid": os.getpid(), "imported": False, "import_s": 0.1, "error": None}}

        def write():
            (stage / "processes").mkdir(parents=True, exist_ok=True)
            (stage / "processes" / f"{{os.getpid()}}.json").write_text(json.dumps(record))

        if b.get("import_error"):
            record["error"] = "Traceback (most recent call last):\\n" + b["import_error"]
            write()
            print(record["error"], file=sys.stderr)
            sys.exit(3)
        record.update(imported=True, role="main")
        write()
        if b.get("damage_during_run"):
            (Path(__file__).parent / "damaged.json").write_text(json.dumps(b["damage_during_run"]))
        if b.get("hang"):
            time.sleep(600)
        if b.get("crash"):
            os.kill(os.getpid(), 11)
        if b.get("killed_by"):  # as the kernel's OOM killer does (9), or anything that signals the suite
            print("[ 40/296] tests/propagation/test_layer2_transformers.py", flush=True)
            os.kill(os.getpid(), b["killed_by"])
        xml = next(a.split("=", 1)[1] for a in args if a.startswith("--junitxml="))
        if b.get("junit") is not None:
            Path(xml).write_text(b["junit"])
        print(b.get("pytest_output", "[ 1/1]"), flush=True)
        record.update(suite_s=0.2, exitstatus=b.get("pytest_exit", 0))
        chosen = valued("--cell-prove")
        if chosen:
            record["configs"] = {{"asked": len(chosen), "done": False, "seconds": None, "exit": None, "error": None}}
            write()
            prove(chosen, stage / "prove" / "proofs.json")
            record["configs"].update(done=True, seconds=0.3, exit=0)
        write()
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
    if Path(sys.argv[0]).with_suffix(".hang").exists():
        import time
        time.sleep(600)
    fail = Path(sys.argv[0]).with_suffix(".fail")
    if fail.exists():
        print(fail.read_text(), file=sys.stderr)
        sys.exit(1)
    if "--reinstall-package" in sys.argv and not Path(sys.argv[0]).with_suffix(".no-mend").exists():
        python = Path(sys.argv[sys.argv.index("--python") + 1])
        (python.parent / "damaged.json").unlink(missing_ok=True)
''')


def junit_xml(*cases: tuple[str, str, str | None], fields: str = "training.x") -> str:
    """JUnit as pytest writes it: (test name, layer, failure message or None)."""
    body = []
    for name, layer, failure in cases:
        props = (f'<properties><property name="layer" value="{layer}"/>'
                 f'<property name="fields" value="{fields}"/></properties>')
        fail = f'<failure message="{failure}">{failure}</failure>' if failure else ""
        body.append(f'<testcase classname="tests.propagation.test_fake" name="{name}" time="0.1">{props}{fail}'
                    "</testcase>")
    n = sum(1 for c in cases if c[2])
    return (f'<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="0" failures="{n}" '
            f'skipped="0" tests="{len(cases)}">{"".join(body)}</testsuite></testsuites>')


FAKE_DOCKER = textwrap.dedent('''\
    #!{python}
    """A stand-in for the docker client and engine: behaves as told by docker.json next to it, logs its calls. A
    `run` of the image's python answers the version probe, the import and pytest like a cell's interpreter."""
    import json, os, sys, time
    from pathlib import Path
    here = Path(__file__).parent
    b = json.loads((here / "docker.json").read_text())
    args = sys.argv[1:]
    with open(here / "docker.calls", "a") as log:
        log.write(json.dumps(args) + "\\n")
    if args[:1] == ["info"]:
        sys.exit(0 if b.get("engine", True) else 1)
    if args[:1] == ["build"]:
        print(b.get("build_output", "#1 [torch 1/2] FROM base\\n#1 DONE 0.0s"))
        sys.exit(b.get("build_exit", 0))
    if args[:2] == ["image", "inspect"]:
        if args[-1] in b.get("missing_images", []):
            sys.exit(1)
        print(b.get("size", 1392900000))
        sys.exit(0)
    if args[:1] == ["run"]:
        (here / "run.pid").write_text(str(os.getpid()))
        stage = args[args.index("--volume") + 1].split(":")[0]
        tag = next(a for a in args if a.startswith("ptbr-matrix:"))
        inner = args[args.index(tag) + 1:]
        if inner[:1] == ["-c"] and "importlib.metadata" in inner[1]:
            resolved = {{"torch": "2.13.0+cpu", "transformers": "5.0.0", "gliner": "0.2.29"}}
            if b.get("versions_of_tag"):  # the image holds its cell's pins (several cells at once)
                import re
                pins = re.match(r"ptbr-matrix:torch(.+?)-tf(.+?)-gliner([0-9.]+)", tag)
                resolved = {{"torch": pins[1] + "+cpu", "transformers": pins[2], "gliner": pins[3]}}
            print(json.dumps({{"resolved": resolved,
                              "gliner_requires": "transformers<5.17.0,>=4.51.3", "installed": {{"ptbr": "0.1.0"}},
                              "python": b.get("python", "3.11.2"), "damaged": b.get("damaged", {{}})}}))
            sys.exit(0)
        records = Path(stage) / "processes"  # the cell's one run: its record, as harness/run/cell_plugin.py writes it
        records.mkdir(parents=True, exist_ok=True)
        record = {{"role": "main", "pid": os.getpid(), "imported": True, "import_s": 0.1}}
        (records / "main.json").write_text(json.dumps(record))
        if b.get("hang"):
            time.sleep(600)
        xml = next(a.split("=", 1)[1] for a in inner if a.startswith("--junitxml="))
        if b.get("junit") is not None:
            Path(xml.replace("/out", stage, 1)).write_text(b["junit"])
        print("[ 1/1]")
        record.update(suite_s=0.2, exitstatus=b.get("run_exit", 0))
        (records / "main.json").write_text(json.dumps(record))
        sys.exit(b.get("run_exit", 0))
    sys.exit(0)
''')


def fake_index(monkeypatch, releases: dict[str, list[str]], requires: dict[tuple[str, str], list[str]] = (),
               yanked: tuple[str, ...] = (), built_for: dict[str, list[str]] | None = None) -> list[str]:
    """Serve an index at the boundary the harness reads it through (harness.releases.index._get): PEP 691 project pages
    with a wheel per release (``yanked``: "package==version"; ``built_for``: package → the CPython tags its wheels
    are built for, e.g. ["cp311", "cp312"]; else one pure-Python wheel), and each wheel's PEP 658 METADATA. Returns
    the URLs read."""
    import json

    from harness.releases import index

    read: list[str] = []
    requires = dict(requires)

    def get(url: str, accept: str | None = None) -> bytes:
        read.append(url)
        base = index.url()
        package = url.removeprefix(base + "/").split("/")[0]
        if url.endswith(".metadata"):
            name, version = url.rsplit("/", 1)[1].split("-")[:2]
            lines = [f"Name: {name}", f"Version: {version}"]
            lines += [f"Requires-Dist: {r}" for r in requires.get((name, version), [])]
            return ("\n".join(lines) + "\n").encode()
        if package not in releases:  # what urllib raises for the 404 of a page the index lacks
            raise index.IndexUnavailable(f"cannot read {url}: HTTP Error 404: Not Found")
        tags = [f"{t}-{t}-manylinux_2_28_x86_64" for t in (built_for or {}).get(package, [])] or ["py3-none-any"]
        files = [{"filename": f"{package}-{v}-{t}.whl", "url": f"{base}/files/{package}-{v}-{t}.whl",
                  "yanked": f"{package}=={v}" in yanked, "core-metadata": True}
                 for v in releases[package] for t in tags]
        return json.dumps({"files": files}).encode()

    monkeypatch.setattr(index, "_get", get)
    return read
