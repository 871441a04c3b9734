"""Background tasks of the Telegram channel (django.tasks)."""

from django.tasks import task


@task
def fetch_files(file_ids: list[int]) -> dict[str, int]:
    """Fetch a message's files from the Bot API into its attachments (files.fetch each);
    enqueued after the commit that kept the message, and by the poller's sweep for retries."""
    from firstline.telegram.files import fetch

    outcomes: dict[str, int] = {}
    for pk in file_ids:
        outcome = fetch(pk)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes
