"""The device's side of the dock link (docs/DOCK.md): witness first, then the files in order,
resumable, then the receipt, and only against it the one path that frees space."""
