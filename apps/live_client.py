"""The live twin's HTTP client: one key per role, retries with backoff on 429/503 and lost connections.

Every call names the role whose key it sends (``qa_system`` for intake, outcomes and status;
``dispatcher`` for the queue, ranking, assignment and the workers' answers). A 4xx other than 429 is
returned to the caller (a 409 is an answer: the service took the task back); a 5xx other than 503 is
raised after the retries.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

RETRY_STATUS = frozenset({429, 502, 503, 504})


class LiveHTTPError(RuntimeError):
    """The service kept failing a call."""


def read_keys(folder: Path, roles: tuple[str, ...] = ("qa_system", "dispatcher")) -> dict[str, str]:
    """The demo keys ``bootstrap`` wrote (``<folder>/<role>.key``)."""
    missing = [r for r in roles if not (folder / f"{r}.key").exists()]
    if missing:
        raise FileNotFoundError(
            f"no key file for {', '.join(missing)} in {folder} (run `opsmatch bootstrap`)"
        )
    return {r: (folder / f"{r}.key").read_text().strip() for r in roles}


class LiveClient:
    """``call(method, path, role, body)`` -> (status, json) with retries; counts calls and errors."""

    def __init__(
        self, url: str, keys: dict[str, str], *, retries: int = 6, backoff: float = 0.2, timeout: float = 30.0
    ) -> None:
        self.http = httpx.Client(base_url=url, timeout=timeout)
        self.keys, self.retries, self.backoff = keys, retries, backoff
        self.calls: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.latency: dict[str, list[float]] = {}

    def close(self) -> None:
        self.http.close()

    def call(
        self,
        method: str,
        path: str,
        role: str,
        body: Any = None,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> tuple[int, Any]:
        """One request; 429/502/503/504 and connection errors are retried with exponential backoff
        (a 429's Retry-After is honoured)."""
        name = f"{method} {path.split('/')[1] if path.count('/') else path}"
        headers = {"Authorization": f"Bearer {self.keys[role]}"}
        wait = self.backoff
        for attempt in range(self.retries + 1):
            started = time.perf_counter()
            try:
                response = self.http.request(
                    method,
                    path,
                    json=body,
                    params=params,
                    headers=headers,
                    timeout=timeout or self.http.timeout.read,
                )
            except httpx.TransportError as exc:
                if attempt == self.retries:
                    raise LiveHTTPError(f"{method} {path}: {exc}") from exc
                time.sleep(wait)
                wait *= 2
                continue
            self.latency.setdefault(name, []).append(time.perf_counter() - started)
            self.calls[name] += 1
            if response.status_code in RETRY_STATUS and attempt < self.retries:
                after = response.headers.get("Retry-After")
                time.sleep(float(after) if after and after.replace(".", "", 1).isdigit() else wait)
                wait *= 2
                continue
            if response.status_code >= 500:
                raise LiveHTTPError(f"{method} {path}: {response.status_code} {response.text[:300]}")
            if response.status_code >= 400:
                self.errors[f"{name} {response.status_code}"] += 1
            try:
                return response.status_code, response.json()
            except ValueError:
                return response.status_code, response.text
        raise LiveHTTPError(f"{method} {path}: still refused after {self.retries} retries")
