"""Demo survey answers for `make run`: ratings of resolved demo tickets (mostly good, some
bad with the customer's words), NPS with CSI answers per contact, the follow-up tasks the low
ones open, so the feedback page, the figures and the risk list have something to show."""

import random
from datetime import datetime, timedelta

from firstline.contacts.models import Contact
from firstline.core.models import Partner
from firstline.surveys.models import (
    CsiAnswer,
    CsiQuestion,
    FollowUpTask,
    Kind,
    Survey,
    SurveyStatus,
)
from firstline.tickets.models import Status, Ticket

CSI = (("Скорость решения", 3), ("Компетентность специалистов", 2), ("Вежливость", 1))
GOOD = ("Спасибо, быстро разобрались!", "Всё понятно объяснили.", "", "", "")
BAD = ("Ждали ответа два дня, никто не перезвонил.", "Проблема вернулась на следующий день.",
       "Отвечали шаблонами, ужасно.")
NPS_COMMENTS = {"promoter": ("Рекомендуем коллегам.", ""), "passive": ("В целом нормально.", ""),
                "detractor": ("Слишком долго решаете проблемы, думаем о смене провайдера.",)}


def _csat_score(rng: random.Random) -> int:
    return rng.choices([5, 4, 3, 2, 1], weights=[55, 22, 10, 8, 5])[0]


def _nps_score(rng: random.Random) -> int:
    return rng.choices(range(11), weights=[2, 1, 2, 2, 3, 4, 6, 10, 16, 24, 30])[0]


def create_surveys(moment: datetime, seed: int = 10) -> int:
    """Create the demo answers as of `moment`; returns how many surveys were answered."""
    rng = random.Random(seed)
    surveys: list[Survey] = []
    tickets = (
        Ticket.objects.filter(status__in=[Status.RESOLVED, Status.CLOSED], contact__isnull=False,
                              resolved_at__isnull=False)
        .select_related("contact").order_by("id")
    )
    for ticket in tickets:
        contact = ticket.contact
        assert contact is not None and ticket.resolved_at is not None
        sent = ticket.resolved_at + timedelta(hours=1)
        if sent >= moment:
            continue
        survey = Survey(
            partner_id=ticket.partner_id, kind=Kind.CSAT, contact=contact,
            organisation_id=contact.organisation_id, ticket=ticket, service_id=ticket.service_id,
            operator_id=ticket.assignee_id, scale_min=1, scale_max=5, status=SurveyStatus.SENT,
            created_at=ticket.resolved_at, send_at=sent, sent_at=sent,
            recipient="", language="ru",
        )
        if rng.random() < 0.7:
            score = _csat_score(rng)
            survey.score = score
            survey.comment = rng.choice(BAD if score <= 2 else GOOD)
            survey.answered_at = min(moment, sent + timedelta(minutes=rng.randint(5, 600)))
            survey.status, survey.answer_source = SurveyStatus.ANSWERED, "mail"
        surveys.append(survey)
    questions: dict[int, list[CsiQuestion]] = {}
    for partner in Partner.objects.order_by("id"):
        questions[partner.pk] = CsiQuestion.objects.bulk_create(
            CsiQuestion(partner=partner, text=text, weight=weight, order=index)
            for index, (text, weight) in enumerate(CSI)
        )
    nps: list[Survey] = []
    for contact in Contact.objects.filter(emails__isnull=False).distinct().order_by("id"):
        if rng.random() > 0.6:
            continue
        sent = moment - timedelta(days=rng.randint(2, 80))
        score = _nps_score(rng)
        survey = Survey(
            partner_id=contact.partner_id, kind=Kind.NPS, contact=contact,
            organisation_id=contact.organisation_id, scale_min=0, scale_max=10,
            status=SurveyStatus.ANSWERED, created_at=sent, send_at=sent, sent_at=sent,
            score=score, answered_at=sent + timedelta(hours=rng.randint(1, 48)),
            answer_source="mail", language="ru",
        )
        group = "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"
        survey.comment = rng.choice(NPS_COMMENTS[group])
        nps.append(survey)
    created = Survey.objects.bulk_create([*surveys, *nps], batch_size=500)
    answers = []
    tasks = []
    for survey in created:
        if survey.kind == Kind.NPS:
            base = 1 + (survey.score or 0) * 4 / 10
            for question in questions[survey.partner_id]:
                value = max(1, min(5, round(base + rng.uniform(-1, 1))))
                answers.append(CsiAnswer(partner_id=survey.partner_id, survey=survey,
                                         question=question, score=value))
        low = survey.score is not None and (
            survey.score <= 6 if survey.kind == Kind.NPS else survey.score <= 2)
        if low:
            tasks.append(FollowUpTask(partner_id=survey.partner_id, survey=survey,
                                      created_at=survey.answered_at or moment))
    CsiAnswer.objects.bulk_create(answers, batch_size=500)
    FollowUpTask.objects.bulk_create(tasks, batch_size=500)
    return sum(1 for survey in created if survey.score is not None)
