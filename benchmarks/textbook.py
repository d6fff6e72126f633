"""The textbook categorical VAE loop that the benchmarks compare against, in pieces.

torchvision MNIST + ToTensor through a shuffling DataLoader (batch 100), core.vae's faithful
network, a torch.rand Gumbel-Softmax, sigmoid + binary_cross_entropy + KL to the uniform prior,
default Adam, and after each step a second encoder + decoder pass without gradients on a hard
one-hot sample (the exact-sample objective), with `.item()` on both losses. It imports neither
core.data nor core.training, so a process that runs it pays only for what the tutorial uses.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from core.vae import PRESETS, CategoricalVAE

BATCH = 100
TAU = 1.0


def textbook_gumbel_softmax(logits: torch.Tensor, tau: float, eps: float = 1e-20) -> torch.Tensor:
    u = torch.rand(logits.shape)
    return F.softmax((logits - torch.log(-torch.log(u + eps) + eps)) / tau, dim=-1)


def textbook_hard(y: torch.Tensor) -> torch.Tensor:
    shape = y.size()
    _, ind = y.max(dim=-1)
    y_hard = torch.zeros_like(y).view(-1, shape[-1])
    y_hard.scatter_(1, ind.view(-1, 1), 1)
    return y_hard.view(*shape)


def textbook_loss(recon: torch.Tensor, x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    bce = F.binary_cross_entropy(recon, x, reduction="sum") / x.shape[0]
    q = F.softmax(logits, dim=-1)
    kl = torch.sum(q * torch.log(q * logits.shape[-1] + 1e-20), dim=(-2, -1)).mean()
    return bce + kl


def textbook_loader(root: Path, train: bool = True) -> DataLoader:
    """The tutorial's data: torchvision extracts the archives in <root>/MNIST/raw on first use."""
    dataset = datasets.MNIST(str(root), train=train, download=True, transform=transforms.ToTensor())
    return DataLoader(dataset, batch_size=BATCH, shuffle=train)


def textbook_model(seed: int = 0) -> tuple[CategoricalVAE, torch.optim.Optimizer]:
    torch.manual_seed(seed)
    model = CategoricalVAE(PRESETS["faithful"])
    return model, torch.optim.Adam(model.parameters(), lr=1e-3)


def exact_sample_loss(model: CategoricalVAE, x: torch.Tensor) -> torch.Tensor:
    """The objective with a hard one-hot sample, no gradients: the tutorial's unrelaxed loss."""
    with torch.no_grad():
        logits = model.encode(x)
        hard = textbook_hard(textbook_gumbel_softmax(logits, TAU))
        return textbook_loss(torch.sigmoid(model.decode_logits(hard)), x, logits)


def textbook_step(model: CategoricalVAE, optimizer: torch.optim.Optimizer, x: torch.Tensor) -> tuple[float, float]:
    """One training step on a batch x (n, 784): the relaxed and the unrelaxed loss."""
    optimizer.zero_grad()
    logits = model.encode(x)
    recon = torch.sigmoid(model.decode_logits(textbook_gumbel_softmax(logits, TAU)))
    loss = textbook_loss(recon, x, logits)
    loss.backward()
    optimizer.step()
    return loss.item(), exact_sample_loss(model, x).item()
