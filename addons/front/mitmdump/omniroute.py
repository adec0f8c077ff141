"""The file mitmdump loads when installed from a wheel: ``omniroute run``
(or ``mitmdump -s "$(omniroute addon)"``). A folder of its own: mitmdump puts
the script's folder on ``sys.path``.

The front itself is :mod:`omniroute_mitm.front` (installed with the package:
``bash scripts/setup.sh`` or ``pip install .``).
"""

from omniroute_mitm.front import OmniRoute

addons = [OmniRoute()]
