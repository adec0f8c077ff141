"""Test-only mitmproxy addon: writes what mitmweb would show of each finished flow.

Loaded after addons/omniroute.py, so its ``response`` hook sees the flow as the
front left it (comment, capped body copy). One JSON line per flow in the file
named by the ``flow_probe_file`` option. It brings mitmweb's flow list (the
``View`` addon) along, so the front keeps body copies as it does under mitmweb.
"""

from __future__ import annotations

import json

from mitmproxy import ctx, http
from mitmproxy.addons.view import View


class FlowProbe:
    def load(self, loader) -> None:
        loader.add_option("flow_probe_file", str, "", "Where to write one JSON line per flow.")

    def response(self, flow: http.HTTPFlow) -> None:
        self._write(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._write(flow)

    def _write(self, flow: http.HTTPFlow) -> None:
        if not ctx.options.flow_probe_file:
            return
        resp = flow.response
        everything = [flow.comment, flow.request.pretty_url, *flow.request.headers.values(),
                      flow.request.get_text(strict=False) or ""]
        if resp is not None:
            everything += [*resp.headers.values(), (resp.raw_content or b"").decode("latin-1")]
        line = {
            "url": flow.request.pretty_url,
            "comment": flow.comment,
            "status": resp.status_code if resp else None,
            "body": (resp.get_text(strict=False) or "") if resp else "",
            "error": flow.error.msg if flow.error else None,
            "all_text": "\n".join(everything),
        }
        with open(ctx.options.flow_probe_file, "a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")


addons = [FlowProbe(), View()]
