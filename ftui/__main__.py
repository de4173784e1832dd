from ftui.cli import main

raise SystemExit(main())
