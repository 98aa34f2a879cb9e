"""Lazy array previews: metadata now, a bounded sample only when asked.

``array_info(value)`` reads what is known without touching the store (shape,
dtype, chunking, codec, stored size, path) from lazy references (``NpyRef``,
``ObjectRef``), zarr arrays, HDF5 datasets and in-memory numpy arrays, and draws
a dask-style SVG of the chunk grid. ``sample_value(value)`` does the I/O on
request: a PNG thumbnail for 2-D arrays, a min/max line for 1-D arrays and a
histogram otherwise, each computed from at most ``SAMPLE_ELEMENTS`` elements
read through strided slicing. No widget imports here.
"""

from __future__ import annotations

import html
import math
import struct
import zlib
from typing import Any

import numpy as np

from .pager import format_bytes

SAMPLE_ELEMENTS = 1_000_000  # elements read at most for a preview
THUMBNAIL = 256  # pixels per side at most
LINE_POINTS = 1_000  # points of a line plot (min/max pairs)
HISTOGRAM_BINS = 40
MAX_DIRECT_BYTES = 256 * 2 ** 20  # a non-sliceable object larger than this is not loaded for a preview


# ------------------------------------------------------------------------------------------
# metadata
# ------------------------------------------------------------------------------------------
def _shape(value):
    shape = getattr(value, "shape", None)
    if shape is None:
        return None
    try:
        return tuple(int(s) for s in shape)
    except TypeError:
        return None


def _kind_of(value) -> str:
    module = type(value).__module__ or ""
    name = type(value).__name__
    if name == "NpyRef":
        return "npy"
    if name == "ObjectRef":
        return "object"
    if module.startswith("zarr"):
        return "zarr"
    if module.startswith("h5py"):
        return "hdf5"
    if isinstance(value, np.ndarray):
        return "ndarray"
    return "value"


def array_info(value, *, codec: str | None = None, type_text: str | None = None) -> dict:
    """What a preview shows before any data is read (no store I/O)."""
    kind = _kind_of(value)
    info: dict[str, Any] = {"kind": kind, "codec": codec, "type": type_text, "extra": []}
    shape = _shape(value) if kind != "value" or isinstance(value, np.generic) else None
    dtype = getattr(value, "dtype", None) if shape is not None else None
    chunks = None
    if kind == "zarr":
        chunks = _shape_tuple(getattr(value, "chunks", None))
        info["compressor"] = _zarr_compressor(value)
        info["path"] = str(getattr(value, "path", "") or "") or None
    elif kind == "hdf5":
        chunks = _shape_tuple(getattr(value, "chunks", None))
        compression = getattr(value, "compression", None)
        info["compressor"] = str(compression) if compression else None
        info["path"] = getattr(value, "name", None)
        try:
            info["size_text"] = format_bytes(value.id.get_storage_size())
        except Exception:
            pass
    elif kind == "npy":
        info["path"] = value.path
        info["store"] = value.store
        if getattr(value, "file_size", None) is not None:
            info["size_text"] = format_bytes(value.file_size)
        info["codec"] = codec or "npy"
    elif kind == "object":
        info["path"] = value.path
        info["store"] = value.store
        chunks = _shape_tuple(value.chunks)
        if value.size is not None:
            info["size_text"] = format_bytes(value.size)
        if value.is_dir:
            info["extra"].append(["folder", f"{value.item_count} items" if value.item_count is not None else "yes"])
        if value.ext:
            info["extra"].append(["extension", value.ext])
        info["codec"] = codec or "object"
    elif kind == "ndarray":
        info["nbytes_text"] = format_bytes(value.nbytes)
    if shape is not None:
        info["shape"] = list(shape)
        info["ndim"] = len(shape)
    if dtype is not None:
        info["dtype"] = str(dtype)
        try:
            itemsize = np.dtype(dtype).itemsize
            if shape is not None and "nbytes_text" not in info:
                info["nbytes_text"] = format_bytes(math.prod(shape) * itemsize)
        except TypeError:
            pass
    if chunks is not None:
        info["chunks"] = list(chunks)
    if shape:
        info["chunk_svg"] = chunk_svg(shape, chunks)
    info["loadable"] = _loadable(value, kind, shape, dtype)
    if kind == "value":
        info["text"] = _short_repr(value)
        info["type"] = type_text or type(value).__name__
    if info["loadable"]:
        ndim = len(shape) if shape is not None else None
        info["load_label"] = {1: "Load line plot", 2: "Load thumbnail"}.get(ndim, "Load histogram")
    info = {k: v for k, v in info.items() if v is not None and v != []}
    return info


