"""Entry point of the `berth` command: the Typer app, its sub-commands, and error handling.

Sub-command groups live in their own modules (`experiment`, `bench`) and are mounted here.
Expected failures (bad input: a malformed trace, an unknown policy, a negative capacity) print
one line to stderr and exit with code 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.table import Table

from berth.cli import bench, experiment, place, up
from berth.engine import POLICIES
from berth.model import ValidationError
from berth.sim.trace import TraceError

app = typer.Typer(
    name="berth",
    help="berth: place workloads close to optimal, and keep them running.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(experiment.app, name="experiment")
app.add_typer(bench.app, name="bench")
app.command("place")(place.place)
app.command("up")(up.up)
BAD_INPUT = (ValidationError, TraceError, FileNotFoundError)


@app.command("policies")
def policies(as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts.")) -> None:
    """List the named placement policies and what each one does."""
    if as_json:
        import json
        typer.echo(json.dumps({name: p.summary for name, p in POLICIES.items()}, indent=2))
        return
    table = Table("policy", "what it does")
    for name, policy in POLICIES.items():
        table.add_row(name, policy.summary)
    Console().print(table)


def main() -> None:
    """Run the app; bad input becomes one line on stderr and exit code 2."""
    try:
        app(standalone_mode=False)
    except BAD_INPUT as err:
        Console(stderr=True).print(f"[bold red]error:[/] {err}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except typer.Abort:
        sys.exit(130)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except Exception as err:  # click usage errors arrive here in standalone_mode=False
        import click
        if isinstance(err, click.ClickException):
            err.show()
            sys.exit(2)
        raise


if __name__ == "__main__":
    main()
