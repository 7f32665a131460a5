"""`berth experiment ...`: placement-quality experiments on real traces (filled below)."""

import typer

app = typer.Typer(help="Experiments on real traces.", no_args_is_help=True)
