"""Who is calling: bearer tokens, each bound to a name and a role.

Three roles, each including the one before: ``viewer`` reads judgements, ``judge`` may
open and advance judgements (Argo Rollouts, Flagger, Kayenta clients), ``operator`` may
also change or delete state. Tokens come from a YAML document (a file, usually a
mounted Secret, or a Secret read through the Kubernetes API)::

    tokens:
      - name: argo-rollouts
        role: judge
        token: "long random string"

Every presented token is compared with every known token with
:func:`hmac.compare_digest` on their SHA-256 digests, so neither the position of the
first differing byte nor the token's length shows in the timing, and the loop does
not stop at the first match. Token values never appear in logs, errors or ``repr``.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from auspice.errors import ConfigError
from auspice.specs import load_file, model_from_data
from auspice.specs.tokens import TokenEntry, TokensDocument

__all__ = ["Principal", "Role", "TokenAuth"]

MIN_TOKEN_LENGTH = 16


class Role(enum.IntEnum):
    """Roles in increasing power; a role grants everything the lower ones do."""

    VIEWER = 1
    JUDGE = 2
    OPERATOR = 3

    @classmethod
    def named(cls, name: str) -> Role:
        return cls[name.upper()]

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: the token's name (for the audit log) and its role."""

    name: str
    role: Role

    def may(self, role: Role) -> bool:
        return self.role >= role


@dataclass(frozen=True)
class _Known:
    digest: bytes = field(repr=False)
    principal: Principal


class TokenAuth:
    """Bearer-token authentication; ``anonymous`` is the role of callers without a token."""

    def __init__(self, entries: Iterable[TokenEntry], *, anonymous: Role | None = None) -> None:
        entries = list(entries)
        for e in entries:
            if len(e.token) < MIN_TOKEN_LENGTH:
                raise ConfigError(f"the token of {e.name!r} is shorter than "
                                  f"{MIN_TOKEN_LENGTH} characters",
                                  hint="use a long random token, e.g. openssl rand -hex 32")
        self._known = [_Known(_digest(e.token), Principal(e.name, Role.named(e.role)))
                       for e in entries]
        names = [k.principal.name for k in self._known]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ConfigError(f"token names must be unique; repeated: {', '.join(duplicates)}")
        digests = [k.digest for k in self._known]
        if len(set(digests)) != len(digests):
            raise ConfigError("two token entries have the same token value",
                              hint="give every caller its own token")
        self.anonymous = anonymous

    def __repr__(self) -> str:
        return f"TokenAuth({len(self._known)} tokens, anonymous={self.anonymous})"

    @classmethod
    def from_file(cls, path: str | Path, *, anonymous: Role | None = None) -> TokenAuth:
        documents = load_file(path, TokensDocument)
        return cls([e for d in documents for e in d.tokens], anonymous=anonymous)

    @classmethod
    def from_data(cls, data: object, *, source: str,
                  anonymous: Role | None = None) -> TokenAuth:
        document = model_from_data(data, TokensDocument, source=source)
        return cls(document.tokens, anonymous=anonymous)

    def merged(self, other: TokenAuth) -> TokenAuth:
        """Both sets of tokens (file and Secret) in one."""
        merged = TokenAuth([], anonymous=self.anonymous or other.anonymous)
        merged._known = [*self._known, *other._known]
        return merged

    @property
    def configured(self) -> bool:
        return bool(self._known) or self.anonymous is not None

    def authenticate(self, token: str) -> Principal | None:
        """The principal holding ``token``, or None; constant time in which token matched."""
        presented = _digest(token)
        found: Principal | None = None
        for known in self._known:
            if hmac.compare_digest(presented, known.digest):
                found = known.principal
        return found


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
