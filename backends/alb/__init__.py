"""The AWS Application Load Balancer router (``kind = "alb"``): a listener (or a listener rule)
forwards to two target groups, one per colour, with weights.

Importing this package does not import boto3 (an optional extra: ``pip install
'bluegreen-console[aws]'``); the router imports it when it is built. Modules: ``router`` (the
verbs), ``options`` (the typed options), ``forward`` (reading and rewriting the forward action).
"""

from backends.alb.options import AlbOptions
from backends.alb.router import DRAINED_TAG, AlbRouter

__all__ = ["DRAINED_TAG", "AlbOptions", "AlbRouter"]
