"""Where the numbers come from: Prometheus/Thanos, safe PromQL rendering, simulation."""
