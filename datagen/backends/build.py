"""One engine in this process, from its backend block: what a pool worker or a Ray actor runs, and what
`build_backend` returns when one worker is enough."""
from __future__ import annotations

import inspect
from typing import TYPE_CHECKING

from datagen.backends.base import Backend
from datagen.registry import BACKENDS

if TYPE_CHECKING:
    from datagen.config import BackendConfig


def build_single(config: BackendConfig, threads: int | None = None) -> Backend:
    """The engine named by `config.type`, given `model` and the block's own options. `config` has its secrets
    read (BackendConfig.with_secrets); `threads` reaches only engines that take it."""
    cls = BACKENDS.get(config.type)
    options = {"model": config.model, **config.options}
    if threads and "threads" in inspect.signature(cls.__init__).parameters:
        options["threads"] = threads
    return cls(**options)