def _shape_tuple(value):
    if value is None:
        return None
    try:
        return tuple(int(v) for v in value)
    except TypeError:
        return None


def _zarr_compressor(array) -> str | None:
    for name in ("compressors", "compressor"):
        try:
            found = getattr(array, name, None)
        except Exception:
            continue
        if found:
            if isinstance(found, (list, tuple)):
                return ", ".join(type(c).__name__ for c in found)
            return type(found).__name__
    return None


def _loadable(value, kind, shape, dtype) -> bool:
    if kind == "object":
        ext = (value.ext or "").lower()
        return ext in (".npy", ".zarr", ".h5", ".hdf5", ".hdf", ".nwb") or value.shape is not None or (
            not value.is_dir and (value.size or 0) <= MAX_DIRECT_BYTES)
    if shape is None or dtype is None:
        return False
    return math.prod(shape) > 0


def _short_repr(value, limit: int = 2000) -> str:
    if isinstance(value, (bytes, bytearray)):
        text = f"{len(value)} bytes: " + bytes(value[:200]).hex(" ")
    else:
        text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


# ------------------------------------------------------------------------------------------
# the chunk picture (dask-style)
# ------------------------------------------------------------------------------------------
def _boundaries(length: int, chunk: int | None, limit: int = 40) -> list[float]:
    """Chunk boundaries as fractions of ``length`` (at most ``limit`` of them, evenly thinned)."""
    if not chunk or chunk >= length or length <= 0:
        return []
    count = math.ceil(length / chunk)
    cuts = [i * chunk / length for i in range(1, count)]
    if len(cuts) > limit:
        step = len(cuts) / limit
        cuts = [cuts[int(i * step)] for i in range(limit)]
    return cuts


def _size(n: int, others: list[int], box: float = 160.0) -> float:
    """Side length: log-compressed ratios like dask, so very long axes stay readable."""
    largest = max([n] + others)
    ratio = (math.log1p(n) / math.log1p(largest)) if largest > 0 else 1
    return max(box * ratio, 12.0)


