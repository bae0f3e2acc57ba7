"""The value sets every deployment test renders: each a way a platform team installs."""

from __future__ import annotations

from typing import Any

JUDGE_TOKEN = "judge-token-0123456789abcdef"
VIEWER_TOKEN = "viewer-token-0123456789abcdef"
CALLERS = [
    {"name": "argo-rollouts", "role": "judge", "token": JUDGE_TOKEN},
    {"name": "dashboards", "role": "viewer", "token": VIEWER_TOKEN},
]

ERRORS_TEMPLATE = """\
apiVersion: auspice.dev/v1alpha1
kind: AnalysisTemplate
metadata:
  name: checkout-errors
spec:
  interval: 1m
  metrics:
    - name: errors
      kind: counts
      tolerance: 1.5
      events: sum(increase(errors_total{version="{{version}}"}[1m]))
      total: sum(increase(requests_total{version="{{version}}"}[1m]))
"""

#: The hub chart (charts/auspice).
HUB: dict[str, dict[str, Any]] = {
    # the Secret auspice-tokens is created by hand (docs/deploy.md, step 2)
    "defaults": {},
    "callers": {"tokens": {"callers": CALLERS}},
    "existing-secret": {"tokens": {"existingSecret": "team-tokens", "key": "callers.yaml"}},
    "service-monitor": {"tokens": {"callers": CALLERS},
                        "serviceMonitor": {"enabled": True, "labels": {"release": "kube-prom"}}},
    "ha": {"replicaCount": 3, "tokens": {"callers": CALLERS},
           "state": {"url": "postgresql://auspice:s3cret@postgres.db.svc:5432/auspice"}},
    "ha-existing-secret": {"replicaCount": 2, "state": {"existingSecret": {"name": "pg",
                                                                           "key": "dsn"}}},
    "rollouts-argocd": {
        "tokens": {"callers": CALLERS},
        "rollouts": {"enabled": True,
                     "clusters": {"argocd": {"enabled": True, "namespace": "argocd"}},
                     "git": {"auth": "token", "existingSecret": "git-token"}},
    },
    # the hub's own API for tokens and spokes, HTTPS, extra templates, git over HTTPS
    "rollouts-api": {
        "tokens": {"readThroughApi": True},
        "templates": {"checkout-errors": ERRORS_TEMPLATE},
        "tls": {"existingSecret": "auspice-tls"},
        "rollouts": {"enabled": True, "clusters": {"argocd": {"enabled": True}},
                     "git": {"auth": "token", "existingSecret": "git-token"}},
    },
    "rollouts-everything": {
        "tokens": {"readThroughApi": True},
        "tls": {"existingSecret": "auspice-tls"},
        "templates": {"checkout-errors": ERRORS_TEMPLATE},
        "leaderElection": {"enabled": True},
        "rollouts": {
            "enabled": True,
            "clusters": {
                "argocd": {"enabled": True},
                "kubeconfig": {"existingSecret": "spokes-kubeconfig",
                               "contexts": {"prod-eu-1": {"labels": {"env": "prod"}},
                                            "gke_prod_us": {"name": "prod-us-1",
                                                            "labels": {"env": "prod"}}}},
                "inCluster": {"enabled": True, "labels": {"env": "mgmt"}},
            },
            "git": {"auth": "ssh", "existingSecret": "git-ssh"},
            "nudge": [{"apiGroup": "argoproj.io", "resource": "applications",
                       "namespace": "argocd", "names": ["shop"]}],
        },
        "serviceMonitor": {"enabled": True, "tlsConfig": {"insecureSkipVerify": True}},
        "networkPolicy": {"egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}],
                                      "ports": [{"port": 443, "protocol": "TCP"},
                                                {"port": 6443, "protocol": "TCP"}]}]},
    },
}

#: The spoke chart (charts/auspice-spoke).
SPOKE: dict[str, dict[str, Any]] = {
    "defaults": {},
    "two-namespaces": {"targets": [{"namespace": "shop", "virtualServices": ["checkout"]},
                                   {"namespace": "payments"}]},
    "bind-the-hub-account": {
        "serviceAccount": {"create": False, "name": "auspice", "namespace": "auspice-system"},
        "token": {"create": False},
        "targets": [{"namespace": "shop"}],
    },
}
