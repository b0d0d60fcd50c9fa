"""Safe expressions and scripts for gateway conditions and script tasks.

BPMN files are data written by process designers, so ticketflow never runs their
text with Python's ``eval``/``exec``. Every condition and script is checked
against a small language when a definition is deployed, and evaluated by a
restricted evaluator (built on ``simpleeval``) at run time.

Expressions
-----------
A subset of Python expressions:

- literals: strings, integers, floats, ``True``/``False``/``None`` and the
  aliases ``true``/``false``/``null`` (these aliases always win over ticket data
  with the same name); list, tuple, set and dict displays (no ``*``/``**``
  unpacking); f-strings without conversions (``!r``) or format specs (``:>10``);
- names of ticket data (names starting with ``_`` are refused);
- comparison: ``== != < <= > >= in not in is is not``;
- boolean logic: ``and or not``; conditional expressions ``a if c else b``;
- arithmetic: ``+ - * / // %`` and unary ``-``/``+``; ``**``, bitwise operators
  and ``%`` string formatting are not available;
- subscripts and slices: ``x['key']``, ``x[0]``, ``x[1:3]``;
- calls to these functions only: ``len min max abs round int float str bool sum
  any all sorted`` (keyword arguments such as ``reverse=True`` are allowed);
- method calls on strings: ``lower upper strip startswith endswith``, and on
  dicts: ``get``. Any other attribute access (``x.y``) is refused.

Everything else is refused, including lambdas, comprehensions and generator
expressions, ``:=``, ``await``/``yield``, imports and calls to any other function
(``open``, ``eval``, ``getattr``, ``__import__`` ...).

Scripts
-------
A script task holds lines that are blank, ``# comments`` or single assignments
``name = <expression>``; ``name += <expression>`` (also ``-=`` and ``*=``) is
short for ``name = name + <expression>``. The assigned name is a plain
identifier that does not start with ``_`` and is not ``true``/``false``/``null``.
Nothing else is accepted (no ``if``, ``for``, ``while``, ``def``, ``import``,
bare expressions or ``pass``). Lines run in order and later lines see earlier
assignments. A script is all-or-nothing: the ticket data is only updated once
every line has succeeded. Common indentation (from BPMN XML) is ignored.

Limits
------
- expression and script text: at most 10,000 characters, nesting at most 100 deep;
- strings, lists, tuples and dicts built by an expression: at most 100,000
  characters/items in total (so ``'a' * 10**10`` cannot exhaust memory), nested
  at most 100 deep;
- integer products: at most 10,000 bits; ``round`` accepts at most 100 digits;
- sizing the values built by one evaluation or one script run may inspect at
  most 2,000,000 items in total, which bounds its run time.

Errors
------
Every problem raises :class:`ExpressionError`: unsafe or malformed text when a
definition is deployed (:func:`check_expression`, :func:`check_script`), and at
run time a reference to a name the ticket data does not have, or a failing
operation such as division by zero or adding a number to a string.
"""

from __future__ import annotations

import ast
import functools
import numbers
import operator
import textwrap
import threading
from collections import ChainMap
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from types import MappingProxyType, ModuleType
from typing import Any, Final, Literal

from simpleeval import DISALLOW_FUNCTIONS, EvalWithCompoundTypes

__all__ = [
    "ExpressionError",
    "check_expression",
    "check_script",
    "evaluate",
    "execute",
    "strip_el",
]

MAX_SOURCE_LENGTH: Final = 10_000
MAX_SYNTAX_DEPTH: Final = 100
MAX_VALUE_SIZE: Final = 100_000
MAX_VALUE_DEPTH: Final = 100
MAX_INT_BITS: Final = 10_000
MAX_ROUND_DIGITS: Final = 100
MAX_WORK: Final = 2_000_000

ErrorKind = Literal["unsafe", "syntax", "unknown-name", "runtime"]
Subject = Literal["expression", "script"]


