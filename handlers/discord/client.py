"""The discord.py client the transport and the notifier use: minimal intents, no mentions unless a message
allows one, its 429s counted, and pointed at DISCORD_API_BASE_URL / DISCORD_GATEWAY_URL (a proxy, or the
local fake in tests) for this client only."""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import aiohttp
import discord
import yarl
from discord.webhook.async_ import AsyncWebhookAdapter, async_context

from bot.config import Settings
from bot.ports.transport import TransportStartError

OFFICIAL_GATEWAY = yarl.URL("wss://gateway.discord.gg/")


class RateLimitCounter:
    """The 429s Discord answered this client's requests with (discord.py waits them out and retries), counted
    from the responses themselves through the client's aiohttp trace."""

    def __init__(self) -> None:
        self.count = 0
        self.listeners: list[Callable[[], None]] = []  # e.g. the limiter's on_429, for the app's metrics
        self.trace = aiohttp.TraceConfig()
        self.trace.on_request_end.append(self._on_request_end)

    async def _on_request_end(self, session: aiohttp.ClientSession, context: SimpleNamespace,
                              params: aiohttp.TraceRequestEndParams) -> None:
        if params.response.status == 429:
            self.count += 1
            for listener in self.listeners:
                listener()


def _moved(route: discord.http.Route, api_base: str) -> None:
    if route.url.startswith(discord.http.Route.BASE):
        route.url = api_base + route.url[len(discord.http.Route.BASE):]


class PointedHTTP(discord.http.HTTPClient):
    """discord.py's HTTP client with its endpoints moved. discord.py builds every REST URL from the class
    attribute `Route.BASE` and opens the gateway at `DiscordWebSocket.DEFAULT_GATEWAY`, both process-wide and
    without a per-client setting; rewriting the two at this client's own request and connect leaves every
    other client in the process alone."""

    api_base: str = discord.http.Route.BASE
    gateway: yarl.URL = OFFICIAL_GATEWAY

    async def request(self, route: discord.http.Route, **kwargs: Any) -> Any:
        _moved(route, self.api_base)
        return await super().request(route, **kwargs)

    async def ws_connect(self, url: str, *, compress: int = 0) -> Any:
        given = yarl.URL(url)
        if given.host == OFFICIAL_GATEWAY.host:
            url = str(self.gateway.with_query(given.query))
        return await super().ws_connect(url, compress=compress)


class PointedWebhookAdapter(AsyncWebhookAdapter):
    """Interaction callbacks and follow-ups go through discord.py's webhook adapter, which it takes from the
    context variable `async_context` (its own per-context hook): this one, with the REST endpoint moved."""

    def __init__(self, api_base: str) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # discord.py's own __init__ is unannotated
        self.api_base = api_base

    async def request(self, route: discord.http.Route, *args: Any, **kwargs: Any) -> Any:
        _moved(route, self.api_base)
        return await super().request(route, *args, **kwargs)


def gateway_context(settings: Settings) -> contextvars.Context:
    """The context to run the client's gateway connection in: the interactions it receives (and every task
    they start) answer through the pointed webhook adapter."""
    context = contextvars.copy_context()
    context.run(async_context.set, PointedWebhookAdapter(settings.discord_api_base_url.rstrip("/")))
    return context


def new_client(settings: Settings, rate_limits: RateLimitCounter) -> discord.Client:
    intents = discord.Intents.none()
    intents.guilds = True  # GUILD_CREATE: the bot is back in a guild, so its channels can get alerts again
    client = discord.Client(intents=intents, chunk_guilds_at_startup=False, guild_ready_timeout=0.5,
                            allowed_mentions=discord.AllowedMentions.none(), http_trace=rate_limits.trace)
    client.http.__class__ = PointedHTTP  # the instance discord.py built, with its two endpoints moved
    http: PointedHTTP = client.http  # type: ignore[assignment]  # its class was swapped just above
    http.api_base = settings.discord_api_base_url.rstrip("/")
    http.gateway = yarl.URL(settings.discord_gateway_url)
    return client


async def login(client: discord.Client, settings: Settings) -> None:
    """REST only (GET /users/@me): enough to send; the gateway is `client.connect()`'s."""
    assert settings.discord_bot_token is not None
    try:
        await client.login(settings.discord_bot_token.get_secret_value())
    except discord.LoginFailure:
        raise TransportStartError("Discord rejected DISCORD_BOT_TOKEN (check it in the developer portal)") from None
    except (discord.HTTPException, OSError) as exc:
        raise TransportStartError(f"Discord could not be reached: {type(exc).__name__}") from None
