"""The HTTP face of Auspice: analysis webhooks and the control API (aiohttp)."""
