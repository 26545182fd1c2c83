#!/usr/bin/env python3
"""Turn a real-dump guest's serial log into ground-truth JSON.

Everything comes from what the guest printed (dumps/real/guest/init): sysfs,
/proc, dmesg and the bytes it read itself through /dev/mem. Binary blobs the
guest printed in hex are decoded here with ``struct`` from the published
layouts (UEFI spec EFI_SYSTEM_TABLE / EFI_CONFIGURATION_TABLE; Linux
bootparam.h). Nothing is taken from efitables. Stdlib only.

Usage: serial_to_truth.py SERIAL_LOG [-o OUT.json] [--variant NAME] [--stage STAGE]

With several stages in one log (a kexec boot prints once per kernel), the last
stage is used unless ``--stage`` names one; a kdump capture kernel's stage
(``kdump2``, dumps/real/guest/capture) is never that stage: its report goes to
``kdump`` (below) and the truth is the crashed first kernel's (``kdump1``).

Schema (``efitables-real-truth/1``); all addresses are physical unless named
``virt``, integers are JSON numbers, byte strings lower-case hex:

* ``variant``, ``stage``, ``stages`` (every stage seen in the log)
* ``uname``: release, version, machine; ``cmdline``
* ``kernel``: ``kallsyms`` {name: virt}, ``text_phys`` (/proc/iomem "Kernel code"
  start), ``phys_base`` (= text_phys - (_text - 0xffffffff80000000)),
  ``kaslr_offset`` (= _text - 0xffffffff81000000)
* ``vmcoreinfo``: ``note_phys``, ``note_size`` (/sys/kernel/vmcoreinfo)
* ``boot_params``: ``phys`` (where the kernel's copy lives: text_phys + boot_params
  - _text), ``version`` (sysfs), ``data`` (4096 bytes, sysfs), and decoded
  fields: ``hdr_magic``, ``hdr_version``, ``type_of_loader``, ``setup_data``,
  ``acpi_rsdp_addr``, ``e820_entries``, ``e820`` [{addr, size, type}],
  ``efi_info`` {signature, systab, memdesc_size, memdesc_version, memmap,
  memmap_size}, ``secure_boot``, ``cc_blob_address``
* ``setup_data``: [{index, phys (from the dmesg "e820: update" lines of
  e820__reserve_setup_data, in list order), type, size, sha256, head (first 256
  bytes)}]
* ``e820_dmesg``: [{start, end (inclusive), type}] of the "BIOS-e820:" lines
* ``firmware_memmap``: [{index, start, end (inclusive), type}] of /sys/firmware/memmap
* ``iomem``: [{start, end, name, depth}]
* ``efi`` (null without EFI): ``fw_platform_size``, ``fw_vendor``, ``runtime``,
  ``config_table`` (as /sys/firmware/efi prints them: physical, except that a
  kexec'd 6.1 kernel prints the system table's virtual RuntimeServices), ``systab_sysfs`` {ACPI20, ACPI, SMBIOS, ...},
  ``systab_phys``, ``systab_bytes`` and ``systab`` (decoded: signature, revision,
  header_size, crc32, fw_vendor, fw_revision, con_in_handle ... runtime_services,
  boot_services, nr_tables, config_table; pointer fields as stored),
  ``config_tables`` [{guid, table}] decoded from the bytes the guest read at
  ``config_table``, ``fw_vendor_string``, ``dmesg_tables`` {name: addr} (the
  "efi: ACPI=... SMBIOS=..." line), ``version_line``, ``memmap_dmesg`` [{index,
  type, type_name, start, end (inclusive), num_pages, attribute_flags, attribute
  (reconstructed from the flags; bit 63 RUNTIME included)}], ``runtime_map``
  [{index, type, phys_addr, virt_addr, num_pages, attribute}], ``memmap``
  {phys, desc_size, size, entries [{index, type, phys, virt, num_pages,
  attribute}]}: the map at efi_info.efi_memmap as the guest read it through
  /dev/mem (null where /dev/mem refused it)
* ``setup_data_chain``: [{phys, next, type, len}] node headers the guest read
  through /proc/kcore (empty where that failed); ``page_offset_base``
* ``pvh`` (only in a log whose guest printed a ``pvh`` section: the ``pvh`` stage, a kernel
  started at its Xen PVH entry). What the guest printed: ``kallsyms`` {pvh_start_info,
  pvh_start_info_sz, pvh_bootparams, pvh_start_xen, xen_prepare_pvh, _text: virt};
  ``low_ram`` {start, end (exclusive)}: the first System RAM range, which the guest searched
  through /proc/kcore for the magic 0x336ec578 (version 0 or 1) at 8-byte alignment;
  ``start_infos`` [{phys, bytes}] every hit, decoded (struct hvm_start_info,
  include/xen/interface/hvm/start_info.h): magic, version, flags, nr_modules, modlist_paddr,
  cmdline_paddr, rsdp_paddr, memmap_paddr, memmap_entries, reserved; ``start_info`` the one
  hit (null unless exactly one); and what its pointers name, as the guest read it (/proc/kcore
  in that RAM range, /dev/mem elsewhere): ``modlist`` {phys, entries [{paddr, size,
  cmdline_paddr, reserved}]}, ``cmdline`` {phys, text (up to the NUL)}, ``rsdp`` {phys,
  signature, oem_id}, ``memmap`` {phys, entries [{addr, size, type, reserved}]};
  ``kernel_copy`` {symbol: {phys (Kernel code + symbol - _text), bytes}}: the kernel's own
  pvh_start_info / pvh_start_info_sz as read after boot (init memory: freed);
  ``rsdp_dmesg`` (the "ACPI: RSDP" line's address), ``ramdisk_dmesg`` {start, end
  (inclusive)} (the "RAMDISK:" line). Derived here, by comparing what the guest printed
  (each true or false): ``derived`` {e820_is_memmap_plus_isa (boot_params.e820 = the
  memory map + 0xa0000-0xfffff reserved, as init_pvh_bootparams builds it),
  cmd_line_ptr_is_cmdline_paddr, cmdline_is_proc_cmdline, ramdisk_is_module0 (boot_params
  and the RAMDISK line), rsdp_is_dmesg, boot_params_is_pvh_built (no HdrS, version 0x020c,
  type_of_loader 0x90/0xb0)}
* ``kexec_load`` (only in a log whose guest printed one: the ``kexecload`` / ``kexecfile`` stage, a
  kernel that kexec-loaded a second one with kexec-tools ``-d -c -l`` / ``-d -s -l`` and was dumped
  with it loaded): ``syscall_option`` (``-c``: kexec_load, ``-s``: kexec_file_load, whose segment
  list kexec-tools does not print: the kernel chooses it); from kexec-tools' debug output
  ``append``, ``initrd_size``, ``rc``, ``kexec_loaded``
  (/sys/kernel/kexec_loaded), ``entry``, ``flags``, ``nr_segments``, ``segments`` [{index, buf,
  bufsz, mem, memsz}], ``real_mode_data`` (where it put the zero page and command line),
  ``purgatory``, ``kernel``, ``initrd`` {addr, size}; and ``kimage``, what the guest read back
  through /proc/kcore: ``kallsyms`` {kexec_image, vmemmap_base, page_offset_base: virt},
  ``cpu_gbpages`` (pdpe1gb in /proc/cpuinfo: 0 or 1), ``btf`` {struct: {size, members {name:
  bits_offset}}} (bpftool's dump of the guest's /sys/kernel/btf/vmlinux for kimage,
  kexec_segment, kimage_arch, page), ``kexec_image`` (the pointer), ``raw`` (struct kimage's
  bytes), ``fields`` {head, start, control_code_page, nr_segments} and ``segments`` [{bufsz,
  mem, memsz}] decoded here with those offsets, ``pgd_phys`` (the guest's page_to_pfn of
  control_code_page << 12: the kexec identity map's root on 6.1; kimage->arch.pgd less page_offset_base where
  struct kimage_arch has ``pgd``, 6.12.14+), ``pgd_source`` (which of the two), ``pgd`` (that page, hex),
  ``head_entry`` (kimage->head), ``entry_pages`` (the page list's entry pages in list order),
  ``segment_first_pages`` [{index, mem, src (-1: not found), bytes}]: the page that holds each
  segment's first page until kexec -e, found by the guest's own walk of the list (awk) and read
  through /proc/kcore (the first page of each segment as the next kernel will find it),
  ``probes`` [{name, addr, mapped, size (4K/2M/1G), entry (the leaf's frame), level (where an
  unmapped walk stopped)}]: the guest's own walk of that map for each segment's first and last
  byte, the system table, the configuration table array's first and last byte, the firmware
  vendor string and the EFI memory map
* ``kdump`` (only in a log with a capture kernel's stage): what the first kernel
  said about its crash reservation, ``crashkernel`` {start, end (inclusive), from
  /proc/iomem "Crash kernel"; ``dmesg``, the reservation line}, ``kexec`` {rc,
  loaded, crash_size} (``kexec -p`` and /sys/kernel/kexec_crash_*); and what the
  capture kernel said: ``capture`` {stage, uname, cmdline, elfcorehdr (bytes, from
  ``elfcorehdr=NNNK``), modules {file: "ok"|"failed"}, makedumpfile_version,
  makedumpfile_features {lzo, snappy, zstd: "enabled"|"disabled"}}; ``vmcore``
  (/proc/vmcore): size, ``head_size`` and ``elf`` {class, data, osabi, type,
  machine, entry, phoff, phentsize, phnum}, ``phdrs`` [{index, type, flags,
  offset, vaddr, paddr, filesz, memsz, align}], ``notes`` [{name, type, descsz,
  offset}] decoded from the header bytes the capture kernel printed, and
  ``vmcoreinfo`` {KEY: value} (the VMCOREINFO note's text); ``outputs`` {file:
  {cmd, rc, size, sha256, seconds, message}} (the raw copy of /proc/vmcore and one
  per makedumpfile run, as the capture kernel wrote them: size -1 and sha256 "-"
  where nothing was written); ``makedumpfile_dmesg`` {rc, lines, sha256 (of the
  whole text), last (line), matched (the lines naming the version, the command
  line and the crash)} (``makedumpfile --dump-dmesg``: the first kernel's log,
  read from /proc/vmcore)
"""

