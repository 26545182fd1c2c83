#!/usr/bin/env python3
"""Make the real-dump corpus: boot Debian's kernel under QEMU (TCG) and dump it.

Run as root on Debian 12 / Ubuntu (stdlib only; no efitables code is used)::

    python3 dumps/real/make_real_dumps.py --install            # apt-get the tools
    python3 dumps/real/make_real_dumps.py [--variants ovmf64,seabios,ovmf32,kexec,kexecload,kexecfile,kdump,pvh,
                                                      kexecload612]

For each variant it builds a busybox initramfs whose /init (dumps/real/guest/init)
prints the guest's own view of its boot structures on the serial console,
boots it, waits for the ``@@EFT-READY`` line, stops the guest through QMP and
dumps the stopped guest once per format (``elf``, ``kdump-zlib``, and the
``kdump-lzo``/``kdump-snappy`` formats when this QEMU build offers them), so every
container of one variant holds the same memory. Then it

* compresses the ELF with xz (``<variant>.elf.xz``),
* keeps QEMU's kdump output as written (``<variant>.kdump-zlib``, a flattened stream),
* with EFT_MAKEDUMPFILE=1, tries converting the ELF to kdump-lzo with
  makedumpfile (1.7.2 refuses QEMU's ELF; off by default),
* writes ``<variant>.serial.log.xz`` and the ground truth ``<variant>.truth.json``
  with dumps/real/serial_to_truth.py (from the serial log only),
* records tool versions and what each QEMU format did in ``manifest.json``.

The ``kdump`` variant is a kdump capture made the way users make one: the first
kernel (OVMF x86-64, ``crashkernel=``) prints its report, loads a capture kernel
with ``kexec -p`` and crashes (sysrq ``c``); the capture kernel's /init
(dumps/real/guest/capture) copies /proc/vmcore and runs Debian's makedumpfile on
it once per format (``MAKEDUMPFILE_RUNS``) onto an ext2 file system on a second
disk (virtio-blk), which the host reads with debugfs (e2fsprogs). No QEMU dump is
made of it. Each output's SHA-256 as the guest printed it is checked here.

The ``pvh`` variant boots the same kernel through its Xen PVH entry: the
uncompressed vmlinux is taken out of Debian's bzImage (:func:`extract_vmlinux`,
the job of the kernel's scripts/extract-vmlinux) and given to ``-kernel``; QEMU
sees its ``XEN_ELFNOTE_PHYS32_ENTRY`` note and boots it with its pvh.bin option
ROM (SeaBIOS underneath), which hands the kernel an ``hvm_start_info``.

Every variant boots Debian 12's own kernel (6.1) but ``kexecload612``, which boots the
6.12 kernel of bookworm-backports (``--install`` adds that suite): a kernel whose kexec
identity map hangs off ``kimage->arch.pgd`` (stable 6.12.14 and v6.14), not off the
first control page as on 6.1 (``VARIANT_KERNEL``).

Work files go to dumps/work/ (ignored by git).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import lzma
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
WORK = REPO / "dumps" / "work"

APT_PACKAGES = [
    "qemu-system-x86", "ovmf", "ovmf-ia32", "seabios", "busybox-static",
    "linux-image-amd64", "kexec-tools", "cpio", "xz-utils", "makedumpfile",
    "e2fsprogs",  # mke2fs/debugfs: the kdump variant's output disk
    "bpftool",  # the kexecload guest reads struct kimage's layout from its BTF with it
]
QEMU = "qemu-system-x86_64"
MEM_MB = 256
# No efi=debug: with it Linux never frees EFI boot-services memory (it keeps it
# for /sys/kernel/debug/efi), which leaves OVMF's copy of the bzImage and its
# boot-time heap in every dump (+9 MB incompressible, +20 MB per EFI variant).
# The guest reads the EFI memory map itself through /proc/kcore instead.
CMDLINE = "console=ttyS0 loglevel=4 iomem=relaxed log_buf_len=1M"
QEMU_FORMATS = ["elf", "kdump-zlib", "kdump-lzo", "kdump-snappy"]
BOOT_TIMEOUT = 1500
#: The kdump variant: guest RAM, the first kernel's crashkernel= reservation (the
#: capture kernel runs in it), and the time allowed for boot, crash and capture.
KDUMP_MEM_MB = 512
CRASHKERNEL = "128M"
KDUMP_TIMEOUT = 3600
#: The capture kernel's command line (kexec-tools appends elfcorehdr=).
CAPTURE_CMDLINE = "console=ttyS0 loglevel=4 log_buf_len=1M irqpoll nr_cpus=1 reset_devices eft_stage=kdump2"
#: What the capture kernel runs on /proc/vmcore: (output name, makedumpfile options).
#: -c zlib, -l lzo, -p snappy, -z zstd (a build without the codec writes the pages
#: uncompressed and says so; the guest records each exit status and message),
#: -d dump level, -F the flattened format (written to stdout).
MAKEDUMPFILE_RUNS = [
    ("kdump.kdump-zlib", "-c -d 0"),
    ("kdump.kdump-lzo", "-l -d 0"),
    ("kdump.kdump-snappy", "-p -d 0"),
    ("kdump.kdump-zstd", "-z -d 0"),
    ("kdump.kdump-lzo-d31", "-l -d 31"),
    ("kdump.kdump-zlib-d31-flat", "-F -c -d 31"),
]
#: Modules the capture kernel loads (with their modules.dep dependencies, in order):
#: the output disk (virtio-blk on PCI) and its ext2 file system (ext4's driver).
CAPTURE_MODULES = ["virtio_pci", "virtio_blk", "crc32c_generic", "ext4"]
#: Size of the output disk image (sparse) and the corpus budget of the kdump variant.
KDUMP_DISK_MB = 1536
KDUMP_BUDGET = 45_000_000
#: A kdump output is committed xz-compressed only when xz makes it at least this much smaller.
XZ_WORTH = 0.75
#: The kdump outputs considered for the corpus, in priority order (taken while they fit
#: the budget): the vmcore ELF, the common filtered kdump (-d 31, lzo: no other real
#: lzo file in the corpus), a whole one (-d 0, zlib), makedumpfile's own flattened
#: stream. Not considered: -p and -z, which this makedumpfile build writes uncompressed.
KDUMP_PRIORITY = ["kdump.vmcore", "kdump.kdump-lzo-d31", "kdump.kdump-zlib", "kdump.kdump-zlib-d31-flat",
                  "kdump.kdump-lzo"]
#: Variants whose kdump output goes into the corpus too (each is 15-20 MB more).
KDUMP_VARIANTS = {"ovmf64"}
#: --efi-debug: boot with efi=debug (dmesg lists the EFI memory map; dumps grow).
EFI_DEBUG = False
#: Commit makedumpfile's kdump-lzo too (another ~30 MB per variant; off by default).
args_keep_lzo = os.environ.get("EFT_KEEP_LZO") == "1"

VARIANTS = {
    # name: (firmware, stage, description)
    "ovmf64": ("ovmf64", "main", "OVMF x86-64, kernel's EFI stub (native 64-bit)"),
    "seabios": ("seabios", "main", "SeaBIOS, no EFI (control)"),
    "ovmf32": ("ovmf32", "main", "32-bit OVMF (Secure Boot build, SMM), 64-bit kernel in EFI mixed mode"),
    "kexec": ("ovmf64", "kexec1", "OVMF x86-64; the first kernel kexec-loads (kexec_load, kexec-tools) a second one"),
    "kdump": ("ovmf64", "kdump1", "OVMF x86-64 with crashkernel=; kexec -p, sysrq crash; the capture kernel's "
              "/proc/vmcore and makedumpfile's outputs"),
    "kexecload": ("ovmf64", "kexecload", "OVMF x86-64; the kernel kexec-loads (kexec_load, kexec-tools -l) a second "
                  "one and is dumped with it loaded, not started: its kimage, segments and identity map"),
    "kexecfile": ("ovmf64", "kexecfile", "OVMF x86-64; the kernel loads a second one with kexec_file_load "
                  "(kexec-tools -s -l: the kernel builds and places the image) and is dumped with it loaded"),
    "pvh": ("seabios", "pvh", "SeaBIOS + QEMU's pvh.bin option ROM: the uncompressed vmlinux started at its Xen "
            "PVH entry (XEN_ELFNOTE_PHYS32_ENTRY) with an hvm_start_info"),
    "kexecload612": ("ovmf64", "kexecload", "as kexecload, with Debian bookworm-backports' 6.12 kernel: the kexec "
                     "identity map's root is kimage->arch.pgd (stable 6.12.14, v6.14), not the first control page"),
}
#: The kernel each variant boots, as the prefix of its /boot/vmlinuz-<release> (the newest match);
#: variants not listed boot Debian 12's own 6.1 kernel.
DEFAULT_KERNEL = "6.1.0-"
VARIANT_KERNEL = {"kexecload612": "6.12."}
#: The suite the 6.12 kernel comes from, added by --install (Debian's own archive).
BACKPORTS = ("Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\n"
             "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n")
BACKPORTS_LIST = Path("/etc/apt/sources.list.d/efitables-bookworm-backports.sources")
#: The kernel the variant being made boots (set by main for each variant).
KERNEL_PREFIX = [DEFAULT_KERNEL]
#: ELF note type of the 32-bit PVH entry point (torvalds/linux include/xen/interface/elfnote.h@v6.1:
#: XEN_ELFNOTE_PHYS32_ENTRY), owner "Xen".
XEN_ELFNOTE_PHYS32_ENTRY = 18
#: The corpus budget of the pvh variant (its ELF, log and truth, xz'd where it helps).
PVH_BUDGET = 15_000_000


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, **kw)


def install(backports: bool) -> None:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if backports and not BACKPORTS_LIST.exists():
        BACKPORTS_LIST.write_text(BACKPORTS)
    run(["apt-get", "update"], env=env)
    run(["apt-get", "install", "-y", "--no-install-recommends", *APT_PACKAGES], env=env)
    if backports:  # the 6.12 kernel beside 6.1 (the meta package follows the newer suite; both stay installed)
        run(["apt-get", "install", "-y", "--no-install-recommends", "-t", "bookworm-backports", "linux-image-amd64"],
            env=env)


def kernel() -> tuple[Path, str]:
    """The /boot/vmlinuz-<release> of the variant being made (:data:`KERNEL_PREFIX`): the newest match."""
    prefix = KERNEL_PREFIX[0]
    images = sorted(Path("/boot").glob(f"vmlinuz-{prefix}*"))
    if not images:
        sys.exit(f"no /boot/vmlinuz-{prefix}*: apt-get install linux-image-amd64 (or run with --install)")
    img = images[-1]
    return img, img.name.removeprefix("vmlinuz-")


def extract_vmlinux(bzimage: Path, out: Path) -> dict:
    """Write the uncompressed ELF kernel inside ``bzimage`` to ``out``; what was done, for the manifest.

    The payload is where the setup header says (Documentation/arch/x86/boot.rst, protocol
    2.08+: ``payload_offset`` at 0x248 and ``payload_length`` at 0x24c, from the start of
    the protected-mode code at ``(setup_sects + 1) * 512``); torvalds/linux
    scripts/extract-vmlinux searches for each compressor's magic instead, which is the
    fallback here. xz and gzip are decompressed with the standard library, zstd with
    the zstd tool. The result must be an ELF with a Xen PVH entry note.
    """
    data = bzimage.read_bytes()
    if data[0x202:0x206] != b"HdrS":
        sys.exit(f"{bzimage}: not a bzImage (no HdrS)")
    setup_sects = data[0x1F1] or 4
    pm_start = (setup_sects + 1) * 512
    offset, length = struct.unpack_from("<II", data, 0x248)
    payload = data[pm_start + offset : pm_start + offset + length]
    magics = {b"\xfd7zXZ\x00": "xz", b"\x1f\x8b\x08": "gzip", b"\x28\xb5\x2f\xfd": "zstd"}
    how = "payload_offset/payload_length"
    codec = next((name for magic, name in magics.items() if payload.startswith(magic)), None)
    if codec is None:  # scripts/extract-vmlinux: the first compressor magic in the image
        hits = [(data.find(magic), name) for magic, name in magics.items() if data.find(magic) >= 0]
        if not hits:
            sys.exit(f"{bzimage}: no xz, gzip or zstd payload")
        start, codec = min(hits)
        payload, how = data[start:], "compressor magic search"
    if codec == "xz":
        d = lzma.LZMADecompressor()
        elf = d.decompress(payload)
    elif codec == "gzip":
        import zlib

        elf = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(payload)
    else:
        elf = subprocess.run(["zstd", "-dc"], input=payload, capture_output=True, check=True).stdout
    if elf[:4] != b"\x7fELF":
        sys.exit(f"{bzimage}: the {codec} payload is not an ELF")
    entry = pvh_entry(elf)
    if entry is None:
        sys.exit(f"{bzimage}: the kernel has no XEN_ELFNOTE_PHYS32_ENTRY note (CONFIG_PVH is off)")
    out.write_bytes(elf)
    return {"bzimage": str(bzimage), "codec": codec, "found_by": how, "payload_bytes": len(payload),
            "vmlinux_bytes": len(elf), "vmlinux_sha256": hashlib.sha256(elf).hexdigest(),
            "pvh_entry": f"{entry:#x}"}


def pvh_entry(elf: bytes) -> int | None:
    """The XEN_ELFNOTE_PHYS32_ENTRY address in a 64-bit ELF's PT_NOTE segments (ELF gABI), or None."""
    (phoff,) = struct.unpack_from("<Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    for i in range(phnum):
        p_type, _fl, off, _va, _pa, filesz = struct.unpack_from("<IIQQQQ", elf, phoff + i * phentsize)
        if p_type != 4:
            continue
        pos, end = off, off + filesz
        while pos + 12 <= end:
            namesz, descsz, ntype = struct.unpack_from("<III", elf, pos)
            name = elf[pos + 12 : pos + 12 + namesz].rstrip(b"\0")
            desc = pos + 12 + ((namesz + 3) & ~3)
            if name == b"Xen" and ntype == XEN_ELFNOTE_PHYS32_ENTRY and descsz in (4, 8):
                return int.from_bytes(elf[desc : desc + descsz], "little")
            pos = desc + ((descsz + 3) & ~3)
    return None


def pkg_version(name: str) -> str | None:
    r = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", name], capture_output=True, text=True)
    return r.stdout.strip() or None if r.returncode == 0 else None


def copy_with_libs(binary: str, root: Path) -> None:
    """Copy a dynamically linked binary and the libraries ldd names into root."""
    src = Path(shutil.which(binary) or binary)
    (root / "bin").mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, root / "bin" / src.name)
    out = subprocess.run(["ldd", str(src)], capture_output=True, text=True).stdout
    for line in out.splitlines():
        parts = line.split()
        path = next((p for p in parts if p.startswith("/")), None)
        if path:
            dst = root / path.lstrip("/")
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(os.path.realpath(path), dst)


