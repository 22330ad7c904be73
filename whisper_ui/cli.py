"""Entry points: ``python app.py`` (the web app) and ``python -m whisper_ui`` (tools)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from .core.errors import ConfigError, WhisperUIError
from .core.logs import setup_logging
from .core.settings import Settings, build_parser, cache_environment, load_settings

log = logging.getLogger("whisper_ui")


def run_app(argv: Sequence[str] | None = None) -> int:
    try:
        settings = load_settings(argv)
    except ConfigError as e:
        print(f"app.py: error: {e}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level)
    from .web.server import serve

    try:
        return serve(settings)
    except ConfigError as e:
        print(f"app.py: error: {e}", file=sys.stderr)
        return 2


# --- python -m whisper_ui ----------------------------------------------------


def _human(nbytes: int | None) -> str:
    if nbytes is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if nbytes < 1000 or unit == "GB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1000
    return ""


def _cmd_models_list(args: argparse.Namespace) -> int:
    from .models.sources import list_models

    # both forms of each model: openai-whisper's checkpoint NAME.pt and faster-whisper's CTranslate2 folder NAME/
    print(f"model folder: {args.model_dir}")
    rows = [("model", "openai-whisper file", "faster-whisper folder", "approx. memory")]
    for info in list_models(args.model_dir):
        rows.append((info.name + ("" if info.official else " (local)"),
                     f"{info.path.name} " + (_human(info.size_bytes) if info.on_disk else "(not here)"),
                     f"{info.ct2_dir.name}/ " + (_human(info.ct2_size_bytes) if info.ct2_on_disk else "(not here)"),
                     f"~{info.approx_memory_mb / 1000:.1f} GB"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


def _cmd_import_ct2(args: argparse.Namespace) -> int:
    from .models.convert import import_ct2

    path = import_ct2(Path(args.src_dir), args.name, args.model_dir)
    print(f"wrote {path}; load it with --model {args.name}")
    return 0


def _cmd_import_hf(args: argparse.Namespace) -> int:
    from .models.convert_hf import import_hf

    path = import_hf(Path(args.src), args.name, args.model_dir)
    print(f"wrote {path}; load it with --model {args.name}")
    return 0


def _cmd_models_export_ct2(args: argparse.Namespace) -> int:
    from .models.export_ct2 import export_ct2

    path = export_ct2(args.name, args.model_dir, overwrite=args.force)
    print(f"wrote {path}; faster-whisper loads it with WhisperModel({str(path)!r})")
    return 0


def _print_cache_entries(entries, note_kept: bool = True) -> None:
    from .models.hfcache import human_size

    rows = [("kind", "name", "size", "path")]
    for entry in entries:
        kept = " (app model folder: kept)" if note_kept and entry.in_model_dir else ""
        rows.append((entry.kind, entry.name + kept, human_size(entry.size), str(entry.path)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def _cmd_cache_list(args: argparse.Namespace) -> int:
    from .models.hfcache import cache_folders, find_whisper_caches, human_size

    entries = find_whisper_caches(cache_environment(), sys.platform, keep=args.model_dir)
    if not entries:
        folders = ", ".join(map(str, cache_folders(cache_environment(), sys.platform))) or "none of the cache folders exist"
        print(f"No Whisper model files found. Looked in: {folders}")
        return 0
    _print_cache_entries(entries)
    kept = sum(e.size for e in entries if e.in_model_dir)
    total = f"total: {human_size(sum(e.size for e in entries))} in {len(entries)} entries"
    if kept:
        total += f"; {human_size(kept)} of it is the app's model folder ({args.model_dir}), which `cache clean` keeps"
    print(total)
    return 0


def _cmd_cache_clean(args: argparse.Namespace) -> int:
    from .models.hfcache import clean, find_whisper_caches, select_entries

    entries = find_whisper_caches(cache_environment(), sys.platform, keep=args.model_dir)
    selected = select_entries(entries, args.name or (), include_model_dir=args.include_model_dir)
    kept = [e for e in entries if e.in_model_dir and e not in selected]
    if kept and not args.name:
        print(f"kept (in the app's model folder {args.model_dir}; name one with --name to delete it, "
              "or pass --include-model-dir):")
        _print_cache_entries(kept, note_kept=False)
    if not selected:
        print("Nothing to delete: no other Whisper model files were found in the caches.")
        return 0
    print("deleting:" if args.yes else "would delete:")
    _print_cache_entries(selected, note_kept=False)
    report = clean(selected, dry_run=not args.yes)
    for error in report.errors:
        print(f"error: {error}", file=sys.stderr)
    print(report.summary())
    if not args.yes:
        again = " ".join(["python -m whisper_ui cache clean", *(f"--name {n}" for n in args.name or ()),
                          *(["--include-model-dir"] if args.include_model_dir else []), "--yes"])
        print(f"This was a dry run. To delete, run: {again}")
    return 0 if report.ok else 1


def _model_name(text: str) -> str:
    from .core.settings import _model_name as parse

    try:
        return parse(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from e


def tools_parser(defaults: Settings) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m whisper_ui", description="whisper-ui tools")
    sub = parser.add_subparsers(dest="command", required=True)

    def model_dir_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("--model-dir", type=lambda s: Path(s).expanduser(), default=defaults.model_dir,
                       help=f"model folder [env WHISPER_UI_MODEL_DIR; default: {defaults.model_dir}]")

    models = sub.add_parser("models", help="list and import models").add_subparsers(dest="action", required=True)
    p = models.add_parser("list", help="every known model: on disk or not, file size, approximate memory")
    model_dir_arg(p)
    p.set_defaults(func=_cmd_models_list)
    p = models.add_parser("import-ct2", help="convert a CTranslate2 (faster-whisper) model folder into NAME.pt")
    p.add_argument("src_dir", metavar="SRC_DIR", help="folder with model.bin and config.json")
    p.add_argument("--name", required=True, type=_model_name, help="name to load it by (writes NAME.pt)")
    model_dir_arg(p)
    p.set_defaults(func=_cmd_import_ct2)
    p = models.add_parser("import-hf", help="convert a Hugging Face Transformers Whisper checkpoint folder into NAME.pt")
    p.add_argument("src", metavar="SRC", help="folder with config.json and model.safetensors or pytorch_model.bin "
                                              "(or a models--org--name folder of the Hugging Face cache)")
    p.add_argument("--name", required=True, type=_model_name, help="name to load it by (writes NAME.pt)")
    model_dir_arg(p)
    p.set_defaults(func=_cmd_import_hf)
    p = models.add_parser("export-ct2", help="convert NAME.pt into a CTranslate2 (faster-whisper) model folder NAME/")
    p.add_argument("name", metavar="NAME", type=_model_name, help="the checkpoint to convert (NAME.pt in the model folder)")
    p.add_argument("--force", action="store_true", help="replace the folder NAME/ if it already exists")
    model_dir_arg(p)
    p.set_defaults(func=_cmd_models_export_ct2)

    cache = sub.add_parser("cache", help="list and delete Whisper models in the Hugging Face, torch and openai-whisper "
                                         "caches").add_subparsers(dest="action", required=True)
    p = cache.add_parser("list", help="every Whisper model file or folder in the caches, with sizes and a total")
    model_dir_arg(p)
    p.set_defaults(func=_cmd_cache_list)
    p = cache.add_parser("clean", help="delete them (a dry run unless --yes); the app's model folder is kept")
    p.add_argument("--yes", action="store_true", help="really delete (without it, only list what would go)")
    p.add_argument("--name", action="append", metavar="NAME",
                   help="delete only this entry (as `cache list` names it); may be repeated. "
                        "Naming an entry in the app's model folder deletes it")
    p.add_argument("--include-model-dir", action="store_true",
                   help="also delete the models in the app's model folder (--model-dir)")
    model_dir_arg(p)
    p.set_defaults(func=_cmd_cache_clean)

    serve = sub.add_parser("serve", help="run the web app (same as python app.py)", add_help=False)
    serve.set_defaults(func=None)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["serve"]:
        return run_app(argv[1:])
    try:
        defaults = load_settings([])
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    setup_logging(defaults.log_level)
    args = tools_parser(defaults).parse_args(argv)
    try:
        return args.func(args)
    except WhisperUIError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


__all__ = ["build_parser", "main", "run_app"]
