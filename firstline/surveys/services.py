"""Survey rules: who is asked what and when, the signed links, and recording an answer.

- CSAT: `ticket_resolved` (called by the ticket lifecycle in the resolving transaction)
  schedules one rating request per ticket, sent after the partner's delay by `send_due`
  through the outbox, from the partner's address, in the contact's language.
- NPS (with the partner's CSI questions): `plan_nps` schedules one survey per contact every
  `nps_interval_days`; nobody gets two surveys within `min_days_between_surveys`.
- Links are signed per survey and score (django.core.signing, own salt, time-stamped): a
  link cannot be forged or moved to another ticket. GET only shows a confirmation page, so
  a mail scanner fetching it votes nothing; the POST records. One row holds one answer, so
  a second click changes it (within the window) and never adds a vote.
- Every survey carries a signed unsubscribe link; an unsubscribed contact is not asked.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import translation
from django.utils.html import escape
from django.utils.translation import gettext as _

from firstline.contacts.models import Contact, ContactEmail, letter_language
from firstline.core import audit, events
from firstline.core.clock import now
from firstline.core.models import Partner, User
from firstline.outbox import services as outbox
from firstline.outbox.models import Channel
from firstline.surveys.models import (
    CsiAnswer,
    CsiQuestion,
    FollowUpTask,
    Kind,
    Survey,
    SurveyOptOut,
    SurveySettings,
    SurveyStatus,
)
from firstline.tickets.models import Status, Ticket

_VOTE_SALT = "firstline.surveys.vote"
_UNSUBSCRIBE_SALT = "firstline.surveys.unsubscribe"
NPS_MIN, NPS_MAX = 0, 10
CSI_MIN, CSI_MAX = 1, 5
# A rating in the lowest quarter of its scale (1–2 of 5) is a low one.
LOW_SHARE = 0.25
DETRACTOR_MAX = 6
COMMENT_MAX = 4000


def settings_for(partner: Partner | int) -> SurveySettings:
    """The partner's survey settings; a partner who never set them gets the defaults."""
    partner_id = partner if isinstance(partner, int) else partner.pk
    found = SurveySettings.objects.filter(partner_id=partner_id).first()
    return found or SurveySettings(partner_id=partner_id)


def is_opted_out(contact: Contact) -> bool:
    return SurveyOptOut.objects.filter(contact=contact).exists()


def _best_address(contact: Contact) -> str:
    return (
        ContactEmail.objects.filter(contact=contact)
        .order_by("is_failing", "-is_confirmed", "id")
        .values_list("address", flat=True)
        .first()
    ) or ""


# --- CSAT after resolution -------------------------------------------------------------

def on_status_changed(*, ticket: Ticket, new: str, moment: datetime, **_event: Any) -> None:
    """The "ticket.status_changed" event: a resolution schedules the rating request."""
    if new == Status.RESOLVED:
        ticket_resolved(ticket, moment)


def ticket_resolved(ticket: Ticket, moment: datetime) -> Survey | None:
    """Schedule the rating request of a ticket just resolved, if the partner's rules say so.

    Runs inside the resolving transaction: the request exists exactly when the resolution
    does. A ticket resolved again (after a reopen) keeps its one request: a pending one is
    moved to the new moment, an answered one stays answered."""
    rules = settings_for(ticket.partner_id)
    if not rules.csat_enabled or ticket.contact_id is None:
        return None
    if rules.csat_channels and ticket.channel not in rules.csat_channels:
        return None
    if rules.pk is not None:
        service_ids = set(rules.csat_services.values_list("pk", flat=True))
        if service_ids and ticket.service_id not in service_ids:
            return None
    send_at = moment + timedelta(minutes=rules.csat_delay_minutes)
    existing = Survey.objects.filter(ticket=ticket, kind=Kind.CSAT).first()
    if existing is not None:
        if existing.status in (SurveyStatus.SCHEDULED, SurveyStatus.CANCELLED) and \
                existing.sent_at is None:
            existing.status, existing.send_at, existing.cancel_reason = (
                SurveyStatus.SCHEDULED, send_at, "")
            existing.save(update_fields=["status", "send_at", "cancel_reason"])
        return existing
    contact = ticket.contact
    assert contact is not None
    return Survey.objects.create(
        partner_id=ticket.partner_id, kind=Kind.CSAT, contact=contact,
        organisation_id=contact.organisation_id, ticket=ticket, service_id=ticket.service_id,
        operator_id=ticket.assignee_id, scale_min=1, scale_max=rules.csat_scale_max,
        send_at=send_at, created_at=moment,
    )