class ExpressionError(Exception):
    """Raised for an expression that is unsafe, malformed, or fails at run time.

    ``expression`` is the offending text (for scripts, the offending statement when
    known), ``reason`` says what is wrong, ``kind`` is one of ``"unsafe"``,
    ``"syntax"``, ``"unknown-name"`` and ``"runtime"``, and ``name`` is the missing
    variable for ``"unknown-name"``.
    """

    def __init__(
        self,
        expression: str,
        reason: str,
        *,
        kind: ErrorKind = "unsafe",
        name: str | None = None,
        subject: Subject = "expression",
    ) -> None:
        super().__init__(expression, reason)
        self.expression = expression
        self.reason = reason
        self.kind: ErrorKind = kind
        self.name = name
        self.subject: Subject = subject

    def __str__(self) -> str:
        shown = _shown(self.expression)
        if self.kind == "unsafe":
            return f"unsafe {self.subject} {shown}: {self.reason}"
        if self.kind == "syntax":
            return f"invalid {self.subject} {shown}: {self.reason}"
        if self.kind == "unknown-name":
            return f"{self.subject} {shown} {self.reason}"
        return f"{self.subject} {shown} failed: {self.reason}"


def _shown(text: str, limit: int = 200) -> str:
    """Quote ``text`` for a message, shortened when long."""
    return repr(text) if len(text) <= limit else repr(text[:limit] + "...")


class _Unsafe(Exception):
    """Internal: the static check refused a node."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Refused(Exception):
    """Internal: a run-time limit or restriction was hit."""


class _MissingName(Exception):
    """Internal: a name is not in the ticket data."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


# --------------------------------------------------------------------------------------
# Size-guarded operations and functions


_SEQUENCES: Final = (str, bytes, bytearray, list, tuple)
_FLAT: Final = (str, bytes, bytearray)
_END: Final = object()


class _Guard:
    """Sizes the values one ``evaluate``/``execute`` call builds, within a work budget."""

    __slots__ = ("work_left",)

    def __init__(self) -> None:
        self.work_left = MAX_WORK

    def measure(self, *values: object) -> int:
        """Size of ``values``: characters of strings plus one per container and other item.

        Stops counting above ``MAX_VALUE_SIZE``; refuses deep nesting and refuses once
        the call has inspected ``MAX_WORK`` items in total.
        """
        total = visited = 0
        stack: list[Iterator[object]] = [iter(values)]
        while stack and total <= MAX_VALUE_SIZE:
            item = next(stack[-1], _END)
            visited += 1
            if item is _END:
                stack.pop()
            elif isinstance(item, _FLAT):
                total += len(item)
            elif isinstance(item, (list, tuple, set, frozenset, dict)):
                total += 1
                if len(stack) > MAX_VALUE_DEPTH:
                    raise _Refused(f"value is nested more than {MAX_VALUE_DEPTH} levels deep")
                stack.append(_dict_parts(item) if isinstance(item, dict) else iter(item))
            else:
                total += 1
        self.work_left -= visited
        if self.work_left < 0:
            raise _Refused(f"evaluation would inspect more than {MAX_WORK} items")
        return total

    def add(self, a: Any, b: Any) -> Any:
        """``a + b`` that refuses to build oversized sequences."""
        if isinstance(a, _SEQUENCES) and isinstance(b, _SEQUENCES):
            _check_size(self.measure(a, b))
        return a + b

    def multiply(self, a: Any, b: Any) -> Any:
        """``a * b`` that refuses huge integers and oversized repetitions."""
        if isinstance(a, int) and isinstance(b, int):
            if a.bit_length() + b.bit_length() > MAX_INT_BITS:
                raise _Refused(f"integer product would exceed {MAX_INT_BITS} bits")
        elif isinstance(a, _SEQUENCES):
            self._check_repeat(a, b)
        elif isinstance(b, _SEQUENCES):
            self._check_repeat(b, a)
        return a * b

    def _check_repeat(self, sequence: Any, count: Any) -> None:
        """Refuse ``sequence * count`` when the result would be oversized."""
        try:
            times = operator.index(count)
        except TypeError:
            return  # not a repetition; the multiplication itself decides
        if times > 0:
            per_copy = self.measure(sequence) - (0 if isinstance(sequence, _FLAT) else 1)
            _check_size(per_copy * times)


