"""Files and arrays a user hands us (models, --inputs vectors, --calibrate samples), checked
before they are read or used.

- check_file: the path must be a regular file (not a directory, device, FIFO or socket: reading
  /dev/zero or a FIFO would never end) below a size limit, checked with one stat before reading.
- load_array: a .npy or .npz read with numpy (no pickles) after check_file; an .npz whose
  members would unpack to more than the size limit is refused before any is unpacked (a
  small compressed file can hold gigabytes of zeros), and every member is read at once, so
  one numpy cannot read (an object array, a damaged member) is an error here too.
- as_batch: an array as [N, *shape] samples of one model input. It must be numeric (integers or
  floats; not bool, strings, structured or object arrays), finite, hold at least one sample,
  and be laid out as the input: [*shape] (one sample), [N, *shape], [N, *shape without its
  leading 1] or flat [N, size]. An image array in the other layout (NCHW given for an NHWC
  input, or the reverse) is refused with that said, not silently reinterpreted.
"""
from __future__ import annotations

import stat
from pathlib import Path

import numpy as np

from .errors import McucError

MAX_MODEL_BYTES = 1 << 30       # model files (flatbuffers stop at 2 GiB; MCU models are small)
MAX_ARRAY_BYTES = 1 << 30       # .npy/.npz files of vectors or samples


def check_file(path: str | Path, what: str, limit: int) -> Path:
    """`path` if it is a regular file of at most `limit` bytes; else a McucError."""
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise McucError(f"{what} not found", str(path)) from None
    except OSError as e:
        raise McucError(f"cannot read {what}: {e.strerror}", str(path)) from None
    if not stat.S_ISREG(st.st_mode):
        kind = ("a directory" if stat.S_ISDIR(st.st_mode) else
                "a FIFO" if stat.S_ISFIFO(st.st_mode) else
                "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else
                "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
        raise McucError(f"{what} must be a regular file, this is {kind}", str(path))
    if st.st_size > limit:
        raise McucError(f"{what} is {st.st_size:,} bytes, more than the {limit:,} accepted",
                        str(path))
    return path


def load_array(path: str | Path, what: str) -> np.ndarray | dict[str, np.ndarray]:
    """A .npy array, or an .npz archive as {name: array}; read without pickles."""
    path = check_file(path, what, MAX_ARRAY_BYTES)
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            return loaded
        with loaded:
            unpacked = sum(info.file_size for info in loaded.zip.infolist())
            if unpacked > MAX_ARRAY_BYTES:
                raise McucError(f"{what} unpacks to {unpacked:,} bytes, more than the "
                                f"{MAX_ARRAY_BYTES:,} accepted", str(path))
            return {key: loaded[key] for key in loaded.keys()}
    except McucError:
        raise
    except Exception as e:      # numpy raises ValueError, OSError, EOFError, zipfile errors...
        raise McucError(f"cannot read {what} ({type(e).__name__}: "
                        f"{str(e).splitlines()[0] if str(e) else 'unreadable'})", str(path)) \
            from None


def as_batch(arr, shape, what: str, where: str, layout: str | None = None) -> np.ndarray:
    """`arr` as [N, *shape] (same dtype) after the checks in the module docstring. layout:
    "NHWC" or "NCHW" if `shape` is an image (3-D, or 4-D with batch 1) in that layout: an
    array in the other layout is refused with that said."""
    try:
        arr = np.asarray(arr)
    except Exception as e:      # an .npz member that does not decode
        raise McucError(f"cannot read {what} ({e})", where) from None
    shape = tuple(int(d) for d in shape)
    if arr.dtype.kind not in "iuf":
        raise McucError(f"{what} must be integers or floats, not {arr.dtype} "
                        f"({_KINDS.get(arr.dtype.kind, 'unsupported')})", where)
    if arr.size == 0:
        raise McucError(f"{what} hold no sample (array of shape {list(arr.shape)})", where)
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).sum())
        raise McucError(f"{what} hold {bad:,} NaN or infinite value(s)", where)
    size = int(np.prod(shape))
    sample = tuple(arr.shape[1:])
    core = shape[1:] if len(shape) > 1 and shape[0] == 1 else shape
    if tuple(arr.shape) == shape or sample in (shape, core) or \
            (arr.ndim == 2 and arr.shape[1] == size) or (arr.ndim == 1 and size == 1):
        return arr.reshape((-1,) + shape)
    if layout in _OTHER and len(core) == 3:
        other, perm = _OTHER[layout]
        if sample == tuple(core[i] for i in perm):
            back = (0,) + tuple(1 + perm.index(i) for i in range(3))
            raise McucError(f"{what} are laid out {other} {list(arr.shape)}, the input "
                            f"{list(shape)} is {layout}: transpose them "
                            f"(np.transpose(a, {back}))", where)
    raise McucError(f"{what} of shape {list(arr.shape)} do not match the input's shape "
                    f"{list(shape)} (give [N, {', '.join(map(str, core))}])", where)


# the other layout of an image, and where its dimensions come from in this layout's
_OTHER = {"NHWC": ("NCHW", (2, 0, 1)), "NCHW": ("NHWC", (1, 2, 0))}


_KINDS = {"b": "booleans", "U": "strings", "S": "byte strings", "V": "a structured array",
          "O": "Python objects", "c": "complex numbers", "M": "dates", "m": "time spans"}
