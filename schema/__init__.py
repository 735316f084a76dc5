"""GraphQL for council front-ends, at /graphql: Strawberry types over the feature services.

Resolvers are thin: they call the services in `service/` (which check scope and reach, and
hold every rule and every query) through the request's Context, and shape what comes back.
`schema.app` builds the schema and its router; `schema/schema.graphql` is its SDL.
"""