def _dict_parts(mapping: dict[Any, Any]) -> Iterator[object]:
    """Yield the keys and values of ``mapping``."""
    for key, value in mapping.items():
        yield key
        yield value


def _check_size(size: int) -> None:
    """Refuse a value size above ``MAX_VALUE_SIZE``."""
    if size > MAX_VALUE_SIZE:
        raise _Refused(f"value would be larger than {MAX_VALUE_SIZE} characters/items")


def _mod(a: Any, b: Any) -> Any:
    """``a % b`` without printf-style string formatting."""
    if isinstance(a, _FLAT):
        raise _Refused("'%' string formatting is not allowed")
    return a % b


def _str(value: object = "") -> str:
    """``str(value)`` with a length limit."""
    text = str(value)
    if len(text) > MAX_VALUE_SIZE:
        raise _Refused(f"string would be longer than {MAX_VALUE_SIZE} characters")
    return text


def _round(number: Any, ndigits: Any = None) -> Any:
    """``round`` with a bounded number of digits."""
    if ndigits is None:
        return round(number)
    if abs(operator.index(ndigits)) > MAX_ROUND_DIGITS:
        raise _Refused(f"round() accepts at most {MAX_ROUND_DIGITS} digits")
    return round(number, ndigits)


def _sum(values: Iterable[Any], start: Any = 0) -> Any:
    """``sum`` of numbers only (no list or string concatenation)."""
    items = list(values)
    for item in (start, *items):
        if not isinstance(item, numbers.Number):
            raise _Refused(f"sum() adds numbers only, not {type(item).__name__}")
    return sum(items, start)


_FUNCTIONS: Final[Mapping[str, Callable[..., Any]]] = MappingProxyType(
    {
        "len": len,
        "min": min,
        "max": max,
        "abs": abs,
        "round": _round,
        "int": int,
        "float": float,
        "str": _str,
        "bool": bool,
        "sum": _sum,
        "any": any,
        "all": all,
        "sorted": sorted,
    }
)
_STR_METHODS: Final = frozenset({"lower", "upper", "strip", "startswith", "endswith"})
_DICT_METHODS: Final = frozenset({"get"})
_METHODS: Final = _STR_METHODS | _DICT_METHODS
_ALIASES: Final[Mapping[str, object]] = MappingProxyType(
    {"true": True, "false": False, "null": None}
)

# ``+`` and ``*`` are bound per call to a ``_Guard`` (see ``_Evaluator``).
_OPERATORS: Final[Mapping[type[ast.AST], Callable[..., Any]]] = MappingProxyType(
    {
        ast.Add: operator.add,
        ast.Sub: operator.sub,
        ast.Mult: operator.mul,
        ast.Div: operator.truediv,
        ast.FloorDiv: operator.floordiv,
        ast.Mod: _mod,
        ast.USub: operator.neg,
        ast.UAdd: operator.pos,
        ast.Not: operator.not_,
        ast.Eq: operator.eq,
        ast.NotEq: operator.ne,
        ast.Lt: operator.lt,
        ast.LtE: operator.le,
        ast.Gt: operator.gt,
        ast.GtE: operator.ge,
        ast.In: lambda a, b: a in b,
        ast.NotIn: lambda a, b: a not in b,
        ast.Is: operator.is_,
        ast.IsNot: operator.is_not,
    }
)

# --------------------------------------------------------------------------------------
# Static check

