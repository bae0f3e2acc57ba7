"""The judgement webhooks: Argo Rollouts' ``web`` provider and Flagger's webhooks.

Both are one look of a durable judgement per call (:mod:`.judging`), answered in each
caller's own terms: :mod:`.rest` for Argo (always 200 with the verdict), :mod:`.flagger`
for Flagger (the status code is the decision). :mod:`.memo` keeps what a repeated call
can be answered with.
"""
