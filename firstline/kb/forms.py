"""Desk forms for the knowledge base; the rules live in services (the forms only parse)."""

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from firstline.core.models import Partner
from firstline.kb.models import Article, Category, Language, Visibility
from firstline.sla.models import TypicalRequest


class ArticleForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=300)
    language = forms.ChoiceField(label=_("Language"), choices=Language.choices)
    visibility = forms.ChoiceField(label=_("Visibility"), choices=Visibility.choices)
    category = forms.ModelChoiceField(Category.objects.none(), label=_("Category"),
                                      required=False)
    typical_request = forms.ModelChoiceField(
        TypicalRequest.objects.none(), label=_("Instruction for the typical request"),
        required=False,
        help_text=_("Operators see this article on the tickets of the typical request."))
    related = forms.ModelMultipleChoiceField(Article.objects.none(), label=_("See also"),
                                             required=False)
    # Not the model's max length: the service names the limit in its own message.
    body = forms.CharField(label=_("Text"), widget=forms.Textarea(attrs={"rows": 16}),
                           strip=False,
                           help_text=_("HTML is allowed (headings, lists, links, images of "
                                       "the article's attachments); scripts are not."))
    note = forms.CharField(label=_("What changed"), max_length=500, required=False)

    def __init__(self, *args: Any, partner: Partner, article: Article | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["category"].queryset = Category.objects.filter(partner=partner)
        self.fields["typical_request"].queryset = TypicalRequest.objects.filter(
            partner=partner).order_by("name")
        related = Article.objects.filter(partner=partner)
        if article is not None:
            related = related.exclude(pk=article.pk)
        self.fields["related"].queryset = related.order_by("title")
        if article is None:
            del self.fields["note"]


class CategoryForm(forms.Form):
    partner = forms.ModelChoiceField(Partner.objects.none(), label=_("Partner"))
    name = forms.CharField(label=_("Name"), max_length=200)

    def __init__(self, *args: Any, partners: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["partner"].queryset = partners


class ReturnForm(forms.Form):
    note = forms.CharField(label=_("What to change"), max_length=500)


class AttachmentForm(forms.Form):
    file = forms.FileField(label=_("File or image"))
