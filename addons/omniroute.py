"""The file mitmdump loads: ``mitmdump -s addons/omniroute.py``.

The front itself is :mod:`omniroute_mitm.front` (installed with the package:
``bash scripts/setup.sh`` or ``pip install .``).
"""

from omniroute_mitm.front import OmniRoute

addons = [OmniRoute()]
