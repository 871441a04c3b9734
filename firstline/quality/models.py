"""Models of the quality app: forbidden-phrase settings in phrase_models, scripts in
script_models."""

from firstline.quality.phrase_models import BlockingCodesSetting, ForbiddenPhraseSetting  # noqa: E402,F401
from firstline.quality.script_models import (  # noqa: E402,F401
    CannedReply,
    ClassificationField,
    DiagnosticParameter,
    RoutingRule,
    ScriptSettings,
    TicketStep,
    UrgencyQuestion,
)
