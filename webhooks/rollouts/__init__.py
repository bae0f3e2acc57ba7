"""The rollouts API: :mod:`.api` (start, read, approve, abort, events) over the
orchestrator that :mod:`.service` builds from the serve configuration."""
