"""`python3 -I -m mcp_lok_gate CONFIG.json`: the gate image's entry point."""

import sys

from .run import main

sys.exit(main())
