"""config.yaml's ``users:`` and ``groups:``: who may use what, and how much.

A user is the name mitmproxy's ``proxyauth`` authenticated (the front passes
it to the engine; a client can never claim one). Each user and each group
may have an allowlist and a denylist of models, combos and ``provider/model``
targets (globs), budgets in US dollars per day and per month (UTC), and rate
limits per minute. A user listed nowhere takes the ``"*"`` entry, if any.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_USER = "*"
"""The ``users:`` entry of every user not listed by name."""


class Limits(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    allow: list[str] | None = None
    """Globs on the model asked for, the combo or provider/model it routes to,
    and each target of a combo; None: everything (an empty list: nothing)."""
    deny: list[str] = Field(default_factory=list)
    """Globs as ``allow``; a match refuses the request (a combo's target that
    matches is left out of the combo)."""
    usd_per_day: float | None = Field(default=None, ge=0)
    usd_per_month: float | None = Field(default=None, ge=0)
    requests_per_minute: int | None = Field(default=None, ge=0)
    tokens_per_minute: int | None = Field(default=None, ge=0)
    """Input plus output tokens of the answers recorded this minute."""


class Group(Limits):
    """A group's limits hold for every member; its budgets and rates are the
    group's total."""


class User(Limits):
    group: str | None = None
    """A name under ``groups:``."""


def problems(users: dict[str, User], groups: dict[str, Group]) -> list[str]:
    """Cross-references: each user's group must exist."""
    out = []
    for name, user in users.items():
        if user.group is not None and user.group not in groups:
            out.append(f"users.{name}.group: group {user.group!r} is not under groups:")
    return out


def entry(users: dict[str, User], name: str) -> User | None:
    """The user's entry, else the ``"*"`` entry (None: neither)."""
    return users.get(name) or users.get(DEFAULT_USER)
