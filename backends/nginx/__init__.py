"""The Nginx router (``kind = "nginx"``): switches colours by rewriting a map file, validating it
with ``nginx -t`` and reloading nginx; drains with ``down`` in an upstream include file.

Modules: ``router`` (the verbs and the state), ``options`` (the typed options), ``io`` (the files,
the master and its workers, the nginx binary, HTTP).
"""

from backends.nginx.options import NginxOptions
from backends.nginx.router import NginxRouter

__all__ = ["NginxOptions", "NginxRouter"]
