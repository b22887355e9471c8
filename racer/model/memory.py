"""How much memory this machine can still give: the model's size check (``racer.model.loading``)
and the lean forward's packed copy of the weights (``racer.model.lean``) ask it."""
from __future__ import annotations

import os

import torch


def available_memory(device: str = "cpu") -> int:
    """Bytes still free where the model goes (MemAvailable on Linux for the CPU)."""
    if device.startswith("cuda"):
        free, _ = torch.cuda.mem_get_info(torch.device(device))
        return free
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
