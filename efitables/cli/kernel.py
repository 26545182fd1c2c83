"""The "kernel's own copies" and "three witnesses" sections of ``efitables show``.

The JSON form is ``Dump.to_dict()["kernel"]`` (``view``: :class:`efitables.kernel.copies.KernelView`,
``witnesses``: :class:`efitables.analysis.witnesses.Witnesses`). When the firmware's copy of
the EFI tables is not in the dump (a System-RAM-only capture), this section is where ``show``
answers from: the system table's address (the kernel's ``boot_params.efi_info``), every
configuration table the kernel or its log knows, the kernel's EFI memory map and its
command line. Every string from the dump goes through :func:`efitables.cli.render.safe`.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from efitables.analysis.witnesses import AGREE, DISAGREE, Witnesses
from efitables.cli.render import hexa, kv_table, safe
from efitables.cli.show import add_section
from efitables.dump import Dump
from efitables.kernel.copies import KernelView

_VERDICT_STYLE = {AGREE: "green", DISAGREE: "bold red"}
#: Rows shown per long table (the JSON has everything).
MAX_ROWS = 200


@add_section
def kernel_section(con: Console, d: Dump) -> None:
    kv = d.kernel
    if not kv.available:
        con.print(f"Kernel's own copies: unavailable ({safe(kv.error or '')})")
        con.print()
        return
    con.print(kv_table("Kernel's own copies", [(k, safe(v)) for k, v in kv.facts()]))
    for view in kv.table_views():
        t = Table(title=view.title, title_justify="left")
        for col in view.columns:
            t.add_column(col)
        for row in view.rows[:MAX_ROWS]:
            t.add_row(*(safe(c) for c in row))
        con.print(t)
    for img in (kv.kexec_image, kv.kexec_crash_image):
        if img is not None:
            _kimage(con, img)
    if d.systab is None and kv.systab is not None:
        _efi_from_kernel(con, d, kv)
    con.print()
    _witnesses(con, d.witnesses)


def _kimage(con: Console, img: object) -> None:
    from efitables.kernel.copies import KernelKimage

    assert isinstance(img, KernelKimage)
    root = f"{hexa(img.pgd)} ({safe(img.pgd_source)})" if img.pgd is not None else "unknown"
    con.print(
        kv_table(
            f"kexec image {safe(img.name)} @ {hexa(img.address)}",
            [
                ("type", img.image_type or "-"),
                ("entry", hexa(img.start)),
                ("segments", f"{len(img.segments)} of nr_segments {img.nr_segments}"),
                ("identity map", f"{root}, {img.levels}-level"),
            ],
        )
    )
    for view in img.table_views():
        t = Table(title=view.title, title_justify="left")
        for col in view.columns:
            t.add_column(col)
        for row in view.rows:
            t.add_row(*(safe(c) for c in row))
        con.print(t)


def _efi_from_kernel(con: Console, d: Dump, kv: KernelView) -> None:
    """The EFI tables as the kernel's copies give them, when the firmware's are not in the dump."""
    w = d.witnesses
    arr = kv.efi_config_table.value if kv.efi_config_table is not None else None
    con.print(
        kv_table(
            "EFI (from the kernel's copies: the firmware's are not in this dump)",
            [
                ("system table", f"{hexa(kv.systab)} (kernel boot_params.efi_info)"),
                ("configuration table array", f"{hexa(arr)} (kernel efi_config_table)" if arr else "-"),
                ("capture", safe(w.scope.describe()) if w.scope.uncaptured_types else "-"),
            ],
        )
    )
    t = Table(title="Configuration tables the kernel and its log name", title_justify="left")
    for col in ("table", "kernel", "log"):
        t.add_column(col)
    for r in w.rows:
        if r.object.startswith("configuration table ") and (r.kernel is not None or r.log is not None):
            t.add_row(
                safe(r.object.removeprefix("configuration table ")),
                safe(r.kernel.text) if r.kernel else "-",
                safe(r.log.text) if r.log else "-",
            )
    con.print(t)
    mm = kv.efi.memmap if kv.efi is not None else None
    if mm is not None and mm.descriptors is not None:
        t = Table(
            title=f"EFI memory map (kernel efi.memmap @ {mm.phys_map:#x}, {mm.nr_map} descriptors)",
            title_justify="left",
        )
        for col in ("#", "type", "physical", "pages", "virtual"):
            t.add_column(col)
        for x in mm.descriptors.descriptors[:MAX_ROWS]:
            t.add_row(
                str(x.index),
                x.type_name,
                f"{x.physical_start:#x}-{x.physical_end:#x}",
                f"{x.number_of_pages:#x}",
                hexa(x.virtual_start) if x.virtual_start else "",
            )
        con.print(t)


def _witnesses(con: Console, w: Witnesses) -> None:
    t = Table(title=f"Three witnesses ({len(w.rows)} objects)", title_justify="left")
    for view in w.table_views():
        for col in view.columns:
            t.add_column(col)
        for row, r in zip(view.rows[:MAX_ROWS], w.rows, strict=False):
            cells = [safe(c) for c in row]
            style = _VERDICT_STYLE.get(r.verdict)
            if style:
                cells[4] = f"[{style}]{cells[4]}[/]"
            t.add_row(*cells)
    con.print(t)
    con.print()
