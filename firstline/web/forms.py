from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from firstline.contacts.models import Contact
from firstline.core import config_cache
from firstline.core.models import Partner, Service, User
from firstline.quality.rules import ReplyKind
from firstline.tenancy import assignable_users, contacts_for, partners_for, services_for
from firstline.tickets import lifecycle
from firstline.tickets.models import Channel, Message, Priority, Status, Ticket
from firstline.tickets.queries import ACTIVE, ANY, FIRST_LINE, MINE, UNASSIGNED, QueueFilter
from firstline.tickets.services import SUBJECT_MAX
from firstline.web.queues import default_status
from firstline.web.widgets import QuickSelect

# A new or renamed partner or person shows in the queue's filters at once in this process.
config_cache.watch(Partner, User)


def add_service_error(form: forms.Form, error: ValidationError) -> None:
    """Show a service's ValidationError on the form: on its field when the form has one."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field_name, errors in error.message_dict.items():
        form.add_error(field_name if field_name in form.fields else None, errors)


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        single = super().clean
        if isinstance(data, (list, tuple)):
            return [single(item, initial) for item in data if item]
        return [single(data, initial)] if data else []


class QueueFilterForm(forms.Form):
    q = forms.CharField(
        label=_("Search"),
        required=False,
        widget=forms.TextInput(
            attrs={"placeholder": _("Number, subject, contact or e-mail"), "type": "search"}
        ),
    )
    # QuickSelect: the same markup as Django's Select, without a template per option.
    partner = forms.TypedChoiceField(label=_("Partner"), required=False, coerce=int,
                                     empty_value=None, widget=QuickSelect)
    status = forms.ChoiceField(label=_("Status"), required=False, widget=QuickSelect)
    priority = forms.ChoiceField(label=_("Priority"), required=False, widget=QuickSelect)
    assignee = forms.ChoiceField(label=_("Assignee"), required=False, widget=QuickSelect)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        if user.is_provider_staff:
            # Configuration, read on every queue page: kept a few seconds (core.config_cache).
            partners = config_cache.get(
                ("queue-filter", "partners"),
                lambda: list(partners_for(user).values_list("pk", "name")))
            self.fields["partner"].choices = [("", _("All partners")), *partners]
        else:
            del self.fields["partner"]
        self.fields["status"].choices = [
            (FIRST_LINE, _("Needs the first line")),
            (ACTIVE, _("All active")),
            *Status.choices,
            (ANY, _("Any status")),
        ]
        self.default_status = default_status(user)
        self.fields["status"].initial = self.default_status
        self.fields["priority"].choices = [("", _("Any priority")), *Priority.choices]
        people = User.objects.filter(is_active=True).order_by("role", "last_name", "username")
        if user.is_provider_staff:
            # The provider's staff, and a partner's people once that partner is chosen: not
            # every partner's accounts on every queue page. The assignee already chosen is
            # kept in the list whoever it is.
            chosen = Q(role__in=User.STAFF_ROLES)
            partner = str(self.data.get("partner") or "") if self.is_bound else ""
            if partner.isdigit():
                chosen |= Q(role__in=[User.Role.ENGINEER, User.Role.MANAGER],
                            partner_id=int(partner))
            assignee = str(self.data.get("assignee") or "") if self.is_bound else ""
            if assignee.isdigit():
                chosen |= Q(pk=int(assignee), role__in=[User.Role.ENGINEER, User.Role.MANAGER])
            people = people.filter(chosen)
            key = ("queue-filter", "people", partner if partner.isdigit() else "",
                   assignee if assignee.isdigit() else "")
        else:
            people = people.filter(partner_id=user.partner_id).exclude(
                role=User.Role.INTEGRATION
            )
            key = ("queue-filter", "partner-people", user.partner_id)
        # Configuration too, and the same for everyone who asks with these filters.
        people_choices = config_cache.get(key, lambda: [
            (str(person.pk), person.display_name)
            for person in people.only("pk", "username", "first_name", "last_name")])
        self.fields["assignee"].choices = [
            ("", _("Anyone")),
            (MINE, _("Me")),
            (UNASSIGNED, _("Nobody")),
            *people_choices,
        ]

    def to_filter(self) -> QueueFilter:
        if not self.is_valid():
            return QueueFilter(status=self.default_status)
        data = self.cleaned_data
        return QueueFilter(
            partner_id=data.get("partner"),
            status=data.get("status") or self.default_status,
            priority=data.get("priority") or "",
            assignee=data.get("assignee") or "",
            search=data.get("q") or "",
        )


class MessageForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("Kind"),
        choices=[(Message.Kind.REPLY, _("Public reply")), (Message.Kind.NOTE, _("Internal note"))],
        widget=forms.RadioSelect,
        initial=Message.Kind.REPLY,
    )
    reply_kind = forms.ChoiceField(
        label=_("Reply type"),
        choices=[
            (ReplyKind.REGULAR, _("Regular reply")),
            (ReplyKind.ACKNOWLEDGEMENT, _("Acknowledgement")),
            (ReplyKind.CLARIFYING_QUESTION, _("Clarifying question")),
        ],
        required=False,
        initial=ReplyKind.REGULAR,
        help_text=_("Which quality criteria the reply is checked by."),
    )
    text = forms.CharField(label=_("Text"), widget=forms.Textarea(attrs={"rows": 6}))
    attachments = MultipleFileField(label=_("Attachments"))

    def clean_reply_kind(self) -> str:
        return self.cleaned_data.get("reply_kind") or ReplyKind.REGULAR


class CustomerMessageForm(forms.Form):
    text = forms.CharField(label=_("Your answer"), widget=forms.Textarea(attrs={"rows": 5}))
    attachments = MultipleFileField(label=_("Attachments"))


class SelectWithDisabled(forms.Select):
    def __init__(self, *args: Any, enabled: set[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.enabled = enabled

    def create_option(self, name: str, value: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        option = super().create_option(name, value, *args, **kwargs)
        if value not in self.enabled:
            option["attrs"]["disabled"] = True
        return option


class TicketUpdateForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"))
    priority = forms.ChoiceField(label=_("Priority"), choices=Priority.choices)
    assignee = forms.TypedChoiceField(
        label=_("Assignee"), required=False, coerce=int, empty_value=None
    )

    def __init__(self, *args: Any, ticket: Ticket, user: User, **kwargs: Any) -> None:
        kwargs.setdefault(
            "initial",
            {"status": ticket.status, "priority": ticket.priority,
             "assignee": ticket.assignee_id},
        )
        super().__init__(*args, **kwargs)
        # Every status stays a valid choice so that a refused move reaches the lifecycle and
        # gets its clear message; the widget only greys out the ones not reachable now.
        self.fields["status"].choices = Status.choices
        self.fields["status"].widget = SelectWithDisabled(
            choices=Status.choices,
            enabled={ticket.status, *lifecycle.allowed_targets(ticket.status)},
        )
        self.people = {person.pk: person for person in assignable_users(user, ticket.partner)}
        self.fields["assignee"].choices = [("", _("Nobody"))] + [
            (pk, f"{person.display_name} ({person.get_role_display()})")
            for pk, person in self.people.items()
        ]

    def clean_assignee(self) -> User | None:
        pk = self.cleaned_data.get("assignee")
        return self.people[pk] if pk is not None else None


# Channels a ticket registered by hand at the desk comes through.
DESK_CHANNELS = (Channel.PHONE, Channel.EMAIL, Channel.MONITORING)


class NewTicketForm(forms.Form):
    """A ticket registered by staff: a call taken by hand, a walk-in, a forwarded letter.

    Every choice is limited by tenancy; whether the contact and the service belong to the
    chosen partner is the ticket service's rule (it names the field when they do not).
    """

    partner = forms.ModelChoiceField(label=_("Partner"), queryset=Partner.objects.none(),
                                     empty_label=_("Choose the partner"))
    contact = forms.ModelChoiceField(label=_("Contact"), queryset=Contact.objects.none(),
                                     required=False, widget=forms.HiddenInput)
    channel = forms.ChoiceField(label=_("Channel"), initial=Channel.PHONE)
    service = forms.ModelChoiceField(label=_("Service"), queryset=Service.objects.none(),
                                     required=False, empty_label=_("Not known yet"))
    subject = forms.CharField(
        label=_("Subject"), required=False, max_length=SUBJECT_MAX,
        help_text=_("Empty: the first line of the request."),
    )
    text = forms.CharField(
        label=_("Request in the customer's words"),
        widget=forms.Textarea(attrs={"rows": 6}),
        error_messages={"required": _("Write down what the customer asks, in their words.")},
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["partner"].queryset = partners_for(user).filter(is_active=True)
        self.fields["contact"].queryset = contacts_for(user)
        self.fields["channel"].choices = [
            (channel.value, channel.label) for channel in DESK_CHANNELS
        ]
        self.fields["service"].queryset = services_for(user).filter(is_active=True)
        if user.is_partner_user:
            self.fields["partner"].initial = user.partner_id
            self.fields["partner"].empty_label = None

    def chosen(self, name: str) -> Any:
        """The chosen partner or contact as the form stands (bound or initial), or None."""
        field = self.fields[name]
        raw = self[name].value()
        if raw in (None, ""):
            return None
        try:
            return field.queryset.filter(pk=int(raw)).first()
        except (TypeError, ValueError):
            return None
