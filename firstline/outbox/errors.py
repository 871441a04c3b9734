"""How a send can fail: the worker retries a temporary failure and gives up on a permanent one."""


class DeliveryError(Exception):
    """A message did not go out."""


class TemporaryError(DeliveryError):
    """Worth another try later: a timeout, a 5xx, a gateway out of money, missing settings."""


class PermanentError(DeliveryError):
    """Trying again cannot help: the recipient or the message itself was refused."""
