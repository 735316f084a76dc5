"""Limits on each GraphQL operation (tokens, depth, aliases, cost), refused before any resolver.

`limit_extensions(settings)` gives the schema one extension that checks them all:

- **tokens**: the parser stops past `graphql_max_tokens` (comments count too);
- **depth**: fields nested on the longest path (`{ viewer { clientId } }` is 2), at most
  `graphql_max_depth`; introspection fields (`__schema`, `__type`) are not counted;
- **aliases**: aliased fields, a fragment's counted at each spread, at most
  `graphql_max_aliases`;
- **cost**: the objects and list items the operation may return, at most `graphql_max_cost`:
  each object and each list item costs 1 plus what it selects, a scalar field nothing. A
  connection's list (`edges`, `nodes`) has as many items as its page (`first` or `last`; else
  that argument's default in the schema, else DEFAULT_PAGE_SIZE); a plain list (a budget's
  streams, a spend's lines) is taken to have LIST_LENGTH.

Each refusal is a GraphQL error with `extensions.code` (TOO_MANY_TOKENS, QUERY_TOO_DEEP,
TOO_MANY_ALIASES, QUERY_TOO_COMPLEX), the limit and the measured value. Depth, aliases and cost
are measured in one walk of the document that measures each fragment once, before graphql-core's
validation: Strawberry's own QueryDepthLimiter and MaxAliasesLimiter walk a fragment again at
every spread, so a kilobyte of fragments, each spreading the one before twice, takes them hours.
"""

import functools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLNamedType,
    GraphQLSchema,
    GraphQLSyntaxError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_composite_type,
    is_list_type,
)
from strawberry.extensions import SchemaExtension

from service.config import Settings

DEFAULT_PAGE_SIZE = 50  # REST's page when no limit is given; a connection read without first/last
LIST_LENGTH = 5  # a budget has a few streams, a spend a few lines: a plain list counts as 5 items
PAGE_ARGUMENTS = ("first", "last")
INTROSPECTION_ROOTS = ("__schema", "__type")
_LARGEST_PAGE = 10**18  # an integer literal too long to read is at least this: the cost refuses it


@dataclass(frozen=True, kw_only=True)
class Limits:
    """The most one operation may ask for."""

    max_depth: int
    max_aliases: int
    max_tokens: int
    max_cost: int


def limits_from(settings: Settings) -> Limits:
    """The limits the operator set (ONEBUDGET_GRAPHQL_MAX_*)."""
    return Limits(
        max_depth=settings.graphql_max_depth,
        max_aliases=settings.graphql_max_aliases,
        max_tokens=settings.graphql_max_tokens,
        max_cost=settings.graphql_max_cost,
    )


def limit_extensions(settings: Settings) -> list[Callable[[], SchemaExtension]]:
    """The schema's extensions that enforce the limits.

    List them first, or right after Strawberry's ValidationCache, which replaces whatever errors
    the extensions before it found.
    """
    # A factory, not an instance: Strawberry builds a fresh extension for each request.
    return [functools.partial(QueryLimits, limits=limits_from(settings))]


@dataclass(frozen=True)
class Measure:
    """What a selection asks for: nesting depth, aliases and cost."""

    depth: int = 0
    aliases: int = 0
    cost: int = 0

    def beside(self, other: "Measure") -> "Measure":
        """Two selections side by side."""
        return Measure(
            max(self.depth, other.depth), self.aliases + other.aliases, self.cost + other.cost
        )


