"""The Istio router (``kind = "istio"``): a VirtualService's HTTP route destination weights split new
requests between the two colours' Services. The shared machinery (connection, readiness gate,
guarded replaces, the status) is :mod:`backends.kubernetes.routes`; importing this package does not
import the ``kubernetes`` client."""

from backends.istio.router import IstioRouter

__all__ = ["IstioRouter"]
