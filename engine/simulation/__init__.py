"""Simulated worlds: what production has, without any server, for demos, tests and benchmarks.

* :mod:`.router` -- an in-memory traffic router with the Istio router's drift rules;
* :mod:`.world` -- a world whose Istio-shaped counts follow the weights the orchestrator
  sets (``auspice demo``, the orchestrator's tests);
* :mod:`.synthetic` -- a canary and baseline service with errors, latency histograms and
  CPU (the judges' demo).
"""
