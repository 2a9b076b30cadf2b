"""Real brokers on the dashboard: add an account of any kind with an adapter (its
credential fields, secrets never shown back), edit it keeping stored secrets, test the
connection against the Alpaca stand-in, a paper account's market data source, the
position drift page; the role matrix, CSRF and field errors for each."""

import uuid
from decimal import Decimal

import pytest

from accounts.models import Role
from brokers.models import BrokerAccount, PositionDrift
from brokers.services import broker_account_create
from tests.dashboard.conftest import (
    EVERYONE,
    MEMBER_ROLES,
    WRITERS,
    expected_get,
    expected_post,
    post_forms_in_main,
)
from tests.factories import BrokerAccountFactory

pytestmark = pytest.mark.django_db

SECRET = "s3cr3t-" + uuid.uuid4().hex


def alpaca_form(**extra):
    return {
        "name": "Alpaca desk",
        "mode": "paper",
        "credential_api_key": "PKTESTKEY123",
        "credential_secret_key": SECRET,
        **extra,
    }


@pytest.fixture
def alpaca(org):
    return broker_account_create(
        organization=org,
        name="Alpaca stored",
        broker="alpaca",
        mode="paper",
        credentials={"api_key": "PKSTORED", "secret_key": SECRET},
    )


@pytest.fixture
def paper(org):
    return BrokerAccountFactory(organization=org, name="Paper one")


def test_list_offers_every_broker_with_an_adapter_and_nothing_else(client_as):
    html = client_as(Role.TRADER).get("/broker-accounts/").content.decode()
    for broker in ("alpaca", "binance", "kraken"):
        assert f'href="/broker-accounts/new/{broker}/"' in html
    assert html.count('href="/broker-accounts/new/') == 3


def test_an_unknown_broker_kind_is_a_404(client_as):
    assert client_as(Role.TRADER).get("/broker-accounts/new/ibkr/").status_code == 404
    response = client_as(Role.TRADER).post("/broker-accounts/new/ibkr/", alpaca_form())
    assert response.status_code == 404
    assert not BrokerAccount.objects.exists()


@pytest.mark.parametrize("role", MEMBER_ROLES)
def test_new_account_page_is_for_traders(client_as, role):
    response = client_as(role).get("/broker-accounts/new/alpaca/")
    if role in WRITERS:
        assert response.status_code == 200
        html = response.content.decode()
        assert 'name="credential_api_key"' in html
        assert 'type="password" name="credential_secret_key"' in html
    else:
        assert response.status_code == 403


@pytest.mark.parametrize("role", EVERYONE)
def test_add_an_alpaca_account(client_as, role, org, other_org):
    response = client_as(role).post("/broker-accounts/new/alpaca/", alpaca_form())
    ours = BrokerAccount.objects.for_org(org)
    if role in WRITERS:
        assert response.status_code == 302
        account = ours.get()
        assert (account.broker, account.mode, account.status) == ("alpaca", "paper", "active")
        assert account.credentials == {"api_key": "PKTESTKEY123", "secret_key": SECRET}
        assert SECRET not in account.credentials_encrypted
    elif role == Role.VIEWER:
        assert response.status_code == 403
        assert not BrokerAccount.objects.exists()
    else:
        # The outsider adds it to their own organization, never to ours.
        assert not ours.exists()
        assert BrokerAccount.objects.for_org(other_org).count() == 1


def test_binance_live_account_and_its_fields(client_as, org):
    client = client_as(Role.TRADER)
    html = client.get("/broker-accounts/new/binance/").content.decode()
    assert 'name="credential_apiKey"' in html and 'name="credential_secret"' in html
    data = {"name": "B", "mode": "live", "credential_apiKey": "k", "credential_secret": SECRET}
    assert client.post("/broker-accounts/new/binance/", data).status_code == 302
    account = BrokerAccount.objects.for_org(org).get()
    assert (account.broker, account.mode) == ("binance", "live")
    page = client.get(f"/broker-accounts/{account.id}/").content.decode()
    assert "Live account:" in page and "badge live" in page


