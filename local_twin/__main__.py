"""`python -m local_twin`."""

import sys

from local_twin.cli import main

sys.exit(main())
