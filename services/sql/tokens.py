"""The tokenizer and token cursor behind the query-parameter parsers in `services.sql.parse`.

One rule: text is split into tokens one character class at a time, left to
right; anything not recognised is a `ParseError` naming its position, never a
token the parser has to second-guess. There are no regular expressions and no
searching for operators here.
"""

from __future__ import annotations

import enum
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

__all__ = [
    "MAX_LENGTH",
    "ParseError",
    "Token",
    "TokenKind",
    "TokenStream",
    "expected",
    "is_identifier",
    "tokenize",
]

MAX_LENGTH = 10_000

_IDENT_START = frozenset(string.ascii_letters + "_")
_IDENT_CHARS = _IDENT_START | frozenset(string.digits)
_DIGITS = frozenset(string.digits)
_WHITESPACE = frozenset(" \t\n\r\f\v")
# Characters that make up comparison and logical operators; a run of them is
# read whole and must be one of _OPERATORS, so `=>` or `==` is reported as an
# unknown operator rather than silently split.
_OPERATOR_CHARS = frozenset("=!<>&|")
_OPERATORS = frozenset({"=", "!=", "<>", ">", ">=", "<", "<=", "&&", "||"})
_PUNCTUATION = frozenset("(),.*")
# What may not touch a number: `2024-01-01`, `12:30` or `10px` are text the
# caller forgot to quote, not a number followed by something else.
_NUMBER_JUNK = _IDENT_CHARS | frozenset(".:-+")
_SHOWN = 30  # characters of a token quoted in an error message

_T = TypeVar("_T")


class ParseError(ValueError):
    """A query parameter that is not well formed.

    `message` says what was wrong and where (it is also `str(error)`);
    `position` is the 0-based character offset where parsing failed, or None
    when the failure is not at one place (e.g. the text is too long).
    """

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


class TokenKind(enum.Enum):
    WORD = "word"  # identifier or keyword: [A-Za-z_][A-Za-z0-9_]*
    NUMBER = "number"  # -12, 3.5, 1e-3, .5
    STRING = "string"  # 'single' or "double" quoted; value is unescaped
    PARAM = "param"  # :name; value is the name
    LOOKUP = "lookup"  # {user.id}; value is the dotted name
    SYMBOL = "symbol"  # operators and punctuation
    END = "end"  # end of input, always the last token


@dataclass(frozen=True, slots=True)
class Token:
    """One token: `value` is its meaning (unescaped text, name, operator), `raw` the source."""

    kind: TokenKind
    value: str
    raw: str
    position: int

    def describe(self) -> str:
        """The token as an error message quotes it, e.g. `'AND'` or `end of input`."""
        if self.kind is TokenKind.END:
            return "end of input"
        shown = self.raw if len(self.raw) <= _SHOWN else self.raw[:_SHOWN] + "..."
        if self.kind is TokenKind.STRING:
            return f"string {shown}"
        return f"'{shown}'"

    def is_symbol(self, *symbols: str) -> bool:
        return self.kind is TokenKind.SYMBOL and self.value in symbols

    def is_keyword(self, *words: str) -> bool:
        """True when this is a bare word equal to one of `words` (upper case), ignoring case."""
        return self.kind is TokenKind.WORD and self.value.upper() in words


def is_identifier(text: str) -> bool:
    """True when `text` is `[A-Za-z_][A-Za-z0-9_]*`."""
    return bool(text) and text[0] in _IDENT_START and all(c in _IDENT_CHARS for c in text)


def tokenize(text: str) -> list[Token]:
    """Split `text` into tokens, ending with one END token.

    Raises ParseError for text longer than MAX_LENGTH, NUL characters or lone
    surrogates, unterminated strings or lookups, malformed numbers, unknown
    operators and stray characters.
    """
    if len(text) > MAX_LENGTH:
        raise ParseError(f"input is longer than {MAX_LENGTH} characters")
    for index, char in enumerate(text):
        # Neither can reach PostgreSQL as text (NUL is refused, a lone
        # surrogate cannot be encoded), so they fail here, not as a 500 later.
        if char == "\x00" or "\ud800" <= char <= "\udfff":
            raise ParseError(f"invalid character {char!r} at position {index}", index)
    tokens: list[Token] = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c in _WHITESPACE:
            i += 1
            continue
        nxt = _char_at(text, i + 1)
        if c in _IDENT_START:
            end = _skip(text, i, _IDENT_CHARS)
            tokens.append(Token(TokenKind.WORD, text[i:end], text[i:end], i))
        elif _starts_number(text, i):
            end = _read_number(text, i)
            tokens.append(Token(TokenKind.NUMBER, text[i:end], text[i:end], i))
        elif c in "'\"":
            end, value = _read_string(text, i)
            tokens.append(Token(TokenKind.STRING, value, text[i:end], i))
        elif c == ":":
            end = _skip(text, i + 1, _IDENT_CHARS)
            name = text[i + 1 : end]
            if not is_identifier(name):
                raise ParseError(f"expected a parameter name after ':' at position {i}", i)
            tokens.append(Token(TokenKind.PARAM, name, text[i:end], i))
        elif c == "{":
            end, name = _read_lookup(text, i)
            tokens.append(Token(TokenKind.LOOKUP, name, text[i:end], i))
        elif c == "-" and nxt == ">":
            arrow = "->>" if _char_at(text, i + 2) == ">" else "->"
            end = i + len(arrow)
            tokens.append(Token(TokenKind.SYMBOL, arrow, arrow, i))
        elif c in _OPERATOR_CHARS:
            end = _skip(text, i, _OPERATOR_CHARS)
            op = text[i:end]
            if op not in _OPERATORS:
                raise ParseError(f"unknown operator '{op}' at position {i}", i)
            tokens.append(Token(TokenKind.SYMBOL, op, op, i))
        elif c in _PUNCTUATION:
            end = i + 1
            tokens.append(Token(TokenKind.SYMBOL, c, c, i))
        elif (c, nxt) in {("-", "-"), ("/", "*")}:
            raise ParseError(f"comments ('{c}{nxt}') are not allowed at position {i}", i)
        else:
            raise ParseError(f"unexpected character {c!r} at position {i}", i)
        i = end
    tokens.append(Token(TokenKind.END, "", "", n))
    return tokens


