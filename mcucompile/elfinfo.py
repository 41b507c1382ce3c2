"""How much flash and static RAM a built firmware uses, read from its ELF sections.

What is counted (allocated sections only; debug info and symbols take no target memory):
- flash_bytes: every section with contents in the image: vector table, code, constants and
  weights, exception/init tables, and the initial values of .data (which startup copies to RAM).
- ram_bytes: static RAM, i.e. the writable sections that live in RAM at run time: .data and
  .bss (which holds the arena). A section counts as RAM if it has no file contents (.bss) or
  its run address differs from its load address (.data copied from flash).
- Not in ram_bytes, returned on their own (sections of boards/common/link.ld.j2):
  stack_reserve_bytes (.stack, the fixed reserve at the top of SRAM) and heap_bytes (.heap:
  the board's minimum heap plus all SRAM left free, so heap_bytes - heap minimum is free RAM).
On a host executable (not an Arm ELF), nothing is copied at start-up, so every writable
section counts as RAM; the numbers then describe the native build and are only indicative.
"""
from __future__ import annotations

from pathlib import Path

from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile

_RESERVES = {".stack": "stack_reserve_bytes", ".heap": "heap_bytes"}


def _load_address(section, loads) -> int:
    for segment in loads:
        if segment.section_in_segment(section):
            return segment["p_paddr"] + section["sh_addr"] - segment["p_vaddr"]
    return section["sh_addr"]


def sizes(elf: Path) -> dict[str, int]:
    """{flash_bytes, ram_bytes, stack_reserve_bytes, heap_bytes} of an ELF file."""
    result = dict(flash_bytes=0, ram_bytes=0, stack_reserve_bytes=0, heap_bytes=0)
    with open(elf, "rb") as stream:
        image = ELFFile(stream)
        firmware = image["e_machine"] == "EM_ARM"
        loads = [s for s in image.iter_segments() if s["p_type"] == "PT_LOAD"]
        for section in image.iter_sections():
            flags, size = section["sh_flags"], section["sh_size"]
            if not flags & SH_FLAGS.SHF_ALLOC or size == 0:
                continue
            if section.name in _RESERVES:
                result[_RESERVES[section.name]] += size
                continue
            nobits = section["sh_type"] == "SHT_NOBITS"
            if not nobits:
                result["flash_bytes"] += size
            if flags & SH_FLAGS.SHF_WRITE and (
                nobits or not firmware or _load_address(section, loads) != section["sh_addr"]
            ):
                result["ram_bytes"] += size
    return result
