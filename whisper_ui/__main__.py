from whisper_ui.cli import main

raise SystemExit(main())
