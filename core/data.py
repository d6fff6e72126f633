"""MNIST as in-memory tensors, and batches drawn straight from them.

The four archives are parsed once into a compact uint8 cache beside them (MNIST/cache/, checked
against the archives' size and time), so a later process loads MNIST in a fraction of a second
without torchvision; an epoch is then a permutation and a gather on the training device, with
no per-image Python work.

Binarized MNIST, the protocol of the discrete-latent VAE papers: each pixel becomes a
Bernoulli draw with its grey level as probability. "dynamic" draws training batches afresh
every time (seeded by the run); "static" draws the training set once; either way the test set
is drawn once with `TEST_BINARIZE_SEED`, so every binarized run is scored on the same images.

A validation split (`split_validation`) is the last images of the training split, held out from
training and, for binarized runs, drawn once with `VALIDATION_BINARIZE_SEED`.
"""

from __future__ import annotations

import gzip
import logging
import math
import os
import struct
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import torch

from core.guards import whole_number
from core.names import BINARIZE

DATA_ENV = "GUMBEL_LAB_DATA"
RAW_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
# The archives of each split (images, labels), keyed like `_load`'s `train`.
SPLIT_FILES = {True: RAW_FILES[:2], False: RAW_FILES[2:]}
CACHE_FORMAT = "gumbel-lab/mnist-cache/1"
Split = Literal["train", "test"]
BINARIZE_LABELS = {
    "none": "Grey levels",
    "dynamic": "Binarized afresh every batch",
    "static": "Binarized once",
}
# The fixed draws of the binarized test set and of the statically binarized training set.
TEST_BINARIZE_SEED = 20170
STATIC_BINARIZE_SEED = 20171
VALIDATION_BINARIZE_SEED = 20172


class MissingDataError(RuntimeError):
    """MNIST is neither on disk nor downloadable; the message says where to put it."""


@dataclass(frozen=True)
class MNISTSplit:
    images: torch.Tensor  # uint8, (n, 28, 28)
    labels: torch.Tensor  # int64, (n,)

    def __len__(self) -> int:
        return self.images.shape[0]

    def pixels(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """Float pixel intensities in [0, 1], shape (n, 784), as `ToTensor` gives them."""
        return self.images.to(device).reshape(len(self), -1).float().div_(255.0)

    def subset(self, n: int | None) -> MNISTSplit:
        """The first n examples (all of them when n is None)."""
        if n is None:
            return self
        if not n >= 1:
            raise ValueError(f"a subset needs at least one example, got {n}.")
        return MNISTSplit(self.images[:n], self.labels[:n])


def bernoulli(probabilities: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """A 0/1 draw per entry, 1 with the entry's value as probability, in the input's dtype."""
    if not probabilities.is_floating_point():
        raise ValueError(f"binarizing needs probabilities in a floating tensor, got {probabilities.dtype}.")
    device = generator.device if generator is not None else probabilities.device
    u = torch.rand(probabilities.shape, generator=generator, device=device, dtype=probabilities.dtype)
    return (u.to(probabilities.device) < probabilities).to(probabilities.dtype)


def binarized(pixels: torch.Tensor, seed: int) -> torch.Tensor:
    """A fixed binarization of grey levels in [0, 1]: the same seed gives the same images."""
    return bernoulli(pixels, torch.Generator(pixels.device).manual_seed(seed))


def held_out_pixels(
    test: MNISTSplit, binarize: bool, device: torch.device | str = "cpu", seed: int = TEST_BINARIZE_SEED
) -> torch.Tensor:
    """Held-out images as the runs are scored on them: grey levels, or the fixed binarization
    of the whole split (drawn on the CPU, so every device and every subset sees the same); the
    test set's draw unless `seed` names another (the validation split's)."""
    x = test.pixels()
    return (binarized(x, seed) if binarize else x).to(device)


def split_validation(train: MNISTSplit, images: int) -> tuple[MNISTSplit, MNISTSplit]:
    """The training split without its last `images` images, and those images: a validation
    split no training step sees (the standard 50,000 / 10,000 split of MNIST's 60,000 with 10,000)."""
    images = whole_number(images, "the validation images", 1, len(train) - 1)
    kept = len(train) - images
    return MNISTSplit(train.images[:kept], train.labels[:kept]), MNISTSplit(train.images[kept:], train.labels[kept:])


def check_binarize(binarize: str) -> str:
    if binarize not in BINARIZE:
        raise ValueError(f"unknown binarization {binarize!r}; choose one of {', '.join(BINARIZE)}.")
    return binarize


def resolve_data_root(root: str | os.PathLike | None = None) -> Path:
    """An explicit root, else $GUMBEL_LAB_DATA, else ./data."""
    if root is not None:
        return Path(root)
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV])
    return Path("data")