# --- NPS --------------------------------------------------------------------------------

def plan_nps(*, partner: Partner | None = None, limit: int = 500) -> int:
    """Schedule an NPS survey for every contact whose last one is older than the interval.

    Contacts with no address or unsubscribed are skipped. Returns how many were scheduled.
    Safe to run often: a contact with a survey inside the interval is not asked again."""
    moment = now()
    partners = Partner.objects.filter(is_active=True)
    if partner is not None:
        partners = partners.filter(pk=partner.pk)
    planned = 0
    for each in partners:
        rules = settings_for(each)
        if not rules.nps_enabled:
            continue
        since = moment - timedelta(days=rules.nps_interval_days)
        # Asked within the interval, or a survey still waiting to go (postponed by the
        # throttle): not planned again.
        recent = Survey.objects.filter(partner=each, kind=Kind.NPS).filter(
            Q(created_at__gte=since) | Q(status=SurveyStatus.SCHEDULED))
        contacts = (
            Contact.objects.filter(partner=each, emails__isnull=False)
            .exclude(pk__in=recent.exclude(contact=None).values("contact_id"))
            .exclude(survey_opt_out__isnull=False)
            .distinct().order_by("id")[: limit - planned]
        )
        for contact in contacts:
            Survey.objects.create(
                partner=each, kind=Kind.NPS, contact=contact,
                organisation_id=contact.organisation_id, scale_min=NPS_MIN, scale_max=NPS_MAX,
                send_at=moment, created_at=moment,
            )
            planned += 1
        if planned >= limit:
            break
    return planned


# --- sending ----------------------------------------------------------------------------

def vote_token(survey: Survey, score: int) -> str:
    return signing.dumps([survey.pk, score], salt=_VOTE_SALT, compress=False)


def vote_url(survey: Survey, score: int) -> str:
    return settings.SITE_URL + reverse("surveys:vote", args=[vote_token(survey, score)])


def unsubscribe_token(contact: Contact) -> str:
    return signing.dumps([contact.pk, contact.partner_id], salt=_UNSUBSCRIBE_SALT)


def unsubscribe_url(contact: Contact) -> str:
    return settings.SITE_URL + reverse("surveys:unsubscribe", args=[unsubscribe_token(contact)])


def _cancel(survey: Survey, reason: str) -> None:
    survey.status, survey.cancel_reason = SurveyStatus.CANCELLED, reason
    survey.save(update_fields=["status", "cancel_reason"])


def _letter(survey: Survey, contact: Contact) -> tuple[str, str, str]:
    """Subject, text and HTML of the survey letter, in the language already active."""
    partner = survey.partner
    if survey.kind == Kind.CSAT:
        ticket = survey.ticket
        number = ticket.number if ticket else ""
        subject = _("How did we do? Request %(number)s") % {"number": number}
        question = _("Your request %(number)s “%(subject)s” is resolved. How satisfied are you "
                     "with how it was handled? Choose a score from %(low)d (very bad) to "
                     "%(high)d (excellent):") % {
            "number": ticket.number if ticket else "", "subject": ticket.subject if ticket else "",
            "low": survey.scale_min, "high": survey.scale_max}
    else:
        subject = _("Would you recommend %(partner)s?") % {"partner": partner.name}
        question = _("How likely are you to recommend %(partner)s to a friend or colleague? "
                     "Choose from 0 (not at all likely) to 10 (extremely likely):") % {
            "partner": partner.name}
    links = [(score, vote_url(survey, score)) for score in survey.scores]
    leave = unsubscribe_url(contact)
    greeting = _("Hello, %(name)s!") % {"name": contact.name}
    one_click = _("One click opens a page where you confirm the score and may add a comment.")
    unsubscribe = _("Do not want surveys? Unsubscribe: %(url)s") % {"url": leave}
    sign = _("%(partner)s support") % {"partner": partner.name}
    text = "\n\n".join([
        greeting, question, "\n".join(f"{score}: {url}" for score, url in links), one_click,
        sign, unsubscribe,
    ])
    buttons = " ".join(
        f'<a href="{escape(url)}">&nbsp;{score}&nbsp;</a>' for score, url in links
    )
    html = (
        f"<p>{escape(greeting)}</p><p>{escape(question)}</p><p>{buttons}</p>"
        f"<p>{escape(one_click)}</p><p>{escape(sign)}</p>"
        f'<p><small><a href="{escape(leave)}">{escape(_("Unsubscribe from surveys"))}'
        f"</a></small></p>"
    )
    return subject, text, html


