"""Background tasks of billing (django.tasks)."""

from django.tasks import task


@task
def render_invoice_documents(invoice_id: int, mail: bool = True) -> bool:
    """Render a batch-issued invoice's PDF and XLSX and mail them; once (see
    `services.attach_documents`)."""
    from firstline.billing.services import attach_documents

    return attach_documents(invoice_id, mail=mail)
