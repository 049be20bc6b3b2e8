"""Secrets in configs. A key whose name says it holds a credential is never written, logged or fingerprinted;
`NAME_env: VAR` reads NAME from the environment variable VAR when the engine is built, so keys live nowhere else.
"""
from __future__ import annotations

import os
import re
from typing import Any

from datagen.errors import ConfigError

_SECRET_KEY = re.compile(r"api_?key|password|passwd|secret|credential|private_?key|access_?key|authorization"
                         r"|^auth|^token$|(^|_)(hf|api|auth|access|bearer|refresh|session)_token$", re.IGNORECASE)
REDACTED = "<redacted>"
_SECRET_VALUES: set[str] = set()  # every secret seen, so that an error message can be scrubbed of it


def is_secret_key(key: Any) -> bool:
    return isinstance(key, str) and not key.endswith("_env") and bool(_SECRET_KEY.search(key))


def redact(data: Any) -> Any:
    """`data` with the value of every secret-named key replaced by REDACTED (and remembered for redact_text)."""
    if isinstance(data, dict):
        out = {}
        for k, v in data.items():
            if is_secret_key(k) and v not in (None, ""):
                _SECRET_VALUES.add(str(v))
                out[k] = REDACTED
            else:
                out[k] = redact(v)
        return out
    if isinstance(data, list):
        return [redact(v) for v in data]
    return data


def redact_text(text: str) -> str:
    for secret in sorted(_SECRET_VALUES, key=len, reverse=True):
        if len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    return text


def read_secrets(options: dict[str, Any], where: str = "backend") -> dict[str, Any]:
    """Options with every `NAME_env: VAR` replaced by `NAME: <value of VAR>`."""
    out = dict(options)
    for key in [k for k in options if isinstance(k, str) and k.endswith("_env")]:
        var = out.pop(key)
        if not isinstance(var, str) or var not in os.environ:
            raise ConfigError(f"{where}.{key}: environment variable {var!r} is not set")
        out[key[:-4]] = os.environ[var]
        _SECRET_VALUES.add(os.environ[var])
    return out


def env_stand_ins(options: dict[str, Any], where: str) -> dict[str, Any]:
    """Options as the engine will receive them, for checking before the environment is read: each `NAME_env`
    becomes NAME with a stand-in value. Giving both NAME and NAME_env is an error."""
    out = dict(options)
    for key in [k for k in options if isinstance(k, str) and k.endswith("_env")]:
        if key[:-4] in options:
            raise ConfigError(f"{where}.{key}: give `{key[:-4]}` or `{key}`, not both")
        if not isinstance(options[key], str):
            raise ConfigError(f"{where}.{key}: must name an environment variable")
        out[key[:-4]] = "from the environment"
        del out[key]
    return out


def without_secrets(data: Any) -> Any:
    """`data` without secret-named keys and without `NAME_env` keys (for fingerprints: neither decides records)."""
    if isinstance(data, dict):
        return {k: without_secrets(v) for k, v in data.items()
                if not is_secret_key(k) and not (isinstance(k, str) and k.endswith("_env"))}
    if isinstance(data, list):
        return [without_secrets(v) for v in data]
    return data
