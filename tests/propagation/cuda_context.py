"""Whether this process touched CUDA, two ways: torch initialised its CUDA state (``torch.cuda.is_initialized()``, set
by every path into it: a module-level binding such as ``torch.cuda.random``'s, a C++ lazy init, a tensor on the GPU),
and the CUDA driver (libcuda, not torch) reports this process's primary context active (GPU memory held)."""

from __future__ import annotations

import ctypes


def driver() -> ctypes.CDLL | None:
    """The CUDA driver library, or None where there is none (no GPU driver on this machine)."""
    try:
        return ctypes.CDLL("libcuda.so.1")
    except OSError:
        return None


def touched() -> dict[str, bool]:
    """{"initialized": torch initialised CUDA, "context": the driver reports a context}; ask at the very end."""
    import torch

    return {"initialized": torch.cuda.is_initialized(), "context": active()}


def active(device: int = 0) -> bool:
    """True when the primary context of ``device`` (the one torch uses) is active in this process. cuInit itself
    creates no context."""
    cuda = driver()
    if cuda is None:
        raise RuntimeError("no CUDA driver (libcuda.so.1) on this machine")
    handle, flags, state = ctypes.c_int(), ctypes.c_uint(), ctypes.c_int()
    for call, args in (("cuInit", (0,)), ("cuDeviceGet", (ctypes.byref(handle), device)),
                       ("cuDevicePrimaryCtxGetState", (handle, ctypes.byref(flags), ctypes.byref(state)))):
        code = getattr(cuda, call)(*args)
        if code != 0:
            raise RuntimeError(f"{call} failed with CUDA error {code}")
    return bool(state.value)
