"""The `berth` command (Typer and Rich).  The only layer that prints."""
