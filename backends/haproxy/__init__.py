"""The HAProxy router (``kind = "haproxy"``): switches colours with the runtime API, never a reload.

Modules: ``router`` (the verbs), ``options`` (the typed options), ``io`` (the stats socket and the
map file), ``stats`` (parsing what HAProxy answers, counters), ``state`` (one read -> RouterState).
"""

from backends.haproxy.options import HAProxyOptions
from backends.haproxy.router import HAProxyRouter, MapFileNotWritten, MapUnknown

__all__ = ["HAProxyOptions", "HAProxyRouter", "MapFileNotWritten", "MapUnknown"]
