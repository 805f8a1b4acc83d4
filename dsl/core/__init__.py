"""The core every layer reads: the op registry (`ops`, with the primitive families in `primitives`)
and the flat, framework-free `graph` of a network. It imports nothing above it (no front end, no
torch, no consumer)."""
