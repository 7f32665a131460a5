"""The declarative plane's controllers: ReplicaSet, Deployment, node lifecycle, garbage collector.

Each controller is a pure reconcile function (`replicaset`, `deployment`, `nodelifecycle`,
`garbagecollector`) returning actions (`actions`), unit-tested on a virtual clock without
sockets; `manager.ControllerManager` feeds them from informers and performs the actions.
"""

from berth.declarative.controllers.manager import ControllerManager

__all__ = ["ControllerManager"]
