"""The required parts of each kind of announcement (the seed's «компоненты информационной
рассылки»), and the check that names every missing one (F23).

A part may span several fields (the date, interval and time zone); it is present when all
of its fields are filled.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Part:
    key: str
    label: str | Promise
    fields: tuple[str, ...]
    required: bool = True


BEGAN = Part("began", _("Date and time it began, time zone"), ("began_at", "time_zone"))
SERVICE_IMPACT = Part("service_impact", _("Which service is partly or fully unavailable"),
                      ("services", "impact"))
EXPECTED_FIX = Part("expected_fix", _("Expected time to fix the incident"),
                    ("expected_fix_at",))
WORKAROUND = Part("workaround", _("Workaround (if any)"), ("workaround",), required=False)
INTERVAL = Part("interval", _("Date, time interval and time zone"),
                ("period_start", "period_end", "time_zone"))
SERVICE_SYMPTOMS = Part("service_symptoms",
                        _("Which service, and the symptoms of its unavailability"),
                        ("services", "symptoms"))
CAUSE = Part("cause", _("Cause of the incident"), ("cause",))
DURATION = Part("duration", _("Duration of the unavailability"),
                ("period_start", "period_end"))
MEASURES = Part("measures", _("Measures taken so that it does not happen again"),
                ("measures",))
CHECK_AFTER_RECOVERY = Part("how_to_check",
                            _("How to check the service after the recovery"),
                            ("how_to_check",))
SUPPORT = Part("support_contacts", _("Support contacts"), ("support_contacts",))
PURPOSE = Part("purpose", _("Why the works are done, the benefit to customers"), ("purpose",))
SERVICES = Part("services", _("Which services are affected"), ("services",))
UNAVAILABLE = Part("symptoms", _("What will be unavailable (the symptoms)"), ("symptoms",))
AVAILABLE = Part("still_available", _("What stays available"), ("still_available",))
CHECK_AFTER_WORKS = Part("how_to_check", _("How to check the service after the works"),
                         ("how_to_check",))

PARTS: dict[str, tuple[Part, ...]] = {
    "incident": (BEGAN, SERVICE_IMPACT, EXPECTED_FIX, WORKAROUND),
    "recovery": (INTERVAL, SERVICE_SYMPTOMS, CAUSE, DURATION, MEASURES, CHECK_AFTER_RECOVERY,
                 SUPPORT),
    "planned": (PURPOSE, INTERVAL, SERVICES, UNAVAILABLE, AVAILABLE, SUPPORT,
                CHECK_AFTER_WORKS),
}

# Every field an announcement's parts may use, for forms and the API.
FIELDS = ("time_zone", "began_at", "period_start", "period_end", "services", "impact",
          "expected_fix_at", "workaround", "symptoms", "cause", "measures", "how_to_check",
          "support_contacts", "purpose", "still_available")


def _filled(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, (list, tuple, set, frozenset)):
        return bool(value)
    return True


def missing_parts(kind: str, values: Mapping[str, Any]) -> list[Part]:
    """The required parts of `kind` that `values` (field -> value) leaves empty, in order."""
    missing: list[Part] = []
    for part in PARTS.get(kind, ()):
        filled = all(_filled(values.get(name)) for name in part.fields)
        if part.required and not filled and part not in missing:
            missing.append(part)
    return missing
