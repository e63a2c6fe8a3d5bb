"""The end-to-end client's check that every JSON API answer is a documented one
(tests/real_stack.py ``as_documented``) fails on what the document does not say."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from tests.real_stack import as_documented

ERROR = {"error": {"code": "login_not_found", "message": "No such login."}}


def answer(status: int, body: object, method: str = "GET", path: str = "/v1/logins/l1") -> None:
    request = httpx.Request(method, f"http://gateway{path}")
    response = httpx.Response(status, json=body, request=request)
    response.elapsed = timedelta(milliseconds=1)  # as a client's answer has
    as_documented(response)


def test_a_documented_refusal_passes() -> None:
    answer(404, ERROR)


def test_an_undocumented_status_fails() -> None:
    with pytest.raises(AssertionError, match="documented"):
        answer(418, ERROR)


def test_a_refusal_in_another_shape_fails() -> None:
    with pytest.raises(Exception, match="schema"):
        answer(404, {"detail": "Not Found"})  # FastAPI's own shape, not the envelope


def test_pages_are_not_api_operations() -> None:
    answer(418, "anything", path="/mfa/l1")
