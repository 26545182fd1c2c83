#!/usr/bin/env python3
"""Make the real-dump corpus: boot Debian's kernel under QEMU (TCG) and dump it.

Run as root on Debian 12 / Ubuntu (stdlib only; no efitables code is used)::

    python3 dumps/real/make_real_dumps.py --install            # apt-get the tools
    python3 dumps/real/make_real_dumps.py [--variants ovmf64,seabios,ovmf32,kexec]

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

Work files go to dumps/work/ (ignored by git).
"""

from __future__ import annotations

import argparse
import json
import lzma
import os
import shutil
import socket
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
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, **kw)


def install() -> None:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run(["apt-get", "update"], env=env)
    run(["apt-get", "install", "-y", "--no-install-recommends", *APT_PACKAGES], env=env)


def kernel() -> tuple[Path, str]:
    images = sorted(Path("/boot").glob("vmlinuz-*"))
    if not images:
        sys.exit("no /boot/vmlinuz-*: apt-get install linux-image-amd64 (or run with --install)")
    img = images[-1]
    return img, img.name.removeprefix("vmlinuz-")


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


def build_initramfs(root: Path, out: Path, extra: dict[str, Path] | None = None, kexec: bool = False) -> None:
    if root.exists():
        shutil.rmtree(root)
    for d in ("bin", "sbin", "proc", "sys", "dev", "boot", "lib/modules", "tmp"):
        (root / d).mkdir(parents=True, exist_ok=True)
    busybox = shutil.which("busybox") or "/bin/busybox"
    shutil.copy2(busybox, root / "bin" / "busybox")
    os.symlink("busybox", root / "bin" / "sh")
    shutil.copy2(HERE / "guest" / "init", root / "init")
    os.chmod(root / "init", 0o755)
    _, kver = kernel()
    # qemu_fw_cfg lets the guest kernel tell QEMU where its VMCOREINFO note is
    # (-device vmcoreinfo), so QEMU's dumps carry it.
    for mod in Path(f"/lib/modules/{kver}").rglob("qemu_fw_cfg.ko*"):
        data = mod.read_bytes()
        if mod.name.endswith(".xz"):
            data = lzma.decompress(data)
        elif mod.name.endswith(".zst"):
            data = subprocess.run(["zstd", "-dc", str(mod)], capture_output=True, check=True).stdout
        (root / "lib/modules/qemu_fw_cfg.ko").write_bytes(data)
    if kexec:
        copy_with_libs("kexec", root)
    for name, src in (extra or {}).items():
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
    cmd = [QEMU, "-accel", "tcg", "-m", str(MEM_MB), "-smp", "1", "-display", "none",
           "-no-reboot", "-serial", f"file:{work / 'serial.log'}",
           "-qmp", f"unix:{work / 'qmp.sock'},server=on,wait=off",
           "-device", "vmcoreinfo", "-kernel", str(kimg), "-initrd", str(initrd),
           "-append", f"{CMDLINE}{' efi=debug' if EFI_DEBUG else ''} eft_stage={stage}"]
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


def wait_ready(log_path: Path, proc: subprocess.Popen, want: str, timeout: float) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if log_path.exists() and want.encode() in log_path.read_bytes():
            return
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
    if stage == "kexec1":
        initrd2 = work / "initrd2.gz"
        build_initramfs(work / "root2", initrd2)
        build_initramfs(work / "root", initrd, {"boot/vmlinuz": kimg, "boot/initrd2.gz": initrd2}, kexec=True)
        want = "@@EFT-READY stage=kexec2"
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--install", action="store_true", help="apt-get install the tools first")
    ap.add_argument("--variants", default="ovmf64,seabios,ovmf32,kexec")
    ap.add_argument("--out", type=Path, default=HERE / "corpus")
    ap.add_argument("--efi-debug", action="store_true", help="add efi=debug to the guest command line")
    ap.add_argument("--kdump-variants", default="ovmf64",
                    help="variants whose kdump-zlib output is kept in the corpus (comma list, or 'all')")
    args = ap.parse_args()
    global EFI_DEBUG
    EFI_DEBUG = args.efi_debug
    KDUMP_VARIANTS.clear()
    KDUMP_VARIANTS.update(VARIANTS if args.kdump_variants == "all" else args.kdump_variants.split(","))
    if args.install:
        install()
    kimg, kver = kernel()
    mpath = args.out / "manifest.json"
    manifest = json.loads(mpath.read_text()) if mpath.exists() else {"variants": {}}
    qv = subprocess.run([QEMU, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    manifest["versions"] = {
        "qemu": qv,
        "qemu-system-x86": pkg_version("qemu-system-x86"),
        "ovmf": pkg_version("ovmf"),
        "ovmf-ia32": pkg_version("ovmf-ia32"),
        "seabios": pkg_version("seabios"),
        "kernel": kver,
        "linux-image": pkg_version(f"linux-image-{kver}"),
        "busybox-static": pkg_version("busybox-static"),
        "kexec-tools": pkg_version("kexec-tools"),
        "makedumpfile": pkg_version("makedumpfile"),
    }
    for v in args.variants.split(","):
        try:
            make_variant(v, args.out, manifest)
        except Exception as e:  # record and go on with the next variant
            log(f"{v}: FAILED: {e}")
            manifest["variants"].setdefault(v, {})["failed"] = str(e)
        args.out.mkdir(parents=True, exist_ok=True)
        mpath.write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    main()
