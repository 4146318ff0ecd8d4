"""One action against Temporal from the command line: connect with the process settings, run it, and
turn what can go wrong into a message that says what to do. The CLI needs nothing else: no command
that acts on a postmortem touches the worker's data directory."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click

from afterword.client import NotFound, NotReady, Postmortems, Rejected, Unavailable
from afterword.policies import PolicyError
from afterword.runtime.connection import TemporalConnectionError, connect
from afterword.runtime.payload_codec import MissingPayloadKey
from afterword.settings import Settings, SettingsError

T = TypeVar("T")


def run(action: Callable[[Postmortems, Settings], Awaitable[T]]) -> T:
    """Connect with the process settings, run one action, and turn failures into messages that say what to do."""
    try:
        settings = Settings.from_env()
    except SettingsError as err:
        raise click.ClickException(str(err)) from None

    async def go() -> T:
        client = await connect(settings)
        return await action(Postmortems(client, settings), settings)

    try:
        return asyncio.run(go())
    except Rejected as err:
        raise click.ClickException(f"refused: {err}") from None
    except NotFound as err:
        raise click.ClickException(f"{err}; `afterword list` shows the postmortems there are") from None
    except NotReady as err:  # before Unavailable: Temporal answered, the postmortem is merely paced
        raise click.ClickException(str(err)) from None
    except (Unavailable, TemporalConnectionError) as err:
        raise click.ClickException(
            f"{err}\nIs the worker running (`python worker.py`)? For a cluster, set TEMPORAL_ADDRESS or "
            "TEMPORAL_PROFILE (a temporal.toml profile)."
        ) from None
    except PolicyError as err:
        raise click.ClickException(str(err)) from None
    except MissingPayloadKey as err:
        raise click.ClickException(str(err)) from None