def test_kraken_says_it_has_no_sandbox_and_refuses_paper(client_as, org):
    client = client_as(Role.TRADER)
    html = client.get("/broker-accounts/new/kraken/").content.decode()
    assert "no sandbox" in html
    assert 'value="live" required id="id_mode_0" checked' in html  # live, the only choice
    assert 'value="paper"' not in html
    data = {"name": "K", "mode": "paper", "credential_apiKey": "k", "credential_secret": SECRET}
    response = client.post("/broker-accounts/new/kraken/", data)
    assert response.status_code == 200
    html = response.content.decode()
    mode_block = html.split('id="id_mode"', 1)[0].rsplit('<div class="field', 1)[1]
    assert "field-error" in mode_block
    assert "no sandbox" in html.split("errorlist", 1)[1][:300]
    assert SECRET not in html  # the typed secret is not rendered back
    assert not BrokerAccount.objects.exists()


def test_missing_credentials_are_field_errors(client_as):
    response = client_as(Role.TRADER).post(
        "/broker-accounts/new/alpaca/", alpaca_form(credential_secret_key="")
    )
    assert response.status_code == 200
    html = response.content.decode()
    secret_block = html.split('name="credential_secret_key"', 1)[0].rsplit('<div class="field', 1)
    assert "field-error" in secret_block[1]
    assert not BrokerAccount.objects.exists()


def test_an_account_without_credentials_says_so(client_as, org):
    account = broker_account_create(organization=org, name="Bare", broker="alpaca", mode="paper")
    html = client_as(Role.VIEWER).get(f"/broker-accounts/{account.id}/").content.decode()
    assert "Credentials missing: API key ID, Secret key." in html
    assert "badge bad" in html


def test_secrets_are_never_in_any_page(client_as, alpaca):
    client = client_as(Role.OWNER)
    for path in (
        "/broker-accounts/",
        f"/broker-accounts/{alpaca.id}/",
        f"/broker-accounts/{alpaca.id}/edit/",
        f"/broker-accounts/{alpaca.id}/drift/",
    ):
        response = client.get(path)
        assert response.status_code == 200
        assert SECRET not in response.content.decode()
    # The non-secret key id is shown back for editing; the secret field is empty.
    edit = client.get(f"/broker-accounts/{alpaca.id}/edit/").content.decode()
    assert 'value="PKSTORED"' in edit
    assert "Leave blank to keep the stored one." in edit


@pytest.mark.parametrize("role", EVERYONE)
def test_edit_keeps_the_stored_secret_unless_a_new_one_is_typed(client_as, role, alpaca):
    client = client_as(role)
    path = f"/broker-accounts/{alpaca.id}/edit/"
    get = client.get(path)
    assert get.status_code == {"outsider": 404, Role.VIEWER: 403}.get(role, 200)
    data = {"name": "Renamed", "mode": "paper", "credential_api_key": "PKSTORED"}
    response = client.post(path, {**data, "credential_secret_key": ""})
    assert response.status_code == expected_post(role)
    alpaca.refresh_from_db()
    if role not in WRITERS:
        assert alpaca.name == "Alpaca stored"
        return
    assert alpaca.name == "Renamed"
    assert alpaca.credentials == {"api_key": "PKSTORED", "secret_key": SECRET}
    client.post(path, {**data, "credential_secret_key": "brand-new"})
    alpaca.refresh_from_db()
    assert alpaca.credentials == {"api_key": "PKSTORED", "secret_key": "brand-new"}


def test_edit_to_a_refused_mode_changes_nothing(client_as, org):
    kraken = broker_account_create(
        organization=org,
        name="Kr",
        broker="kraken",
        mode="live",
        credentials={"apiKey": "k", "secret": SECRET},
    )
    response = client_as(Role.TRADER).post(
        f"/broker-accounts/{kraken.id}/edit/", {"name": "Kr2", "mode": "paper"}
    )
    assert response.status_code == 200
    assert "no sandbox" in response.content.decode()
    kraken.refresh_from_db()
    assert (kraken.name, kraken.mode) == ("Kr", "live")


@pytest.mark.parametrize("role", EVERYONE)
def test_test_connection_against_the_alpaca_standin(client_as, role, alpaca_account):
    response = client_as(role).post(
        f"/broker-accounts/{alpaca_account.id}/test-connection/", HTTP_HX_REQUEST="true"
    )
    if role in WRITERS:
        assert response.status_code == 200
        html = response.content.decode()
        assert "Connection OK: Alpaca paper account PA" in html
        assert 'id="connection-result"' in html
    else:
        assert response.status_code == expected_post(role)


