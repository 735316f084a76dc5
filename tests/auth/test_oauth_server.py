"""The token endpoint's logic on Authlib, and its HTTP routes, without a database.

`issue_token_response` is a plain function over a parsed form and a pre-loaded client
row, so most of this file calls it directly. The last class mounts the real router on a
small FastAPI app whose client lookup is an in-memory dict.
"""

import base64
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.jwk import ECKey

from service.auth import endpoints
from service.auth.caller import SCOPES
from service.auth.keys import load_or_create_signing_key
from service.auth.models import OAuthClient
from service.auth.oauth_server import (
    MAX_FORM_BYTES,
    TokenRequestError,
    TokenResponse,
    client_id_of,
    issue_token_response,
    parse_token_form,
)
from service.auth.secrets import hash_secret
from service.auth.tokens import verify_access_token
from service.config import Settings
from service.database import request_session

ISSUER = "https://onebudget.test"
SECRET = "correct-horse-battery-staple-0123456789abcdef"
CLIENT_ID = "ob_test-client"
CLIENT_SCOPE = "spends:write budgets:read"
FORM_TYPE = "application/x-www-form-urlencoded"


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> ECKey:
    """The signing key, made the way the service makes it."""
    return load_or_create_signing_key(tmp_path_factory.mktemp("keys"))


@pytest.fixture
def config(tmp_path: Path) -> Settings:
    """Settings with an https issuer and a short, recognisable token lifetime."""
    return Settings(data_dir=tmp_path, issuer=ISSUER, token_lifetime_seconds=321)


@pytest.fixture
def row() -> OAuthClient:
    """A registered client, never stored anywhere."""
    return OAuthClient(
        id=uuid.uuid4(),
        client_id=CLIENT_ID,
        secret_hash=hash_secret(SECRET),
        agency_id=uuid.uuid4(),
        name="Test system",
        scope=CLIENT_SCOPE,
    )


def basic(client_id: str, secret: str) -> dict[str, str]:
    """An Authorization header for client_secret_basic (RFC 6749 §2.3.1 encoding)."""
    pair = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


def post_form(**fields: str) -> dict[str, str]:
    """A client_secret_post form with the right credentials and any fields added."""
    return {
        "grant_type": "client_credentials",
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        **fields,
    }


def answer(
    form: dict[str, str],
    headers: dict[str, str],
    row: OAuthClient | None,
    config: Settings,
    key: ECKey,
) -> TokenResponse:
    """issue_token_response, loading `row` only if the request names it (as the endpoint does)."""
    try:
        named = client_id_of(form, headers)
    except TokenRequestError:
        named = None  # the endpoint answers at once; issue_token_response must agree
    loaded = row if row is not None and named == row.client_id else None
    return issue_token_response(form, headers, loaded, config, key)


def assert_error(response: TokenResponse, status: int, error: str) -> dict[str, Any]:
    """Check an OAuth error answer and return its body."""
    got_status, body, headers = response
    assert (got_status, body.get("error")) == (status, error), body
    assert set(body) <= {"error", "error_description"}
    assert headers["Cache-Control"] == "no-store" and headers["Pragma"] == "no-cache"
    if status == 401:
        assert headers["WWW-Authenticate"].startswith("Basic realm=")
    return body


