"""Time `apply_token_bitmask_inplace` on torch logits (a GPU when there is one).

For batches of 1 to 256 rows of 128,256 bf16 logits, times the masking with
the bitmask in host memory (numpy, as `fill_next_token_bitmasks` fills it:
the copy to the device is counted) and already on the device.

    python python/benchmarks/apply_torch.py [--device cuda] [--n 100]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import sluicegate as sg

VOCAB = 128_256


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--n", type=int, default=100)
    args = ap.parse_args()
    dev = torch.device(args.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    rng = np.random.default_rng(3)
    words = (VOCAB + 31) // 32
    print(f"torch {torch.__version__} on {dev}" + (f" ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda" else ""))
    for batch in (1, 16, 64, 256):
        host = rng.integers(-(2**31), 2**31 - 1, size=(batch, words), dtype=np.int64).astype(np.int32)
        on_device = torch.as_tensor(host, device=dev)
        logits = torch.randn((batch, VOCAB), device=dev, dtype=torch.bfloat16)
        for label, mask in (("host", host), ("device", on_device)):
            for _ in range(10):
                sg.apply_token_bitmask_inplace(logits, mask)
            sync()
            times = []
            for _ in range(args.n):
                t0 = time.perf_counter()
                sg.apply_token_bitmask_inplace(logits, mask)
                sync()
                times.append(time.perf_counter() - t0)
            times.sort()
            med, p90 = times[len(times) // 2], times[len(times) * 9 // 10]
            print(f"batch {batch:4d}, bitmask on {label:6s}: median {med * 1e6:7.1f} us, p90 {p90 * 1e6:7.1f} us")


if __name__ == "__main__":
    main()
