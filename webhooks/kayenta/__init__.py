"""The Kayenta-compatible API, for Argo Rollouts' ``kayenta`` provider and Spinnaker.

* :mod:`.api` -- the routes (``/canaryConfig``, ``/canary``, ``/credentials`` ...);
* :mod:`.models` -- Kayenta's JSON, as strict models; :mod:`.openapi` -- their document;
* :mod:`.queries` -- filling a config's PromQL templates without pasting request text;
* :mod:`.runs` -- one execution: fetch, judge with :mod:`auspice.stats.kayenta`, score;
* :mod:`.store` -- configs and executions in the service's state database.
"""
