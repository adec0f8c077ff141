#!/usr/bin/env python3
"""The project's certificate authority (see ``omniroute_mitm.engine.ops.ca``):

    .venv/bin/python scripts/ca.py generate | env | install | uninstall
"""

import sys

from omniroute_mitm.engine.ops.ca import main

if __name__ == "__main__":
    sys.exit(main())
