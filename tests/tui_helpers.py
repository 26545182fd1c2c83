"""Helpers for the TUI tests: the screen as plain text, waiting for the dump to load."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console


def screen_text(app: Any) -> str:
    """What the terminal shows, as plain text (the same render as Textual's SVG screenshot)."""
    width, height = app.size
    console = Console(
        width=width,
        height=height,
        file=io.StringIO(),
        force_terminal=True,
        color_system="truecolor",
        record=True,
        legacy_windows=False,
        safe_box=False,
    )
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text(styles=False)


async def wait_loaded(app: Any, pilot: Any, timeout: float = 30.0) -> None:
    waited = 0.0
    while not app.loaded and waited < timeout:
        await pilot.pause(0.05)
        waited += 0.05
    assert app.loaded, "the dump did not finish parsing"
    await app.workers.wait_for_complete()
    # the first object is shown a few refreshes later (tree lines, then the hex window)
    while app.dump_screen.current is None and waited < timeout:
        await pilot.pause(0.05)
        waited += 0.05
    # tables measure their columns on the refresh after rows are added
    for _ in range(4):
        await pilot.pause(0.05)
        await pilot.wait_for_scheduled_animations()


async def wait_for_text(app: Any, pilot: Any, *texts: str, timeout: float = 10.0) -> str:
    """The screen's text once it shows every one of ``texts`` (the assertion names what never appeared)."""
    waited = 0.0
    text = screen_text(app)
    while not all(t in text for t in texts) and waited < timeout:
        await pilot.pause(0.02)
        waited += 0.02
        text = screen_text(app)
    missing = [t for t in texts if t not in text]
    assert not missing, f"{missing} never appeared; the screen:\n{text}"
    return text


def type_at_once(app: Any, *keys: str) -> None:
    """Queue ``keys`` on the app as a terminal delivers keys typed faster than the app handles them: all of
    them before the first is handled (``Pilot.press`` waits for each key to be handled first)."""
    from textual import events

    chars = {"slash": "/", "question_mark": "?", "enter": "\r", "escape": "\x1b"}
    for key in keys:
        event = events.Key(key, chars.get(key, key if len(key) == 1 else None))
        event.set_sender(app)
        app._driver.send_message(event)


def visible_tree_lines(tree: Any) -> range:
    """Line numbers of the tree that are on screen."""
    top = round(tree.scroll_y)
    return range(top, top + tree.scrollable_content_region.height)


async def open_coverage(app: Any, pilot: Any) -> Any:
    """Press ``c`` on the dump screen and wait for the coverage screen's first report; return the screen."""
    from efitables_tui.screens.coverage_screen import CoverageScreen

    await pilot.press("c")
    await pilot.pause()
    assert isinstance(app.screen, CoverageScreen)
    await app.workers.wait_for_complete()
    await pilot.pause()
    return app.screen