_ALLOWED_NODES: Final[frozenset[type[ast.AST]]] = frozenset(
    {
        ast.Expression,
        ast.Constant,
        ast.Name,
        ast.Load,
        ast.BinOp,
        ast.UnaryOp,
        ast.BoolOp,
        ast.And,
        ast.Or,
        ast.Compare,
        ast.IfExp,
        ast.Call,
        ast.keyword,
        ast.Attribute,
        ast.Subscript,
        ast.Slice,
        ast.List,
        ast.Tuple,
        ast.Set,
        ast.Dict,
        ast.JoinedStr,
        ast.FormattedValue,
        *_OPERATORS,
    }
)
_CONSTANT_TYPES: Final = (str, int, float, bool, type(None))
_HINTS: Final[Mapping[str, str]] = {
    "Lambda": "lambda functions are not allowed",
    "ListComp": "comprehensions are not allowed",
    "SetComp": "comprehensions are not allowed",
    "DictComp": "comprehensions are not allowed",
    "GeneratorExp": "generator expressions are not allowed",
    "NamedExpr": "assignment expressions (:=) are not allowed",
    "Starred": "'*' unpacking is not allowed",
    "Pow": "the '**' operator is not allowed",
    "MatMult": "the '@' operator is not allowed",
    "BitAnd": "bitwise operators are not allowed",
    "BitOr": "bitwise operators are not allowed",
    "BitXor": "bitwise operators are not allowed",
    "Invert": "bitwise operators are not allowed",
    "LShift": "bitwise operators are not allowed",
    "RShift": "bitwise operators are not allowed",
    "Await": "await is not allowed",
    "Yield": "yield is not allowed",
    "YieldFrom": "yield is not allowed",
}


def _check_tree(root: ast.AST) -> None:
    """Raise ``_Unsafe`` unless every node under ``root`` is allowed."""
    method_positions: set[int] = set()
    stack: list[tuple[ast.AST, int]] = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_SYNTAX_DEPTH:
            raise _Unsafe(f"nested more than {MAX_SYNTAX_DEPTH} levels deep")
        _check_node(node, method_positions)
        if isinstance(node, ast.Call):
            method_positions.add(id(node.func))
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def _check_node(node: ast.AST, method_positions: set[int]) -> None:
    """Raise ``_Unsafe`` if this single node is not allowed."""
    kind = type(node).__name__
    if type(node) not in _ALLOWED_NODES:
        hint = _HINTS.get(kind)
        raise _Unsafe(f"{hint} ({kind})" if hint else f"{kind} is not allowed")
    if isinstance(node, ast.Name):
        if node.id.startswith("_"):
            raise _Unsafe("names starting with '_' are not allowed")
    elif isinstance(node, ast.Constant):
        if not isinstance(node.value, _CONSTANT_TYPES):
            raise _Unsafe(f"{type(node.value).__name__} literals are not allowed")
    elif isinstance(node, ast.Attribute):
        if node.attr.startswith("_"):
            raise _Unsafe("attribute names starting with '_' are not allowed")
        if id(node) not in method_positions:
            raise _Unsafe(
                f"attribute access ('.{node.attr}') is not allowed; only the methods "
                f"{', '.join(sorted(_METHODS))} can be called"
            )
        if node.attr not in _METHODS:
            raise _Unsafe(
                f"method '{node.attr}' is not allowed; allowed methods: "
                f"{', '.join(sorted(_METHODS))}"
            )
    elif isinstance(node, ast.Call):
        if isinstance(node.func, ast.Name):
            if node.func.id not in _FUNCTIONS:
                raise _Unsafe(
                    f"function '{node.func.id}' is not allowed; allowed functions: "
                    f"{', '.join(sorted(_FUNCTIONS))}"
                )
        elif not isinstance(node.func, ast.Attribute):
            raise _Unsafe("only allowed functions and methods can be called, by name")
    elif isinstance(node, ast.keyword):
        if node.arg is None:
            raise _Unsafe("'**' argument unpacking is not allowed")
        if node.arg.startswith("_"):
            raise _Unsafe("keyword arguments starting with '_' are not allowed")
    elif isinstance(node, ast.Dict):
        if any(key is None for key in node.keys):
            raise _Unsafe("'**' unpacking is not allowed")
    elif isinstance(node, ast.FormattedValue):
        if node.conversion != -1:
            raise _Unsafe("conversions (!s, !r, !a) in f-strings are not allowed")
        if node.format_spec is not None:
            raise _Unsafe("format specifications in f-strings are not allowed")


