"""`python -m ingest_core`."""

import sys

from ingest_core.cli import main

sys.exit(main())
