"""The simulator layer: traces, the FGD experiment, its proven bounds and batch mode, benchmarks.

Everything here drives the engine and the control planes as a user would, as fast as possible;
the CLI calls into it and prints what it returns.
"""
