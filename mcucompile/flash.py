"""Flash a built firmware onto a real board through its debug probe, and verify it.

How it works:
- What is flashed: an ELF file, or a compiled project directory (its build/firmware.elf, first
  brought up to date with build.build_project, i.e. an incremental make, dry run or not: a
  missing or stale build is built first, as `idf.py flash` and `west flash` do; an up-to-date
  one is left alone). A project directory must
  have been compiled for the same board (the first line of its Makefile names it), and every
  loadable segment of the ELF must lie in the board's flash: firmware linked for another board
  is refused before any tool runs.
- Which tool: pyOCD if installed, else OpenOCD (`tool` forces one). A tool is looked up on PATH,
  then beside the running Python (a virtualenv's bin/ need not be on PATH).
- pyOCD: one `pyocd commander` session (`pyocd load` has no verify option, and a second
  connection after a reset fails on parts that re-lock their debug port at reset, like newer
  nRF52840s): `pyocd commander --target T --no-wait [--uid UID] --connect halt -O
  auto_unlock=true -c "load ELF" -c "compare ADDR FILE" ... -c reset`. `load` erases and
  programs the ELF's loadable segments (pyOCD knows the format by the .elf/.axf extension);
  `compare` reads each programmed segment back against a copy of it written beside the ELF
  (ELF.0xADDR.bin), printing "All N bytes match." or "Mismatched byte at ..."; anything but a
  match for every segment is a failed verify. `reset` then starts the firmware.
- OpenOCD: one command, `openocd ARGS [-c "adapter serial UID"] -c "program {ELF} verify reset
  exit"` (program erases, writes, reads back and compares, resets).
- A board whose image runs from SRAM (Board.ram_image, the Raspberry Pi Pico) is loaded, not
  flashed, and must not be reset afterwards (a reset boots from flash): the same load and
  compare, then the core (halted by the connection) is started at the image's first byte, its
  entry stub: pyOCD `wreg pc ADDR` and `go`; OpenOCD `init; reset halt; load_image; verify_image;
  resume ADDR; exit`.
- A dry run builds what is missing, then returns the exact flash commands without running
  them (and says whether the tool is installed); the segment files are still written, so the printed commands work as they are.
- Every failure a user can fix is a McucError saying what to do: install a tool, plug in the
  probe (or fix its USB permissions), install pyOCD's CMSIS pack for the target, build the
  project, pick a real board.
"""
from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from .boards import Board
from .errors import McucError
from .inputs import MAX_MODEL_BYTES, check_file
from .procs import run

TOOLS = ("pyocd", "openocd")
INSTALL = {"pyocd": "pip install pyocd  (or: pip install 'mcucompile[hardware]')",
           "openocd": "apt-get install openocd"}
TIMEOUT_S = 300.0
_MAKEFILE_BOARD = re.compile(r"^# Build for board (\S+):")
_NO_PROBE = ("No connected debug probe", "No available debug probes", "open failed",
             "No J-Link device found", "unable to find a matching", "No device found",
             "LIBUSB_ERROR_ACCESS", "libusb_open() failed")


@dataclass(frozen=True)
class Segment:
    address: int  # load address (in flash)
    size: int
    path: Path  # the segment's bytes, for pyOCD's compare


@dataclass
class FlashResult:
    board: str
    elf: Path
    tool: str
    tool_installed: bool
    commands: list[list[str]]
    dry_run: bool
    verified: bool = False
    flash_bytes: int = 0
    log: str = field(default="", repr=False)

    def command_lines(self) -> list[str]:
        return [shlex.join(c) for c in self.commands]

    def to_json(self) -> dict:
        return dict(board=self.board, elf=str(self.elf), tool=self.tool,
                    tool_installed=self.tool_installed, dry_run=self.dry_run,
                    commands=self.commands, command_lines=self.command_lines(),
                    verified=self.verified, flash_bytes=self.flash_bytes)


def find_tool(name: str) -> str | None:
    """Path of the `name` executable: on PATH, else beside the running Python; None if absent."""
    found = shutil.which(name)
    if found:
        return found
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.is_file() else None


def choose_tool(tool: str | None) -> tuple[str, str | None]:
    """(tool name, its path or None): `tool` if given, else pyOCD if installed, else OpenOCD,
    else pyOCD (not installed)."""
    if tool is not None:
        if tool not in TOOLS:
            raise McucError(f"unknown flash tool '{tool}'", hint=f"use one of: {', '.join(TOOLS)}")
        return tool, find_tool(tool)
    for name in TOOLS:
        path = find_tool(name)
        if path:
            return name, path
    return TOOLS[0], None