def _syntax_reason(error: SyntaxError, text: str, *, wrapped: bool) -> str:
    """Describe a syntax error; ``wrapped`` when the text was parsed inside parentheses."""
    lines = text.split("\n")
    line = error.lineno or 1
    column = error.offset or 1
    if wrapped and line == 1:
        column -= 1
    if line > len(lines):
        line, column = len(lines), len(lines[-1]) + 1
    column = max(column, 1)
    where = f"column {column}" if len(lines) == 1 else f"line {line}, column {column}"
    return f"syntax error at {where}: {error.msg}"


def _parse(source: str, text: str, mode: Literal["eval", "exec"], subject: Subject) -> ast.AST:
    """``ast.parse`` that turns every parser failure into ``ExpressionError``."""
    try:
        return ast.parse(source, mode=mode)
    except SyntaxError as error:
        reason = _syntax_reason(error, text, wrapped=mode == "eval")
        raise ExpressionError(text, reason, kind="syntax", subject=subject) from None
    except (ValueError, MemoryError, RecursionError, OverflowError) as error:
        reason = f"cannot be parsed ({type(error).__name__}: {str(error) or 'too complex'})"
        raise ExpressionError(text, reason, kind="syntax", subject=subject) from None


def _check_length(text: str, subject: Subject) -> None:
    """Refuse overlong source text."""
    if len(text) > MAX_SOURCE_LENGTH:
        reason = f"longer than {MAX_SOURCE_LENGTH} characters"
        raise ExpressionError(text, reason, subject=subject)


@functools.lru_cache(maxsize=1024)
def _compile_expression(expression: str) -> ast.expr:
    """Parse and check an expression; return its AST body (cached per text)."""
    text = expression.strip()
    _check_length(text, "expression")
    if not text:
        raise ExpressionError(text, "the expression is empty", kind="syntax")
    # Parentheses allow expressions to span lines, as in BPMN XML.
    tree = _parse(f"({text}\n)", text, "eval", "expression")
    assert isinstance(tree, ast.Expression)
    try:
        _check_tree(tree.body)
    except _Unsafe as error:
        raise ExpressionError(text, error.reason) from None
    return tree.body


@dataclass(frozen=True)
class _Step:
    """One compiled script line: ``target = value``."""

    target: str
    value: ast.expr
    source: str


def _script_error(source: str, line: int, reason: str) -> ExpressionError:
    """An "unsafe script" error for the statement ``source`` on ``line``."""
    return ExpressionError(source, f"line {line}: {reason}", subject="script")


def _normalise_script(script: str) -> str:
    """Strip the script and remove common indentation after its first line."""
    text = script.replace("\r\n", "\n").replace("\r", "\n")
    first, _, rest = text.strip().partition("\n")
    return f"{first}\n{textwrap.dedent(rest)}".strip() if rest else first


def _segment(lines: list[str], node: ast.stmt) -> str:
    """Source text of ``node`` (``ast.get_source_segment`` without re-splitting the text)."""
    chunk = [line.encode() for line in lines[node.lineno - 1 : node.end_lineno or node.lineno]]
    if node.end_col_offset is not None:
        chunk[-1] = chunk[-1][: node.end_col_offset]
    chunk[0] = chunk[0][node.col_offset :]
    return b"\n".join(chunk).decode(errors="replace").strip()


