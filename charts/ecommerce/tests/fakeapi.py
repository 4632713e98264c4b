"""A minimal Kubernetes API server on 127.0.0.1 holding a few objects, so that the Helm SDK's
cluster-aware render runs the chart's `lookup` against them: how a test sees what
`helm upgrade` does with secrets already in the cluster, without a cluster."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RESOURCES = {"secrets": "Secret", "configmaps": "ConfigMap", "namespaces": "Namespace"}


class FakeApi:
    def __init__(self, objects: list[dict]):
        self.objects = objects
        self.requests: list[str] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):  # noqa: N802
                api.requests.append(self.path)
                status, body = api.answer(self.path.split("?")[0])
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def kubeconfig(self) -> str:
        return (
            "apiVersion: v1\nkind: Config\n"
            f"clusters:\n- name: fake\n  cluster:\n    server: {self.url}\n"
            "users:\n- name: fake\n  user:\n    token: fake\n"
            "contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n"
            "current-context: fake\n"
        )

    def __enter__(self) -> "FakeApi":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, path: str) -> tuple[int, dict]:
        if path == "/version":
            return 200, {"major": "1", "minor": "30", "gitVersion": "v1.30.0"}
        if path == "/api":
            return 200, {"kind": "APIVersions", "versions": ["v1"]}
        if path == "/apis":
            return 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": []}
        if path == "/api/v1":
            return 200, {
                "kind": "APIResourceList", "groupVersion": "v1",
                "resources": [
                    {"name": name, "singularName": kind.lower(), "namespaced": name != "namespaces",
                     "kind": kind, "verbs": ["get", "list"]}
                    for name, kind in RESOURCES.items()
                ],
            }
        m = re.fullmatch(r"/api/v1/namespaces/([^/]+)/(secrets|configmaps)/([^/]+)", path)
        if m:
            ns, resource, name = m.groups()
            for o in self.objects:
                if (o["kind"] == RESOURCES[resource] and o["metadata"]["name"] == name
                        and o["metadata"].get("namespace") == ns):
                    return 200, {"apiVersion": "v1", **o}
        return 404, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                     "reason": "NotFound", "code": 404, "message": f"{path} not found"}
