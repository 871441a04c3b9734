"""The billing seed (plans and VAT rates) for tests.

The data migration writes it once, but a transactional test (live server, browser) empties
the tables when it ends, so a billing test cannot count on it: it runs the same seed again
(idempotent) through this fixture."""

import importlib

import pytest
from django.apps import apps

_migration = importlib.import_module("firstline.billing.migrations.0002_seed_plans_and_vat")


@pytest.fixture
def billing_seed(db) -> None:
    _migration.seed(apps, None)
