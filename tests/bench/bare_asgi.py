"""The floor of the server stack: an ASGI application that answers every request with a small fixed JSON
body, served the way `vaultguard server` serves (uvicorn with the same HTTP protocol, the same worker runner).

Run by bench_http.py: `python tests/bench/bare_asgi.py PORT WORKERS`.
"""

from __future__ import annotations

import sys
from pathlib import Path

BODY = b'{"initialized":true,"sealed":false,"standby":false}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope: dict, receive, send) -> None:  # noqa: ANN001
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


def main() -> None:
    import uvicorn

    from vaultguard.service import workers
    from vaultguard.service.http_protocol import VaultHttpProtocol

    port, count = int(sys.argv[1]), int(sys.argv[2])
    options = dict(app="bare_asgi:app", app_dir=str(Path(__file__).parent), host="127.0.0.1", port=port,
                   http=VaultHttpProtocol, log_level="warning", access_log=False)  # fmt: skip
    if count > 1:
        workers.run(options, count)
    else:
        uvicorn.run(**options)


if __name__ == "__main__":
    main()
