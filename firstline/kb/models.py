"""The knowledge base of a partner (issue 13, item 1): categories, articles, their versions,
attachments and the deflections ("solved by the article") counted in the portal.

Every row carries its partner (white label, tenancy). An article has a working copy
(`title`, `body`) that authors edit and a published copy (`published_title`,
`published_body`) that readers see: editing a published article does not change what the
customers read until the change is reviewed and published again.

`search_vector` holds the published copy's tsvector (title weight A, text weight B) in the
article's language configuration (`russian` or `english`). It is kept up to date by
`services` on PostgreSQL, where the migration also creates its GIN index; on SQLite the
column stays empty and search falls back to word stems (see `search.py`).
"""

from typing import Any

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from firstline.core.clock import now
from firstline.core.models import Partner
from firstline.sla.models import TypicalRequest


class StoredSearchVectorField(SearchVectorField):
    """A SearchVectorField that does not ask for django.contrib.postgres in INSTALLED_APPS.

    That app only adds PostgreSQL type handlers and lookups this field does not use; the
    `@@` lookup comes with the field's own module. Leaving the app out keeps SQLite
    installations and everybody else's connections as they were."""

    def check(self, **kwargs: Any) -> list[Any]:
        return [error for error in super().check(**kwargs) if error.id != "postgres.E005"]


class Language(models.TextChoices):
    RU = "ru", _("Russian")
    EN = "en", _("English")


# The PostgreSQL text search configuration of each language.
SEARCH_CONFIG = {Language.RU: "russian", Language.EN: "english"}


class Visibility(models.TextChoices):
    INTERNAL = "internal", _("Internal (operators)")
    PUBLIC = "public", _("Public (customers)")


class ArticleStatus(models.TextChoices):
    DRAFT = "draft", pgettext_lazy("article status", "Draft")
    REVIEW = "review", pgettext_lazy("article status", "In review")
    PUBLISHED = "published", pgettext_lazy("article status", "Published")


class Category(models.Model):
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=200)
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("article category")
        verbose_name_plural = _("article categories")
        ordering = ["partner", "position", "name"]
        constraints = [
            models.UniqueConstraint(fields=["partner", "name"], name="kb_category_name_once"),
        ]

    def __str__(self) -> str:
        return self.name


class Article(models.Model):
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+")
    category = models.ForeignKey(Category, verbose_name=_("category"), on_delete=models.SET_NULL,
                                 null=True, blank=True, related_name="articles")
    language = models.CharField(_("language"), max_length=2, choices=Language.choices,
                                default=Language.RU)
    visibility = models.CharField(_("visibility"), max_length=10, choices=Visibility.choices,
                                  default=Visibility.INTERNAL)
    status = models.CharField(_("status"), max_length=10, choices=ArticleStatus.choices,
                              default=ArticleStatus.DRAFT)
    title = models.CharField(_("title"), max_length=300)
    body = models.TextField(_("text"), blank=True)
    # The typical request whose instruction this (internal) article is.
    typical_request = models.ForeignKey(
        TypicalRequest, verbose_name=_("typical request"), on_delete=models.SET_NULL,
        null=True, blank=True, related_name="kb_articles",
    )
    related = models.ManyToManyField("self", verbose_name=_("see also"), blank=True)
    published_title = models.CharField(max_length=300, blank=True)
    published_body = models.TextField(blank=True)
    # The published copy as plain text: what search and the snippets read.
    published_text = models.TextField(blank=True)
    published_at = models.DateTimeField(_("published"), null=True, blank=True)
    search_vector = StoredSearchVectorField(null=True, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(_("created"), default=now)
    updated_at = models.DateTimeField(_("changed"), default=now)

    class Meta:
        verbose_name = _("article")
        verbose_name_plural = _("articles")
        ordering = ["title", "id"]
        indexes = [
            models.Index(fields=["partner", "visibility", "published_at"],
                         name="kb_article_readable"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_live(self) -> bool:
        return self.published_at is not None

    @property
    def is_public(self) -> bool:
        return self.visibility == Visibility.PUBLIC

    @property
    def search_config(self) -> str:
        return SEARCH_CONFIG.get(self.language, "simple")


VERSION_ACTIONS = {
    "created": pgettext_lazy("article version", "created"),
    "edited": pgettext_lazy("article version", "edited"),
    "submitted": pgettext_lazy("article version", "sent for review"),
    "returned": pgettext_lazy("article version", "returned to the author"),
    "published": pgettext_lazy("article version", "published"),
    "unpublished": pgettext_lazy("article version", "withdrawn"),
    "attached": pgettext_lazy("article version", "file attached"),
}
# The fields a version names as changed, as the editor calls them.
FIELD_LABELS = {
    "title": _("title"), "body": _("text"), "language": _("language"),
    "visibility": _("visibility"), "category": _("category"),
    "typical_request": _("typical request"), "related": _("see also"),
    "status": _("status"), "attachments": _("Attachments"),
}


class ArticleVersion(models.Model):
    """One saved state of an article: who changed what, and when."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+")
    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(_("version"))
    action = models.CharField(_("action"), max_length=20)
    status = models.CharField(_("status"), max_length=10, choices=ArticleStatus.choices)
    title = models.CharField(_("title"), max_length=300)
    body = models.TextField(_("text"), blank=True)
    changed = models.JSONField(_("changed fields"), default=list)
    note = models.CharField(_("note"), max_length=500, blank=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                               null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(_("when"), default=now)

    class Meta:
        verbose_name = _("article version")
        verbose_name_plural = _("article versions")
        ordering = ["article", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["article", "number"], name="kb_version_once"),
        ]

    def __str__(self) -> str:
        return f"{self.article_id} v{self.number}"

    @property
    def action_display(self) -> str:
        return str(VERSION_ACTIONS.get(self.action, self.action))

    @property
    def changed_display(self) -> str:
        return ", ".join(str(FIELD_LABELS.get(name, name)) for name in self.changed)


def attachment_path(instance: "ArticleAttachment", filename: str) -> str:
    return f"kb/{instance.partner_id}/{now():%Y/%m}/{filename}"


class ArticleAttachment(models.Model):
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="+")
    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(_("file"), upload_to=attachment_path, max_length=300)
    filename = models.CharField(_("file name"), max_length=255)
    content_type = models.CharField(max_length=200, default="application/octet-stream")
    size = models.PositiveBigIntegerField(_("size, bytes"))
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                    null=True, blank=True, related_name="+")
    uploaded_at = models.DateTimeField(default=now)

    class Meta:
        verbose_name = _("article attachment")
        verbose_name_plural = _("article attachments")

    def __str__(self) -> str:
        return self.filename

    @property
    def is_image(self) -> bool:
        return self.content_type in {"image/png", "image/jpeg", "image/gif", "image/webp"}


class Deflection(models.Model):
    """A customer said an article suggested in the portal solved their problem: one request
    the first line did not have to take."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+")
    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="deflections")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                             null=True, blank=True, related_name="+")
    query = models.CharField(_("what the customer typed"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("when"), default=now)

    class Meta:
        verbose_name = _("solved by an article")
        verbose_name_plural = _("solved by articles")
        indexes = [models.Index(fields=["partner", "created_at"], name="kb_deflection_month")]

    def __str__(self) -> str:
        return f"{self.article_id} @ {self.created_at:%Y-%m-%d}"
