"""`python -m bench.instructions`: see bench/instructions/run.py."""

import sys

from bench.instructions.run import main

sys.exit(main())
