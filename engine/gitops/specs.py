"""What a user writes to tell Auspice where the GitOps repository is and how to log in.

These models are meant to be embedded in a RolloutPlan (``extra="forbid"``, so a typo
is an error). Credentials are *references* (a key file, a token file, an environment
variable name), never values: the plan can be committed and logged without leaking
anything, and rotating a secret is a file or variable change, not a plan change.

A URL with a password in it is refused outright, because git would print it in error
messages and keep it in the cache's config.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["HttpsTokenAuth", "RepoSpec", "RevertReason", "SshKeyAuth", "redact_url"]

_SCP_LIKE = re.compile(r"^(?:[^@/\s]+@)?[^/:\s]+:(?!//)")
_BRANCH = re.compile(r"^(?!-)(?!.*\.\.)(?!.*//)(?!.*@\{)[^\s~^:?*\[\\\x00-\x1f\x7f]+(?<![./])$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ONE_LINE = re.compile(r"^[^\r\n]+$")


class SshKeyAuth(BaseModel):
    """An SSH private key file, used alone (``IdentitiesOnly``) and non-interactively."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["ssh-key"] = "ssh-key"
    key_file: Path
    known_hosts_file: Path | None = Field(
        default=None, description="Pin host keys here instead of the user's known_hosts."
    )
    accept_new_host_keys: bool = Field(
        default=False,
        description="Trust a host key seen for the first time (StrictHostKeyChecking=accept-new).",
    )


class HttpsTokenAuth(BaseModel):
    """An HTTPS access token read from a file or an environment variable at run time."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["https-token"] = "https-token"
    token_file: Path | None = None
    token_env: str | None = None
    username: str = Field(
        default="x-access-token",
        description="User name sent with the token (GitHub: any; GitLab: oauth2; "
        "Bitbucket: x-token-auth).",
    )

    @field_validator("token_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.match(value):
            raise ValueError(f"token_env {value!r} is not an environment variable name")
        return value

    @field_validator("username")
    @classmethod
    def _username(cls, value: str) -> str:
        if not _ONE_LINE.match(value):
            raise ValueError("username must be one non-empty line")
        return value

    @model_validator(mode="after")
    def _exactly_one_source(self) -> HttpsTokenAuth:
        if (self.token_file is None) == (self.token_env is None):
            raise ValueError("give exactly one of token_file or token_env")
        return self


Auth = Annotated[SshKeyAuth | HttpsTokenAuth, Field(discriminator="type")]


class RepoSpec(BaseModel):
    """The GitOps config repository and the branch Argo CD / Flux deploy from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(min_length=1)
    branch: str = "main"
    auth: Auth | None = Field(
        default=None,
        description="None: use git's own configuration (ssh-agent, ~/.ssh/config, "
        "credential helpers) exactly as a person running git would.",
    )
    author_name: str = "Auspice"
    author_email: str = "auspice@localhost"
    timeout_seconds: float = Field(default=60.0, gt=0, le=3600)

    @field_validator("url")
    @classmethod
    def _no_password_in_url(cls, value: str) -> str:
        if value.startswith("-") or any(ch.isspace() for ch in value):
            raise ValueError("a repository URL cannot start with '-' or contain whitespace")
        if _url_password(value):
            raise ValueError(
                "the URL contains a password or token; remove it and use "
                "auth: {type: https-token, token_file: ...} or token_env instead"
            )
        return value

    @field_validator("branch")
    @classmethod
    def _branch_name(cls, value: str) -> str:
        if value.startswith("refs/"):
            raise ValueError("give the branch name without refs/heads/")
        if not _BRANCH.match(value):
            raise ValueError(f"{value!r} is not a valid git branch name")
        return value

    @field_validator("author_name", "author_email")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if not _ONE_LINE.match(value):
            raise ValueError("must be one non-empty line")
        return value

    @model_validator(mode="after")
    def _auth_matches_url(self) -> RepoSpec:
        transport = url_transport(self.url)
        if isinstance(self.auth, SshKeyAuth) and transport != "ssh":
            raise ValueError(f"auth type ssh-key needs an ssh URL, got a {transport} URL")
        if isinstance(self.auth, HttpsTokenAuth) and transport != "http":
            raise ValueError(f"auth type https-token needs an https URL, got a {transport} URL")
        return self

    @property
    def display_url(self) -> str:
        return redact_url(self.url)


class RevertReason(BaseModel):
    """Why the release is being reverted and who asked, written into the commit message."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["verdict", "abort"] = Field(
        description="verdict: the analysis failed the canary; abort: a person or system "
        "forced an abort."
    )
    summary: str = Field(min_length=1, max_length=4000)
    requested_by: str = Field(min_length=1, max_length=200)

    @field_validator("requested_by")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if not _ONE_LINE.match(value):
            raise ValueError("requested_by must be one line")
        return value


def url_transport(url: str) -> Literal["ssh", "http", "local"]:
    """Which transport git will use for ``url`` (scp-like ``host:path`` counts as ssh)."""
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("http", "https"):
        return "http"
    if scheme in ("ssh", "git+ssh", "ssh+git"):
        return "ssh"
    if scheme == "" and _SCP_LIKE.match(url) and not url.startswith(("/", ".")):
        return "ssh"
    return "local"


def redact_url(url: str) -> str:
    """``url`` with any password in its user part replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[1]
    return parts._replace(netloc=f"{user}:***@{host}").geturl()


def _url_password(url: str) -> bool:
    try:
        return urlsplit(url).password is not None
    except ValueError:
        return False
