"""How a send can fail: the worker retries a temporary failure and gives up on a permanent one."""


class DeliveryError(Exception):
    """A message did not go out."""


class TemporaryError(DeliveryError):
    """Worth another try later: a timeout, a 5xx, a gateway out of money, missing settings."""


class PermanentError(DeliveryError):
    """Trying again cannot help: the recipient or the message itself was refused."""


class NotStarted(Exception):  # noqa: N818 - an outcome, not a failure
    """A batch adapter's answer for a message it did not start before the batch's deadline:
    the worker hands it back (due again at once, the attempt not counted)."""