class TestSuccess:
    def test_client_secret_basic(self, row: OAuthClient, config: Settings, key: ECKey) -> None:
        form = {"grant_type": "client_credentials", "scope": "budgets:read"}
        status, body, headers = answer(form, basic(CLIENT_ID, SECRET), row, config, key)
        assert status == 200, body
        assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
        assert body["token_type"] == "Bearer" and body["scope"] == "budgets:read"
        assert headers["Cache-Control"] == "no-store" and headers["Pragma"] == "no-cache"
        caller = verify_access_token(
            body["access_token"], key=key, issuer=ISSUER, audience=config.audience
        )
        assert caller.client_pk == row.id and caller.agency_id == row.agency_id
        assert caller.client_id == CLIENT_ID and caller.scopes == {"budgets:read"}

    def test_client_secret_post(self, row: OAuthClient, config: Settings, key: ECKey) -> None:
        status, body, _ = answer(post_form(scope="spends:write"), {}, row, config, key)
        assert status == 200, body
        assert body["scope"] == "spends:write"

    def test_no_scope_grants_all_client_scopes(
        self, row: OAuthClient, config: Settings, key: ECKey
    ) -> None:
        for form in (post_form(), post_form(scope=""), post_form(scope="   ")):
            status, body, _ = answer(form, {}, row, config, key)
            assert status == 200, body
            # In the canonical SCOPES order, whatever order the row stores them in.
            assert body["scope"] == "budgets:read spends:write"

    def test_repeated_scope_is_granted_once(
        self, row: OAuthClient, config: Settings, key: ECKey
    ) -> None:
        form = post_form(scope="budgets:read budgets:read spends:write")
        status, body, _ = answer(form, {}, row, config, key)
        assert (status, body["scope"]) == (200, "budgets:read spends:write")

    def test_expires_in_is_the_configured_lifetime(
        self, row: OAuthClient, config: Settings, key: ECKey
    ) -> None:
        status, body, _ = answer(post_form(), {}, row, config, key)
        assert status == 200 and body["expires_in"] == 321
        claims = jwt.decode(body["access_token"], key, algorithms=["ES256"]).claims
        assert claims["exp"] - claims["iat"] == 321
        assert abs(claims["iat"] - time.time()) < 5

    def test_basic_client_id_may_repeat_in_form(
        self, row: OAuthClient, config: Settings, key: ECKey
    ) -> None:
        form = {"grant_type": "client_credentials", "client_id": CLIENT_ID}
        assert answer(form, basic(CLIENT_ID, SECRET), row, config, key)[0] == 200

    def test_basic_with_characters_needing_encoding(self, config: Settings, key: ECKey) -> None:
        secret = "p@ss:w/rd é+%"
        odd = OAuthClient(
            id=uuid.uuid4(),
            client_id="ob_odd:id",
            secret_hash=hash_secret(secret),
            agency_id=uuid.uuid4(),
            name="odd",
            scope="ledger:read",
        )
        form = {"grant_type": "client_credentials"}
        status, body, _ = answer(form, basic("ob_odd:id", secret), odd, config, key)
        assert status == 200, body

    def test_loopback_http_issuer_is_allowed(
        self, row: OAuthClient, tmp_path: Path, key: ECKey
    ) -> None:
        local = Settings(data_dir=tmp_path)  # the default: http://127.0.0.1:8000
        assert answer(post_form(), {}, row, local, key)[0] == 200


