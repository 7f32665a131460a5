"""The declarative plane's scheduler: kube-scheduler's structure on berth's placement engine.

`queue` (active, backoff and unschedulable sub-queues), `cache` (one engine snapshot kept up to
date from informers, assume/forget), `framework` (one cycle: the engine's filter and score
plugins, then preemption), `config` (KubeSchedulerConfiguration profiles -> engine policies),
`convert` (API objects -> model types) and `scheduler` (the process: informers, loop, binding).
"""

from berth.declarative.scheduler.config import Profile, default_profiles, load_config
from berth.declarative.scheduler.scheduler import Scheduler

__all__ = ["Profile", "Scheduler", "default_profiles", "load_config"]
