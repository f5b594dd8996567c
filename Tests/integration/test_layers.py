"""The targets keep the layers of docs/architecture.md: what the package manifest declares and
what each source file imports. The compiler holds a target to its declared dependencies; these
tests hold the declarations to the architecture, so that a dependency added for convenience
(the core importing Hummingbird, a sink importing the server) fails here with the reason."""
import glob
import json
import os
import re
import subprocess

from conftest import ROOT

ADAPTERS = ["SourcesFile", "SourcesUSB", "SourcesRTSP", "SourcesHTTP", "Sinks", "StorageSQLite"]
SERVER_ONLY = {"Hummingbird", "HummingbirdCore", "HummingbirdAuth", "HummingbirdBcrypt", "HummingbirdWebSocket",
               "JWTKit", "Prometheus", "WSCore", "NIOWebSocket", "SocketIO", "Gateway"}


def manifest():
    described = subprocess.run(["swift", "package", "describe", "--type", "json"], cwd=ROOT, capture_output=True, text=True,
                               timeout=300)
    assert described.returncode == 0, described.stderr
    targets = json.loads(described.stdout)["targets"]
    return {t["name"]: (set(t.get("target_dependencies") or []), set(t.get("product_dependencies") or []), t["path"])
            for t in targets}


def imports(path):
    found = set()
    for file in glob.glob(os.path.join(ROOT, path, "**", "*.swift"), recursive=True):
        for match in re.finditer(r"^(?:@\w+ )*import (\w+)", open(file).read(), re.M):
            found.add((match.group(1), os.path.relpath(file, ROOT)))
    return found


def test_the_core_has_no_http_jwt_or_socketio():
    targets = manifest()
    own, products, path = targets["GatewayCore"]
    assert own <= {"CFFmpeg", "JSON"}, own
    assert not products & SERVER_ONLY, products & SERVER_ONLY
    bad = sorted((module, file) for module, file in imports(path) if module in SERVER_ONLY)
    assert not bad, f"the core imports the server's modules: {bad}"


def test_adapters_import_the_core_only():
    targets = manifest()
    for name in ADAPTERS:
        own, products, path = targets[name]
        assert "GatewayCore" in own, name
        assert not own & ({"Gateway", "SocketIO"} | set(ADAPTERS)), f"{name} depends on {own}"
        assert not products & SERVER_ONLY, f"{name} depends on {products & SERVER_ONLY}"
        bad = sorted((module, file) for module, file in imports(path) if module in SERVER_ONLY)
        assert not bad, f"{name} imports the server's modules: {bad}"


def test_socketio_is_the_protocol_alone_and_the_conformance_server_links_only_it():
    targets = manifest()
    own, products, _ = targets["SocketIO"]
    assert own == {"JSON"}, own
    assert not products & {"JWTKit", "Prometheus", "HummingbirdAuth", "HummingbirdBcrypt"}, products
    conformance, _, path = targets["SocketIOConformanceServer"]
    assert not conformance & {"Gateway", "GatewayCore"}, conformance
    assert not {m for m, _ in imports(path)} & {"Gateway", "GatewayCore"}


def test_only_the_server_maps_the_domain_error_to_http():
    # APIError (an HTTP status and headers) exists in the server's HTTP folder and nowhere else.
    def code(file):
        return "\n".join(line for line in open(file) if not line.lstrip().startswith("//"))
    users = sorted(file for file in glob.glob(os.path.join(ROOT, "Sources", "**", "*.swift"), recursive=True)
                   if re.search(r"\bAPIError\b", code(file)))
    outside = [os.path.relpath(f, ROOT) for f in users if "/Sources/Gateway/HTTP/" not in f
               and not f.endswith("LiveWebSocketEndpoint.swift")]
    assert not outside, f"APIError outside the HTTP mapping: {outside}"
