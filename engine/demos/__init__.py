"""The stories ``auspice demo`` tells, on a virtual clock and a simulated world.

* :mod:`.rollout` -- five clusters, three waves, a healthy release promoted and a regressed
  one rolled back and reverted, by the real orchestrator;
* :mod:`.judges` -- one canary judged look by look by three judges.

They return what happened; :mod:`auspice.cli.demo` shows it.
"""
