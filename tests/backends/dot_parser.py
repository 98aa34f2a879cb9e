"""A small DOT parser for tests: enough of the grammar to read back what the diagram renderer writes.

``parse_dot(text)`` returns a :class:`DotGraph` tree: graph attributes, node
statements (attributes merged per node), edges and nested subgraphs. Quoted
strings are unescaped; HTML-like labels keep their ``<...>`` markup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_TOKEN = re.compile(r"""
    (?P<ws>\s+|//[^\n]*|/\*.*?\*/|\#[^\n]*(?=\n))
  | (?P<arrow>->|--)
  | (?P<punct>[{}\[\];,=:])
  | (?P<quoted>"(?:\\.|[^"\\])*")
  | (?P<html><)
  | (?P<id>[A-Za-z0-9_.\-\u0080-\uffff]+)
""", re.S | re.X)


@dataclass
class Token:
    kind: str  # id (also quoted and html text), punct, arrow
    text: str
    html: bool = False


@dataclass
class DotGraph:
    name: str | None
    kind: str = "digraph"
    attrs: dict = field(default_factory=dict)  # graph attributes of this (sub)graph
    node_defaults: dict = field(default_factory=dict)
    edge_defaults: dict = field(default_factory=dict)
    nodes: dict = field(default_factory=dict)  # id -> attributes (declared directly in this graph)
    edges: list = field(default_factory=list)  # (tail, head, attributes) declared in this graph
    subgraphs: list = field(default_factory=list)

    def walk(self):
        yield self
        for sub in self.subgraphs:
            yield from sub.walk()

    def all_nodes(self) -> dict:
        result = {}
        for graph in self.walk():
            for name, attrs in graph.nodes.items():
                result.setdefault(name, {}).update(attrs)
        return result

    def all_edges(self) -> list:
        return [edge for graph in self.walk() for edge in graph.edges]

    def subgraph(self, name: str) -> "DotGraph":
        for graph in self.walk():
            if graph.name == name:
                return graph
        raise KeyError(name)

    def containing(self, node: str) -> list["DotGraph"]:
        """The chain of (sub)graphs from the root to the one that declares ``node``."""
        def search(graph, chain):
            chain = chain + [graph]
            if node in graph.nodes:
                return chain
            for sub in graph.subgraphs:
                found = search(sub, chain)
                if found:
                    return found
            return None

        return search(self, []) or []


def tokenize(text: str) -> list[Token]:
    tokens, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            raise ValueError(f"Cannot read DOT at {text[pos:pos + 40]!r}")
        kind = match.lastgroup
        if kind == "html":
            depth, end = 0, pos
            while True:
                ch = text[end]
                depth += ch == "<"
                depth -= ch == ">"
                end += 1
                if depth == 0:
                    break
            tokens.append(Token("id", text[pos:end], html=True))
            pos = end
            continue
        pos = match.end()
        if kind == "ws":
            continue
        value = match.group()
        if kind == "quoted":
            tokens.append(Token("id", re.sub(r'\\(["\\])', r"\1", value[1:-1])))
        elif kind == "id":
            tokens.append(Token("id", value))
        else:
            tokens.append(Token(kind, value))
    return tokens


class _Parser:
    def __init__(self, tokens):
        self.tokens = tokens
        self.pos = 0

    def peek(self, offset=0):
        index = self.pos + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def take(self, text=None):
        token = self.tokens[self.pos]
        if text is not None and token.text != text:
            raise ValueError(f"Expected {text!r}, got {token.text!r}")
        self.pos += 1
        return token

    def graph(self) -> DotGraph:
        if self.peek().text == "strict":
            self.take()
        kind = self.take().text
        name = None
        if self.peek().text != "{":
            name = self.take().text
        result = DotGraph(name, kind)
        self.body(result)
        return result

    def body(self, graph: DotGraph):
        self.take("{")
        while self.peek().text != "}":
            self.statement(graph)
            if self.peek().text in (";", ","):
                self.take()
        self.take("}")

    def attributes(self) -> dict:
        attrs = {}
        while self.peek() is not None and self.peek().text == "[":
            self.take("[")
            while self.peek().text != "]":
                key = self.take().text
                self.take("=")
                token = self.take()
                attrs[key] = token.text
                if self.peek().text in (",", ";"):
                    self.take()
            self.take("]")
        return attrs

    def statement(self, graph: DotGraph):
        token = self.peek()
        if token.kind == "id" and token.text in ("graph", "node", "edge") and not token.html \
                and self.peek(1).text == "[":
            self.take()
            target = {"graph": graph.attrs, "node": graph.node_defaults, "edge": graph.edge_defaults}[token.text]
            target.update(self.attributes())
            return
        if token.text in ("subgraph", "{"):
            name = None
            if token.text == "subgraph":
                self.take()
                if self.peek().text != "{":
                    name = self.take().text
            sub = DotGraph(name, "subgraph")
            self.body(sub)
            graph.subgraphs.append(sub)
            return
        if self.peek(1) is not None and self.peek(1).text == "=":
            key = self.take().text
            self.take("=")
            graph.attrs[key] = self.take().text
            return
        chain = [self.take().text]
        while self.peek() is not None and self.peek().kind == "arrow":
            self.take()
            chain.append(self.take().text)
        attrs = self.attributes()
        if len(chain) == 1:
            graph.nodes.setdefault(chain[0], {}).update(attrs)
        else:
            for tail, head in zip(chain, chain[1:]):
                graph.edges.append((tail, head, dict(attrs)))


def parse_dot(text: str) -> DotGraph:
    return _Parser(tokenize(text)).graph()
