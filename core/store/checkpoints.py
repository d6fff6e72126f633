"""Save, load, list and validate model files.

A checkpoint is a `.pt` file holding only tensors and plain values, loaded with
`torch.load(weights_only=True)` so a hostile file cannot run code, plus a JSON side-file
with the config, data, epochs, final metrics and when it was made. A file is checked before
anything is allocated for its model: its size, its settings against the sizes the app supports,
and its weights' names, shapes and dtypes against a model on the meta device.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import torch

from core.guards import shown
from core.vae import MAX_PARAMETERS, CategoricalVAE, VAEConfig

FORMAT = "gumbel-lab/categorical-vae/1"


class CheckpointError(ValueError):
    """A file is missing, corrupt, foreign or does not fit the model it claims to be."""


@dataclass
class Checkpoint:
    model: CategoricalVAE
    metadata: dict
    path: Path

    @property
    def name(self) -> str:
        return self.path.stem


def checkpoint_path(path: str | os.PathLike) -> Path:
    """A run's `.pt` file: `path` when it ends in `.pt`, else `path` with `.pt` added. A run's
    name may hold dots (`tau0.5`, `r0.0001`), which `with_suffix` would cut the name at."""
    path = Path(path)
    return path if path.suffix == ".pt" else path.with_name(f"{path.name}.pt")


def metadata_path(path: str | os.PathLike) -> Path:
    return checkpoint_path(path).with_suffix(".json")


def _atomic_write(path: Path, write) -> None:
    """Write through a temporary file in the same folder, then rename over the target."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.chmod(tmp, 0o644)  # mkstemp makes files private; a model file is meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: str | os.PathLike, data: dict) -> None:
    """A JSON side-file written atomically (a reader sees the old or the new, never half)."""
    text = json.dumps(data, indent=2, sort_keys=True).encode()
    _atomic_write(Path(path), lambda handle: handle.write(text))


@dataclass(frozen=True)
class PackedWeights:
    """A model's weights file as bytes, with the model's settings: what a run on another machine
    hands back (through Ray) for the server to write into its own run store."""

    data: bytes
    config: dict