class _Walk:
    """Measures the operations of one document, each fragment once per context."""

    def __init__(
        self, *, schema: GraphQLSchema, document: DocumentNode, variables: Mapping[str, Any]
    ) -> None:
        self.schema = schema
        self.variables = variables
        self.fragments = {
            definition.name.value: definition
            for definition in document.definitions
            if isinstance(definition, FragmentDefinitionNode)
        }
        self.defaults: dict[str, ValueNode] = {}
        self.measured: dict[tuple[str, int | None], Measure] = {}
        self.entered: set[str] = set()

    def operation(self, operation: OperationDefinitionNode) -> Measure:
        """The operation's measure (its variables' defaults stand in for missing values)."""
        self.defaults = {
            definition.variable.name.value: definition.default_value
            for definition in operation.variable_definitions or ()
            if definition.default_value is not None
        }
        self.measured.clear()  # a fragment's page sizes may read this operation's variables
        root = self.schema.get_root_type(operation.operation)
        return self._selections(operation.selection_set, root, None)

    def _selections(
        self, selections: SelectionSetNode | None, parent: GraphQLNamedType | None, page: int | None
    ) -> Measure:
        """Selections on `parent`; `page` is set inside a connection, for its list."""
        total = Measure()
        for selection in selections.selections if selections else ():
            if isinstance(selection, FieldNode):
                total = total.beside(self._field(selection, parent, page))
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                on = self.schema.get_type(condition.name.value) if condition else parent
                total = total.beside(self._selections(selection.selection_set, on, page))
            elif isinstance(selection, FragmentSpreadNode):
                total = total.beside(self._fragment(selection.name.value, page))
        return total

    def _fragment(self, name: str, page: int | None) -> Measure:
        """A named fragment's measure, worked out once; unknown or cyclic spreads add nothing
        (graphql-core's validation refuses them)."""
        key = (name, page)
        if key in self.measured:
            return self.measured[key]
        fragment = self.fragments.get(name)
        if fragment is None or name in self.entered:
            return Measure()
        self.entered.add(name)
        try:
            on = self.schema.get_type(fragment.type_condition.name.value)
            measure = self._selections(fragment.selection_set, on, page)
        finally:
            self.entered.discard(name)
        self.measured[key] = measure
        return measure

    def _field(self, node: FieldNode, parent: GraphQLNamedType | None, page: int | None) -> Measure:
        """One field with what it selects; an unknown field (refused later) counts as an object."""
        field = None
        if parent is not None and is_composite_type(parent):
            field = self.schema.get_field(parent, node.name.value)
        aliases = 1 if node.alias else 0
        if field is None:
            inner = self._selections(node.selection_set, None, None)
            return Measure(1 + inner.depth, aliases + inner.aliases, 1 + inner.cost)
        returns = get_nullable_type(field.type)
        named = get_named_type(returns)
        own_page = self._page_size(node, field)
        is_list = is_list_type(returns)
        inner = self._selections(node.selection_set, named, own_page if not is_list else None)
        if is_list:
            items = own_page or page or LIST_LENGTH
            cost = items * (1 + inner.cost)
        else:
            cost = (1 if is_composite_type(named) else 0) + inner.cost
        # Introspection reads the schema, not the data: its depth is not the data's.
        depth = 0 if node.name.value in INTROSPECTION_ROOTS else 1 + inner.depth
        return Measure(depth, aliases + inner.aliases, cost)

    def _page_size(self, node: FieldNode, field: GraphQLField) -> int | None:
        """The items a paged field reads (first or last, the larger); None if it is not paged."""
        paging = [name for name in PAGE_ARGUMENTS if name in field.args]
        if not paging:
            return None
        asked = [
            size
            for argument in node.arguments or ()
            if argument.name.value in paging and (size := self._integer(argument.value)) is not None
        ]
        if not asked:
            asked = [
                default for name in paging if type(default := field.args[name].default_value) is int
            ]
        return max(1, max(asked, default=DEFAULT_PAGE_SIZE))

    def _integer(self, value: ValueNode) -> int | None:
        """An integer argument's value, from the literal, the variable or its default."""
        if isinstance(value, VariableNode):
            name = value.name.value
            given = self.variables.get(name)
            if type(given) is int:
                return given
            value = self.defaults.get(name, value)
        if isinstance(value, IntValueNode):
            digits = value.value.lstrip("-")
            return int(value.value) if len(digits) <= 18 else _LARGEST_PAGE
        return None


def measure_operations(
    schema: GraphQLSchema, document: DocumentNode, variables: Mapping[str, Any] | None
) -> list[tuple[OperationDefinitionNode, Measure]]:
    """Each operation of the document with its measure."""
    walk = _Walk(schema=schema, document=document, variables=variables or {})
    return [
        (definition, walk.operation(definition))
        for definition in document.definitions
        if isinstance(definition, OperationDefinitionNode)
    ]