@functools.lru_cache(maxsize=1024)
def _compile_script(script: str) -> tuple[_Step, ...]:
    """Parse and check a script; return its steps (cached per text)."""
    text = _normalise_script(script)
    _check_length(text, "script")
    tree = _parse(text, text, "exec", "script")
    assert isinstance(tree, ast.Module)
    lines = text.split("\n")
    steps: list[_Step] = []
    for statement in tree.body:
        source = _segment(lines, statement)
        refuse = functools.partial(_script_error, source, statement.lineno)
        if isinstance(statement, ast.Assign):
            if len(statement.targets) != 1 or not isinstance(statement.targets[0], ast.Name):
                raise refuse("only a single plain name can be assigned")
            target = statement.targets[0].id
            value = statement.value
        elif isinstance(statement, ast.AugAssign):
            if not isinstance(statement.target, ast.Name):
                raise refuse("only a single plain name can be assigned")
            if type(statement.op) not in (ast.Add, ast.Sub, ast.Mult):
                raise refuse(f"only +=, -= and *= are allowed ({type(statement.op).__name__})")
            target = statement.target.id
            current = ast.Name(id=target, ctx=ast.Load())
            value = ast.BinOp(left=current, op=statement.op, right=statement.value)
        else:
            kind = type(statement).__name__
            raise refuse(f"only assignments like 'name = expression' are allowed ({kind})")
        if target.startswith("_"):
            raise refuse("names starting with '_' are not allowed")
        if target in _ALIASES:
            raise refuse(f"'{target}' is a reserved name")
        try:
            _check_tree(value)
        except _Unsafe as error:
            raise refuse(error.reason) from None
        steps.append(_Step(target, value, source))
    return tuple(steps)


# --------------------------------------------------------------------------------------
# Evaluation


class _Evaluator(EvalWithCompoundTypes):  # type: ignore[misc]
    """simpleeval evaluator limited to the checked language."""

    def __init__(self, names: Mapping[str, Any], guard: _Guard) -> None:
        operators = {**_OPERATORS, ast.Add: guard.add, ast.Mult: guard.multiply}
        super().__init__(operators=operators, functions=dict(_FUNCTIONS), names=names)
        self.guard = guard
        self.busy = False
        # EvalWithCompoundTypes adds list/tuple/dict/set functions and comprehensions.
        self.functions: dict[str, Callable[..., Any]] = dict(_FUNCTIONS)
        handlers: dict[type[ast.AST], Callable[[Any], Any]] = self.nodes
        self.nodes: dict[type[ast.AST], Callable[[Any], Any]] = {
            kind: handler for kind, handler in handlers.items() if kind in _ALLOWED_NODES
        }

    def rebind(self, names: Mapping[str, Any], guard: _Guard) -> None:
        """Reuse this evaluator for another call (building one costs more than most calls)."""
        self.names = names
        self.guard = guard
        self.operators[ast.Add] = guard.add
        self.operators[ast.Mult] = guard.multiply

    def _check_disallowed_items(self, item: Any) -> None:
        # simpleeval walks every container result looking for modules and dangerous
        # functions, which costs O(size) per node. The language cannot call or
        # take attributes of anything inside a container, so the top level suffices.
        if isinstance(item, ModuleType) or (callable(item) and item in DISALLOW_FUNCTIONS):
            raise _Refused(f"{type(item).__name__} values are not allowed")

    def _eval_name(self, node: ast.Name) -> Any:
        if node.id in _ALIASES:
            return _ALIASES[node.id]
        try:
            return self.names[node.id]
        except KeyError:
            raise _MissingName(node.id) from None

    def _eval_attribute(self, node: ast.Attribute) -> Any:
        value = self._eval(node.value)
        if node.attr in _STR_METHODS and isinstance(value, str):
            return functools.partial(getattr(str, node.attr), value)
        if node.attr in _DICT_METHODS and isinstance(value, dict):
            return functools.partial(dict.get, value)
        if node.attr in _DICT_METHODS and isinstance(value, Mapping):
            return functools.partial(Mapping.get, value)
        raise _Refused(f"'.{node.attr}()' cannot be called on {type(value).__name__}")

    def _items(self, nodes: Iterable[ast.expr]) -> list[Any]:
        """Evaluate ``nodes``, refusing as soon as their total size is too large."""
        items: list[Any] = []
        size = 0
        for node in nodes:
            items.append(self._eval(node))
            size += self.guard.measure(items[-1])
            _check_size(size)
        return items

    def _eval_list(self, node: ast.List) -> list[Any]:
        return self._items(node.elts)

    def _eval_tuple(self, node: ast.Tuple) -> tuple[Any, ...]:
        return tuple(self._items(node.elts))

    def _eval_set(self, node: ast.Set) -> set[Any]:
        return set(self._items(node.elts))

    def _eval_dict(self, node: ast.Dict) -> dict[Any, Any]:
        parts: list[ast.expr] = []
        for key, value in zip(node.keys, node.values, strict=True):
            assert key is not None  # '**' unpacking is refused by the static check
            parts += (key, value)
        items = self._items(parts)
        return dict(zip(items[::2], items[1::2], strict=True))

    def _eval_joinedstr(self, node: ast.JoinedStr) -> str:
        parts: list[str] = []
        size = 0
        for part in node.values:
            parts.append(_str(self._eval(part)))
            size += len(parts[-1])
            _check_size(size)
        return "".join(parts)

    def _eval_formattedvalue(self, node: ast.FormattedValue) -> Any:
        return self._eval(node.value)


