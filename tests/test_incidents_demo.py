"""The demo's incidents: a past incident with linked tickets and both announcements, and
planned works ahead with their reminders, shown on the partner's status page."""

from django.core.cache import cache
from django.utils import timezone

from firstline.incidents.demo_incidents import create_incidents
from firstline.incidents.models import Announcement, Incident, PlannedWorks, WorksReminder
from firstline.incidents.services import unavailability_minutes


def test_the_demo_has_a_past_incident_and_planned_works(cast, client):
    cache.clear()  # another test's page of partner "alpha" (the cache outlives tests)
    moment = timezone.now()
    create_incidents(moment, cast.operator)
    incident = Incident.objects.get()
    assert incident.partner == cast.a.partner and not incident.is_open
    assert incident.links.count() == 2
    assert set(Announcement.objects.filter(incident=incident).values_list("kind", flat=True)) \
        == {"incident", "recovery"}
    works = PlannedWorks.objects.get()
    assert works.starts_at > moment
    assert WorksReminder.objects.filter(works=works).count() == 4
    page = client.get("/status/alpha/", HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    assert works.title in page and incident.title in page
    month = incident.started_at.astimezone(incident.started_at.tzinfo).date()
    assert unavailability_minutes(cast.a.partner, month)[cast.a.service.pk]["partial"] == 105