def module_order(kver: str, names: list[str]) -> list[Path]:
    """The .ko files of names and of everything they depend on (modules.dep), dependencies first."""
    base = Path(f"/lib/modules/{kver}")
    deps: dict[str, list[str]] = {}
    for line in (base / "modules.dep").read_text().splitlines():
        mod, _, rest = line.partition(":")
        deps[mod] = rest.split()
    by_name = {re.sub(r"\.ko(\.[a-z]+)?$", "", Path(m).name).replace("-", "_"): m for m in deps}
    order: list[str] = []

    def visit(mod: str) -> None:
        if mod in order:
            return
        for d in deps.get(mod, []):
            visit(d)
        order.append(mod)

    for n in names:
        if n.replace("-", "_") not in by_name:
            sys.exit(f"module {n} not in {base}/modules.dep")
        visit(by_name[n.replace("-", "_")])
    return [base / m for m in order]


def module_bytes(mod: Path) -> bytes:
    data = mod.read_bytes()
    if mod.name.endswith(".xz"):
        data = lzma.decompress(data)
    elif mod.name.endswith(".zst"):
        data = subprocess.run(["zstd", "-dc", str(mod)], capture_output=True, check=True).stdout
    return data


def build_initramfs(root: Path, out: Path, extra: dict[str, Path] | None = None, kexec: bool = False,
                    init: Path = HERE / "guest" / "init", modules: list[str] | None = None,
                    binaries: tuple[str, ...] = (), fw_cfg: bool = True) -> None:
    if root.exists():
        shutil.rmtree(root)
    for d in ("bin", "sbin", "proc", "sys", "dev", "boot", "lib/modules", "tmp"):
        (root / d).mkdir(parents=True, exist_ok=True)
    busybox = shutil.which("busybox") or "/bin/busybox"
    shutil.copy2(busybox, root / "bin" / "busybox")
    os.symlink("busybox", root / "bin" / "sh")
    shutil.copy2(init, root / "init")
    os.chmod(root / "init", 0o755)
    _, kver = kernel()
    # qemu_fw_cfg lets the guest kernel tell QEMU where its VMCOREINFO note is
    # (-device vmcoreinfo), so QEMU's dumps carry it.
    for mod in Path(f"/lib/modules/{kver}").rglob("qemu_fw_cfg.ko*") if fw_cfg else ():
        (root / "lib/modules/qemu_fw_cfg.ko").write_bytes(module_bytes(mod))
    if modules:
        names = []
        for i, mod in enumerate(module_order(kver, modules)):
            name = f"{i:02d}-{re.sub(r'[.]ko([.][a-z]+)?$', '', mod.name)}.ko"
            (root / "lib/modules" / name).write_bytes(module_bytes(mod))
            names.append(name)
        (root / "lib/modules/load.order").write_text("\n".join(names) + "\n")
    if kexec:
        copy_with_libs("kexec", root)
    for b in binaries:
        copy_with_libs(b, root)
    for name, src in (extra or {}).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, root / name)
    files = subprocess.run(["find", "."], cwd=root, capture_output=True, check=True).stdout
    cpio = subprocess.run(["cpio", "-o", "-H", "newc", "--quiet"], cwd=root, input=files,
                          capture_output=True, check=True).stdout
    out.write_bytes(subprocess.run(["gzip", "-9n"], input=cpio, capture_output=True, check=True).stdout)