class TestClientAuthentication:
    def test_wrong_secret_basic(self, row: OAuthClient, config: Settings, key: ECKey) -> None:
        form = {"grant_type": "client_credentials"}
        assert_error(
            answer(form, basic(CLIENT_ID, "nope"), row, config, key), 401, "invalid_client"
        )

    def test_wrong_secret_post(self, row: OAuthClient, config: Settings, key: ECKey) -> None:
        form = post_form(client_secret="nope")
        assert_error(answer(form, {}, row, config, key), 401, "invalid_client")

    def test_unknown_client_basic(self, config: Settings, key: ECKey) -> None:
        form = {"grant_type": "client_credentials"}
        assert_error(
            answer(form, basic(CLIENT_ID, SECRET), None, config, key), 401, "invalid_client"
        )

    def test_unknown_client_post(self, config: Settings, key: ECKey) -> None:
        assert_error(answer(post_form(), {}, None, config, key), 401, "invalid_client")

    def test_unknown_and_wrong_secret_look_the_same(
        self, row: OAuthClient, config: Settings, key: ECKey
    ) -> None:
        unknown = answer(post_form(), {}, None, config, key)
        wrong = answer(post_form(client_secret="nope"), {}, row, config, key)
        assert unknown == wrong

    def test_row_for_another_client_is_not_used(
        self, row: OAuthClient, config: Settings, key: ECKey
    ) -> None:
        # Even handed the wrong row, the server only accepts the client the request names.
        form = post_form(client_id="ob_someone-else")
        assert_error(issue_token_response(form, {}, row, config, key), 401, "invalid_client")

    def test_no_credentials(self, row: OAuthClient, config: Settings, key: ECKey) -> None:
        form = {"grant_type": "client_credentials"}
        assert_error(answer(form, {}, row, config, key), 401, "invalid_client")

    def test_client_id_without_secret(self, row: OAuthClient, config: Settings, key: ECKey) -> None:
        # A public client ("none" method) is not allowed.
        form = {"grant_type": "client_credentials", "client_id": CLIENT_ID}
        assert_error(answer(form, {}, row, config, key), 401, "invalid_client")

    @pytest.mark.parametrize(
        "authorization",
        [
            "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),
            "Basic " + base64.b64encode(b"no-colon").decode(),
            "Basic " + base64.b64encode(b":secret").decode(),
            "Basic " + base64.b64encode(CLIENT_ID.encode() + b":").decode(),
            "Basic !!!",
            "Basic a",
        ],
    )
    def test_malformed_basic_header(
        self, row: OAuthClient, config: Settings, key: ECKey, authorization: str
    ) -> None:
        form = {"grant_type": "client_credentials"}
        headers = {"authorization": authorization}
        assert_error(answer(form, headers, row, config, key), 401, "invalid_client")

    def test_both_methods_at_once(self, row: OAuthClient, config: Settings, key: ECKey) -> None:
        assert_error(
            answer(post_form(), basic(CLIENT_ID, SECRET), row, config, key), 400, "invalid_request"
        )

    def test_basic_and_form_naming_different_clients(
        self, row: OAuthClient, config: Settings, key: ECKey
    ) -> None:
        form = {"grant_type": "client_credentials", "client_id": "ob_other"}
        assert_error(
            answer(form, basic(CLIENT_ID, SECRET), row, config, key), 400, "invalid_request"
        )


class TestGrantAndScope:
    def test_wrong_grant_type(self, row: OAuthClient, config: Settings, key: ECKey) -> None:
        for grant in ("password", "authorization_code", "refresh_token", "CLIENT_CREDENTIALS"):
            body = assert_error(
                answer(post_form(grant_type=grant), {}, row, config, key),
                400,
                "unsupported_grant_type",
            )
            assert "client_credentials" in body["error_description"]

    def test_missing_grant_type(self, row: OAuthClient, config: Settings, key: ECKey) -> None:
        form = post_form()
        del form["grant_type"]
        assert_error(answer(form, {}, row, config, key), 400, "invalid_request")

    def test_scope_the_client_lacks(self, row: OAuthClient, config: Settings, key: ECKey) -> None:
        body = assert_error(
            answer(post_form(scope="budgets:read spends:approve"), {}, row, config, key),
            400,
            "invalid_scope",
        )
        assert "spends:approve" in body["error_description"]

    @pytest.mark.parametrize("scope", ["admin", "budgets:read admin", 'x"\\', "é", "\t\n"])
    def test_unknown_or_odd_scope(
        self, row: OAuthClient, config: Settings, key: ECKey, scope: str
    ) -> None:
        status, body, _ = answer(post_form(scope=scope), {}, row, config, key)
        if scope.strip():
            assert_error((status, body, _), 400, "invalid_scope")
        else:
            assert status == 200  # whitespace only: no scope asked, all granted

    def test_scope_checked_only_after_authentication(
        self, row: OAuthClient, config: Settings, key: ECKey
    ) -> None:
        form = post_form(scope="spends:approve", client_secret="nope")
        assert_error(answer(form, {}, row, config, key), 401, "invalid_client")

    def test_client_with_no_usable_scope(self, config: Settings, key: ECKey) -> None:
        empty = OAuthClient(
            id=uuid.uuid4(),
            client_id=CLIENT_ID,
            secret_hash=hash_secret(SECRET),
            agency_id=uuid.uuid4(),
            name="empty",
            scope="",
        )
        assert_error(answer(post_form(), {}, empty, config, key), 400, "invalid_scope")

    def test_plain_http_issuer_is_refused(
        self, row: OAuthClient, tmp_path: Path, key: ECKey
    ) -> None:
        remote = Settings(data_dir=tmp_path, issuer="http://onebudget.example")
        assert_error(answer(post_form(), {}, row, remote, key), 400, "invalid_request")


