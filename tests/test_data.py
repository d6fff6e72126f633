"""MNIST tensors, data-root resolution and batching."""

import gzip
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import torch
from PIL import Image
from torchvision.transforms import ToTensor

import core.data as data
from core.data import DATA_ENV, RAW_FILES, MissingDataError, batch_indices, load_mnist, resolve_data_root


def test_data_root_precedence(monkeypatch, tmp_path):
    """An explicit root beats $GUMBEL_LAB_DATA, which beats ./data."""
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "env"))
    assert resolve_data_root(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_data_root() == tmp_path / "env"
    monkeypatch.delenv(DATA_ENV)
    assert resolve_data_root() == Path("data")
    monkeypatch.setenv(DATA_ENV, "")
    assert resolve_data_root() == Path("data")


def test_splits_have_mnist_shapes_and_dtypes(mnist):
    train, test = mnist
    assert train.images.shape == (60000, 28, 28) and train.images.dtype == torch.uint8
    assert test.images.shape == (10000, 28, 28) and test.images.dtype == torch.uint8
    for split in mnist:
        assert split.labels.dtype == torch.int64 and split.labels.shape == (len(split),)
        assert set(split.labels.unique().tolist()) == set(range(10))


def test_load_is_cached(mnist, data_root):
    assert load_mnist("train", data_root) is mnist[0]


def test_pixels_are_totensor_values(mnist):
    """Same floats as the textbook ToTensor pipeline, flattened."""
    test = mnist[1].subset(50)
    x = test.pixels()
    assert x.shape == (50, 784) and x.dtype == torch.float32
    assert x.min() >= 0 and x.max() <= 1 and x.max() == 1
    for i in (0, 7, 49):
        reference = ToTensor()(Image.fromarray(test.images[i].numpy()))
        assert torch.equal(x[i], reference.reshape(-1))


def test_pixels_do_not_alter_the_cached_images(mnist):
    before = mnist[1].images[:3].clone()
    mnist[1].subset(3).pixels().mul_(0)
    assert torch.equal(mnist[1].images[:3], before)


def test_subset(mnist):
    train = mnist[0]
    assert train.subset(None) is train
    small = train.subset(10)
    assert len(small) == 10 and torch.equal(small.labels, train.labels[:10])
    with pytest.raises(ValueError, match="at least one"):
        train.subset(0)


def test_missing_data_names_the_folder_and_files(tmp_path):
    """download=False keeps the network out of it; the message says where to put what."""
    with pytest.raises(MissingDataError) as info:
        load_mnist("train", tmp_path, download=False)
    message = str(info.value)
    assert str((tmp_path / "MNIST" / "raw").resolve()) in message
    assert all(name in message for name in RAW_FILES)
    assert DATA_ENV in message


def test_bad_split_raises():
    with pytest.raises(ValueError, match="'train' or 'test'"):
        load_mnist("validation")


def test_batches_cover_every_index_once():
    batches = list(batch_indices(105, 10, generator=torch.Generator().manual_seed(0)))
    assert [len(b) for b in batches] == [10] * 10 + [5]
    assert torch.equal(torch.cat(batches).sort().values, torch.arange(105))


def test_batches_are_shuffled_deterministically():
    def epoch(seed):
        return torch.cat(list(batch_indices(100, 32, generator=torch.Generator().manual_seed(seed))))

    assert torch.equal(epoch(1), epoch(1))
    assert not torch.equal(epoch(1), epoch(2))
    assert not torch.equal(epoch(1), torch.arange(100))
    assert torch.equal(torch.cat(list(batch_indices(100, 32, shuffle=False))), torch.arange(100))


def test_batch_size_below_one_raises():
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        next(batch_indices(10, 0))


def test_archives_alone_load_without_download(data_root, tmp_path, monkeypatch):
    """A fresh root holding only the four .gz files loads with download=False (read from the archives)."""
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in RAW_FILES:
        shutil.copy(data_root / "MNIST" / "raw" / name, raw / name)

    def no_network(*args, **kwargs):
        raise AssertionError("tried the network")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    test = load_mnist("test", tmp_path, download=False)
    assert len(test) == 10_000 and test.images.dtype == torch.uint8


# --- the uint8 cache beside the archives --------------------------------------------------------


@pytest.fixture
def test_archives(data_root, tmp_path):
    """A fresh data root holding the test split's two archives only."""
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in data.SPLIT_FILES[False]:
        shutil.copy(data_root / "MNIST" / "raw" / name, raw / name)
    return tmp_path


@pytest.fixture
def parses(monkeypatch):
    """Counts the archives parsed (each load that misses the cache parses two)."""
    calls = []
    read_idx = data._read_idx

    def spy(path):
        calls.append(path.name)
        return read_idx(path)

    monkeypatch.setattr(data, "_read_idx", spy)
    return calls


def load_test_split(root):
    """The test split read afresh, past the per-process lru_cache."""
    return data._load.__wrapped__(root.resolve(), False, False)


def cache_folder(root):
    return root / "MNIST" / "cache"


def test_cache_is_bit_identical_to_torchvision(data_root, tmp_path):
    from torchvision.datasets import MNIST

    raw = tmp_path / "tv" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in RAW_FILES:
        shutil.copy(data_root / "MNIST" / "raw" / name, raw / name)
    for train in (True, False):
        reference = MNIST(str(tmp_path / "tv"), train=train, download=True)  # extracts, no network
        built = data._load.__wrapped__(raw.parent.parent.resolve(), train, False)
        cached = data._load.__wrapped__(raw.parent.parent.resolve(), train, False)
        for split in (built, cached):
            assert split.images.dtype == reference.data.dtype and split.labels.dtype == reference.targets.dtype
            assert torch.equal(split.images, reference.data) and torch.equal(split.labels, reference.targets)


def test_fast_path_does_not_import_torchvision(data_root):
    code = (
        "import sys; from core.data import load_mnist; load_mnist('test', sys.argv[1], download=False); "
        "load_mnist('train', sys.argv[1], download=False); assert 'torchvision' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code, str(data_root)], check=True, timeout=120)


def test_cache_is_built_once_then_reused(test_archives, parses):
    first = load_test_split(test_archives)
    assert len(parses) == 2 and (cache_folder(test_archives) / "test.pt").is_file()
    again = load_test_split(test_archives)
    assert len(parses) == 2, "the second load parsed the archives again"
    assert torch.equal(again.images, first.images) and torch.equal(again.labels, first.labels)
    assert again.labels.dtype == torch.int64


def test_cache_is_rebuilt_when_an_archive_changes_time_or_size(test_archives, parses):
    load_test_split(test_archives)
    labels = test_archives / "MNIST" / "raw" / data.SPLIT_FILES[False][1]
    info = labels.stat()
    os.utime(labels, ns=(info.st_atime_ns, info.st_mtime_ns + 10**9))
    load_test_split(test_archives)
    assert len(parses) == 4
    load_test_split(test_archives)
    assert len(parses) == 4  # rebuilt for the new time, then reused
    # Same images, recompressed: another size, and the old time put back.
    info = labels.stat()
    labels.write_bytes(gzip.compress(gzip.decompress(labels.read_bytes()), compresslevel=1, mtime=0))
    os.utime(labels, ns=(info.st_atime_ns, info.st_mtime_ns))
    assert labels.stat().st_size != info.st_size
    assert len(load_test_split(test_archives)) == 10_000
    assert len(parses) == 6


@pytest.mark.parametrize("damage", [b"", b"not a torch file", b"PK\x03\x04 truncated zip"])
def test_a_damaged_cache_is_rebuilt(test_archives, parses, damage):
    reference = load_test_split(test_archives)
    cache = cache_folder(test_archives) / "test.pt"
    cache.write_bytes(damage)
    again = load_test_split(test_archives)
    assert len(parses) == 4 and torch.equal(again.images, reference.images)
    load_test_split(test_archives)
    assert len(parses) == 4, "the rebuilt cache was not reused"


def test_a_cache_of_another_shape_is_rebuilt(test_archives, parses):
    load_test_split(test_archives)
    cache = cache_folder(test_archives) / "test.pt"
    saved = torch.load(cache, weights_only=True)
    torch.save(saved | {"labels": saved["labels"][:5]}, cache)
    assert len(load_test_split(test_archives)) == 10_000 and len(parses) == 4


def test_an_unwritable_folder_loads_without_caching(test_archives, parses, monkeypatch):
    def read_only(*args, **kwargs):
        raise PermissionError(13, "Read-only file system")

    monkeypatch.setattr(data.tempfile, "mkstemp", read_only)
    assert len(load_test_split(test_archives)) == 10_000
    assert len(load_test_split(test_archives)) == 10_000 and len(parses) == 4
    assert list(cache_folder(test_archives).iterdir()) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_data_root_loads(test_archives):
    (test_archives / "MNIST").chmod(0o555)
    try:
        assert len(load_test_split(test_archives)) == 10_000
        assert not cache_folder(test_archives).exists()
    finally:
        (test_archives / "MNIST").chmod(0o755)


def test_a_failed_write_leaves_no_temporary_file(test_archives, monkeypatch):
    def disk_full(obj, f):
        f.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(data.torch, "save", disk_full)
    assert len(load_test_split(test_archives)) == 10_000
    assert list(cache_folder(test_archives).iterdir()) == []
    monkeypatch.undo()
    load_test_split(test_archives)
    assert [p.name for p in cache_folder(test_archives).iterdir()] == ["test.pt"]


def test_a_damaged_archive_is_a_missing_data_error(test_archives):
    images = test_archives / "MNIST" / "raw" / data.SPLIT_FILES[False][0]
    images.write_bytes(images.read_bytes()[:100_000])
    with pytest.raises(MissingDataError, match="could not be read"):
        load_test_split(test_archives)