def _describe(error: Exception) -> str:
    """Name and message of a run-time error."""
    if isinstance(error, _Refused):
        return str(error)
    message = str(error)
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def _run(
    node: ast.expr, names: Mapping[str, Any], guard: _Guard, text: str, subject: Subject
) -> Any:
    """Evaluate a checked AST, converting every failure to ``ExpressionError``."""
    evaluator: _Evaluator | None = getattr(_REUSABLE, "evaluator", None)
    if evaluator is None or evaluator.busy:
        evaluator = _Evaluator(names, guard)
        _REUSABLE.evaluator = evaluator
    else:
        evaluator.rebind(names, guard)
    evaluator.busy = True
    try:
        return evaluator.eval(text, previously_parsed=node)
    except _MissingName as error:
        reason = f"refers to {error.name!r}, which the ticket data does not have"
        raise ExpressionError(
            text, reason, kind="unknown-name", name=error.name, subject=subject
        ) from None
    except Exception as error:
        raise ExpressionError(text, _describe(error), kind="runtime", subject=subject) from error
    finally:
        evaluator.busy = False
        evaluator.names = {}  # no reference to the ticket data is kept between calls


#: One evaluator per thread, rebound for every call.
_REUSABLE = threading.local()


# --------------------------------------------------------------------------------------
# Public API


def check_expression(expression: str) -> None:
    """Static check at deploy time: raise ExpressionError if the text is not a safe expression."""
    _compile_expression(expression)


def check_script(script: str) -> None:
    """Static check at deploy time for script tasks (see the module docstring)."""
    _compile_script(script)


def evaluate(expression: str, names: Mapping[str, Any]) -> Any:
    """Evaluate a safe expression against the ticket data ``names``."""
    node = _compile_expression(expression)
    return _run(node, names, _Guard(), expression.strip(), "expression")


def execute(script: str, names: MutableMapping[str, Any]) -> None:
    """Run a safe script: assignments update ``names`` in place, all or nothing."""
    assigned: dict[str, Any] = {}
    scope: ChainMap[str, Any] = ChainMap(assigned, names)
    guard = _Guard()
    for step in _compile_script(script):
        assigned[step.target] = _run(step.value, scope, guard, step.source, "script")
    names.update(assigned)


def strip_el(expression: str) -> str:
    """Accept Camunda-style ``${...}`` wrapping: return the inner text, else the text stripped."""
    text = expression.strip()
    if text.startswith("${") and text.endswith("}"):
        return text[2:-1].strip()
    return text
