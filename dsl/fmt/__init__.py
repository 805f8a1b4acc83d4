"""`netc fmt`: the canonical layout of .net files, comments kept."""
