"""An aiohttp middleware for tracecar's aiohttp servers (the webhook): no traceback reaches a client."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def errors_as_500(log: logging.Logger, prefix: str, whose_log: str) -> Middleware:
    """Log an unexpected handler error (after `prefix`) and answer 500 pointing at `whose_log`."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException:
            raise
        except Exception:
            log.exception("%s%s %s failed", prefix, request.method, request.path)
            return web.Response(status=500, text=f"internal error; see {whose_log}\n")

    return middleware
