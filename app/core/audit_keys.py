"""The keys of the audit log's MAC: kept outside the database, each with an id so they can rotate.

Every audit entry is chained with HMAC-SHA256 under the *current* key and records that key's id
(app/core/audit_chain.py); older entries keep verifying under the key they were written with.
Someone who holds the database but not the key can neither forge an entry nor recompute the chain
after rewriting, inserting or deleting one.

Where the keys come from, first found wins:

1. ``GONGJIAN_AUDIT_KEYS`` in the environment (config ``AUDIT_KEYS``): ``id:hex,id:hex,...``, the
   last one current (for deployments whose web and worker machines share their secrets through
   the environment);
2. a key file (``AUDIT_KEY_FILE``, default ``<data dir>/audit-keys.json``, mode 0600):
   ``{"current": "k1", "keys": {"k1": "<hex>"}}``. Outside production the file is created with a
   fresh random key the first time one is needed; in production a missing key refuses to start
   (``check_configured``), since each machine would otherwise invent its own.

``rotate`` (the ``gongjian audit rotate-key`` command) adds a new key to the file and makes it
current; the old keys stay to verify the entries written under them.
"""
import json
import os
import secrets
import threading
from dataclasses import dataclass

from flask import current_app

__all__ = ["AuditKeyError", "KeyRing", "check_configured", "key_file_path", "keyring", "rotate"]

KEY_BYTES = 32
ENV_KEYS = "GONGJIAN_AUDIT_KEYS"
_lock = threading.Lock()
# (source, file modification time) -> KeyRing: the file is read again only when it changes.
_cache = {}


class AuditKeyError(RuntimeError):
    """No usable audit key: missing in production, or a key file that cannot be read."""


@dataclass(frozen=True)
class KeyRing:
    current_id: str
    keys: dict  # id -> bytes

    def key(self, key_id):
        """The key with this id, or None when it is not (or no longer) known."""
        return self.keys.get(key_id)


def key_file_path(config=None):
    config = config if config is not None else current_app.config
    return config.get("AUDIT_KEY_FILE") or os.path.join(config["DATA_DIR"], "audit-keys.json")


def _parse_env(text):
    keys, current = {}, None
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        key_id, _sep, value = part.partition(":")
        try:
            secret = bytes.fromhex(value)
        except ValueError:
            secret = b""
        if not key_id or len(secret) < 16:
            raise AuditKeyError(f"{ENV_KEYS}: each key is id:hex with at least 16 bytes (got {key_id!r})")
        keys[key_id] = secret
        current = key_id
    if current is None:
        raise AuditKeyError(f"{ENV_KEYS} is set but holds no key")
    return KeyRing(current, keys)


def _read_file(path):
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        keys = {key_id: bytes.fromhex(value) for key_id, value in data["keys"].items()}
        current = data["current"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise AuditKeyError(f"The audit key file {path} cannot be read: {error}") from error
    if current not in keys:
        raise AuditKeyError(f"The audit key file {path} names a current key it does not hold")
    return KeyRing(current, keys)


def _write_temp(path, ring):
    """The key file's content under a temporary name beside it, readable by its owner only."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    temp_path = f"{path}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    descriptor = os.open(temp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump({"current": ring.current_id, "keys": {k: v.hex() for k, v in ring.keys.items()}}, handle)
        handle.flush()
        os.fsync(handle.fileno())
    return temp_path


def _write_file(path, ring):
    """Replace the key file whole (a reader sees the old file or the new one, never half)."""
    os.replace(_write_temp(path, ring), path)


def _create_file(path, ring):
    """Create the key file unless another process just did (the web server and the worker may
    both start on an empty data directory): a hard link never replaces an existing file, so the
    first key written is the one every process reads."""
    temp_path = _write_temp(path, ring)
    try:
        os.link(temp_path, path)
    except FileExistsError:
        pass
    finally:
        os.remove(temp_path)


def _new_key_id(existing):
    number = len(existing) + 1
    while f"k{number}" in existing:
        number += 1
    return f"k{number}"


def keyring(config=None):
    """The keys now in force (environment, else the key file, created outside production)."""
    config = config if config is not None else current_app.config
    text = config.get("AUDIT_KEYS") or ""
    if text:
        ring = _cache.get(("env", text))
        if ring is None:
            ring = _cache[("env", text)] = _parse_env(text)
        return ring
    path = key_file_path(config)
    with _lock:
        try:
            stamp = os.stat(path).st_mtime_ns
        except FileNotFoundError:
            if config.get("GONGJIAN_ENV") == "production":
                raise AuditKeyError(
                    f"No audit key: set {ENV_KEYS} or create {path} (gongjian audit rotate-key)") from None
            _create_file(path, KeyRing("k1", {"k1": secrets.token_bytes(KEY_BYTES)}))
            stamp = os.stat(path).st_mtime_ns
        ring = _cache.get((path, stamp))
        if ring is None:
            ring = _cache[(path, stamp)] = _read_file(path)
        return ring


def rotate(config=None):
    """Add a new key to the key file and make it current; returns its id. Refused when the keys
    come from the environment (rotate them there)."""
    config = config if config is not None else current_app.config
    if config.get("AUDIT_KEYS"):
        raise AuditKeyError(f"The audit keys come from {ENV_KEYS}: add the new key there, last")
    path = key_file_path(config)
    with _lock:
        ring = _read_file(path) if os.path.exists(path) else KeyRing("", {})
        new_id = _new_key_id(ring.keys)
        _write_file(path, KeyRing(new_id, {**ring.keys, new_id: secrets.token_bytes(KEY_BYTES)}))
    return new_id


def check_configured(config):
    """At start-up in production: the audit keys must be readable (the environment or a key file)."""
    if config.get("GONGJIAN_ENV") == "production":
        keyring(config)
