"""What the GraphQL tests share: where the endpoint is, and a record of the fields resolved."""

from strawberry.extensions import SchemaExtension

GRAPHQL_PATH = "/graphql"


class ResolvedFields:
    """Every field resolved while it is attached to a schema, as `Type.field` names."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def extension(self) -> SchemaExtension:
        """A fresh extension for one request that records into this list."""
        resolved = self.names

        class Recorder(SchemaExtension):
            def resolve(self, _next, root, info, *args, **kwargs):  # type: ignore[no-untyped-def]
                resolved.append(f"{info.parent_type.name}.{info.field_name}")
                return _next(root, info, *args, **kwargs)

        return Recorder()
