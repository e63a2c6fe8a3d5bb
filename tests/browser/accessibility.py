"""axe-core, pinned from npm, run inside the page by Playwright: the WCAG 2.2 A/AA rules
and axe's best practices, on every page state the browser tests reach (issue 23).

The script is evaluated through the DevTools protocol, which the page's CSP does not
govern: the pages are audited exactly as served, with their CSP on."""

from __future__ import annotations

from functools import cache
from typing import Any

from playwright.sync_api import Page

from deploy.localstack import ROOT

AXE_VERSION = "4.14.1"  # the Makefile installs this one (make test)
AXE = ROOT / f".tools/axe-core-{AXE_VERSION}/node_modules/axe-core/axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
RUN = """async (tags) => {
  const result = await axe.run(document, { runOnly: { type: "tag", values: tags } });
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map((n) => n.target.join(" ")),
  }));
}"""


@cache
def _source() -> str:
    if not AXE.exists():
        raise RuntimeError(f"axe-core {AXE_VERSION} is not installed: run `make test` once")
    return AXE.read_text()


def violations(page: Page) -> list[dict[str, Any]]:
    """What axe finds on the page as it stands now."""
    page.wait_for_load_state()
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(_source())
        version = page.evaluate("axe.version")
        assert version == AXE_VERSION, version
    found: list[dict[str, Any]] = page.evaluate(RUN, TAGS)
    return found


def audit(page: Page) -> None:
    """Fail unless axe finds nothing on the page as it stands now."""
    if page.is_closed() or page.url in ("", "about:blank"):
        return
    found = violations(page)
    said = "; ".join(f"{v['id']} ({v['impact']}): {v['help']} at {v['nodes'][:3]}" for v in found)
    assert not found, f"axe {AXE_VERSION} on {page.url}: {said}"
