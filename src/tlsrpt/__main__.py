from tlsrpt.cli import main

raise SystemExit(main())
