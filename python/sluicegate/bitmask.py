"""Token bitmasks: allocation, batch filling, and applying them to logits.

A bitmask row has ``ceil(vocab_size / 32)`` int32 words; bit ``t % 32`` of
word ``t // 32`` is set when token ``t`` is allowed (the layout other
engines and inference servers use).
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from . import _native
from ._native import Matcher

__all__ = ["allocate_token_bitmask", "apply_token_bitmask_inplace", "fill_next_token_bitmasks"]


def allocate_token_bitmask(batch_size: int, vocab_size: int) -> np.ndarray:
    """A ``(batch_size, ceil(vocab_size / 32))`` int32 bitmask with every token allowed."""
    if batch_size < 1 or vocab_size < 1:
        raise ValueError("batch_size and vocab_size must be positive")
    return np.full((batch_size, (vocab_size + 31) // 32), -1, dtype=np.int32)


def fill_next_token_bitmasks(
    matchers: Sequence[Matcher], bitmask: np.ndarray, indices: Optional[Sequence[int]] = None
) -> None:
    """Fill row ``indices[i]`` (default ``i``) of ``bitmask`` with ``matchers[i]``'s mask.

    The rows are computed in parallel on all cores with the GIL released.
    """
    _native.fill_next_token_bitmasks(list(matchers), bitmask, None if indices is None else list(indices))


def _allowed_numpy(bitmask: np.ndarray, vocab: int) -> np.ndarray:
    """Boolean ``(..., vocab)`` array of the allowed tokens; ids past the mask are forbidden."""
    words = np.ascontiguousarray(bitmask, dtype=np.int32)
    bits = np.unpackbits(words.view(np.uint8), axis=-1, bitorder="little").astype(bool)
    if bits.shape[-1] >= vocab:
        return bits[..., :vocab]
    pad = np.zeros(bits.shape[:-1] + (vocab - bits.shape[-1],), dtype=bool)
    return np.concatenate([bits, pad], axis=-1)


def apply_token_bitmask_inplace(logits: Any, bitmask: Any, indices: Optional[Sequence[int]] = None) -> None:
    """Set the logits of forbidden tokens to ``-inf``, in place.

    ``logits`` is a numpy array or a torch tensor (any device) of shape
    ``(vocab,)`` or ``(batch, vocab)``; ``bitmask`` has shape ``(words,)`` or
    ``(batch, words)``. With ``indices``, only those rows of a 2-D ``logits``
    are masked, by the bitmask rows of the same positions.
    """
    if isinstance(logits, np.ndarray):
        _apply_numpy(logits, np.asarray(bitmask), indices)
        return
    module = type(logits).__module__
    if module.startswith("torch"):
        _apply_torch(logits, bitmask, indices)
        return
    raise TypeError(f"logits must be a numpy array or a torch tensor, not {type(logits).__name__}")


def _check_shapes(logits_shape: tuple, bitmask_shape: tuple) -> None:
    if len(logits_shape) not in (1, 2) or len(bitmask_shape) != len(logits_shape):
        raise ValueError(f"logits {logits_shape} and bitmask {bitmask_shape} must both be 1-D or both 2-D")
    if len(logits_shape) == 2 and logits_shape[0] != bitmask_shape[0]:
        raise ValueError(f"logits have {logits_shape[0]} rows but the bitmask has {bitmask_shape[0]}")


def _apply_numpy(logits: np.ndarray, bitmask: np.ndarray, indices: Optional[Sequence[int]]) -> None:
    if not np.issubdtype(logits.dtype, np.floating):
        raise TypeError(f"logits must be floating point, not {logits.dtype}")
    _check_shapes(logits.shape, bitmask.shape)
    vocab = logits.shape[-1]
    if indices is not None and logits.ndim == 2:
        rows = list(indices)
        allowed = _allowed_numpy(bitmask[rows], vocab)
        sub = logits[rows]
        sub[~allowed] = -np.inf
        logits[rows] = sub
    else:
        logits[~_allowed_numpy(bitmask, vocab)] = -np.inf


# Per device: the bit positions 0..31 (one tensor, not one per call).
_SHIFTS: dict = {}


def _apply_torch(logits: Any, bitmask: Any, indices: Optional[Sequence[int]]) -> None:
    import torch

    device = logits.device
    mask = torch.as_tensor(bitmask, dtype=torch.int32, device=device)
    _check_shapes(tuple(logits.shape), tuple(mask.shape))
    vocab = logits.shape[-1]
    shifts = _SHIFTS.get(device)
    if shifts is None:
        shifts = _SHIFTS[device] = torch.arange(32, dtype=torch.int32, device=device)
    # Forbidden where the bit is 0: three elementwise kernels, then one fill
    # (the mask is applied at every decoding step, so launches count).
    forbidden = (((mask.unsqueeze(-1) >> shifts) & 1) == 0).flatten(-2)
    if forbidden.shape[-1] >= vocab:
        forbidden = forbidden[..., :vocab]
    else:
        forbidden = torch.nn.functional.pad(forbidden, (0, vocab - forbidden.shape[-1]), value=True)
    if indices is not None and logits.dim() == 2:
        rows = torch.as_tensor(list(indices), dtype=torch.long, device=device)
        logits[rows] = logits[rows].masked_fill(forbidden[rows], float("-inf"))
    else:
        logits.masked_fill_(forbidden, float("-inf"))
