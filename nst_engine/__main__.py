from nst_engine.cli import main

raise SystemExit(main())