def _check_board(board: Board) -> None:
    if board.kind != "hardware" or board.flasher is None:
        raise McucError(f"board {board.name} is a {board.kind} board: there is nothing to flash",
                        hint="flash a real board (`mcucompile boards` lists them, kind "
                             f"'hardware'); run {board.name} with `mcucompile simulate`")


def resolve_elf(target: Path, board: Board) -> Path:
    """The ELF to flash: `target` itself, or a project directory's build/firmware.elf (brought
    up to date with make: built if missing, rebuilt if older than its sources)."""
    from .build import build_project, executable_path

    target = Path(target)
    if not target.exists():
        raise McucError(f"{target} does not exist", hint="pass a firmware ELF or a directory "
                        f"written by `mcucompile compile MODEL --board {board.name} -o DIR`")
    if target.is_file():
        return target
    makefile = target / "Makefile"
    if makefile.is_file():
        first = makefile.read_text(errors="replace").splitlines()[:1]
        match = _MAKEFILE_BOARD.match(first[0]) if first else None
        if match and match.group(1) != board.name:
            raise McucError(f"{target} was compiled for board {match.group(1)}, not {board.name}",
                            hint=f"compile it again with --board {board.name}, or flash "
                                 f"--board {match.group(1)}")
    if makefile.is_file():
        return build_project(target, board)  # make is incremental: the ELF matches the sources
    elf = executable_path(target, board)
    if elf.is_file():
        return elf
    raise McucError(f"{target} is not a compiled project (no Makefile, no {elf.relative_to(target)})",
                    hint=f"mcucompile compile MODEL --board {board.name} -o {target}")


def flash_segments(elf: Path, board: Board) -> list[tuple[int, bytes]]:
    """(load address, bytes) of every loadable segment with contents, checked to lie in the
    board's flash (what a probe programs: p_paddr, as pyOCD and OpenOCD use it)."""
    check_file(elf, "firmware ELF", MAX_MODEL_BYTES)     # no FIFO or device
    try:
        with open(elf, "rb") as stream:
            image = ELFFile(stream)
            if image["e_machine"] != "EM_ARM":
                raise McucError(f"{elf} is not an Arm firmware ELF ({image['e_machine']})")
            segments = [(s["p_paddr"], s.data()) for s in image.iter_segments()
                        if s["p_type"] == "PT_LOAD" and s["p_filesz"] > 0]
    except (ELFError, OSError) as exc:
        raise McucError(f"{elf} is not a readable ELF file ({exc})") from None
    lo, hi = board.flash_origin, board.flash_origin + board.flash_size
    for address, data in segments:
        if address < lo or address + len(data) > hi:
            raise McucError(f"{elf} has {len(data)} bytes at 0x{address:08X}, outside the flash of "
                            f"{board.name} (0x{lo:08X}..0x{hi:08X})",
                            hint=f"was it built for another board? compile with --board {board.name}")
    if not segments:
        raise McucError(f"{elf} has nothing to program (no loadable segment)")
    return segments


def write_segments(elf: Path, segments: list[tuple[int, bytes]]) -> list[Segment]:
    """Write each segment beside the ELF as ELF.0xADDRESS.bin (for pyOCD's compare)."""
    result = []
    for address, data in segments:
        path = elf.with_name(f"{elf.name}.0x{address:08X}.bin")
        path.write_bytes(data)
        result.append(Segment(address, len(data), path))
    return result


def pyocd_commands(exe: str, board: Board, elf: Path, segments: list[Segment],
                   probe: str | None) -> list[list[str]]:
    if elf.suffix.lower() not in (".elf", ".axf"):
        raise McucError(f"pyOCD recognises an ELF file by its extension: rename {elf.name} to "
                        f"{elf.stem}.elf (or use --tool openocd)")
    command = [exe, "commander", "--target", board.flasher.pyocd_target, "--no-wait",
               *(["--uid", probe] if probe else []), "--connect", "halt",
               "-O", "auto_unlock=true", "-c", f"load {shlex.quote(str(elf))}"]
    for seg in segments:
        command += ["-c", f"compare 0x{seg.address:08X} {shlex.quote(str(seg.path))}"]
    start = ["-c", f"wreg pc 0x{board.flash_origin:08X}", "-c", "go"] if board.ram_image \
        else ["-c", "reset"]
    return [command + start]


def openocd_commands(exe: str, board: Board, elf: Path, probe: str | None) -> list[list[str]]:
    serial = ["-c", f"adapter serial {probe}"] if probe else []
    if board.ram_image:
        load = (f"init; reset halt; load_image {{{elf}}}; verify_image {{{elf}}}; "
                f"resume 0x{board.flash_origin:08X}; exit")
    else:
        load = f"program {{{elf}}} verify reset exit"
    return [[exe, *board.flasher.openocd_args, *serial, "-c", load]]


