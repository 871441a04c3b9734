"""Background tasks of the SLA (django.tasks): a business calendar's new schedule reaching
the open tickets on it.

A calendar edit commits at once; the deadlines of its open tickets (thousands over a large
backlog) are recomputed afterwards by the task worker (`db_worker`), so the supervisor's
request stays short. Recomputing is idempotent: a ticket whose deadlines already follow the
schedule is left alone and not audited again, so a task enqueued twice (two edits, or a
retry) changes and audits each ticket once."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.tasks import task

from firstline.core.models import User
from firstline.sla.models import BusinessCalendar

DATABASE_BACKEND = "django_tasks_db.DatabaseBackend"


@task
def recompute_calendar_deadlines(calendar_id: int | None, actor_id: int | None) -> int:
    """The open tickets on calendar `calendar_id` (None: on every calendar that follows the
    production calendar) follow its schedule now; how many tickets' deadlines changed, each
    audited as changed by `actor_id` ("sla.calendar_changed")."""
    from firstline.sla.calendar_services import recompute_open_tickets_on

    calendar = None
    if calendar_id is not None:
        calendar = BusinessCalendar.objects.filter(pk=calendar_id).first()
        if calendar is None:  # deleted since: no policy runs on it any more
            return 0
    actor = User.objects.filter(pk=actor_id).first() if actor_id is not None else None
    return recompute_open_tickets_on(calendar, actor=actor)


def enqueue_recompute(calendar: BusinessCalendar | None, actor: User | None) -> None:
    """Recompute the open tickets on `calendar` in the background, once the current
    transaction (the calendar's change) commits; at once outside a transaction."""
    calendar_id = calendar.pk if calendar is not None else None
    actor_id = actor.pk if actor is not None else None
    transaction.on_commit(lambda: recompute_calendar_deadlines.enqueue(
        calendar_id=calendar_id, actor_id=actor_id))


def recompute_pending(calendar: BusinessCalendar | None) -> bool:
    """Whether a recomputation for `calendar` (None: the production calendar) is queued or
    running, so the calendar's page can say its tickets' deadlines are being recomputed.
    Known only with the database task queue; other backends run a task at once or elsewhere."""
    if settings.TASKS["default"]["BACKEND"] != DATABASE_BACKEND:
        return False
    from django.tasks import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    return DBTaskResult.objects.filter(
        task_path=recompute_calendar_deadlines.module_path,
        status__in=[TaskResultStatus.READY, TaskResultStatus.RUNNING],
        args_kwargs__kwargs__calendar_id=calendar.pk if calendar is not None else None,
    ).exists()
