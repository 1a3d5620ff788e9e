"""`python -m lmlearn ...`, which `accelerate launch -m lmlearn ...` runs on every process."""

import sys

from lmlearn.cli import main

sys.exit(main())
