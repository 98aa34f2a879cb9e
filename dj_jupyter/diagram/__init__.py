"""Schema diagrams: the model and algebra (graph.py) and the renderers (render.py). No Jupyter imports."""

from .graph import Diagram, NodeStatus

__all__ = ["Diagram", "NodeStatus"]
