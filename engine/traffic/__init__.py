"""The hands: cluster inventory and the routers that move traffic between versions."""
