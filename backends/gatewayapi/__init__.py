"""The Gateway API router (``kind = "gateway-api"``): an HTTPRoute's backendRefs weights split new
requests between the two colours' Services. The shared machinery (connection, readiness gate,
guarded replaces, the controller's status) is :mod:`backends.kubernetes.routes`; importing this
package does not import the ``kubernetes`` client."""

from backends.gatewayapi.router import GatewayApiRouter

__all__ = ["GatewayApiRouter"]
