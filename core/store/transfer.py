"""Models out and in: a checkpoint as one downloadable zip (weights + JSON side-file), an
uploaded model validated exactly like a checkpoint on disk, and metrics as CSV.

An upload is untrusted bytes. It is size-capped, never unpacked by member name (a zip's paths
are ignored; only its one `.pt` and one `.json` are read, each size-capped, so no zip bomb or
path escapes; a side-file's "shared" mark is dropped, as sharing is the uploader's choice
here), written to a private temporary folder, and loaded with
`core.store.checkpoints.load_checkpoint` (weights_only, format tag, the settings' bounds, every
weight's name, shape and dtype, finiteness) before it is moved into place. Every refusal is a
`CheckpointError` whose message says why.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from core.store.checkpoints import CheckpointError, load_checkpoint, metadata_path

MNIST_PIXELS = 28 * 28  # what every page feeds a model and draws from it
MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # a 30x10 model is about 5 MB
MAX_METADATA_BYTES = 1024 * 1024
ZIP_MIME = "application/zip"


def export_model(path: str | os.PathLike) -> bytes:
    """A checkpoint and its JSON side-file as one zip (stored, not compressed: weights do not shrink)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint file at {path}.")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as bundle:
        bundle.write(path, path.name)
        if metadata_path(path).is_file():
            bundle.write(metadata_path(path), metadata_path(path).name)
    return buffer.getvalue()


def safe_stem(name: str) -> str:
    """A file stem made of letters, digits, '-' and '_' only, from any uploaded name."""
    stem = Path(name.replace("\\", "/")).name
    for suffix in (".zip", ".pt", ".pth"):
        stem = stem.removesuffix(suffix)
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-_")[:60]
    return stem or "uploaded-model"


def _is_bundle(data: bytes) -> zipfile.ZipFile | None:
    """A zip to unpack (ours holds one .pt), or None for a bare torch file: it is a zip too, of
    <name>/data.pkl and tensor data."""
    if not zipfile.is_zipfile(io.BytesIO(data)):
        return None
    try:
        bundle = zipfile.ZipFile(io.BytesIO(data))
        names = bundle.namelist()
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        raise CheckpointError(f"it is a damaged zip file ({err}).") from err
    torch_file = any(n.endswith("/data.pkl") for n in names) and not any(n.endswith(".pt") for n in names)
    return None if torch_file else bundle


def _member(bundle: zipfile.ZipFile, suffix: str, limit: int, required: bool) -> bytes | None:
    infos = [i for i in bundle.infolist() if i.filename.endswith(suffix) and not i.is_dir()]
    if len(infos) > 1:
        raise CheckpointError(f"the zip holds {len(infos)} '{suffix}' files; a model zip holds exactly one.")
    if not infos:
        if required:
            raise CheckpointError(f"the zip holds no '{suffix}' file.")
        return None
    info = infos[0]
    if info.file_size > limit:
        raise CheckpointError(f"its '{suffix}' file unpacks to {info.file_size:,} bytes; the limit is {limit:,}.")
    try:
        with bundle.open(info) as member:
            data = member.read(limit + 1)
    except (zipfile.BadZipFile, OSError, ValueError, RuntimeError, NotImplementedError) as err:
        raise CheckpointError(f"its '{suffix}' file could not be unpacked ({err}).") from err
    if len(data) > limit:
        raise CheckpointError(f"its '{suffix}' file unpacks to more than {limit:,} bytes.")
    return data


def _parts(data: bytes) -> tuple[bytes, bytes | None]:
    bundle = _is_bundle(data)
    if bundle is None:
        return data, None
    with bundle:
        weights = _member(bundle, ".pt", MAX_UPLOAD_BYTES, required=True)
        assert weights is not None
        side = _member(bundle, ".json", MAX_METADATA_BYTES, required=False)
    if side is None:
        return weights, None
    try:
        metadata = json.loads(side)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:  # as in read_metadata
        raise CheckpointError(f"its JSON file is not readable JSON ({err}).") from err
    if not isinstance(metadata, dict):
        raise CheckpointError("its JSON file should hold a JSON object.")
    if "shared" in metadata:  # shared where it was downloaded; here its uploader decides
        side = json.dumps({k: v for k, v in metadata.items() if k != "shared"}).encode()
    return weights, side


def _free_path(folder: Path, stem: str) -> Path:
    path, n = folder / f"{stem}.pt", 1
    while path.exists():
        n += 1
        path = folder / f"{stem}-{n}.pt"
    return path


def import_model(data: bytes, name: str, folder: str | os.PathLike, max_bytes: int = MAX_UPLOAD_BYTES) -> Path:
    """Validate an uploaded model (a zip from `export_model`, or a bare `.pt`) and keep it in
    `folder`; returns its `.pt` path. Anything else raises `CheckpointError` saying why."""
    stem = safe_stem(name)
    try:
        if not data:
            raise CheckpointError("the file is empty.")
        if len(data) > max_bytes:
            raise CheckpointError(
                f"the file is {len(data) / 2**20:.1f} MB; uploads are limited to {max_bytes / 2**20:.0f} MB."
            )
        weights, side = _parts(data)
    except CheckpointError as err:
        raise CheckpointError(f"{name} was refused: {err}") from None
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".upload-", dir=folder))
    try:
        candidate = staging / f"{stem}.pt"
        candidate.write_bytes(weights)
        if side is not None:
            metadata_path(candidate).write_bytes(side)
        try:
            pixels = load_checkpoint(candidate).model.config.input_dim  # the same validation as a checkpoint on disk
        except CheckpointError as err:
            raise CheckpointError(f"{name} was refused: {err}") from None
        if pixels != MNIST_PIXELS:
            raise CheckpointError(
                f"{name} was refused: its model reads {pixels:,} pixels, and the app's pages show "
                f"28 x 28 MNIST digits (input_dim {MNIST_PIXELS})."
            )
        target = _free_path(folder, stem)
        if side is not None:
            os.replace(metadata_path(candidate), metadata_path(target))
        os.replace(candidate, target)
        return target
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def metrics_csv(rows: Sequence[Mapping[str, object]]) -> str:
    """Per-epoch metrics (dicts or dataclass dicts) as CSV, one row an epoch, columns in first-seen order."""
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
