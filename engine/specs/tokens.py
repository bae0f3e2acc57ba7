"""The tokens document: who may call ``auspice serve``, each token with a name and a role.

::

    tokens:
      - name: argo-rollouts
        role: judge
        token: "long random string"

It is read from a file (usually a mounted Secret) or from a Secret through the
Kubernetes API; :class:`auspice.webhooks.auth.TokenAuth` checks the tokens and
authenticates callers with them. Token values never appear in a ``repr``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from auspice.specs.base import UserModel
from auspice.specs.loader import DocumentKind, register_kind

__all__ = ["TokenEntry", "TokensDocument"]

class TokenEntry(UserModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    role: Literal["viewer", "judge", "operator"]
    # Length is checked by TokenAuth, whose message never shows the value.
    token: str = Field(repr=False)


class TokensDocument(UserModel):
    tokens: list[TokenEntry]


register_kind(DocumentKind(api_version="", kind="tokens document (auth.tokensFile)",
                           model=TokensDocument, recognise=lambda data: set(data) == {"tokens"}))
