"""Starting the service: its configuration file, its callers, TLS, the CLI hook."""

from __future__ import annotations

import argparse
import asyncio
import base64
import ssl
import subprocess
from pathlib import Path

import aiohttp
import pytest
import yaml
from support.kube import kube_api_servers
from support.prometheus import free_port
from support.service import TOKENS

from auspice.cli import serve as serve_command
from auspice.errors import ConfigError
from auspice.specs import SpecError
from auspice.specs.serve import ServeConfig, load_config
from auspice.webhooks.auth import Role
from auspice.webhooks.serve import load_tokens, serve


def tokens_document() -> dict:
    return {"tokens": [{"name": "argo", "role": "judge", "token": TOKENS["judge"]}]}


def test_config_file_typos_are_placed(tmp_path: Path) -> None:
    path = tmp_path / "serve.yaml"
    path.write_text("prometheus:\n  url: http://thanos:9090\n  timout: 5s\nlimits:\n"
                    "  lookDeadline: 8\n")
    with pytest.raises(SpecError) as error:
        load_config(path)
    text = str(error.value)
    assert "serve.yaml:3" in text and "timout" in text and "timeout" in text
    assert "serve.yaml:5" in text and "bare number" in text


def test_the_example_configuration_loads() -> None:
    examples = Path(__file__).resolve().parents[2] / "examples"
    config = load_config(examples / "serve.yaml")
    assert config.cache.ttl == 15.0 and config.limits.look_deadline == 8.0
    assert config.auth.tokens_file == Path("/etc/auspice/tokens/tokens.yaml")


async def test_no_callers_is_refused_anonymous_must_be_asked_for(tmp_path: Path) -> None:
    config = ServeConfig.model_validate({"prometheus": {"url": "http://p:9090"}})
    with pytest.raises(ConfigError, match="no callers are configured"):
        await load_tokens(config)
    config = ServeConfig.model_validate({"prometheus": {"url": "http://p:9090"},
                                         "auth": {"allowAnonymous": "viewer"}})
    assert (await load_tokens(config)).anonymous is Role.VIEWER


async def test_tokens_from_a_kubernetes_secret(tmp_path: Path) -> None:
    async with kube_api_servers(1) as servers:
        server = servers[0]
        server.seed({"apiVersion": "v1", "kind": "Secret",
                     "metadata": {"name": "auspice-tokens", "namespace": "auspice"},
                     "data": {"tokens.yaml": base64.b64encode(
                         yaml.safe_dump(tokens_document()).encode()).decode()}})
        cluster, user, context = server.kubeconfig_entry()
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "clusters": [cluster], "users": [user],
            "contexts": [context], "current-context": context["name"]}))

        def config(**secret: str) -> ServeConfig:
            return ServeConfig.model_validate({"prometheus": {"url": "http://p:9090"}, "auth": {
                "kubernetesSecret": {"namespace": "auspice", "name": "auspice-tokens",
                                     "kubeconfig": str(kubeconfig), **secret}}})

        auth = await load_tokens(config())
        principal = auth.authenticate(TOKENS["judge"])
        assert principal is not None and principal.name == "argo"
        with pytest.raises(ConfigError, match="has no key 'other'"):
            await load_tokens(config(key="other"))
        with pytest.raises(ConfigError, match="HTTP 404"):
            await load_tokens(config(name="missing"))


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True,
                   timeout=60)
    return cert, key


async def test_serves_https_when_given_a_certificate(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(yaml.safe_dump(tokens_document()))
    port = free_port()
    config = ServeConfig.model_validate({
        "listen": {"host": "127.0.0.1", "port": port},
        "tls": {"certFile": str(cert), "keyFile": str(key)},
        "prometheus": {"url": "http://127.0.0.1:9"},
        "store": {"path": str(tmp_path / "state.db")},
        "auth": {"tokensFile": str(tokens)}})
    stop = asyncio.Event()
    running = asyncio.create_task(serve(config, stop=stop))
    trust = ssl.create_default_context(cafile=str(cert))
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(100):
                try:
                    async with session.get(f"https://127.0.0.1:{port}/healthz", ssl=trust) as r:
                        assert r.status == 200
                        break
                except aiohttp.ClientConnectorError:
                    await asyncio.sleep(0.05)
            else:
                raise AssertionError("no HTTPS answer")
            with pytest.raises(aiohttp.ClientError):
                async with session.get(f"http://127.0.0.1:{port}/healthz") as r:
                    await r.read()
    finally:
        stop.set()
        await asyncio.wait_for(running, 30)


def test_the_serve_command_registers_auspice_serve() -> None:
    parser = argparse.ArgumentParser(prog="auspice")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_command.add_parser(commands, "serve")
    args = parser.parse_args(["serve", "--config", "serve.yaml"])
    assert args.config == "serve.yaml" and callable(args.handler)
    with pytest.raises(SystemExit):
        parser.parse_args(["serve"])


GOOD_TEMPLATE = """\
apiVersion: auspice.dev/v1alpha1
kind: AnalysisTemplate
metadata:
  name: mine
spec:
  metrics:
    - name: cpu
      kind: gauge
      tolerance: 1.5
      query: sum(rate(cpu_seconds_total{version="{{version}}"}[1m]))
"""


def test_a_broken_template_directory_edit_keeps_the_last_good_templates(tmp_path: Path) -> None:
    import os

    from auspice.analysis.templates import TemplateDirectoryError, TemplateResolver

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "bad.yaml").write_text(GOOD_TEMPLATE.replace("gauge", "gauges"))
    with pytest.raises(TemplateDirectoryError, match=r"bad\.yaml:8"):
        TemplateResolver(broken).names()

    good = tmp_path / "good"
    good.mkdir()
    (good / "mine.yaml").write_text(GOOD_TEMPLATE)
    resolver = TemplateResolver(good)
    assert resolver.get("mine").name == "mine"
    (good / "mine.yaml").write_text(GOOD_TEMPLATE.replace("tolerance: 1.5", "tolerance: -1"))
    os.utime(good / "mine.yaml", (1, 1))  # a different signature even within one mtime tick
    assert resolver.get("mine").spec.metrics[0].tolerance == 1.5
    (good / "mine.yaml").write_text(GOOD_TEMPLATE.replace("tolerance: 1.5", "tolerance: 2.5"))
    assert resolver.get("mine").spec.metrics[0].tolerance == 2.5
    assert "istio" in resolver.names()  # the library is still there