def _missing_message(root: Path, reason: str) -> str:
    raw = root / "MNIST" / "raw"
    return (
        f"MNIST is not available ({reason}). Put the four files "
        f"{', '.join(RAW_FILES)} into {raw.resolve()} (or set {DATA_ENV} to a folder "
        "that has MNIST/raw/ with them), then try again."
    )


def _archives_present(root: Path, names: tuple[str, ...] = RAW_FILES) -> bool:
    raw = root / "MNIST" / "raw"
    return all((raw / name).is_file() for name in names)


def _read_idx(path: Path) -> torch.Tensor:
    """An idx file of unsigned bytes (the MNIST format) from its .gz archive, in its own shape."""
    with gzip.open(path, "rb") as f:
        data = bytearray(f.read())
    if len(data) < 4 or data[:3] != b"\x00\x00\x08":
        raise ValueError(f"{path.name} is not an idx file of unsigned bytes")
    start = 4 + 4 * data[3]
    shape = struct.unpack(f">{data[3]}I", data[4:start])
    if len(data) != start + math.prod(shape):
        raise ValueError(f"{path.name} holds {len(data) - start} bytes of data, its header says {math.prod(shape)}")
    return torch.frombuffer(data, dtype=torch.uint8, offset=start).reshape(shape)


def _stamp(raw: Path, names: tuple[str, ...]) -> list[list[str | int]]:
    """Each archive's name, size and modification time: what a cache built from them records."""
    return [[name, (info := (raw / name).stat()).st_size, info.st_mtime_ns] for name in names]


def _read_cache(path: Path, stamp: list[list[str | int]]) -> MNISTSplit | None:
    """The split a cache file holds, or None when it is missing, stale, damaged or not a cache."""
    try:
        saved = torch.load(path, weights_only=True)
        images, labels = saved["images"], saved["labels"]
        valid = (
            saved["format"] == CACHE_FORMAT
            and saved["sources"] == stamp
            and images.dtype == labels.dtype == torch.uint8
            and images.shape[1:] == (28, 28)
            and labels.shape == images.shape[:1]
        )
    except Exception:  # torch.load and a foreign file can fail in many ways; each means "rebuild"
        return None
    return MNISTSplit(images, labels.long()) if valid else None


def _write_cache(path: Path, stamp: list[list[str | int]], images: torch.Tensor, labels: torch.Tensor) -> None:
    """Write the cache atomically (a temporary file beside it, then a rename); a folder that
    cannot be written leaves MNIST uncached, never unloaded."""
    temporary: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".tmp", dir=path.parent)
        temporary = Path(name)
        with os.fdopen(handle, "wb") as f:
            torch.save({"format": CACHE_FORMAT, "sources": stamp, "images": images, "labels": labels}, f)
        os.replace(temporary, path)
    except (OSError, RuntimeError) as err:  # read-only or full disk (torch.save reports RuntimeError)
        logging.getLogger(__name__).info("MNIST cache not written to %s: %s", path, err)
        if temporary is not None:
            temporary.unlink(missing_ok=True)


def _load_with_torchvision(root: Path, train: bool, download: bool) -> MNISTSplit:
    """Without the archives: torchvision downloads them (or reads files already extracted)."""
    from torchvision.datasets import MNIST

    try:
        dataset = MNIST(str(root), train=train, download=download)
    except (RuntimeError, OSError) as err:  # not found, download failed, or read-only folder
        reason = "not found there and could not be downloaded" if download else "not found"
        raise MissingDataError(_missing_message(root, reason)) from err
    return MNISTSplit(dataset.data.contiguous(), dataset.targets.long().contiguous())