from __future__ import annotations

import argparse
import json
import re
import struct
import sys
import uuid
from pathlib import Path

KERNEL_MAP = 0xFFFFFFFF80000000
START_KERNEL = 0xFFFFFFFF81000000

EFI_TYPE_NAMES = [
    "Reserved", "Loader Code", "Loader Data", "Boot Code", "Boot Data", "Runtime Code",
    "Runtime Data", "Conventional", "Unusable", "ACPI Reclaim", "ACPI Mem NVS", "MMIO",
    "MMIO Port", "PAL Code", "Persistent", "Unaccepted",
]
EFI_ATTR_FLAGS = {
    "UC": 0x1, "WC": 0x2, "WT": 0x4, "WB": 0x8, "UCE": 0x10, "WP": 0x1000, "RP": 0x2000,
    "XP": 0x4000, "NV": 0x8000, "MR": 0x10000, "RO": 0x20000, "SP": 0x40000, "CC": 0x80000,
    "RUN": 1 << 63,
}


def sections(text: str) -> list[tuple[str, dict[str, list[str]]]]:
    """[(stage, {section: lines})] in log order."""
    out: list[tuple[str, dict[str, list[str]]]] = []
    cur: dict[str, list[str]] | None = None
    name: str | None = None
    for raw in text.splitlines():
        line = raw.rstrip("\r")
        m = re.search(r"@@EFT-START stage=(\S*)", line)
        if m:
            cur = {}
            out.append((m.group(1), cur))
            continue
        if cur is None:
            continue
        m = re.match(r"@@EFT-BEGIN (\S+)$", line)
        if m:
            name = m.group(1)
            cur[name] = []
            continue
        if re.match(r"@@EFT-END (\S+)$", line):
            name = None
            continue
        if name is not None:
            cur[name].append(line)
    return out


