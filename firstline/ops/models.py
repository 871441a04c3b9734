"""Heartbeats of the long-running loops, and the request a queued task came from."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Heartbeat(models.Model):
    """The last time a loop (the task worker, the SLA clock...) went round, one row each.

    Several processes of one kind (two task workers) share the row: the latest beat wins,
    which is what readiness asks: is somebody doing this work?"""

    name = models.CharField(_("process"), max_length=50, primary_key=True)
    beat_at = models.DateTimeField(_("last beat"))
    worker = models.CharField(_("worker"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("heartbeat")
        verbose_name_plural = _("heartbeats")

    def __str__(self) -> str:
        return f"{self.name} @ {self.beat_at:%Y-%m-%d %H:%M:%S}"


class TaskOrigin(models.Model):
    """The request id of the web request that enqueued a background task.

    Written when a task is enqueued inside a request and taken (deleted) by the worker when
    the task starts, so the worker's log lines carry the same request id."""

    task_id = models.CharField(max_length=64, primary_key=True)
    request_id = models.CharField(max_length=128)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.task_id} <- {self.request_id}"
