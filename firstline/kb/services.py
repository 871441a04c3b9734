"""Every change to the knowledge base goes through these functions (issue 13, item 1).

Each runs in one transaction, checks who acts, raises ValidationError naming the field
before it writes anything, saves a version (who changed what) and an audit event.

Roles: provider staff (operators, supervisors, administrators) and the partner's engineers
and managers write articles; supervisors, administrators and the partner's managers review
and publish them. Article HTML is sanitised as messages are (`tickets.html.sanitise`);
a `<script>` is refused outright with a message, so nobody believes it will run.
"""

import re
from collections.abc import Iterable, Sequence
from datetime import date
from html import unescape
from typing import Any

from django.conf import settings
from django.contrib.postgres.search import SearchVector
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.db.models import Count
from django.utils.translation import gettext as _

from firstline.core import audit
from firstline.core.clock import now
from firstline.core.models import Partner, User
from firstline.core.textsearch import fold
from firstline.kb.models import (
    Article,
    ArticleAttachment,
    ArticleStatus,
    ArticleVersion,
    Category,
    Deflection,
    Language,
    Visibility,
)
from firstline.sla.models import TypicalRequest
from firstline.tenancy import partners_for
from firstline.tickets import filenames
from firstline.tickets.html import sanitise

TITLE_MAX = 300
BODY_MAX = 200_000
EDITOR_ROLES = frozenset({User.Role.OPERATOR, User.Role.SUPERVISOR, User.Role.ADMIN,
                          User.Role.ENGINEER, User.Role.MANAGER})
REVIEWER_ROLES = frozenset({User.Role.SUPERVISOR, User.Role.ADMIN, User.Role.MANAGER})
SCRIPT = re.compile(r"<\s*script\b|\bon[a-z]+\s*=|javascript\s*:", re.IGNORECASE)
IMAGE_TYPES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg",
               b"GIF87a": "image/gif", b"GIF89a": "image/gif"}


# Who may do what ------------------------------------------------------------------------


def can_edit(actor: User | None, partner: Partner) -> bool:
    return bool(actor and actor.role in EDITOR_ROLES
                and partners_for(actor).filter(pk=partner.pk).exists())


def can_review(actor: User | None, partner: Partner) -> bool:
    return bool(actor and actor.role in REVIEWER_ROLES
                and partners_for(actor).filter(pk=partner.pk).exists())


def _ensure_editor(actor: User, partner: Partner) -> None:
    if not can_edit(actor, partner):
        raise PermissionDenied(_("Only support staff and partner accounts can write articles."))


def _ensure_reviewer(actor: User, partner: Partner) -> None:
    if not can_review(actor, partner):
        raise PermissionDenied(_("Only a supervisor, an administrator or the partner's "
                                 "manager can review articles."))


# Text -----------------------------------------------------------------------------------


def clean_body(body: str) -> str:
    """The article's HTML, sanitised; a script is refused (ValidationError on "body")."""
    body = (body or "").strip()
    if len(body) > BODY_MAX:
        raise ValidationError({"body": _("The text is %(size)d characters; the limit is "
                                         "%(limit)d.") % {"size": len(body), "limit": BODY_MAX}})
    if SCRIPT.search(body):
        raise ValidationError({"body": _(
            "Scripts are not allowed in articles (a <script> tag, an on…= handler or a "
            "javascript: link). Remove it and save again.")})
    return sanitise(body)


def html_to_text(html: str) -> str:
    """Plain text of sanitised HTML, for search and snippets."""
    text = re.sub(r"<(br|/p|/li|/h\d|/div|/tr)\b[^>]*>", "\n", html, flags=re.IGNORECASE)
    text = unescape(re.sub(r"<[^>]+>", " ", text))
    return re.sub(r"[ \t]+", " ", re.sub(r"\n\s*\n+", "\n", text)).strip()


# Categories -----------------------------------------------------------------------------


@transaction.atomic
def create_category(*, partner: Partner, actor: User, name: str, position: int = 0) -> Category:
    _ensure_reviewer(actor, partner)
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": _("Name the category.")})
    if len(name) > 200:
        raise ValidationError({"name": _("At most 200 characters.")})
    taken = Category.objects.filter(partner=partner).values_list("name", flat=True)
    if any(fold(other) == fold(name) for other in taken):
        raise ValidationError({"name": _("This partner already has the category “%(name)s”.")
                               % {"name": name}})
    category = Category.objects.create(partner=partner, name=name, position=position)
    audit.record(actor=actor, partner=partner, action="kb.category_created", target=category,
                 after={"name": name})
    return category


# Articles -------------------------------------------------------------------------------


