"""What the portal says about a message's files that did not arrive (yet)."""

from django import template

from firstline.telegram import files

register = template.Library()


@register.filter
def customer_reason(reason: str) -> str:
    """`{{ item.reason|customer_reason }}`: why the file was not received, for the customer."""
    return files.customer_reason(reason)