def _failure(tool: str, command: list[str], log: str, board: Board, probe: str | None) -> McucError:
    if any(marker in log for marker in _NO_PROBE):
        which = f"matching --probe {probe}" if probe else "at all"
        jlink = any("jlink" in arg for arg in board.flasher.openocd_args)
        extra = ("; pyOCD sees a J-Link only with SEGGER's J-Link software installed, OpenOCD "
                 "needs nothing more (--tool openocd)") if jlink and tool == "pyocd" else ""
        return McucError(f"{tool} found no debug probe {which} for {board.name}",
                         hint="plug the board's debug USB connector in (ST-LINK on ST boards, "
                              "J-Link OB on the nRF52840 DK); on Linux the probe needs udev "
                              f"rules for non-root users; `{'pyocd list' if tool == 'pyocd' else 'lsusb'}` "
                              f"shows what is connected{extra}")
    if "AP lock engaged" in log or "is locked" in log:
        recover = (f"openocd {' '.join(board.flasher.openocd_args)} -c 'init; nrf52_recover; exit'"
                   if board.flasher.pyocd_target.startswith("nrf") else
                   "the vendor's tool to lower the read protection")
        return McucError(f"the debug port of {board.name} is locked (read / access port protection)",
                         hint="flash with --tool pyocd (it erases and unlocks the chip), or unlock "
                              f"it with {recover} (erases the whole chip), then flash again")
    if "Invalid serial number" in log:
        return McucError(f"{tool} rejected --probe {probe}: not a serial number of this kind of "
                         "probe", hint="J-Link serial numbers are decimal (e.g. 683012345); "
                         f"`{'pyocd list' if tool == 'pyocd' else 'lsusb -v'}` shows them")
    if "not recognized" in log and "Target type" in log:
        target = board.flasher.pyocd_target
        return McucError(f"pyOCD does not know target type '{target}' (it comes from a CMSIS pack)",
                         hint=f"pyocd pack install {target}   (or flash with --tool openocd)")
    if "Mismatched byte" in log or "verify failed" in log.lower():
        return _verify_error(board)
    tail = "\n".join(log.strip().splitlines()[-12:])
    return McucError(f"{shlex.join(command)} failed:\n{tail}")


def _verify_error(board: Board) -> McucError:
    return McucError(f"verify failed: the flash of {board.name} differs from the ELF after "
                     "programming", hint="retry; if it persists, erase the chip (pyocd erase "
                     f"--chip --target {board.flasher.pyocd_target}) and flash again")


def _run(command: list[str], tool: str, board: Board, probe: str | None) -> str:
    try:
        proc = run(command, timeout=TIMEOUT_S, text=True)
    except subprocess.TimeoutExpired:
        raise McucError(f"{tool} did not finish within {TIMEOUT_S:.0f} s: {shlex.join(command)}",
                        hint="unplug and replug the probe, then retry") from None
    log = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise _failure(tool, command, log, board, probe)
    return log


def flash(target: Path, board: Board, probe: str | None = None, tool: str | None = None,
          dry_run: bool = False, progress=lambda msg: None) -> FlashResult:
    """Flash `target` (ELF or project directory, built first if needed) onto `board` and verify
    it; with `dry_run`, only work out the flash commands."""
    _check_board(board)
    name, exe = choose_tool(tool)
    if exe is None and not dry_run:
        others = [t for t in TOOLS if t != name and find_tool(t)]
        raise McucError(f"{name} is not installed" + (f" (found {others[0]}: --tool {others[0]})"
                                                      if others and tool else ""),
                        hint="install one of: " + "; ".join(INSTALL[t] for t in TOOLS))
    elf = resolve_elf(Path(target), board).resolve()
    segments = flash_segments(elf, board)
    command_exe = exe or name
    if name == "pyocd":
        commands = pyocd_commands(command_exe, board, elf, write_segments(elf, segments), probe)
    else:
        commands = openocd_commands(command_exe, board, elf, probe)
    result = FlashResult(board.name, elf, name, exe is not None, commands, dry_run,
                         flash_bytes=sum(len(d) for _, d in segments))
    if dry_run:
        return result
    logs = []
    for command in commands:
        progress(f"running {shlex.join(command)}")
        logs.append(_run(command, name, board, probe))
    result.log = "\n".join(logs)
    if name == "pyocd":
        matched = len(re.findall(r"All \d+ bytes match", logs[-1]))
        if "Mismatched byte" in logs[-1] or matched != len(segments):
            raise _verify_error(board)
    result.verified = True
    return result