class TestFormParsing:
    def test_plain_form(self) -> None:
        body = b"grant_type=client_credentials&scope=budgets%3Aread+spends%3Awrite"
        form = parse_token_form(body, "application/x-www-form-urlencoded; charset=UTF-8")
        assert form == {"grant_type": "client_credentials", "scope": "budgets:read spends:write"}

    @pytest.mark.parametrize(
        ("body", "content_type"),
        [
            (b"grant_type=client_credentials", None),
            (b"grant_type=client_credentials", "application/json"),
            (b'{"grant_type": "client_credentials"}', "application/json"),
            (b"grant_type=client_credentials", "multipart/form-data; boundary=x"),
            (b"a=" + b"x" * MAX_FORM_BYTES, FORM_TYPE),
            (b"grant_type=a&grant_type=b", FORM_TYPE),
            (b"client_id=a%00b", FORM_TYPE),
            (b"x%00=1", FORM_TYPE),
            (b"client_id=%ff%fe", FORM_TYPE),
            (b"client_id=\xff", FORM_TYPE),
            (b"&".join(b"f%d=1" % i for i in range(100)), FORM_TYPE),
        ],
    )
    def test_refused(self, body: bytes, content_type: str | None) -> None:
        with pytest.raises(TokenRequestError) as caught:
            parse_token_form(body, content_type)
        status, payload, _ = caught.value.response()
        assert (status, payload["error"]) == (400, "invalid_request")


_text = st.text(max_size=60)


@hypothesis_settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    form=st.dictionaries(
        st.sampled_from(["grant_type", "scope", "client_id", "client_secret", "other"]) | _text,
        _text | st.sampled_from(["client_credentials", CLIENT_ID, SECRET, " ".join(SCOPES)]),
        max_size=6,
    ),
    authorization=st.none()
    | _text
    | st.binary(max_size=60).map(lambda raw: "Basic " + base64.b64encode(raw).decode())
    | st.builds(lambda i, s: basic(i, s)["Authorization"], _text, _text),
)
def test_any_request_gets_an_oauth_answer(
    row: OAuthClient,
    config: Settings,
    key: ECKey,
    form: dict[str, str],
    authorization: str | None,
) -> None:
    """Whatever arrives, the answer is a token or an RFC 6749 error, never an exception."""
    headers = {} if authorization is None else {"Authorization": authorization}
    try:
        named = client_id_of(form, headers)
    except TokenRequestError:
        named = None
    loaded = row if named == CLIENT_ID else None
    status, body, _ = issue_token_response(form, headers, loaded, config, key)
    assert status in (200, 400, 401)
    if status != 200:
        assert body["error"] in {
            "invalid_request",
            "invalid_client",
            "invalid_scope",
            "unsupported_grant_type",
        }
        description = body.get("error_description", "")
        # RFC 6749 §5.2: error_description is limited to printable ASCII without " and \.
        assert all(0x20 <= ord(c) <= 0x7E and c not in '"\\' for c in description)


