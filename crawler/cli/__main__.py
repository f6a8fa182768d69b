"""`python -m crawler.cli`: the same as the `raqib` command."""
from crawler.cli.main import main

raise SystemExit(main())
