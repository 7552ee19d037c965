"""Command line: ``ptbr validate | explain | train | prove | migrate | schema``. Exit codes: 0 ok, 1 training
failed, 2 bad input."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ptbr import __version__
from ptbr.errors import ConfigError, Problem

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ptbr",
        description="Train GLiNER from a YAML config, with every key accounted for.",
        epilog="Exit codes: 0 ok, 1 training or runtime failure, 2 usage or config error.",
    )
    parser.add_argument("--version", action="version", version=f"ptbr {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(name: str, help: str, description: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=description)
        if name == "validate":  # several: a pre-commit hook passes every changed config
            p.add_argument("config", metavar="CONFIG", nargs="+", help="YAML config files")
        else:
            p.add_argument("config", metavar="CONFIG", help="YAML config file")
        p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config value, e.g. --set training.num_steps=100 (repeatable; the value is "
                            "read as YAML)")
        p.add_argument("--strict", action="store_true",
                       help="refuse keys the installed versions would read nowhere (each is otherwise a warning: "
                            "e.g. decoder settings without a labels decoder); the same as run.strict: true")
        if name == "validate":
            p.add_argument("--no-step", action="store_true",
                           help="skip the last check: one real training step of the config's architecture on a "
                                "tiny random backbone and one batch of its data, in a temporary directory (seconds)")
        return p

    with_config("validate", "check a config and its data files",
                "Check the config, its data files and output directory against the installed versions. Prints a "
                "one-screen summary and a warning for each key the installed versions would read nowhere (on "
                "stderr), or every problem (exit 2). Last, one real training step on a tiny random backbone and "
                "one batch of the data: a config gliner cannot train is refused at the key its failing code reads.")
    explain = with_config("explain", "show where every key goes and the value the trainer receives",
                          "For every key of the file: its value, its destination (GLiNER model config, a "
                          "TrainingArguments field under the installed name, data loading, run metadata) and the "
                          "final value after the installed libraries normalise it; then every value PTBR sets that "
                          "the file does not. Builds no model and needs no network.")
    explain.add_argument("--json", action="store_true", help="print JSON instead of text")
    _train_options(with_config("train", "train a GLiNER model",
                                "Build the model from model: (or load training.prev_path), check the data, train with "
                                "gliner's train_model, and save checkpoints, the final model (<output>/final), the "
                                "resolved config and the effective TrainingArguments under the output directory. An "
                                "output directory that holds a run is refused unless --resume or --overwrite."))
    _prove_parser(sub)
    _migrate_parser(sub)
    schema = sub.add_parser("schema", help="print the config's JSON Schema (for editor completion)",
                            description="Print the JSON Schema of the config on the installed versions: PTBR's keys "
                                        "and every TrainingArguments field of the installed transformers and gliner "
                                        "that training: accepts under its own name. Save it and point "
                                        "yaml-language-server at it: `# yaml-language-server: "
                                        "$schema=ptbr.schema.json`.")
    schema.add_argument("--markdown", action="store_true", help="print the config reference (Markdown) instead")
    return parser


def _train_options(train: argparse.ArgumentParser) -> None:
    train.add_argument("--smoke", action="store_true",
                       help="prove the config end to end in seconds: a tiny random backbone instead of model_name, "
                            "a few steps on a few examples, output in <output>/smoke, nothing downloaded")
    train.add_argument("--traceback", action="store_true", help="print the full traceback when training fails")
    kept = train.add_mutually_exclusive_group()
    kept.add_argument("--resume", action="store_true", help="continue the run in the output directory from its "
                      "latest checkpoint (refused if its saved config has another run name or model keys)")
    kept.add_argument("--overwrite", action="store_true", help="replace the run in the output directory (without "
                      "this, or --resume, train refuses a directory that holds one)")


def _migrate_parser(sub: Any) -> None:
    migrate = sub.add_parser(
        "migrate", help="write a flat or original-PTBR config in PTBR's nested form, comments kept",
        description="Write the nested form (run, model, data, training, lora, environment) of configs in upstream "
                    "GLiNER's flat layout or in the original PTBR's format (gliner_config:, lora_config:, run.seed, "
                    "training.optimizer), keeping their comments, key order, quoting and values; the result explains "
                    "exactly as the original. A file already nested is left as it is. Without -o or --in-place, one "
                    "file is printed.")
    migrate.add_argument("files", nargs="+", type=Path, metavar="FILE", help="YAML config files")
    where = migrate.add_mutually_exclusive_group()
    where.add_argument("-o", "--output", type=Path, metavar="OUT",
                       help="write here: a file for one config, a directory for several")
    where.add_argument("--in-place", action="store_true", help="rewrite each file (atomically)")


def _prove_parser(sub: Any) -> None:
    prove = sub.add_parser(
        "prove", help="prove every key of configs on the installed versions, with a smoke training",
        description="For each config: every key read back at its destinations on the real TrainingArguments and "
                    "gliner's model config (arrives, changed, ignored, refused), then a smoke training of the config "
                    "as written whose checkpoint is read back (a key the failing code reads: fails). Data files this "
                    "machine lacks are replaced by a generated dataset, and the result says so. What the version "
                    "matrix runs in each cell for a config. Exit 0 when every config was proven (its findings are "
                    "in the output), 1 when PTBR failed on one.")
    prove.add_argument("configs", nargs="+", type=Path, metavar="CONFIG", help="YAML config files")
    prove.add_argument("--json", action="store_true", help="print the results as JSON (schema_version 2)")
    prove.add_argument("--out", type=Path, help="write the JSON results to this file instead of stdout, again after "
                                                "each config (a process that dies keeps those proven before)")
    prove.add_argument("--work", type=Path, help="where the smoke trainings write (default: a temporary directory, "
                                                 "removed after)")
    prove.add_argument("--base", type=Path, help="where relative data paths are read (default: the current directory)")
    prove.add_argument("--no-smoke", action="store_true", help="read the keys back only, no smoke training")


def _load(path: str, overrides: list[str], notes: bool = True) -> tuple[Any, Any]:
    """The document (in any layout, read as nested; its note on stderr) with ``--set`` applied, and its config."""
    from ptbr import layouts, loader, validation

    doc = loader.apply_overrides(layouts.load(path), overrides)
    if doc.note is not None and notes:
        print(f"note: {doc.path}: {doc.note}", file=sys.stderr)
    return doc, validation.validate(doc)


def _written(doc: Any) -> set[str]:
    """The keys of the file (``section.key``): those a failing first step can be blamed on."""
    return {".".join(k) for k in doc.origins if len(k) == 2}


def _validate(args: argparse.Namespace) -> int:
    """Each config in turn (``--set`` applies to each): its summary, or every problem; exit 2 when any is refused."""
    from ptbr import secrets

    refused = 0
    for path in args.config:
        hidden = secrets.hidden_in([path], args.overrides)
        try:
            _validate_one(path, args, hidden)
        except ConfigError as exc:
            refused += 1
            for problem in exc.problems:
                print(f"error: {secrets.scrub(_naming(problem, path), hidden)}", file=sys.stderr)
    return EXIT_USAGE if refused else EXIT_OK


def _naming(problem: Any, path: str) -> str:
    """A problem as printed, naming its config where its place does not (the installed versions, a data file)."""
    return str(problem) if problem.where.startswith(str(Path(path))) else f"{path}: {problem}"


def _validate_one(path: str, args: argparse.Namespace, hidden: set[str]) -> None:
    """Every problem of one config at once (its output directory, its data files, what train checks before writing),
    then, when there is none, the training step."""
    from ptbr import compat, forwarding, secrets, train

    doc, config = _load(path, args.overrides)
    problems, found = [], {}
    for name, check in (("out", lambda: train.check_output_dir(config)),
                        ("data", lambda: train.load_data(config, doc.where)),
                        ("prepared", lambda: train.prepare(config, doc.where, strict=args.strict))):
        try:
            with train.cpu_only(config.training.use_cpu):
                found[name] = check()
        except ConfigError as exc:
            problems += exc.problems
    if problems:
        raise ConfigError(problems)
    out, (train_items, eval_items), (plan, targs, _) = found["out"], found["data"], found["prepared"]
    if not args.no_step:
        with train.cpu_only(config.training.use_cpu):
            train.first_step(config, doc.where, args.strict, _written(doc))
    t, a = config.training, plan.args_kwargs
    precision = "bf16" if t.bf16 else "fp16" if t.fp16 else "fp32"
    length = f"{t.num_steps} steps" if t.num_steps is not None else f"{t.num_train_epochs:g} epochs"
    ratio = isinstance(a["warmup_steps"], float)  # a run counted in epochs warms up for a share of its steps
    warmup = f"{a['warmup_steps']:.0%} of the steps" if ratio else f"{a['warmup_steps']} steps"
    lines = [
        f"ok: {doc.path}  ({compat.stack()})",
        f"  model      {config.model.model_name if t.prev_path is None else 'from ' + t.prev_path}",
        f"  data       {len(train_items)} training examples; "
        + (f"{len(eval_items)} validation examples" if eval_items is not None else "no validation set"),
        f"  training   {length} × batch {t.train_batch_size} (accumulation {t.gradient_accumulation_steps}),"
        f" lr {a['learning_rate']:g} / others {a['others_lr']:g}, {a['lr_scheduler_type']}, "
        f"warmup {warmup}, seed {t.seed}",
        f"  precision  {precision}{', CPU only' if t.use_cpu else ''}; "
        f"report_to {compat.read_back(targs, 'report_to')}",
        f"  output     {out} (checkpoint "
        + (f"every {a['save_steps']} steps)" if a["save_strategy"] == "steps" else f"strategy {a['save_strategy']})"),
    ]
    if passthrough := forwarding.passthrough_keys(config):
        lines.append(f"  passthrough {', '.join(f'{k}={compat.read_back(targs, k)!r}' for k in passthrough)}")
    print(secrets.scrub("\n".join(lines), hidden))
    for warning in plan.warnings(doc.where):
        print(secrets.scrub(f"warning: {warning}", hidden), file=sys.stderr)


def _explain(args: argparse.Namespace) -> int:
    from ptbr import explain, secrets, train

    doc, config = _load(args.config, args.overrides, notes=False)  # the explanation says how the file was read
    refused: list[Any] = []  # what validate and train refuse: shown here, not refused
    with train.cpu_only(config.training.use_cpu):
        plan, targs, model_config = train.prepare(config, doc.where, refused, strict=args.strict)
    data = secrets.scrub(explain.explanation(doc, plan, targs, model_config, refused),
                         secrets.found(doc.data, args.overrides))
    print(json.dumps(data, indent=2) if args.json else explain.render(data))
    return EXIT_OK


def _train(args: argparse.Namespace) -> int:
    from ptbr import secrets, train

    doc, config = _load(args.config, args.overrides)
    hidden = secrets.found(doc.data, args.overrides)
    try:
        existing = "resume" if args.resume else "overwrite" if args.overwrite else "refuse"
        result = train.run(config, smoke=args.smoke,
                           log=lambda m: print(secrets.scrub(f"ptbr: {m}", hidden), file=sys.stderr),
                           where=doc.where, strict=args.strict, existing=existing)
    except ConfigError:
        raise  # bad input found while preparing: main() prints it, exit 2
    except KeyboardInterrupt:
        print(f"ptbr: interrupted; checkpoints saved so far are in {train.output_dir(config)}", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.traceback:
            traceback.print_exc()
        print(f"ptbr: training failed: {type(exc).__name__}: {exc}"
              + ("" if args.traceback else " (rerun with --traceback for details)"), file=sys.stderr)
        return EXIT_FAILED
    loss = f", last logged loss {result.loss:.4g}" if result.loss is not None else ""
    print(f"ptbr: trained {result.steps} steps in {result.seconds:.1f} s{loss}; model saved to {result.final_dir}")
    return EXIT_OK


def _prove(args: argparse.Namespace) -> int:
    from ptbr import prove

    quiet = args.json and args.out is None  # stdout is the JSON
    with contextlib.ExitStack() as stack:
        if quiet:  # what training prints (the Trainer's log lines) goes to stderr
            stack.enter_context(contextlib.redirect_stdout(sys.stderr))
        work = args.work or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ptbr-prove-")))
        proofs = prove.prove_all(args.configs, work, args.base, smoke=not args.no_smoke,
                                 log=lambda line: print(line, file=sys.stderr if quiet else sys.stdout),
                                 each=lambda so_far: _write_json(args.out, so_far) if args.out else None)
    if args.json and args.out is None:
        print(json.dumps(proofs, indent=2, default=str))
    return EXIT_FAILED if any("error" in p for p in proofs["configs"]) else EXIT_OK


def _write_json(path: Path, data: Any) -> None:
    """``data`` as JSON at ``path``, whole or not at all (a temporary file renamed): a reader, or a process that
    dies while writing, never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(partial, path)


