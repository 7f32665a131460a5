"""The simulator layer: traces, the FGD experiment, benchmarks, and (later) the event kernel.

Everything here drives the engine and the control planes as a user would, on virtual time or
as fast as possible; the CLI calls into it and prints what it returns.
"""