@transaction.atomic
def send_one(survey: Survey, moment: datetime | None = None) -> bool:
    """Send one due survey through the outbox, or cancel/postpone it with the reason."""
    moment = moment or now()
    survey = (
        Survey.objects.select_for_update(of=("self",))
        .select_related("partner", "ticket", "contact")
        .get(pk=survey.pk)
    )
    if survey.status != SurveyStatus.SCHEDULED or survey.send_at > moment:
        return False
    contact = survey.contact
    if contact is None:
        _cancel(survey, _("The contact was deleted."))
        return False
    if is_opted_out(contact):
        _cancel(survey, _("The contact unsubscribed from surveys."))
        return False
    ticket = survey.ticket
    if survey.kind == Kind.CSAT and (ticket is None or ticket.is_active):
        # Reopened before the request went: a new resolution schedules it again.
        _cancel(survey, _("The ticket is not resolved any more."))
        return False
    address = _best_address(contact)
    if not address:
        _cancel(survey, _("The contact has no e-mail address."))
        return False
    rules = settings_for(survey.partner)
    asked = Survey.objects.filter(contact=contact, sent_at__isnull=False).exclude(pk=survey.pk)
    last = asked.order_by("-sent_at").values_list("sent_at", flat=True).first()
    if last is not None and last > moment - timedelta(days=rules.min_days_between_surveys):
        if survey.kind == Kind.NPS:
            survey.send_at = last + timedelta(days=rules.min_days_between_surveys)
            survey.save(update_fields=["send_at"])
        else:
            _cancel(survey, _("The contact got a survey less than %(days)d days ago.")
                    % {"days": rules.min_days_between_surveys})
        return False
    if survey.kind == Kind.CSAT:
        last_csat = asked.filter(kind=Kind.CSAT).order_by("-sent_at").values_list(
            "sent_at", flat=True).first()
        if last_csat is not None and last_csat > moment - timedelta(
                days=rules.csat_min_days_between):
            _cancel(survey, _("The contact was asked for a rating less than %(days)d days ago.")
                    % {"days": rules.csat_min_days_between})
            return False
    language = letter_language(contact, survey.partner)
    with translation.override(language):
        subject, text, html = _letter(survey, contact)
    outbox.enqueue(
        partner=survey.partner, channel=Channel.EMAIL, recipient=address, subject=subject,
        body=text, html=html, ticket=ticket,
        headers={"List-Unsubscribe": f"<{unsubscribe_url(contact)}>",
                 "Auto-Submitted": "auto-generated"},
        dedupe_key=f"survey:{survey.pk}",
    )
    survey.status, survey.sent_at, survey.recipient, survey.language = (
        SurveyStatus.SENT, moment, address, language)
    if ticket is not None and survey.operator_id is None:
        survey.operator_id = ticket.assignee_id
    survey.save(update_fields=["status", "sent_at", "recipient", "language", "operator"])
    return True


def send_due(*, limit: int = 200) -> int:
    """Send the surveys that are due; each in its own transaction, safe to run twice."""
    due = Survey.objects.filter(
        status=SurveyStatus.SCHEDULED, send_at__lte=now()
    ).order_by("send_at", "id").values_list("pk", flat=True)[:limit]
    return sum(1 for pk in list(due) if send_one(Survey(pk=pk)))


# --- answering --------------------------------------------------------------------------

class LinkError(Exception):
    """A survey link that cannot be used; the message says why, for the customer."""


@dataclass
class Vote:
    survey: Survey
    score: int


def vote_for_token(token: str) -> Vote:
    """The survey and score a link stands for, or LinkError saying why it cannot be used."""
    try:
        survey_id, score = signing.loads(token, salt=_VOTE_SALT)
    except signing.BadSignature as exc:
        raise LinkError(_("This link is not valid. Please use the link from the letter.")) \
            from exc
    except (TypeError, ValueError) as exc:
        raise LinkError(_("This link is not valid. Please use the link from the letter.")) \
            from exc
    survey = Survey.objects.select_related("partner", "ticket", "contact").filter(
        pk=survey_id).first()
    if survey is None:
        raise LinkError(_("This survey does not exist any more."))
    age = now() - (survey.sent_at or survey.created_at)
    if age > timedelta(days=settings_for(survey.partner).link_valid_days):
        raise LinkError(_("This survey link has expired."))
    return Vote(survey=survey, score=int(score))