class TokenStream:
    """A cursor over the tokens of one text, with the rules every parameter parser shares."""

    def __init__(self, text: str) -> None:
        self._tokens = tokenize(text)
        self._index = 0

    def peek(self, ahead: int = 0) -> Token:
        """The token `ahead` places on; the END token once past the end."""
        return self._tokens[min(self._index + ahead, len(self._tokens) - 1)]

    def advance(self) -> Token:
        """Return the current token and move past it (never past END)."""
        token = self.peek()
        if token.kind is not TokenKind.END:
            self._index += 1
        return token

    def expect_symbol(self, symbol: str, *, context: str) -> Token:
        """Consume `symbol` or raise ParseError saying what it was needed for."""
        token = self.peek()
        if not token.is_symbol(symbol):
            raise ParseError(
                f"expected '{symbol}' at position {token.position}, found {token.describe()} "
                f"({context})",
                token.position,
            )
        return self.advance()

    def comma_list(self, parse_item: Callable[[], _T]) -> tuple[_T, ...]:
        """`item ("," item)*` up to the end of input; empty input gives ()."""
        if self.peek().kind is TokenKind.END:
            return ()
        items = [parse_item()]
        while self.peek().is_symbol(","):
            self.advance()
            items.append(parse_item())
        token = self.peek()
        if token.kind is not TokenKind.END:
            raise expected("',' or the end of the list", token)
        return tuple(items)

    def name(self, what: str) -> str:
        """Consume an identifier; `what` names it in the error (e.g. "a column name")."""
        token = self.peek()
        if token.is_symbol("*"):
            raise ParseError(
                f"'*' at position {token.position} is only allowed as the whole list",
                token.position,
            )
        if token.kind is not TokenKind.WORD:
            raise expected(what, token)
        return self.advance().value


def expected(what: str, found: Token) -> ParseError:
    """The error for finding `found` where `what` should be."""
    return ParseError(
        f"expected {what} at position {found.position}, found {found.describe()}",
        found.position,
    )


def _char_at(text: str, i: int) -> str:
    """The character at `i`, or "" past the end (so lookahead never raises)."""
    return text[i] if i < len(text) else ""


def _skip(text: str, i: int, chars: frozenset[str]) -> int:
    """The index of the first character at or after `i` not in `chars`."""
    while i < len(text) and text[i] in chars:
        i += 1
    return i


def _starts_number(text: str, i: int) -> bool:
    if text[i] == "-":
        i += 1
    if _char_at(text, i) == ".":
        i += 1
    return _char_at(text, i) in _DIGITS


def _read_number(text: str, start: int) -> int:
    """Read `-?digits[.digits][e[+-]digits]` (or `-?.digits...`); return its end."""
    i = start + 1 if text[start] == "-" else start
    i = _skip(text, i, _DIGITS)
    if _char_at(text, i) == "." and _char_at(text, i + 1) in _DIGITS:
        i = _skip(text, i + 1, _DIGITS)
    if _char_at(text, i) in {"e", "E"}:
        j = i + 1
        if _char_at(text, j) in {"+", "-"}:
            j += 1
        if _char_at(text, j) in _DIGITS:
            i = _skip(text, j, _DIGITS)
    following = _char_at(text, i)
    if following in _NUMBER_JUNK and not (following == "-" and _char_at(text, i + 1) == ">"):
        junk = text[start : _skip(text, i, _NUMBER_JUNK)]
        raise ParseError(
            f"invalid number '{junk}' at position {start}; quote text, dates and times", start
        )
    return i


def _read_string(text: str, start: int) -> tuple[int, str]:
    """Read a string quoted with text[start]; a doubled quote stands for one. Return (end, value)."""
    quote = text[start]
    parts: list[str] = []
    i = start + 1
    while True:
        close = text.find(quote, i)
        if close == -1:
            raise ParseError(f"unterminated string starting at position {start}", start)
        parts.append(text[i:close])
        if _char_at(text, close + 1) != quote:
            return close + 1, "".join(parts)
        parts.append(quote)
        i = close + 2


def _read_lookup(text: str, start: int) -> tuple[int, str]:
    """Read `{dotted.name}`; return (end, name)."""
    end = _skip(text, start + 1, _IDENT_CHARS | {"."})
    if end >= len(text):
        raise ParseError(f"unterminated lookup starting at position {start}", start)
    name = text[start + 1 : end]
    if text[end] != "}" or not all(is_identifier(part) for part in name.split(".")):
        raise ParseError(
            f"invalid lookup at position {start}; lookups are dotted names such as {{user.id}}",
            start,
        )
    return end + 1, name