class QMP:
    """Minimal QMP client (QEMU Machine Protocol over a unix socket, JSON lines)."""

    def __init__(self, path: Path, timeout: float = 60) -> None:
        deadline = time.time() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX)
                self.sock.connect(str(path))
                break
            except OSError:
                self.sock.close()
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        self.buf = b""
        self._recv()  # greeting
        self.cmd("qmp_capabilities")

    def _recv(self) -> dict:
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("QMP socket closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, name: str, **args) -> dict:
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            r = self._recv()
            if "return" in r or "error" in r:
                return r
            # asynchronous events (STOP, DUMP_COMPLETED, ...) are skipped


def qemu_cmd(variant: str, work: Path, kimg: Path, initrd: Path, stage: str) -> list[str]:
    fw = VARIANTS[variant][0]
    kdump = stage == "kdump1"
    extra = f" crashkernel={CRASHKERNEL}" if kdump else ""
    cmd = [QEMU, "-accel", "tcg", "-m", str(KDUMP_MEM_MB if kdump else MEM_MB), "-smp", "1", "-display", "none",
           "-no-reboot", "-serial", f"file:{work / 'serial.log'}",
           "-qmp", f"unix:{work / 'qmp.sock'},server=on,wait=off",
           "-device", "vmcoreinfo", "-kernel", str(kimg), "-initrd", str(initrd),
           "-append", f"{CMDLINE}{' efi=debug' if EFI_DEBUG else ''}{extra} eft_stage={stage}"]
    if kdump:
        # the capture kernel's output disk (virtio-blk-pci), an ext2 file system made by the host
        cmd += ["-drive", f"file={work / 'out.img'},format=raw,if=virtio"]
    if fw == "seabios":
        cmd += ["-machine", "q35"]
    elif fw == "ovmf64":
        vars_fd = work / "OVMF_VARS.fd"
        shutil.copy2("/usr/share/OVMF/OVMF_VARS_4M.fd", vars_fd)
        cmd += ["-machine", "q35",
                "-drive", "if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd",
                "-drive", f"if=pflash,format=raw,unit=1,file={vars_fd}"]
    elif fw == "ovmf32":
        vars_fd = work / "OVMF32_VARS.fd"
        shutil.copy2("/usr/share/OVMF/OVMF32_VARS_4M.fd", vars_fd)
        cmd += ["-machine", "q35,smm=on", "-global", "driver=cfi.pflash01,property=secure,value=on",
                "-drive", "if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF32_CODE_4M.secboot.fd",
                "-drive", f"if=pflash,format=raw,unit=1,file={vars_fd}"]
    return cmd


def wait_ready(log_path: Path, proc: subprocess.Popen, want: str, timeout: float,
               fail: tuple[str, ...] = ()) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        text = log_path.read_bytes() if log_path.exists() else b""
        if want.encode() in text:
            return
        for f in fail:
            if f.encode() in text:
                raise RuntimeError(f"{f!r} in {log_path}")
        if proc.poll() is not None:
            raise RuntimeError(f"QEMU exited ({proc.returncode}) before {want!r}")
        time.sleep(2)
    raise TimeoutError(f"no {want!r} in {log_path} after {timeout} s")


def make_variant(variant: str, out_dir: Path, manifest: dict) -> None:
    fw, stage, desc = VARIANTS[variant]
    work = WORK / variant
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    kimg, kver = kernel()
    initrd = work / "initrd.gz"
    if stage == "kdump1":
        make_kdump(variant, work, out_dir, manifest)
        return
    kernel_image: dict | None = None
    if stage == "pvh":  # the ELF kernel, started at its PVH entry by QEMU's pvh.bin
        kernel_image = extract_vmlinux(kimg, work / "vmlinux")
        log(f"{variant}: {kernel_image}")
        kimg = work / "vmlinux"
    if stage == "kexec1":
        initrd2 = work / "initrd2.gz"
        build_initramfs(work / "root2", initrd2)
        build_initramfs(work / "root", initrd, {"boot/vmlinuz": kimg, "boot/initrd2.gz": initrd2}, kexec=True)
        want = "@@EFT-READY stage=kexec2"
    elif stage in ("kexecload", "kexecfile"):
        initrd2 = work / "initrd2.gz"
        build_initramfs(work / "root2", initrd2)
        build_initramfs(work / "root", initrd, {"boot/vmlinuz": kimg, "boot/initrd2.gz": initrd2}, kexec=True,
                        binaries=("bpftool",))
        want = f"@@EFT-READY stage={stage}"
    else:
        build_initramfs(work / "root", initrd)
        want = f"@@EFT-READY stage={stage}"
    cmd = qemu_cmd(variant, work, kimg, initrd, stage)
    log(f"{variant}: {' '.join(cmd)}")
    qlog = open(work / "qemu.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(cmd, stdout=qlog, stderr=subprocess.STDOUT)
    formats: dict[str, str] = {}
    try:
        qmp = QMP(work / "qmp.sock")
        t0 = time.time()
        wait_ready(work / "serial.log", proc, want, BOOT_TIMEOUT)
        log(f"{variant}: guest ready after {time.time() - t0:.0f} s")
        time.sleep(2)
        r = qmp.cmd("stop")
        assert "return" in r, r
        for fmt in QEMU_FORMATS:
            dst = work / f"{variant}.{fmt}"
            t0 = time.time()
            r = qmp.cmd("dump-guest-memory", paging=False, protocol=f"file:{dst}", format=fmt)
            if "error" in r:
                formats[fmt] = f"error: {r['error'].get('desc')}"
            else:
                formats[fmt] = f"ok ({dst.stat().st_size} bytes, {time.time() - t0:.1f} s)"
            log(f"{variant}: {fmt}: {formats[fmt]}")
        qmp.cmd("quit")
    finally:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        qlog.close()

    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, int] = {}
    elf = work / f"{variant}.elf"
    run(["xz", "-9", "-T2", "-k", "-f", str(elf)])
    shutil.copy2(work / f"{variant}.elf.xz", out_dir / f"{variant}.elf.xz")
    os.chmod(out_dir / f"{variant}.elf.xz", 0o644)  # QEMU writes its dump 0600; xz -k keeps that
    files[f"{variant}.elf.xz"] = (out_dir / f"{variant}.elf.xz").stat().st_size
    for fmt in QEMU_FORMATS[1:]:
        src = work / f"{variant}.{fmt}"
        if formats.get(fmt, "").startswith("ok") and variant in KDUMP_VARIANTS:
            # kdump pages are compressed already; xz still saves ~10% (the
            # page descriptors, headers, bitmaps and zlib framing).
            run(["xz", "-9", "-T2", "-k", "-f", str(src)])
            shutil.copy2(f"{src}.xz", out_dir / f"{src.name}.xz")
            files[f"{src.name}.xz"] = (out_dir / f"{src.name}.xz").stat().st_size
    # makedumpfile 1.7.2 cannot read QEMU's ELF ("get_elf_info: Can't get the number
    # of PT_LOAD", after minutes), so this conversion is opt-in (EFT_MAKEDUMPFILE=1).
    if os.environ.get("EFT_MAKEDUMPFILE") == "1" and shutil.which("makedumpfile") and "kdump-lzo" not in files:
        dst = work / f"{variant}.kdump-lzo"
        r = subprocess.run(["makedumpfile", "-l", "-d", "0", str(elf), str(dst)],
                           capture_output=True, text=True)
        formats["makedumpfile -l -d 0"] = "ok" if r.returncode == 0 else f"error: {r.stdout[-300:]}{r.stderr[-300:]}"
        log(f"{variant}: makedumpfile lzo: {formats['makedumpfile -l -d 0']}")
        if r.returncode == 0 and args_keep_lzo:
            run(["xz", "-9", "-T2", "-k", "-f", str(dst)])
            shutil.copy2(f"{dst}.xz", out_dir / f"{dst.name}.xz")
            files[f"{dst.name}.xz"] = (out_dir / f"{dst.name}.xz").stat().st_size
    serial = (work / "serial.log").read_bytes()
    (out_dir / f"{variant}.serial.log.xz").write_bytes(lzma.compress(serial, preset=9))
    files[f"{variant}.serial.log.xz"] = (out_dir / f"{variant}.serial.log.xz").stat().st_size
    run([sys.executable, str(HERE / "serial_to_truth.py"), str(work / "serial.log"),
         "-o", str(out_dir / f"{variant}.truth.json"), "--variant", variant])
    files[f"{variant}.truth.json"] = (out_dir / f"{variant}.truth.json").stat().st_size
    manifest["variants"][variant] = {
        "description": desc,
        "firmware": fw,
        "qemu_command": [str(c) for c in cmd],
        "guest_ram_mib": MEM_MB,
        "qemu_dump_formats": formats,
        "files": files,
        "elf_size_uncompressed": elf.stat().st_size,
    }
    if kernel_image is not None:
        manifest["variants"][variant]["kernel_image"] = kernel_image
        total = sum(files.values())
        manifest["variants"][variant]["total_bytes"] = total
        if total > PVH_BUDGET:
            log(f"{variant}: WARNING: {total} bytes, over the {PVH_BUDGET} byte budget")


def elf_copy_distance(path: Path) -> int:
    """The largest file distance between a PT_LOAD and the copy of its bytes in another one.

    /proc/vmcore has a PT_LOAD for the kernel image besides the System RAM one that
    holds the same bytes (kexec-tools, crashdump-x86.c); xz finds the copy only
    when its dictionary reaches that far back.
    """
    with open(path, "rb") as f:
        eh = f.read(64)
        (phoff,) = struct.unpack_from("<Q", eh, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", eh, 0x36)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    loads = []
    for i in range(phnum):
        p_type, _fl, off, _va, pa, filesz, _memsz = struct.unpack_from("<IIQQQQQ", table, i * phentsize)
        if p_type == 1:
            loads.append((off, pa, filesz))
    best = 0
    for off, pa, size in loads:
        for off2, pa2, size2 in loads:
            if (off2, pa2) != (off, pa) and pa2 <= pa and pa + size <= pa2 + size2:
                best = max(best, abs(off2 + (pa - pa2) - off))
    return best


def describe_output(o: dict) -> str:
    """One manifest line for a capture output that was written (exit 0)."""
    text = f"ok ({o['size']} bytes, {o['seconds']} s in the TCG guest)"
    notes = [m for m in o["message"].split("|") if "disabled" in m or "not supported" in m]
    return f"{text}; {' '.join(notes)}" if notes else text


def make_kdump(variant: str, work: Path, out_dir: Path, manifest: dict) -> None:
    """Boot, crash, capture; read the capture kernel's files off the output disk; corpus within budget."""
    fw, stage, desc = VARIANTS[variant]
    kimg, kver = kernel()
    initrd, initrd2 = work / "initrd.gz", work / "initrd2.gz"
    runs = work / "makedumpfile.list"
    runs.write_text("".join(f"{name} {opts}\n" for name, opts in MAKEDUMPFILE_RUNS))
    build_initramfs(work / "root2", initrd2, {"etc/makedumpfile.list": runs}, init=HERE / "guest" / "capture",
                    modules=CAPTURE_MODULES, binaries=("makedumpfile",), fw_cfg=False)
    capture_cmdline = work / "capture.cmdline"
    capture_cmdline.write_text(CAPTURE_CMDLINE + "\n")
    build_initramfs(work / "root", initrd, {"boot/vmlinuz": kimg, "boot/initrd2.gz": initrd2,
                                            "boot/capture.cmdline": capture_cmdline}, kexec=True)
    disk = work / "out.img"
    with open(disk, "wb") as f:
        f.truncate(KDUMP_DISK_MB << 20)
    run(["mke2fs", "-q", "-F", "-t", "ext2", "-b", "4096", "-m", "0", "-L", "eftkdump", str(disk)])
    cmd = qemu_cmd(variant, work, kimg, initrd, stage)
    log(f"{variant}: {' '.join(cmd)}")
    t_start = time.time()
    with open(work / "qemu.log", "wb") as qlog:
        proc = subprocess.Popen(cmd, stdout=qlog, stderr=subprocess.STDOUT)
        try:
            qmp = QMP(work / "qmp.sock")
            wait_ready(work / "serial.log", proc, "@@EFT-READY stage=kdump2", KDUMP_TIMEOUT,
                       fail=("@@EFT-KDUMP failed", " loaded=0 ", "@@EFT-READY stage=kdump1", "@@EFT-CAPTURE-ERROR"))
            log(f"{variant}: capture done after {time.time() - t_start:.0f} s")
            qmp.cmd("quit")
        finally:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
    serial = (work / "serial.log").read_bytes()
    text = serial.decode("utf-8", "replace")
    got = work / "out"
    if got.exists():
        shutil.rmtree(got)
    got.mkdir()
    run(["debugfs", "-R", f"rdump /kdump {got}", str(disk)], capture_output=True)
    # "NAME rc=N size=N sha256=H t0=S t1=S cmd=... msg=..." lines of the capture kernel
    outputs: dict[str, dict] = {}
    for m in re.finditer(r"^(kdump\.\S+) rc=(\d+) size=(-?\d+) sha256=(\S+) t0=(\S+) t1=(\S+) cmd=(.*?) msg=(.*)$",
                         text, re.M):
        outputs[m.group(1)] = {"rc": int(m.group(2)), "size": int(m.group(3)), "sha256": m.group(4),
                               "seconds": round(float(m.group(6)) - float(m.group(5)), 1),
                               "cmd": m.group(7).strip(), "message": m.group(8).strip("|")}
    if "kdump.vmcore" not in outputs:
        raise RuntimeError("the capture kernel printed no output lines")
    formats: dict[str, str] = {}
    kept: dict[str, Path] = {}
    for name, o in outputs.items():
        path = got / "kdump" / name
        if o["rc"] != 0:
            formats[o["cmd"]] = f"error (exit {o['rc']}): {o['message']}"
            continue
        if not path.exists() or path.stat().st_size != o["size"]:
            raise RuntimeError(f"{name}: not read back from the disk image, or of the wrong size")
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        if h.hexdigest() != o["sha256"]:
            raise RuntimeError(f"{name}: SHA-256 differs from what the guest printed")
        formats[o["cmd"]] = describe_output(o)
        kept[name] = path
    for k, v in formats.items():
        log(f"{variant}: {k}: {v}")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{variant}.serial.log.xz").write_bytes(lzma.compress(serial, preset=9))
    run([sys.executable, str(HERE / "serial_to_truth.py"), str(work / "serial.log"),
         "-o", str(out_dir / f"{variant}.truth.json"), "--variant", variant])
    files: dict[str, int] = {}
    for n in (f"{variant}.serial.log.xz", f"{variant}.truth.json"):
        files[n] = (out_dir / n).stat().st_size
    # each output considered: xz it (the ELF always; the others when that saves a
    # lot), then keep them in priority order while the variant stays within the budget
    candidates: dict[str, Path] = {}
    compression: dict[str, str] = {}
    dropped: dict[str, str] = {}
    for name, path in kept.items():
        if name not in KDUMP_PRIORITY:
            dropped[name] = f"{path.stat().st_size} bytes: not considered for the corpus (KDUMP_PRIORITY)"
            continue
        xz = Path(f"{path}.xz")
        opts = ["-9"]
        if name == "kdump.vmcore":
            # a dictionary that reaches the kernel image's second copy (one thread: one block)
            mib = max(64, (elf_copy_distance(path) >> 20) + 2)
            opts = [f"--lzma2=preset=9,dict={mib}MiB"]
        t0 = time.time()
        run(["xz", *opts, "-T1", "-k", "-f", str(path)])
        ratio = xz.stat().st_size / max(path.stat().st_size, 1)
        compression[name] = (f"xz {' '.join(opts)}: {path.stat().st_size} -> {xz.stat().st_size} bytes "
                             f"({ratio:.2f}, {time.time() - t0:.0f} s)")
        log(f"{variant}: {name}: {compression[name]}")
        candidates[name] = xz if (name == "kdump.vmcore" or ratio <= XZ_WORTH) else path
    for old in out_dir.glob(f"{variant}.vmcore*"):
        old.unlink()
    for old in out_dir.glob(f"{variant}.kdump-*"):
        old.unlink()
    total = sum(files.values())
    for name in sorted(candidates, key=KDUMP_PRIORITY.index):
        src = candidates[name]
        size = src.stat().st_size
        if total + size > KDUMP_BUDGET:
            dropped[src.name] = f"{size} bytes: over the {KDUMP_BUDGET} byte budget"
            continue
        shutil.copy2(src, out_dir / src.name)
        os.chmod(out_dir / src.name, 0o644)  # debugfs restores the guest's 0600
        files[src.name] = size
        total += size
    for k, v in dropped.items():
        log(f"{variant}: left out {k} ({v})")
    manifest["variants"][variant] = {
        "description": desc,
        "firmware": fw,
        "qemu_command": [str(c) for c in cmd],
        "guest_ram_mib": KDUMP_MEM_MB,
        "crashkernel": CRASHKERNEL,
        "capture_cmdline": CAPTURE_CMDLINE,
        "capture_modules": CAPTURE_MODULES,
        "makedumpfile": formats,
        "outputs": {n: {k: o[k] for k in ("rc", "size", "sha256", "seconds", "cmd", "message")}
                    for n, o in outputs.items()},
        "xz": compression,
        "left_out": dropped,
        "files": files,
        "total_bytes": total,
        "seconds_host": round(time.time() - t_start),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--install", action="store_true", help="apt-get install the tools first")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--out", type=Path, default=HERE / "corpus")
    ap.add_argument("--efi-debug", action="store_true", help="add efi=debug to the guest command line")
    ap.add_argument("--kdump-variants", default="ovmf64",
                    help="variants whose kdump-zlib output is kept in the corpus (comma list, or 'all')")
    args = ap.parse_args()
    global EFI_DEBUG
    EFI_DEBUG = args.efi_debug
    KDUMP_VARIANTS.clear()
    KDUMP_VARIANTS.update(VARIANTS if args.kdump_variants == "all" else args.kdump_variants.split(","))
    chosen = args.variants.split(",")
    if args.install:
        install(backports=any(v in VARIANT_KERNEL for v in chosen))
    mpath = args.out / "manifest.json"
    manifest = json.loads(mpath.read_text()) if mpath.exists() else {"variants": {}}
    qv = subprocess.run([QEMU, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    versions = {
        "qemu": qv,
        "qemu-system-x86": pkg_version("qemu-system-x86"),
        "ovmf": pkg_version("ovmf"),
        "ovmf-ia32": pkg_version("ovmf-ia32"),
        "seabios": pkg_version("seabios"),
        "busybox-static": pkg_version("busybox-static"),
        "kexec-tools": pkg_version("kexec-tools"),
        "makedumpfile": pkg_version("makedumpfile"),
        "e2fsprogs": pkg_version("e2fsprogs"),
        "bpftool": pkg_version("bpftool"),
    }
    default = sorted(Path("/boot").glob(f"vmlinuz-{DEFAULT_KERNEL}*"))  # Debian 12's own kernel, when installed
    if default:
        kver = default[-1].name.removeprefix("vmlinuz-")
        versions.update(kernel=kver, **{"linux-image": pkg_version(f"linux-image-{kver}")})
    # top-level "versions": the tools of a whole-corpus run; every variant made
    # records its own as well (a partial run may use newer packages)
    if set(chosen) >= set(VARIANTS) or "versions" not in manifest:
        manifest["versions"] = versions
    for v in chosen:
        KERNEL_PREFIX[0] = VARIANT_KERNEL.get(v, DEFAULT_KERNEL)
        try:
            kver = kernel()[1]
            mine = {**versions, "kernel": kver, "linux-image": pkg_version(f"linux-image-{kver}")}
            make_variant(v, args.out, manifest)
            manifest["variants"][v]["versions"] = mine
        except Exception as e:  # record and go on with the next variant
            log(f"{v}: FAILED: {e}")
            manifest["variants"].setdefault(v, {})["failed"] = str(e)
        args.out.mkdir(parents=True, exist_ok=True)
        mpath.write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    main()
