"""Hooks: decisions the ticket domain asks the apps above it for, without naming them.

An event (firstline.core.events) tells what happened and wants no answer; a hook is asked
while the ticket is being made and its answer is used. The apps above (surveys: a customer
won back gets a higher priority) register their rules in their ``AppConfig.ready``, so the
tickets app imports none of them and a new rule needs no edit here.

Priority rules: ``rule(partner_id=…, organisation_id=…, priority=…) -> priority``, asked by
``services.create_ticket`` for a new ticket of a known contact whose priority was not given,
after the partner's urgency rules chose one. Rules run in the order registered, each given
the previous one's answer; each returns one of ``Priority`` (anything else is a bug in the
rule and raises). They run inside the ticket's transaction: read only, keep them quick.
"""

from __future__ import annotations

from collections.abc import Callable

from firstline.tickets.models import Priority

PriorityRule = Callable[..., str]

_priority_rules: dict[str, PriorityRule] = {}


def _key(rule: PriorityRule) -> str:
    return f"{rule.__module__}.{rule.__qualname__}"


def register_priority_rule(rule: PriorityRule) -> PriorityRule:
    """Ask `rule` for the priority of every new ticket of a known contact. Registering the
    same function again (ready() run twice) keeps it once. Returns `rule` (a decorator)."""
    _priority_rules[_key(rule)] = rule
    return rule


def priority_rules() -> list[PriorityRule]:
    return list(_priority_rules.values())


def priority_for_new_ticket(*, partner_id: int, organisation_id: int | None,
                            priority: str) -> str:
    """The priority after every registered rule had its say."""
    for rule in list(_priority_rules.values()):
        answer = rule(partner_id=partner_id, organisation_id=organisation_id, priority=priority)
        if answer not in Priority.values:
            raise ValueError(f"priority rule {_key(rule)} returned {answer!r}, "
                             f"not one of {', '.join(Priority.values)}")
        priority = answer
    return priority