def pack_weights(model: CategoricalVAE) -> PackedWeights:
    """The checkpoint file's contents for `model`'s weights, as `save_checkpoint` writes them."""
    payload = {
        "format": FORMAT,
        "config": model.config.to_dict(),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return PackedWeights(buffer.getvalue(), model.config.to_dict())


def write_checkpoint(weights: PackedWeights, path: str | os.PathLike, metadata: dict | None = None) -> Path:
    """Write packed weights and the JSON side-file atomically; returns the `.pt` path."""
    path = checkpoint_path(path)
    info = {
        "format": FORMAT,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **(metadata or {}),
        "config": weights.config,
    }
    text = json.dumps(info, indent=2, sort_keys=True).encode()
    _atomic_write(path, lambda handle: handle.write(weights.data))
    _atomic_write(metadata_path(path), lambda handle: handle.write(text))
    return path


def save_checkpoint(model: CategoricalVAE, path: str | os.PathLike, metadata: dict | None = None) -> Path:
    """Write the weights and the JSON side-file atomically; returns the `.pt` path."""
    return write_checkpoint(pack_weights(model), path, metadata)


def read_metadata(path: str | os.PathLike) -> dict:
    """The JSON side-file of a checkpoint ({} when there is none)."""
    side = metadata_path(path)
    if not side.exists():
        return {}
    try:
        data = json.loads(side.read_text())
    # RecursionError: JSON nested deeper than Python's parser goes, which is not readable JSON either.
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise CheckpointError(f"{side.name} is not readable JSON ({err}).") from err
    if not isinstance(data, dict):
        raise CheckpointError(f"{side.name} should hold a JSON object.")
    return data


def recorded_seed(metadata: dict) -> int | None:
    """The seed a run's side-file records, in its training settings; records written before
    the random streams were split (core.seeds) also carry it at the top level, read as a
    fallback. None when neither names a whole number."""
    settings = metadata.get("train_config")
    seed = settings.get("seed") if isinstance(settings, dict) else None
    if seed is None:
        seed = metadata.get("seed")
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else None


def _invalid(path: Path, why: str) -> CheckpointError:
    return CheckpointError(f"{path.name} is not a valid Gumbel Lab checkpoint: {why}")


def _unreadable(err: Exception) -> str:
    """Why torch.load(weights_only=True) refused a file, said plainly."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    blocked = next((line for line in lines if "global" in line.lower()), None)
    if blocked is not None:
        return (
            "it could not be read safely: it holds Python objects other than tensors and plain values, "
            f"which could run code, so it was not loaded ({blocked[:160]})."
        )
    detail = next((line for line in lines if line.startswith("Unsupported")), lines[0] if lines else type(err).__name__)
    if detail.startswith("Weights only load failed"):
        detail = type(err).__name__
    return (
        "it could not be read safely as weights: it is not a PyTorch file, it is truncated or corrupt, "
        f"or it holds Python objects that could run code ({detail[:160]})."
    )


# A file can hold no more than a model of the largest supported size (float32 weights) plus
# the pickle's and zip's bookkeeping, which is a few kB for our models.
MAX_CHECKPOINT_BYTES = 4 * MAX_PARAMETERS + 2**20


def _described(shape: tuple[int, ...], dtype: torch.dtype, layout: torch.layout, device: str) -> str:
    """A tensor as a message names it: "512x784 float32", plus its layout or device if unusual."""
    text = f"{'x'.join(map(str, shape)) or 'scalar'} {str(dtype).removeprefix('torch.')}"
    text += "" if layout == torch.strided else f" {str(layout).removeprefix('torch.')}"
    return text + ("" if device == "cpu" else f" on {device}")


def _misfits(state: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> list[str]:
    """How the weights differ from those the settings imply (name, shape, dtype, layout, device),
    judged from the tensors' metadata alone; `expected` are a meta-device model's, which stand
    for dense CPU tensors."""
    missing = [f"{name} is missing" for name in expected if name not in state]
    unexpected = [f"{shown(name)} is not a weight of this model" for name in state if name not in expected]
    wrong = []
    for name, want in expected.items():
        if name in state:
            found = state[name]
            kind = (tuple(found.shape), found.dtype, found.layout, found.device.type)
            wanted = (tuple(want.shape), want.dtype, torch.strided, "cpu")
            if kind != wanted:
                wrong.append(f"{name} is {_described(*kind)} where the settings imply {_described(*wanted)}")
    return missing + unexpected + wrong


def load_checkpoint(path: str | os.PathLike, device: torch.device | str = "cpu") -> Checkpoint:
    """Load and validate a checkpoint; any problem is a `CheckpointError`, never code execution.

    Nothing is allocated for the model before its file passes: the settings are checked against
    the sizes the app supports (`core.vae`'s MAX_* bounds), every weight's name, shape and dtype
    against a model built on the meta device, then the values for NaN and inf."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint file at {path}.")
    size = path.stat().st_size
    if size > MAX_CHECKPOINT_BYTES:
        raise _invalid(path, f"it is {size:,} bytes; the largest model the app supports is {MAX_CHECKPOINT_BYTES:,}.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # weights_only refuses code; anything else is a broken file
        raise _invalid(path, _unreadable(err)) from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise _invalid(path, f"it does not carry the format tag {FORMAT!r}.")
    state = payload.get("state_dict")
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise _invalid(path, "its weights are not a mapping of names to tensors.")
    try:
        config = VAEConfig.from_dict(payload.get("config"))
    except (TypeError, ValueError) as err:
        raise _invalid(path, f"its model settings are invalid: {err}") from err
    model = CategoricalVAE.skeleton(config)
    misfits = _misfits(state, model.state_dict())
    if misfits:
        more = f" and {len(misfits) - 3} more" if len(misfits) > 3 else ""
        raise _invalid(path, f"its weights do not fit its model settings: {'; '.join(misfits[:3])}{more}.")
    if not all(torch.isfinite(v).all() for v in state.values()):
        raise _invalid(path, "its weights contain NaN or inf.")
    model.to_empty(device=device).load_state_dict(state)
    model.eval()
    return Checkpoint(model, read_metadata(path), path)


def list_checkpoints(folder: str | os.PathLike) -> list[Path]:
    """The `.pt` files in a folder, by name; a missing folder has none."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.pt") if p.is_file())
