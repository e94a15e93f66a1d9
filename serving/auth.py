"""API keys and roles: who is calling, and whether that role may do what it asks.

Roles: ``rep`` reads their own accounts and contests moves; ``manager`` reviews, decides and
exports; ``job`` scores, plans and reloads. Keys are compared by SHA-256 digest, so the ring never
keeps the raw key and a lookup does not leak timing about near-miss keys.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from serving.errors import BadRequest, Forbidden, Unauthenticated
from serving.settings import ApiKeyEntry, Role

ROLES: tuple[Role, ...] = ("rep", "manager", "job")
TOKEN_PREFIX = "tt1."  # widget tokens (serving/crm_signin.py); API keys are token_urlsafe


@dataclass(frozen=True)
class Principal:
    """The caller behind a request: display name, role and (reps) their rep_id."""

    name: str
    role: Role
    rep_id: str | None = None
    via: str = "api_key"
    account_id: str | None = None  # a widget token's account (serving/crm_signin.py)

    @property
    def actor(self) -> str:
        """How the audit trail names this caller."""
        who = f"{self.name} ({self.role}"
        return f"{who}, {self.rep_id})" if self.rep_id else f"{who})"


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_from_headers(headers: Mapping[str, str]) -> str | None:
    """The API key in `Authorization: Bearer KEY` or `X-API-Key: KEY`, else None."""
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    return headers.get("x-api-key") or None


class KeyRing:
    """Issued API keys by digest. Build it with from_settings() at the service edge."""

    def __init__(
        self, entries: Mapping[str, ApiKeyEntry], *, keys_file: Path | None = None
    ) -> None:
        self._inline = dict(entries)
        self._keys_file = keys_file
        self._file_mtime = _mtime(keys_file)
        if keys_file is not None:
            entries = {**entries, **read_keys_file(keys_file)}
        self._by_digest = self._index(entries)
        self._token_verifier: Callable[[str], Principal] | None = None

    def accept_tokens(self, verifier: Callable[[str], Principal]) -> None:
        """Also accept widget tokens (serving/crm_signin.py): `verifier` turns one into the
        rep it was issued for, or raises Unauthenticated."""
        self._token_verifier = verifier

    @staticmethod
    def _index(entries: Mapping[str, ApiKeyEntry]) -> dict[str, Principal]:
        for key, entry in entries.items():
            if entry.role == "rep" and not entry.rep_id:
                raise BadRequest(
                    f"API key for {entry.name!r} has role rep but no rep_id; add the CRM rep_id "
                    "to that entry in TERRITORY_API_KEYS or the keys file."
                )
            if len(key) < 16:
                raise BadRequest(
                    f"API key for {entry.name!r} is {len(key)} characters; use at least 16 "
                    "(`territory serve` generates 32-byte keys when none are configured)."
                )
        return {
            _digest(key): Principal(entry.name, entry.role, entry.rep_id)
            for key, entry in entries.items()
        }

    def _refresh(self) -> bool:
        """Re-read the keys file when it changed (`territory keys create` adds keys while the
        service runs); True when it did. A broken file keeps the keys already loaded."""
        mtime = _mtime(self._keys_file)
        if self._keys_file is None or mtime == self._file_mtime:
            return False
        try:
            self._by_digest = self._index({**self._inline, **read_keys_file(self._keys_file)})
        except (BadRequest, ValueError):
            return False
        self._file_mtime = mtime
        return True

    @classmethod
    def from_sources(cls, inline: Mapping[str, ApiKeyEntry], keys_file: Path | None) -> KeyRing:
        """Keys from settings (inline JSON) merged with a keys file in the same shape."""
        return cls(inline, keys_file=keys_file)

    def __len__(self) -> int:
        return len(self._by_digest)

    def authenticate(self, headers: Mapping[str, str]) -> Principal:
        """The principal behind the request's key; Unauthenticated when missing or unknown."""
        key = key_from_headers(headers)
        if key is None:
            raise Unauthenticated(
                "no API key: send `Authorization: Bearer <key>` (or `X-API-Key: <key>`); "
                "ask your Territory admin for a key with the role you need."
            )
        if self._token_verifier is not None and key.startswith(TOKEN_PREFIX):
            return self._token_verifier(key)
        principal = self._by_digest.get(_digest(key))
        if principal is None and self._refresh():
            principal = self._by_digest.get(_digest(key))
        if principal is None:
            raise Unauthenticated(
                "API key not recognised: check for a typo or ask your admin whether it was rotated."
            )
        return principal


def _mtime(path: Path | None) -> float | None:
    try:
        return path.stat().st_mtime_ns if path is not None else None
    except OSError:
        return None


def require_role(principal: Principal, *roles: Role, action: str) -> None:
    """Raise Forbidden unless the principal has one of `roles`."""
    if principal.role not in roles:
        needed = " or ".join(roles)
        raise Forbidden(
            f"{action} needs role {needed}; your key ({principal.name}) has role {principal.role}. "
            "Use a key with that role."
        )


def read_keys_file(path: Path) -> dict[str, ApiKeyEntry]:
    """Parse a keys file: {"<key>": {"name": ..., "role": ..., "rep_id": ...}}."""
    try:
        raw = json.loads(Path(path).read_text())
    except FileNotFoundError as exc:
        raise BadRequest(
            f"API keys file {path} does not exist; fix TERRITORY_API_KEYS_FILE."
        ) from exc
    except json.JSONDecodeError as exc:
        raise BadRequest(f"API keys file {path} is not valid JSON ({exc}); rewrite it.") from exc
    return {key: ApiKeyEntry.model_validate(value) for key, value in raw.items()}


def generate_keys(reps: Iterable[tuple[str, str]]) -> dict[str, dict]:
    """New random keys: one manager, one job and one per (rep_id, rep name), in keys-file shape."""
    keys: dict[str, dict] = {
        secrets.token_urlsafe(32): {"name": "Manager", "role": "manager"},
        secrets.token_urlsafe(32): {"name": "Scheduler", "role": "job"},
    }
    for rep_id, name in reps:
        keys[secrets.token_urlsafe(32)] = {"name": name or rep_id, "role": "rep", "rep_id": rep_id}
    return keys


def write_keys_file(path: Path, keys: Mapping[str, dict]) -> Path:
    """Write keys readable by the owner only (never world-readable, not even for a moment)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(json.dumps(keys, indent=1))
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


def create_key(path: Path, *, role: Role, name: str, rep_id: str | None = None) -> str:
    """Add one new random key to the keys file (created when missing) and return it: the only
    time the key is shown. A running service picks it up on its first use (KeyRing._refresh)."""
    if role not in ROLES:
        raise BadRequest(f"role {role!r} is not one of {', '.join(ROLES)}; pick one of those.")
    if role == "rep" and not rep_id:
        raise BadRequest("a rep key needs --rep REP_ID: the CRM rep_id whose accounts it reads.")
    if role != "rep" and rep_id:
        raise BadRequest(f"--rep is only for rep keys (got role {role}); leave it out.")
    keys = json.loads(path.read_text()) if path.is_file() else {}
    key = secrets.token_urlsafe(32)
    entry = ApiKeyEntry(name=name, role=role, rep_id=rep_id)
    keys[key] = entry.model_dump(exclude_none=True)
    write_keys_file(path, keys)
    return key


def key_counts(path: Path) -> dict[str, int]:
    """How many keys of each role a keys file holds (what start-up prints instead of keys)."""
    counts: dict[str, int] = {}
    for entry in read_keys_file(path).values():
        counts[entry.role] = counts.get(entry.role, 0) + 1
    return counts
