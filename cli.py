"""The `afterword` command: one click group; each area adds its commands from afterword.commands.*."""

from __future__ import annotations

import click

from afterword.commands import evidence, gates, intake, policy, postmortem


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="afterword")
def main() -> None:
    """Blameless postmortems run as durable workflows."""


for module in (postmortem, policy, gates, evidence, intake):
    module.register(main)
