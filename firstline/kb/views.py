"""Thin views of the knowledge base: the desk (list, editor, review, suggestions on the
ticket page), the portal (suggestions while a customer types, "solved by the article") and
the public help page of each partner (no sign-in). Tenancy: every lookup starts from
`firstline.tenancy`, and readers outside the desk get published public articles only."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from firstline.core.models import Partner, User
from firstline.kb import search, services
from firstline.kb.forms import ArticleForm, AttachmentForm, CategoryForm, ReturnForm
from firstline.kb.models import Article, ArticleAttachment, Category, Visibility
from firstline.tenancy import partners_for, tickets_for
from firstline.web.access import customer_required, desk_required
from firstline.web.forms import add_service_error

SUGGESTIONS = 5


def _desk_articles(user: User) -> QuerySet[Article]:
    return Article.objects.filter(partner__in=partners_for(user)).select_related(
        "partner", "category")


def _public(partner: Partner | int) -> QuerySet[Article]:
    """What a customer or an anonymous reader of the partner may read."""
    return Article.objects.filter(partner=partner, visibility=Visibility.PUBLIC,
                                  published_at__isnull=False).select_related("category")


def _search(articles: QuerySet[Article], text: str) -> tuple[list[search.Hit], str]:
    """Hits and the reason there are none to show ("" when the query was fine)."""
    try:
        return search.search(articles, text, limit=SUGGESTIONS * 2), ""
    except ValidationError as error:
        return [], error.message_dict["q"][0]


def _values(form: ArticleForm) -> dict:
    data = form.cleaned_data
    return {key: data.get(key) for key in ("title", "body", "language", "visibility",
                                           "category", "typical_request", "related")}


# Desk -----------------------------------------------------------------------------------


@desk_required
def article_list(request: HttpRequest) -> HttpResponse:
    articles = _desk_articles(request.user)
    partner_id = request.GET.get("partner", "")
    if partner_id.isdigit():
        articles = articles.filter(partner_id=int(partner_id))
    query = request.GET.get("q", "")
    hits, problem = _search(articles, query) if query else ([], "")
    context = {
        "articles": articles.order_by("partner__name", "category__position",
                                      "category__name", "title")[:500],
        "query": query, "hits": hits, "problem": problem,
        "partners": partners_for(request.user), "partner_id": partner_id,
        "may_review": request.user.role in services.REVIEWER_ROLES,
    }
    return render(request, "kb/desk_list.html", context, status=400 if problem else 200)


def _partner_to_write(request: HttpRequest) -> Partner | None:
    partners = partners_for(request.user)
    chosen = request.GET.get("partner", "")
    if chosen.isdigit():
        return get_object_or_404(partners, pk=int(chosen))
    return partners.first() if partners.count() == 1 else None


@desk_required
def article_new(request: HttpRequest) -> HttpResponse:
    partner = _partner_to_write(request)
    if partner is None:
        return render(request, "kb/choose_partner.html",
                      {"partners": partners_for(request.user)})
    if not services.can_edit(request.user, partner):
        raise PermissionDenied
    form = ArticleForm(request.POST or None, partner=partner)
    if request.method == "POST" and form.is_valid():
        try:
            article = services.create_article(partner=partner, actor=request.user,
                                              **_values(form))
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("The draft is saved."))
            return redirect("kb:article", article.pk)
    return render(request, "kb/editor.html", {"form": form, "partner": partner},
                  status=422 if form.errors else 200)


@desk_required
def article_page(request: HttpRequest, pk: int) -> HttpResponse:
    article = get_object_or_404(_desk_articles(request.user).select_related(
        "typical_request", "created_by"), pk=pk)
    return _article_page(request, article)


def _article_page(request: HttpRequest, article: Article, **forms: object) -> HttpResponse:
    context = {
        "article": article,
        "versions": article.versions.select_related("author")[:50],
        "attachments": article.attachments.all(),
        "related": article.related.all(),
        "may_edit": services.can_edit(request.user, article.partner),
        "may_review": services.can_review(request.user, article.partner),
        "return_form": forms.get("return_form") or ReturnForm(),
        "attachment_form": forms.get("attachment_form") or AttachmentForm(),
        "public_url": request.build_absolute_uri(
            reverse("kb:help-article", args=[article.partner.slug, article.pk])),
    }
    return render(request, "kb/desk_article.html", context, status=422 if forms else 200)


@desk_required
def article_edit(request: HttpRequest, pk: int) -> HttpResponse:
    article = get_object_or_404(_desk_articles(request.user), pk=pk)
    if not services.can_edit(request.user, article.partner):
        raise PermissionDenied
    initial = {"title": article.title, "body": article.body, "language": article.language,
               "visibility": article.visibility, "category": article.category,
               "typical_request": article.typical_request, "related": article.related.all()}
    form = ArticleForm(request.POST or None, initial=initial, partner=article.partner,
                       article=article)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_article(article=article, actor=request.user,
                                    note=form.cleaned_data.get("note") or "", **_values(form))
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("The changes are saved as a draft."))
            return redirect("kb:article", article.pk)
    return render(request, "kb/editor.html",
                  {"form": form, "partner": article.partner, "article": article},
                  status=422 if form.errors else 200)


def _step(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    article = get_object_or_404(_desk_articles(request.user), pk=pk)
    try:
        if action == "submit":
            services.submit_for_review(article=article, actor=request.user)
            messages.success(request, _("The article is sent for review."))
        elif action == "publish":
            services.publish(article=article, actor=request.user)
            messages.success(request, _("The article is published."))
        elif action == "unpublish":
            services.unpublish(article=article, actor=request.user)
            messages.success(request, _("The article is withdrawn."))
        else:
            form = ReturnForm(request.POST)
            if not form.is_valid():
                return _article_page(request, article, return_form=form)
            services.return_to_draft(article=article, actor=request.user,
                                     note=form.cleaned_data["note"])
            messages.success(request, _("The article is returned to its author."))
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    return redirect("kb:article", pk)


@desk_required
@require_POST
def article_submit(request: HttpRequest, pk: int) -> HttpResponse:
    return _step(request, pk, "submit")


@desk_required
@require_POST
def article_publish(request: HttpRequest, pk: int) -> HttpResponse:
    return _step(request, pk, "publish")


@desk_required
@require_POST
def article_return(request: HttpRequest, pk: int) -> HttpResponse:
    return _step(request, pk, "return")


@desk_required
@require_POST
def article_unpublish(request: HttpRequest, pk: int) -> HttpResponse:
    return _step(request, pk, "unpublish")


@desk_required
@require_POST
def article_attach(request: HttpRequest, pk: int) -> HttpResponse:
    article = get_object_or_404(_desk_articles(request.user), pk=pk)
    form = AttachmentForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            attachment = services.add_attachment(article=article, actor=request.user,
                                                 upload=form.cleaned_data["file"])
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("“%(name)s” is attached.") % {
                "name": attachment.filename})
            return redirect("kb:article", pk)
    return _article_page(request, article, attachment_form=form)


@desk_required
def categories(request: HttpRequest) -> HttpResponse:
    partners = partners_for(request.user)
    form = CategoryForm(request.POST or None, partners=partners)
    if request.method == "POST" and form.is_valid():
        try:
            services.create_category(partner=form.cleaned_data["partner"], actor=request.user,
                                     name=form.cleaned_data["name"])
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("The category is added."))
            return redirect("kb:categories")
    rows = Category.objects.filter(partner__in=partners).select_related("partner")
    return render(request, "kb/categories.html", {"form": form, "categories": rows},
                  status=422 if form.errors else 200)


@desk_required
@require_GET
def ticket_suggestions(request: HttpRequest, pk: int) -> HttpResponse:
    """The ticket page's panel (loaded lazily): articles matching the ticket, or what the
    operator typed into the panel's search box; the typical request's instruction first."""
    ticket = get_object_or_404(tickets_for(request.user).select_related("partner"),
                               pk=pk)
    articles = Article.objects.filter(partner_id=ticket.partner_id, published_at__isnull=False)
    typed = "q" in request.GET
    text = request.GET.get("q", "") if typed else f"{ticket.subject} {ticket.customer_words}"
    hits, problem = _search(articles, text)
    instructions = list(articles.filter(typical_request_id=ticket.typical_request_id)) if (
        ticket.typical_request_id and not typed) else []
    shown = {article.pk for article in instructions}
    hits = [hit for hit in hits if hit.article.pk not in shown][:SUGGESTIONS]
    for article in [*instructions, *(hit.article for hit in hits)]:
        # A public article's link is the help page the customer can open without signing in.
        name = "kb:help-article" if article.is_public else "kb:article"
        args = [ticket.partner.slug, article.pk] if article.is_public else [article.pk]
        article.link = request.build_absolute_uri(reverse(name, args=args))
    context = {"ticket": ticket, "instructions": instructions, "hits": hits,
               "query": request.GET.get("q", ""), "problem": problem if typed else ""}
    return render(request, "kb/ticket_suggestions.html", context)


def _attachment_allowed(request: HttpRequest, attachment: ArticleAttachment) -> bool:
    article = attachment.article
    user = request.user
    if user.is_authenticated and (user.is_provider_staff or user.is_partner_user):
        return partners_for(user).filter(pk=article.partner_id).exists()
    # Customers and anonymous readers: only what the public help page shows.
    return article.is_public and article.is_live


def attachment(request: HttpRequest, pk: int) -> HttpResponse:
    found = get_object_or_404(ArticleAttachment.objects.select_related("article"), pk=pk)
    if not _attachment_allowed(request, found):
        raise Http404
    response = FileResponse(found.file.open("rb"), content_type=found.content_type,
                            as_attachment=not found.is_image, filename=found.filename)
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


# Portal ---------------------------------------------------------------------------------


@customer_required
@require_GET
def portal_suggestions(request: HttpRequest) -> HttpResponse:
    """Public articles of the customer's partner matching what they type (HTMX, debounced)."""
    text = f"{request.GET.get('subject', '')} {request.GET.get('text', '')}".strip()
    hits, problem = _search(_public(request.user.partner_id), text) if text else ([], "")
    return render(request, "kb/portal_suggestions.html",
                  {"hits": hits[:SUGGESTIONS], "query": text[:500], "problem": problem})


