"""The command line: ``cli`` (``omniroute``: doctor, init, ca, addon, run),
``usage_cli`` (``omniroute-usage``), ``ca`` (the project's CA), ``doctor``."""