def chunk_svg(shape, chunks=None) -> str:
    """An SVG of the array's extent with its chunk grid (the last three axes are drawn)."""
    shape = [int(s) for s in shape]
    if not shape:
        return ""
    chunks = list(chunks) if chunks else list(shape)
    dims = shape[-3:]
    cks = chunks[-3:] if len(chunks) >= len(dims) else list(dims)
    lead = shape[:-3]
    stroke = 'stroke="#1f5fa8" stroke-width="1"'
    thin = 'stroke="#1f5fa8" stroke-width="0.5" opacity="0.7"'
    fill = 'fill="#e8f0fa" fill-opacity="0.85"'
    parts = []
    if len(dims) == 1:
        w, h = 200.0, 24.0
        parts.append(f'<rect x="10" y="10" width="{w:.1f}" height="{h:.1f}" {fill} {stroke}/>')
        for cut in _boundaries(dims[0], cks[0]):
            x = 10 + cut * w
            parts.append(f'<line x1="{x:.1f}" y1="10" x2="{x:.1f}" y2="{10 + h:.1f}" {thin}/>')
        parts.append(_text(10 + w / 2, 10 + h + 14, f"{dims[0]:,}"))
        width, height = 10 + w + 10, 10 + h + 22
    elif len(dims) == 2:
        rows, cols = dims
        h, w = _size(rows, [cols]), _size(cols, [rows])
        x0, y0 = 10.0, 10.0
        parts.append(f'<rect x="{x0}" y="{y0}" width="{w:.1f}" height="{h:.1f}" {fill} {stroke}/>')
        for cut in _boundaries(cols, cks[1]):
            x = x0 + cut * w
            parts.append(f'<line x1="{x:.1f}" y1="{y0}" x2="{x:.1f}" y2="{y0 + h:.1f}" {thin}/>')
        for cut in _boundaries(rows, cks[0]):
            y = y0 + cut * h
            parts.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + w:.1f}" y2="{y:.1f}" {thin}/>')
        parts.append(_text(x0 + w / 2, y0 + h + 14, f"{cols:,}"))
        parts.append(_text(x0 + w + 6, y0 + h / 2, f"{rows:,}", rotate=True))
        width, height = x0 + w + 24, y0 + h + 22
    else:
        depth, rows, cols = dims
        d = _size(depth, [rows, cols], 90.0)
        h, w = _size(rows, [cols, depth]), _size(cols, [rows, depth])
        dx, dy = d * 0.7, d * 0.5
        x0, y0 = 10.0, 10.0 + dy
        # front face
        parts.append(f'<rect x="{x0}" y="{y0:.1f}" width="{w:.1f}" height="{h:.1f}" {fill} {stroke}/>')
        # top and right faces
        parts.append(f'<polygon points="{x0},{y0:.1f} {x0 + dx:.1f},{y0 - dy:.1f} {x0 + w + dx:.1f},{y0 - dy:.1f} '
                     f'{x0 + w:.1f},{y0:.1f}" {fill} {stroke}/>')
        parts.append(f'<polygon points="{x0 + w:.1f},{y0:.1f} {x0 + w + dx:.1f},{y0 - dy:.1f} '
                     f'{x0 + w + dx:.1f},{y0 + h - dy:.1f} {x0 + w:.1f},{y0 + h:.1f}" {fill} {stroke}/>')
        for cut in _boundaries(cols, cks[2]):
            x = x0 + cut * w
            parts.append(f'<line x1="{x:.1f}" y1="{y0:.1f}" x2="{x:.1f}" y2="{y0 + h:.1f}" {thin}/>')
            parts.append(f'<line x1="{x:.1f}" y1="{y0:.1f}" x2="{x + dx:.1f}" y2="{y0 - dy:.1f}" {thin}/>')
        for cut in _boundaries(rows, cks[1]):
            y = y0 + cut * h
            parts.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + w:.1f}" y2="{y:.1f}" {thin}/>')
            parts.append(f'<line x1="{x0 + w:.1f}" y1="{y:.1f}" x2="{x0 + w + dx:.1f}" y2="{y - dy:.1f}" {thin}/>')
        for cut in _boundaries(depth, cks[0]):
            ox, oy = cut * dx, cut * dy
            parts.append(f'<line x1="{x0 + ox:.1f}" y1="{y0 - oy:.1f}" x2="{x0 + w + ox:.1f}" y2="{y0 - oy:.1f}" {thin}/>')
            parts.append(f'<line x1="{x0 + w + ox:.1f}" y1="{y0 - oy:.1f}" x2="{x0 + w + ox:.1f}" '
                         f'y2="{y0 + h - oy:.1f}" {thin}/>')
        parts.append(_text(x0 + w / 2, y0 + h + 14, f"{cols:,}"))
        parts.append(_text(x0 + w + dx + 6, y0 + h / 2 - dy / 2, f"{rows:,}", rotate=True))
        parts.append(_text(x0 + dx / 2 - 6, y0 - dy / 2 - 4, f"{depth:,}"))
        width, height = x0 + w + dx + 24, y0 + h + 22
    if lead:
        parts.append(_text(width / 2, height + 4, "× " + " × ".join(f"{s:,}" for s in lead) + " (leading axes)"))
        height += 14
    body = "".join(parts)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" class="dj-chunk-svg" role="img">'
            f"<title>{html.escape('array ' + ' × '.join(str(s) for s in shape))}</title>{body}</svg>")


def _text(x: float, y: float, text: str, rotate: bool = False) -> str:
    transform = f' transform="rotate(-90 {x:.1f} {y:.1f})"' if rotate else ""
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="11" font-family="sans-serif" text-anchor="middle" '
            f'fill="#444"{transform}>{html.escape(text)}</text>')


# ------------------------------------------------------------------------------------------
# bounded samples (explicit I/O)
# ------------------------------------------------------------------------------------------
def open_array(value):
    """Something sliceable with ``.shape`` and ``.dtype`` (I/O happens here), or raw bytes/text."""
    kind = _kind_of(value)
    if kind == "npy":
        try:
            return value.load(mmap_mode="r")
        except Exception:
            return value.load()
    if kind == "object":
        loaded = value.load()
        return _first_array(loaded)
    return _first_array(value)


def _first_array(value):
    """Zarr groups and HDF5 files preview their first array."""
    if _shape(value) is not None and hasattr(value, "dtype"):
        return value
    for getter in ("arrays", "values"):
        members = getattr(value, getter, None)
        if callable(members):
            try:
                for item in members():
                    item = item[1] if isinstance(item, tuple) else item
                    found = _first_array(item)
                    if found is not None and _shape(found) is not None:
                        return found
            except Exception:
                continue
    return value