def _check(partner: Partner, values: dict[str, Any]) -> dict[str, Any]:
    """The article's fields cleaned; ValidationError naming every bad field."""
    errors: dict[str, Any] = {}
    title = (values.get("title") or "").strip()
    if not title:
        errors["title"] = _("Give the article a title.")
    elif len(title) > TITLE_MAX:
        errors["title"] = _("At most %(max)d characters.") % {"max": TITLE_MAX}
    body = ""
    try:
        body = clean_body(values.get("body") or "")
    except ValidationError as error:
        errors.update(error.message_dict)
    if not body and "body" not in errors:
        errors["body"] = _("Write the article's text.")
    if values.get("language") not in Language.values:
        errors["language"] = _("Choose Russian or English.")
    if values.get("visibility") not in Visibility.values:
        errors["visibility"] = _("Choose internal or public.")
    category = values.get("category")
    if category is not None and category.partner_id != partner.pk:
        errors["category"] = _("The category belongs to another partner.")
    typical = values.get("typical_request")
    if typical is not None and typical.partner_id != partner.pk:
        errors["typical_request"] = _("The typical request belongs to another partner.")
    related = list(values.get("related") or [])
    if any(item.partner_id != partner.pk for item in related):
        errors["related"] = _("A linked article belongs to another partner.")
    if errors:
        raise ValidationError(errors)
    return {"title": title, "body": body, "language": values["language"],
            "visibility": values["visibility"], "category": category,
            "typical_request": typical, "related": related}


def _snapshot(article: Article) -> dict[str, Any]:
    return {
        "title": article.title, "body": article.body, "language": article.language,
        "visibility": article.visibility, "category": article.category_id,
        "typical_request": article.typical_request_id,
        "related": sorted(article.related.values_list("pk", flat=True)) if article.pk else [],
    }


def _version(article: Article, actor: User | None, action: str, changed: Sequence[str],
             note: str = "") -> ArticleVersion:
    last = article.versions.order_by("-number").values_list("number", flat=True).first() or 0
    return ArticleVersion.objects.create(
        partner_id=article.partner_id, article=article, number=last + 1, action=action,
        status=article.status, title=article.title, body=article.body,
        changed=list(changed), note=note[:500], author=actor)


@transaction.atomic
def create_article(*, partner: Partner, actor: User, **values: Any) -> Article:
    _ensure_editor(actor, partner)
    data = _check(partner, values)
    related = data.pop("related")
    article = Article.objects.create(partner=partner, created_by=actor, **data)
    article.related.set(related)
    _version(article, actor, "created", [key for key, value in _snapshot(article).items()
                                         if value])
    audit.record(actor=actor, partner=partner, action="kb.article_created", target=article,
                 after=_snapshot(article))
    return article


@transaction.atomic
def update_article(*, article: Article, actor: User, note: str = "", **values: Any) -> Article:
    article = Article.objects.select_for_update().get(pk=article.pk)
    _ensure_editor(actor, article.partner)
    data = _check(article.partner, values)
    if (article.is_live and data["visibility"] == Visibility.PUBLIC
            and article.visibility != Visibility.PUBLIC
            and not can_review(actor, article.partner)):
        raise ValidationError({"visibility": _(
            "Only a reviewer can make a published article public.")})
    related = [item for item in data.pop("related") if item.pk != article.pk]
    before = _snapshot(article)
    for key, value in data.items():
        setattr(article, key, value)
    article.related.set(related)
    after = _snapshot(article)
    changed = [key for key in after if after[key] != before[key]]
    if not changed:
        return article
    article.status = ArticleStatus.DRAFT
    article.updated_at = now()
    article.save()
    if "visibility" in changed and article.is_live:
        _index(article)  # who may read the published copy changes now
    _version(article, actor, "edited", changed, note)
    audit.record(actor=actor, partner=article.partner, action="kb.article_edited",
                 target=article, before={key: before[key] for key in changed},
                 after={key: after[key] for key in changed})
    return article


def _move(article: Article, actor: User, status: str, action: str, note: str = "") -> Article:
    before = article.status
    article.status = status
    article.updated_at = now()
    article.save(update_fields=["status", "updated_at"])
    _version(article, actor, action, ["status"], note)
    audit.record(actor=actor, partner=article.partner, action=f"kb.article_{action}",
                 target=article, before={"status": before},
                 after={"status": status, "note": note})
    return article


@transaction.atomic
def submit_for_review(*, article: Article, actor: User) -> Article:
    article = Article.objects.select_for_update().get(pk=article.pk)
    _ensure_editor(actor, article.partner)
    if article.status != ArticleStatus.DRAFT:
        raise ValidationError({"status": _("Only a draft can be sent for review.")})
    return _move(article, actor, ArticleStatus.REVIEW, "submitted")


@transaction.atomic
def return_to_draft(*, article: Article, actor: User, note: str = "") -> Article:
    article = Article.objects.select_for_update().get(pk=article.pk)
    _ensure_reviewer(actor, article.partner)
    if article.status != ArticleStatus.REVIEW:
        raise ValidationError({"status": _("Only an article in review can be returned.")})
    if not (note or "").strip():
        raise ValidationError({"note": _("Say what to change.")})
    return _move(article, actor, ArticleStatus.DRAFT, "returned", note.strip())


