"""Object stores: configuration, addressing, and the ledger that keeps them consistent with the database."""
