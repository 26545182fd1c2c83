"""Package discovery only (everything else is in pyproject.toml).

``tui/`` is installed as ``efitables_tui`` (``package-dir`` in pyproject.toml);
setuptools' ``packages.find`` does not apply that mapping, so the package list
is computed here: every ``efitables*`` package plus ``efitables_tui`` and its
subpackages.
"""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["efitables", "efitables.*"])
    + ["efitables_tui"]
    + [f"efitables_tui.{p}" for p in find_packages("tui")],
)
