"""The study's figures, one function each."""
