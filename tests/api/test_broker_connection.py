"""POST /api/v1/accounts/{id}/test-connection/: the stored credentials checked with the
broker (the Alpaca stand-in, over real HTTP through alpaca-py), without trading; owner,
admin and trader may, a viewer may not, another tenant's account is a 404; credentials
never come back."""

import pytest

from accounts.models import Role
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def _url(account) -> str:
    return f"/api/v1/accounts/{account.pk}/test-connection/"


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.TRADER])
def test_members_who_trade_may_test_a_connection(
    role, org, alpaca_account, alpaca_standin, session_client
):
    user = MembershipFactory(organization=org, role=role).user
    response = session_client(user).post(_url(alpaca_account))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["ok"] is True and body["reason"] == ""
    assert body["description"].startswith("Alpaca paper account PA")
    assert alpaca_standin.order_posts == 0  # checked without trading


def test_a_viewer_may_not(viewer, alpaca_account, alpaca_standin, session_client):
    response = session_client(viewer).post(_url(alpaca_account))
    assert response.status_code == 403
    assert ("GET", "/v2/account") not in alpaca_standin.requests


def test_another_tenants_account_is_not_found(
    outsider, alpaca_account, alpaca_standin, session_client
):
    response = session_client(outsider).post(_url(alpaca_account))
    assert response.status_code == 404
    assert ("GET", "/v2/account") not in alpaca_standin.requests


def test_bad_credentials_answer_the_reason(owner, alpaca_account, alpaca_standin, session_client):
    alpaca_standin.accounts[alpaca_account.credentials["api_key"]].secret = "rotated-at-alpaca"
    response = session_client(owner).post(_url(alpaca_account))
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is False and body["description"] == ""
    assert "refused the API key" in body["reason"]


def test_an_unreachable_broker_answers_the_reason(
    owner, alpaca_account, alpaca_standin, session_client
):
    alpaca_standin.stop()
    body = session_client(owner).post(_url(alpaca_account)).json()
    assert body["ok"] is False and "unreachable" in body["reason"]


def test_a_paper_account_answers_its_ledger(owner, paper_account, session_client):
    body = session_client(owner).post(_url(paper_account)).json()
    assert body["ok"] is True and "Paper account" in body["description"]


def test_credentials_never_come_back(owner, alpaca_account, session_client):
    client = session_client(owner)
    secret = alpaca_account.credentials["secret_key"]
    key = alpaca_account.credentials["api_key"]
    pages = [
        client.get("/api/v1/accounts/").content,
        client.get(f"/api/v1/accounts/{alpaca_account.pk}/").content,
        client.post(_url(alpaca_account)).content,
        client.patch(
            f"/api/v1/accounts/{alpaca_account.pk}/",
            {"credentials": {"api_key": key, "secret_key": secret}},
            format="json",
        ).content,
    ]
    for page in pages:
        assert secret.encode() not in page and key.encode() not in page


def test_an_api_key_needs_signals_write(alpaca_account, key_client):
    from accounts.models import ApiKey

    assert key_client(scopes=[ApiKey.Scope.READ]).post(_url(alpaca_account)).status_code == 403
    answer = key_client(scopes=[ApiKey.Scope.SIGNALS_WRITE]).post(_url(alpaca_account))
    assert answer.status_code == 200 and answer.json()["ok"] is True


def test_alpaca_market_data_needs_a_data_key(owner, paper_account, session_client):
    """A source that would never quote is not a choice: refused until the key comes."""
    client, url = session_client(owner), f"/api/v1/accounts/{paper_account.pk}/"
    secret = "data-secret-" + "x" * 20
    response = client.patch(url, {"marketDataSource": "alpaca"}, format="json")
    assert response.status_code == 400
    assert "Alpaca data API key ID and secret key" in response.content.decode()
    paper_account.refresh_from_db()
    assert paper_account.market_data_source == ""
    response = client.patch(
        url,
        {"marketDataSource": "alpaca", "credentials": {"apiKey": "PK1", "secretKey": secret}},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert secret not in response.content.decode()
    paper_account.refresh_from_db()
    assert paper_account.market_data_source == "alpaca"
    assert paper_account.status == "active"
