from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from firstline.core.secret_field import Undecryptable
from firstline.mail.models import AckTemplate, InboundMail, Mailbox, MailReference


class MailboxForm(forms.ModelForm):
    """The IMAP password is written here and never shown back: it is stored encrypted, the
    field is always empty, and leaving it empty keeps the stored one."""

    new_imap_password = forms.CharField(
        label=_("IMAP password"), required=False, strip=False, max_length=255,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("Stored encrypted and never shown. Leave empty to keep the current one."),
    )
    clear_imap_password = forms.BooleanField(
        label=_("remove the stored IMAP password"), required=False,
    )

    class Meta:
        model = Mailbox
        fields = [
            "partner", "address", "is_active", "imap_host", "imap_port", "imap_security",
            "imap_username", "new_imap_password", "clear_imap_password", "imap_folder",
            "imap_processed_folder", "unknown_sender_policy", "colleagues_may_join",
            "trusted_authserv_ids",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        stored = self.instance.pk is not None and (
            self.instance.imap_password or isinstance(self.instance.imap_password, Undecryptable)
        )
        if stored:
            self.fields["new_imap_password"].help_text = _(
                "A password is stored (encrypted, never shown). Leave empty to keep it."
            )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("new_imap_password") and data.get("clear_imap_password"):
            self.add_error("clear_imap_password", _(
                "Either type a new password or remove the stored one, not both."
            ))
        return data

    def save(self, commit: bool = True) -> Mailbox:
        mailbox = super().save(commit=False)
        if self.cleaned_data.get("clear_imap_password"):
            mailbox.imap_password = ""
        elif self.cleaned_data.get("new_imap_password"):
            mailbox.imap_password = self.cleaned_data["new_imap_password"]
        if commit:
            mailbox.save()
            self.save_m2m()
        return mailbox


@admin.register(Mailbox)
class MailboxAdmin(admin.ModelAdmin):
    form = MailboxForm
    list_display = ["address", "partner", "is_active", "imap_host", "unknown_sender_policy"]
    list_filter = ["is_active", "partner"]
    search_fields = ["address", "imap_host"]


@admin.register(AckTemplate)
class AckTemplateAdmin(admin.ModelAdmin):
    """Saving runs the template check: a template without a criterion is refused."""

    list_display = ["partner", "language", "subject", "updated_at"]
    list_filter = ["language", "partner"]


@admin.register(InboundMail)
class InboundMailAdmin(admin.ModelAdmin):
    """Read-only: letters change only through ingest (and «process again»)."""

    list_display = [
        "received_at", "mailbox", "sender", "subject", "status", "ignored_because", "ticket",
        "sender_check", "raw_link",
    ]
    list_filter = [
        "status", "ignored_because", "sender_check", "is_automatic", "is_bounce", "partner",
    ]
    search_fields = ["message_id", "sender", "subject"]
    list_select_related = ["mailbox", "ticket"]
    date_hierarchy = "received_at"
    exclude = ["raw"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description=_("raw message"))
    def raw_link(self, inbound: InboundMail) -> str:
        try:
            url = reverse("mail:raw", args=[inbound.pk])
        except NoReverseMatch:  # the mail pages are not mounted in this project's urls
            return ""
        return format_html('<a href="{}">.eml</a>', url)


@admin.register(MailReference)
class MailReferenceAdmin(admin.ModelAdmin):
    list_display = ["message_id", "direction", "ticket", "recipient", "created_at"]
    list_filter = ["direction"]
    search_fields = ["message_id", "recipient"]
    raw_id_fields = ["ticket", "ticket_message", "outbox"]

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
