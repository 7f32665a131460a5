"""The Kubernetes API client of berth's own components: REST calls, informers and work queues.

`KubeClient` speaks JSON over HTTP or HTTPS (httpx for watch streams, plain keep-alive connections for
other calls) to any Kubernetes-compatible API server, berth's or upstream's, with the `Credentials` of
a kubeconfig (CA, client certificate, bearer token); `Informer` keeps a
local cache of one resource fed by list-then-watch (relisting on 410 Gone); `WorkQueue` hands out
keys to reconcile with de-duplication and rate-limited retries.
The scheduler, the controllers and the node agents are built on these.
"""

from berth.declarative.client.credentials import Credentials, KubeconfigError
from berth.declarative.client.informer import Informer
from berth.declarative.client.rest import RESOURCES, ApiError, KubeClient, Resource
from berth.declarative.client.workqueue import WorkQueue

__all__ = ["ApiError", "Credentials", "Informer", "KubeClient", "KubeconfigError", "RESOURCES", "Resource",
           "WorkQueue"]
