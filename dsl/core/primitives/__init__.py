"""netc's built-in primitives, by family; each op is one `dsl.core.ops.register` call, the same
public API a plugin uses. Importing this package registers them (in this order, which is the
order `netc ops` and docs/language.md list them in)."""

from __future__ import annotations

from dsl.core.primitives import activation, conv, dense, norm, pool, tokens, wiring  # noqa: F401  (registration order)