def csi_questions(survey: Survey) -> list[CsiQuestion]:
    if survey.kind != Kind.NPS:
        return []
    return list(CsiQuestion.objects.filter(partner_id=survey.partner_id, is_active=True))


def _parse_score(value: Any, low: int, high: int, field: str) -> int:
    try:
        score = int(str(value).strip())
    except (TypeError, ValueError):
        raise ValidationError({field: _("Choose a score from %(low)d to %(high)d.")
                               % {"low": low, "high": high}}) from None
    if not low <= score <= high:
        raise ValidationError({field: _("The score %(score)d is outside the scale %(low)d–"
                                        "%(high)d.") % {"score": score, "low": low,
                                                         "high": high}})
    return score


def is_low(survey: Survey) -> bool:
    if survey.score is None:
        return False
    if survey.kind == Kind.NPS:
        return survey.score <= DETRACTOR_MAX
    share = survey.share
    return share is not None and share <= LOW_SHARE


@transaction.atomic
def record_answer(
    *,
    survey: Survey,
    score: Any,
    comment: str = "",
    csi: dict[int, Any] | None = None,
    source: str = "mail",
    actor: User | None = None,
) -> Survey:
    """Record (or, within the window, change) the one answer of this survey.

    Refused with ValidationError naming the field: a score outside the scale, a survey not
    sent or withdrawn, a deleted or unsubscribed contact, a change after the window."""
    survey = Survey.objects.select_for_update(of=("self",)).select_related(
        "partner", "contact").get(pk=survey.pk)
    value = _parse_score(score, survey.scale_min, survey.scale_max, "score")
    text = (comment or "").strip()
    if len(text) > COMMENT_MAX:
        raise ValidationError({"comment": _("The comment is longer than %(max)d characters.")
                               % {"max": COMMENT_MAX}})
    if survey.contact is None:
        raise ValidationError({"survey": _("This survey belongs to a contact that was "
                                           "deleted; no answer is recorded.")})
    if survey.status == SurveyStatus.CANCELLED:
        raise ValidationError({"survey": _("This survey was withdrawn; no answer is "
                                           "recorded.")})
    if is_opted_out(survey.contact):
        raise ValidationError({"survey": _("You unsubscribed from surveys; no answer is "
                                           "recorded.")})
    if survey.status == SurveyStatus.SCHEDULED and source != "portal":
        raise ValidationError({"survey": _("This survey has not been sent yet.")})
    moment = now()
    rules = settings_for(survey.partner)
    if survey.answered_at is not None and moment - survey.answered_at > timedelta(
            hours=rules.change_window_hours):
        raise ValidationError({"score": _("You already answered this survey; the answer can "
                                          "be changed only within %(hours)d hours.")
                               % {"hours": rules.change_window_hours}})
    questions = {q.pk: q for q in csi_questions(survey)}
    csi_scores: dict[int, int] = {}
    for key, raw in (csi or {}).items():
        if raw in (None, ""):
            continue
        if int(key) not in questions:
            raise ValidationError({f"csi_{key}": _("Unknown question.")})
        csi_scores[int(key)] = _parse_score(raw, CSI_MIN, CSI_MAX, f"csi_{key}")
    before = ({"score": survey.score, "comment": survey.comment}
              if survey.answered_at is not None else {})
    if survey.answered_at is None:
        survey.answered_at = moment
        action = "survey.answered"
    else:
        survey.changed_at = moment
        action = "survey.answer_changed"
    survey.score, survey.comment, survey.status, survey.answer_source = (
        value, text, SurveyStatus.ANSWERED, source)
    survey.save(update_fields=["score", "comment", "status", "answered_at", "changed_at",
                               "answer_source"])
    for question_id, question_score in csi_scores.items():
        CsiAnswer.objects.update_or_create(
            survey=survey, question_id=question_id,
            defaults={"score": question_score, "partner_id": survey.partner_id},
        )
    if is_low(survey):
        FollowUpTask.objects.get_or_create(survey=survey, defaults={
            "partner_id": survey.partner_id, "created_at": moment})
    audit.record(actor=actor, partner=survey.partner, action=action, target=survey,
                 before=before, after={"score": value, "comment": text,
                                       "csi": {str(k): v for k, v in csi_scores.items()}})
    events.publish("survey.answered", partner_id=survey.partner_id, moment=moment,
                   survey=survey, ticket=survey.ticket, changed=action != "survey.answered")
    return survey


