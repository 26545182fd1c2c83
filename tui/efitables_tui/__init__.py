"""The efitables terminal UI (``efitables tui DUMP``), installed as ``efitables_tui``.

Layout follows the small-app style of toolong, posting and elia: one
:class:`~efitables_tui.app.EfitablesApp`, screens in ``screens/``, reusable
widgets in ``widgets/``, CSS in ``app.tcss``, command-palette entries in
``commands.py``. The dump model (what the tree shows, where a finding lives)
is plain Python in ``nodes.py`` so it is tested without a terminal.
"""

from __future__ import annotations

__all__ = ["EfitablesApp"]


def __getattr__(name: str) -> object:
    if name == "EfitablesApp":
        from efitables_tui.app import EfitablesApp

        return EfitablesApp
    raise AttributeError(name)
