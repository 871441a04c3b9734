"""Shared set-up for the phone channel's tests: support numbers, operator lines, a caller."""

import pytest

from firstline.calls.models import OperatorLine, PartnerPhoneNumber
from firstline.contacts.models import ContactPhone

ALPHA_NUMBER = "+74951110001"
BETA_NUMBER = "+74951110002"
KNOWN_CALLER = "+79123456789"


@pytest.fixture
def lines(cast):
    PartnerPhoneNumber.objects.create(partner=cast.a.partner, number=ALPHA_NUMBER,
                                      queue_name="support-alpha")
    PartnerPhoneNumber.objects.create(partner=cast.b.partner, number=BETA_NUMBER,
                                      queue_name="support-beta")
    OperatorLine.objects.create(user=cast.operator, extension="101")
    OperatorLine.objects.create(user=cast.operator, extension="PJSIP/101")
    ContactPhone.objects.create(partner=cast.a.partner, contact=cast.a.contact,
                                number="+7 912 345-67-89")
    return cast
