"""Schema diagrams: the dependency graph (graph.py), the diagram algebra (diagram.py), the status
overlay (status.py) and the renderers (render.py). No Jupyter imports."""

from .diagram import Diagram
from .status import NodeStatus

__all__ = ["Diagram", "NodeStatus"]