@lru_cache(maxsize=8)
def _load(root: Path, train: bool, download: bool) -> MNISTSplit:
    raw = root / "MNIST" / "raw"
    names = SPLIT_FILES[train]
    if not _archives_present(root, names):
        return _load_with_torchvision(root, train, download)
    try:
        stamp = _stamp(raw, names)
        cache = root / "MNIST" / "cache" / ("train.pt" if train else "test.pt")
        split = _read_cache(cache, stamp)
        if split is None:
            images, labels = (_read_idx(raw / name) for name in names)
            if images.ndim != 3 or labels.shape != images.shape[:1]:
                raise ValueError(f"{names[0]} and {names[1]} do not describe the same images")
            _write_cache(cache, stamp, images, labels)
            split = MNISTSplit(images, labels.long())
    except (OSError, EOFError, ValueError, zlib.error) as err:  # a damaged or truncated archive
        raise MissingDataError(_missing_message(root, f"the archives could not be read: {err}")) from err
    return split


def load_mnist(split: Split = "train", root: str | os.PathLike | None = None, download: bool = True) -> MNISTSplit:
    """One MNIST split; cached per process, so pages and runs share one copy.

    `download=False` never touches the network, but still reads the archives when they lie in
    <root>/MNIST/raw (through the cache beside them, built on the first load).
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}.")
    return _load(resolve_data_root(root).resolve(), split == "train", download)


def batch_indices(
    n: int,
    batch_size: int,
    *,
    shuffle: bool = True,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> Iterator[torch.Tensor]:
    """Index tensors of one epoch; the last batch may be smaller."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    order = order.to(device)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size]


# --- MNIST from the page: a download that cannot hang and leaves nothing half-written ---------
MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
DOWNLOAD_BYTES = 11_594_722  # the four archives together: "Download MNIST (11 MB)"
CHUNK = 64 * 1024


def mnist_present(root: str | os.PathLike | None = None) -> bool:
    return _archives_present(resolve_data_root(root))


def download_mnist(
    root: str | os.PathLike | None = None,
    progress: Callable[[int, int], None] | None = None,
    timeout: float = 15.0,
    deadline: float = 300.0,
    opener: Callable[..., Any] | None = None,
) -> Path:
    """Fetch the four MNIST archives into <root>/MNIST/raw; returns that folder.

    Each read waits at most `timeout` seconds and the whole download at most `deadline`, so a
    silent network cannot hang a page. Files go to a temporary folder beside raw/, are checked
    (MD5) and only then moved into place: a failed or partial download leaves no half-written
    file. `progress(done, total)` is called as bytes arrive. Failure raises MissingDataError
    whose message says how to place the files by hand."""
    import hashlib
    import shutil
    import tempfile
    import urllib.request

    root = resolve_data_root(root)
    raw = root / "MNIST" / "raw"
    open_url = opener or urllib.request.urlopen
    started = time.monotonic()
    done = 0
    try:
        raw.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".download-", dir=raw.parent))
    except OSError as err:
        raise MissingDataError(_missing_message(root, f"the folder is not writable: {err}")) from err
    try:
        for name in RAW_FILES:
            if (raw / name).is_file():
                continue
            errors = []
            for mirror in MIRRORS:
                try:
                    digest = hashlib.md5(usedforsecurity=False)
                    got = 0
                    with open_url(mirror + name, timeout=timeout) as answer, open(staging / name, "wb") as out:
                        while chunk := answer.read(CHUNK):
                            if time.monotonic() - started > deadline:
                                raise TimeoutError(f"the download took longer than {deadline:g} s")
                            out.write(chunk)
                            digest.update(chunk)
                            got += len(chunk)
                            if progress:
                                progress(min(done + got, DOWNLOAD_BYTES), DOWNLOAD_BYTES)
                    if digest.hexdigest() != MD5[name]:
                        raise OSError(f"{name} arrived damaged (checksum mismatch)")
                    done += got
                    break
                except (OSError, ValueError) as err:  # URLError, timeouts and resets are OSErrors
                    errors.append(f"{mirror}: {err}")
                    (staging / name).unlink(missing_ok=True)
                    if isinstance(err, TimeoutError) and "longer than" in str(err):
                        raise
            else:
                raise OSError("; ".join(errors))
        raw.mkdir(parents=True, exist_ok=True)
        for name in RAW_FILES:
            if (staging / name).is_file():
                os.replace(staging / name, raw / name)
    except OSError as err:
        reason = f"the download failed: {str(err)[:300]}"
        raise MissingDataError(_missing_message(root, reason)) from err
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if progress:  # (no cache to clear: _load caches data, never a MissingDataError)
        progress(DOWNLOAD_BYTES, DOWNLOAD_BYTES)
    return raw
