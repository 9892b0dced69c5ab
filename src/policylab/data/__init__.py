"""Data layer: the Panel, readers, transforms, reference tables and synthetic studies."""

from policylab.data.panel import Panel
from policylab.data.readers import read

__all__ = ["Panel", "read"]