def test_test_connection_shows_the_reason(client_as, org, alpaca_standin):
    account = broker_account_create(
        organization=org,
        name="Wrong keys",
        broker="alpaca",
        mode="paper",
        credentials={"api_key": "PKUNKNOWN", "secret_key": SECRET},
    )
    client = client_as(Role.TRADER)
    path = f"/broker-accounts/{account.id}/test-connection/"
    html = client.post(path, HTTP_HX_REQUEST="true").content.decode()
    assert "Connection failed:" in html
    assert SECRET not in html
    # Without htmx: the same result as a message on the account page.
    response = client.post(path, follow=True)
    assert response.redirect_chain[-1][0] == f"/broker-accounts/{account.id}/"
    assert "Connection failed:" in response.content.decode()


@pytest.mark.parametrize("role", MEMBER_ROLES)
def test_account_page_buttons_by_role(client_as, role, alpaca):
    response = client_as(role).get(f"/broker-accounts/{alpaca.id}/")
    html = response.content.decode()
    if role in WRITERS:
        assert "Test connection" in html and "Edit account" in html
    else:
        assert "Test connection" not in html and "Edit account" not in html
        assert post_forms_in_main(response) == 0


@pytest.mark.parametrize("role", EVERYONE)
def test_market_data_source_of_a_paper_account(client_as, role, paper):
    client = client_as(role)
    page = client.get(f"/broker-accounts/{paper.id}/")
    assert page.status_code == expected_get(role)
    if role in WRITERS:
        assert 'name="market_data_source"' in page.content.decode()
    response = client.post(
        f"/broker-accounts/{paper.id}/market-data/", {"market_data_source": "ccxt:binance"}
    )
    assert response.status_code == expected_post(role)
    paper.refresh_from_db()
    assert paper.market_data_source == ("ccxt:binance" if role in WRITERS else "")


def test_unknown_market_data_source_or_a_real_broker_is_refused(client_as, paper, alpaca):
    client = client_as(Role.TRADER)
    response = client.post(
        f"/broker-accounts/{paper.id}/market-data/", {"market_data_source": "nope"}, follow=True
    )
    assert "Choose one of the listed market data sources." in response.content.decode()
    response = client.post(
        f"/broker-accounts/{alpaca.id}/market-data/",
        {"market_data_source": "ccxt:binance"},
        follow=True,
    )
    assert "Only paper accounts take a market data source." in response.content.decode()
    paper.refresh_from_db(), alpaca.refresh_from_db()
    assert paper.market_data_source == alpaca.market_data_source == ""
    assert (
        'name="market_data_source"'
        not in client.get(f"/broker-accounts/{alpaca.id}/").content.decode()
    )


@pytest.mark.parametrize("role", EVERYONE)
def test_position_drift_page(client_as, role, org, alpaca):
    PositionDrift.objects.create(
        organization=org, account=alpaca, symbol="AAPL", ours=Decimal("3"), brokers=Decimal("5")
    )
    client = client_as(role)
    response = client.get(f"/broker-accounts/{alpaca.id}/drift/")
    assert response.status_code == expected_get(role)
    if role == "outsider":
        return
    html = response.content.decode()
    assert "AAPL" in html and ">3<" in html and ">5<" in html
    assert "Recorded for the trader (no order placed)" in html
    assert post_forms_in_main(response) == 0
    detail = client.get(f"/broker-accounts/{alpaca.id}/").content.decode()
    assert "1 open position drift:" in detail


def test_resolved_drift_raises_no_alarm(client_as, org, alpaca):
    from django.utils import timezone

    PositionDrift.objects.create(
        organization=org,
        account=alpaca,
        symbol="MSFT",
        ours=Decimal("1"),
        brokers=Decimal("2"),
        resolved_at=timezone.now(),
        action=PositionDrift.Action.RESOLVED,
    )
    client = client_as(Role.TRADER)
    assert (
        "open position drift" not in client.get(f"/broker-accounts/{alpaca.id}/").content.decode()
    )
    html = client.get(f"/broker-accounts/{alpaca.id}/drift/").content.decode()
    assert "MSFT" in html and "Resolved" in html


