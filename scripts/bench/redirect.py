"""Bare mitmproxy for the benchmark: redirect every request to one upstream and
stream the answer. No omniroute: the floor of interception.

    mitmdump -s scripts/bench/redirect.py --set bench_upstream=http://127.0.0.1:PORT
"""

from __future__ import annotations

from urllib.parse import urlsplit

from mitmproxy import addonmanager, ctx, http


class Redirect:
    def load(self, loader: addonmanager.Loader) -> None:
        loader.add_option("bench_upstream", str, "", "http://HOST:PORT to send every request to")

    def request(self, flow: http.HTTPFlow) -> None:
        target = urlsplit(ctx.options.bench_upstream)
        flow.request.scheme = target.scheme
        flow.request.host = target.hostname or "127.0.0.1"
        flow.request.port = target.port or 80

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response is not None:
            flow.response.stream = True


addons = [Redirect()]
