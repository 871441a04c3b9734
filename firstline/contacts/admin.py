from django.contrib import admin

from firstline.contacts.models import Contact, ContactEmail, ContactPhone, Organisation
from firstline.core.admin import AuditedFieldsMixin


class ContactEmailInline(admin.TabularInline):
    model = ContactEmail
    extra = 0
    exclude = ["partner"]


class ContactPhoneInline(admin.TabularInline):
    model = ContactPhone
    extra = 0
    exclude = ["partner"]


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ["name", "partner", "contract_number", "is_vip"]
    list_filter = ["partner", "is_vip"]
    search_fields = ["name__ucontains", "contract_number"]
    exclude = ["code_word_hash"]


@admin.register(Contact)
class ContactAdmin(AuditedFieldsMixin, admin.ModelAdmin):
    # As contacts.services.set_language records it from the desk.
    audited_fields = ("language",)
    audit_action = "contact.language_changed"
    list_display = ["name", "partner", "organisation"]
    list_filter = ["partner"]
    search_fields = ["name__ucontains", "emails__address"]
    inlines = [ContactEmailInline, ContactPhoneInline]
    raw_id_fields = ["user", "organisation"]

    def save_formset(self, request, form, formset, change):  # type: ignore[no-untyped-def]
        # Inline rows inherit the contact's partner, so tenancy holds for them too.
        for row in formset.save(commit=False):
            row.partner_id = form.instance.partner_id
            row.save()
        formset.save_m2m()
        for row in formset.deleted_objects:
            row.delete()