def portal_survey(ticket: Ticket, user: User) -> Survey | None:
    """The rating the customer may give on their ticket page: resolved, theirs, not withdrawn."""
    if ticket.is_active or ticket.contact_id is None or not user.is_customer:
        return None
    if getattr(getattr(user, "contact", None), "pk", None) != ticket.contact_id:
        return None
    survey = Survey.objects.filter(ticket=ticket, kind=Kind.CSAT).first()
    if survey is None or survey.status == SurveyStatus.CANCELLED:
        return None
    return survey


def contact_for_unsubscribe(token: str) -> Contact:
    try:
        contact_id, partner_id = signing.loads(token, salt=_UNSUBSCRIBE_SALT)
    except (signing.BadSignature, TypeError, ValueError) as exc:
        raise LinkError(_("This link is not valid. Please use the link from the letter.")) \
            from exc
    contact = Contact.objects.filter(pk=contact_id, partner_id=partner_id).select_related(
        "partner").first()
    if contact is None:
        raise LinkError(_("This contact does not exist any more."))
    return contact


@transaction.atomic
def unsubscribe(contact: Contact) -> bool:
    """No more surveys to this contact; pending ones are withdrawn. False if already out."""
    _optout, created = SurveyOptOut.objects.get_or_create(
        contact=contact, defaults={"partner_id": contact.partner_id})
    if created:
        Survey.objects.filter(contact=contact, status=SurveyStatus.SCHEDULED).update(
            status=SurveyStatus.CANCELLED, cancel_reason=_("The contact unsubscribed from "
                                                         "surveys."))
        audit.record(actor=None, partner=contact.partner, action="survey.unsubscribed",
                     target=contact, after={"contact": contact.name})
    return created


@transaction.atomic
def close_follow_up(*, task: FollowUpTask, actor: User, note: str) -> FollowUpTask:
    text = (note or "").strip()
    if not text:
        raise ValidationError({"note": _("Write what was done.")})
    task = FollowUpTask.objects.select_for_update().get(pk=task.pk)
    if task.status == FollowUpTask.Status.DONE:
        raise ValidationError({"note": _("This task is already done.")})
    task.status, task.note, task.done_at, task.done_by = (
        FollowUpTask.Status.DONE, text, now(), actor)
    task.save(update_fields=["status", "note", "done_at", "done_by"])
    audit.record(actor=actor, partner=task.partner, action="survey.follow_up_done",
                 target=task, after={"note": text})
    return task


_SETTING_FIELDS = ("csat_enabled", "csat_scale_max", "csat_delay_minutes", "csat_channels",
                   "csat_min_days_between", "nps_enabled", "nps_interval_days",
                   "min_days_between_surveys", "change_window_hours", "link_valid_days",
                   "raise_priority_when_sensitive", "winback_reminder_days")


def _snapshot(rules: SurveySettings) -> dict[str, Any]:
    data: dict[str, Any] = {name: getattr(rules, name) for name in _SETTING_FIELDS}
    data["csat_services"] = sorted(rules.csat_services.values_list("name", flat=True)) \
        if rules.pk else []
    return data


@transaction.atomic
def save_settings(*, partner: Partner, actor: User, form: Any) -> SurveySettings:
    """Save a validated SurveySettingsForm for the partner, with the audit row."""
    existing = SurveySettings.objects.filter(partner=partner).first()
    before = _snapshot(existing) if existing else {}
    rules = form.save(commit=False)
    rules.partner = partner
    if existing is not None:
        rules.pk = existing.pk
    rules.save()
    form.save_m2m()
    after = _snapshot(rules)
    audit.record(actor=actor, partner=partner, action="survey.settings_changed", target=rules,
                 before={k: v for k, v in before.items() if after.get(k) != v},
                 after={k: v for k, v in after.items() if before.get(k) != v})
    return rules


@transaction.atomic
def add_csi_question(*, partner: Partner, actor: User, form: Any) -> CsiQuestion:
    question = form.save(commit=False)
    question.partner = partner
    question.save()
    audit.record(actor=actor, partner=partner, action="survey.csi_question_added",
                 target=question, after={"text": question.text, "weight": question.weight})
    return question


@transaction.atomic
def set_csi_question_active(*, question: CsiQuestion, actor: User, active: bool) -> CsiQuestion:
    """Questions are switched off, not deleted: their answers stay in the history."""
    if question.is_active != active:
        question.is_active = active
        question.save(update_fields=["is_active"])
        audit.record(actor=actor, partner=question.partner, action="survey.csi_question_active",
                     target=question, before={"active": not active}, after={"active": active})
    return question
