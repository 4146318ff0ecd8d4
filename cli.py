"""The `afterword` command: one click group; each area adds its commands from afterword.commands.*."""

from __future__ import annotations

import click

from afterword.commands import codec_cli, evidence_cli, gates_cli, intake_cli, policy_cli, postmortem_cli


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="afterword")
def main() -> None:
    """Blameless postmortems run as durable workflows."""
    from afterword.runtime.log_lines import configure_logging

    configure_logging("WARNING")  # what the libraries warn about, one escaped line each; `intake` sets its own


for module in (postmortem_cli, policy_cli, gates_cli, evidence_cli, intake_cli, codec_cli):
    module.register(main)


def entry() -> None:
    """The console script: run the command, then leave without interpreter finalisation, which can abort
    after a Temporal client was used (a known SDK issue with short-lived processes)."""
    import os
    import sys

    try:
        code = main.main(standalone_mode=False)
    except click.ClickException as err:
        err.show()
        code = err.exit_code
    except click.exceptions.Exit as err:
        code = err.exit_code
    except click.Abort:
        click.echo("Aborted!", err=True)
        code = 1
    except SystemExit as err:
        code = err.code if isinstance(err.code, int) else (0 if err.code is None else 1)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else 0)
