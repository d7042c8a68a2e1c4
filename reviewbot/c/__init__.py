"""C understanding: tree-sitter parsing of kernel C, and facts per function."""
