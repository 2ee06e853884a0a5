"""The Kubernetes router (``kind = "kubernetes"``): a Service's selector names the live colour.

Importing this package does not import the ``kubernetes`` client (about a second): the router
imports it when it is built. Modules: ``router`` (the verbs), ``options`` (the typed options),
``api`` (connection, deadlines, reads, conditional patches), ``readiness`` (who selects a colour,
its ready endpoints, the switch's gate), ``objects`` (reading the client's model objects),
``errors`` (client errors -> typed errors).
"""

from backends.kubernetes.options import KubeOptions
from backends.kubernetes.router import ANN_DRAINED, ANN_REPLICAS, KubernetesRouter

__all__ = ["ANN_DRAINED", "ANN_REPLICAS", "KubeOptions", "KubernetesRouter"]
