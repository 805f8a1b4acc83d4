"""The front end: a .net file's text to a `Program` (no torch here).

`source` reads files (bounded, UTF-8), `parser` turns text into the syntax tree of `ast` (lark),
`loader` follows `use` imports and builds the `Program` (`program`: definitions, input, recipe),
which expands into graphs through `dsl.expand`. `printer` writes expressions back as text, `names`
guards the names a compiled module can take, `limits` bounds what a file may ask for, and `deep`
runs all of it on a thread with a deep stack (and lets an editor cancel it).
"""