def kv(lines: list[str]) -> dict[str, str]:
    out = {}
    for line in lines:
        k, sep, v = line.partition("=")
        if sep:
            out[k.strip()] = v.strip()
    return out


def parse_iomem(lines: list[str]) -> list[dict]:
    out = []
    for line in lines:
        m = re.match(r"^(\s*)([0-9a-f]+)-([0-9a-f]+) : (.*)$", line)
        if m:
            out.append({"start": int(m.group(2), 16), "end": int(m.group(3), 16), "name": m.group(4),
                        "depth": len(m.group(1)) // 2})
    return out


def decode_boot_params(data: bytes) -> dict:
    u8 = lambda o: data[o]  # noqa: E731
    u16 = lambda o: struct.unpack_from("<H", data, o)[0]  # noqa: E731
    u32 = lambda o: struct.unpack_from("<I", data, o)[0]  # noqa: E731
    u64 = lambda o: struct.unpack_from("<Q", data, o)[0]  # noqa: E731
    n = u8(0x1E8)
    e820 = []
    for i in range(min(n, 128)):
        addr, size, typ = struct.unpack_from("<QQI", data, 0x2D0 + 20 * i)
        e820.append({"addr": addr, "size": size, "type": typ})
    sig = data[0x1C0:0x1C4]
    return {
        "hdr_magic": data[0x202:0x206].decode("latin-1"),
        "hdr_version": u16(0x206),
        "boot_flag": u16(0x1FE),
        "type_of_loader": u8(0x210),
        "setup_data": u64(0x250),
        "cmd_line_ptr": u32(0x228) | (u32(0x0C8) << 32),
        "ramdisk_image": u32(0x218) | (u32(0x0C0) << 32),
        "ramdisk_size": u32(0x21C) | (u32(0x0C4) << 32),
        "acpi_rsdp_addr": u64(0x070),
        "cc_blob_address": u32(0x13C),
        "secure_boot": u8(0x1EC),
        "sentinel": u8(0x1EF),
        "e820_entries": n,
        "e820": e820,
        "efi_info": {
            "signature": sig.decode("latin-1"),
            "systab": u32(0x1C4) | (u32(0x1D8) << 32),
            "memdesc_size": u32(0x1C8),
            "memdesc_version": u32(0x1CC),
            "memmap": u32(0x1D0) | (u32(0x1DC) << 32),
            "memmap_size": u32(0x1D4),
        },
    }


def decode_systab(b: bytes, bits: int) -> dict:
    sig, rev, hsize, crc, _res = struct.unpack_from("<QIIII", b, 0)
    if bits == 64:
        names = ["fw_vendor", "fw_revision", "con_in_handle", "con_in", "con_out_handle", "con_out",
                 "stderr_handle", "stderr", "runtime_services", "boot_services", "nr_tables", "config_table"]
        vals = struct.unpack_from("<QI4xQQQQQQQQQQ", b, 24)
    else:
        names = ["fw_vendor", "fw_revision", "con_in_handle", "con_in", "con_out_handle", "con_out",
                 "stderr_handle", "stderr", "runtime_services", "boot_services", "nr_tables", "config_table"]
        vals = struct.unpack_from("<IIIIIIIIIIII", b, 24)
    out = {"signature": struct.pack("<Q", sig).decode("latin-1"), "revision": rev, "header_size": hsize,
           "crc32": crc}
    out.update(dict(zip(names, vals, strict=True)))
    return out


def decode_config_tables(b: bytes, n: int, bits: int) -> list[dict]:
    size = 24 if bits == 64 else 20
    out = []
    for i in range(min(n, len(b) // size)):
        g = uuid.UUID(bytes_le=b[i * size : i * size + 16])
        ptr = struct.unpack_from("<Q" if bits == 64 else "<I", b, i * size + 16)[0]
        out.append({"guid": str(g), "table": ptr})
    return out


def decode_efi_memmap(raw: bytes, stride: int) -> list[dict]:
    """EFI_MEMORY_DESCRIPTORs: u32 Type, pad, u64 PhysicalStart, VirtualStart, NumberOfPages, Attribute."""
    out = []
    if stride < 40:
        return out
    for i in range(len(raw) // stride):
        typ, phys, virt, pages, attr = struct.unpack_from("<I4xQQQQ", raw, i * stride)
        out.append({"index": i, "type": typ, "phys": phys, "virt": virt, "num_pages": pages, "attribute": attr})
    return out


def parse_efi_memmap_lines(dmesg: list[str]) -> list[dict]:
    out = []
    pat = re.compile(r"efi: mem(\d+): \[([^|\]]+)\|(.*?)\] range=\[0x([0-9a-f]+)-0x([0-9a-f]+)\]")
    for line in dmesg:
        m = pat.search(line)
        if not m:
            continue
        if out and int(m.group(1)) <= out[-1]["index"]:
            break  # efi=debug prints the runtime map again later (EFI runtime memory map:)
        name = m.group(2).strip()
        rest = m.group(3)
        am = re.search(r"attr=0x([0-9a-f]+)", rest)
        if am:
            attr = int(am.group(1), 16)
            flags = []
        else:
            flags = [f.strip() for f in rest.split("|") if f.strip()]
            attr = 0
            for f in flags:
                attr |= EFI_ATTR_FLAGS.get(f, 0)
        start, end = int(m.group(4), 16), int(m.group(5), 16)
        out.append({
            "index": int(m.group(1)),
            "type": EFI_TYPE_NAMES.index(name) if name in EFI_TYPE_NAMES else None,
            "type_name": name,
            "start": start,
            "end": end,
            "num_pages": (end + 1 - start) >> 12,
            "attribute_flags": flags,
            "attribute": attr,
        })
    return out


def parse_dmesg_tables(dmesg: list[str]) -> tuple[dict[str, int], str | None]:
    tables: dict[str, int] = {}
    version = None
    for line in dmesg:
        m = re.search(r"\] efi: (EFI v.*)$", line)
        if m:
            version = m.group(1).strip()
            continue
        m = re.search(r"\] efi: ((?:[A-Za-z0-9 .]+=0x[0-9a-f]+\s*)+)$", line)
        if m and "mem" not in line.split("efi:")[1][:5]:
            for name, val in re.findall(r"([A-Za-z0-9 .]+?)=(0x[0-9a-f]+)", m.group(1)):
                tables[name.strip()] = int(val, 16)
    return tables, version


def parse_e820_dmesg(dmesg: list[str], prefix: str) -> list[dict]:
    out = []
    pat = re.compile(re.escape(prefix) + r": \[mem 0x([0-9a-f]+)-0x([0-9a-f]+)\] (.*)$")
    for line in dmesg:
        m = pat.search(line)
        if m:
            out.append({"start": int(m.group(1), 16), "end": int(m.group(2), 16), "type": m.group(3).strip()})
    return out


def setup_data_addresses(dmesg: list[str]) -> list[tuple[int, int]]:
    """(start, end inclusive) of each node, in list order, from e820__reserve_setup_data's updates."""
    out: list[tuple[int, int]] = []
    for line in dmesg:
        if "reserve setup_data:" in line or "extended physical RAM map" in line:
            break
        m = re.search(r"e820: update \[mem 0x([0-9a-f]+)-0x([0-9a-f]+)\] usable ==> usable", line)
        if m:
            r = (int(m.group(1), 16), int(m.group(2), 16))
            if r not in out:  # printed once for e820_table and once for e820_table_kexec
                out.append(r)
    return out


def decode_start_info(b: bytes) -> dict:
    """struct hvm_start_info (include/xen/interface/hvm/start_info.h): 40 bytes in version 0, 56 from 1."""
    names = ["magic", "version", "flags", "nr_modules", "modlist_paddr", "cmdline_paddr", "rsdp_paddr"]
    out = dict(zip(names, struct.unpack_from("<IIIIQQQ", b, 0), strict=True))
    if out["version"] >= 1 and len(b) >= 56:
        out.update(zip(["memmap_paddr", "memmap_entries", "reserved"], struct.unpack_from("<QII", b, 40), strict=True))
    else:
        out.update(memmap_paddr=0, memmap_entries=0, reserved=0)
    return out


def pvh_truth(sec: dict[str, list[str]], boot_params: dict, cmdline: str, dmesg: list[str]) -> dict:
    """The ``pvh`` part of the truth (see the module docstring)."""
    kallsyms: dict[str, int] = {}
    found: dict[str, list[dict]] = {"start_info": [], "modlist": [], "cmdline": [], "rsdp": [], "memmap": [],
                                    "copy": []}
    low_ram = None
    for line in sec.get("pvh", []):
        parts = line.split()
        if len(parts) == 3 and re.fullmatch(r"[0-9a-f]{16}", parts[0]):
            kallsyms[parts[2]] = int(parts[0], 16)
        elif line.startswith("low_ram="):
            a, b = line.split("=", 1)[1].split("-")
            low_ram = {"start": int(a), "end": int(b)}
        elif parts and parts[0] in found:
            rec: dict = {"name": parts[1]} if parts[0] == "copy" else {}
            rec.update({k: v for k, v in kv(parts[2:] if parts[0] == "copy" else parts[1:]).items()})
            found[parts[0]].append({**rec, "phys": int(rec["phys"])})
    hits = [{"phys": h["phys"], "bytes": h["bytes"], **decode_start_info(bytes.fromhex(h["bytes"]))}
            for h in found["start_info"]]
    si = hits[0] if len(hits) == 1 else None
    out: dict = {"kallsyms": kallsyms, "low_ram": low_ram, "start_infos": hits, "start_info": si,
                 "modlist": None, "cmdline": None, "rsdp": None, "memmap": None}
    if found["modlist"]:
        m = found["modlist"][-1]
        raw = bytes.fromhex(m["bytes"])
        out["modlist"] = {"phys": m["phys"], "entries": [
            dict(zip(["paddr", "size", "cmdline_paddr", "reserved"], struct.unpack_from("<QQQQ", raw, o), strict=True))
            for o in range(0, len(raw) - 31, 32)]}
    if found["cmdline"]:
        c = found["cmdline"][-1]
        out["cmdline"] = {"phys": c["phys"],
                          "text": bytes.fromhex(c["bytes"]).split(b"\0", 1)[0].decode("utf-8", "replace")}
    if found["rsdp"]:
        r = found["rsdp"][-1]
        raw = bytes.fromhex(r["bytes"])
        out["rsdp"] = {"phys": r["phys"], "signature": raw[:8].decode("latin-1"),
                       "oem_id": raw[9:15].decode("latin-1")}
    if found["memmap"]:
        m = found["memmap"][-1]
        raw = bytes.fromhex(m["bytes"])
        out["memmap"] = {"phys": m["phys"], "entries": [
            dict(zip(["addr", "size", "type", "reserved"], struct.unpack_from("<QQII", raw, o), strict=True))
            for o in range(0, len(raw) - 23, 24)]}
    out["kernel_copy"] = {c["name"]: {"phys": c["phys"], "bytes": c["bytes"]} for c in found["copy"]}
    rsdp_line = next((ln for ln in dmesg if "ACPI: RSDP 0x" in ln), None)
    rm = re.search(r"ACPI: RSDP 0x([0-9A-Fa-f]+)", rsdp_line or "")
    out["rsdp_dmesg"] = int(rm.group(1), 16) if rm else None
    rd = next((re.search(r"RAMDISK: \[mem 0x([0-9a-f]+)-0x([0-9a-f]+)\]", ln) for ln in dmesg if "RAMDISK:" in ln),
              None)
    out["ramdisk_dmesg"] = {"start": int(rd.group(1), 16), "end": int(rd.group(2), 16)} if rd else None
    derived: dict = {}
    if si is not None and "e820" in boot_params:
        mm = [(e["addr"], e["size"], e["type"]) for e in (out["memmap"] or {"entries": []})["entries"]]
        isa = [(0xA0000, 0x60000, 2)] if len(mm) < 127 else []
        e820 = [(e["addr"], e["size"], e["type"]) for e in boot_params["e820"]]
        mod0 = (out["modlist"] or {"entries": [{"paddr": 0, "size": 0}]})["entries"][0]
        derived = {
            "e820_is_memmap_plus_isa": e820 == mm + isa,
            "cmd_line_ptr_is_cmdline_paddr": boot_params["cmd_line_ptr"] == si["cmdline_paddr"],
            "cmdline_is_proc_cmdline": out["cmdline"] is not None and out["cmdline"]["text"] == cmdline,
            "ramdisk_is_module0": (boot_params["ramdisk_image"], boot_params["ramdisk_size"])
            == (mod0["paddr"], mod0["size"])
            and out["ramdisk_dmesg"] is not None
            and (out["ramdisk_dmesg"]["start"], out["ramdisk_dmesg"]["end"] + 1)
            == (mod0["paddr"], (mod0["paddr"] + mod0["size"] + 0xFFF) & ~0xFFF),
            "rsdp_is_dmesg": si["rsdp_paddr"] == out["rsdp_dmesg"],
            "boot_params_is_pvh_built": boot_params["hdr_magic"] != "HdrS" and boot_params["hdr_version"] == 0x020C
            and boot_params["type_of_loader"] in (0x90, 0xB0),
        }
    out["derived"] = derived
    return out


def truth_for_stage(variant: str, stage: str, sec: dict[str, list[str]], stages: list[str]) -> dict:
    uname = kv(sec.get("uname", []))
    kallsyms = {}
    for line in sec.get("kallsyms", []):
        parts = line.split()
        if len(parts) == 3:
            kallsyms[parts[2]] = int(parts[0], 16)
    iomem = parse_iomem(sec.get("iomem", []))
    text_phys = next((r["start"] for r in iomem if r["name"] == "Kernel code"), None)
    kernel = {"kallsyms": kallsyms, "text_phys": text_phys, "phys_base": None, "kaslr_offset": None}
    if text_phys is not None and "_text" in kallsyms:
        kernel["phys_base"] = text_phys - (kallsyms["_text"] - KERNEL_MAP)
        kernel["kaslr_offset"] = kallsyms["_text"] - START_KERNEL
    vmci = (sec.get("vmcoreinfo") or [""])[0].split()
    # kernel/ksysfs.c prints "%pa %x": the size is hexadecimal (0x1024 = VMCOREINFO_NOTE_SIZE)
    vmcoreinfo = {"note_phys": int(vmci[0], 16), "note_size": int(vmci[1], 16)} if len(vmci) == 2 else None

    bp_kv = kv(sec.get("boot_params", []))
    bp_data = bytes.fromhex(bp_kv.get("data", ""))
    boot_params = {"phys": None, "version": int(bp_kv["version"], 16) if "version" in bp_kv else None,
                   "data": bp_data.hex()}
    if text_phys is not None and "boot_params" in kallsyms and "_text" in kallsyms:
        boot_params["phys"] = text_phys + (kallsyms["boot_params"] - kallsyms["_text"])
    if len(bp_data) == 4096:
        boot_params.update(decode_boot_params(bp_data))

    kc = {}
    chain = []
    for line in sec.get("kcore", []):
        if line.startswith("setup_data "):
            f = kv(line.split()[1:])
            if len(f.get("header", "")) == 32:
                h = bytes.fromhex(f["header"])
                nxt, typ, length = struct.unpack("<QII", h)
                chain.append({"phys": int(f["phys"]), "next": nxt, "type": typ, "len": length})
        else:
            k, sep, v = line.partition("=")
            if sep:
                kc[k] = v
    efi_memmap = None
    if kc.get("efi_memmap") and "efi_info" in boot_params:
        raw = bytes.fromhex(kc["efi_memmap"])
        stride = boot_params["efi_info"]["memdesc_size"]
        efi_memmap = {"phys": int(kc["efi_memmap_addr"]), "desc_size": stride, "size": len(raw),
                      "entries": decode_efi_memmap(raw, stride)}

    dmesg = sec.get("dmesg", [])
    addrs = setup_data_addresses(dmesg)
    setup = []
    for line in sec.get("setup_data", []):
        parts = line.split()
        if not parts:
            continue
        f = kv(parts[1:])
        idx = int(parts[0])
        node = {"index": idx, "phys": None, "type": int(f["type"], 16), "size": int(f["size"]),
                "sha256": f["sha256"], "head": f.get("head", "")}
        setup.append(node)
    setup.sort(key=lambda n: n["index"])
    for node in setup:
        i = node["index"]
        if i < len(addrs) and addrs[i][1] + 1 - addrs[i][0] == node["size"] + 16:
            node["phys"] = addrs[i][0]

    memmap = []
    for line in sec.get("memmap", []):
        m = re.match(r"(\d+) start=0x([0-9a-f]+) end=0x([0-9a-f]+) type=(.*)$", line)
        if m:
            memmap.append({"index": int(m.group(1)), "start": int(m.group(2), 16), "end": int(m.group(3), 16),
                           "type": m.group(4)})
    memmap.sort(key=lambda e: e["index"])

    efi = None
    ek = kv(sec.get("efi", []))
    if ek:
        bits = int(ek.get("fw_platform_size", "64"))
        efi = {
            "fw_platform_size": bits,
            "fw_vendor": int(ek["fw_vendor"], 16) if "fw_vendor" in ek else None,
            "runtime": int(ek["runtime"], 16) if "runtime" in ek else None,
            "config_table": int(ek["config_table"], 16) if "config_table" in ek else None,
            "systab_sysfs": {k.split(":", 1)[1]: int(v, 16) for k, v in ek.items() if k.startswith("systab:")},
        }
        em = kv(sec.get("efi_mem", []))
        efi["systab_phys"] = int(em["systab_addr"]) if "systab_addr" in em else None
        if em.get("systab"):
            sb = bytes.fromhex(em["systab"])
            efi["systab_bytes"] = sb.hex()
            efi["systab"] = decode_systab(sb, bits)
            if em.get("config_table"):
                ct = bytes.fromhex(em["config_table"])
                efi["config_tables"] = decode_config_tables(ct, efi["systab"]["nr_tables"], bits)
        if em.get("fw_vendor"):
            fv = bytes.fromhex(em["fw_vendor"])
            s = fv.decode("utf-16-le", "replace")
            efi["fw_vendor_string"] = s.split("\0", 1)[0]
        efi["dmesg_tables"], efi["version_line"] = parse_dmesg_tables(dmesg)
        efi["memmap_dmesg"] = parse_efi_memmap_lines(dmesg)
        rmap = []
        for line in sec.get("runtime_map", []):
            parts = line.split()
            if not parts:
                continue
            f = kv(parts[1:])
            rmap.append({"index": int(parts[0]), **{k: int(v, 16) for k, v in f.items()}})
        rmap.sort(key=lambda e: e["index"])
        efi["runtime_map"] = rmap
        efi["memmap"] = efi_memmap

    truth = {
        "schema": "efitables-real-truth/1",
        "source": "guest serial log only (dumps/real/guest/init); decoded by dumps/real/serial_to_truth.py",
        "variant": variant,
        "stage": stage,
        "stages": stages,
        "uname": uname,
        "cmdline": " ".join(sec.get("cmdline", [])).strip(),
        "kernel": kernel,
        "vmcoreinfo": vmcoreinfo,
        "boot_params": boot_params,
        "setup_data": setup,
        "setup_data_chain": chain,
        "page_offset_base": int(kc["page_offset_base"]) & 0xFFFFFFFFFFFFFFFF if "page_offset_base" in kc else None,
        "e820_dmesg": parse_e820_dmesg(dmesg, "BIOS-e820"),
        "firmware_memmap": memmap,
        "iomem": iomem,
        "efi": efi,
    }
    if "pvh" in sec:
        truth["pvh"] = pvh_truth(sec, boot_params, truth["cmdline"], dmesg)
    if "kexec_load" in sec:
        truth["kexec_load"] = kexec_load_truth(sec)
    return truth


def parse_btf_lines(lines: list[str]) -> dict[str, dict]:
    """bpftool's raw BTF dump lines ("[id] STRUCT 'name' size=N vlen=M", then "'member' type_id=T
    bits_offset=B [bitfield_size=W]") -> {struct: {size, members: {name: bits_offset}}}."""
    out: dict[str, dict] = {}
    cur: dict | None = None
    for ln in lines:
        m = re.match(r"^\[\d+\] STRUCT '([^']*)' size=(\d+) vlen=\d+", ln)
        if m:
            cur = out.setdefault(m.group(1), {"size": int(m.group(2)), "members": {}})
            continue
        m = re.match(r"^\s*'([^']*)' type_id=\d+ bits_offset=(\d+)", ln)
        if m and cur is not None and m.group(1) != "(anon)":
            cur["members"][m.group(1)] = int(m.group(2))
    return out


def kexec_load_truth(sec: dict[str, list[str]]) -> dict:
    """The kexecload stage: what kexec-tools -d printed, and the kimage the guest read back (see the docstring)."""
    lines = sec.get("kexec_load", [])
    k = kv([ln for ln in lines if re.match(r"^(append|syscall_option|initrd_size|rc|kexec_loaded)=", ln)])
    text = "\n".join(lines)
    segs: dict[int, dict] = {}
    for m in re.finditer(r"^segment\[(\d+)\]\.(buf|bufsz|mem|memsz)\s*=\s*(\S+)$", text, re.M):
        segs.setdefault(int(m.group(1)), {"index": int(m.group(1))})[m.group(2)] = int(m.group(3), 16)
    entry = re.search(r"kexec_load: entry = (0x[0-9a-f]+) flags = (0x[0-9a-f]+)", text)
    nr = re.search(r"^nr_segments = (\d+)$", text, re.M)
    rmd = re.search(r"Loaded real_mode_data and command line at (0x[0-9a-f]+)", text)
    purg = re.search(r"Loaded purgatory at addr (0x[0-9a-f]+)", text)
    kern = re.search(r"Loaded 64bit kernel at (0x[0-9a-f]+)", text)
    ird = re.search(r"Loaded initrd at (0x[0-9a-f]+) size (0x[0-9a-f]+)", text)
    out: dict = {
        "append": k.get("append"),
        "syscall_option": k.get("syscall_option", "-c"),
        "initrd_size": int(k["initrd_size"]) if "initrd_size" in k else None,
        "rc": int(k["rc"]) if "rc" in k else None,
        "kexec_loaded": int(k["kexec_loaded"]) if "kexec_loaded" in k else None,
        "entry": int(entry.group(1), 16) if entry else None,
        "flags": int(entry.group(2), 16) if entry else None,
        "nr_segments": int(nr.group(1)) if nr else None,
        "segments": [segs[i] for i in sorted(segs)],
        "real_mode_data": int(rmd.group(1), 16) if rmd else None,
        "purgatory": int(purg.group(1), 16) if purg else None,
        "kernel": int(kern.group(1), 16) if kern else None,
        "initrd": {"addr": int(ird.group(1), 16), "size": int(ird.group(2), 16)} if ird else None,
    }
    ki = sec.get("kimage", [])
    btf = parse_btf_lines([ln[4:] for ln in ki if ln.startswith("btf ")])
    syms = {}
    for ln in ki:
        if ln.startswith("kallsyms "):
            syms = {a: int(b, 16) for a, b in (kvp.split("=") for kvp in ln.split()[1:]) if b}
    kk = kv([ln for ln in ki if not ln.startswith(("btf ", "probe ", "kallsyms "))])
    kimage: dict = {"kallsyms": syms, "btf": btf,
                    "cpu_gbpages": int(kk["cpu_gbpages"]) if "cpu_gbpages" in kk else None}
    if kk.get("kexec_image_le"):
        kimage["kexec_image"] = int.from_bytes(bytes.fromhex(kk["kexec_image_le"]), "little")
    raw = bytes.fromhex(kk.get("kimage", ""))
    km = btf.get("kimage", {}).get("members", {})
    sm = btf.get("kexec_segment", {})
    if raw and km:
        def u64(bit: int) -> int:
            return struct.unpack_from("<Q", raw, bit // 8)[0]

        kimage["raw"] = raw.hex()
        kimage["fields"] = {n: u64(km[n]) for n in ("head", "start", "control_code_page", "nr_segments") if n in km}
        if "segment" in km and sm and "mem" in sm["members"] and "memsz" in sm["members"]:
            n = min(kimage["fields"].get("nr_segments", 0), 16)
            base = km["segment"] // 8
            kimage["segments"] = [
                {f: struct.unpack_from("<Q", raw, base + i * sm["size"] + sm["members"][f] // 8)[0]
                 for f in ("bufsz", "mem", "memsz")} for i in range(n)]
    if "pgd_phys" in kk:
        kimage["pgd_phys"] = int(kk["pgd_phys"])
        kimage["pgd_source"] = kk.get("pgd_source", "control_code_page")
    if kk.get("pgd"):
        kimage["pgd"] = kk["pgd"]
    if "head" in kk:
        kimage["head_entry"] = int(kk["head"]) & 0xFFFFFFFFFFFFFFFF
    kimage["entry_pages"] = [int(ln.split("=", 1)[1]) for ln in ki if ln.startswith("entry_page=")]
    firsts = []
    for ln in ki:
        if ln.startswith("segment_first_page "):
            parts = ln.split()
            f = kv(parts[2:])
            firsts.append({"index": int(parts[1]), "mem": int(f["mem"]), "src": int(f["src"]),
                           "bytes": f.get("bytes")})
    kimage["segment_first_pages"] = firsts
    probes = []
    for ln in ki:
        if ln.startswith("probe "):
            parts = ln.split()
            f = kv(parts[2:])
            probes.append({"name": parts[1], "addr": int(f["addr"]), "mapped": int(f["mapped"]) == 1,
                           "size": f.get("size"), "entry": int(f["entry"], 16) if "entry" in f else None,
                           "level": int(f["level"]) if "level" in f else None})
    kimage["probes"] = probes
    out["kimage"] = kimage
    return out


#: Stages printed by a kdump capture kernel (dumps/real/guest/capture).
CAPTURE_STAGES = ("kdump2",)


def decode_vmcore_head(raw: bytes) -> dict:
    """ELF64 header, program headers and PT_NOTE entries of /proc/vmcore (System V gABI, elf.h)."""
    (e_type, e_machine, _ver, entry, phoff, _shoff, _flags, _ehsize, phentsize, phnum) = struct.unpack_from(
        "<HHIQQQIHHH", raw, 16)
    elf = {"class": raw[4], "data": raw[5], "osabi": raw[7], "type": e_type, "machine": e_machine,
           "entry": entry, "phoff": phoff, "phentsize": phentsize, "phnum": phnum}
    phdrs = []
    notes = []
    vmcoreinfo: dict[str, str] = {}
    for i in range(phnum):
        o = phoff + i * phentsize
        if o + 56 > len(raw):
            break
        p_type, p_flags, off, vaddr, paddr, filesz, memsz, align = struct.unpack_from("<IIQQQQQQ", raw, o)
        phdrs.append({"index": i, "type": p_type, "flags": p_flags, "offset": off, "vaddr": vaddr,
                      "paddr": paddr, "filesz": filesz, "memsz": memsz, "align": align})
        if p_type != 4 or off + filesz > len(raw):
            continue
        pos, end = off, off + filesz
        while pos + 12 <= end:
            namesz, descsz, ntype = struct.unpack_from("<III", raw, pos)
            if namesz == 0 and descsz == 0:
                break
            name = raw[pos + 12 : pos + 12 + namesz].split(b"\0", 1)[0].decode("latin-1")
            desc_at = pos + 12 + ((namesz + 3) & ~3)
            notes.append({"name": name, "type": ntype, "descsz": descsz, "offset": pos})
            if name == "VMCOREINFO":
                text = raw[desc_at : desc_at + descsz].decode("latin-1")
                vmcoreinfo.update(kv(text.splitlines()))
            pos = desc_at + ((descsz + 3) & ~3)
    return {"elf": elf, "phdrs": phdrs, "notes": notes, "vmcoreinfo": vmcoreinfo}


def kdump_truth(text: str, first: dict[str, list[str]], cap_stage: str, cap: dict[str, list[str]]) -> dict:
    """The kdump part of the truth: the first kernel's crash reservation and the capture kernel's report."""
    crash = None
    for r in parse_iomem(first.get("iomem", [])):
        if r["name"] == "Crash kernel":
            crash = {"start": r["start"], "end": r["end"]}
    line = next((ln for ln in first.get("dmesg", []) if "for crashkernel" in ln), None)
    if crash is not None and line is not None:
        crash["dmesg"] = line.split("] ", 1)[-1]
    kexec = None
    m = re.search(r"@@EFT-KDUMP rc=(\d+) loaded=(\d+) crash_size=(\d+)", text)
    if m:
        kexec = {"rc": int(m.group(1)), "loaded": int(m.group(2)), "crash_size": int(m.group(3))}
    cmdline = " ".join(cap.get("cmdline", [])).strip()
    ech = re.search(r"\belfcorehdr=(?:0x)?([0-9a-fA-F]+)([KMG]?)\b", cmdline)
    elfcorehdr = None
    if ech:
        elfcorehdr = int(ech.group(1), 16 if "0x" in ech.group(0) else 10) << {"": 0, "K": 10, "M": 20, "G": 30}[
            ech.group(2)]
    modules = {}
    for ln in cap.get("modules", []):
        parts = ln.split()
        if len(parts) == 2:
            modules[parts[0]] = parts[1]
    version_lines = cap.get("makedumpfile_version", [])
    mv = next((re.search(r"version (\S+)", ln) for ln in version_lines if "version" in ln), None)
    features = {}
    for ln in version_lines:
        parts = ln.split()
        if len(parts) == 2 and parts[1] in ("enabled", "disabled"):
            features[parts[0]] = parts[1]
    vk = kv(cap.get("vmcore", []))
    vmcore: dict = {"size": int(vk["size"]) if "size" in vk else None,
                    "head_size": int(vk["head_size"]) if "head_size" in vk else None}
    if vk.get("head"):
        vmcore.update(decode_vmcore_head(bytes.fromhex(vk["head"])))
    outputs = {}
    pat = re.compile(r"^(\S+) rc=(\d+) size=(-?\d+) sha256=(\S+) t0=(\S+) t1=(\S+) cmd=(.*?) msg=(.*)$")
    for ln in cap.get("outputs", []):
        m = pat.match(ln)
        if m:
            outputs[m.group(1)] = {"cmd": m.group(7).strip(), "rc": int(m.group(2)), "size": int(m.group(3)),
                                   "sha256": m.group(4),
                                   "seconds": round(float(m.group(6)) - float(m.group(5)), 2),
                                   "message": m.group(8).strip("|")}
    dk: dict = {"rc": None, "lines": None, "sha256": None, "last": None, "matched": []}
    for ln in cap.get("makedumpfile_dmesg", []):
        k, sep, v = ln.partition("=")
        if k in ("rc", "lines"):
            dk[k] = int(v)
        elif k in ("sha256", "last"):
            dk[k] = v
        elif k == "line":
            dk["matched"].append(v)
    return {
        "crashkernel": crash,
        "kexec": kexec,
        "capture": {"stage": cap_stage, "uname": kv(cap.get("uname", [])), "cmdline": cmdline,
                    "elfcorehdr": elfcorehdr, "modules": modules,
                    "makedumpfile_version": mv.group(1) if mv else None, "makedumpfile_features": features},
        "vmcore": vmcore,
        "outputs": outputs,
        "makedumpfile_dmesg": dk,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("log", type=Path)
    ap.add_argument("-o", "--out", type=Path)
    ap.add_argument("--variant", default="")
    ap.add_argument("--stage")
    args = ap.parse_args()
    text = args.log.read_bytes().decode("utf-8", "replace")
    secs = sections(text)
    if not secs:
        sys.exit(f"{args.log}: no @@EFT-START line")
    stages = [s for s, _ in secs]
    kernels = [(s, d) for s, d in secs if s not in CAPTURE_STAGES]
    if args.stage:
        chosen = [(s, d) for s, d in secs if s == args.stage]
        if not chosen:
            sys.exit(f"{args.log}: no stage {args.stage!r} (have {stages})")
        stage, sec = chosen[-1]
    elif kernels:
        stage, sec = kernels[-1]
    else:
        stage, sec = secs[-1]
    truth = truth_for_stage(args.variant, stage, sec, stages)
    captures = [(s, d) for s, d in secs if s in CAPTURE_STAGES]
    if captures and stage not in CAPTURE_STAGES:
        truth["kdump"] = kdump_truth(text, sec, *captures[-1])
    out = json.dumps(truth, indent=1) + "\n"
    if args.out:
        args.out.write_text(out)
    else:
        sys.stdout.write(out)


if __name__ == "__main__":
    main()
