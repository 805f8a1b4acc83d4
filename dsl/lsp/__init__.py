"""`netc lsp`: a Language Server Protocol server over the real front end."""
