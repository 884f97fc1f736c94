"""Schemathesis against the OpenAPI document, in-process over ASGI, on both databases: no server errors,
and answers that match what the document promises. Each operation is called with a token of a role it
lists, so the fuzzing reaches the handlers, not just the guard.

Schemathesis's pytest plugin does not run under pytest 9 yet, so operations are driven here directly: one
Hypothesis run per operation, bounded by ``EXAMPLES``.

One default check is left out: "schema-valid data accepted". An event's ``data`` model depends on its
``type`` (a validator in ``onestop.events``), which the generated JSON Schema cannot say, so a schema-valid
``checkin`` carrying attendance data is rightly refused with 422.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from central.api import create_app

EXAMPLES = 25


def fuzz(operation, headers: dict[str, str]) -> None:
    """One bounded Hypothesis run against ``operation``."""

    @given(case=operation.as_strategy())
    @hypothesis_settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                         phases=[Phase.explicit, Phase.generate],  # report failures unshrunk: shrinking is slow
                         suppress_health_check=list(HealthCheck))
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

    run()


def test_api_has_no_server_errors_and_keeps_its_schema(settings, store, tokens):
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(settings, store))
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    for operation in operations:
        roles = operation.definition.raw.get("x-roles")
        headers = {"Authorization": f"Bearer {tokens[roles[0]]}"} if roles else {}
        try:
            fuzz(operation, headers)
        except Exception as exc:  # noqa: BLE001 - collect every operation's failure, then report them all
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, "\n\n".join(failures)
