"""The pure core: ledger rules and the pooling engine. Standard library only, no I/O."""
