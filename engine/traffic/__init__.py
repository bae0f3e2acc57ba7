"""The hands: cluster inventory and the routers that move traffic between versions.

- :mod:`.clusters`: which clusters exist (kubeconfig + labels file, Argo CD cluster
  Secrets, in-cluster), their labels, and one lazily created ``kubernetes.aio`` client
  per cluster.
- :mod:`.selectors`: Kubernetes label selectors that pick the clusters of a wave.
- :mod:`.router`: the small ``TrafficRouter`` Protocol (get / set / verify weights),
  the ``Weights`` value and drift events; callers depend on nothing else.
- :mod:`.istio`: the Istio VirtualService router (guarded JSON patch, 409 retry,
  read-back verify, drift). :mod:`.simulated`: the in-memory router of the demo.
- :mod:`.fanout`: one weight change in many clusters at once, one result per cluster.
- :mod:`.kube`: client errors turned into messages that name the cluster.

docs/traffic.md says how to configure clusters, RBAC and Argo CD / Flux.
"""
