"""Regenerate docs/tui.svg, the README's screenshot of ``efitables tui`` (Textual's SVG export).

    python tools/tui_screenshot.py [DUMP] [-o docs/tui.svg]

It opens the dump (default: the ovmf64.raw sample), waits for parsing, goes to
the ACPI RSDP that the first configuration table names, puts the cursor on
its RsdtAddress field, and saves the screen.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


async def shoot(dump_path: str, out: str, size: tuple[int, int]) -> None:
    from efitables.dump import Dump
    from efitables_tui.app import EfitablesApp
    from efitables_tui.widgets.fields_table import FieldsTable

    app = EfitablesApp(Dump.open(dump_path))
    async with app.run_test(size=size) as pilot:
        while not app.loaded:
            await pilot.pause(0.05)
        await app.workers.wait_for_complete()
        await pilot.pause(0.2)
        ds = app.dump_screen
        rsdp = next((n for n in ds.model.nodes if n.kind == "ACPI_RSDP"), None)
        if rsdp is not None:
            ds.select_node(rsdp)
            await pilot.pause(0.3)
            fields = app.screen.query_one(FieldsTable)
            fields.focus()
            for _ in range(4):  # Signature, Checksum, OemId, Revision -> RsdtAddress
                await pilot.press("down")
            await pilot.pause(0.3)
        app.save_screenshot(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dump", nargs="?", default="dumps/samples/ovmf64.raw")
    ap.add_argument("-o", "--output", default="docs/tui.svg")
    ap.add_argument("--size", default="150x45", help="terminal size, COLSxROWS")
    a = ap.parse_args()
    os.chdir(ROOT)  # a relative dump path in the header
    cols, rows = (int(x) for x in a.size.split("x"))
    asyncio.run(shoot(a.dump, a.output, (cols, rows)))
    print(a.output, file=sys.stderr)


if __name__ == "__main__":
    main()