def refusals(
    limits: Limits, operation: OperationDefinitionNode, measure: Measure
) -> list[GraphQLError]:
    """An error for each limit the operation is over."""
    who = f"Operation '{operation.name.value}'" if operation.name else "The operation"
    errors = []
    if measure.depth > limits.max_depth:
        errors.append(
            _refusal(
                f"{who} nests fields {measure.depth} deep; the limit is {limits.max_depth}."
                " Ask for fewer nested fields, or fetch the inner ones in a second query.",
                operation,
                code="QUERY_TOO_DEEP",
                depth=measure.depth,
                maxDepth=limits.max_depth,
            )
        )
    if measure.aliases > limits.max_aliases:
        errors.append(
            _refusal(
                f"{who} has {measure.aliases} aliases; the limit is {limits.max_aliases}.",
                operation,
                code="TOO_MANY_ALIASES",
                aliases=measure.aliases,
                maxAliases=limits.max_aliases,
            )
        )
    if measure.cost > limits.max_cost:
        errors.append(
            _refusal(
                f"{who} may return about {measure.cost:,} objects and list items (its cost);"
                f" the limit is {limits.max_cost:,}. A connection counts its page (first or"
                f" last, {DEFAULT_PAGE_SIZE} if not given), a plain list {LIST_LENGTH} items:"
                " ask for smaller pages or fewer nested lists.",
                operation,
                code="QUERY_TOO_COMPLEX",
                cost=measure.cost,
                maxCost=limits.max_cost,
            )
        )
    return errors


def _refusal(message: str, node: OperationDefinitionNode, **extensions: Any) -> GraphQLError:
    """A refusal pointing at the operation, its code and figures in `extensions`."""
    return GraphQLError(message, node, extensions=extensions)


def _as_answer(error: GraphQLError) -> GraphQLError:
    """The parser's token refusal as a GraphQLError that is not a syntax error."""
    if not isinstance(error, GraphQLSyntaxError) or "maxTokens" not in (error.extensions or {}):
        return error
    return GraphQLError(
        error.message, source=error.source, positions=error.positions, extensions=error.extensions
    )


class QueryLimits(SchemaExtension):
    """Refuses an operation over a limit before validation, so before any resolver."""

    def __init__(self, *, limits: Limits) -> None:
        self.limits = limits

    def on_operation(self) -> Iterator[None]:
        """The parser itself stops past the token limit."""
        self.execution_context.parse_options["max_tokens"] = self.limits.max_tokens
        yield

    def on_parse(self) -> Iterator[None]:
        """Give the parser's token refusal its code."""
        yield
        max_tokens = self.limits.max_tokens
        for error in self.execution_context.pre_execution_errors or ():
            if isinstance(error, GraphQLSyntaxError) and f"more than {max_tokens} tokens" in (
                error.message
            ):
                error.extensions = {
                    **(error.extensions or {}),
                    "code": "TOO_MANY_TOKENS",
                    "maxTokens": max_tokens,
                }

    def on_stream_result(self, result: Any) -> Iterator[None]:
        """Over the websocket a syntax error closes the socket, but the token refusal is an
        answer like the other limits': send it as a plain error, with its code."""
        if result.errors:
            result.errors = [_as_answer(error) for error in result.errors]
        yield

    def on_validate(self) -> Iterator[None]:
        """Measure each operation; errors set here replace (skip) graphql-core's validation."""
        context = self.execution_context
        # Not `is None`: a ValidationCache listed before has set the (empty) list of errors.
        if not context.pre_execution_errors and context.graphql_document is not None:
            try:
                measured = measure_operations(
                    context.schema._schema, context.graphql_document, context.variables
                )
            except RecursionError:
                # Only fragments spreading fragments hundreds deep get here (the parser refuses
                # fields nested that deep): far over any depth a front-end needs.
                message = "The operation's fragments nest too deeply to measure."
                code = {"code": "QUERY_TOO_DEEP", "maxDepth": self.limits.max_depth}
                context.pre_execution_errors = [GraphQLError(message, extensions=code)]
            else:
                errors = [
                    error
                    for operation, measure in measured
                    for error in refusals(self.limits, operation, measure)
                ]
                if errors:
                    context.pre_execution_errors = errors
        yield
