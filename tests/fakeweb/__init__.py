"""A fake web for the engine's web tools: one loopback tornado server that is a
SearXNG instance (``GET /search?q=...&format=json``), the Brave Search API
(``GET /res/v1/web/search`` with ``X-Subscription-Token``) and a set of
scripted pages (``GET /p/<name>``: status, headers, body; a redirect; a body
that never ends; one that trickles forever).

    web = FakeWeb(brave_keys=["bk-test"]).start()
    web.results["rust"] = [Hit("https://www.rust-lang.org/", "Rust", "A language...")]
    web.page("big", body=b"x" * 10_000_000, content_type="text/plain")
    web.redirect("hop", "http://127.0.0.1:1/")
    web.hits             # [(path, headers), ...] of every request
    web.stop()

Search results are those scripted for the query (exact match), else three
made from the query's words, so a test can tell which query reached it.
"""

from .server import FakeWeb, Hit

__all__ = ["FakeWeb", "Hit"]
