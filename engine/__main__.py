"""``python -m auspice`` is the ``auspice`` command."""

import sys

from auspice.cli import main

sys.exit(main())
