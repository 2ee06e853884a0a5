"""The Route 53 router (``kind = "route53"``): two weighted records of one name, one per colour.

Importing this package does not import boto3 (an optional extra: ``pip install
'bluegreen-console[aws]'``); the router imports it when it is built. Modules: ``router`` (the
verbs), ``options`` (the typed options).
"""

from backends.route53.options import Route53Options
from backends.route53.router import DRAINED_TAG, Route53Router

__all__ = ["DRAINED_TAG", "Route53Options", "Route53Router"]
