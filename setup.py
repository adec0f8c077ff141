"""Packaging (the rest is in pyproject.toml): one import name, ``omniroute_mitm``,
over the design card's folders: ``addons/engine`` and ``addons/front`` are
``omniroute_mitm.engine`` and ``omniroute_mitm.front``, ``translators/`` is
``omniroute_mitm.translators`` (``omniroute_mitm`` itself is a namespace: no
folder of its own). Every subpackage under them is found by discovery (no
list to keep up to date). ``addons/omniroute.py``, the file mitmdump loads
from a checkout, is not in the wheel (``omniroute run`` has its own copy).
The wheel also carries the starting config.yaml, for ``omniroute init``."""

from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

ROOTS = {
    "omniroute_mitm.engine": "addons/engine",
    "omniroute_mitm.front": "addons/front",
    "omniroute_mitm.translators": "translators",
}


def packages() -> list[str]:
    found = []
    for name, folder in ROOTS.items():
        found.append(name)
        found += [f"{name}.{sub}" for sub in find_packages(folder) if not sub.startswith("test")]
    return found


class BuildWithStartingConfig(build_py):
    """The wheel's copy of config.yaml (``omniroute init`` writes it for the user)."""

    def run(self) -> None:
        super().run()
        if not self.editable_mode:
            target = Path(self.build_lib) / "omniroute_mitm" / "engine" / "core" / "data"
            target.mkdir(parents=True, exist_ok=True)
            self.copy_file("config.yaml", str(target / "config.yaml"))


setup(
    packages=packages(),
    package_dir=ROOTS,
    package_data={
        # LiteLLM's price map, trimmed (MIT; scripts/refresh_prices.py)
        "omniroute_mitm.engine.core": ["data/*.json"],
        # the installed mitmdump entry, in a folder of its own
        "omniroute_mitm.front": ["mitmdump/omniroute.py"],
    },
    cmdclass={"build_py": BuildWithStartingConfig},
)