def _strided(array, budget: int):
    """Read at most ``budget`` elements by taking every k-th element along each axis."""
    shape = _shape(array)
    total = math.prod(shape) if shape else 1
    if total <= budget:
        return np.asarray(array[...] if shape else array), [1] * len(shape or ())
    factor = (total / budget) ** (1 / len(shape))
    steps = [max(1, math.ceil(factor)) if s > 1 else 1 for s in shape]
    while math.prod(math.ceil(s / k) for s, k in zip(shape, steps)) > budget:
        i = max(range(len(shape)), key=lambda j: math.ceil(shape[j] / steps[j]))
        steps[i] += 1
    return np.asarray(array[tuple(slice(None, None, k) for k in steps)]), steps


def sample_value(value) -> tuple[dict, list[bytes]]:
    """A bounded preview of ``value``'s data: (message, buffers)."""
    array = open_array(value)
    if isinstance(array, (bytes, bytearray, str)):
        return {"kind": "text", "text": _short_repr(array)}, []
    shape = _shape(array)
    dtype = getattr(array, "dtype", None)
    if shape is None or dtype is None:
        return {"kind": "text", "text": _short_repr(array)}, []
    dtype = np.dtype(dtype)
    numeric = dtype.kind in "biufc"
    if not shape or not numeric:
        data = np.asarray(array[...] if shape else array)
        return {"kind": "text", "text": _short_repr(np.array2string(data.ravel()[:200], threshold=200))}, []
    if len(shape) == 2:
        step = max(1, math.ceil(math.sqrt(shape[0] * shape[1] / (THUMBNAIL * THUMBNAIL * 16))))
        data, steps = np.asarray(array[::step, ::step]), [step, step]
        return _thumbnail(data, shape, steps)
    if len(shape) == 1:
        data, steps = _strided(array, SAMPLE_ELEMENTS)
        return _line(data, shape, steps)
    data, steps = _strided(array, SAMPLE_ELEMENTS)
    return _histogram(data, shape, steps)


def _real(data: np.ndarray) -> np.ndarray:
    if np.iscomplexobj(data):
        data = np.abs(data)
    return data.astype(np.float64, copy=False)


def _sample_note(shape, steps, read: int) -> str:
    if all(k == 1 for k in steps):
        return f"all {read:,} values"
    return f"sample of {read:,} of {math.prod(shape):,} values (every {'×'.join(str(k) for k in steps)})"


