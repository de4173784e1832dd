"""The terminal interface (Textual). Domain modules never import from here."""