def _migrate(args: argparse.Namespace) -> int:
    """Each file's nested form: printed (one file), written under -o, or in place; every file checked first, so that
    nothing is written when one cannot be migrated."""
    from ptbr import migrate

    if len(args.files) > 1 and not args.in_place and args.output is None:
        raise ConfigError([Problem("ptbr migrate", "", f"{len(args.files)} files and nowhere to write them",
                                   "give -o DIRECTORY or --in-place (one file alone is printed)")])
    if len(args.files) > 1 and args.output is not None and args.output.is_file():
        raise ConfigError([Problem(str(args.output), "", "is a file; several configs need a directory")])
    done, problems = [], []
    for path in args.files:
        try:
            done.append(migrate.migrate(path))
        except ConfigError as exc:
            problems += exc.problems
    outs = [None if args.output is None else args.output / m.path.name
            if len(args.files) > 1 or args.output.is_dir() else args.output for m in done]
    problems += _clobbered([m.path for m in done], outs)
    if problems:
        raise ConfigError(problems)
    for m, out in zip(done, outs, strict=True):
        said = "already nested: unchanged" if m.layout == "nested" else f"{m.layout} → nested"
        if args.in_place:
            if m.layout != "nested":
                migrate.write(m, m.path)
            print(f"ptbr: {m.path}: {said}", file=sys.stderr)
        elif out is not None:
            migrate.write(m, out)
            print(f"ptbr: {m.path}: {said}, written to {out}", file=sys.stderr)
        else:
            sys.stdout.write(m.text)
    return EXIT_OK


