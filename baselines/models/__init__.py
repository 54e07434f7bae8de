"""Networks and front-ends, one module per method family, each with its spec and builder."""
