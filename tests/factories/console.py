"""The console in a real browser: Debian's chromium driven by Playwright, a signed-in page per role that
records every JavaScript error (uncaught exceptions and console errors) for the test to assert on."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 1366, "height": 768}


def chromium_path() -> str:
    """Debian's chromium (scripts/system-deps.sh installs it); Playwright's own download is not used."""
    found = shutil.which("chromium") or CHROMIUM
    if not Path(found).exists():
        raise RuntimeError("chromium is missing: run `make system-deps` (apt-get install chromium)")
    return found


def launch_chromium(playwright: Any) -> Any:
    """A headless chromium."""
    return playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])


@dataclass
class SignedIn:
    """A page signed in as one key, with the JavaScript errors seen so far."""

    page: Any
    url: str
    errors: list[str] = field(default_factory=list)

    def view(self, name: str) -> Any:
        """Show a view and return its section once it rendered data."""
        self.page.goto(f"{self.url}/console#{name}")
        section = self.page.locator(f"#view-{name}")
        self.page.wait_for_selector(f"#view-{name}[data-rendered]", state="attached", timeout=20_000)
        return section

    def confirm(self, **fields: str) -> None:
        """Fill the open confirmation dialog's fields and confirm."""
        dialog = self.page.locator("dialog#ask")
        dialog.wait_for(state="visible")
        for name, value in fields.items():
            box = dialog.locator(f"[name={name}]")
            if box.evaluate("e => e.tagName") == "SELECT":
                box.select_option(value)
            else:
                box.fill(value)
        dialog.locator("#ask-ok").click()
        dialog.wait_for(state="hidden")


def sign_in(browser: Any, url: str, key: str) -> SignedIn:
    """A new browser context signed in with ``key`` through the form (input ``key``)."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    signed = SignedIn(page, url)
    page.on("pageerror", lambda exc: signed.errors.append(f"pageerror: {exc}"))
    page.on(
        "console",
        lambda m: signed.errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
    )
    page.goto(f"{url}/console")
    page.fill("input[name=key]", key)
    page.click("button[type=submit]")
    page.wait_for_selector("body[data-ready]", timeout=20_000)
    return signed
