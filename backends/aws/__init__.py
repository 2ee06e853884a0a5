"""What the AWS routers share (``kind = "alb"``, ``kind = "route53"``): options common to both, a
boto3 session from the usual AWS chain, a deadline per call with backoff on throttling, and AWS's
errors turned into the typed errors of :mod:`backends.base`.

``boto3`` is an optional dependency (``pip install 'bluegreen-console[aws]'``): nothing here imports
it at module level; :func:`backends.aws.session.import_boto3` does, when a router is built, and says
what to install when it is missing.
"""

from backends.aws.errors import AwsCall
from backends.aws.options import AwsOptions
from backends.aws.session import AwsSession, import_boto3

__all__ = ["AwsCall", "AwsOptions", "AwsSession", "import_boto3"]
