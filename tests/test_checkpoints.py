"""Checkpoints: round trip, atomic writes, and refusing every kind of bad file without running it."""

import json
import pickle
import random
from pathlib import Path

import pytest
import torch

import core.store.checkpoints
from core.store.checkpoints import (
    FORMAT,
    CheckpointError,
    list_checkpoints,
    load_checkpoint,
    metadata_path,
    read_metadata,
    recorded_seed,
    save_checkpoint,
)
from core.vae import CategoricalVAE, VAEConfig

SMALL = VAEConfig(latent_vars=3, classes=4, hidden=(16,), relu_logits=False)


def small_model(seed=0):
    torch.manual_seed(seed)
    return CategoricalVAE(SMALL)


class Hostile:
    """Unpickling this opens (creates) a marker file: stands for arbitrary code execution."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_round_trip_decodes_identically(tmp_path):
    model = small_model()
    path = save_checkpoint(model, tmp_path / "m", {"final_metrics": {"test": 123.4}, "epochs": 3})
    assert path == tmp_path / "m.pt"
    loaded = load_checkpoint(path)
    assert loaded.model.config == SMALL and loaded.name == "m" and not loaded.model.training
    codes = model.random_codes(5, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(loaded.model.decode(codes), model.decode(codes))


def test_side_file_holds_config_metrics_and_time(tmp_path):
    path = save_checkpoint(small_model(), tmp_path / "m.pt", {"final_metrics": {"test": 1.5}, "epochs": 2})
    side = json.loads(metadata_path(path).read_text())
    assert side["config"] == SMALL.to_dict()
    assert side["final_metrics"] == {"test": 1.5} and side["epochs"] == 2
    assert side["format"] == FORMAT and side["created_at"].startswith("20")
    assert load_checkpoint(path).metadata == side == read_metadata(path)


@pytest.mark.parametrize(
    "metadata, seed",
    [
        ({"train_config": {"seed": 4}}, 4),  # a record of today: the seed once, in the settings
        ({"train_config": {"seed": 2}, "seed": 2}, 2),  # older records also had it at the top level
        ({"seed": 7}, 7),
        ({"train_config": {"seed": True}}, None),
        ({"train_config": "hostile", "seed": "3"}, None),
        ({}, None),
    ],
)
def test_recorded_seed_reads_todays_and_older_records(metadata, seed):
    assert recorded_seed(metadata) == seed


@pytest.mark.parametrize("name, seed", [("faithful", 2), ("best", 1)])
def test_the_shipped_records_name_their_seed(name, seed):
    meta = read_metadata(Path(__file__).resolve().parent.parent / "checkpoints" / f"{name}.pt")
    assert recorded_seed(meta) == seed == meta["seed"]


def test_save_leaves_no_temporary_files(tmp_path):
    save_checkpoint(small_model(), tmp_path / "m")
    save_checkpoint(small_model(1), tmp_path / "m")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.pt"]


def test_failed_save_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    old = small_model(0)
    path = save_checkpoint(old, tmp_path / "m")
    before = path.read_bytes(), metadata_path(path).read_text()

    def broken_save(obj, handle):
        handle.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(core.store.checkpoints.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(small_model(1), path)
    assert (path.read_bytes(), metadata_path(path).read_text()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.pt"]
    monkeypatch.undo()
    assert torch.equal(load_checkpoint(path).model.decoder[0].weight, old.decoder[0].weight)


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint file"):
        load_checkpoint(tmp_path / "nope.pt")


def corrupt(path, how):
    """Turn a good checkpoint at `path` into a bad one of the given kind."""
    good = path.read_bytes()
    payload = torch.load(path, weights_only=True)
    if how == "random bytes":
        path.write_bytes(random.Random(0).randbytes(5000))
    elif how == "truncated":
        path.write_bytes(good[: len(good) // 2])
    elif how == "json renamed":
        path.write_text(json.dumps({"format": FORMAT, "state_dict": {}}))
    elif how == "empty":
        path.write_bytes(b"")
    else:
        if how == "wrong shapes":
            payload["config"]["hidden"] = [32]
        elif how == "missing weight":
            del payload["state_dict"]["decoder.0.bias"]
        elif how == "nan weights":
            payload["state_dict"]["encoder.0.weight"][0, 0] = float("nan")
        elif how == "no format tag":
            del payload["format"]
        elif how == "bad config":
            payload["config"]["latent_vars"] = "3"
        elif how == "unknown setting":
            payload["config"]["dropout"] = 0.1
        elif how == "not tensors":
            payload["state_dict"]["encoder.0.weight"] = [1.0, 2.0]
        torch.save(payload, path)


@pytest.mark.parametrize(
    "how, words",
    [
        ("random bytes", "could not be read"),
        ("truncated", "could not be read"),
        ("json renamed", "could not be read"),
        ("empty", "could not be read"),
        ("wrong shapes", "do not fit"),
        ("missing weight", "do not fit"),
        ("nan weights", "NaN"),
        ("no format tag", "format tag"),
        ("bad config", "model settings"),
        ("unknown setting", "model settings"),
        ("not tensors", "mapping of names to tensors"),
    ],
)
def test_bad_files_raise_checkpoint_error(tmp_path, how, words):
    path = save_checkpoint(small_model(), tmp_path / "m")
    corrupt(path, how)
    with pytest.raises(CheckpointError, match=words):
        load_checkpoint(path)


def test_unreadable_side_file(tmp_path):
    path = save_checkpoint(small_model(), tmp_path / "m")
    metadata_path(path).write_text("{not json")
    with pytest.raises(CheckpointError, match="not readable JSON"):
        load_checkpoint(path)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("writer", ["pickle", "torch.save"])
def test_hostile_pickle_is_refused_without_running(tmp_path, writer):
    """The same file loaded naively does run code (the control); load_checkpoint must not."""
    path = tmp_path / "evil.pt"
    payload = {"format": FORMAT, "config": SMALL.to_dict(), "state_dict": Hostile(tmp_path / "pwned")}
    if writer == "pickle":
        path.write_bytes(pickle.dumps(payload))
    else:
        torch.save(payload, path)

    with pytest.raises(CheckpointError, match="could not be read safely"):
        load_checkpoint(path)
    assert not (tmp_path / "pwned").exists()

    with open(path, "rb") as handle:
        pickle.load(handle) if writer == "pickle" else torch.load(handle, weights_only=False)
    assert (tmp_path / "pwned").exists()


def test_list_checkpoints_sorted_and_missing_folder(tmp_path):
    for name in ("b", "a", "c"):
        save_checkpoint(small_model(), tmp_path / name)
    (tmp_path / "notes.txt").write_text("not a model")
    assert list_checkpoints(tmp_path) == [tmp_path / "a.pt", tmp_path / "b.pt", tmp_path / "c.pt"]
    assert list_checkpoints(tmp_path / "missing") == []
