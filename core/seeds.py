"""One recorded seed, many independent random streams.

Seeding several generators with `seed`, `seed + 1`, ... gives streams that are related (the
Mersenne Twister's states for nearby seeds are simple functions of each other), so a run's
initial weights could be an affine map of its first Gumbel uniforms. Here each purpose gets
its own child of `numpy.random.SeedSequence(seed)`, keyed by the purpose's name, so adding a
purpose never changes the others' streams and no two purposes share state."""

from __future__ import annotations

import zlib

import numpy as np
import torch

from core.guards import whole_number


def stream_seed(seed: int, purpose: str) -> int:
    """The 63-bit seed of `purpose`'s stream under `seed`: a SeedSequence child keyed by the
    purpose's name (its CRC-32), so it is the same in every process and on every machine."""
    root = whole_number(seed, "seed", minimum=0)
    if not purpose:
        raise ValueError("a random stream needs a purpose, for example 'noise' or 'init'")
    words = np.random.SeedSequence([root, zlib.crc32(purpose.encode())]).generate_state(2, dtype=np.uint32)
    return (int(words[0]) << 31 | int(words[1]) >> 1) & (2**63 - 1)


def generator(seed: int, purpose: str, device: torch.device | str = "cpu") -> torch.Generator:
    """A torch.Generator on `device` for `purpose`'s stream under `seed`."""
    return torch.Generator(device).manual_seed(stream_seed(seed, purpose))
