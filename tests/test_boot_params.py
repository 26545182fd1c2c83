"""struct boot_params: schema layout, parsing with every combined pointer, checks, the command line."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from efitables.boot import efi_memmap_of, parse_boot_params
from efitables.boot.bootparams import read_cmdline
from efitables.dump import Dump
from efitables.schemas.boot_params import (
    BOOT_PARAMS,
    OFFSETS,
    SETUP_HEADER,
    loader_name,
)
from efitables.schemas.common import struct_layout
from efitables.schemas.snp import CC_BLOB_SEV_HDR_MAGIC
from tests import builders_boot as B

BP = 0x10000


def codes(findings):
    return [f.code for f in findings]


def test_schema_offsets_match_bootparam_h():
    spans = {s.name: s.offset for s in struct_layout(BOOT_PARAMS)}
    for name, off in OFFSETS.items():
        key = name if name in spans else next(k for k in spans if k.startswith(name + "."))
        assert spans[key] == off, name
    assert spans["efi_info.efi_memmap_hi"] == 0x1DC
    assert spans["hdr.kernel_info_offset"] == 0x268
    assert spans["screen_info.ext_lfb_base"] == 0x3A
    assert SETUP_HEADER.sizeof() == 0x7B and BOOT_PARAMS.sizeof() == 0x1000


def test_schema_round_trip():
    raw = B.boot_params(e820=[(0, 0x9FC00, 1)], hdr__cmd_line_ptr=0x20000, acpi_rsdp_addr=0xF59E0, _pad4=b"x" * 112)
    c = BOOT_PARAMS.parse(raw)
    assert BOOT_PARAMS.build(c) == raw
    assert c.hdr.header == 0x53726448 and c.hdr.version == 0x020F and c.e820_table[0].size == 0x9FC00
    assert c._pad4 == b"x" * 112  # padding is data (older kernels kept cc_blob_address's bytes there)


def test_loader_names():
    assert loader_name(0xB0) == "Qemu (version 0)"
    assert loader_name(0x72) == "GRUB (version 2)"
    assert loader_name(0xE3, 0x02) == "OVMF UEFI virtualization stack (version 3)"
    assert loader_name(0xFF) == "undefined (0xff)"


def loader_layout():
    """A kexec-style zero page: HdrS, every 64-bit pointer split across its ext_/_hi halves."""
    L = B.Layout(0x100000)
    L.add(0x1_0000_0000, 0x2000)  # above 4 GiB: command line
    L.put(0x1_0000_0000, b"console=ttyS0 root=/dev/vda\0")
    L.put(0xF59E0, b"RSD PTR ")
    L.put(0x7F000, CC_BLOB_SEV_HDR_MAGIC.to_bytes(4, "little"))
    L.put(
        BP,
        B.boot_params(
            version=0x020F,
            e820=[(0, 0x9FC00, 1), (0x100000, 0x7F00000, 1)],
            efi=B.efi_info(0x1_2345_6000, 0x1_0000_1000, 0x300, bits=64),
            hdr__cmd_line_ptr=0x0,
            ext_cmd_line_ptr=0x1,
            hdr__ramdisk_image=0x3000_0000,
            ext_ramdisk_image=0x2,
            hdr__ramdisk_size=0x0100_0000,
            ext_ramdisk_size=0x0,
            hdr__setup_data=0x20000,
            hdr__loadflags=0x81,
            hdr__xloadflags=0x1B,
            hdr__type_of_loader=0xD0,
            acpi_rsdp_addr=0xF59E0,
            cc_blob_address=0x7F000,
            secure_boot=3,
            tboot_addr=0,
        ),
    )
    return L


def test_parse_loader_zero_page_field_by_field():
    bp = parse_boot_params(loader_layout().memory(), BP, found_by="argument")
    assert bp.has_hdrs and bp.protocol == "2.15" and bp.protocol_version == 0x020F
    assert bp.boot_flag == 0xAA55 and bp.loader == "kexec-tools (version 0)"
    assert bp.loadflags == ["LOADED_HIGH", "CAN_USE_HEAP"]
    assert bp.xloadflags == ["XLF_KERNEL_64", "XLF_CAN_BE_LOADED_ABOVE_4G", "XLF_EFI_HANDOVER_64", "XLF_EFI_KEXEC"]
    assert bp.efi_loader_signature == "EL64" and bp.efi_bits == 64
    assert bp.efi_systab == 0x1_2345_6000 and bp.efi_memmap == 0x1_0000_1000
    assert (bp.efi_memmap_size, bp.efi_memdesc_size, bp.efi_memdesc_version) == (0x300, 48, 1)
    assert bp.cmd_line_ptr == 0x1_0000_0000 and bp.cmdline_size == 2047
    assert bp.ramdisk_image == 0x2_3000_0000 and bp.ramdisk_size == 0x0100_0000
    assert bp.acpi_rsdp_addr == 0xF59E0 and bp.cc_blob_address == 0x7F000
    assert bp.setup_data_ptr == 0x20000 and bp.secure_boot == "enabled" and bp.sentinel == 0
    assert bp.e820_entries == 2 and [e.addr for e in bp.e820_table] == [0, 0x100000]
    assert bp.command_line.text == "console=ttyS0 root=/dev/vda" and bp.command_line.terminated
    assert bp.findings == [] and bp.found_by == "argument"
    assert bp.title == "boot_params (protocol 2.15, EL64)"
    d = json.loads(json.dumps(bp.to_dict()))
    assert d["command_line"]["text"] == "console=ttyS0 root=/dev/vda" and d["fields"]["hdr"]["version"] == 0x020F
    assert d["efi_loader_signature"] == "EL64" and "e820_table" not in d


def test_efi_stub_zero_page_without_hdrs():
    L = B.Layout(0x100000)
    L.put(BP, B.boot_params(hdrs=False, e820=[(0, 0x9F000, 1)], efi=B.efi_info(0x7E0018, 0x90000, 0x300)))
    bp = parse_boot_params(L.memory(), BP)
    assert not bp.has_hdrs and bp.protocol == "" and bp.efi_loader_signature == "EL64"
    assert codes(bp.findings) == ["BOOT-PARAMS-NO-HDRS"] and bp.findings[0].severity.name == "INFO"
    assert bp.command_line is None


def test_unidentified_page_and_bad_header():
    L = B.Layout(0x100000)
    L.put(BP, bytes(4096))
    L.put(0x20000, B.boot_params(version=0x0100, hdr__boot_flag=0x1234, sentinel=0xFF))
    mem = L.memory()
    assert codes(parse_boot_params(mem, BP).findings) == ["BOOT-PARAMS-UNIDENTIFIED"]
    assert codes(parse_boot_params(mem, 0x20000).findings) == [
        "BOOT-PARAMS-BOOT-FLAG",
        "BOOT-PARAMS-VERSION",
        "BOOT-PARAMS-SENTINEL",
    ]
    assert parse_boot_params(mem, 0x200000) is None  # not in the dump


def test_e820_entries_above_capacity():
    L = B.Layout(0x100000)
    L.put(BP, B.boot_params(e820=[(0x1000 * i, 0x1000, 1) for i in range(128)], e820_entries=200))
    bp = parse_boot_params(L.memory(), BP)
    assert bp.e820_entries == 200 and len(bp.e820_table) == 128
    assert codes(bp.findings) == ["BOOT-PARAMS-E820-COUNT"]


def test_rsdp_and_cc_blob_pointers_are_checked():
    L = B.Layout(0x100000)
    L.put(BP, B.boot_params(acpi_rsdp_addr=0x50000, cc_blob_address=0x60000, eddbuf_entries=9))
    assert codes(parse_boot_params(L.memory(), BP).findings) == ["BOOT-PARAMS-EDD-COUNT", "BOOT-PARAMS-RSDP"]
    # cc_blob_address is followed by the SNP analysis, which reports the blob once (not boot_params too)
    d = Dump(L.memory(), boot_params=BP, scan="never")
    magic = [f for f in d.findings if f.code == "SNP-BLOB-MAGIC"]
    assert [(f.address, f.severity.name) for f in magic] == [(0x60000, "ERROR")]
    L.put(BP, B.boot_params(acpi_rsdp_addr=0x900000, cc_blob_address=0x900000))
    assert codes(parse_boot_params(L.memory(), BP).findings) == ["BOOT-PARAMS-RSDP"]
    d = Dump(L.memory(), boot_params=BP, scan="never")
    assert [(f.code, f.address) for f in d.cc_blob.all_findings()] == [("DUMP-READ", 0x900000)]


def test_command_line_without_terminator():
    L = B.Layout(0x100000)
    L.put(0x20000, b"A" * 300)
    cl = read_cmdline(L.memory(), 0x20000, 255)
    assert not cl.terminated and cl.text == "A" * 255 and cl.limit == 255
    assert codes(cl.findings) == ["BOOT-CMDLINE-UNTERMINATED"]
    assert "within 255 characters" in cl.findings[0].message


def test_command_line_into_a_hole_and_unreadable():
    L = B.Layout()
    L.add(0x20000, 0x1000)
    L.put(0x20000 + 0x1000 - 4, b"abcd")
    mem = L.memory()
    cl = read_cmdline(mem, 0x20000 + 0x1000 - 4, 2047)
    assert cl.text == "abcd" and not cl.terminated and "before a hole" in cl.findings[0].message
    cl = read_cmdline(mem, 0x50000, 2047)
    assert codes(cl.findings) == ["BOOT-CMDLINE-UNREADABLE"] and cl.text == ""


def test_command_line_size_zero_uses_2047_and_is_data():
    L = B.Layout(0x100000)
    L.put(0x20000, b"quiet \x1b[31mred\xff\0")
    cl = read_cmdline(L.memory(), 0x20000, 0)
    assert cl.limit == 2047 and codes(cl.findings) == ["BOOT-CMDLINE-SIZE"]
    assert cl.text == "quiet \x1b[31mred\\xff"  # kept as data; the CLI escapes it
    assert cl.raw == b"quiet \x1b[31mred\xff"


def test_efi_memmap_from_efi_info_and_its_bad_sizes():
    L = B.Layout(0x100000)
    L.put(0x90000, B.memory_map([(7, 0, 0x9F, 0xF), (6, 0x7E0000, 0x20, 1 << 63)], desc_size=48))
    L.put(BP, B.boot_params(hdrs=False, e820=[(0, 0x9F000, 1)], efi=B.efi_info(0x7E0018, 0x90000, 96)))
    mem = L.memory()
    mm = efi_memmap_of(mem, parse_boot_params(mem, BP))
    assert [d.type_name for d in mm.descriptors] == ["EFI_CONVENTIONAL_MEMORY", "EFI_RUNTIME_SERVICES_DATA"]
    assert mm.lookup(0x7E0018).type == 6 and not mm.findings
    # a map size that is not a multiple of the descriptor size
    L.put(BP, B.boot_params(hdrs=False, e820=[(0, 0x9F000, 1)], efi=B.efi_info(0x7E0018, 0x90000, 100)))
    mm = efi_memmap_of(L.memory(), parse_boot_params(L.memory(), BP))
    assert codes(mm.findings) == ["EFI-MEMMAP-SIZE"] and len(mm.descriptors) == 2
    # a descriptor size below 40
    L.put(BP, B.boot_params(hdrs=False, e820=[(0, 0x9F000, 1)], efi=B.efi_info(0x7E0018, 0x90000, 96, desc_size=32)))
    mm = efi_memmap_of(L.memory(), parse_boot_params(L.memory(), BP))
    assert codes(mm.findings) == ["EFI-MEMMAP-DESC-SIZE"] and mm.descriptors == []


def test_dump_api_and_json():
    L = loader_layout()
    L.put(0x20000, bytes(16))  # a single SETUP_NONE node
    d = Dump(L.memory(), boot_params=BP, scan="never")
    assert d.boot_params.address == BP and d.boot_params.found_by == "argument"
    assert d.boot_params_discovery.route == "argument"
    assert (BP, "given with --boot-params") in d.boot_params_candidates()
    assert len(d.setup_data) == 1 and d.setup_data[0].type_name == "SETUP_NONE"
    assert len(d.e820.entries) == 2
    out = json.loads(json.dumps(d.to_dict()))
    boot = out["boot"]
    assert boot["boot_params"]["cmd_line_ptr"] == 0x1_0000_0000
    assert boot["setup_data"]["nodes"][0]["type"] == 0
    assert boot["discovery"]["routes"][0] == {
        "route": "argument",
        "address": BP,
        "status": "used",
        "detail": "given with --boot-params",
    }
    assert {"checks", "regions", "findings"} <= set(boot["crosschecks"])


def _raw_dump(tmp_path, layout: B.Layout):
    p = tmp_path / "boot.raw"
    with open(p, "wb") as fh:
        for pa, data in sorted(layout.segments.items()):
            fh.seek(pa)
            fh.write(data)
    return p


def test_show_text_and_json_escape_the_command_line(tmp_path):
    from click.testing import CliRunner

    from efitables.cli import cli

    L = B.Layout(0x100000)
    L.put(0x20000, b"quiet [bold red]EVIL[/] \x1b[2J\x07\0")
    L.put(BP, B.boot_params(e820=[(0, 0x9FC00, 1), (0x100000, 0xF00000, 1)], hdr__cmd_line_ptr=0x20000))
    p = _raw_dump(tmp_path, L)
    r = CliRunner().invoke(cli, ["show", "--full", "--boot-params", hex(BP), "--scan", "never", str(p)])
    assert r.exit_code == 0, r.output
    assert "boot_params @ 0x10000" in r.output and "protocol 2.15 (0x020f)" in r.output
    assert "quiet [bold red]EVIL[/] \\x1b[2J\\x07" in r.output and "\x1b[2J" not in r.output
    assert "E820 table (2 from boot_params, 0 from SETUP_E820_EXT)" in r.output
    assert "boot / EFI cross-checks" in r.output
    r = CliRunner().invoke(cli, ["show", "--json", "--boot-params", hex(BP), "--scan", "never", str(p)])
    d = json.loads(r.output)
    assert d["boot"]["boot_params"]["command_line"]["text"] == "quiet [bold red]EVIL[/] \x1b[2J\x07"
    assert d["boot"]["discovery"]["route"] == "argument" and len(d["boot"]["e820"]["entries"]) == 2


# -- fuzz: any bytes give findings, never an exception --------------------------------------


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    head=st.binary(max_size=0x500),
    e820_entries=st.integers(0, 255),
    setup_off=st.integers(0, 0x200),
    cmd_off=st.integers(0, 0x400),
    tail=st.binary(max_size=0x800),
)
def test_fuzz_zero_page_and_everything_it_points_to(head, e820_entries, setup_off, cmd_off, tail):
    from efitables.analysis.crosscheck import crosscheck
    from efitables.boot import e820_of, parse_boot_params, walk_setup_data

    raw = bytearray(head + bytes(4096 - len(head)))
    raw[0x1E8] = e820_entries
    raw[0x250:0x258] = (0x2000 + setup_off).to_bytes(8, "little")  # hdr.setup_data into the fuzzed tail
    raw[0x228:0x22C] = (0x2000 + cmd_off).to_bytes(4, "little")  # cmd_line_ptr
    mem = B.BytesMemory({0x1000: bytes(raw), 0x2000: tail + bytes(0x100)})
    bp = parse_boot_params(mem, 0x1000)
    assert bp is not None
    sdl = walk_setup_data(mem, bp.setup_data_ptr)
    e = e820_of(bp, sdl)
    mm = efi_memmap_of(mem, bp)
    xc = crosscheck(mem, boot_params=bp, setup_data=sdl, efi_memmap=mm, e820=e)
    json.dumps([bp.to_dict(raw=True), sdl.to_dict(raw=True), e.to_dict(), xc.to_dict()])
