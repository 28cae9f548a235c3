"""The files that make the web client an installable app: the service worker
served at the site's root (so that its scope is the whole site) and the web
app manifest with its own type, both under the page's strict policy."""

from __future__ import annotations

import http.client
import json

from tests.blackbox import RunningServer


def get(server: RunningServer, path: str) -> tuple[int, bytes, http.client.HTTPResponse]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, body, response


def test_service_worker_and_manifest_are_served(server: RunningServer) -> None:
    code, body, response = get(server, "/sw.js")
    assert code == 200
    assert response.getheader("Content-Type", "").startswith("text/javascript")
    assert "script-src 'self'" in response.getheader("Content-Security-Policy", "")
    assert response.getheader("ETag")
    assert b'addEventListener("fetch"' in body
    assert get(server, "/static/sw.js")[1] == body

    code, body, response = get(server, "/static/manifest.webmanifest")
    assert code == 200
    assert response.getheader("Content-Type") == "application/manifest+json"
    manifest = json.loads(body)
    assert (manifest["start_url"], manifest["display"]) == ("/", "standalone")
    for icon in manifest["icons"]:
        code, _, response = get(server, icon["src"])
        assert code == 200
        assert response.getheader("Content-Type") == icon["type"]
    assert get(server, "/sw.js/")[0] == 404
