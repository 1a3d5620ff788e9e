"""JSON over HTTP with the standard library: retries with backoff, a rate limit, one-line errors.

429 and 5xx replies and dropped connections are retried with exponential backoff and jitter (or
after the server's Retry-After); other 4xx replies fail at once, since asking again cannot help.
"""

from __future__ import annotations

import http.client
import json
import random
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Callable

from lmlearn.errors import LmlearnError


@dataclass
class HttpSettings:
    """How patiently to talk to a translation service."""

    max_retries: int = 5
    backoff: float = 1.0  # seconds before the first retry; doubles with each further one
    max_backoff: float = 60.0
    rate_limit: float = 0.0  # requests per second; 0: no limit
    timeout: float = 120.0


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header: a number, or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _snippet(body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip().replace("\n", " ")
    return text[:200] + ("..." if len(text) > 200 else "")


class HttpClient:
    """POST JSON to one service, retrying what can be retried."""

    def __init__(self, settings: HttpSettings, service: str, key_env: str | None,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic):
        self.settings = settings
        self.service = service
        self.key_env = key_env
        self.sleep = sleep
        self.clock = clock
        self.requests = 0
        self._next_slot = 0.0

    def _wait_for_slot(self) -> None:
        if self.settings.rate_limit > 0:
            now = self.clock()
            if self._next_slot > now:
                self.sleep(self._next_slot - now)
            self._next_slot = max(now, self._next_slot) + 1.0 / self.settings.rate_limit

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after
        return min(self.settings.max_backoff, self.settings.backoff * 2 ** attempt) * random.uniform(0.5, 1.0)

    def _refuse(self, url: str, code: int, body: bytes) -> LmlearnError:
        """The error for a reply that retrying cannot fix."""
        if code in (401, 403):
            hint = f"check {self.key_env}" if self.key_env else "check the endpoint's API key"
            return LmlearnError(f"{self.service} refused the request (HTTP {code}) at {url}: {hint}")
        if code == 404:
            return LmlearnError(f"{self.service}: no such address (HTTP 404) {url}: check --endpoint")
        if code == 456:
            return LmlearnError(f"{self.service}: character quota used up (HTTP 456); "
                                "raise it or wait for the next period")
        return LmlearnError(f"{self.service}: HTTP {code} at {url}: {_snippet(body)}")

    def post_json(self, url: str, payload: dict[str, Any], headers: dict[str, str]) -> Any:
        """POST `payload` as JSON and return the decoded JSON reply."""
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json", **headers}
        problem, retry_after = "", None
        for attempt in range(self.settings.max_retries + 1):
            if attempt:
                self.sleep(self._delay(attempt - 1, retry_after))
            self._wait_for_slot()
            self.requests += 1
            request = urllib.request.Request(url, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.settings.timeout) as reply:
                    body = reply.read()
            except urllib.error.HTTPError as e:
                body = e.read()
                if e.code != 429 and e.code < 500:
                    raise self._refuse(url, e.code, body) from None
                problem = f"HTTP {e.code} {_snippet(body)}".strip()
                retry_after = _retry_after(e.headers.get("Retry-After"))
                continue
            except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError) as e:
                problem, retry_after = f"no answer ({getattr(e, 'reason', e)})", None
                continue
            try:
                return json.loads(body)
            except json.JSONDecodeError:
                raise LmlearnError(f"{self.service}: the reply from {url} is not JSON: {_snippet(body)}") from None
        hint = "lower --rate-limit, or wait and rerun" if problem.startswith("HTTP 429") else "wait and rerun"
        raise LmlearnError(f"{self.service}: {problem} at {url}, still after {self.settings.max_retries} retries; "
                           + hint)
