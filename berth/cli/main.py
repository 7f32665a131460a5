"""Entry point of the `berth` command: the Typer app, its sub-commands, and error handling.

Sub-command groups live in their own modules (`experiment`, `bench`) and are mounted here.
Expected failures (bad input: a malformed trace, an unknown policy, a negative capacity; a
usage error such as an unknown command or a bad option value) print one line to stderr and exit
with code 2; anything else is a bug and keeps its traceback. Usage errors are recognised by
class name along the exception's MRO, because typer brings either the `click` package or, from
0.29 on, a vendored copy of it, and the two raise different classes of the same names.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from berth.cli import bench, experiment, images, kube, place, setup, up
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
app.add_typer(kube.app, name="kube")
app.add_typer(images.app, name="images")
app.add_typer(setup.app, name="setup")
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


def fail(message: str) -> None:
    """Print `error: <message>` as one line on stderr and exit with code 2."""
    Console(stderr=True).print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(2)


def show_help(err: Exception) -> None:
    """A bare `berth`: click's own display (the help text on stderr), then exit 2 as click does."""
    err.show()
    sys.exit(2)


# click exception class name -> handler; the first name met along the MRO wins.
CLICK_ERRORS = {
    "NoArgsIsHelpError": show_help,
    "ClickException": lambda err: fail(err.format_message()),
}


def click_handler(err: Exception):
    """The handler for a click exception from whichever click typer uses, or None."""
    names = (cls.__name__ for cls in type(err).__mro__)
    return next((CLICK_ERRORS[name] for name in names if name in CLICK_ERRORS), None)


def main() -> None:
    """Run the app; bad input and usage errors become one line on stderr and exit code 2."""
    try:
        code = app(standalone_mode=False)  # a command's typer.Exit(n) comes back as n
    except BAD_INPUT as err:
        fail(str(err))
    except typer.Abort:
        sys.exit(130)
    except Exception as err:  # click exceptions arrive here in standalone_mode=False
        handler = click_handler(err)
        if handler is None:
            raise
        handler(err)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
