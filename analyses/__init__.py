"""The library of ready analysis templates, shipped as package data (``*.yaml``)."""
