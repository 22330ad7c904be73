"""Start whisper-ui: ``python app.py --help`` lists every flag and its environment variable."""

from whisper_ui.cli import run_app

if __name__ == "__main__":
    raise SystemExit(run_app())