@transaction.atomic
def publish(*, article: Article, actor: User) -> Article:
    article = Article.objects.select_for_update().get(pk=article.pk)
    _ensure_reviewer(actor, article.partner)
    if article.status != ArticleStatus.REVIEW:
        raise ValidationError({"status": _("Send the article for review before publishing.")})
    article.published_title = article.title
    article.published_body = article.body
    article.published_text = html_to_text(article.body)
    article.published_at = now()
    article.save(update_fields=["published_title", "published_body", "published_text",
                                "published_at"])
    _move(article, actor, ArticleStatus.PUBLISHED, "published")
    _index(article)
    return article


@transaction.atomic
def unpublish(*, article: Article, actor: User) -> Article:
    article = Article.objects.select_for_update().get(pk=article.pk)
    _ensure_reviewer(actor, article.partner)
    if not article.is_live:
        raise ValidationError({"status": _("The article is not published.")})
    article.published_at = None
    article.save(update_fields=["published_at"])
    _move(article, actor, ArticleStatus.DRAFT, "unpublished")
    _index(article)
    return article


def _index(article: Article) -> None:
    """Keep the stored tsvector in step with the published copy (PostgreSQL only)."""
    if connection.vendor != "postgresql":
        return
    rows = Article.objects.filter(pk=article.pk)
    if not article.is_live:
        rows.update(search_vector=None)
        return
    rows.update(search_vector=search_vector_expression(article.search_config))


def search_vector_expression(config: str) -> Any:
    return (SearchVector("published_title", weight="A", config=config)
            + SearchVector("published_text", weight="B", config=config))


def reindex(articles: Iterable[Article] | None = None) -> int:
    """Rebuild the stored vectors (after a bulk import): one UPDATE per language."""
    if connection.vendor != "postgresql":
        return 0
    from firstline.kb.models import SEARCH_CONFIG

    rows = Article.objects.all() if articles is None else Article.objects.filter(
        pk__in=[article.pk for article in articles])
    count = rows.filter(published_at__isnull=True).update(search_vector=None)
    for language, config in SEARCH_CONFIG.items():
        count += rows.filter(published_at__isnull=False, language=language).update(
            search_vector=search_vector_expression(config))
    return count


# Attachments ----------------------------------------------------------------------------


def _sniffed_type(upload: UploadedFile) -> str:
    """An image type from the file's first bytes, never from what the browser claimed."""
    head = upload.read(16)
    upload.seek(0)
    for magic, content_type in IMAGE_TYPES.items():
        if head.startswith(magic):
            return content_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"


@transaction.atomic
def add_attachment(*, article: Article, actor: User, upload: UploadedFile) -> ArticleAttachment:
    _ensure_editor(actor, article.partner)
    limit = settings.FIRSTLINE_MAX_ATTACHMENT_BYTES
    if not upload.size:
        raise ValidationError({"file": _("The file is empty.")})
    if upload.size > limit:
        raise ValidationError({"file": _("“%(name)s” is %(size)d bytes; the limit is "
                                         "%(limit)d bytes.") % {
            "name": upload.name, "size": upload.size, "limit": limit}})
    name = filenames.display_name(upload.name)
    attachment = ArticleAttachment(partner_id=article.partner_id, article=article,
                                   filename=name, content_type=_sniffed_type(upload),
                                   size=upload.size, uploaded_by=actor)
    attachment.file.save(filenames.storage_name(name), upload, save=False)
    attachment.save()
    _version(article, actor, "attached", ["attachments"], name)
    audit.record(actor=actor, partner=article.partner, action="kb.attachment_added",
                 target=article, after={"attachment": name, "size": upload.size})
    return attachment


# Deflection -----------------------------------------------------------------------------


@transaction.atomic
def record_deflection(*, article: Article, user: User | None, query: str = "") -> Deflection:
    """A customer says the article solved their problem (they did not send the request)."""
    if not (article.is_live and article.is_public):
        raise ValidationError({"article": _("This article is not published for customers.")})
    return Deflection.objects.create(partner_id=article.partner_id, article=article, user=user,
                                     query=(query or "")[:500])


def deflections(partner: Partner, month: date) -> dict[str, Any]:
    """Requests solved by an article in the partner's calendar month (for the monthly report).

    {"total": n, "articles": [{"article_id", "title", "count"}, …] most solved first}."""
    from firstline.metrics.facts import month_period

    start, end = month_period(month, partner.time_zone)
    rows = (Deflection.objects.filter(partner=partner, created_at__gte=start,
                                      created_at__lt=end)
            .values("article_id", "article__published_title")
            .annotate(count=Count("id"))
            .order_by("-count", "article_id"))
    articles = [{"article_id": row["article_id"], "title": row["article__published_title"],
                 "count": row["count"]} for row in rows]
    return {"total": sum(row["count"] for row in articles), "articles": articles}


def typical_request_choices(partner: Partner) -> Any:
    return TypicalRequest.objects.filter(partner=partner).order_by("name")
