"""Command palette entries: every screen action, and "Jump to" any parsed object by name."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from efitables_tui.screens.dump_screen import DumpScreen
from efitables_tui.text import plain

#: (title, help, DumpScreen action)
ACTIONS: list[tuple[str, str, Callable[[DumpScreen], None]]] = [
    ("Go to address", "Hex view at a physical address", DumpScreen.action_goto),
    ("Search objects", "Find an object by GUID, name or kind", DumpScreen.action_search),
    ("Findings", "Every finding of the dump", DumpScreen.action_findings),
    ("Memory map", "The address space as a picture, E820 and the EFI memory map", DumpScreen.action_memmap),
    ("Coverage", "kexec identity-map models and verdicts", DumpScreen.action_coverage),
    ("Copy value", "Copy the selected field's value", DumpScreen.action_copy),
    ("Export JSON", "Write the selected object as JSON (asks where)", DumpScreen.action_export),
    ("Cancel scan", "Stop the signature scan (or a memory search)", DumpScreen.action_cancel_scan),
    ("Help", "Key bindings", DumpScreen.action_help),
]

MAX_NODE_HITS = 5000


class EfitablesCommands(Provider):
    def _dump_screen(self) -> DumpScreen | None:
        for s in reversed(self.app.screen_stack):
            if isinstance(s, DumpScreen):
                return s
        return None

    async def discover(self) -> Hits:
        ds = self._dump_screen()
        if ds is None:
            return
        for title, help_text, action in ACTIONS:
            yield DiscoveryHit(title, partial(action, ds), help=help_text)

    async def search(self, query: str) -> Hits:
        ds = self._dump_screen()
        if ds is None:
            return
        matcher = self.matcher(query)
        for title, help_text, action in ACTIONS:
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), partial(action, ds), help=help_text)
        model = ds.model
        if model is None:
            return
        for node in model.nodes[:MAX_NODE_HITS]:
            text = f"Jump to {node.label}"
            score = matcher.match(text)
            if score <= 0 and query.strip().lower() in node.search_text:
                score = 0.2
            if score > 0:
                display = plain(text, limit=120)
                if node.address is not None:
                    display.append(f" @{node.address:#x}", style="dim")
                yield Hit(score, display, partial(ds.select_node, node), text=text, help=node.kind)
