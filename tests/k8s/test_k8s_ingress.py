"""The webserver's Ingress in the official Dagster chart's shape (`ingress.dagsterWebserver`): off
by default, and when on it routes to the webserver's Service port, validates against Kubernetes
1.32, and refuses TLS without a Secret or a host."""

from __future__ import annotations

import json

import pytest

ON = ["ingress.enabled=true"]


@pytest.mark.parametrize("kind", [False, True], ids=["prod", "kind"])
def test_no_ingress_by_default(render, kind: bool) -> None:
    assert not render.render_platform(kind=kind).all("Ingress")


def test_routes_to_the_webserver_service(render, k8s_validate) -> None:
    r = render.render_platform(sets=[*ON, "ingress.ingressClassName=nginx", "dagsterWebserver.service.port=8080"])
    ingress = r.one("Ingress")
    k8s_validate(ingress)
    assert ingress["spec"]["ingressClassName"] == "nginx"
    (rule,) = ingress["spec"]["rules"]
    assert "host" not in rule and "tls" not in ingress["spec"]
    (path,) = rule["http"]["paths"]
    svc = r.get("Service", "platform-webserver")
    assert path["backend"]["service"] == {"name": svc["metadata"]["name"], "port": {"number": 8080}}
    assert svc["spec"]["ports"][0]["port"] == 8080
    assert (path["path"], path["pathType"]) == ("/", "Prefix")


def test_path_follows_the_webservers_prefix(render) -> None:
    r = render.render_platform(sets=[*ON, "dagsterWebserver.pathPrefix=/dagster"])
    (path,) = r.one("Ingress")["spec"]["rules"][0]["http"]["paths"]
    assert path["path"] == "/dagster"
    r = render.render_platform(sets=[*ON, "dagsterWebserver.pathPrefix=/dagster", "ingress.dagsterWebserver.path=/ui"])
    (path,) = r.one("Ingress")["spec"]["rules"][0]["http"]["paths"]
    assert path["path"] == "/ui"


def test_tls_host_and_extra_paths_in_the_official_shape(render, k8s_validate) -> None:
    extra = [{"path": "/v1", "pathType": "Prefix", "serviceName": "platform-webhook", "servicePort": 8080}]
    after = [
        {"path": "/metrics", "pathType": "Exact", "serviceName": "platform-cost-exporter", "servicePort": "metrics"}
    ]
    r = render.render_platform(
        sets=[
            *ON,
            "ingress.dagsterWebserver.host=dagster.example.com",
            "ingress.dagsterWebserver.tls.enabled=true",
            "ingress.dagsterWebserver.tls.secretName=dagster-tls",
            f"json:ingress.dagsterWebserver.precedingPaths={json.dumps(extra)}",
            f"json:ingress.dagsterWebserver.succeedingPaths={json.dumps(after)}",
            'json:ingress.annotations={"nginx.ingress.kubernetes.io/proxy-read-timeout": "300"}',
        ]
    )
    ingress = r.one("Ingress")
    k8s_validate(ingress)
    assert ingress["metadata"]["annotations"] == {"nginx.ingress.kubernetes.io/proxy-read-timeout": "300"}
    assert ingress["spec"]["tls"] == [{"hosts": ["dagster.example.com"], "secretName": "dagster-tls"}]
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "dagster.example.com"
    paths = [
        (p["path"], p["backend"]["service"]["name"], p["backend"]["service"]["port"]) for p in rule["http"]["paths"]
    ]
    assert paths == [
        ("/v1", "platform-webhook", {"number": 8080}),
        ("/", "platform-webserver", {"number": 80}),
        ("/metrics", "platform-cost-exporter", {"name": "metrics"}),
    ]


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["ingress.dagsterWebserver.host=d.example.com", "ingress.dagsterWebserver.tls.enabled=true"], "secretName"),
        (["ingress.dagsterWebserver.tls.enabled=true", "ingress.dagsterWebserver.tls.secretName=t"], "host"),
        (["ingress.dagsterWebserver.pathType=Prefixed"], "pathType"),
    ],
)
def test_incomplete_ingress_is_refused(render, sets: list[str], message: str) -> None:
    with pytest.raises(render.HelmError) as err:
        render.render_platform(sets=[*ON, *sets])
    assert message in err.value.stderr