def _clobbered(paths: list[Path], outs: list[Path | None]) -> list[Problem]:
    """Destinations that would overwrite a file this run did not read, or that two inputs share: refused before
    anything is written (--in-place is how a file is rewritten)."""
    problems, seen = [], {}
    for path, out in zip(paths, outs, strict=True):
        if out is None:
            continue
        if out.resolve() in seen:
            problems.append(Problem(str(out), "", f"{seen[out.resolve()]} and {path} would both be written here",
                                    "migrate them into different directories"))
        elif out.exists() and not out.samefile(path):
            problems.append(Problem(str(out), "", "exists: migrate does not overwrite a file it did not read",
                                    "remove it, choose another -o, or use --in-place to rewrite the config itself"))
        seen.setdefault(out.resolve(), path)
    return problems


def _schema(args: argparse.Namespace) -> int:
    from ptbr import reference

    print(reference.markdown(installed=True) if args.markdown else json.dumps(reference.json_schema(), indent=2))
    return EXIT_OK


COMMANDS = {"validate": _validate, "explain": _explain, "train": _train, "prove": _prove, "migrate": _migrate,
            "schema": _schema}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code. Bad input is printed to stderr as ``error: ...`` lines, exit 2."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse: --help/--version exit 0, usage errors exit 2
        return int(exc.code or 0)
    try:
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        from ptbr import secrets

        named = getattr(args, "config", None) or getattr(args, "configs", None) or getattr(args, "files", None) or []
        hidden = secrets.hidden_in([named] if isinstance(named, str) else named, getattr(args, "overrides", []))
        for problem in exc.problems:
            print(f"error: {secrets.scrub(str(problem), hidden)}", file=sys.stderr)
        return EXIT_USAGE


def entry() -> None:
    sys.exit(main())
