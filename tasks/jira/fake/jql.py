"""A small JQL lexer and parser (no evaluation; see ``jql_eval.py``).

Supported grammar - enough for agents' queries and, crucially, faithful string quoting::

    query   := [or] [ORDER BY field [ASC|DESC] {, field [ASC|DESC]}]
    or      := and {OR and}
    and     := not {AND not}
    not     := NOT not | "(" or ")" | clause
    clause  := field op value | field [NOT] IN "(" value {, value} ")" | field IS [NOT] EMPTY
    op      := = | != | ~ | !~ | > | >= | < | <=
    value   := "quoted" | 'quoted' | word | word "(" ")" | EMPTY | NULL

Quoted strings honour backslash escapes, so ``"x\\" OR project = Y"`` is one literal value and
can never change the query's structure. Errors read like Jira's ("Error in the JQL Query: ...").
"""

from __future__ import annotations

from dataclasses import dataclass, field

KEYWORDS = {"and", "or", "not", "in", "is", "empty", "null", "order", "by", "asc", "desc"}
OPERATORS = ("!=", "!~", ">=", "<=", "=", "~", ">", "<")
ESCAPES = {'"': '"', "'": "'", "\\": "\\", "n": "\n", "t": "\t", "r": "\r", " ": " "}
SPECIAL = set(" \t\r\n()\",'=!~<>")


class JqlError(ValueError):
    """Invalid JQL; ``str(err)`` is the full Jira-style message."""


@dataclass(frozen=True)
class Token:
    kind: str  # "word" | "string" | "op" | "punct" | "end"
    text: str
    pos: int

    def keyword(self, *names: str) -> bool:
        return self.kind == "word" and self.text.lower() in names


@dataclass(frozen=True)
class Value:
    kind: str  # "literal" | "func" | "empty"
    text: str = ""


@dataclass
class Clause:
    field: str
    op: str  # "=", "!=", "~", "!~", ">", ">=", "<", "<=", "in", "not in", "is", "is not"
    values: list[Value]


@dataclass
class BoolOp:
    op: str  # "and" | "or" | "not"
    children: list[Node]


Node = Clause | BoolOp


@dataclass
class Query:
    where: Node | None
    order: list[tuple[str, bool]] = field(default_factory=list)  # (field, descending)


def _error(detail: str, pos: int | None = None) -> JqlError:
    where = f" (line 1, character {pos + 1})" if pos is not None else ""
    return JqlError(f"Error in the JQL Query: {detail}{where}")


def tokenize(text: str) -> list[Token]:
    """Split JQL into tokens; quoted strings are unescaped here."""
    tokens, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in "(),":
            tokens.append(Token("punct", ch, i))
            i += 1
        elif ch in "\"'":
            value, end = _read_string(text, i)
            tokens.append(Token("string", value, i))
            i = end
        elif op := next((o for o in OPERATORS if text.startswith(o, i)), None):
            tokens.append(Token("op", op, i))
            i += len(op)
        elif ch == "!":
            raise _error(f"The character '{ch}' is a reserved JQL character.", i)
        else:
            start = i
            while i < len(text) and text[i] not in SPECIAL:
                i += 1
            tokens.append(Token("word", text[start:i], start))
    tokens.append(Token("end", "", len(text)))
    return tokens