def test_another_tenants_drift_is_not_listed(client_as, org, other_org, alpaca):
    theirs = BrokerAccountFactory(organization=other_org)
    PositionDrift.objects.create(
        organization=other_org, account=theirs, symbol="TSLA", ours=1, brokers=2
    )
    html = client_as(Role.OWNER).get(f"/broker-accounts/{alpaca.id}/drift/").content.decode()
    assert "TSLA" not in html and "No drift found" in html


@pytest.mark.parametrize(
    "path",
    ["new/alpaca/", "{id}/edit/", "{id}/test-connection/", "{id}/market-data/"],
)
def test_posts_need_the_csrf_token(client_as, paper, path):
    client = client_as(Role.OWNER, csrf=True)
    url = "/broker-accounts/" + path.format(id=paper.id)
    response = client.post(url, {"name": "X", "market_data_source": "alpaca", **alpaca_form()})
    assert response.status_code == 403
    paper.refresh_from_db()
    assert (paper.name, paper.market_data_source) == ("Paper one", "")
    assert BrokerAccount.objects.count() == 1


def test_alpaca_market_data_is_offered_only_to_a_paper_account_with_a_data_key(client_as, paper):
    client = client_as(Role.TRADER)
    assert 'value="alpaca"' not in client.get(f"/broker-accounts/{paper.id}/").content.decode()
    client.post(f"/broker-accounts/{paper.id}/market-data/", {"market_data_source": "alpaca"})
    paper.refresh_from_db()
    assert paper.market_data_source == ""  # not a choice without a key: refused
    paper.credentials = {"apiKey": "PKDATA", "secretKey": "data-secret"}
    paper.save(update_fields=["credentials_encrypted"])
    assert 'value="alpaca"' in client.get(f"/broker-accounts/{paper.id}/").content.decode()


def test_a_paper_accounts_alpaca_data_key_is_set_on_its_edit_page(client_as, paper):
    client = client_as(Role.TRADER)
    page = client.get(f"/broker-accounts/{paper.id}/").content.decode()
    assert "needs an Alpaca data key" in page
    edit = client.get(f"/broker-accounts/{paper.id}/edit/").content.decode()
    assert 'value="alpaca"' in edit and "Alpaca data API key ID" in edit

    # Alpaca chosen without a key: refused with the reason, nothing saved.
    response = client.post(
        f"/broker-accounts/{paper.id}/edit/", {"name": "Paper one", "market_data_source": "alpaca"}
    )
    assert response.status_code == 200
    assert "needs the account&#x27;s Alpaca data API key ID and secret key" in (
        response.content.decode()
    )
    paper.refresh_from_db()
    assert (paper.market_data_source, paper.credentials_encrypted) == ("", "")

    response = client.post(
        f"/broker-accounts/{paper.id}/edit/",
        {"name": "Paper one", "market_data_source": "alpaca",
         "credential_apiKey": "PKDATA42", "credential_secretKey": SECRET},
    )  # fmt: skip
    assert response.status_code == 302
    paper.refresh_from_db()
    assert paper.market_data_source == "alpaca"
    assert paper.credentials == {"apiKey": "PKDATA42", "secretKey": SECRET}
    assert SECRET not in paper.credentials_encrypted  # encrypted at rest
    assert paper.status == BrokerAccount.Status.ACTIVE  # the keys are optional for paper
    page = client.get(f"/broker-accounts/{paper.id}/").content.decode()
    assert "needs an Alpaca data key" not in page and SECRET not in page
    edit = client.get(f"/broker-accounts/{paper.id}/edit/").content.decode()
    assert SECRET not in edit and "Leave blank to keep the stored one." in edit

    # A blank secret keeps the stored key; removing the source keeps the key too.
    client.post(f"/broker-accounts/{paper.id}/edit/",
                {"name": "Paper two", "market_data_source": "", "credential_apiKey": "PKDATA42"})  # fmt: skip
    paper.refresh_from_db()
    assert (paper.name, paper.market_data_source) == ("Paper two", "")
    assert paper.credentials == {"apiKey": "PKDATA42", "secretKey": SECRET}