@customer_required
def portal_article(request: HttpRequest, pk: int) -> HttpResponse:
    article = get_object_or_404(_public(request.user.partner_id), pk=pk)
    return render(request, "kb/portal_article.html", {
        "article": article, "partner": request.user.partner,
        "query": request.GET.get("q", "")[:500],
        "related": _public(article.partner_id).filter(pk__in=article.related.all())})


@customer_required
@require_POST
def portal_solved(request: HttpRequest, pk: int) -> HttpResponse:
    article = get_object_or_404(_public(request.user.partner_id), pk=pk)
    services.record_deflection(article=article, user=request.user,
                               query=request.POST.get("q", ""))
    messages.success(request, _("Glad the article helped. If the problem comes back, write "
                                "to us: the request form is always here."))
    return redirect("portal:tickets")


# The public help page -------------------------------------------------------------------


def _help_partner(slug: str) -> Partner:
    return get_object_or_404(Partner, slug=slug, is_active=True)


def help_page(request: HttpRequest, slug: str) -> HttpResponse:
    partner = _help_partner(slug)
    articles = _public(partner)
    query = request.GET.get("q", "")
    hits, problem = _search(articles, query) if "q" in request.GET else ([], "")
    listed = articles.order_by("category__position", "category__name", "title")
    return render(request, "kb/help.html", {
        "partner": partner, "articles": listed, "query": query, "hits": hits,
        "problem": problem, "searched": "q" in request.GET,
    }, status=400 if problem else 200)


def help_article(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    partner = _help_partner(slug)
    article = get_object_or_404(_public(partner), pk=pk)
    related = _public(partner).filter(pk__in=article.related.all())
    return render(request, "kb/help_article.html",
                  {"partner": partner, "article": article, "related": related})