def _thumbnail(data: np.ndarray, shape, steps) -> tuple[dict, list[bytes]]:
    data = _real(data)
    rows, cols = data.shape
    # downsample to at most THUMBNAIL per side by block means
    factor = max(1, math.ceil(rows / THUMBNAIL), math.ceil(cols / THUMBNAIL))  # same on both axes: keeps the aspect
    fy = fx = factor
    if fy > 1 or fx > 1:
        pad_r, pad_c = (-rows) % fy, (-cols) % fx
        padded = np.pad(data, ((0, pad_r), (0, pad_c)), constant_values=np.nan)
        data = np.nanmean(padded.reshape(padded.shape[0] // fy, fy, padded.shape[1] // fx, fx), axis=(1, 3))
    finite = data[np.isfinite(data)]
    if finite.size:
        low, high = np.percentile(finite, [1, 99])
        if high <= low:
            low, high = float(finite.min()), float(finite.max())
    else:
        low, high = 0.0, 1.0
    scaled = np.zeros(data.shape, dtype=np.float64) if high <= low else (data - low) / (high - low)
    scaled = np.clip(np.nan_to_num(scaled, nan=0.0), 0, 1)
    rgb = colormap(scaled)
    png = png_bytes(rgb)
    height, width = rgb.shape[:2]
    zoom = max(1, min(4, 256 // max(height, width)))
    message = {"kind": "image", "mime": "image/png", "width": width, "height": height,
               "display_width": width * zoom, "display_height": height * zoom,
               "range": [float(low), float(high)],
               "note": _sample_note(shape, steps, int(np.prod(data.shape) * fy * fx)) +
               f"; colour range {low:.4g} … {high:.4g} (1st–99th percentile)"}
    return message, [png]


def _line(data: np.ndarray, shape, steps) -> tuple[dict, list[bytes]]:
    data = _real(data)
    n = data.size
    if n <= LINE_POINTS:
        values = data
    else:
        bins = LINE_POINTS // 2
        edges = np.linspace(0, n, bins + 1).astype(int)
        values = np.empty(bins * 2)
        with np.errstate(all="ignore"):
            for i in range(bins):
                chunk = data[edges[i]:edges[i + 1]]
                chunk = chunk[np.isfinite(chunk)]
                values[2 * i], values[2 * i + 1] = (chunk.min(), chunk.max()) if chunk.size else (np.nan, np.nan)
    out = [float(v) if np.isfinite(v) else None for v in values]
    note = _sample_note(shape, steps, n) + ("" if n <= LINE_POINTS else f"; min/max envelope in {LINE_POINTS // 2} bins")
    return {"kind": "line", "values": out, "length": int(shape[0]), "note": note}, []


def _histogram(data: np.ndarray, shape, steps) -> tuple[dict, list[bytes]]:
    data = _real(data).ravel()
    finite = data[np.isfinite(data)]
    if not finite.size:
        return {"kind": "text", "text": "no finite values in the sample"}, []
    counts, edges = np.histogram(finite, bins=HISTOGRAM_BINS)
    return {"kind": "histogram", "counts": [int(c) for c in counts], "edges": [float(f"{e:.6g}") for e in edges],
            "note": _sample_note(shape, steps, data.size)}, []


# ------------------------------------------------------------------------------------------
# images without matplotlib or Pillow
# ------------------------------------------------------------------------------------------
_VIRIDIS = np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], dtype=np.float64)


def colormap(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] -> uint8 RGB through a five-stop viridis."""
    position = values * (len(_VIRIDIS) - 1)
    low = np.clip(np.floor(position).astype(int), 0, len(_VIRIDIS) - 2)
    frac = (position - low)[..., None]
    rgb = _VIRIDIS[low] * (1 - frac) + _VIRIDIS[low + 1] * frac
    return np.round(rgb).astype(np.uint8)


def png_bytes(rgb: np.ndarray) -> bytes:
    """A PNG file of an (H, W, 3) uint8 array (or (H, W) grey)."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if rgb.ndim == 2:
        colour_type, channels = 0, 1
    else:
        colour_type, channels = 2, 3
    height, width = rgb.shape[:2]
    raw = rgb.reshape(height, width * channels)
    filtered = np.concatenate([np.zeros((height, 1), dtype=np.uint8), raw], axis=1).tobytes()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(filtered, 6)) + chunk(b"IEND", b"")


# ------------------------------------------------------------------------------------------
# static twins
# ------------------------------------------------------------------------------------------
def info_html(info: dict, title: str = "") -> str:
    rows = []
    labels = [("codec", "codec"), ("type", "type"), ("shape", "shape"), ("dtype", "dtype"), ("chunks", "chunks"),
              ("compressor", "compression"), ("size_text", "stored size"), ("nbytes_text", "in memory"),
              ("store", "store"), ("path", "path")]
    for key, label in labels:
        if key in info:
            value = info[key]
            if isinstance(value, list):
                value = " × ".join(f"{v:,}" for v in value) or "scalar"
            rows.append(f"<tr><th style='text-align:right;padding-right:8px'>{html.escape(label)}</th>"
                        f"<td><code>{html.escape(str(value))}</code></td></tr>")
    for key, value in info.get("extra", []):
        rows.append(f"<tr><th style='text-align:right;padding-right:8px'>{html.escape(str(key))}</th>"
                    f"<td>{html.escape(str(value))}</td></tr>")
    text = f"<pre>{html.escape(info['text'])}</pre>" if "text" in info else ""
    heading = f"<div><b>{html.escape(title)}</b></div>" if title else ""
    return (f'<div class="dj-array-static">{heading}<div style="display:flex;gap:16px;align-items:flex-start">'
            f'<table>{"".join(rows)}</table>{info.get("chunk_svg", "")}</div>{text}</div>')


def info_text(info: dict, title: str = "") -> str:
    parts = []
    if "shape" in info:
        parts.append("shape=(" + ", ".join(str(s) for s in info["shape"]) + ("," if len(info["shape"]) == 1 else "") + ")")
    if "dtype" in info:
        parts.append(f"dtype={info['dtype']}")
    if "chunks" in info:
        parts.append("chunks=(" + ", ".join(str(s) for s in info["chunks"]) + ")")
    if "codec" in info:
        parts.append(f"codec={info['codec']}")
    if "size_text" in info:
        parts.append(f"stored={info['size_text']}")
    if "path" in info:
        parts.append(f"path={info['path']}")
    head = f"ArrayPreview({title}: " if title else "ArrayPreview("
    if "text" in info and not parts:
        parts.append(info["text"][:80])
    return head + ", ".join(parts) + ")"
