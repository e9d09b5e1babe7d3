"""The SQL layer: catalog introspection, the query AST, the filter parser and the compiler.

One rule: nothing outside this package builds SQL text or executes statements
on a target database. Identifiers are quoted with `psycopg.sql.Identifier`
only after they were found in the introspected catalog; values are always
bound parameters. This package knows no HTTP, no roles and no HubSpot.
"""
