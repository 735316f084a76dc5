"""Headers every answer carries: no MIME sniffing anywhere, no caching of personal data."""

from service.ops.middleware import ASGIApp, Message, Receive, Scope, Send

# Paths whose answers may hold personal data: REST's /v1 and GraphQL's /graphql.
PRIVATE_PREFIXES = ("/v1/", "/graphql")
_NOSNIFF = (b"x-content-type-options", b"nosniff")
_NO_STORE = (b"cache-control", b"no-store")


class SecurityHeaders:
    """Add X-Content-Type-Options: nosniff to every answer; Cache-Control: no-store on /v1
    and /graphql."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        private = path.startswith(PRIVATE_PREFIXES) or path == "/v1"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                if _NOSNIFF[0] not in names:
                    headers.append(_NOSNIFF)
                if private:
                    # Replace any weaker directive: budgets and people must not be cached.
                    headers = [(n, v) for n, v in headers if n.lower() != _NO_STORE[0]]
                    headers.append(_NO_STORE)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
