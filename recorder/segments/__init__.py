"""Pre-record ring, interleaving, segment writer, sealing and the store layout."""