class TestRoutes:
    """The real router on a minimal app; the client lookup is an in-memory dict."""

    @pytest.fixture
    def app(
        self, row: OAuthClient, config: Settings, key: ECKey, monkeypatch: pytest.MonkeyPatch
    ) -> Iterator[FastAPI]:
        clients = {row.client_id: row}

        async def find_client(session: object, client_id: str) -> OAuthClient | None:
            return clients.get(client_id)

        async def no_session() -> AsyncIterator[None]:
            yield None

        monkeypatch.setattr(endpoints, "find_client", find_client)
        application = FastAPI()
        application.include_router(endpoints.router)
        application.state.settings = config
        application.state.signing_key = key
        application.dependency_overrides[request_session] = no_session
        yield application

    @pytest.fixture
    async def http(self, app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client

    async def test_token_with_basic_auth(self, http: httpx.AsyncClient, key: ECKey) -> None:
        response = await http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "scope": "budgets:read"},
            auth=(CLIENT_ID, SECRET),
        )
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["pragma"] == "no-cache"
        assert response.headers["content-type"] == "application/json"
        caller = verify_access_token(
            response.json()["access_token"], key=key, issuer=ISSUER, audience="onebudget"
        )
        assert caller.scopes == {"budgets:read"}

    async def test_token_with_post_auth(self, http: httpx.AsyncClient) -> None:
        response = await http.post("/oauth/token", data=post_form())
        assert response.status_code == 200, response.text
        assert response.json()["expires_in"] == 321

    async def test_wrong_secret(self, http: httpx.AsyncClient) -> None:
        response = await http.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=(CLIENT_ID, "x")
        )
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_client"
        assert response.headers["www-authenticate"].startswith("Basic ")

    async def test_oversized_body(self, http: httpx.AsyncClient) -> None:
        response = await http.post(
            "/oauth/token",
            content=b"grant_type=client_credentials&pad=" + b"x" * 100_000,
            headers={"Content-Type": FORM_TYPE},
        )
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_request"

    async def test_json_body(self, http: httpx.AsyncClient) -> None:
        response = await http.post("/oauth/token", json={"grant_type": "client_credentials"})
        assert (response.status_code, response.json()["error"]) == (400, "invalid_request")

    async def test_nul_in_client_id(self, http: httpx.AsyncClient) -> None:
        response = await http.post(
            "/oauth/token",
            content=b"grant_type=client_credentials&client_id=a%00&client_secret=x",
            headers={"Content-Type": FORM_TYPE},
        )
        assert (response.status_code, response.json()["error"]) == (400, "invalid_request")

    async def test_metadata(self, http: httpx.AsyncClient) -> None:
        response = await http.get("/.well-known/oauth-authorization-server")
        assert response.status_code == 200
        assert response.json() == {
            "issuer": ISSUER,
            "token_endpoint": f"{ISSUER}/oauth/token",
            "jwks_uri": f"{ISSUER}/.well-known/jwks.json",
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "scopes_supported": list(SCOPES),
            "response_types_supported": [],
        }

    async def test_jwks_verifies_issued_tokens(self, http: httpx.AsyncClient) -> None:
        jwks = (await http.get("/.well-known/jwks.json")).json()
        [published] = jwks["keys"]
        assert "d" not in published
        token = (await http.post("/oauth/token", data=post_form())).json()["access_token"]
        public = ECKey.import_key(published)
        caller = verify_access_token(token, key=public, issuer=ISSUER, audience="onebudget")
        assert caller.client_id == CLIENT_ID

    async def test_openapi_documents_the_form(self, http: httpx.AsyncClient) -> None:
        document = (await http.get("/openapi.json")).json()
        operation = document["paths"]["/oauth/token"]["post"]
        schema = operation["requestBody"]["content"][FORM_TYPE]["schema"]
        assert set(schema["properties"]) == {"grant_type", "scope", "client_id", "client_secret"}
        assert {"200", "400", "401"} <= set(operation["responses"])
        assert operation["description"].startswith("Exchange client credentials")
