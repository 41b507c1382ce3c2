"""UF2 files: a firmware image as a USB mass-storage boot loader takes it (Microsoft's UF2
format, as the RP2040 boot ROM reads it: copy the file onto the RPI-RP2 drive).

A UF2 file is a sequence of independent 512-byte blocks, each carrying 256 bytes of the image:

    offset  field
       0    magic 0x0A324655 ("UF2\\n"), 4    magic 0x9E5D5157
       8    flags (0x00002000: the family ID field is present)
      12    target address (256-byte aligned here)       16  payload size (256)
      20    block number                                 24  number of blocks
      28    family ID (0xE48BFF56: RP2040)               32  payload, zero-padded to 476 bytes
     508    magic 0x0AB16F30

The image is the ELF's loadable segments (flash.flash_segments: what a debug probe would
program, checked to lie in the board's flash, or its SRAM for an image run from SRAM), cut into
256-byte pages at aligned addresses; bytes of a page no segment covers are 0. The RP2040 boot
ROM writes flash blocks to flash and reboots; an image of RAM blocks it copies to SRAM and enters
at the lowest address (boards/rpi-pico.toml).
"""
from __future__ import annotations

import struct
from pathlib import Path

from .boards import Board
from .errors import McucError

MAGIC_START0, MAGIC_START1, MAGIC_END = 0x0A324655, 0x9E5D5157, 0x0AB16F30
FLAG_FAMILY_ID = 0x00002000
PAGE = 256
BLOCK = 512
_HEADER = struct.Struct("<8I")


def pages(segments: list[tuple[int, bytes]]) -> dict[int, bytes]:
    """{page address: 256 bytes} covering every segment byte (uncovered bytes 0)."""
    out: dict[int, bytearray] = {}
    for address, data in segments:
        for i, byte in enumerate(data):
            page = (address + i) & ~(PAGE - 1)
            out.setdefault(page, bytearray(PAGE))[(address + i) - page] = byte
    return {a: bytes(p) for a, p in sorted(out.items())}


def encode(segments: list[tuple[int, bytes]], family_id: int) -> bytes:
    """The UF2 file of `segments`."""
    image = pages(segments)
    blocks = []
    for number, (address, payload) in enumerate(image.items()):
        header = _HEADER.pack(MAGIC_START0, MAGIC_START1, FLAG_FAMILY_ID, address, PAGE,
                              number, len(image), family_id)
        blocks.append(header + payload.ljust(476, b"\0") + struct.pack("<I", MAGIC_END))
    return b"".join(blocks)


def decode(data: bytes) -> tuple[int, dict[int, bytes]]:
    """(family ID, {address: payload}) of a UF2 file; a malformed one is a McucError."""
    if not data or len(data) % BLOCK:
        raise McucError(f"not a UF2 file: {len(data)} bytes is not a whole number of blocks")
    family, payloads = None, {}
    count = len(data) // BLOCK
    for n in range(count):
        block = data[n * BLOCK:(n + 1) * BLOCK]
        m0, m1, flags, address, size, number, total, fam = _HEADER.unpack_from(block)
        (end,) = struct.unpack_from("<I", block, 508)
        if (m0, m1, end) != (MAGIC_START0, MAGIC_START1, MAGIC_END) or number != n or total != count \
                or not flags & FLAG_FAMILY_ID or size > 476 or family not in (None, fam):
            raise McucError(f"UF2 block {n} is malformed")
        family = fam
        payloads[address] = block[32:32 + size]
    return family, payloads


def write_uf2(elf: Path, board: Board) -> Path:
    """ELF.uf2 beside `elf` (build/firmware.uf2), for a board with a UF2 family ID."""
    from .flash import flash_segments

    path = Path(elf).with_suffix(".uf2")
    path.write_bytes(encode(flash_segments(elf, board), board.flasher.uf2_family))
    return path