def _read_string(text: str, start: int) -> tuple[str, int]:
    quote, out, i = text[start], [], start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            nxt = text[i + 1 : i + 2]
            if nxt not in ESCAPES:
                raise _error(f"'\\{nxt}' is an illegal JQL escape sequence.", i)
            out.append(ESCAPES[nxt])
            i += 2
        elif ch == quote:
            return "".join(out), i + 1
        else:
            out.append(ch)
            i += 1
    raise _error(f"The quoted string '{''.join(out)}' has not been completed.", start)


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens, self.i = tokenize(text), 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def expect_punct(self, ch: str) -> None:
        if self.tok.kind != "punct" or self.tok.text != ch:
            raise _error(f"Expecting '{ch}' but got '{self.tok.text or '<EOF>'}'.", self.tok.pos)
        self.take()

    def query(self) -> Query:
        where = None
        if self.tok.kind != "end" and not self.tok.keyword("order"):
            where = self.or_expr()
        order = self.order_by() if self.tok.keyword("order") else []
        if self.tok.kind != "end":
            raise _error(f"Expecting either 'OR' or 'AND' but got '{self.tok.text}'.", self.tok.pos)
        return Query(where, order)

    def order_by(self) -> list[tuple[str, bool]]:
        self.take()
        if not self.tok.keyword("by"):
            raise _error(f"Expecting 'by' but got '{self.tok.text or '<EOF>'}'.", self.tok.pos)
        self.take()
        order = []
        while True:
            name = self.take()
            if name.kind not in ("word", "string"):
                raise _error(f"Expecting a field name but got '{name.text or '<EOF>'}'.", name.pos)
            desc = False
            if self.tok.keyword("asc", "desc"):
                desc = self.take().text.lower() == "desc"
            order.append((name.text, desc))
            if not (self.tok.kind == "punct" and self.tok.text == ","):
                return order
            self.take()

    def or_expr(self) -> Node:
        children = [self.and_expr()]
        while self.tok.keyword("or"):
            self.take()
            children.append(self.and_expr())
        return children[0] if len(children) == 1 else BoolOp("or", children)

    def and_expr(self) -> Node:
        children = [self.not_expr()]
        while self.tok.keyword("and"):
            self.take()
            children.append(self.not_expr())
        return children[0] if len(children) == 1 else BoolOp("and", children)

    def not_expr(self) -> Node:
        if self.tok.keyword("not"):
            self.take()
            return BoolOp("not", [self.not_expr()])
        if self.tok.kind == "punct" and self.tok.text == "(":
            self.take()
            node = self.or_expr()
            self.expect_punct(")")
            return node
        return self.clause()

    def clause(self) -> Clause:
        name = self.take()
        reserved = name.kind == "word" and name.text.lower() in KEYWORDS
        if name.kind not in ("word", "string") or reserved:
            raise _error(f"Expecting a field name but got '{name.text or '<EOF>'}'.", name.pos)
        op_tok = self.take()
        if op_tok.kind == "op":
            return Clause(name.text, op_tok.text, [self.value()])
        if op_tok.keyword("in"):
            return Clause(name.text, "in", self.value_list())
        if op_tok.keyword("not") and self.tok.keyword("in"):
            self.take()
            return Clause(name.text, "not in", self.value_list())
        if op_tok.keyword("is"):
            op = "is"
            if self.tok.keyword("not"):
                self.take()
                op = "is not"
            if not self.tok.keyword("empty", "null"):
                raise _error(
                    f"Expecting 'EMPTY' but got '{self.tok.text or '<EOF>'}'.", self.tok.pos
                )
            self.take()
            return Clause(name.text, op, [Value("empty")])
        raise _error(f"Expecting operator but got '{op_tok.text or '<EOF>'}'.", op_tok.pos)

    def value_list(self) -> list[Value]:
        self.expect_punct("(")
        values = [self.value()]
        while self.tok.kind == "punct" and self.tok.text == ",":
            self.take()
            values.append(self.value())
        self.expect_punct(")")
        return values

    def value(self) -> Value:
        tok = self.take()
        if tok.kind == "string":
            return Value("literal", tok.text)
        if tok.kind != "word" or tok.keyword("and", "or", "not", "order", "in", "is"):
            raise _error(
                f"Expecting either a value, list or function but got '{tok.text or '<EOF>'}'.",
                tok.pos,
            )
        if tok.keyword("empty", "null"):
            return Value("empty")
        if self.tok.kind == "punct" and self.tok.text == "(":
            self.take()
            self.expect_punct(")")
            return Value("func", tok.text)
        return Value("literal", tok.text)


def parse(text: str) -> Query:
    """Parse a JQL string into a :class:`Query` (raises :class:`JqlError`)."""
    return _Parser(text).query()
