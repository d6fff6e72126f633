"""MNIST tensors, data-root resolution and batching."""

import shutil
import urllib.request
from pathlib import Path

import pytest
import torch
from PIL import Image
from torchvision.transforms import ToTensor

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
    """A fresh root holding only the four .gz files loads with download=False (extracted locally)."""
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in RAW_FILES:
        shutil.copy(data_root / "MNIST" / "raw" / name, raw / name)

    def no_network(*args, **kwargs):
        raise AssertionError("tried the network")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    test = load_mnist("test", tmp_path, download=False)
    assert len(test) == 10_000 and test.images.dtype == torch.uint8
