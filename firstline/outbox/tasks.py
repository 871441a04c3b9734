"""Background tasks of the outbox (django.tasks)."""

from django.tasks import task


@task
def deliver_outbox() -> int:
    """Deliver what is due now; enqueued after every commit that wrote outbox messages.

    Idempotent and safe to run in any number of workers at once. Retries that fall due
    later are picked up by the `deliver_outbox --loop` worker.
    """
    from firstline.outbox.delivery import deliver_due

    return deliver_due()
