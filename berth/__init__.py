"""berth: a workload orchestrator with one placement engine under two control planes.

The package is layered (model -> engine -> store -> runtime -> planes -> launch -> sim -> cli);
each layer imports only the layers before it.  Library users start from `berth.engine.Engine`.
"""

__version__ = "0.1.0"
