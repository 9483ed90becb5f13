"""python -m cars: the `cars` command line (see cars.cli)."""

from cars.cli import main

raise SystemExit(main())
